package outcomes

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lingerhq/linger/internal/htmltest"
	"github.com/lingerhq/linger/schemas"
)

// outcomeInput builds the records of an outcomes test in a few words.
type outcomeInput struct {
	decisions []*schemas.Decision
	feedback  []*schemas.Feedback
	events    []*schemas.Event
}

func (in *outcomeInput) invite(session, reason, team string, ts int64, holdout bool) {
	r := schemas.ReasonAbandonment
	if reason == "confusion" {
		r = schemas.ReasonConfusion
	}
	in.decisions = append(in.decisions, &schemas.Decision{
		ID: []byte(session + "/1"), Session: []byte(session), Site: []byte("shop"), Action: schemas.ActionInvite,
		Reason: r, Team: []byte(team), EventTS: ts, Holdout: holdout,
	})
}

func (in *outcomeInput) fb(session string, ts int64, types ...schemas.FeedbackType) {
	for _, t := range types {
		in.feedback = append(in.feedback, &schemas.Feedback{Type: t, InviteID: []byte(session + "/1"), Session: []byte(session), Site: []byte("shop"), TS: ts})
	}
}

func (in *outcomeInput) event(session string, typ schemas.Type, ts int64) {
	in.events = append(in.events, &schemas.Event{Type: typ, Session: []byte(session), Site: []byte("shop"), TS: ts})
}

// handMadeOutcomes is a day at a shop, small enough to count by hand:
//
//	abandonment/sales, outside the holdout:
//	  s1 shown, accepted, chat; bought at 5000 after the invite at 1000
//	  s2 shown twice, declined; did not buy
//	  s3 expired unseen; bought at 2500, before the invite at 3000
//	  s6 accepted (no shown record); bought at 6000, the invite's time,
//	     and its invite was withdrawn
//	abandonment/sales, holdout: s4 bought at 9000 after the invite at
//	  4000; s5 did not buy and has no event at all
//	confusion/service: s7 shown, did not buy; s8 holdout, shown anyway
//	  (a front-end showing holdout decisions), did not buy
//	s9 was never invited and bought; one feedback record names an invite
//	  decided before the window (old/1); s1's invite was read twice.
func handMadeOutcomes() outcomeInput {
	var in outcomeInput
	for _, s := range []string{"s1", "s2", "s3", "s4", "s6", "s7", "s8", "s9"} {
		in.event(s, schemas.TypePageView, 500)
	}
	in.invite("s1", "abandonment", "sales", 1000, false)
	in.invite("s1", "abandonment", "sales", 1000, false) // read twice: counts once
	in.fb("s1", 1100, schemas.FeedbackShown, schemas.FeedbackAccepted, schemas.FeedbackChatStarted)
	in.event("s1", schemas.TypePurchase, 5000)

	in.invite("s2", "abandonment", "sales", 2000, false)
	in.fb("s2", 2100, schemas.FeedbackShown, schemas.FeedbackShown, schemas.FeedbackDeclined)

	in.event("s3", schemas.TypePurchase, 2500)
	in.invite("s3", "abandonment", "sales", 3000, false)
	in.fb("s3", 63000, schemas.FeedbackExpired)

	in.invite("s4", "abandonment", "sales", 4000, true)
	in.event("s4", schemas.TypePurchase, 9000)
	in.invite("s5", "abandonment", "sales", 4000, true)

	in.invite("s6", "abandonment", "sales", 6000, false)
	in.fb("s6", 6100, schemas.FeedbackAccepted)
	in.event("s6", schemas.TypePurchase, 6000)
	in.decisions = append(in.decisions, &schemas.Decision{
		ID: []byte("s6/2"), Session: []byte("s6"), Site: []byte("shop"), Action: schemas.ActionWithdraw, InviteID: []byte("s6/1"),
		Reason: schemas.ReasonAbandonment, Team: []byte("sales"), EventTS: 6000,
	})

	in.invite("s7", "confusion", "service", 1000, false)
	in.fb("s7", 1100, schemas.FeedbackShown)
	in.invite("s8", "confusion", "service", 1000, true)
	in.fb("s8", 1100, schemas.FeedbackShown)

	in.event("s9", schemas.TypePurchase, 7000)
	in.feedback = append(in.feedback, &schemas.Feedback{Type: schemas.FeedbackShown, InviteID: []byte("old/1"), Session: []byte("old"), TS: 100})
	return in
}

// near4 compares to the four decimals the expected values are given with.
func near4(got, want float64) bool { return math.Abs(got-want) < 0.00005 }

func checkEstimate(t *testing.T, what string, e Estimate, value float64, n int, lo, hi float64) {
	t.Helper()
	if e.N != n || !near4(e.Value, value) || !near4(e.Lo, lo) || !near4(e.Hi, hi) {
		t.Errorf("%s = %.4f [%.4f, %.4f] n=%d, want %.4f [%.4f, %.4f] n=%d", what, e.Value, e.Lo, e.Hi, e.N, value, lo, hi, n)
	}
}

func TestOutcomesByHand(t *testing.T) {
	in := handMadeOutcomes()
	o := Measure(in.decisions, in.feedback, in.events)

	if o.Events != 13 || o.Decisions != 10 || o.Feedback != 11 || o.Skipped != 0 {
		t.Errorf("read %d events, %d decisions, %d feedback, %d skipped; want 13, 10, 11, 0", o.Events, o.Decisions, o.Feedback, o.Skipped)
	}
	if o.Sessions != 8 || o.UnmatchedFeedback != 1 || o.SessionsWithoutEvents != 1 {
		t.Errorf("sessions %d, unmatched feedback %d, sessions without events %d; want 8, 1, 1", o.Sessions, o.UnmatchedFeedback, o.SessionsWithoutEvents)
	}
	// s1, s3, s4, s6 and s9 bought: 5 of 8.
	checkEstimate(t, "conversion", o.Conversion, 0.625, 8, 0.3057, 0.8632)
	if o.From.UnixMilli() != 100 || o.To.UnixMilli() != 63000 {
		t.Errorf("window %v..%v, want the oldest and newest time added", o.From, o.To)
	}
	if len(o.Groups) != 2 {
		t.Fatalf("%d groups, want 2: %+v", len(o.Groups), o.Groups)
	}

	type counts struct{ invites, holdout, withdrawn, shown, accepted, declined, expired, chats, holdoutShown int }
	countsOf := func(g Group) counts {
		return counts{g.Invites, g.Holdout, g.Withdrawn, g.Shown, g.Accepted, g.Declined, g.Expired, g.ChatsStarted, g.HoldoutShown}
	}
	sales, service, total := o.Groups[0], o.Groups[1], o.Total
	if sales.Site != "shop" || sales.Reason != "abandonment" || sales.Team != "sales" || service.Reason != "confusion" || service.Team != "service" {
		t.Fatalf("groups %s/%s/%s and %s/%s/%s", sales.Site, sales.Reason, sales.Team, service.Site, service.Reason, service.Team)
	}
	for _, c := range []struct {
		name string
		got  counts
		want counts
	}{
		// s1..s6; s4, s5 holdout; s6 withdrawn; shown s1, s2, s6 (its
		// accept implies it); accepted s1, s6; declined s2; expired s3.
		{"sales", countsOf(sales), counts{6, 2, 1, 3, 2, 1, 1, 1, 0}},
		{"service", countsOf(service), counts{2, 1, 0, 1, 0, 0, 0, 0, 1}},
		{"total", countsOf(total), counts{8, 3, 1, 4, 2, 1, 1, 1, 1}},
	} {
		if c.got != c.want {
			t.Errorf("%s counts %+v, want %+v", c.name, c.got, c.want)
		}
	}
	if total.Site != "" || total.Reason != "" || total.Team != "" {
		t.Errorf("total named %q/%q/%q", total.Site, total.Reason, total.Team)
	}

	// sales: accepted 2 of 3 shown; invited sessions s1, s2, s3, s6 of
	// which s1 and s6 bought at or after the invite (s3 before it); holdout
	// s4 (bought) and s5 (did not). Uplift 0.5 − 0.5, Newcombe's interval.
	checkEstimate(t, "sales acceptance", sales.AcceptanceRate, 2.0/3, 3, 0.2077, 0.9385)
	checkEstimate(t, "sales invited conversion", sales.InvitedConversion, 0.5, 4, 0.1500, 0.8500)
	checkEstimate(t, "sales holdout conversion", sales.HoldoutConversion, 0.5, 2, 0.0945, 0.9055)
	checkEstimate(t, "sales uplift", sales.Uplift, 0, 6, -0.5356, 0.5356)
	// service: 0 of 1 shown accepted (Wilson 0/1 = [0, 0.7935]); 0 of 1
	// bought in each group: an uplift of 0 with the widest interval.
	checkEstimate(t, "service acceptance", service.AcceptanceRate, 0, 1, 0, 0.7935)
	checkEstimate(t, "service uplift", service.Uplift, 0, 2, -0.7935, 0.7935)
	// total: 2 of 4 shown accepted; invited s1, s2, s3, s6, s7: 2 of 5;
	// holdout s4, s5, s8: 1 of 3.
	checkEstimate(t, "total acceptance", total.AcceptanceRate, 0.5, 4, 0.1500, 0.8500)
	checkEstimate(t, "total invited conversion", total.InvitedConversion, 0.4, 5, 0.1176, 0.7693)
	checkEstimate(t, "total holdout conversion", total.HoldoutConversion, 1.0/3, 3, 0.0615, 0.7923)
	checkEstimate(t, "total uplift", total.Uplift, 0.4-1.0/3, 8, -0.4722, 0.5252)
}

// TestOutcomesUpliftKnownInterval: 9 of 10 invited sessions and 3 of 10
// holdout sessions bought. Newcombe (1998) gives 0.1705 to 0.8090 for this
// difference (table II, method 10), and Wilson's intervals of the two rates
// are [0.5958, 0.9821] and [0.1078, 0.6032].
func TestOutcomesUpliftKnownInterval(t *testing.T) {
	var in outcomeInput
	for i := range 20 {
		s := fmt.Sprintf("s%02d", i)
		holdout := i >= 10
		in.invite(s, "abandonment", "sales", 1000, holdout)
		in.event(s, schemas.TypePageView, 900)
		if (!holdout && i < 9) || (holdout && i < 13) {
			in.event(s, schemas.TypePurchase, 2000)
		}
	}
	o := Measure(in.decisions, in.feedback, in.events)
	g := o.Total
	checkEstimate(t, "invited conversion", g.InvitedConversion, 0.9, 10, 0.5958, 0.9821)
	checkEstimate(t, "holdout conversion", g.HoldoutConversion, 0.3, 10, 0.1078, 0.6032)
	checkEstimate(t, "uplift", g.Uplift, 0.6, 20, 0.1705, 0.8090)
	// No feedback: acceptance rests on nothing.
	if g.AcceptanceRate.N != 0 || !math.IsNaN(g.AcceptanceRate.Value) {
		t.Errorf("acceptance without feedback = %+v, want n=0 and NaN", g.AcceptanceRate)
	}
}

func TestOutcomesEmpty(t *testing.T) {
	o := NewTally().Report()
	if o.Groups == nil || len(o.Groups) != 0 || o.Total.Invites != 0 || o.Total.Uplift.N != 0 {
		t.Fatalf("empty outcomes: %+v", o)
	}
	var b bytes.Buffer
	if err := o.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "NaN") || !strings.Contains(b.String(), `"groups": []`) || !strings.Contains(b.String(), `"suppressed": null`) {
		t.Errorf("empty outcomes JSON:\n%s", b.String())
	}
	for _, w := range []func(*bytes.Buffer) error{
		func(b *bytes.Buffer) error { return o.WriteText(b) },
		func(b *bytes.Buffer) error { return o.WriteHTML(b) },
	} {
		b.Reset()
		if err := w(&b); err != nil {
			t.Fatal(err)
		}
	}
}

// TestOutcomesWindow: a window set with Window bounds the outcomes, not
// the records' own times.
func TestOutcomesWindow(t *testing.T) {
	tl := NewTally()
	tl.Window(1_000, 90_000)
	tl.AddEvent(&schemas.Event{Type: schemas.TypePageView, Session: []byte("a"), TS: 50})
	tl.Skip()
	o := tl.Report()
	if o.From.UnixMilli() != 1_000 || o.To.UnixMilli() != 90_000 || o.Skipped != 1 || o.Events != 1 {
		t.Errorf("outcomes %v..%v, %d events, %d skipped", o.From, o.To, o.Events, o.Skipped)
	}
}

// TestAddRecord: records added as bytes, by kind, count as the same
// records added decoded; what is not valid v1, or of no kind, is skipped;
// an event of a type this release does not know counts as an event.
func TestAddRecord(t *testing.T) {
	in := handMadeOutcomes()
	tl := NewTally()
	for _, ev := range in.events {
		ev.Page = schemas.Page{URL: []byte("/"), Kind: schemas.KindHome}
		tl.AddRecord(EventRecord, ev.Session, schemas.AppendEvent(nil, ev))
	}
	for _, d := range in.decisions {
		valid := *d
		valid.Model = []byte("m1") // what the outcomes need leaves it out
		tl.AddRecord(DecisionRecord, d.Session, schemas.AppendDecision(nil, &valid))
	}
	for _, f := range in.feedback {
		tl.AddRecord(FeedbackRecord, f.Session, schemas.AppendFeedback(nil, f))
	}
	var want, got bytes.Buffer
	if err := Measure(in.decisions, in.feedback, in.events).WriteJSON(&want); err != nil {
		t.Fatal(err)
	}
	if err := tl.Report().WriteJSON(&got); err != nil {
		t.Fatal(err)
	}
	if got.String() != want.String() {
		t.Fatalf("records added as bytes:\n%s\nwant, as added decoded:\n%s", got.String(), want.String())
	}

	garbage := []byte(`{"v":1,"type":`)
	tl.AddRecord(EventRecord, []byte("s1"), garbage)
	tl.AddRecord(DecisionRecord, []byte("s1"), garbage)
	tl.AddRecord(FeedbackRecord, []byte("s1"), garbage)
	// Valid as an event, but of no kind: a topic the caller did not map.
	tl.AddRecord(0, []byte("s1"), schemas.AppendEvent(nil, in.events[0]))
	// An event read as feedback: not feedback.
	tl.AddRecord(FeedbackRecord, in.events[0].Session, schemas.AppendEvent(nil, in.events[0]))
	// A type of a later release: its session exists all the same. So does
	// a feedback record's on the events topic, an event of a type unknown.
	tl.AddRecord(EventRecord, []byte("s10"), []byte(`{"v":1,"type":"hover","session":"s10","ts":8000}`))
	tl.AddRecord(EventRecord, in.feedback[0].Session, schemas.AppendFeedback(nil, in.feedback[0]))
	o := tl.Report()
	if o.Skipped != 5 || o.Events != 15 || o.Decisions != 10 || o.Feedback != 11 || o.Sessions != 9 {
		t.Errorf("%d skipped, %d events, %d decisions, %d feedback, %d sessions; want 5, 15, 10, 11, 9",
			o.Skipped, o.Events, o.Decisions, o.Feedback, o.Sessions)
	}
}

func TestOutcomesJSON(t *testing.T) {
	in := handMadeOutcomes()
	o := Measure(in.decisions, in.feedback, in.events)
	o.Suppressed = &Suppressed{Sources: []string{"http://a/metrics", "http://b/metrics"}, ByReason: map[string]int64{"no_capacity": 7, "cooldown": 2}}
	var b bytes.Buffer
	if err := o.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	want := []string{"from", "to", "events", "decisions", "feedback", "skipped", "sessions", "conversion",
		"unmatched_feedback", "sessions_without_events", "groups", "total", "suppressed",
		"acceptance", "staffing", "staffing_basis", "csat"}
	if got := topLevelKeys(t, b.Bytes()); !reflect.DeepEqual(got, want) {
		t.Errorf("top-level keys\n got %v\nwant %v", got, want)
	}
	var doc struct {
		Groups []map[string]json.RawMessage `json:"groups"`
		Total  json.RawMessage              `json:"total"`
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	wantGroup := []string{"site", "reason", "team", "invites", "holdout", "withdrawn", "shown", "accepted", "declined", "expired",
		"chats_started", "holdout_shown", "acceptance_rate", "invited_conversion", "holdout_conversion", "uplift"}
	if got := topLevelKeys(t, doc.Total); !reflect.DeepEqual(got, wantGroup) {
		t.Errorf("group keys\n got %v\nwant %v", got, wantGroup)
	}
	var back Report
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Groups[0], o.Groups[0]) || back.Total.Uplift != o.Total.Uplift || back.Suppressed.ByReason["no_capacity"] != 7 {
		t.Errorf("JSON round trip:\n got %+v\nwant %+v", back.Groups[0], o.Groups[0])
	}
}

func TestOutcomesText(t *testing.T) {
	in := handMadeOutcomes()
	o := Measure(in.decisions, in.feedback, in.events)
	var b bytes.Buffer
	if err := o.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	checkText(t, out,
		"read           13 events, 10 decisions, 11 feedback records; 0 skipped (not valid v1)",
		"site  reason       team     invites  holdout  withdrawn  shown  accepted  declined  expired  chats",
		"shop  abandonment  sales          6        2          1      3         2         1        1      1",
		"all                               8        3          1      4         2         1        1      1",
		"shop  abandonment  sales    66.7% [20.8–93.9] n=3  50.0% [15.0–85.0] n=4  50.0% [9.5–90.5] n=2   0.0pp [-53.6–+53.6] n=6",
		"+6.7pp [-47.2–+52.5] n=8",
		"note: 1 feedback record names no invite read",
		"note: 1 holdout invite was reported shown",
		"suppressed by cause: not on any topic; give --metrics",
	)

	o.Suppressed = &Suppressed{Sources: []string{"http://a/metrics", "http://b/metrics"}, ByReason: map[string]int64{"no_capacity": 7, "cooldown": 2, "bot": 2}}
	b.Reset()
	if err := o.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "suppressed by cause (linger_suppressed_total summed over 2 replicas, since each started)\n  no_capacity  7\n  bot          2\n  cooldown     2\n") {
		t.Errorf("suppressed counts, most first:\n%s", b.String())
	}
}

func TestOutcomesHTML(t *testing.T) {
	in := handMadeOutcomes()
	o := Measure(in.decisions, in.feedback, in.events)
	o.Suppressed = &Suppressed{Sources: []string{"http://a/metrics"}, ByReason: map[string]int64{"no_capacity": 7}}
	var b bytes.Buffer
	if err := o.WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	htmltest.WellFormed(t, page)
	for _, want := range []string{
		"<title>linger report · 1970-01-01T00:00:00Z → 1970-01-01T00:01:03Z</title>",
		`<td class="name">shop</td><td class="name">abandonment</td><td class="name">sales</td><td>6</td><td>2</td>`,
		`<span class="v">66.7%</span><span class="ci">[20.8–93.9] n=3</span>`,
		`id="conversion"`, `data-series="holdout"`,
		"<td>no_capacity</td><td>7</td>",
		"1 holdout invite was reported shown",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// Self-contained: nothing to fetch (the scraped URL is text).
	rest := strings.ReplaceAll(page, `xmlns="http://www.w3.org/2000/svg"`, "")
	rest = strings.ReplaceAll(rest, "http://a/metrics", "")
	for _, banned := range []string{"<script", "http://", "https://", "<link", "url(", "NaN", "%!"} {
		if strings.Contains(rest, banned) {
			t.Errorf("page holds %q", banned)
		}
	}
}

func TestWindowLength(t *testing.T) {
	for d, want := range map[time.Duration]string{
		24 * time.Hour: "24h", 7 * 24 * time.Hour: "7d", 90 * time.Minute: "1h30m", 59 * time.Minute: "59m", 48*time.Hour + time.Minute: "48h1m",
	} {
		if got := windowLength(d); got != want {
			t.Errorf("windowLength(%v) = %q, want %q", d, got, want)
		}
	}
}
