package partition

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/lingerhq/linger/bench"
	"github.com/lingerhq/linger/internal/kafkatest"
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
		if d.Trigger == schemas.TriggerTimer {
			r.timerMade++
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

// genRecords is n records of the default simulator mix, seed 12.
func genRecords(n int) []bench.Record { return bench.GenerateRecords(12, n) }

func newTestProcessor(t testing.TB, cfg *scoring.Config) *Processor {
	t.Helper()
	return New(0, Config{Epoch: 1, Store: NewStore(64 << 20), Scoring: cfg,
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
			if v := p.Totals().Expired; v == 0 {
				t.Fatal("no session expired: the stream does not exercise expiry")
			}
			t.Logf("%d decisions, %d by timers, %v sessions expired", len(got.decisions), got.timerMade, p.Totals().Expired)
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

// TestWatermarkAndLateEvents: the watermark trails the newest event time by
// the allowed lateness, never runs more than a minute ahead of the wall
// clock, and an event older than it is applied but counted as late.
func TestWatermarkAndLateEvents(t *testing.T) {
	wall := time.UnixMilli(bench.DefaultStartMs).Add(10 * time.Minute)
	p := New(0, Config{Epoch: 1, Store: NewStore(0), Now: func() time.Time { return wall }})
	ev := func(session string, ts int64) (k, v []byte) {
		e := schemas.Event{Type: schemas.TypePageView, Session: []byte(session), TS: ts, Page: schemas.Page{URL: []byte("/"), Kind: schemas.KindHome}}
		return e.Session, schemas.AppendEvent(nil, &e)
	}
	t0 := bench.DefaultStartMs
	p.Begin()
	for i, ts := range []int64{t0, t0 + 10_000, t0 + 6_000, t0 + 4_000} {
		k, v := ev(fmt.Sprint("s", i), ts)
		p.Process(k, v, int64(i))
	}
	p.End()
	p.Commit()
	if wm := p.Watermark(); wm != t0+10_000-5_000 {
		t.Fatalf("watermark %d, want the newest event time less 5 s (%d)", wm, t0+5_000)
	}
	if late := p.Totals().Late; late != 1 {
		t.Fatalf("%v late events, want 1 (4 s is before the watermark, 6 s is not)", late)
	}
	// An event from a client whose clock is an hour ahead moves the
	// watermark no further than a minute past the wall clock.
	p.Begin()
	k, v := ev("s-future", wall.Add(50*time.Minute).UnixMilli())
	p.Process(k, v, 10)
	p.End()
	p.Commit()
	if wm := p.Watermark(); wm != wall.Add(time.Minute).UnixMilli() {
		t.Fatalf("watermark %v after a client ahead of time, want the wall clock + 1 min", time.UnixMilli(wm).Sub(wall))
	}
}

// TestIdlePartitionFollowsTheWallClock: a caught-up partition that receives
// nothing still fires its timers as wall time passes, and a partition with a
// backlog, or with wall-clock advance off, does not.
func TestIdlePartitionFollowsTheWallClock(t *testing.T) {
	for _, tc := range []struct {
		name      string
		wallClock bool
		caughtUp  bool
		want      bool
	}{
		{"caught up", true, true, true},
		{"backlog", true, false, false},
		{"event time only", false, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wall := testStart.Add(3 * time.Second) // the events of hesitators arrive as they happen
			p := New(0, Config{Epoch: 1, Store: NewStore(0), Now: func() time.Time { return wall }, WallClockAdvance: tc.wallClock})
			// A visitor goes quiet at checkout with a full cart.
			p.Begin()
			for i, r := range kafkatest.Hesitators(0, 1)[:3] {
				p.Process(r.Key, r.Value, int64(i))
			}
			p.End()
			p.Commit()
			p.SetCaughtUp(tc.caughtUp)
			decided := false
			for range 20 { // ten minutes of silence, in 30 s ticks
				wall = wall.Add(30 * time.Second)
				p.Begin()
				p.Tick()
				decided = decided || p.End().Decisions() > 0
				p.Commit()
			}
			if decided != tc.want {
				t.Fatalf("invited by a timer: %v, want %v", decided, tc.want)
			}
		})
	}
}

// processSpans is process with batches grouped in spans of span batches,
// each committed (or aborted, then processed again) as one, as a Kafka
// transaction spanning several polls is.
func processSpans(t testing.TB, p *Processor, recs []bench.Record, batch, spanBatches int, res *runResult, abort func(i int) bool) {
	t.Helper()
	if res.decisions == nil {
		res.decisions = map[string]string{}
	}
	spanRecs := batch * spanBatches
	for i, n := 0, 0; i < len(recs); i, n = i+spanRecs, n+1 {
		end := min(i+spanRecs, len(recs))
		run := func(collect bool) {
			for b := i; b < end; b += batch {
				p.Begin()
				for j := b; j < min(b+batch, end); j++ {
					p.Process(recs[j].Key, recs[j].Value, int64(j))
				}
				p.Tick()
				out := p.End()
				if collect {
					res.collect(t, out)
				}
			}
		}
		if abort != nil && abort(n) {
			run(false)
			p.Abort()
		}
		run(true)
		p.Commit()
	}
}

// TestSpansDecideAlike: batches grouped in spans (a transaction over
// several polls) decide, and write to the changelog, what batches committed
// one by one do, with aborts of whole spans too; a later batch of a span
// sees what an earlier one changed.
func TestSpansDecideAlike(t *testing.T) {
	cfg := timerConfig(t)
	recs := bench.GenerateRecords(11, 50000)
	var want runResult
	process(t, newTestProcessor(t, cfg), recs, 250, &want, nil)
	for _, spanBatches := range []int{1, 4, 25} {
		r := rand.New(rand.NewPCG(3, uint64(spanBatches)))
		var got runResult
		processSpans(t, newTestProcessor(t, cfg), recs, 250, spanBatches, &got, func(int) bool { return r.IntN(4) == 0 })
		sameDecisions(t, fmt.Sprintf("spans of %d batches", spanBatches), got, want)
		finalStatesEqual(t, fmt.Sprintf("spans of %d batches", spanBatches), got.changelog, want.changelog)
	}
}

// finalStatesEqual compares what a restore of each changelog would load:
// spans write a session once per batch that touches it, as batches do, so
// the changelogs' last values agree record for record.
func finalStatesEqual(t *testing.T, name string, got, want []kv) {
	t.Helper()
	g, w := finalStates(got), finalStates(want)
	if len(g) != len(w) {
		t.Errorf("%s: %d keys in the changelog, want %d", name, len(g), len(w))
	}
	for k, v := range w {
		if g[k] != v {
			t.Errorf("%s: key %q ends as %q, want %q", name, k, g[k], v)
			return
		}
	}
}
