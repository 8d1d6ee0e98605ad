// Package panictest checks that a panic while handling one record does not
// stop its partition. It registers a signal that panics for some sessions,
// which is why it is a package of its own: every other test binary keeps
// the registry as it ships.
package panictest

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lingerhq/linger/internal/kafkatest"
	"github.com/lingerhq/linger/pipeline/partition"
	"github.com/lingerhq/linger/schemas"
	"github.com/lingerhq/linger/scoring"
)

// poisoned is the session id prefix the injected signal fails on.
const poisoned = "panic-"

func init() {
	scoring.Register(scoring.Signal{
		Name:  "zz_injected_failure",
		Doc:   "a signal that panics for sessions whose id starts with panic-, and is 0 otherwise",
		Scale: 1,
		Value: func(s *scoring.State, _ int64, _ *scoring.Settings) float64 {
			if bytes.HasPrefix(s.Session, []byte(poisoned)) {
				panic("injected failure in a signal")
			}
			return 0
		},
	})
}

func decisions(out *partition.Output) []string {
	var ids []string
	for i := range out.Decisions() {
		_, v := out.Decision(i)
		d, err := schemas.ParseDecision(v)
		if err != nil {
			panic(err)
		}
		ids = append(ids, fmt.Sprintf("%s %s %s", d.ID, d.Action, d.Reason))
	}
	return ids
}

// TestPanicGoesToTheDLQ: a record whose scoring panics goes to the DLQ with
// reason internal_error and its offset; the records around it, of other
// sessions, decide exactly as they do without it.
func TestPanicGoesToTheDLQ(t *testing.T) {
	good := kafkatest.Hesitators(0, 20)
	clock := func() time.Time { return kafkatest.Start.Add(5 * time.Minute) }
	run := func(recs []kafkatest.Record) (*partition.Output, *partition.Counts, []string) {
		p := partition.New(0, partition.Config{Epoch: 1, Store: partition.NewStore(0), Now: clock})
		batch := make([]partition.Record, len(recs))
		for i, r := range recs {
			batch[i] = partition.Record{Key: r.Key, Value: r.Value, Offset: int64(i)}
		}
		out := p.Batch(nil, batch)
		ids := decisions(out)
		return out, p.Commit(), ids
	}
	_, _, want := run(good)
	if len(want) == 0 {
		t.Fatal("the good sessions decide nothing: the test needs invites")
	}

	// The poisoned session's events, between the good ones.
	bad := kafkatest.Hesitators(0, 1)
	var recs []kafkatest.Record
	for i, r := range good {
		recs = append(recs, r)
		if i%20 == 0 && len(bad) > 0 {
			ev := strings.Replace(string(bad[0].Value), `"s-0000"`, `"`+poisoned+`1"`, 1)
			recs = append(recs, kafkatest.Record{Key: []byte(poisoned + "1"), Value: []byte(ev)})
			bad = bad[1:]
		}
	}
	out, counts, got := run(recs)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("decisions of the good sessions changed:\n got %v\nwant %v", got, want)
	}
	rj := out.Rejected()
	if len(rj) != 6 {
		t.Fatalf("%d records for the DLQ, want the poisoned session's 6", len(rj))
	}
	for _, r := range rj {
		if r.Problem != schemas.ProblemInternal || !strings.Contains(r.Detail, "injected failure") || string(r.Key) != poisoned+"1" {
			t.Errorf("DLQ record %q at %d: %v %q", r.Key, r.Offset, r.Problem, r.Detail)
		}
		if string(recs[r.Offset].Key) != poisoned+"1" {
			t.Errorf("DLQ record names offset %d, which is another session's", r.Offset)
		}
	}
	if counts.DLQ[schemas.ProblemInternal] != 6 {
		t.Errorf("counted %d internal errors, want 6", counts.DLQ[schemas.ProblemInternal])
	}
}
