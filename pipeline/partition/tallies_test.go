package partition

import (
	"fmt"
	"testing"

	"github.com/lingerhq/linger/bench"
	"github.com/lingerhq/linger/schemas"
)

// finalTallies runs recs through p in batches and returns the last record
// of each tally key: what the compacted topic ends with.
func finalTallies(t *testing.T, p *Processor, recs []bench.Record, batch int) map[string]string {
	t.Helper()
	got := map[string]string{}
	for i := 0; i < len(recs); i += batch {
		p.Begin()
		for j := i; j < min(i+batch, len(recs)); j++ {
			p.Process(recs[j].Key, recs[j].Value, int64(j))
		}
		out := p.End()
		for k := range out.TallyRecords() {
			key, v := out.TallyRecord(k)
			got[string(key)] = string(v)
		}
		p.Commit()
	}
	return got
}

// TestTalliesWhateverTheBatches: the hourly tallies a partition ends with
// do not depend on how its records were batched, nor on a restore from
// the changelog in the middle; each would-be session counts once an hour.
func TestTalliesWhateverTheBatches(t *testing.T) {
	cfg := timerConfig(t)
	recs := bench.GenerateRecords(21, 40000)
	want := finalTallies(t, newTestProcessor(t, cfg), recs, len(recs))
	if len(want) == 0 {
		t.Fatal("no tally: the stream has no would-be invite")
	}
	var tally schemas.HourTally
	var dec schemas.HourTallyDecoder
	var wouldBe, invites, held int64
	for k, v := range want {
		if err := dec.Decode([]byte(k), []byte(v), 0, &tally); err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		wouldBe += tally.WouldBe
		invites += tally.Invites
		for _, c := range tally.Suppressed {
			held += c.Count
		}
		if tally.Invites > tally.WouldBe && tally.WouldBe == 0 {
			t.Errorf("%s: invites without a would-be session", v)
		}
	}
	if invites == 0 || held == 0 {
		t.Fatalf("the stream tallies %d invites and %d held back: it does not exercise both", invites, held)
	}
	t.Logf("%d keys: %d would-be sessions, %d invites, %d held back", len(want), wouldBe, invites, held)
	for _, batch := range []int{1, 113, 5000} {
		got := finalTallies(t, newTestProcessor(t, cfg), recs, batch)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("batches of %d: tallies differ", batch)
		}
	}

	// Restored from the changelog half way, the hour's counts go on.
	p := newTestProcessor(t, cfg)
	half := len(recs) / 2
	var changelog []kv
	p.Begin()
	for j := range recs[:half] {
		p.Process(recs[j].Key, recs[j].Value, int64(j))
	}
	out := p.End()
	got := map[string]string{}
	for k := range out.TallyRecords() {
		key, v := out.TallyRecord(k)
		got[string(key)] = string(v)
	}
	for i := range out.StateRecords() {
		k, v := out.StateRecord(i)
		changelog = append(changelog, kv{append([]byte{}, k...), append([]byte(nil), v...)})
	}
	p.Commit()
	q := newTestProcessor(t, cfg)
	for _, c := range changelog {
		if err := q.Restore(c.k, c.v); err != nil {
			t.Fatal(err)
		}
	}
	q.FinishRestore()
	for k, v := range finalTallies(t, q, recs[half:], len(recs)) {
		got[k] = v
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Error("restored half way: tallies differ")
	}
}

// TestTalliesRollBack: an aborted batch leaves the tallies as they were.
func TestTalliesRollBack(t *testing.T) {
	cfg := timerConfig(t)
	recs := bench.GenerateRecords(22, 20000)
	want := finalTallies(t, newTestProcessor(t, cfg), recs, 500)
	p := newTestProcessor(t, cfg)
	got := map[string]string{}
	for i := 0; i < len(recs); i += 500 {
		batch := recs[i:min(i+500, len(recs))]
		if (i/500)%3 == 1 {
			p.Begin()
			for j := range batch {
				p.Process(batch[j].Key, batch[j].Value, int64(i+j))
			}
			p.End()
			p.Abort()
		}
		for k, v := range finalTallies(t, p, batch, len(batch)) {
			got[k] = v
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Error("with aborts: tallies differ")
	}
}
