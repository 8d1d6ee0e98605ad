package scoring

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/lingerhq/linger/schemas"
)

const hour = int64(time.Hour / time.Millisecond)

func mustConfig(t testing.TB, yaml string) *Config {
	t.Helper()
	cfg, err := ParseConfig([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// acceptRig drives one site's acceptance band of a Budget directly: the
// feedback of whole windows, the watermark and the controller's steps.
type acceptRig struct {
	t   *testing.T
	cfg *Config
	b   *Budget
	as  *acceptSettings
	wm  int64
}

var shop = []byte("shop")

func newAcceptRig(t *testing.T, yaml string) *acceptRig {
	cfg := mustConfig(t, yaml)
	r := &acceptRig{t: t, cfg: cfg, b: NewBudget(1), as: &cfg.For(shop).Accept, wm: timelineBase}
	r.b.advanceAcceptance(r.wm, cfg)
	r.b.acceptOffset(shop, r.as) // the first step weighs an empty window
	return r
}

// feed counts shown invites, accepted of them, spread evenly over the
// span from the watermark on, and moves the watermark to its end.
func (r *acceptRig) feed(span int64, shown, accepted int) {
	for i := range shown {
		ts := r.wm + 1 + int64(i)*span/int64(shown)
		acc := (i+1)*accepted/shown > i*accepted/shown
		r.b.acceptFeedback(shop, ts, true, acc, r.cfg)
	}
	r.wm += span
	r.b.advanceAcceptance(r.wm, r.cfg)
}

func (r *acceptRig) offset() float64 { return r.b.acceptOffset(shop, r.as) }

// TestAcceptanceController: one step per window/4 of the watermark, up
// when acceptance is below the band, down above it, only with min_shown
// shown in the window and its Wilson interval wholly outside the band.
func TestAcceptanceController(t *testing.T) {
	const on = "acceptance_band: {controller: true}" // 3–10%, 1h, min_shown 200
	for _, c := range []struct {
		name            string
		yaml            string
		shown, accepted int
		want            float64
	}{
		{"below: up", on, 400, 4, 0.02},     // 1%, interval 0.4–2.5%
		{"above: down", on, 400, 80, -0.02}, // 20%, interval 16–24%
		{"inside: still", on, 400, 24, 0},   // 6%
		{"at the lower edge: still", on, 400, 12, 0},
		{"too few shown: still", on, 199, 0, 0}, // 0 of 199, interval 0–1.9%
		{"min_shown lowered", "acceptance_band: {controller: true, min_shown: 150}", 199, 0, 0.02},
		{"min_shown 0, none shown: still", "acceptance_band: {controller: true, min_shown: 0}", 0, 0, 0},
		// 2% of 200 is under the band, but its interval (0.8–5%)
		// reaches into it: no evidence to act on.
		{"below, not by the interval: still", on, 200, 4, 0},
		// 12% of 200 is over it; the interval (8.2–17%) overlaps it.
		{"above, not by the interval: still", on, 200, 24, 0},
		{"above by the interval", on, 1000, 120, -0.02}, // 12%, 10.1–14.2%
		{"controller off: still", "acceptance_band: {controller: false}", 400, 4, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newAcceptRig(t, c.yaml)
			r.feed(hour, c.shown, c.accepted)
			if got := r.offset(); got != c.want {
				t.Fatalf("offset %v, want %v", got, c.want)
			}
			if c.yaml == on {
				// The step's figures are the window's, for metrics.
				st, _ := r.b.Band(shop)
				if a := st.Acceptance; a == nil || int(a.Shown) != c.shown || int(a.Accepted) != c.accepted || a.Min != 0.03 || a.Max != 0.1 {
					t.Fatalf("status %+v", st.Acceptance)
				}
			}
		})
	}
}

// TestAcceptanceControllerSteps: at most one step per quarter window,
// within ±AcceptanceMaxOffset, and the window slides.
func TestAcceptanceControllerSteps(t *testing.T) {
	r := newAcceptRig(t, "acceptance_band: {controller: true}")
	// An hour at 1% to fill the window: the first step.
	r.feed(hour, 1600, 16)
	want := AcceptanceStep
	if got := r.offset(); got != want {
		t.Fatalf("after an hour at 1%%: offset %v, want %v", got, want)
	}
	for q := range 16 {
		// Each quarter, a decision every minute: one step at most.
		for range 15 {
			r.feed(hour/60, 400/15, 0)
			r.offset()
		}
		want = min(want+AcceptanceStep, AcceptanceMaxOffset)
		if got := r.offset(); math.Abs(got-want) > 1e-9 {
			t.Fatalf("quarter %d below the band: offset %v, want %v", q, got, want)
		}
	}
	// Then at 30%: down, once the window holds enough of it, to the
	// lower bound.
	for q := range 30 {
		r.feed(hour/4, 400, 120)
		r.offset()
		if q == 0 && r.offset() != AcceptanceMaxOffset {
			t.Fatalf("a quarter at 30%% after hours at 0%%: offset %v, want still at the bound", r.offset())
		}
	}
	if got := r.offset(); got != -AcceptanceMaxOffset {
		t.Fatalf("after hours above the band: offset %v, want %v", got, -AcceptanceMaxOffset)
	}
}

// TestAcceptanceFeedbackWaitsForWatermark: feedback counts by its ts once
// the watermark has passed it, however early it came; one that comes late
// counts at once, and one older than every window still to weigh not at
// all.
func TestAcceptanceFeedbackWaitsForWatermark(t *testing.T) {
	r := newAcceptRig(t, "acceptance_band: {controller: true, min_shown: 1}")
	b := r.b
	// Feedback for the next hour and a half, before any event moves the
	// watermark: it waits.
	for i := range 300 {
		b.acceptFeedback(shop, r.wm+1+int64(i)*hour/200, true, false, r.cfg)
	}
	if len(b.pending) != 300 {
		t.Fatalf("%d pending, want 300", len(b.pending))
	}
	b.advanceAcceptance(r.wm+hour, r.cfg)
	if len(b.pending) != 100 {
		t.Fatalf("%d pending after an hour, want 100", len(b.pending))
	}
	r.wm += hour
	r.offset()
	if a, _ := b.Band(shop); a.Acceptance.Shown != 200 || a.Acceptance.Offset != AcceptanceStep {
		t.Fatalf("after an hour: %+v, want 200 shown weighed and a step up", a.Acceptance)
	}
	// Late: counted at once, in its slot.
	b.acceptFeedback(shop, r.wm-1, true, true, r.cfg)
	if len(b.pending) != 100 {
		t.Fatal("late feedback waited")
	}
	_, acc := b.sites["shop"].acc.slots.sum((r.wm-1)/r.as.slotMs(), (r.wm-1)/r.as.slotMs()+1)
	if acc != 1 {
		t.Fatalf("late feedback: %d accepted in its slot, want 1", acc)
	}
	// More than a window late: not counted.
	before := b.sites["shop"].acc.slots
	b.acceptFeedback(shop, r.wm-2*hour, true, true, r.cfg)
	if b.sites["shop"].acc.slots != before {
		t.Fatal("feedback two hours late was counted")
	}
	// A full queue counts its earliest record at once.
	r2 := newAcceptRig(t, "acceptance_band: {controller: true}")
	for i := range maxPending + 5 {
		r2.b.acceptFeedback(shop, r2.wm+hour+int64(i), true, false, r2.cfg)
	}
	if n, _ := r2.b.sites["shop"].acc.slots.sum(0, math.MaxInt64); len(r2.b.pending) != maxPending || n != 5 {
		t.Fatalf("%d pending, %d counted; want %d and 5", len(r2.b.pending), n, maxPending)
	}
	// Out of order: kept in order of ts, then kind, whatever the order
	// they came in.
	var lists [2][]byte
	for i, order := range [][]int64{{30, 10, 20, -10}, {-10, 20, 10, 30}} {
		r3 := newAcceptRig(t, "acceptance_band: {controller: true}")
		for _, d := range order {
			// -10: a record at 10 that says accepted too.
			r3.b.acceptFeedback(shop, r3.wm+max(d, -d), true, d < 0, r3.cfg)
		}
		for _, f := range r3.b.pending {
			lists[i] = append(lists[i], byte(f.ts-r3.wm), f.bits())
		}
	}
	if want := []byte{10, 1, 10, 3, 20, 1, 30, 1}; !bytes.Equal(lists[0], want) || !bytes.Equal(lists[1], want) {
		t.Fatalf("pending (ts, kind): %v and %v, want %v", lists[0], lists[1], want)
	}
}

// TestEngineFeedback: a record about the session's latest invite counts it
// shown, accepted, or both, once per invite, for the invite's team; holdout
// invites count nothing; records about another invite change nothing.
func TestEngineFeedback(t *testing.T) {
	cfg := mustConfig(t, `
routes: [{reason: abandonment, kinds: [checkout], team: checkout-desk}]
acceptance_band: {controller: true}
sites: {held: {holdout_percent: 100}}`)
	e := NewEngine(cfg)
	invited := func(session, site string) *State {
		var st State
		var d schemas.Decision
		evs := hesitation(session, timelineBase)
		for i := range evs {
			evs[i].Site = []byte(site)
			if e.Apply(&st, &evs[i], &d) {
				return &st
			}
		}
		t.Fatalf("%s was not invited", session)
		return nil
	}
	fb := func(st *State, typ schemas.FeedbackType, id string) FeedbackCount {
		return e.Feedback(st, &schemas.Feedback{Type: typ, InviteID: []byte(id), Session: st.Session, TS: timelineBase + 60_000})
	}
	st := invited("s-1", "shop")
	id := string(schemas.AppendDecisionID(nil, st.Session, st.InviteSeq))
	for _, step := range []struct {
		typ             schemas.FeedbackType
		id              string
		shown, accepted bool
		unknown, repeat bool
	}{
		{schemas.FeedbackShown, "s-1/99", false, false, true, false}, // another invite
		{schemas.FeedbackExpired, id, false, false, false, false},
		{schemas.FeedbackShown, id, true, false, false, false},
		{schemas.FeedbackShown, id, false, false, false, true}, // twice: once
		{schemas.FeedbackAccepted, id, false, true, false, false},
		{schemas.FeedbackChatStarted, id, false, false, false, false},
		{schemas.FeedbackChatRated, id, false, false, false, false},
		{schemas.FeedbackChatRated, id, false, false, false, true}, // a second rating
	} {
		c := fb(st, step.typ, step.id)
		applied := !step.unknown && !step.repeat
		if c.Shown != step.shown || c.Accepted != step.accepted || c.Changed != applied ||
			c.Unknown != step.unknown || c.Repeat != step.repeat || c.Ignored != !applied {
			t.Fatalf("%s about %s: %+v, want shown %v accepted %v unknown %v repeat %v", step.typ, step.id, c, step.shown, step.accepted, step.unknown, step.repeat)
		}
		if (c.Shown || c.Accepted) && string(c.Team) != "checkout-desk" {
			t.Fatalf("team %q, want the route's", c.Team)
		}
	}
	// An answer implies the steps before it.
	st = invited("s-2", "shop")
	if c := fb(st, schemas.FeedbackChatStarted, "s-2/1"); !c.Shown || !c.Accepted || st.Flags&(FlagShown|FlagAccepted) != FlagShown|FlagAccepted {
		t.Fatalf("chat_started alone: %+v, flags %b", c, st.Flags)
	}
	st = invited("s-3", "shop")
	if c := fb(st, schemas.FeedbackDeclined, "s-3/1"); !c.Shown || c.Accepted {
		t.Fatalf("declined: %+v", c)
	}
	// A holdout invite is marked, not counted.
	st = invited("s-4", "held")
	if c := fb(st, schemas.FeedbackShown, "s-4/1"); c.Shown || !c.Changed || st.Flags&FlagShown == 0 {
		t.Fatalf("holdout shown: %+v", c)
	}
	// A new invite starts its own count.
	st = &State{}
	if c := fb(st, schemas.FeedbackShown, "/0"); c.Shown || c.Changed {
		t.Fatalf("a session without an invite: %+v", c)
	}
	// The counted feedback of the site waits for the watermark.
	if n := len(e.Budget().pending); n != 4 {
		t.Fatalf("%d records pending for the acceptance band, want 4 (s-1 shown and accepted, s-2 both, s-3 shown)", n)
	}
	// Counting allocates nothing (a late record, counted at once).
	st = invited("s-5", "shop")
	f := &schemas.Feedback{Type: schemas.FeedbackAccepted, InviteID: []byte("s-5/1"), Session: st.Session, TS: timelineBase + 1000}
	if n := testing.AllocsPerRun(100, func() {
		st.Flags &^= FlagShown | FlagAccepted
		st.FeedbackSeen = 0
		if c := e.Feedback(st, f); !c.Accepted {
			t.Fatal("not counted")
		}
	}); n != 0 {
		t.Fatalf("Feedback allocates %v times", n)
	}
}

// TestAcceptanceBandMovesThresholds: with acceptance below the band, the
// engine's thresholds rise, and a would-be invite only the raised
// threshold stops is counted as acceptance_band.
func TestAcceptanceBandMovesThresholds(t *testing.T) {
	r := newRig(t, "acceptance_band: {controller: true, window: 10m, min_shown: 150}")
	at := timelineBase
	var d schemas.Decision
	// 20 minutes of invites, every one shown, none accepted.
	for i := range 600 {
		at = timelineBase + int64(i)*2000
		var st State
		evs := eager(sid("s-shown", i), "", "shop", at)
		for j := range evs {
			r.e.Apply(&st, &evs[j], &d)
		}
		if st.Invites != 1 {
			continue
		}
		r.e.Feedback(&st, &schemas.Feedback{Type: schemas.FeedbackShown, InviteID: d.ID, Session: st.Session, TS: st.InviteAt + 2000})
	}
	// A 0.74 now misses the raised threshold.
	at += 10_000
	o, _ := r.fire(silent("s-mid", "", "shop", at), at+98_000)
	st, _ := r.e.Budget().Band(shop)
	if st.Acceptance == nil || st.Acceptance.Offset < 3*AcceptanceStep {
		t.Fatalf("after 20 minutes at 0%%: %+v, want the thresholds raised by steps", st.Acceptance)
	}
	offset := st.Acceptance.Offset
	if o != SuppressedAcceptanceBand || math.Abs(r.e.Threshold()-(0.7+offset)) > 1e-9 {
		t.Fatalf("a 0.74 with the thresholds raised by %v: %s at %v, want acceptance_band", offset, o, r.e.Threshold())
	}
	// The model name says the controller is on; measuring alone does not
	// change it.
	if r.e.Config().Model() == DefaultConfig().Model() {
		t.Fatal("the controller does not change the model name")
	}
	if mustConfig(t, "acceptance_band: {min_percent: 2, window: 2h}").Model() != DefaultConfig().Model() {
		t.Fatal("the band without its controller changes the model name")
	}
}

// TestAcceptanceConfig: defaults, parsing, per-site overrides and the
// problems of acceptance_band, each on its line, in words.
func TestAcceptanceConfig(t *testing.T) {
	a := DefaultConfig().For(nil).Accept
	if a != (acceptSettings{min: 0.03, max: 0.1, windowMs: hour, minShown: 200}) {
		t.Fatalf("defaults %+v", a)
	}
	c := mustConfig(t, `
acceptance_band: {min_percent: 2, max_percent: 12, window: 30m, min_shown: 50, controller: true}
sites:
  shop: {acceptance_band: {controller: false}}
  saas: {acceptance_band: {controller: false}, rate_band: {controller: true}}
`)
	if a := c.For(nil).Accept; a != (acceptSettings{min: 0.02, max: 0.12, windowMs: hour / 2, minShown: 50, controller: true}) {
		t.Fatalf("parsed %+v", a)
	}
	if a := c.For(shop).Accept; a.controller || a.minShown != 50 {
		t.Fatalf("site override %+v", a)
	}
	for _, tc := range []struct{ name, yaml, want string }{
		{"both controllers", "rate_band: {controller: true}\nacceptance_band:\n  controller: true\n",
			"line 3: acceptance_band.controller: cannot be on while rate_band.controller is on too: only one controller may steer a site's thresholds"},
		{"both, one per file level", "rate_band: {controller: true}\nsites:\n  shop:\n    acceptance_band: {controller: true}\n",
			"line 4: sites.shop.acceptance_band.controller: cannot be on while rate_band.controller is on too: only one controller may steer a site's thresholds"},
		{"both in a site", "sites:\n  shop:\n    rate_band: {controller: true}\n    acceptance_band: {controller: true}\n",
			"line 4: sites.shop.acceptance_band.controller: cannot be on"},
		{"band upside down", "acceptance_band: {min_percent: 12}",
			"line 1: acceptance_band: min_percent (12) must not be above max_percent (10)"},
		{"percent", "acceptance_band: {max_percent: 110}", "line 1: acceptance_band.max_percent: must be between 0 and 100, got 110"},
		{"percent sign", "acceptance_band: {min_percent: 3%}",
			`line 1: acceptance_band.min_percent: want a plain number such as 3 (the key is in percent), got "3%"`},
		{"window", "acceptance_band:\n  window: 30s", "line 2: acceptance_band.window: must be at least 1m, got 30s"},
		{"window as a number", "acceptance_band: {window: 60}", "line 1: acceptance_band.window: want a duration such as 60s"},
		{"min_shown", "acceptance_band: {min_shown: -1}", "line 1: acceptance_band.min_shown: must not be negative, got -1"},
		{"min_shown a fraction", "acceptance_band: {min_shown: 2.5}", "line 1: acceptance_band.min_shown: want a whole number such as 3, got 2.5"},
		{"controller", "acceptance_band: {controller: yes please}", `line 1: acceptance_band.controller: want true or false, got "yes please"`},
		{"typo", "acceptance_band: {min_shwon: 20}", `line 1: acceptance_band: unknown key "min_shwon" (did you mean "min_shown"?)`},
		{"typo of the key", "acceptence_band: {}", `line 1: unknown key "acceptence_band" (did you mean "acceptance_band"?)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			for _, goName := range []string{"scoring.", "time.Duration", "!!"} {
				if strings.Contains(err.Error(), goName) {
					t.Errorf("%q reaches the user: %v", goName, err)
				}
			}
		})
	}
}

func TestLabels(t *testing.T) {
	c := mustConfig(t, `
routes: [{kinds: [help], team: support}]
sites:
  shop-eu: {teams: {abandonment: eu-sales}}
`)
	for _, tc := range []struct{ site, team, wantSite, wantTeam string }{
		{"shop-eu", "eu-sales", "shop-eu", "eu-sales"},
		{"", "sales", "", "sales"},
		{"", "service", "", "service"},
		{"shop-eu", "support", "shop-eu", "support"},
		{"elsewhere", "sales", LabelOther, "sales"},
		{"shop-eu", "made-up", "shop-eu", LabelOther},
	} {
		s, tm := c.Labels([]byte(tc.site), []byte(tc.team))
		if s != tc.wantSite || tm != tc.wantTeam {
			t.Errorf("Labels(%q, %q) = %q, %q; want %q, %q", tc.site, tc.team, s, tm, tc.wantSite, tc.wantTeam)
		}
	}
	if n := testing.AllocsPerRun(100, func() { c.Labels([]byte("shop-eu"), []byte("eu-sales")) }); n != 0 {
		t.Fatalf("Labels allocates %v times", n)
	}
}

// TestBudgetEncodingAcceptance: the acceptance bands and the pending
// feedback survive the encoding; a version 1 encoding still decodes.
func TestBudgetEncodingAcceptance(t *testing.T) {
	r := newAcceptRig(t, "acceptance_band: {controller: true}")
	r.feed(hour, 400, 4)
	r.offset()
	r.b.note(shop, r.wm, &r.cfg.For(shop).Band, 2, 1)
	r.b.acceptFeedback(shop, r.wm+5000, true, true, r.cfg)
	r.b.acceptFeedback(shop, r.wm+9000, true, false, r.cfg)
	enc := r.b.AppendBinary(nil)
	got := NewBudget(1)
	if err := DecodeBudget(enc, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.AppendBinary(nil), enc) {
		t.Fatal("round trip changed the budget")
	}
	st, _ := got.Band(shop)
	if st.Acceptance == nil || st.Acceptance.Offset != AcceptanceStep || st.Acceptance.Shown != 400 || st.Eligible != 2 || len(got.pending) != 2 || got.acceptWM != r.wm {
		t.Fatalf("decoded %+v %+v, %d pending, watermark %d", st, st.Acceptance, len(got.pending), got.acceptWM)
	}
	// Decoded, it goes on as the original does.
	for _, b := range []*Budget{r.b, got} {
		b.advanceAcceptance(r.wm+hour, r.cfg)
	}
	if !bytes.Equal(got.AppendBinary(nil), r.b.AppendBinary(nil)) {
		t.Fatal("the decoded budget went on differently")
	}

	// Version 1 (before the acceptance band): the same layout without a
	// site's acceptance byte and without the pending section.
	old := NewBudget(1)
	old.note(shop, timelineBase, &DefaultConfig().For(nil).Band, 3, 1)
	v2 := old.AppendBinary(nil)
	if !bytes.HasSuffix(v2, []byte{0, 0, 0}) {
		t.Fatalf("unexpected encoding %x", v2)
	}
	v1 := append([]byte{1}, v2[1:len(v2)-3]...)
	back := NewBudget(1)
	if err := DecodeBudget(v1, back); err != nil {
		t.Fatalf("version 1: %v", err)
	}
	if st, _ := back.Band(shop); st.Eligible != 3 || st.Invited != 1 || st.Acceptance != nil {
		t.Fatalf("version 1 decoded %+v", st)
	}
	if !bytes.Equal(back.AppendBinary(nil), v2) {
		t.Fatal("version 1 decoded to another budget")
	}
	for _, bad := range [][]byte{{3}, append(bytes.Clone(v2[:len(v2)-3]), 2, 0, 0), append(bytes.Clone(v2[:len(v2)-1]), 1, 1, 3, 's', 'x', 'y', 0)} {
		if err := DecodeBudget(bad, NewBudget(1)); !errors.Is(err, ErrBadBudget) {
			t.Errorf("DecodeBudget(%x) = %v, want ErrBadBudget", bad, err)
		}
	}
}

// wilsonOutside reports whether the Wilson interval of k of n lies wholly
// below (-1) or above (1) the band, or touches it (0).
func wilsonOutside(k, n int, lo, hi float64) int {
	l, h := Wilson(k, n)
	switch {
	case h < lo:
		return -1
	case l > hi:
		return 1
	}
	return 0
}

// TestApplyAllocsAcceptance: with the acceptance controller on, deciding
// and counting feedback (waiting for the watermark, then counted, and the
// controller's steps) allocate nothing once warm.
func TestApplyAllocsAcceptance(t *testing.T) {
	e := NewEngine(mustConfig(t, "acceptance_band: {controller: true, window: 2m, min_shown: 1}\nfrequency_cap: {invites: 0}\nsites: {shop: {}}"))
	evs := eager("s-alloc", "", "shop", timelineBase)
	var st State
	var d schemas.Decision
	f := &schemas.Feedback{Type: schemas.FeedbackAccepted, Session: evs[0].Session}
	offsets := make([]int64, len(evs))
	for i := range evs {
		offsets[i] = evs[i].TS - timelineBase
	}
	start := timelineBase
	invites := 0
	run := func() {
		// The same session, a minute later each time: the watermark
		// moves on, steps come due, feedback waits and is counted.
		start += 60_000
		st.Reset()
		for i := range evs {
			evs[i].TS = start + offsets[i]
			if e.Apply(&st, &evs[i], &d) {
				f.InviteID, f.TS = d.ID, d.EventTS+1000
				e.Feedback(&st, f)
				invites++
			}
		}
	}
	for range 10 {
		run()
	}
	if n := testing.AllocsPerRun(100, run); n != 0 {
		t.Fatalf("Apply and Feedback with the acceptance controller allocate %v times per session", n)
	}
	if st, _ := e.Budget().Band(shop); invites < 100 || st.Acceptance == nil || st.Acceptance.Shown == 0 {
		t.Fatalf("%d invites; the controller weighed %+v", invites, st.Acceptance)
	}
}
