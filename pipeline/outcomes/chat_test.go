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
	"github.com/lingerhq/linger/scoring"
)

// monday is 2026-03-02T00:00:00Z, a Monday; week the ms of a week.
var monday = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

const week = 7 * 24 * time.Hour

func at(d time.Duration) int64 { return monday.Add(d).UnixMilli() }

// chatTally builds a tally of invites and their feedback in a few words.
type chatTally struct {
	*Tally
	n int
}

// invite adds an invite of site/team/reason decided at ts and returns its
// session; feedback records follow with fb.
func (c *chatTally) invite(site, team, reason string, ts int64, holdout bool) string {
	c.n++
	s := fmt.Sprintf("s%04d", c.n)
	r := schemas.ReasonAbandonment
	if reason == "confusion" {
		r = schemas.ReasonConfusion
	}
	c.AddDecision(&schemas.Decision{ID: []byte(s + "/1"), Session: []byte(s), Site: []byte(site), Team: []byte(team),
		Action: schemas.ActionInvite, Reason: r, EventTS: ts, Holdout: holdout})
	return s
}

func (c *chatTally) fb(session string, typ schemas.FeedbackType, ts int64) {
	c.AddFeedback(&schemas.Feedback{Type: typ, InviteID: []byte(session + "/1"), Session: []byte(session), TS: ts})
}

func (c *chatTally) ended(session string, ts int64, handleS float64) {
	c.AddFeedback(&schemas.Feedback{Type: schemas.FeedbackChatEnded, InviteID: []byte(session + "/1"), Session: []byte(session), TS: ts, HandleS: handleS})
}

func (c *chatTally) rated(session string, ts int64, score int64) {
	c.AddFeedback(&schemas.Feedback{Type: schemas.FeedbackChatRated, InviteID: []byte(session + "/1"), Session: []byte(session), TS: ts, Score: score})
}

func newChatTally(from, to time.Time, o Options) *chatTally {
	t := NewTally()
	t.Window(from.UnixMilli(), to.UnixMilli()-1)
	t.SetOptions(o)
	return &chatTally{Tally: t}
}

// row finds the staffing row of a site, team, weekday and hour.
func row(t *testing.T, o *Report, site, team, day string, hour int) StaffingRow {
	t.Helper()
	for _, r := range o.Staffing {
		if r.Site == site && r.Team == team && r.Weekday == day && r.Hour == hour {
			return r
		}
	}
	t.Fatalf("no staffing row %s/%s %s %02d:00 in %+v", site, team, day, hour, o.Staffing)
	return StaffingRow{}
}

func intPtrIs(p *int, want int) bool { return p != nil && *p == want }

// TestStaffingBucketing: shown counts by the invite_shown record's time,
// accepted by invite_accepted's, each in its hour of the week in the
// report's zone; a record that implies the step places it when the step's
// own record is missing; holdout invites and the hours' weeks are kept
// apart.
func TestStaffingBucketing(t *testing.T) {
	c := newChatTally(monday, monday.Add(2*week), Options{})
	// Shown just before 10:00, accepted just after: two hours.
	s := c.invite("shop", "sales", "abandonment", at(9*time.Hour+59*time.Minute), false)
	c.fb(s, schemas.FeedbackShown, at(9*time.Hour+59*time.Minute+59*time.Second))
	c.fb(s, schemas.FeedbackAccepted, at(10*time.Hour+time.Second))
	c.fb(s, schemas.FeedbackChatStarted, at(10*time.Hour+20*time.Second))
	// The same hour a week later: the same row.
	s = c.invite("shop", "sales", "abandonment", at(week+10*time.Hour), false)
	c.fb(s, schemas.FeedbackAccepted, at(week+10*time.Hour+30*time.Minute)) // no shown record: shown then too
	// A chat with no accepted record: accepted when it started.
	s = c.invite("shop", "sales", "abandonment", at(11*time.Hour), false)
	c.fb(s, schemas.FeedbackShown, at(11*time.Hour+time.Minute))
	c.fb(s, schemas.FeedbackChatStarted, at(12*time.Hour+time.Minute))
	// Declined: shown only. Expired: nothing.
	s = c.invite("shop", "service", "confusion", at(24*time.Hour+15*time.Hour), false)
	c.fb(s, schemas.FeedbackDeclined, at(24*time.Hour+15*time.Hour+time.Second))
	s = c.invite("shop", "service", "confusion", at(24*time.Hour+16*time.Hour), false)
	c.fb(s, schemas.FeedbackExpired, at(24*time.Hour+17*time.Hour))
	// A holdout invite shown anyway is in no row.
	s = c.invite("shop", "sales", "abandonment", at(10*time.Hour), true)
	c.fb(s, schemas.FeedbackShown, at(10*time.Hour+time.Second))
	c.fb(s, schemas.FeedbackAccepted, at(10*time.Hour+2*time.Second))
	o := c.Report()

	for _, want := range []struct {
		team, day       string
		hour            int
		shown, accepted int
	}{
		{"sales", "Mon", 9, 1, 0},
		{"sales", "Mon", 10, 1, 2},
		{"sales", "Mon", 11, 1, 0},
		{"sales", "Mon", 12, 0, 1},
		{"service", "Tue", 15, 1, 0},
	} {
		r := row(t, o, "shop", want.team, want.day, want.hour)
		if r.Shown != want.shown || r.Accepted != want.accepted {
			t.Errorf("%s %s %02d:00: %d shown, %d accepted; want %d, %d", want.team, want.day, want.hour, r.Shown, r.Accepted, want.shown, want.accepted)
		}
	}
	if len(o.Staffing) != 5 {
		t.Errorf("%d rows, want 5 (an expired invite makes none): %+v", len(o.Staffing), o.Staffing)
	}
	// Sorted by site, team, weekday from Monday, hour.
	for i := 1; i < len(o.Staffing); i++ {
		a, b := o.Staffing[i-1], o.Staffing[i]
		if a.Team > b.Team || a.Team == b.Team && (weekOrder(weekdayIndex(a.Weekday)) > weekOrder(weekdayIndex(b.Weekday)) ||
			a.Weekday == b.Weekday && a.Hour > b.Hour) {
			t.Errorf("rows out of order: %+v before %+v", a, b)
		}
	}

	// In another zone the same records fall in other hours and days:
	// 15:00 UTC on a Tuesday is 20:30 in India, and 09:59 UTC on a Monday
	// is 04:59 in New York (EST, UTC−5, in early March).
	for _, tc := range []struct {
		zone      string
		team, day string
		hour      int
	}{
		{"Asia/Kolkata", "service", "Tue", 20},
		{"America/New_York", "sales", "Mon", 4},
	} {
		loc, err := time.LoadLocation(tc.zone)
		if err != nil {
			t.Skipf("no time zone data: %v", err)
		}
		c.SetOptions(Options{Location: loc})
		o := c.Report()
		if r := row(t, o, "shop", tc.team, tc.day, tc.hour); r.Shown != 1 || o.StaffingBasis.TimeZone != tc.zone {
			t.Errorf("%s: %+v, basis %+v", tc.zone, r, o.StaffingBasis)
		}
	}
}

// TestHoursOfWeeks: an hour of the week occurs once a week, and a zone's
// change to summer time leaves its 02:00 out of that Sunday.
func TestHoursOfWeeks(t *testing.T) {
	var n [7][24]int
	hoursOf(monday.UnixMilli(), monday.Add(2*week).UnixMilli()-1, time.UTC, func(s slot, start, end int64) {
		n[s.day][s.hour]++
		if end-start != time.Hour.Milliseconds() {
			t.Fatalf("an hour of %d ms", end-start)
		}
	})
	for d := range 7 {
		for h := range 24 {
			if n[d][h] != 2 {
				t.Fatalf("%s %02d:00 occurs %d times in two weeks", weekdayNames[d], h, n[d][h])
			}
		}
	}
	// Europe/Berlin moves to summer time on 2026-03-29 at 02:00.
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skipf("no time zone data: %v", err)
	}
	from := time.Date(2026, 3, 29, 0, 0, 0, 0, berlin)
	var hours []int
	hoursOf(from.UnixMilli(), from.Add(24*time.Hour).UnixMilli()-1, berlin, func(s slot, _, _ int64) { hours = append(hours, s.hour) })
	if len(hours) != 24 || hours[2] != 3 || hours[len(hours)-1] != 0 {
		t.Errorf("the hours of 24 h from the morning of the change: %v", hours)
	}
}

// TestStaffingErlangC: agents_needed for a known hour is the published
// Erlang C figure; the rate is averaged over the weeks read; the handling
// time comes from chat_ended, else from the capacity records; held-back
// would-be invites join at the team's acceptance rate.
func TestStaffingErlangC(t *testing.T) {
	// 200 chats accepted on a Monday between 10:00 and 11:00, each handled
	// for 3 minutes, 80% to be answered within 20 s: 14 agents (the worked
	// example of TestErlangCPublishedCallCentre). 400 shown in all.
	build := func(weeks int) *chatTally {
		c := newChatTally(monday, monday.Add(time.Duration(weeks)*week), Options{AnswerWithin: 20 * time.Second, ServiceLevel: 0.8})
		for i := range 400 {
			ts := at(10*time.Hour + time.Duration(i)*8*time.Second) // 400 × 8 s: within the hour
			s := c.invite("shop", "sales", "abandonment", ts, false)
			c.fb(s, schemas.FeedbackShown, ts+1000)
			if i%2 == 0 {
				c.fb(s, schemas.FeedbackAccepted, ts+2000)
				c.ended(s, ts+200_000, 180)
			}
		}
		return c
	}
	o := build(1).Report()
	r := row(t, o, "shop", "sales", "Mon", 10)
	if r.Accepted != 200 || r.AvgHandleS == nil || *r.AvgHandleS != 180 || !intPtrIs(r.AgentsNeeded, 14) {
		t.Errorf("one week: %+v, want 200 accepted, 180 s, 14 agents", r)
	}
	if r.SuppressedNoCapacity != nil || r.AgentsNeededAll != nil || r.AgentsAvailable != nil {
		t.Errorf("no tallies or capacity read: held back, needed with it and available must be null: %+v", r)
	}
	// Over two weeks the hour had 100 chats an hour on average.
	o = build(2).Report()
	if r := row(t, o, "shop", "sales", "Mon", 10); !intPtrIs(r.AgentsNeeded, AgentsNeeded(100, 3*time.Minute, 20*time.Second, 0.8)) || *r.AgentsNeeded >= 14 {
		t.Errorf("two weeks: %d agents, want AgentsNeeded(100/h) = %d", *r.AgentsNeeded, AgentsNeeded(100, 3*time.Minute, 20*time.Second, 0.8))
	}

	// Tallies: 100 would-be invites held back for want of agents that
	// hour, on two partitions, one of them written twice (the later
	// replaces the earlier); at the team's acceptance of 50%, 50 more
	// chats. A tally of an hour outside the window is left out.
	c := build(1)
	c.TalliesFrom("linger-tallies")
	hour := at(10 * time.Hour)
	for _, h := range []schemas.HourTally{
		{Partition: 0, Site: []byte("shop"), Team: []byte("sales"), HourStart: hour, Suppressed: []schemas.CauseCount{{Cause: []byte("no_capacity"), Count: 10}}},
		{Partition: 0, Site: []byte("shop"), Team: []byte("sales"), HourStart: hour, Suppressed: []schemas.CauseCount{{Cause: []byte("no_capacity"), Count: 60}}},
		{Partition: 1, Site: []byte("shop"), Team: []byte("sales"), HourStart: hour, Suppressed: []schemas.CauseCount{{Cause: []byte("no_capacity"), Count: 40}, {Cause: []byte("cooldown"), Count: 9}}},
		{Partition: 1, Site: []byte("shop"), Team: []byte("sales"), HourStart: at(-time.Hour), Suppressed: []schemas.CauseCount{{Cause: []byte("no_capacity"), Count: 1000}}},
	} {
		c.AddHourTally(&h)
	}
	// Capacity: 10 agents from before the window, 20 from 10:30, with a
	// handling time the chat_ended records override.
	for _, cp := range []schemas.Capacity{
		{Site: []byte("shop"), Team: []byte("sales"), Agents: 10, AvgHandleS: 600, TS: at(-time.Hour)},
		{Site: []byte("shop"), Team: []byte("sales"), Agents: 20, AvgHandleS: 600, TS: at(10*time.Hour + 30*time.Minute)},
	} {
		c.AddCapacity(&cp)
	}
	o = c.Report()
	r = row(t, o, "shop", "sales", "Mon", 10)
	want := AgentsNeeded(250, 3*time.Minute, 20*time.Second, 0.8)
	if r.SuppressedNoCapacity == nil || *r.SuppressedNoCapacity != 100 || !intPtrIs(r.AgentsNeededAll, want) || want <= 14 {
		t.Errorf("with tallies: %+v, want 100 held back and %d agents with them", r, want)
	}
	if r.AgentsAvailable == nil || *r.AgentsAvailable != 15 || *r.AvgHandleS != 180 {
		t.Errorf("capacity: %v agents available, %v s; want 15 (10 for half the hour, 20 for the other half) and chat_ended's 180", r.AgentsAvailable, r.AvgHandleS)
	}
	if o.StaffingBasis.Tallies != "linger-tallies" || o.StaffingBasis.TallyRecords != 2 || o.StaffingBasis.CapacityRecords != 2 {
		t.Errorf("basis %+v, want the tallies of 2 partitions and 2 capacity records", o.StaffingBasis)
	}
	// Another hour: agents on shift, no held-back invite, so needed with
	// them is needed.
	if r := row(t, o, "shop", "sales", "Mon", 10); r.SuppressedNoCapacity == nil {
		t.Fatal("no tallies")
	}

	// Without chat_ended records, the capacity records' handling time: 10
	// minutes, so more agents.
	c = newChatTally(monday, monday.Add(week), Options{AnswerWithin: 20 * time.Second})
	for i := range 20 {
		s := c.invite("shop", "sales", "abandonment", at(14*time.Hour), false)
		c.fb(s, schemas.FeedbackAccepted, at(14*time.Hour+time.Duration(i)*time.Minute))
	}
	c.AddCapacity(&schemas.Capacity{Site: []byte("shop"), Team: []byte("sales"), Agents: 2, AvgHandleS: 600, TS: at(0)})
	r = row(t, c.Report(), "shop", "sales", "Mon", 14)
	if r.AvgHandleS == nil || *r.AvgHandleS != 600 || !intPtrIs(r.AgentsNeeded, AgentsNeeded(20, 10*time.Minute, 20*time.Second, 0.8)) || !intPtrIs(r.AgentsNeeded, 6) {
		t.Errorf("handling time from capacity: %+v (AgentsNeeded = %d)", r, AgentsNeeded(20, 10*time.Minute, 20*time.Second, 0.8))
	}
	if r.AgentsAvailable == nil || *r.AgentsAvailable != 2 {
		t.Errorf("agents available %v, want 2", r.AgentsAvailable)
	}
	// With no handling time at all the agents needed are unknown (null),
	// not 0: chats came.
	c = newChatTally(monday, monday.Add(week), Options{})
	s := c.invite("shop", "sales", "abandonment", at(14*time.Hour), false)
	c.fb(s, schemas.FeedbackAccepted, at(14*time.Hour))
	s = c.invite("shop", "sales", "abandonment", at(15*time.Hour), false)
	c.fb(s, schemas.FeedbackShown, at(15*time.Hour))
	o = c.Report()
	if r := row(t, o, "shop", "sales", "Mon", 14); r.AgentsNeeded != nil || r.AvgHandleS != nil {
		t.Errorf("no handling time: %+v, want agents needed null", r)
	}
	if r := row(t, o, "shop", "sales", "Mon", 15); !intPtrIs(r.AgentsNeeded, 0) {
		t.Errorf("no chat accepted: %+v, want 0 agents needed", r)
	}
}

// TestCSAT: per site, team and reason, the latest rating of each invite
// counts; satisfied is 4 or 5, with Wilson's interval; holdout invites are
// left out; groups without ratings have a row of nulls.
func TestCSAT(t *testing.T) {
	c := newChatTally(monday, monday.Add(week), Options{})
	scores := []int64{5, 4, 3, 1, 5}
	for i, sc := range scores {
		s := c.invite("shop", "sales", "abandonment", at(time.Hour), false)
		c.fb(s, schemas.FeedbackAccepted, at(time.Hour))
		if i == 0 {
			c.rated(s, at(3*time.Hour), 2) // rated again later: 5 stands
			c.rated(s, at(2*time.Hour), sc)
			c.rated(s, at(4*time.Hour), sc)
			continue
		}
		c.rated(s, at(2*time.Hour), sc)
	}
	s := c.invite("shop", "sales", "abandonment", at(time.Hour), true)
	c.rated(s, at(2*time.Hour), 1)
	s = c.invite("shop", "service", "confusion", at(time.Hour), false)
	c.rated(s, at(2*time.Hour), 4)
	c.invite("shop", "sales", "confusion", at(time.Hour), false)
	o := c.Report()
	if len(o.CSAT) != 3 {
		t.Fatalf("%d CSAT rows, want 3: %+v", len(o.CSAT), o.CSAT)
	}
	// Sorted by site, team, reason.
	sales, salesConf, service := o.CSAT[0], o.CSAT[1], o.CSAT[2]
	if sales.Reason != "abandonment" || salesConf.Reason != "confusion" || service.Team != "service" {
		t.Fatalf("rows %+v", o.CSAT)
	}
	lo, hi := scoring.Wilson(3, 5)
	if sales.Ratings != 5 || *sales.Mean != 18.0/5 || *sales.SatisfiedShare != 0.6 || *sales.Lo != lo || *sales.Hi != hi {
		t.Errorf("sales: %d ratings, mean %v, satisfied %v [%v, %v]; want 5, 3.6, 0.6 [%v, %v]", sales.Ratings, *sales.Mean, *sales.SatisfiedShare, *sales.Lo, *sales.Hi, lo, hi)
	}
	if salesConf.Ratings != 0 || salesConf.Mean != nil || salesConf.SatisfiedShare != nil || salesConf.Lo != nil {
		t.Errorf("no ratings: %+v, want nulls", salesConf)
	}
	if service.Ratings != 1 || *service.Mean != 4 || *service.SatisfiedShare != 1 {
		t.Errorf("service: %+v", service)
	}
}

// TestAcceptanceBand: the verdict is the rate's against the site's band,
// bounds inclusive; sites and teams without an invite shown have no row.
func TestAcceptanceBand(t *testing.T) {
	c := newChatTally(monday, monday.Add(week), Options{Band: func(site string) Band {
		if site == "b2b" {
			return Band{MinPercent: 10, MaxPercent: 25}
		}
		return DefaultBand
	}})
	add := func(site, team string, shown, accepted int) {
		for i := range shown {
			s := c.invite(site, team, "abandonment", at(time.Hour), false)
			c.fb(s, schemas.FeedbackShown, at(time.Hour))
			if i < accepted {
				c.fb(s, schemas.FeedbackAccepted, at(time.Hour))
			}
		}
	}
	add("shop", "low", 100, 2)
	add("shop", "edge", 100, 3)
	add("shop", "top", 100, 10)
	add("shop", "high", 100, 11)
	add("b2b", "sales", 50, 6) // 12%: inside b2b's band, above the default
	c.invite("shop", "unseen", "abandonment", at(time.Hour), false)
	o := c.Report()
	want := map[string]string{"shop/low": VerdictBelow, "shop/edge": VerdictInside, "shop/top": VerdictInside, "shop/high": VerdictAbove, "b2b/sales": VerdictInside}
	if len(o.Acceptance) != len(want) {
		t.Fatalf("%d rows, want %d: %+v", len(o.Acceptance), len(want), o.Acceptance)
	}
	for _, r := range o.Acceptance {
		if v := want[r.Site+"/"+r.Team]; r.Verdict != v {
			t.Errorf("%s/%s at %v: %s, want %s", r.Site, r.Team, r.Rate, r.Verdict, v)
		}
		lo, hi := scoring.Wilson(r.Accepted, r.Shown)
		if r.Rate != float64(r.Accepted)/float64(r.Shown) || r.Lo != lo || r.Hi != hi {
			t.Errorf("%s/%s: %v [%v, %v], want %d/%d [%v, %v]", r.Site, r.Team, r.Rate, r.Lo, r.Hi, r.Accepted, r.Shown, lo, hi)
		}
	}
	if r := o.Acceptance[0]; r.Site != "b2b" || r.BandMin != 10 || r.BandMax != 25 {
		t.Errorf("first row %+v, want b2b with its band 10–25", r)
	}
}

// TestChatJSONKeys: the chat sections' JSON keys are exactly those the
// chat team's issue names, in that order, and figures without a source
// are null.
func TestChatJSONKeys(t *testing.T) {
	c := newChatTally(monday, monday.Add(week), Options{})
	s := c.invite("shop", "sales", "abandonment", at(time.Hour), false)
	c.fb(s, schemas.FeedbackShown, at(time.Hour))
	c.fb(s, schemas.FeedbackAccepted, at(time.Hour))
	c.rated(s, at(time.Hour), 5)
	var b bytes.Buffer
	if err := c.Report().WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Acceptance    []json.RawMessage `json:"acceptance"`
		Staffing      []json.RawMessage `json:"staffing"`
		StaffingBasis json.RawMessage   `json:"staffing_basis"`
		CSAT          []json.RawMessage `json:"csat"`
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Acceptance) != 1 || len(doc.Staffing) != 1 || len(doc.CSAT) != 1 {
		t.Fatalf("sections:\n%s", b.String())
	}
	for _, k := range []struct {
		what string
		doc  []byte
		want []string
	}{
		{"acceptance", doc.Acceptance[0], []string{"site", "team", "shown", "accepted", "rate", "ci_low", "ci_high", "band_min", "band_max", "verdict"}},
		{"staffing", doc.Staffing[0], []string{"site", "team", "weekday", "hour", "shown", "accepted", "avg_handle_s", "agents_needed", "agents_available", "suppressed_no_capacity", "agents_needed_all"}},
		{"csat", doc.CSAT[0], []string{"site", "team", "reason", "ratings", "mean", "satisfied_share", "ci_low", "ci_high"}},
		{"staffing_basis", doc.StaffingBasis, []string{"time_zone", "answer_within_s", "service_level", "tallies", "tally_records", "capacity_records"}},
	} {
		if got := topLevelKeys(t, k.doc); !reflect.DeepEqual(got, k.want) {
			t.Errorf("%s keys\n got %v\nwant %v", k.what, got, k.want)
		}
	}
	var st map[string]any
	if err := json.Unmarshal(doc.Staffing[0], &st); err != nil {
		t.Fatal(err)
	}
	if st["hour"] != 1.0 || st["weekday"] != "Mon" || st["agents_needed"] != nil || st["suppressed_no_capacity"] != nil || st["agents_available"] != nil {
		t.Errorf("staffing row %v: hour 1, Mon, and null where nothing was read", st)
	}
	var back Report
	if err := json.Unmarshal(b.Bytes(), &back); err != nil || back.CSAT[0].Mean == nil || *back.CSAT[0].Mean != 5 || back.Staffing[0].Hour != 1 {
		t.Errorf("read back: %v %+v", err, back)
	}
}

// TestChatRecords: capacity and tally records added as bytes count as
// added decoded; a record that is not valid v1 is skipped, a capacity
// record of a later type is neither.
func TestChatRecords(t *testing.T) {
	c := newChatTally(monday, monday.Add(week), Options{})
	c.TalliesFrom("linger-tallies")
	s := c.invite("shop", "sales", "abandonment", at(time.Hour), false)
	c.fb(s, schemas.FeedbackAccepted, at(time.Hour))
	cp := schemas.Capacity{Site: []byte("shop"), Team: []byte("sales"), Agents: 3, FreeSlots: 1, AvgHandleS: 240, TS: at(0)}
	c.AddRecord(CapacityRecord, []byte("shop/sales"), schemas.AppendCapacity(nil, &cp))
	h := schemas.HourTally{Partition: 2, Site: []byte("shop"), Team: []byte("sales"), HourStart: at(time.Hour), WouldBe: 9, Invites: 1,
		Suppressed: []schemas.CauseCount{{Cause: []byte("no_capacity"), Count: 7}}}
	c.AddRecord(HourTallyRecord, schemas.AppendHourTallyKey(nil, 2, h.Site, h.Team, h.HourStart), schemas.AppendHourTally(nil, &h))
	c.AddRecord(HourTallyRecord, []byte("2/shop/sales/0"), schemas.AppendHourTally(nil, &h)) // its key is another hour's
	c.AddRecord(CapacityRecord, []byte("shop/sales"), []byte(`{"v":1,"type":"shift_plan","site":"shop","team":"sales","ts":5}`))
	o := c.Report()
	r := row(t, o, "shop", "sales", "Mon", 1)
	if r.SuppressedNoCapacity == nil || *r.SuppressedNoCapacity != 7 || r.AgentsAvailable == nil || *r.AgentsAvailable != 3 || *r.AvgHandleS != 240 {
		t.Errorf("row %+v", r)
	}
	if o.Skipped != 1 || o.StaffingBasis.CapacityRecords != 1 {
		t.Errorf("%d skipped, %d capacity records; want 1, 1", o.Skipped, o.StaffingBasis.CapacityRecords)
	}
}

// TestChatText and TestChatHTML: the sections as people read them.
func TestChatText(t *testing.T) {
	o := chatShop(t)
	var b bytes.Buffer
	if err := o.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	checkText(t, out,
		"acceptance per site and team: accepted/shown [95% CI] n, against the site's band (verdict from the rate)\nsite  team     shown  accepted  acceptance             band   verdict\nshop  sales       40         6  15.0% [7.1–29.1] n=40  3–10%  above\nshop  service     20         1   5.0% [0.9–23.6] n=20  3–10%  inside\n",
		"answer 80% of an hour's accepted chats within 30 s\n(Erlang C),",
		"weekday and hour in UTC;\nheld back: sessions whose would-be invite was suppressed for no_capacity, from linger-tallies (1 hourly tallies)",
		"site  team     day   hour  shown  accepted  avg handle  agents needed  available  held back (no capacity)  needed with held back",
		"shop  sales    Mon  10:00     40         6       3m00s              2          1                       12                      2",
		"shop  service  Tue  15:00     20         1         n/a            n/a        n/a                        0                    n/a",
		"site  team     reason       ratings  mean  satisfied                acceptance             conversion invited",
		"shop  sales    abandonment        2  4.50  100.0% [34.2–100.0] n=2  15.0% [7.1–29.1] n=40  0.0% [0.0–8.8] n=40",
		"shop  service  confusion          0     –       –                    5.0% [0.9–23.6] n=20",
	)
}

func TestChatHTML(t *testing.T) {
	o := chatShop(t)
	var b bytes.Buffer
	if err := o.WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	htmltest.WellFormed(t, page)
	for _, want := range []string{
		"<h3>Acceptance against its band</h3>", `<td class="name verdict-above">above</td>`,
		`id="staffing"`, "shop · sales", `fill="` + ColourVermillion + `"`,
		"<h3>Satisfaction</h3>", "<td>4.50</td>",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	for _, banned := range []string{"<script", "NaN", "%!", "<nil>"} {
		if strings.Contains(page, banned) {
			t.Errorf("page holds %q", banned)
		}
	}
	// The replay's page takes the section alone.
	b.Reset()
	if err := o.WriteHTMLSection(&b); err != nil || !strings.Contains(b.String(), `id="staffing"`) {
		t.Errorf("section: %v", err)
	}
}

// chatShop is a week at a shop: sales shown 40 invites on Monday at
// 10:00 and 6 accepted, chats of 3 minutes, 2 rated (5 and 4), with 12
// would-be invites held back for want of agents and 1 agent on shift;
// service shown 20 on Tuesday at 15:00, 1 accepted, no chat_ended and no
// capacity record.
func chatShop(t *testing.T) *Report {
	t.Helper()
	c := newChatTally(monday, monday.Add(week), Options{})
	c.TalliesFrom("linger-tallies")
	for i := range 40 {
		s := c.invite("shop", "sales", "abandonment", at(10*time.Hour), false)
		c.fb(s, schemas.FeedbackShown, at(10*time.Hour+time.Minute))
		if i < 6 {
			c.fb(s, schemas.FeedbackAccepted, at(10*time.Hour+2*time.Minute))
			c.ended(s, at(10*time.Hour+5*time.Minute), 180)
		}
		if i < 2 {
			c.rated(s, at(10*time.Hour+6*time.Minute), int64(5-i))
		}
	}
	for i := range 20 {
		s := c.invite("shop", "service", "confusion", at(24*time.Hour+15*time.Hour), false)
		c.fb(s, schemas.FeedbackShown, at(24*time.Hour+15*time.Hour+time.Minute))
		if i < 1 {
			c.fb(s, schemas.FeedbackAccepted, at(24*time.Hour+15*time.Hour+2*time.Minute))
		}
	}
	c.AddHourTally(&schemas.HourTally{Site: []byte("shop"), Team: []byte("sales"), HourStart: at(10 * time.Hour),
		Suppressed: []schemas.CauseCount{{Cause: []byte("no_capacity"), Count: 12}}})
	c.AddCapacity(&schemas.Capacity{Site: []byte("shop"), Team: []byte("sales"), Agents: 1, AvgHandleS: 300, TS: at(0)})
	o := c.Report()
	if math.IsNaN(o.Acceptance[0].Rate) {
		t.Fatal("no acceptance")
	}
	return o
}
