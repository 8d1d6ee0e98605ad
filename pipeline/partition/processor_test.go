package partition

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/fastcache"
	"github.com/cespare/xxhash/v2"
	"github.com/lingerhq/linger/internal/kafkatest"
	"github.com/lingerhq/linger/scoring"

	"github.com/lingerhq/linger/schemas"
)

// testStart is the event time the synthetic sessions begin at.
var testStart = kafkatest.Start

type rec = kafkatest.Record

// hesitators returns the events of n sessions interleaved, each a checkout
// with a full cart followed by silence and exit intents: every session gets
// one abandonment invite.
func hesitators(n int) []rec { return kafkatest.Hesitators(0, n) }

func fixedClock() time.Time { return testStart.Add(5 * time.Minute) }

// run processes recs in batches of size batch and returns the decisions.
func run(p *Processor, recs []rec, batch int) []string {
	var out []string
	for i := 0; i < len(recs); i += batch {
		p.Begin()
		for j := i; j < min(i+batch, len(recs)); j++ {
			p.Process(recs[j].Key, recs[j].Value, int64(j))
		}
		o := p.End()
		p.Commit()
		for k := range o.Decisions() {
			key, v := o.Decision(k)
			d, err := schemas.ParseDecision(v)
			if err != nil || string(d.Session) != string(key) {
				panic(fmt.Sprintf("bad decision %s: %v", v, err))
			}
			out = append(out, fmt.Sprintf("%s %s %s %.4f", d.ID, d.Action, d.Reason, d.Score))
		}
	}
	return out
}

// TestBatchSizeDoesNotChangeDecisions: state is written back once per batch,
// and must be exactly the in-memory state, so decisions cannot depend on
// where batches happen to split.
func TestBatchSizeDoesNotChangeDecisions(t *testing.T) {
	recs := hesitators(50)
	var want []string
	for _, batch := range []int{1, 7, 64, len(recs)} {
		p := New(0, Config{Epoch: 1, Store: NewStore(0), Now: fixedClock})
		got := run(p, recs, batch)
		if len(got) != 50 {
			t.Fatalf("batch %d: %d decisions, want one per session (50)", batch, len(got))
		}
		if want == nil {
			want = got
			continue
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("batch %d decided differently from batch 1", batch)
		}
	}
}

// TestOneWritePerSessionPerBatch: fastcache appends on every Set, so the
// processor writes a session at most once per batch however many of its
// events the batch holds; an active session stays in the hot table and is
// not written to fastcache at all until it goes quiet.
func TestOneWritePerSessionPerBatch(t *testing.T) {
	store := NewStore(0)
	p := New(0, Config{Epoch: 1, Store: store, Now: fixedClock})
	recs := hesitators(10) // 60 events of 10 sessions
	p.Begin()
	for i, r := range recs {
		p.Process(r.Key, r.Value, int64(i))
	}
	p.End()
	p.Commit()
	if st := store.Stats(); st.HotSessions != 10 {
		t.Fatalf("%d hot sessions, want 10", st.HotSessions)
	}
	var fs fastcache.Stats
	store.c.UpdateStats(&fs)
	if fs.SetCalls > 10 {
		t.Fatalf("%d writes to the cache for 10 sessions in one batch", fs.SetCalls)
	}
}

// TestQuietSessionsSpillOnce: a session is written to fastcache once, when
// it has been quiet for hotQuietMs of event time, however many batches
// touched it; it is then served from fastcache as it was.
func TestQuietSessionsSpillOnce(t *testing.T) {
	store := NewStore(0)
	p := New(0, Config{Epoch: 1, Store: store, Now: fixedClock})
	ts := testStart.UnixMilli()
	ev := func(session string, at int64) rec {
		e := schemas.Event{Type: schemas.TypePageView, Session: []byte(session), TS: at, Page: schemas.Page{URL: []byte("/p/1"), Kind: schemas.KindProduct}}
		return rec{Key: e.Session, Value: schemas.AppendEvent(nil, &e)}
	}
	batch := func(rs ...rec) {
		p.Begin()
		for i, r := range rs {
			p.Process(r.Key, r.Value, int64(i))
		}
		p.End()
		p.Commit()
	}
	sets := func() uint64 {
		var fs fastcache.Stats
		store.c.UpdateStats(&fs)
		return fs.SetCalls
	}
	// Ten sessions, each touched by 20 batches a second apart.
	for i := range 20 {
		var rs []rec
		for s := range 10 {
			rs = append(rs, ev(fmt.Sprint("s-", s), ts+int64(i)*1000))
		}
		batch(rs...)
	}
	if n := sets(); n != 0 {
		t.Fatalf("%d writes to fastcache while the sessions were active", n)
	}
	// Another session moves event time past their quiet period.
	batch(ev("s-late", ts+20_000+hotQuietMs+1))
	if n := sets(); n != 10 {
		t.Fatalf("%d writes to fastcache once they were quiet, want one each", n)
	}
	if st := store.Stats(); st.HotSessions != 1 || st.Entries != 10 {
		t.Fatalf("%d hot sessions and %d in fastcache, want 1 and 10", st.HotSessions, st.Entries)
	}
	// Back from fastcache as it was: its 21st event counts on top of 20.
	batch(ev("s-3", ts+20_000+hotQuietMs+2))
	if st := hotState(t, p, "s-3"); st.Events != 21 {
		t.Fatalf("s-3 after its return: %+v", st)
	}
}

// hotState returns the committed state of a session in p's hot table.
func hotState(t *testing.T, p *Processor, session string) *scoring.State {
	t.Helper()
	i := p.hot.find(xxhash.Sum64String(session))
	if i < 0 {
		t.Fatalf("%s is not in the hot table", session)
	}
	var st scoring.State
	if err := scoring.DecodeState(p.hot.value(i), &st); err != nil {
		t.Fatal(err)
	}
	return &st
}

func TestDLQAndUnknownTypes(t *testing.T) {
	p := New(3, Config{Epoch: 1, Store: NewStore(0), Now: fixedClock})
	ts := testStart.UnixMilli()
	good := fmt.Appendf(nil, `{"v":1,"type":"page_view","session":"s-1","ts":%d,"page":{"url":"/","kind":"home"}}`, ts)
	cases := []struct {
		key, value string
		problem    schemas.Problem
	}{
		{"s-1", `{"v":1,`, schemas.ProblemInvalidJSON},
		{"s-1", `[1,2]`, schemas.ProblemNotObject},
		{"s-2", string(good), schemas.ProblemKeyMismatch},
		{"s-1", fmt.Sprintf(`{"v":1,"type":"idle","session":"s-1","ts":%d}`, ts), schemas.ProblemMissingField},
		{"s-1", fmt.Sprintf(`{"v":1,"type":"idle","session":"s-1","ts":%d,"ms":60000}`, fixedClock().Add(2*time.Hour).UnixMilli()), schemas.ProblemFutureTS},
	}
	p.Begin()
	for i, c := range cases {
		p.Process([]byte(c.key), []byte(c.value), int64(i))
	}
	p.Process([]byte("s-1"), fmt.Appendf(nil, `{"v":1,"type":"hover","session":"s-1","ts":%d}`, ts), 100)
	p.Process([]byte("s-1"), good, 101)
	out := p.End()
	p.Commit()
	rj := out.Rejected()
	if len(rj) != len(cases) {
		t.Fatalf("%d records for the DLQ, want %d", len(rj), len(cases))
	}
	for i, c := range cases {
		if rj[i].Problem != c.problem || rj[i].Offset != int64(i) || string(rj[i].Value) != c.value {
			t.Errorf("case %d: got %v at %d, want %v at %d, value unchanged", i, rj[i].Problem, rj[i].Offset, c.problem, i)
		}
		if rj[i].Detail == "" {
			t.Errorf("case %d: no detail", i)
		}
	}
	if n := p.Totals().Events; n[schemas.TypeUnknown] != 1 || n[schemas.TypePageView] != 1 {
		t.Fatal("unknown type and the good event must each be counted")
	}
}

// TestStateLostIsCounted: a session whose state the cache ring dropped
// before its timeout is counted, not silently taken for a new session.
func TestStateLostIsCounted(t *testing.T) {
	store := NewStore(0) // the minimum, 32 MiB
	p := New(0, Config{Epoch: 1, Store: store, Now: fixedClock})
	ts := testStart.UnixMilli()
	ev := func(i int, at int64) rec {
		e := schemas.Event{Type: schemas.TypePageView, Session: fmt.Appendf(nil, "session-%07d", i), TS: at,
			Visitor: []byte("a-visitor-id-of-typical-length-xyz"), Page: schemas.Page{URL: []byte("/p/some-product-page-with-a-longish-slug"), Kind: schemas.KindProduct}}
		return rec{Key: e.Session, Value: schemas.AppendEvent(nil, &e)}
	}
	// Enough sessions to wrap the ring at least once.
	const n = 400_000
	for i := 0; i < n; i += 1000 {
		p.Begin()
		for j := i; j < i+1000; j++ {
			r := ev(j, ts)
			p.Process(r.Key, r.Value, int64(j))
		}
		p.End()
		p.Commit()
		p.Commit()
	}
	if store.Stats().Evictions == 0 {
		t.Fatal("the ring did not wrap; the test needs more sessions")
	}
	lost := p.Totals().Lost
	p.Begin()
	r := ev(0, ts+1000) // the first session, well within its timeout
	p.Process(r.Key, r.Value, n)
	p.End()
	p.Commit()
	if got := p.Totals().Lost; got != lost+1 {
		t.Fatalf("lost %v → %v, want one more for an evicted live session", lost, got)
	}
	// A session that timed out is not lost: it ended.
	p.Begin()
	r = ev(1, ts+31*60_000)
	p.Process(r.Key, r.Value, n+1)
	p.End()
	p.Commit()
	if got := p.Totals().Lost; got != lost+1 {
		t.Fatalf("an expired session was counted as lost")
	}
}

// TestHotTablesGiveWayToFastcache: the hot tables hold every active
// session while fastcache is empty, beyond their quarter of the cache
// size, and give that room back, spilling the least recently committed
// sessions, once fastcache has filled; the spilled sessions come back
// from fastcache as they were.
func TestHotTablesGiveWayToFastcache(t *testing.T) {
	store := NewStore(MinCacheBytes)
	floor := int64(MinCacheBytes / 4 / hotBytesPerSession)
	if got := store.HotCap(); got != MinCacheBytes/hotBytesPerSession {
		t.Fatalf("an empty store's hot cap is %d sessions, want all of the cache size (%d)", got, MinCacheBytes/hotBytesPerSession)
	}
	p := New(0, Config{Epoch: 1, Store: store, Now: fixedClock})
	ts := testStart.UnixMilli()
	batch := func(from, to int, at int64) {
		p.Begin()
		for i := from; i < to; i++ {
			e := schemas.Event{Type: schemas.TypePageView, Session: fmt.Appendf(nil, "s-%06d", i), TS: at, Page: schemas.Page{URL: []byte("/p/1"), Kind: schemas.KindProduct}}
			p.Process(e.Session, schemas.AppendEvent(nil, &e), int64(i))
		}
		p.End()
		p.Commit()
	}
	n := int(2*floor/1000+1) * 1000 // twice the floor, in whole batches
	for i := 0; i < n; i += 1000 {
		batch(i, i+1000, ts)
	}
	if st := store.Stats(); st.HotSessions != int64(n) || st.Writes != 0 {
		t.Fatalf("%d sessions hot and %d written to fastcache, want all %d hot and none written", st.HotSessions, st.Writes, n)
	}
	// Something else fills fastcache (other partitions' quiet sessions).
	val := make([]byte, 1000)
	for i := 0; store.written.Load() < store.maxBytes; i++ {
		store.set(fmt.Appendf(nil, "other-%d", i), val, true)
	}
	if got := store.HotCap(); got != floor {
		t.Fatalf("with fastcache full the hot cap is %d sessions, want the floor %d", got, floor)
	}
	// Each commit gives back at most hotShrinkMax sessions.
	for range n / hotShrinkMax {
		before := store.Stats().HotSessions
		batch(n, n+1, ts+1000) // one session, touched again and again
		if after := store.Stats().HotSessions; before-after > hotShrinkMax {
			t.Fatalf("one commit spilled %d sessions, want at most %d", before-after, hotShrinkMax)
		}
	}
	st := store.Stats()
	if st.HotSessions > floor {
		t.Fatalf("%d sessions hot after the shrink, want at most %d", st.HotSessions, floor)
	}
	// The first sessions were committed first, so they were spilled.
	if p.hot.find(xxhash.Sum64String("s-000000")) >= 0 {
		t.Fatal("the least recently committed session is still hot")
	}
	batch(0, 1, ts+2000)
	if st := hotState(t, p, "s-000000"); st.Events != 2 {
		t.Fatalf("s-000000 back from fastcache: %d events, want 2", st.Events)
	}
	if lost := p.Totals().Lost; lost != 0 {
		t.Fatalf("%d sessions lost", lost)
	}
}

// TestSpanNumberWraps: a hot entry names its session's slot for one span
// (hotEntry.span); when the span counter wraps, entries marked in the spans
// of its first round must not be taken for this span's.
func TestSpanNumberWraps(t *testing.T) {
	p := New(0, Config{Epoch: 1, Store: NewStore(0), Now: fixedClock})
	ts := testStart.UnixMilli()
	batch := func(at int64, sessions ...string) {
		p.Begin()
		for i, s := range sessions {
			e := schemas.Event{Type: schemas.TypePageView, Session: []byte(s), TS: at, Page: schemas.Page{URL: []byte("/p/1"), Kind: schemas.KindProduct}}
			p.Process(e.Session, schemas.AppendEvent(nil, &e), int64(i))
		}
		p.End()
		p.Commit()
	}
	batch(ts, "a", "b")           // span 1: hot, so the next span marks them
	batch(ts+1000, "a", "b")      // span 2 marks a's entry slot 0, b's slot 1
	p.span = ^uint32(0)           // as if 2^32 - 3 spans had gone by
	batch(ts+2000, "c")           // the last span before the wrap
	p.span = 2                    // skip span 1 so the old marks meet their number
	batch(ts+3000, "b", "a", "b") // b first: a stale mark would give it a's slot
	for s, want := range map[string]uint32{"a": 3, "b": 4, "c": 1} {
		if st := hotState(t, p, s); st.Events != want {
			t.Fatalf("%s has %d events, want %d", s, st.Events, want)
		}
	}
}
