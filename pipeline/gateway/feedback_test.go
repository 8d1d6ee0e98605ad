package gateway

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lingerhq/linger/internal/kafkatest"
	"github.com/lingerhq/linger/schemas"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// feedbackBody is a v1 feedback record; site is left out when empty.
func feedbackBody(typ, session, invite, site string, ts int64) string {
	s := ""
	if site != "" {
		s = fmt.Sprintf(`,"site":%q`, site)
	}
	return fmt.Sprintf(`{"v":1,"type":%q,"invite_id":%q,"session":%q,"team":"service"%s,"ts":%d}`, typ, invite, session, s, ts)
}

func (tg *testGateway) postFeedback(t *testing.T, token, body string) response {
	t.Helper()
	return tg.do(t, "POST", "/v1/feedback", token, strings.NewReader(body), map[string]string{"Content-Type": "application/json"})
}

// reason returns the "reason" of a refusal, failing the test if the answer
// is not code.
func (r response) reason(t *testing.T, code int) string {
	t.Helper()
	if r.code != code {
		t.Fatalf("status %d, want %d: %s", r.code, code, r.body)
	}
	r.errorText(t)
	var v struct {
		Reason string `json:"reason"`
	}
	_ = json.Unmarshal(r.body, &v)
	return v.Reason
}

func TestVisitorFeedback(t *testing.T) {
	tg := newGatewayWith(t, nil, nil, func(g *Gateway) { g.fbWait = 200 * time.Millisecond })
	records := kafkatest.Collecting(t, tg.broker.Addr(), schemas.TopicFeedback)
	s, other := tg.newSession(t), tg.newSession(t)
	cl := producer(t, tg.broker.Addr())
	exp := tg.clock.ms(time.Minute)
	publish(t, cl,
		decision(s.Session, 1, exp, nil),
		decision(s.Session, 2, exp, func(d *schemas.Decision) { d.Holdout = true }),
		decision(other.Session, 1, exp, nil),
		decision(s.Session, 3, exp, func(d *schemas.Decision) { d.Action, d.InviteID = schemas.ActionWithdraw, []byte(s.Session+"/1") }),
	)
	kafkatest.WaitFor(t, "invites indexed", 10*time.Second, func() bool { return testutil.ToFloat64(tg.g.m.indexSessions) == 2 })
	fb := func(typ, invite, site string) string {
		return feedbackBody(typ, s.Session, invite, site, tg.clock.ms(0))
	}
	inv := s.Session + "/1"

	for _, typ := range []string{"invite_shown", "invite_accepted"} {
		if r := tg.postFeedback(t, s.Token, fb(typ, inv, testSite)); r.code != http.StatusAccepted {
			t.Fatalf("%s: %d %s", typ, r.code, r.body)
		}
	}
	if got := tg.postFeedback(t, s.Token, fb("invite_accepted", inv, testSite)).reason(t, http.StatusConflict); got != fbRepeat {
		t.Fatalf("a second invite_accepted: reason %q", got)
	}
	for name, invite := range map[string]string{
		"a holdout invite (never shown)":   s.Session + "/2",
		"a withdrawal, not an invite":      s.Session + "/3",
		"an invite the session never got":  s.Session + "/9",
		"an invite of the session made up": s.Session + "/1x",
	} {
		if got := tg.postFeedback(t, s.Token, fb("invite_shown", invite, testSite)).reason(t, http.StatusNotFound); got != fbUnknownInvite {
			t.Fatalf("%s: reason %q", name, got)
		}
	}
	if r := tg.postFeedback(t, s.Token, fb("invite_shown", other.Session+"/1", testSite)); r.code != http.StatusBadRequest {
		t.Fatalf("another session's invite: %d, want 400", r.code)
	}
	if got := tg.postFeedback(t, s.Token, fb("invite_declined", inv, "shop-elsewhere")).reason(t, http.StatusBadRequest); got != fbSiteMismatch {
		t.Fatalf("another site: reason %q", got)
	}
	// Without a site, the record gets the session's.
	if r := tg.postFeedback(t, s.Token, fb("invite_declined", inv, "")); r.code != http.StatusAccepted {
		t.Fatalf("invite_declined without a site: %d %s", r.code, r.body)
	}
	// Until expires_at plus the margin (1 min), not after.
	tg.clock.advance(time.Minute + 50*time.Second)
	if r := tg.postFeedback(t, s.Token, fb("invite_expired", inv, testSite)); r.code != http.StatusAccepted {
		t.Fatalf("invite_expired within the margin: %d %s", r.code, r.body)
	}
	tg.clock.advance(20 * time.Second)
	if got := tg.postFeedback(t, s.Token, fb("chat_started", inv, testSite)).reason(t, http.StatusGone); got != fbExpiredInvite {
		t.Fatalf("past the margin: reason %q", got)
	}

	records.WaitN(t, 4, 10*time.Second)
	time.Sleep(200 * time.Millisecond) // nothing more comes
	recs := records.Records()
	if len(recs) != 4 {
		t.Fatalf("%d feedback records, want 4", len(recs))
	}
	var dec schemas.FeedbackDecoder
	var f schemas.Feedback
	for i, want := range []schemas.FeedbackType{schemas.FeedbackShown, schemas.FeedbackAccepted, schemas.FeedbackDeclined, schemas.FeedbackExpired} {
		r := recs[i]
		if err := dec.Decode(r.Key, r.Value, 0, &f); err != nil || f.Type != want || string(f.InviteID) != inv || string(f.Site) != testSite {
			t.Fatalf("record %d: %v %+v", i, err, f)
		}
	}
	for reason, want := range map[string]float64{fbRepeat: 1, fbUnknownInvite: 4, fbSiteMismatch: 1, fbExpiredInvite: 1} {
		if got := testutil.ToFloat64(tg.g.m.fbRejected.WithLabelValues(reason)); got != want {
			t.Errorf("refusals %s counted %v, want %v", reason, got, want)
		}
	}
	if got := testutil.ToFloat64(tg.g.m.feedback.WithLabelValues("invite_accepted")); got != 1 {
		t.Fatalf("feedback counted %v", got)
	}
}

// TestFeedbackWaitsForItsInvite: a replica that has not read the invite yet
// (the widget heard of it from another) waits for it a moment.
func TestFeedbackWaitsForItsInvite(t *testing.T) {
	tg := newGateway(t, nil, nil)
	s := tg.newSession(t)
	cl := producer(t, tg.broker.Addr())
	exp := tg.clock.ms(time.Minute)
	go func() {
		time.Sleep(300 * time.Millisecond)
		publish(t, cl, decision(s.Session, 1, exp, nil))
	}()
	start := time.Now()
	if r := tg.postFeedback(t, s.Token, feedbackBody("invite_shown", s.Session, s.Session+"/1", "", tg.clock.ms(0))); r.code != http.StatusAccepted {
		t.Fatalf("feedback before its invite was read: %d %s", r.code, r.body)
	}
	if el := time.Since(start); el < 300*time.Millisecond || el > feedbackWait {
		t.Fatalf("answered after %v", el)
	}
}

// TestFeedbackFailedStoreIsNotTaken: a record Kafka did not take may be
// sent again.
func TestFeedbackFailedStoreIsNotTaken(t *testing.T) {
	tg := newGateway(t, nil, nil)
	s := tg.newSession(t)
	publish(t, producer(t, tg.broker.Addr()), decision(s.Session, 1, tg.clock.ms(time.Minute), nil))
	kafkatest.WaitFor(t, "invite indexed", 10*time.Second, func() bool { return testutil.ToFloat64(tg.g.m.indexSessions) == 1 })
	refuse := tg.broker.Cluster().Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: schemas.TopicFeedback, Err: kerr.PolicyViolation, Count: -1})
	body := feedbackBody("invite_shown", s.Session, s.Session+"/1", "", tg.clock.ms(0))
	if r := tg.postFeedback(t, s.Token, body); r.code != http.StatusServiceUnavailable {
		t.Fatalf("Kafka refusing the record: %d %s", r.code, r.body)
	}
	refuse.Remove()
	if r := tg.postFeedback(t, s.Token, body); r.code != http.StatusAccepted {
		t.Fatalf("sent again once Kafka takes it: %d %s", r.code, r.body)
	}
	if r := tg.postFeedback(t, s.Token, body); r.code != http.StatusConflict {
		t.Fatalf("and once more: %d, want 409", r.code)
	}
}

// TestVisitorFeedbackTypes: a visitor's token reports only the types its
// widget knows; a type not listed (chat_started, taken off the list here
// to show it) is refused with 403, and the platform route takes it.
func TestVisitorFeedbackTypes(t *testing.T) {
	platform := "pf-7Hq2Zx9Lw4Rt6Yu1Io3Pa5Sd8Fg0Jk2M"
	tg := newGatewayWith(t, nil, func(c *Config) { c.PlatformToken = []byte(platform) }, func(g *Gateway) { delete(g.visitorTypes, "chat_started") })
	s := tg.newSession(t)
	publish(t, producer(t, tg.broker.Addr()), decision(s.Session, 1, tg.clock.ms(time.Minute), nil))
	kafkatest.WaitFor(t, "invite indexed", 10*time.Second, func() bool { return testutil.ToFloat64(tg.g.m.indexSessions) == 1 })

	body := feedbackBody("chat_started", s.Session, s.Session+"/1", "", tg.clock.ms(0))
	if got := tg.postFeedback(t, s.Token, body).reason(t, http.StatusForbidden); got != fbTypeNotAllowed {
		t.Fatalf("a type off the visitor's list: reason %q", got)
	}
	if r := tg.do(t, "POST", "/v1/platform/feedback", platform, strings.NewReader(body), nil); r.code != http.StatusAccepted {
		t.Fatalf("the same from the platform: %d %s", r.code, r.body)
	}
	// Every type the contract knows beyond the visitor's list (the chat's
	// end and rating, once the contract has them) is refused to a visitor.
	for _, typ := range schemas.FeedbackTypes()[1:] {
		if visitorFeedback[typ] {
			continue
		}
		if r := tg.postFeedback(t, s.Token, feedbackBody(typ, s.Session, s.Session+"/1", "", tg.clock.ms(0))); r.code == http.StatusAccepted {
			t.Errorf("%s from a visitor: accepted", typ)
		}
	}
}

func TestPlatformFeedback(t *testing.T) {
	platform := "pf-7Hq2Zx9Lw4Rt6Yu1Io3Pa5Sd8Fg0Jk2M"
	tg := newGateway(t, nil, func(c *Config) {
		c.PlatformToken = []byte(platform)
		c.Sites = []string{testSite, "shop-b"}
		c.IPRate, c.IPBurst = 0.001, 3
	})
	records := kafkatest.Collecting(t, tg.broker.Addr(), schemas.TopicFeedback)
	visitor := tg.newSession(t) // one of the address's 3 requests
	post := func(auth, body string, header map[string]string) response {
		h := map[string]string{"Authorization": auth}
		for k, v := range header {
			h[k] = v
		}
		return tg.do(t, "POST", "/v1/platform/feedback", "", strings.NewReader(body), h)
	}
	// A session the gateway never saw, an invite long expired: the
	// platform knows what it reports.
	old := tg.clock.ms(-time.Hour)
	body := feedbackBody("chat_started", "s-sim-1", "s-sim-1/4", "shop-b", old)
	for name, auth := range map[string]string{"no token": "", "another token": "Bearer " + strings.Repeat("x", len(platform))} {
		if r := post(auth, body, nil); r.code != http.StatusUnauthorized {
			t.Fatalf("%s: %d, want 401", name, r.code)
		}
	}
	// Failures are limited per address (burst 3: the session, two
	// failures), successes are not.
	if r := post("Bearer "+visitor.Token, body, nil); r.code != http.StatusTooManyRequests {
		t.Fatalf("a visitor's token, third failure from the address: %d, want 429", r.code)
	}
	for i := range 5 {
		if r := post("bearer "+platform, body, nil); r.code != http.StatusAccepted {
			t.Fatalf("platform record %d: %d %s", i, r.code, r.body)
		}
	}
	if r := post("Bearer "+platform, body, map[string]string{"Origin": "https://shop.example.com"}); r.code != http.StatusForbidden {
		t.Fatalf("from a browser page: %d, want 403", r.code)
	}
	if got := post("Bearer "+platform, feedbackBody("chat_started", "s-sim-1", "s-sim-1/4", "shop-z", old), nil).reason(t, http.StatusBadRequest); got != fbSiteNotServed {
		t.Fatalf("a site not served: reason %q", got)
	}
	for name, b := range map[string]string{"not JSON": "chat", "no session": `{"v":1,"type":"chat_started","invite_id":"x/1","ts":1}`, "another session's invite": feedbackBody("chat_started", "s-sim-1", "s-sim-2/1", "", old)} {
		if r := post("Bearer "+platform, b, nil); r.code != http.StatusBadRequest {
			t.Fatalf("%s: %d, want 400", name, r.code)
		}
	}
	records.WaitN(t, 5, 10*time.Second)
	time.Sleep(200 * time.Millisecond) // nothing more comes
	recs := records.Records()
	if len(recs) != 5 {
		t.Fatalf("%d records, want 5", len(recs))
	}
	for _, r := range recs {
		if string(r.Key) != "s-sim-1" {
			t.Fatalf("record keyed %q", r.Key)
		}
	}

	// A gateway without a platform token has no platform route.
	off := newGateway(t, tg.broker, nil)
	if r := off.do(t, "POST", "/v1/platform/feedback", platform, strings.NewReader(body), nil); r.code != http.StatusNotFound {
		t.Fatalf("no platform token configured: %d, want 404", r.code)
	}
}
