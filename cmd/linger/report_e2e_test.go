package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lingerhq/linger/schemas"
	"github.com/lingerhq/linger/scoring"
	"github.com/lingerhq/linger/scoring/learn"
	"github.com/twmb/franz-go/pkg/kgo"
)

// reportShop is what TestReportCommand publishes, a day at a shop as the
// topics hold it:
//
//	12 invited sessions (10 abandonment → sales, 2 confusion → service)
//	and 10 holdout sessions (abandonment → sales), each with a page view;
//	7 invited sessions buy after their invite, 1 more bought before it;
//	2 holdout sessions buy; a session never invited buys;
//	feedback on the invited sales sessions: 8 shown, of which 5 accepted
//	(3 of them chats) and 3 declined, 2 expired unseen; one service invite
//	shown; one sales invite withdrawn;
//	besides, records 3 days old on every topic (outside the default 24 h),
//	a decision in an aborted transaction, and a record that is not JSON.
type reportShop struct {
	t0 time.Time
}

const reportSite = "e2e-shop"

func (s reportShop) records() (events, decisions, feedback []*kgo.Record, aborted *kgo.Record) {
	ms := func(d time.Duration) int64 { return s.t0.Add(d).UnixMilli() }
	event := func(session string, typ schemas.Type, at time.Duration) {
		ev := schemas.Event{Type: typ, Session: []byte(session), Site: []byte(reportSite), TS: ms(at),
			Page: schemas.Page{URL: []byte("/cart"), Kind: schemas.KindCart}}
		if typ == schemas.TypePurchase {
			ev.Page, ev.Value = schemas.Page{}, 4200
		}
		events = append(events, &kgo.Record{Topic: schemas.TopicEvents, Key: ev.Session, Value: schemas.AppendEvent(nil, &ev)})
	}
	decide := func(session string, reason schemas.Reason, team string, holdout bool) *kgo.Record {
		d := schemas.Decision{ID: []byte(session + "/1"), Session: []byte(session), Site: []byte(reportSite), Action: schemas.ActionInvite,
			Reason: reason, Team: []byte(team), Score: 0.9, EventTS: ms(30 * time.Second), DecidedAt: ms(30 * time.Second),
			ExpiresAt: ms(90 * time.Second), Model: []byte("m1-e2e"), Holdout: holdout,
			Page: schemas.Page{URL: []byte("/cart"), Kind: schemas.KindCart}}
		return &kgo.Record{Topic: schemas.TopicInvites, Key: d.Session, Value: schemas.AppendDecision(nil, &d)}
	}
	fb := func(session string, types ...schemas.FeedbackType) {
		for i, typ := range types {
			f := schemas.Feedback{Type: typ, InviteID: []byte(session + "/1"), Session: []byte(session), Site: []byte(reportSite), TS: ms(time.Duration(31+i) * time.Second)}
			feedback = append(feedback, &kgo.Record{Topic: schemas.TopicFeedback, Key: f.Session, Value: schemas.AppendFeedback(nil, &f)})
		}
	}
	for i := range 10 {
		inv, hold := fmt.Sprintf("inv-%02d", i), fmt.Sprintf("hold-%02d", i)
		event(inv, schemas.TypePageView, 0)
		event(hold, schemas.TypePageView, 0)
		decisions = append(decisions, decide(inv, schemas.ReasonAbandonment, "sales", false), decide(hold, schemas.ReasonAbandonment, "sales", true))
		switch {
		case i < 6:
			event(inv, schemas.TypePurchase, 2*time.Minute)
		case i == 6:
			event(inv, schemas.TypePurchase, 10*time.Second) // before the invite
		}
		if i < 2 {
			event(hold, schemas.TypePurchase, 3*time.Minute)
		}
		switch {
		case i < 3:
			fb(inv, schemas.FeedbackShown, schemas.FeedbackAccepted, schemas.FeedbackChatStarted)
		case i < 5:
			fb(inv, schemas.FeedbackShown, schemas.FeedbackAccepted)
		case i < 8:
			fb(inv, schemas.FeedbackShown, schemas.FeedbackDeclined)
		default:
			fb(inv, schemas.FeedbackExpired)
		}
	}
	for i := range 2 {
		c := fmt.Sprintf("conf-%d", i)
		event(c, schemas.TypePageView, 0)
		decisions = append(decisions, decide(c, schemas.ReasonConfusion, "service", false))
		if i == 0 {
			event(c, schemas.TypePurchase, time.Minute)
			fb(c, schemas.FeedbackShown)
		}
	}
	event("never-invited", schemas.TypePageView, 0)
	event("never-invited", schemas.TypePurchase, time.Minute)
	w := schemas.Decision{ID: []byte("inv-00/2"), Session: []byte("inv-00"), Site: []byte(reportSite), Action: schemas.ActionWithdraw,
		InviteID: []byte("inv-00/1"), Reason: schemas.ReasonAbandonment, Team: []byte("sales"), EventTS: ms(2 * time.Minute),
		DecidedAt: ms(2 * time.Minute), Model: []byte("m1-e2e")}
	decisions = append(decisions, &kgo.Record{Topic: schemas.TopicInvites, Key: w.Session, Value: schemas.AppendDecision(nil, &w)})
	events = append(events, &kgo.Record{Topic: schemas.TopicEvents, Key: []byte("broken"), Value: []byte("{not json")})
	aborted = decide("aborted", schemas.ReasonAbandonment, "sales", false)
	return events, decisions, feedback, aborted
}

// old is a record 3 days old on each topic: an invite, its feedback, and
// the session's purchase.
func (s reportShop) old() []*kgo.Record {
	at := s.t0.Add(-72 * time.Hour)
	d := schemas.Decision{ID: []byte("old/1"), Session: []byte("old"), Site: []byte(reportSite), Action: schemas.ActionInvite,
		Reason: schemas.ReasonAbandonment, Team: []byte("sales"), EventTS: at.UnixMilli(), Model: []byte("m1-e2e")}
	f := schemas.Feedback{Type: schemas.FeedbackShown, InviteID: d.ID, Session: d.Session, TS: at.UnixMilli()}
	ev := schemas.Event{Type: schemas.TypePurchase, Session: d.Session, Site: []byte(reportSite), TS: at.UnixMilli() + 1000}
	return []*kgo.Record{
		{Topic: schemas.TopicInvites, Key: d.Session, Value: schemas.AppendDecision(nil, &d), Timestamp: at},
		{Topic: schemas.TopicFeedback, Key: d.Session, Value: schemas.AppendFeedback(nil, &f), Timestamp: at},
		{Topic: schemas.TopicEvents, Key: d.Session, Value: schemas.AppendEvent(nil, &ev), Timestamp: at},
	}
}

// publish produces the shop's records: events and feedback as plain
// records, decisions in transactions as linger run does, one of them
// aborted.
func (s reportShop) publish(t *testing.T, addr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	events, decisions, feedback, aborted := s.records()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, append(append(s.old(), events...), feedback...)...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	tx, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.TransactionalID("report-e2e"))
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	for _, batch := range []struct {
		recs   []*kgo.Record
		commit bool
	}{{decisions, true}, {[]*kgo.Record{aborted}, false}} {
		if err := tx.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		if err := tx.ProduceSync(ctx, batch.recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if err := tx.EndTransaction(ctx, kgo.TransactionEndTry(batch.commit)); err != nil {
			t.Fatal(err)
		}
	}
}

// reportJSON is the part of the report's JSON the test checks.
type reportJSON struct {
	From, To          time.Time
	Events            int `json:"events"`
	Decisions         int `json:"decisions"`
	Feedback          int `json:"feedback"`
	Skipped           int `json:"skipped"`
	Sessions          int `json:"sessions"`
	UnmatchedFeedback int `json:"unmatched_feedback"`
	Groups            []reportGroupJSON
	Total             reportGroupJSON
	Suppressed        *struct {
		Sources  []string         `json:"sources"`
		ByReason map[string]int64 `json:"by_reason"`
	} `json:"suppressed"`
}

type reportGroupJSON struct {
	Site, Reason, Team                 string
	Invites, Holdout, Withdrawn        int
	Shown, Accepted, Declined, Expired int
	ChatsStarted                       int          `json:"chats_started"`
	HoldoutShown                       int          `json:"holdout_shown"`
	AcceptanceRate                     estimateJSON `json:"acceptance_rate"`
	InvitedConversion                  estimateJSON `json:"invited_conversion"`
	HoldoutConversion                  estimateJSON `json:"holdout_conversion"`
	Uplift                             estimateJSON `json:"uplift"`
}

type estimateJSON struct {
	Value *float64 `json:"value"`
	N     int      `json:"n"`
	Lo    *float64 `json:"ci_low"`
	Hi    *float64 `json:"ci_high"`
}

// check compares e with k/n and its Wilson interval, or with a given
// value and interval.
func (e estimateJSON) check(t *testing.T, what string, value float64, n int, lo, hi float64) {
	t.Helper()
	if e.Value == nil || e.Lo == nil || e.Hi == nil {
		t.Errorf("%s: null figure %+v", what, e)
		return
	}
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
	if e.N != n || !near(*e.Value, value) || !near(*e.Lo, lo) || !near(*e.Hi, hi) {
		t.Errorf("%s = %.4f [%.4f, %.4f] n=%d, want %.4f [%.4f, %.4f] n=%d", what, *e.Value, *e.Lo, *e.Hi, e.N, value, lo, hi, n)
	}
}

func wilson(t *testing.T, e estimateJSON, what string, k, n int) {
	t.Helper()
	lo, hi := scoring.Wilson(k, n)
	e.check(t, what, float64(k)/float64(n), n, lo, hi)
}

func TestReportCommand(t *testing.T) {
	b := start(t, nil, "broker", "--addr", "127.0.0.1:0", "--partitions", "2", "--retention", "240h")
	addr := b.waitOutput(t, `listening on (127\.0\.0\.1:\d+)`, 20*time.Second)[1]
	shop := reportShop{t0: time.Now().Add(-10 * time.Minute).Truncate(time.Second)}
	shop.publish(t, addr)

	// Two replicas' /metrics, as linger run serves them.
	replica := func(body string) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, body) }))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	r1 := replica("# TYPE linger_suppressed_total counter\nlinger_suppressed_total{reason=\"no_capacity\"} 12\nlinger_suppressed_total{reason=\"cooldown\"} 3\n")
	r2 := replica("linger_suppressed_total{reason=\"no_capacity\"} 5\nlinger_suppressed_total{reason=\"bot\"} 0\n")

	dir := t.TempDir()
	jsonPath, htmlPath := filepath.Join(dir, "report.json"), filepath.Join(dir, "report.html")
	code, out := run(t, "report", "--brokers", addr, "--json", jsonPath, "--html", htmlPath, "--metrics", r1+","+strings.TrimPrefix(r2, "http://"))
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, want := range []string{
		"linger report  ",
		"(24h)\nread           34 events, 23 decisions, 22 feedback records; 1 skipped (not valid v1)",
		"e2e-shop  abandonment  sales         20       10          1      8         5         3        2      3",
		"e2e-shop  confusion    service        2        0          0      1         0         0        0      0",
		"all                             55.6% [26.7–81.1] n=9  58.3% [32.0–80.7] n=12  20.0% [5.7–51.0] n=10  +38.3pp [-2.4–+64.9] n=22",
		"suppressed by cause (linger_suppressed_total summed over 2 replicas, since each started)\n  no_capacity  17\n  cooldown      3\n  bot           0",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	raw, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var rep reportJSON
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatalf("JSON: %v\n%s", err, raw)
	}
	// 23 page views, 11 purchases and the broken record (skipped); the
	// 3-day-old records and the aborted decision are not read.
	if rep.Events != 34 || rep.Decisions != 23 || rep.Feedback != 22 || rep.Skipped != 1 || rep.Sessions != 23 || rep.UnmatchedFeedback != 0 {
		t.Errorf("read %d events, %d decisions, %d feedback, %d skipped, %d sessions, %d unmatched; want 34, 23, 22, 1, 23, 0",
			rep.Events, rep.Decisions, rep.Feedback, rep.Skipped, rep.Sessions, rep.UnmatchedFeedback)
	}
	if d := rep.To.Sub(rep.From); d < 24*time.Hour-time.Minute || d > 24*time.Hour+time.Minute || time.Since(rep.To) > time.Minute {
		t.Errorf("window %v → %v, want the last 24 h", rep.From, rep.To)
	}
	if len(rep.Groups) != 2 {
		t.Fatalf("%d groups, want 2:\n%s", len(rep.Groups), raw)
	}
	sales, service, total := rep.Groups[0], rep.Groups[1], rep.Total
	if sales.Site != reportSite || sales.Reason != "abandonment" || sales.Team != "sales" || service.Reason != "confusion" || service.Team != "service" {
		t.Fatalf("groups %+v %+v", sales, service)
	}
	if g := sales; g.Invites != 20 || g.Holdout != 10 || g.Withdrawn != 1 || g.Shown != 8 || g.Accepted != 5 || g.Declined != 3 || g.Expired != 2 || g.ChatsStarted != 3 || g.HoldoutShown != 0 {
		t.Errorf("sales counts %+v", g)
	}
	if g := total; g.Invites != 22 || g.Holdout != 10 || g.Shown != 9 || g.Accepted != 5 {
		t.Errorf("total counts %+v", g)
	}
	wilson(t, sales.AcceptanceRate, "sales acceptance", 5, 8)
	wilson(t, sales.InvitedConversion, "sales invited conversion", 6, 10) // inv-06 bought before its invite
	wilson(t, sales.HoldoutConversion, "sales holdout conversion", 2, 10)
	d, lo, hi := learn.WilsonDifference(6, 10, 2, 10)
	sales.Uplift.check(t, "sales uplift", d, 20, lo, hi)
	wilson(t, total.InvitedConversion, "total invited conversion", 7, 12)
	d, lo, hi = learn.WilsonDifference(7, 12, 2, 10)
	total.Uplift.check(t, "total uplift", d, 22, lo, hi)
	// service has no holdout: no uplift, written as null with n 0.
	if u := service.Uplift; u.Value != nil || u.N != 0 || u.Lo != nil {
		t.Errorf("service uplift %+v, want null", u)
	}
	if s := rep.Suppressed; s == nil || len(s.Sources) != 2 || s.ByReason["no_capacity"] != 17 || s.ByReason["cooldown"] != 3 || !strings.HasSuffix(s.Sources[1], "/metrics") {
		t.Errorf("suppressed %+v", rep.Suppressed)
	}

	page, err := os.ReadFile(htmlPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(page), "<!DOCTYPE html>") || !strings.Contains(string(page), "Acceptance, conversion and uplift") || strings.Contains(string(page), "<script") {
		t.Errorf("HTML page:\n%.400s", page)
	}

	// --from three days and a minute back reads the old records too;
	// --json - writes the JSON alone to stdout.
	from := shop.t0.Add(-72*time.Hour - time.Minute).UTC().Format(time.RFC3339)
	code, out = runOut(t, "report", "--brokers", addr, "--from", from, "--json", "-")
	if code != 0 {
		t.Fatalf("--from: exit %d:\n%s", code, out)
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("--json -: %v\n%s", err, out)
	}
	if rep.Total.Invites != 23 || rep.Total.Shown != 10 || rep.Suppressed != nil {
		t.Errorf("--from %s: %d invites, %d shown, suppressed %v; want 23, 10 and none", from, rep.Total.Invites, rep.Total.Shown, rep.Suppressed)
	}
}

// runOut runs linger and returns its exit code and stdout alone.
func runOut(t *testing.T, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := contextWithTimeout(time.Minute)
	defer cancel()
	var stderr strings.Builder
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if code != 0 {
		t.Logf("stderr:\n%s", stderr.String())
	}
	return code, string(out)
}

func TestReportErrors(t *testing.T) {
	addr := startBroker(t, 1)
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"help", []string{"report", "--help"}, 0, "LINGER_SINCE"},
		{"no brokers", []string{"report"}, 2, "no brokers"},
		{"since and from", []string{"report", "--brokers", addr, "--since", "2h", "--from", "2026-01-01"}, 2, "exclude each other"},
		{"bad from", []string{"report", "--brokers", addr, "--from", "yesterday"}, 2, "RFC 3339"},
		{"bad since", []string{"report", "--brokers", addr, "--since", "a week"}, 2, "7d"},
		{"unreachable", []string{"report", "--brokers", "127.0.0.1:1", "--timeout", "2s"}, 1, "cannot reach the Kafka brokers [127.0.0.1:1]"},
		{"missing topic", []string{"report", "--brokers", addr, "--feedback-topic", "no-such-feedback"}, 1, "topic does not exist: no-such-feedback"},
		{"metrics down", []string{"report", "--brokers", addr, "--metrics", "127.0.0.1:1", "--timeout", "2s"}, 1, "scrape http://127.0.0.1:1/metrics"},
		{"bad tz", []string{"report", "--brokers", addr, "--tz", "Mars/Olympus_Mons"}, 2, `--tz "Mars/Olympus_Mons": want an IANA time zone`},
		{"local tz", []string{"report", "--brokers", addr, "--tz", "Local"}, 2, "want an IANA time zone"},
		{"service level of 1", []string{"report", "--brokers", addr, "--service-level", "1"}, 2, "--service-level 1: want a share above 0 and below 1"},
		{"answer within 0", []string{"report", "--brokers", addr, "--answer-within", "0s"}, 2, "--answer-within 0s"},
		{"band upside down", []string{"report", "--brokers", addr, "--band-min", "12", "--band-max", "10"}, 2, "0 ≤ min ≤ max ≤ 100"},
		{"tallies topic is the feedback topic", []string{"report", "--brokers", addr, "--tallies-topic", "chat-feedback"}, 2, "--feedback-topic and --tallies-topic name the same topic"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			code, out := run(t, tc.args...)
			if code != tc.code || !strings.Contains(out, tc.want) {
				t.Fatalf("exit %d, want %d; output should contain %q:\n%s", code, tc.code, tc.want, out)
			}
			if took := time.Since(start); took > 15*time.Second {
				t.Errorf("took %v", took)
			}
		})
	}
	// An empty window is a report of nothing, not an error.
	code, out := run(t, "report", "--brokers", addr, "--since", "1h")
	if code != 0 || !strings.Contains(out, "0 events, 0 decisions, 0 feedback records") {
		t.Fatalf("empty topics: exit %d\n%s", code, out)
	}
}
