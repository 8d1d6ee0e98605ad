package scoring

import (
	"container/heap"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/lingerhq/linger/schemas"
)

// TestInhumanRate: more than 60 page views within a sliding minute mark a
// session as not human.
func TestInhumanRate(t *testing.T) {
	set := DefaultConfig().For(nil)
	views := func(ms ...int64) []int64 { return ms }
	burst := func(n int, from, every int64) []int64 {
		var v []int64
		for i := range n {
			v = append(v, from+int64(i)*every)
		}
		return v
	}
	for _, tc := range []struct {
		name string
		at   []int64 // ms from the session start
		set  *Settings
		want bool
	}{
		{"60 in 30 s", burst(60, 0, 500), set, false},
		{"61 in 30 s", burst(61, 0, 500), set, true},
		{"50 a minute for 5 minutes", burst(250, 0, 1200), set, false},
		{"61 a minute for 5 minutes", burst(305, 0, 60_000/61), set, true},
		// Fixed minutes would see 40 and 30; the sliding minute sees 70.
		{"a burst across a minute's edge", append(burst(40, 40_000, 500), burst(30, 60_000, 300)...), set, true},
		{"two bursts a minute and a half apart", append(burst(40, 0, 500), burst(40, 90_000, 500)...), set, false},
		{"a burst after a gap of minutes", append(views(0, 1000), burst(61, 600_000, 100)...), set, true},
		{"off", burst(200, 0, 10), &Settings{SessionTimeoutMs: set.SessionTimeoutMs, WindowMs: set.WindowMs}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s State
			for i, at := range tc.at {
				ev := schemas.Event{Type: schemas.TypePageView, Session: []byte("s"), TS: timelineBase + at,
					Page: schemas.Page{URL: fmt.Appendf(nil, "/p/%d", i), Kind: schemas.KindProduct}}
				Update(&s, &ev, tc.set)
			}
			if got := s.Flags&FlagInhuman != 0; got != tc.want {
				t.Fatalf("inhuman = %v, want %v (minute %d: %d views, %d before)", got, tc.want, s.RateMinute, s.RateCur, s.RatePrev)
			}
			if tc.want {
				s.Kind, s.ActiveAt = uint8(schemas.KindCheckout), s.Last
				if o := Policy(&s, s.Last+60_000, set); o != SuppressedInhuman {
					t.Fatalf("Policy = %s, want inhuman_rate", o)
				}
				if NextDeadline(&s, set) != s.Last+set.SessionTimeoutMs {
					t.Fatal("a silence check armed for an inhuman session")
				}
			}
		})
	}
}

// TestRateBand: the share of eligible sessions invited is measured per
// site; the controller, when on, raises the thresholds while the share is
// over the band and lowers them while it is under.
func TestRateBand(t *testing.T) {
	const cfgYAML = `rate_band: {controller: true, every: 1m, min_sessions: 5, step: 0.05, min_offset: -0.1, max_offset: 0.1, window: 10m}`
	r := newRig(t, cfgYAML)
	at := timelineBase
	// Phase 1: every session invited (abandonment 0.88): over the band.
	for i := range 30 {
		at = timelineBase + int64(i)*10_000
		if o, _ := r.apply(eager(sid("s-over", i), "", "shop", at)); o != OutcomeInvite {
			t.Fatalf("phase 1, session %d: %s", i, o)
		}
	}
	st, ok := r.e.Budget().Band([]byte("shop"))
	if !ok || st.Offset != 0.1 || st.Share != 1 || st.Eligible != 30 || st.Min != 0.03 || st.Max != 0.1 {
		t.Fatalf("after 5 minutes at 100%%: %+v, want the offset at its maximum 0.1", st)
	}
	// A score of 0.74 now misses the raised threshold of 0.8.
	at += 10_000
	if o, _ := r.fire(silent("s-mid", "", "shop", at), at+98_000); o != SuppressedRateBand || math.Abs(r.e.Threshold()-0.8) > 1e-9 {
		t.Fatalf("a 0.74 with the thresholds raised: %s at %v, want rate_band at 0.8", o, r.e.Threshold())
	}
	// Phase 2: 20 minutes of eligible sessions that score low (0.17):
	// under the band once the window has slid past phase 1.
	for i := range 120 {
		at += 10_000
		if o, _ := r.fire(silent(sid("s-under", i), "", "shop", at), at+38_000); o != OutcomeNone {
			t.Fatalf("phase 2, session %d: %s", i, o)
		}
	}
	st, _ = r.e.Budget().Band([]byte("shop"))
	if st.Offset != -0.1 || st.Share != 0 {
		t.Fatalf("after 20 minutes at 0%%: %+v, want the offset at its minimum -0.1", st)
	}
	// A 0.62 is now invited (threshold 0.6).
	at += 10_000
	if o, _ := r.fire(silent("s-low", "", "shop", at), at+68_000); o != OutcomeInvite || math.Abs(r.e.Threshold()-0.6) > 1e-9 {
		t.Fatalf("a 0.62 with the thresholds lowered: %s at %v", o, r.e.Threshold())
	}

	// Off by default: measured, never moved.
	r = newRig(t, "")
	for i := range 30 {
		r.apply(eager(sid("s-off", i), "", "shop", timelineBase+int64(i)*10_000))
	}
	if st, _ := r.e.Budget().Band([]byte("shop")); st.Offset != 0 || st.Eligible != 30 || st.Invited != 30 {
		t.Fatalf("controller off: %+v", st)
	}
	var sites []string
	r.e.Budget().Bands(func(b BandStatus) { sites = append(sites, b.Site) })
	if !slices.Equal(sites, []string{"shop"}) {
		t.Fatalf("Bands: %v", sites)
	}
}

// TestRateBandCountsSessionsOnce: a session counts as eligible once, when
// the policy would first invite it, and as invited once.
func TestRateBandCountsSessionsOnce(t *testing.T) {
	r := newRig(t, "max_invites_per_session: 3\ncooldown: 30s\nfrequency_cap: {invites: 3}")
	var st State
	evs := hesitation("s-once", timelineBase)
	for i := range evs {
		evs[i].Site = []byte("shop")
		r.e.Apply(&st, &evs[i], &r.d)
	}
	if st.Invites < 2 {
		t.Fatalf("%d invites, want several", st.Invites)
	}
	if b, _ := r.e.Budget().Band([]byte("shop")); b.Eligible != 1 || b.Invited != 1 {
		t.Fatalf("band %+v: want one eligible and one invited session", b)
	}
	// Browsing only ineligible pages never counts.
	r.apply([]schemas.Event{{Type: schemas.TypePageView, Session: []byte("s-home"), Site: []byte("shop"), TS: timelineBase + 60_000,
		Page: schemas.Page{URL: []byte("/"), Kind: schemas.KindHome}}})
	if b, _ := r.e.Budget().Band([]byte("shop")); b.Eligible != 1 {
		t.Fatalf("a home page counted as eligible: %+v", b)
	}
}

// stream is a mixed workload for the determinism test: sessions of every
// kind the closed loop treats differently, on two sites, with returning
// visitors, interleaved by event time.
func stream(seed uint64) ([]schemas.Event, []*schemas.Capacity) {
	rng := rand.New(rand.NewPCG(seed, 1))
	var evs []schemas.Event
	for i := range 400 {
		start := timelineBase + int64(rng.IntN(40*60_000))
		site := []string{"shop", "saas"}[rng.IntN(2)]
		visitor := sid("v", rng.IntN(120))
		id := sid("s", i)
		var s []schemas.Event
		switch rng.IntN(7) {
		case 0, 1:
			s = eager(id, visitor, site, start)
		case 2:
			s = silent(id, visitor, site, start)
		case 3:
			s = cancelFlow(id, site, schemas.KindAccount, "/account/cancel/confirm")
			for j := range s {
				s[j].TS += start - timelineBase
				s[j].Visitor = []byte(visitor)
			}
		case 4: // a crawler that then acts like a hesitating buyer
			for j := range 70 {
				s = append(s, schemas.Event{Type: schemas.TypePageView, Session: []byte(id), Site: []byte(site), TS: start + int64(j)*400,
					Page: schemas.Page{URL: fmt.Appendf(nil, "/p/%d", j), Kind: schemas.KindProduct}})
			}
			s = append(s, silent(id, "", site, start+30_000)...)
			s = append(s, schemas.Event{Type: schemas.TypeIdle, Session: []byte(id), TS: start + 140_000, MS: 95_000},
				schemas.Event{Type: schemas.TypeExitIntent, Session: []byte(id), TS: start + 141_000})
		case 6: // invited, then buys before the invite is shown
			s = eager(id, visitor, site, start)
			s = append(s, schemas.Event{Type: schemas.TypePurchase, Session: []byte(id), TS: start + 50_000, Value: 34900})
		case 5: // a confused visitor on checkout
			s = silent(id, visitor, site, start)
			for j := range 6 {
				s = append(s, schemas.Event{Type: schemas.TypeMouse, Session: []byte(id), TS: start + 20_000 + int64(j)*3000, MS: 3000, Moves: 40, DirChanges: 30, Clicks: 5, RageClicks: 3, DeadClicks: 2})
			}
		}
		evs = append(evs, s...)
	}
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].TS < evs[j].TS })
	var caps []*schemas.Capacity
	free := []int64{3, 0, 1, 6, 2}
	for k := range 20 {
		caps = append(caps, capacityRecord("shop", "sales", free[k%len(free)], 2, 120, timelineBase+int64(k)*120_000))
		caps = append(caps, capacityRecord("shop", "retention", free[(k+2)%len(free)], 1, 300, timelineBase+int64(k)*150_000))
	}
	return evs, caps
}

const loopConfig = `
capacity: {static_invites_per_minute: 4, static_burst: 2}
rate_band: {controller: true, every: 2m, min_sessions: 3}
` + retentionRoute

// partitionRun processes a stream the way a partition worker does (timers
// before each event, when the watermark passes them), checkpointing every
// state, the budget and the visitor table at the batch boundaries given,
// and rebuilding everything from the checkpoint, as a restore would. It
// feeds capacity records as event time reaches them. It returns every
// decision and outcome in order.
func partitionRun(t *testing.T, evs []schemas.Event, records []*schemas.Capacity, boundaries map[int]bool) ([]string, map[Outcome]int) {
	t.Helper()
	cfg, err := ParseConfig([]byte(loopConfig))
	if err != nil {
		t.Fatal(err)
	}
	tab := NewCapacityTable(CapacityTableOptions{})
	budget := NewBudget(4)
	visitors := NewVisitorCaps(0)
	e := NewEngine(cfg, WithBudget(budget), WithCapacity(tab), WithVisitorCaps(visitors))
	states := map[string]*State{}
	var timers timerHeap
	seen := map[string]bool{} // visitors
	var out []string
	outcomes := map[Outcome]int{}
	var d schemas.Decision
	note := func(decided bool) {
		outcomes[e.Outcome()]++
		if decided {
			d.DecidedAt = 0
			out = append(out, string(schemas.AppendDecision(nil, &d)))
			if len(d.Visitor) > 0 {
				seen[string(d.Visitor)] = true
			}
		}
	}
	lateness := cfg.For(nil).AllowedLatenessMs
	var maxTS int64
	next := 0
	for i := range evs {
		if boundaries[i] {
			// Checkpoint and restore: new objects from bytes only.
			saved := map[string][]byte{}
			for id, st := range states {
				saved[id] = st.AppendBinary(nil)
			}
			blob := budget.AppendBinary(nil)
			var recs [][2][]byte
			for v := range seen {
				rec, _ := visitors.AppendRecord(nil, []byte(v))
				recs = append(recs, [2][]byte{[]byte(v), rec})
			}
			budget, visitors = NewBudget(4), NewVisitorCaps(0)
			if err := DecodeBudget(blob, budget); err != nil {
				t.Fatal(err)
			}
			for _, r := range recs {
				if err := visitors.Merge(r[0], r[1]); err != nil {
					t.Fatal(err)
				}
			}
			states, timers = map[string]*State{}, nil
			for id, b := range saved {
				st := &State{}
				if err := DecodeState(b, st); err != nil {
					t.Fatal(err)
				}
				states[id] = st
				heap.Push(&timers, timer{st.Deadline, id})
			}
			e = NewEngine(cfg, WithBudget(budget), WithCapacity(tab), WithVisitorCaps(visitors))
		}
		ev := &evs[i]
		maxTS = max(maxTS, ev.TS)
		for next < len(records) && records[next].TS <= maxTS {
			tab.Put(records[next])
			next++
		}
		for watermark := maxTS - lateness; len(timers) > 0 && timers[0].at <= watermark; {
			tm := heap.Pop(&timers).(timer)
			st := states[tm.id]
			if st == nil || st.Deadline != tm.at {
				continue // stale
			}
			decided, expired := e.Fire(st, tm.at, &d)
			if expired {
				delete(states, tm.id)
				continue
			}
			note(decided)
			heap.Push(&timers, timer{st.Deadline, tm.id})
		}
		st := states[string(ev.Session)]
		if st == nil {
			st = &State{}
			states[string(ev.Session)] = st
		}
		note(e.Apply(st, ev, &d))
		heap.Push(&timers, timer{st.Deadline, string(ev.Session)})
	}
	return out, outcomes
}

// timerHeap orders deadlines by event time, then session id: the order
// does not depend on how the states were stored.
type timer struct {
	at int64
	id string
}

type timerHeap []timer

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	return h[i].at < h[j].at || h[i].at == h[j].at && h[i].id < h[j].id
}
func (h timerHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *timerHeap) Push(x any)   { *h = append(*h, x.(timer)) }
func (h *timerHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// TestDeterminismAcrossBatches: the same events give the same decisions
// whatever the batch boundaries at which the partition's state, budget and
// visitor table are written out and read back, and whether the capacity
// records were all known from the start (a replay) or arrived as event
// time reached them (a live run).
func TestDeterminismAcrossBatches(t *testing.T) {
	evs, records := stream(7)
	want, outcomes := partitionRun(t, evs, records, nil)
	for _, o := range []Outcome{OutcomeInvite, OutcomeWithdraw, SuppressedNoCapacity, SuppressedScarce, SuppressedFrequencyCap, SuppressedInhuman, SuppressedRateBand, SuppressedCap} {
		if outcomes[o] == 0 {
			t.Errorf("the stream never gives %s: the test does not cover it (%v)", o, outcomes)
		}
	}
	teams := map[string]bool{}
	for _, d := range want {
		for _, team := range []string{"sales", "service", "retention"} {
			if strings.Contains(d, `"team":"`+team+`"`) {
				teams[team] = true
			}
		}
	}
	if len(teams) != 3 {
		t.Errorf("decisions reach teams %v, want sales, service and retention", slices.Sorted(maps.Keys(teams)))
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for round := range 4 {
		boundaries := map[int]bool{}
		every := []int{3, 20, 150, 1000}[round]
		for i := range evs {
			if i > 0 && rng.IntN(every) == 0 {
				boundaries[i] = true
			}
		}
		got, _ := partitionRun(t, evs, records, boundaries)
		if !slices.Equal(got, want) {
			i := 0
			for i < min(len(got), len(want)) && got[i] == want[i] {
				i++
			}
			t.Fatalf("batches of about %d events: %d decisions, want %d; first difference at %d:\n got %s\nwant %s",
				every, len(got), len(want), i, at(got, i), at(want, i))
		}
	}
}

func at(s []string, i int) string {
	if i < len(s) {
		return s[i]
	}
	return "(none)"
}

func TestClosedLoopConfig(t *testing.T) {
	c := DefaultConfig()
	set := c.For(nil)
	if set.MaxViewsPerMinute != 60 || set.CapInvites != 1 || set.CapPerMs != day || set.InvitesPerSlot != 1 ||
		set.ScarceRaise != 0.5 || set.StaticPerMinute != 0 || set.Band.min != 0.03 || set.Band.max != 0.1 ||
		set.Band.controller || set.Band.windowMs != 3600_000 || len(set.Routes) != 0 {
		t.Fatalf("defaults: %+v", set)
	}
	c, err := ParseConfig([]byte(`
routes:
  - {reason: abandonment, kinds: [account], url: "/account/cancel*", team: retention, eligible: true}
  - {kinds: [help], team: service}
max_page_views_per_minute: 0
frequency_cap: {invites: 2, per: 12h}
capacity: {invites_per_slot: 1.5, scarce_raise: 0.25, stale_after: 10m, static_invites_per_minute: 30}
rate_band: {min_percent: 2, max_percent: 8, controller: true}
sites:
  shop:
    routes: []
    capacity: {static_invites_per_minute: 0}
`))
	if err != nil {
		t.Fatal(err)
	}
	set = c.For(nil)
	if len(set.Routes) != 2 || !set.RouteEligible || set.MaxViewsPerMinute != 0 || set.CapInvites != 2 || set.CapPerMs != 12*3600_000 ||
		set.InvitesPerSlot != 1.5 || set.ScarceRaise != 0.25 || set.StaleAfterMs != 600_000 || set.StaticPerMinute != 30 ||
		set.StaticBurst != 30 || !set.Band.controller || set.Band.min != 0.02 {
		t.Fatalf("parsed: %+v", set)
	}
	shop := c.For([]byte("shop"))
	if len(shop.Routes) != 0 || shop.StaticPerMinute != 0 || shop.CapInvites != 2 {
		t.Fatalf("site override: routes %d, static %v, cap %d", len(shop.Routes), shop.StaticPerMinute, shop.CapInvites)
	}
	if string(shop.Model) == string(set.Model) || c.Model() == DefaultConfig().Model() {
		t.Fatal("routes and capacity settings must change the model name")
	}
	// Marshal and parse back.
	b, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseConfig(b)
	if err != nil || back.Model() != c.Model() {
		t.Fatalf("marshal→parse: %v\n%s", err, b)
	}
}

func TestClosedLoopConfigErrors(t *testing.T) {
	_, err := ParseConfig([]byte(`
routes:
  - {reason: anger, kinds: [basket], team: ""}
  - {team: "a/b"}
teams: {confusion: "x/y"}
max_page_views_per_minute: -1
frequency_cap: {invites: 17}
capacity: {invites_per_slot: 0, scarce_raise: 2, stale_after: -1s, static_invites_per_minute: -1, static_burst: -2}
rate_band: {min_percent: 20, max_percent: 10, window: 0s, every: 0s, step: 0, min_offset: 0.1, max_offset: -0.1, min_sessions: -1}
`))
	if err == nil {
		t.Fatal("no error")
	}
	for _, w := range []string{`line 3: routes[0].reason: "anger"`, `line 3: routes[0].kinds: "basket"`, "line 3: routes[0].team: must not be empty",
		`line 4: routes[1].team: want a team name of at most 128 bytes without '/' (capacity records are keyed site/team), got "a/b"`,
		`line 5: teams.confusion: want a team name of at most 128 bytes without '/' (capacity records are keyed site/team), got "x/y"`, "max_page_views_per_minute", "frequency_cap.invites", "capacity.invites_per_slot", "capacity.scarce_raise",
		"capacity.stale_after", "capacity.static_invites_per_minute", "capacity.static_burst", "min_percent", "rate_band.window",
		"rate_band.every", "rate_band.step", "min_offset", "rate_band.min_sessions"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not mention %q:\n%v", w, err)
		}
	}
	if _, err := ParseConfig([]byte("frequency_cap: {invites: 1, per: 0s}")); err == nil || !strings.Contains(err.Error(), "frequency_cap.per") {
		t.Errorf("per 0 with a cap: %v", err)
	}
}

func TestSuppressedReasons(t *testing.T) {
	got := SuppressedReasons()
	want := []string{"bot", "converted", "page", "breathing_space", "session_cap", "cooldown", "inhuman_rate", "frequency_cap", "no_capacity", "rate_band", "scarce_capacity", "acceptance_band"}
	if !slices.Equal(got, want) {
		t.Fatalf("SuppressedReasons() = %v", got)
	}
	got[0] = "changed"
	if SuppressedBot.String() != "bot" {
		t.Fatal("SuppressedReasons must return a copy")
	}
	for o := SuppressedBot; o < numOutcomes; o++ {
		if !o.Suppressed() {
			t.Errorf("%s is not Suppressed()", o)
		}
	}
	// The pipeline counts suppressions in an array of 16 by Outcome.
	if numOutcomes > 16 {
		t.Fatalf("%d outcomes: the pipeline's per-outcome arrays hold 16", numOutcomes)
	}
}

// closedLoopRig is an engine with every part of the closed loop on: routes,
// capacity data, the controller, a visitor table, over 16 partitions.
func closedLoopRig(tb testing.TB) (*Engine, []schemas.Event) {
	cfg, err := ParseConfig([]byte(loopConfig))
	if err != nil {
		tb.Fatal(err)
	}
	tab := NewCapacityTable(CapacityTableOptions{})
	tab.Put(capacityRecord("shop", "sales", 200, 50, 120, timelineBase))
	e := NewEngine(cfg, WithBudget(NewBudget(16)), WithCapacity(tab), WithVisitorCaps(NewVisitorCaps(0)))
	evs := hesitation("s-loop", timelineBase)
	for i := range evs {
		evs[i].Site, evs[i].Visitor = []byte("shop"), []byte("v-loop")
	}
	return e, evs
}

func TestApplyAllocsClosedLoop(t *testing.T) {
	e, evs := closedLoopRig(t)
	var d schemas.Decision
	var st State
	run := func() {
		st.Reset()
		for i := range evs {
			e.Apply(&st, &evs[i], &d)
		}
		e.Fire(&st, st.Last+time.Minute.Milliseconds(), &d)
	}
	run() // warm: buckets, bands, the visitor entry, the decision's buffers
	if n := testing.AllocsPerRun(50, run); n != 0 {
		t.Fatalf("Apply with the closed loop on allocates %v times per session", n)
	}
}

// BenchmarkApplyClosedLoop is BenchmarkApply with routes, capacity data,
// the rate-band controller and a visitor table.
func BenchmarkApplyClosedLoop(b *testing.B) {
	e, evs := closedLoopRig(b)
	var d schemas.Decision
	var st State
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i%len(evs) == 0 {
			st.Reset()
		}
		e.Apply(&st, &evs[i%len(evs)], &d)
	}
}

// TestMadeUpSitesShareOneBand: sessions of sites the config does not name
// share one band (other): a flood of made-up sites cannot crowd the
// configured site's band out of the budget, nor grow it.
func TestMadeUpSitesShareOneBand(t *testing.T) {
	r := newRig(t, "frequency_cap: {invites: 0}")
	for i := range 3 * MaxBudgetKeys {
		evs := hesitation(fmt.Sprintf("s-%d", i), timelineBase+int64(i))
		site := fmt.Sprintf("made-up-%d", i)
		if i%50 == 0 {
			site = "shop"
		}
		for j := range evs {
			evs[j].Site = []byte(site)
		}
		r.apply(evs)
	}
	var sites []string
	r.e.Budget().Bands(func(b BandStatus) { sites = append(sites, b.Site) })
	slices.Sort(sites)
	if !slices.Equal(sites, []string{LabelOther, "shop"}) {
		t.Fatalf("bands %v, want the configured site's and one for the others", sites)
	}
	if b, _ := r.e.Budget().Band([]byte("shop")); b.Eligible == 0 {
		t.Fatalf("the configured site's band lost its counts: %+v", b)
	}
}
