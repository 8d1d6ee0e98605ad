package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lingerhq/linger/pipeline/outcomes"
	"github.com/lingerhq/linger/schemas"
	"github.com/lingerhq/linger/scoring"
	"github.com/twmb/franz-go/pkg/kgo"
)

// chatShop is what TestReportChatSections publishes: an hour of a shop's
// chat team, two hours ago.
//
//	sales (abandonment): 40 invites shown, 10 accepted, each a chat that
//	  started and ended after 240 s; 6 rated 5, 5, 4, 4, 3, 1;
//	service (confusion): 10 invites, 5 shown and declined, 5 expired;
//	capacity: 2 sales agents on shift since 3 hours before the hour (and a
//	  record of a type this release does not know);
//	tallies of the hour for sales: 30 sessions held back for want of
//	  agents on partition 0 (replacing an earlier record of 5) and 10 on
//	  partition 1, 3 for cooldown.
type chatShop struct{ hour time.Time }

const chatSite = "e2e-chat"

func (s chatShop) records() []*kgo.Record {
	var recs []*kgo.Record
	ms := func(d time.Duration) int64 { return s.hour.Add(d).UnixMilli() }
	invite := func(id int, reason schemas.Reason, team string) string {
		session := fmt.Sprintf("chat-%s-%02d", team, id)
		d := schemas.Decision{ID: []byte(session + "/1"), Session: []byte(session), Site: []byte(chatSite), Action: schemas.ActionInvite,
			Reason: reason, Team: []byte(team), Score: 0.9, EventTS: ms(time.Duration(id) * time.Minute), DecidedAt: ms(time.Duration(id) * time.Minute),
			ExpiresAt: ms(time.Duration(id)*time.Minute + time.Minute), Model: []byte("m1-e2e")}
		recs = append(recs, &kgo.Record{Topic: schemas.TopicInvites, Key: d.Session, Value: schemas.AppendDecision(nil, &d)})
		return session
	}
	fb := func(session string, typ schemas.FeedbackType, at time.Duration, handleS float64, score int64) {
		f := schemas.Feedback{Type: typ, InviteID: []byte(session + "/1"), Session: []byte(session), Site: []byte(chatSite), TS: ms(at), HandleS: handleS, Score: score}
		recs = append(recs, &kgo.Record{Topic: schemas.TopicFeedback, Key: f.Session, Value: schemas.AppendFeedback(nil, &f)})
	}
	scores := []int64{5, 5, 4, 4, 3, 1}
	for i := range 40 {
		s := invite(i, schemas.ReasonAbandonment, "sales")
		at := time.Duration(i)*time.Minute + 5*time.Second
		fb(s, schemas.FeedbackShown, at, 0, 0)
		if i < 10 {
			fb(s, schemas.FeedbackAccepted, at+5*time.Second, 0, 0)
			fb(s, schemas.FeedbackChatStarted, at+20*time.Second, 0, 0)
			fb(s, schemas.FeedbackChatEnded, at+260*time.Second, 240, 0)
		}
		if i < len(scores) {
			fb(s, schemas.FeedbackChatRated, at+300*time.Second, 0, scores[i])
		}
	}
	for i := range 10 {
		s := invite(i, schemas.ReasonConfusion, "service")
		if i < 5 {
			fb(s, schemas.FeedbackShown, time.Duration(i)*time.Minute+5*time.Second, 0, 0)
			fb(s, schemas.FeedbackDeclined, time.Duration(i)*time.Minute+9*time.Second, 0, 0)
		} else {
			fb(s, schemas.FeedbackExpired, time.Duration(i)*time.Minute+time.Minute, 0, 0)
		}
	}
	c := schemas.Capacity{Site: []byte(chatSite), Team: []byte("sales"), Agents: 2, FreeSlots: 1, AvgHandleS: 600, TS: ms(-3 * time.Hour)}
	recs = append(recs,
		&kgo.Record{Topic: schemas.TopicCapacity, Key: schemas.AppendCapacityKey(nil, c.Site, c.Team), Value: schemas.AppendCapacity(nil, &c)},
		&kgo.Record{Topic: schemas.TopicCapacity, Key: schemas.AppendCapacityKey(nil, c.Site, c.Team),
			Value: []byte(fmt.Sprintf(`{"v":1,"type":"shift_plan","site":%q,"team":"sales","ts":%d}`, chatSite, ms(0)))})
	for _, h := range []schemas.HourTally{
		{Partition: 0, WouldBe: 20, Invites: 15, Suppressed: []schemas.CauseCount{{Cause: []byte("no_capacity"), Count: 5}}},
		{Partition: 0, WouldBe: 60, Invites: 30, Suppressed: []schemas.CauseCount{{Cause: []byte("no_capacity"), Count: 30}}},
		{Partition: 1, WouldBe: 23, Invites: 10, Suppressed: []schemas.CauseCount{{Cause: []byte("no_capacity"), Count: 10}, {Cause: []byte("cooldown"), Count: 3}}},
	} {
		h.Site, h.Team, h.HourStart = []byte(chatSite), []byte("sales"), s.hour.UnixMilli()
		recs = append(recs, &kgo.Record{Topic: schemas.TopicTallies, Key: schemas.AppendHourTallyKey(nil, h.Partition, h.Site, h.Team, h.HourStart), Value: schemas.AppendHourTally(nil, &h)})
	}
	return recs
}

func (s chatShop) publish(t *testing.T, addr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, s.records()...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// chatReportJSON is the part of the report's JSON this test reads.
type chatReportJSON struct {
	Acceptance    []map[string]any `json:"acceptance"`
	Staffing      []map[string]any `json:"staffing"`
	StaffingBasis map[string]any   `json:"staffing_basis"`
	CSAT          []map[string]any `json:"csat"`
}

// TestReportChatSections runs linger report against a broker holding a
// chat team's hour: decisions, feedback of every type, capacity records
// and hourly tallies, and checks the acceptance, staffing and CSAT
// sections in the text and the JSON; then without the capacity and tally
// topics and in another time zone.
func TestReportChatSections(t *testing.T) {
	addr := startBroker(t, 2)
	shop := chatShop{hour: time.Now().UTC().Truncate(time.Hour).Add(-2 * time.Hour)}
	shop.publish(t, addr)
	day, hour := shop.hour.Weekday().String()[:3], shop.hour.Hour()

	dir := t.TempDir()
	jsonPath, htmlPath := filepath.Join(dir, "report.json"), filepath.Join(dir, "report.html")
	code, out := run(t, "report", "--brokers", addr, "--json", jsonPath, "--html", htmlPath)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	need := outcomes.AgentsNeeded(10, 4*time.Minute, 30*time.Second, 0.8)
	// 40 held back at the team's acceptance of 10/40: 10 more chats.
	needAll := outcomes.AgentsNeeded(20, 4*time.Minute, 30*time.Second, 0.8)
	if need >= needAll {
		t.Fatalf("the fixture should need more agents with the held-back sessions: %d, %d", need, needAll)
	}
	for _, want := range []string{
		"e2e-chat  sales       40        10  25.0% [14.2–40.2] n=40  3–10%  above",
		"e2e-chat  service      5         0   0.0% [0.0–43.4] n=5    3–10%  below",
		"weekday and hour in UTC;\nheld back: sessions whose would-be invite was suppressed for no_capacity, from linger-tallies (2 hourly tallies)",
		fmt.Sprintf("e2e-chat  sales    %s  %02d:00     40        10       4m00s  %13d          2  %23d  %21d", day, hour, need, 40, needAll),
		"e2e-chat  sales    abandonment        6  3.67  66.7% [30.0–90.3] n=6  25.0% [14.2–40.2] n=40",
		"e2e-chat  service  confusion          0     –      –                   0.0% [0.0–43.4] n=5",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	raw, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var rep chatReportJSON
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Acceptance) != 2 || len(rep.Staffing) < 2 || len(rep.CSAT) != 2 {
		t.Fatalf("sections: %d acceptance, %d staffing, %d CSAT rows:\n%s", len(rep.Acceptance), len(rep.Staffing), len(rep.CSAT), raw)
	}
	lo, hi := scoring.Wilson(10, 40)
	checkRow(t, "acceptance sales", rep.Acceptance[0], map[string]any{"site": chatSite, "team": "sales", "shown": 40.0, "accepted": 10.0,
		"rate": 0.25, "ci_low": lo, "ci_high": hi, "band_min": 3.0, "band_max": 10.0, "verdict": "above"})
	lo, hi = scoring.Wilson(0, 5)
	checkRow(t, "acceptance service", rep.Acceptance[1], map[string]any{"site": chatSite, "team": "service", "shown": 5.0, "accepted": 0.0,
		"rate": 0.0, "ci_low": lo, "ci_high": hi, "band_min": 3.0, "band_max": 10.0, "verdict": "below"})
	sales := staffingRow(t, rep.Staffing, "sales", day, hour)
	checkRow(t, "staffing sales", sales, map[string]any{"site": chatSite, "team": "sales", "weekday": day, "hour": float64(hour),
		"shown": 40.0, "accepted": 10.0, "avg_handle_s": 240.0, "agents_needed": float64(need), "agents_available": 2.0,
		"suppressed_no_capacity": 40.0, "agents_needed_all": float64(needAll)})
	service := staffingRow(t, rep.Staffing, "service", day, hour)
	checkRow(t, "staffing service", service, map[string]any{"site": chatSite, "team": "service", "weekday": day, "hour": float64(hour),
		"shown": 5.0, "accepted": 0.0, "avg_handle_s": nil, "agents_needed": 0.0, "agents_available": nil,
		"suppressed_no_capacity": 0.0, "agents_needed_all": 0.0})
	checkRow(t, "staffing basis", rep.StaffingBasis, map[string]any{"time_zone": "UTC", "answer_within_s": 30.0, "service_level": 0.8,
		"tallies": schemas.TopicTallies, "tally_records": 2.0, "capacity_records": 1.0})
	lo, hi = scoring.Wilson(4, 6)
	checkRow(t, "csat sales", rep.CSAT[0], map[string]any{"site": chatSite, "team": "sales", "reason": "abandonment", "ratings": 6.0,
		"mean": 22.0 / 6, "satisfied_share": 4.0 / 6, "ci_low": lo, "ci_high": hi})
	checkRow(t, "csat service", rep.CSAT[1], map[string]any{"site": chatSite, "team": "service", "reason": "confusion", "ratings": 0.0,
		"mean": nil, "satisfied_share": nil, "ci_low": nil, "ci_high": nil})
	page, err := os.ReadFile(htmlPath)
	if err != nil || !strings.Contains(string(page), `id="staffing"`) || !strings.Contains(string(page), "Acceptance against its band") {
		t.Errorf("HTML page: %v\n%.400s", err, page)
	}

	// Without the compacted topics, in India's time zone (UTC+5:30), with
	// a band of its own and a stricter target.
	code, out = run(t, "report", "--brokers", addr, "--json", jsonPath, "--tz", "Asia/Kolkata", "--band-min", "20", "--band-max", "30",
		"--answer-within", "20s", "--service-level", "0.9", "--capacity-topic", "no-such-capacity", "--tallies-topic", "no-such-tallies")
	if code != 0 {
		t.Fatalf("without capacity and tallies: exit %d:\n%s", code, out)
	}
	for _, want := range []string{
		"no no-such-capacity topic: agents available n/a", "no no-such-tallies topic: sessions held back for want of agents n/a",
		"e2e-chat  sales       40        10  25.0% [14.2–40.2] n=40  20–30%  inside",
		"held back: n/a (no linger-tallies read)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if raw, err = os.ReadFile(jsonPath); err != nil {
		t.Fatal(err)
	}
	rep = chatReportJSON{}
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatal(err)
	}
	kolkata := shop.hour.Add(5*time.Hour + 30*time.Minute + 5*time.Second) // the first feedback, 5 s in
	sales = staffingRow(t, rep.Staffing, "sales", kolkata.Weekday().String()[:3], kolkata.Hour())
	if sales["suppressed_no_capacity"] != nil || sales["agents_needed_all"] != nil || sales["agents_available"] != nil || sales["avg_handle_s"] != 240.0 {
		t.Errorf("without tallies and capacity: %v", sales)
	}
	if rep.StaffingBasis["time_zone"] != "Asia/Kolkata" || rep.StaffingBasis["tallies"] != "" || rep.StaffingBasis["service_level"] != 0.9 {
		t.Errorf("basis %v", rep.StaffingBasis)
	}
	// The local hour from :30 to :30 of UTC holds the first 30 minutes'
	// records.
	if sales["shown"] != 30.0 || sales["accepted"] != 10.0 {
		t.Errorf("Kolkata %s %02d:00: %v shown, %v accepted; want 30 and 10", kolkata.Weekday(), kolkata.Hour(), sales["shown"], sales["accepted"])
	}
}

func staffingRow(t *testing.T, rows []map[string]any, team, day string, hour int) map[string]any {
	t.Helper()
	for _, r := range rows {
		if r["team"] == team && r["weekday"] == day && r["hour"] == float64(hour) {
			return r
		}
	}
	t.Fatalf("no staffing row for %s %s %02d:00 in %v", team, day, hour, rows)
	return nil
}

// checkRow checks a JSON object's keys, exactly, and their values;
// numbers to 1e-9.
func checkRow(t *testing.T, what string, got, want map[string]any) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: keys %v, want %v", what, keysOf(got), keysOf(want))
	}
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("%s: no key %q", what, k)
			continue
		}
		gf, gok := g.(float64)
		wf, wok := w.(float64)
		if gok && wok {
			if d := gf - wf; d > 1e-9 || d < -1e-9 {
				t.Errorf("%s: %s = %v, want %v", what, k, g, w)
			}
			continue
		}
		if g != w {
			t.Errorf("%s: %s = %v, want %v", what, k, g, w)
		}
	}
}

func keysOf(m map[string]any) []string {
	var k []string
	for key := range m {
		k = append(k, key)
	}
	return k
}
