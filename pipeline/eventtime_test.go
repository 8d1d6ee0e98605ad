package pipeline

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/lingerhq/linger/bench"
	"github.com/lingerhq/linger/schemas"
	"github.com/lingerhq/linger/scoring"
)

// timerConfig shortens the session timeout so a test stream of a few minutes
// of event time expires sessions too.
func timerConfig(t testing.TB) *scoring.Config {
	t.Helper()
	cfg, err := scoring.ParseConfig([]byte("session_timeout: 2m\n"))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// run is a processor run over a stream: its decisions by id (decided_at
// blanked: the wall clock is the one thing allowed to differ) and every
// changelog record it committed, in order.
type runResult struct {
	decisions map[string]string
	dups      int
	changelog []kv
	timerMade int // decisions a timer made
}

type kv struct{ k, v []byte }

func (r *runResult) collect(t testing.TB, out *Output) {
	t.Helper()
	for i := range out.Decisions() {
		_, v := out.Decision(i)
		d, err := schemas.ParseDecision(v)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range d.Signals {
			if string(s.Detail) == "silence timer" {
				r.timerMade++
				break
			}
		}
		d.DecidedAt = 0
		if _, ok := r.decisions[string(d.ID)]; ok {
			r.dups++
		}
		r.decisions[string(d.ID)] = string(schemas.AppendDecision(nil, d))
	}
	for i := range out.StateRecords() {
		k, v := out.StateRecord(i)
		c := kv{k: append([]byte{}, k...)}
		if v != nil {
			c.v = append([]byte{}, v...)
		}
		r.changelog = append(r.changelog, c)
	}
}

func newTestProcessor(t testing.TB, cfg *scoring.Config) *Processor {
	t.Helper()
	return NewProcessor(0, ProcessorConfig{Epoch: 1, Store: NewStore(64 << 20), Scoring: cfg,
		Now: func() time.Time { return time.UnixMilli(bench.DefaultStartMs).Add(time.Hour) }})
}

// process runs recs through p in batches of the given size; abort, if set,
// says which batches to abort once before processing them again.
func process(t testing.TB, p *Processor, recs []bench.Record, batch int, res *runResult, abort func(i int) bool) {
	t.Helper()
	if res.decisions == nil {
		res.decisions = map[string]string{}
	}
	for i, n := 0, 0; i < len(recs); i, n = i+batch, n+1 {
		end := min(i+batch, len(recs))
		if abort != nil && abort(n) {
			p.Begin()
			for j := i; j < end; j++ {
				p.Process(recs[j].Key, recs[j].Value, int64(j))
			}
			p.End()
			p.Abort()
		}
		p.Begin()
		for j := i; j < end; j++ {
			p.Process(recs[j].Key, recs[j].Value, int64(j))
		}
		res.collect(t, p.End())
		p.Commit()
	}
}

// finalStates returns the last changelog value of each key: what a restore
// would load, tombstones (expired sessions) included.
func finalStates(log []kv) map[string]string {
	m := map[string]string{}
	for _, c := range log {
		if c.v == nil {
			m[string(c.k)] = "tombstone"
		} else {
			m[string(c.k)] = string(c.v)
		}
	}
	return m
}

func sameStates(t *testing.T, name string, got, want []kv) {
	t.Helper()
	g, w := finalStates(got), finalStates(want)
	if len(g) != len(w) {
		t.Errorf("%s: %d keys in the changelog, want %d", name, len(g), len(w))
	}
	n := 0
	for k, wv := range w {
		if g[k] != wv && n < 5 {
			t.Errorf("%s: final state of %q differs", name, k)
			n++
		}
	}
}

func sameDecisions(t *testing.T, name string, got, want runResult) {
	t.Helper()
	if got.dups != 0 {
		t.Errorf("%s: %d decisions made twice", name, got.dups)
	}
	for id, w := range want.decisions {
		if g, ok := got.decisions[id]; !ok {
			t.Errorf("%s: decision %s missing", name, id)
		} else if g != w {
			t.Errorf("%s: decision %s differs:\n got %s\nwant %s", name, id, g, w)
		}
	}
	for id := range got.decisions {
		if _, ok := want.decisions[id]; !ok {
			t.Errorf("%s: extra decision %s", name, id)
		}
	}
}

// TestTimersFireTheSameWhateverTheBatches: timers fire as the event-time
// watermark passes them, between events, so where they fire in the stream,
// and what they decide, does not depend on how it is batched.
func TestTimersFireTheSameWhateverTheBatches(t *testing.T) {
	cfg := timerConfig(t)
	recs := bench.GenerateRecords(7, 60000)
	var want runResult
	for i, batch := range []int{len(recs), 1, 113, 5000} {
		var got runResult
		p := newTestProcessor(t, cfg)
		process(t, p, recs, batch, &got, nil)
		if i == 0 {
			want = got
			if got.timerMade == 0 {
				t.Fatal("no decision came from a timer: the stream does not exercise them")
			}
			if v := testutilValue(p.m.m.Expired); v == 0 {
				t.Fatal("no session expired: the stream does not exercise expiry")
			}
			t.Logf("%d decisions, %d by timers, %v sessions expired", len(got.decisions), got.timerMade, testutilValue(p.m.m.Expired))
			continue
		}
		sameDecisions(t, fmt.Sprintf("batches of %d", batch), got, want)
	}
}

// TestAbortLeavesNoTrace: an aborted batch, processed again, gives what the
// batch processed once gives: the cache, the timers and event time go back.
func TestAbortLeavesNoTrace(t *testing.T) {
	cfg := timerConfig(t)
	recs := bench.GenerateRecords(8, 40000)
	var want, got runResult
	process(t, newTestProcessor(t, cfg), recs, 400, &want, nil)
	r := rand.New(rand.NewPCG(1, 2))
	p := newTestProcessor(t, cfg)
	var aborted int
	process(t, p, recs, 400, &got, func(int) bool {
		if r.IntN(3) == 0 {
			aborted++
			return true
		}
		return false
	})
	if aborted == 0 {
		t.Fatal("no batch aborted")
	}
	// The aborted attempts' decisions were collected too: each must be
	// what the committed attempt made again, so only duplicates of equal
	// decisions are allowed.
	got.dups = 0
	sameDecisions(t, "with aborts", got, want)
	sameStates(t, "with aborts", got.changelog, want.changelog)
}

// TestRestoreResumesExactly: a processor that restores a partition from the
// changelog of another and goes on from where it stopped decides exactly what
// one processor does on the whole stream.
func TestRestoreResumesExactly(t *testing.T) {
	cfg := timerConfig(t)
	recs := bench.GenerateRecords(9, 60000)
	var want runResult
	process(t, newTestProcessor(t, cfg), recs, 500, &want, nil)

	cuts := []int{10000, 25000, 42500}
	var got runResult
	var changelog []kv
	from := 0
	var watermark int64
	for _, cut := range append(cuts, len(recs)) {
		p := newTestProcessor(t, cfg)
		for _, c := range changelog {
			if err := p.Restore(c.k, c.v); err != nil {
				t.Fatal(err)
			}
		}
		p.FinishRestore()
		if p.Watermark() != watermark {
			t.Fatalf("restored watermark %d, the processor before stopped at %d", p.Watermark(), watermark)
		}
		var part runResult
		process(t, p, recs[from:cut], 500, &part, nil)
		for id, d := range part.decisions {
			if _, ok := got.decisions[id]; ok {
				got.dups++
			}
			if got.decisions == nil {
				got.decisions = map[string]string{}
			}
			got.decisions[id] = d
		}
		changelog = append(changelog, part.changelog...)
		from = cut
		watermark = p.Watermark()
	}
	sameDecisions(t, "restored three times", got, want)
	sameStates(t, "restored three times", changelog, want.changelog)
}
