package scoring

import (
	"bytes"
	"errors"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/lingerhq/linger/schemas"
)

func TestCapacityTableAt(t *testing.T) {
	tab := NewCapacityTable(CapacityTableOptions{})
	// Out of order, as two readers of a topic's partitions could deliver.
	for _, r := range []struct{ free, ts int64 }{{3, 1000}, {0, 3000}, {1, 2000}, {5, 5000}} {
		tab.Put(capacityRecord("shop", "sales", r.free, 2, 60, r.ts))
	}
	tab.Put(capacityRecord("shop", "service", 9, 2, 60, 1000))
	for _, tc := range []struct {
		team   string
		at     int64
		free   int64
		exists bool
	}{
		{"sales", 999, 0, false},
		{"sales", 1000, 3, true},
		{"sales", 1999, 3, true},
		{"sales", 2000, 1, true},
		{"sales", 3500, 0, true},
		{"sales", 4999, 0, true},
		{"sales", 5000, 5, true},
		{"sales", 1 << 50, 5, true},
		{"service", 2000, 9, true},
		{"retention", 2000, 0, false},
	} {
		r, ok := tab.At([]byte("shop"), []byte(tc.team), tc.at)
		if ok != tc.exists || r.FreeSlots != tc.free {
			t.Errorf("At(%s, %d) = %+v %v, want %d free (%v)", tc.team, tc.at, r, ok, tc.free, tc.exists)
		}
	}
	if _, ok := tab.At([]byte("other"), []byte("sales"), 5000); ok {
		t.Error("a site without records has capacity")
	}
	// The same ts again replaces (reading the topic twice is harmless).
	tab.Put(capacityRecord("shop", "sales", 7, 2, 60, 5000))
	if r, _ := tab.At([]byte("shop"), []byte("sales"), 6000); r.FreeSlots != 7 {
		t.Errorf("a record with the same ts did not replace: %+v", r)
	}
	if st := tab.Stats(); st.Keys != 2 || st.Records != 5 {
		t.Errorf("Stats = %+v, want 2 keys and 5 records", st)
	}
	if n := testing.AllocsPerRun(100, func() { tab.At([]byte("shop"), []byte("sales"), 2500) }); n != 0 {
		t.Errorf("At allocates %v times", n)
	}
}

func TestCapacityTableHistory(t *testing.T) {
	tab := NewCapacityTable(CapacityTableOptions{History: 10 * time.Second, PerKey: 4})
	for ts := int64(1000); ts <= 30000; ts += 1000 {
		tab.Put(capacityRecord("", "sales", ts/1000, 1, 60, ts))
	}
	// The span is 10 s back from 30 s: the record at 20 s answers 20 s, and
	// PerKey keeps 27..30 s only.
	st := tab.Stats()
	if st.Records != 4 || st.Dropped != 26 {
		t.Fatalf("Stats = %+v, want 4 records and 26 dropped", st)
	}
	if r, ok := tab.At(nil, []byte("sales"), 28500); !ok || r.FreeSlots != 28 {
		t.Fatalf("At(28.5 s) = %+v %v", r, ok)
	}
	// Before the history kept: the oldest record kept, counted.
	if r, ok := tab.At(nil, []byte("sales"), 5000); !ok || r.FreeSlots != 27 || tab.Stats().TooOld != 1 {
		t.Fatalf("At(5 s) = %+v %v, stats %+v: want the oldest kept, counted", r, ok, tab.Stats())
	}

	span := NewCapacityTable(CapacityTableOptions{History: 10 * time.Second})
	for _, ts := range []int64{1000, 5000, 12000, 15000, 30000} {
		span.Put(capacityRecord("", "sales", ts/1000, 1, 60, ts))
	}
	// Horizon 20 s: 15 s is the latest at or before it and stays.
	if r, ok := span.At(nil, []byte("sales"), 20000); !ok || r.FreeSlots != 15 {
		t.Fatalf("At(20 s) = %+v %v, want the record of 15 s kept for the horizon", r, ok)
	}
	if st := span.Stats(); st.Records != 2 || st.Dropped != 3 {
		t.Fatalf("Stats = %+v", st)
	}
}

func TestCapacityTableBounds(t *testing.T) {
	tab := NewCapacityTable(CapacityTableOptions{MaxKeys: 2})
	if !tab.Put(capacityRecord("a", "x", 1, 1, 60, 1)) || !tab.Put(capacityRecord("a", "y", 1, 1, 60, 1)) {
		t.Fatal("refused within MaxKeys")
	}
	if tab.Put(capacityRecord("b", "x", 1, 1, 60, 1)) {
		t.Fatal("a third key accepted with MaxKeys 2")
	}
	if !tab.Put(capacityRecord("a", "x", 2, 1, 60, 2)) {
		t.Fatal("a known key refused")
	}
	if st := tab.Stats(); st.Refused != 1 || st.Keys != 2 {
		t.Fatalf("Stats = %+v", st)
	}
}

// TestCapacityTableConcurrent is for the race detector: one reader of the
// topic, several partition workers.
func TestCapacityTableConcurrent(t *testing.T) {
	tab := NewCapacityTable(CapacityTableOptions{History: time.Minute})
	var wg sync.WaitGroup
	wg.Add(4)
	go func() {
		defer wg.Done()
		for ts := int64(1); ts <= 2000; ts++ {
			tab.Put(capacityRecord("shop", "sales", ts%5, 2, 60, ts*100))
		}
	}()
	for range 3 {
		go func() {
			defer wg.Done()
			for at := int64(1); at <= 2000; at++ {
				tab.At([]byte("shop"), []byte("sales"), at*100)
				tab.Stats()
			}
		}()
	}
	wg.Wait()
}

// TestCapacityByEventTime: a team with no free slot gets no invite at any
// moment under that record, however late the moment is decided; a record
// with free slots lets invites out again from its ts on.
func TestCapacityByEventTime(t *testing.T) {
	tab := NewCapacityTable(CapacityTableOptions{})
	r := newRig(t, "", WithCapacity(tab))
	t0 := timelineBase
	tab.Put(capacityRecord("shop", "sales", 5, 5, 300, t0))
	tab.Put(capacityRecord("shop", "sales", 0, 5, 300, t0+60_000))
	tab.Put(capacityRecord("shop", "sales", 5, 5, 300, t0+600_000))

	for _, tc := range []struct {
		name  string
		start int64 // the session's start; invited (or not) 40 s later
		want  Outcome
	}{
		{"before the team filled up", t0, OutcomeInvite},
		{"while full", t0 + 60_000, SuppressedNoCapacity},
		{"still full", t0 + 500_000, SuppressedNoCapacity},
		{"slots again", t0 + 600_000, OutcomeInvite},
	} {
		if got, _ := r.apply(eager(sid("s-ev", int(tc.start-t0)), "", "shop", tc.start)); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
	// A silence timer that fires late (at event time 98 s after its
	// session's start, well after the record of 600 s is known) judges its
	// own moment: the team was full then.
	if got, _ := r.fire(silent("s-late", "", "shop", t0+120_000), t0+120_000+98_000); got != SuppressedNoCapacity {
		t.Errorf("late timer in a full moment: %s, want no_capacity", got)
	}
	if got, _ := r.fire(silent("s-late2", "", "shop", t0+620_000), t0+620_000+98_000); got != OutcomeInvite {
		t.Errorf("timer in a moment with slots: %s, want invite", got)
	}
	// Another team of the site has no capacity data: the static budget,
	// unlimited by default.
	if got, _ := r.apply(eager("s-other-site", "", "eu", t0+100_000)); got != OutcomeInvite {
		t.Errorf("a team without data: %s, want invite", got)
	}
}

// TestBudgetSpendsAndScarcityRaisesTheThreshold: a team with 4 free slots
// and no refill; each invite spends one, the threshold rises as the bucket
// empties (0.7 → 0.7375 → 0.775 → 0.8125 with scarce_raise 0.5), so a
// middling score is held back while a high one still gets through, and an
// empty bucket lets nobody through.
func TestBudgetSpendsAndScarcityRaisesTheThreshold(t *testing.T) {
	tab := NewCapacityTable(CapacityTableOptions{})
	tab.Put(capacityRecord("shop", "sales", 4, 0, 300, timelineBase))
	r := newRig(t, "", WithCapacity(tab))
	at := timelineBase
	high := func() (Outcome, float64) {
		at += 10_000
		o, _ := r.apply(eager(sid("s-high", int(at)), "", "shop", at))
		return o, r.e.Threshold()
	}
	mid := func() (Outcome, float64) { // abandonment 0.744
		at += 10_000
		o, _ := r.fire(silent(sid("s-mid", int(at)), "", "shop", at), at+98_000)
		return o, r.e.Threshold()
	}
	for i, step := range []struct {
		run       func() (Outcome, float64)
		want      Outcome
		threshold float64
	}{
		{high, OutcomeInvite, 0.7},
		{mid, OutcomeInvite, 0.7375},
		{mid, SuppressedScarce, 0.775},
		{high, OutcomeInvite, 0.775},
		{mid, SuppressedScarce, 0.8125},
		{high, OutcomeInvite, 0.8125},
		{high, SuppressedNoCapacity, 0.7},
		{mid, SuppressedNoCapacity, 0.7},
	} {
		got, threshold := step.run()
		if got != step.want || math.Abs(threshold-step.threshold) > 1e-9 {
			t.Fatalf("step %d: %s with threshold %v, want %s with %v", i, got, threshold, step.want, step.threshold)
		}
	}
	var tb TeamBudget
	r.e.Budget().Teams(func(b TeamBudget) { tb = b })
	// Four invites are pending, decayed with invite_ttl (60 s) over the
	// minutes the test spans.
	if tb.Site != "shop" || tb.Team != "sales" || tb.Size != 4 || tb.Tokens != 0 || !(tb.Pending > 1 && tb.Pending < 4) {
		t.Fatalf("team budget %+v: want shop/sales, size 4, no tokens, 1 to 4 pending", tb)
	}

	// A newer record resets the bucket to its free slots less what is
	// still pending: the platform counts the chats that started, not the
	// invites on their way.
	tab.Put(capacityRecord("shop", "sales", 6, 0, 300, at+20_000))
	got, _ := high()
	decided := at + 40_000
	// (Moments before the bucket's latest one do not decay it.)
	want := 6 - tb.Pending*math.Exp(-float64(max(decided-tb.At, 0))/60_000) - 1
	before := tb
	r.e.Budget().Teams(func(b TeamBudget) { tb = b })
	if got != OutcomeInvite || math.Abs(tb.Tokens-want) > 1e-9 {
		t.Fatalf("after a newer record: %s, budget %+v (before %+v), want %v tokens", got, tb, before, want)
	}
}

// TestHoldoutSpendsNothing: the control group is decided like any other
// session, budget admission included, but no agent answers it.
func TestHoldoutSpendsNothing(t *testing.T) {
	tab := NewCapacityTable(CapacityTableOptions{})
	tab.Put(capacityRecord("shop", "sales", 1, 0, 300, timelineBase))
	r := newRig(t, "holdout_percent: 100", WithCapacity(tab))
	for i := range 5 {
		start := timelineBase + int64(i)*10_000
		got, d := r.apply(eager(sid("s-hold", i), "", "shop", start))
		if got != OutcomeInvite || !d.Holdout {
			t.Fatalf("session %d: %s (%+v), want a holdout invite", i, got, d)
		}
	}
	r.e.Budget().Teams(func(b TeamBudget) {
		if b.Tokens != 1 || b.Pending != 0 {
			t.Fatalf("holdout invites spent budget: %+v", b)
		}
	})
}

// TestBudgetRefills: 1 free slot, 2 agents with chats of 60 s: the bucket
// refills a token every 30 s.
func TestBudgetRefills(t *testing.T) {
	tab := NewCapacityTable(CapacityTableOptions{})
	tab.Put(capacityRecord("shop", "sales", 1, 2, 60, timelineBase))
	r := newRig(t, "capacity: {scarce_raise: 0}", WithCapacity(tab))
	var got []string
	for i := range 10 { // a candidate every 10 s from 40 s
		start := timelineBase + int64(i)*10_000
		if o, _ := r.apply(eager(sid("s-refill", i), "", "shop", start)); o == OutcomeInvite {
			got = append(got, (time.Duration(start+40_000-timelineBase) * time.Millisecond).String())
		} else if o != SuppressedNoCapacity {
			t.Fatalf("candidate %d: %s", i, o)
		}
	}
	// Invites need a whole token here (0.33 tokens a candidate), except
	// where the admission draw lets a fraction through.
	if len(got) < 3 || len(got) > 5 || got[0] != "40s" {
		t.Fatalf("invites at %v: want the first at once, then about one in 30 s", got)
	}
}

// TestStaticBudget: without capacity data a site's team gets the static
// budget; unlimited by default.
func TestStaticBudget(t *testing.T) {
	count := func(yaml string) int {
		r := newRig(t, yaml)
		n := 0
		for i := range 60 { // a candidate every second for a minute
			if o, _ := r.apply(eager(sid("s-static", i), "", "shop", timelineBase+int64(i)*1000)); o == OutcomeInvite {
				n++
			}
		}
		return n
	}
	if n := count(""); n != 60 {
		t.Errorf("default static budget: %d invites of 60, want all", n)
	}
	// 6 a minute with a burst of 2: 2 at once, then one in 10 s.
	if n := count("capacity: {static_invites_per_minute: 6, static_burst: 2, scarce_raise: 0}"); n < 6 || n > 10 {
		t.Errorf("6 a minute, burst 2: %d invites in a minute", n)
	}
	// Per site.
	if n := count("sites: {shop: {capacity: {static_invites_per_minute: 1}}}"); n < 1 || n > 3 {
		t.Errorf("1 a minute for the site: %d invites in a minute", n)
	}
}

// TestStaleCapacity: a record older than stale_after no longer counts.
func TestStaleCapacity(t *testing.T) {
	tab := NewCapacityTable(CapacityTableOptions{})
	tab.Put(capacityRecord("shop", "sales", 0, 1, 60, timelineBase))
	r := newRig(t, "capacity: {stale_after: 2m}", WithCapacity(tab))
	if o, _ := r.apply(eager("s-fresh", "", "shop", timelineBase)); o != SuppressedNoCapacity {
		t.Fatalf("fresh full team: %s", o)
	}
	if o, _ := r.apply(eager("s-stale", "", "shop", timelineBase+90_000)); o != OutcomeInvite {
		t.Fatalf("stale record: %s, want the static budget (unlimited)", o)
	}
}

// TestFractionalShares: a team with 4 free slots over 16 partitions gives
// each a quarter of an invite; each admits a quarter of its candidates,
// so the group lets out about 4 invites at once, not 16 nor 0.
func TestFractionalShares(t *testing.T) {
	tab := NewCapacityTable(CapacityTableOptions{})
	tab.Put(capacityRecord("shop", "sales", 4, 0, 300, timelineBase))
	cfg := DefaultConfig()
	const rounds, partitions = 200, 16
	total := 0
	for round := range rounds {
		for p := range partitions {
			e := NewEngine(cfg, WithCapacity(tab), WithBudget(NewBudget(partitions)))
			r := &rig{t: t, e: e}
			if o, _ := r.apply(eager(sid(sid("s-frac", round), p), "", "shop", timelineBase)); o == OutcomeInvite {
				total++
			}
		}
	}
	if mean := float64(total) / rounds; mean < 3.6 || mean > 4.4 {
		t.Fatalf("%.2f invites per round of %d partitions, want about 4", mean, partitions)
	}
}

func TestDrawUnit(t *testing.T) {
	var sum float64
	const n = 20000
	for i := range n {
		u := drawUnit([]byte(sid("s", i)), uint32(i%7))
		if !(u > 0 && u <= 1) {
			t.Fatalf("drawUnit = %v, out of (0, 1]", u)
		}
		sum += u
	}
	if mean := sum / n; math.Abs(mean-0.5) > 0.01 {
		t.Fatalf("mean draw %v, want about 0.5", mean)
	}
	if drawUnit([]byte("s-1"), 1) == drawUnit([]byte("s-1"), 2) {
		t.Fatal("the draw does not depend on the decision number")
	}
}

func TestBudgetEncoding(t *testing.T) {
	b := NewBudget(8)
	set := DefaultConfig().For(nil)
	tab := NewCapacityTable(CapacityTableOptions{})
	tab.Put(capacityRecord("shop", "sales", 16, 4, 120, 1000))
	g := b.check(tab, []byte("shop"), []byte("shop"), []byte("sales"), 5000, set)
	g.spend()
	b.check(nil, []byte("eu/shop"), []byte("eu/shop"), []byte("service"), 6000, &Settings{StaticPerMinute: 6, StaticBurst: 3, InviteTTLMs: 60_000})
	b.note([]byte("shop"), 7000, &set.Band, 3, 1)
	b.note([]byte(""), 8000, &set.Band, 1, 0)
	b.offset([]byte("shop"), 9000, &bandSettings{everyMs: 1000, windowMs: 3600_000, minSessions: 1, step: 0.02, min: 0.03, max: 0.1, maxOffset: 0.1})
	if !b.Dirty() {
		t.Fatal("not dirty after changes")
	}
	enc := b.AppendBinary([]byte("prefix"))
	if !bytes.HasPrefix(enc, []byte("prefix")) {
		t.Fatal("AppendBinary overwrote dst")
	}
	got := NewBudget(8)
	if err := DecodeBudget(enc[6:], got); err != nil {
		t.Fatal(err)
	}
	if again := got.AppendBinary(nil); !bytes.Equal(again, enc[6:]) {
		t.Fatalf("re-encoded budget differs:\n%x\n%x", again, enc[6:])
	}
	var teams []TeamBudget
	got.Teams(func(tb TeamBudget) { teams = append(teams, tb) })
	if len(teams) != 2 || teams[0].Site != "shop" || teams[0].Tokens != 1 || teams[1].Site != "eu/shop" || teams[1].Team != "service" {
		t.Fatalf("decoded teams %+v", teams)
	}
	if st, ok := got.Band([]byte("shop")); !ok || st.Eligible != 3 || st.Invited != 1 || st.Offset != 0.02 {
		t.Fatalf("decoded band %+v %v", st, ok)
	}
	if got.Dirty() {
		t.Fatal("a decoded budget is dirty")
	}

	for _, bad := range [][]byte{nil, {2}, {1}, {1, 1}, enc[6 : len(enc)-1], append(bytes.Clone(enc[6:]), 0)} {
		b := NewBudget(1)
		if err := DecodeBudget(bad, b); !errors.Is(err, ErrBadBudget) {
			t.Errorf("DecodeBudget(%x) = %v, want ErrBadBudget", bad, err)
		}
		if len(b.teamList) != 0 || len(b.siteList) != 0 {
			t.Errorf("a failed decode left state behind")
		}
	}
}

// FuzzDecodeBudget: arbitrary bytes never panic, and what decodes
// re-encodes to itself.
func FuzzDecodeBudget(f *testing.F) {
	b := NewBudget(4)
	set := DefaultConfig().For(nil)
	b.check(nil, []byte("s"), []byte("s"), []byte("t"), 1, &Settings{StaticPerMinute: 1, InviteTTLMs: 1})
	b.note([]byte("s"), 5, &set.Band, 1, 1)
	f.Add(b.AppendBinary(nil))
	f.Add([]byte{1, 0, 0})
	// With an acceptance band, a step, and feedback waiting.
	cfg, err := ParseConfig([]byte("acceptance_band: {controller: true, min_shown: 1}"))
	if err != nil {
		f.Fatal(err)
	}
	b.advanceAcceptance(1000, cfg)
	b.acceptFeedback([]byte("s"), 500, true, true, cfg)
	b.advanceAcceptance(3600_000, cfg)
	b.acceptOffset([]byte("s"), &cfg.For(nil).Accept)
	b.acceptFeedback([]byte("s"), 3600_500, true, false, cfg)
	f.Add(b.AppendBinary(nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		b := NewBudget(2)
		if DecodeBudget(data, b) != nil {
			return
		}
		enc := b.AppendBinary(nil)
		again := NewBudget(2)
		if err := DecodeBudget(enc, again); err != nil {
			t.Fatalf("re-encoded budget does not decode: %v", err)
		}
		if !bytes.Equal(again.AppendBinary(nil), enc) {
			t.Fatal("round trip changed the budget")
		}
	})
}

func TestCapacityTablePutsDecodedRecords(t *testing.T) {
	var d schemas.CapacityDecoder
	var c schemas.Capacity
	v := []byte(`{"v":1,"type":"capacity","site":"shop","team":"sales","agents":3,"free_slots":2,"avg_handle_s":90.5,"ts":1767225600000}`)
	if err := d.Decode([]byte("shop/sales"), v, 0, &c); err != nil {
		t.Fatal(err)
	}
	tab := NewCapacityTable(CapacityTableOptions{})
	tab.Put(&c)
	// The table keeps its own copy: the decoder's buffer is reused.
	_ = d.Decode([]byte("x/y"), []byte(`{"v":1,"type":"capacity","site":"x","team":"y","agents":1,"free_slots":1,"avg_handle_s":1,"ts":1}`), 0, &c)
	if r, ok := tab.At([]byte("shop"), []byte("sales"), 1767225600000); !ok || r != (CapacityRecord{Agents: 3, FreeSlots: 2, AvgHandleS: 90.5, TS: 1767225600000}) {
		t.Fatalf("At = %+v %v", r, ok)
	}
}
