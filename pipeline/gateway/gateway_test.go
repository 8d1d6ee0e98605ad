package gateway

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lingerhq/linger/internal/kafkatest"
	"github.com/lingerhq/linger/schemas"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestAuth(t *testing.T) {
	tg := newGateway(t, nil, func(c *Config) { c.TokenTTL = time.Hour })
	s := tg.newSession(t)
	if !regexp.MustCompile(`^w-[A-Za-z0-9_-]{16}$`).MatchString(s.Session) {
		t.Fatalf("session id %q", s.Session)
	}
	ev := event(s.Session, tg.clock.ms(0))
	if a := tg.postEvents(t, s.Token, ev).accepted(t); a.Accepted != 1 {
		t.Fatalf("a good token: %+v", a)
	}

	other := tg.newSession(t)
	forged := []string{
		"",                                       // none
		"garbage",                                // not a token
		other.Session + s.Token[len(s.Session):], // another session with s's MAC
		s.Token[:len(s.Token)-2] + "AA",          // MAC changed
		strings.Replace(s.Token, ".", ".9", 1),   // expiry moved
	}
	for i, tok := range forged {
		r := tg.postEvents(t, tok, ev)
		if r.code != http.StatusUnauthorized {
			t.Fatalf("forged token %d: %d, want 401", i, r.code)
		}
		r.errorText(t)
		if r := tg.openStream(t, tok, ""); r.code != http.StatusUnauthorized {
			t.Fatalf("forged token %d on /v1/invites: %d, want 401", i, r.code)
		}
	}
	// A token made with another secret does not verify here.
	elsewhere := tokens{key: bytes.Repeat([]byte("x"), MinSecretBytes), ttl: time.Hour}
	tok, _ := elsewhere.issue(s.Session, testSite, tg.clock.now())
	if r := tg.postEvents(t, tok, ev); r.code != http.StatusUnauthorized {
		t.Fatalf("token of another secret: %d, want 401", r.code)
	}

	// A token reads and writes only its own session: events of another
	// session are rejected, not produced.
	a := tg.postEvents(t, s.Token, event(other.Session, tg.clock.ms(0))).accepted(t)
	if a.Accepted != 0 || a.Rejected != 1 || a.Errors[0].Reason != "key_mismatch" {
		t.Fatalf("an event of another session: %+v", a)
	}

	tg.clock.advance(time.Hour + time.Second)
	r := tg.postEvents(t, s.Token, event(s.Session, tg.clock.ms(0)))
	if r.code != http.StatusUnauthorized || !strings.Contains(r.errorText(t), "expired") {
		t.Fatalf("expired token: %d %s", r.code, r.body)
	}
	if r := tg.openStream(t, s.Token, ""); r.code != http.StatusUnauthorized {
		t.Fatalf("expired token on /v1/invites: %d, want 401", r.code)
	}
}

func TestEventsProduced(t *testing.T) {
	tg := newGateway(t, nil, nil)
	events := kafkatest.Collecting(t, tg.broker.Addr(), schemas.TopicEvents)
	s := tg.newSession(t)
	now := tg.clock.ms(0)
	a := tg.postEvents(t, s.Token,
		event(s.Session, now),
		fmt.Sprintf(`{"v":1,"type":"form","session":%q,"ts":%d,"form":"checkout","field":"card-number","action":"error","value_typed":"4111 1111"}`, s.Session, now+1),
		fmt.Sprintf(`{"v":1,"type":"idle","session":%q,"ts":%d}`, s.Session, now+2),     // no ms: rejected
		fmt.Sprintf(`{"v":1,"type":"teleport","session":%q,"ts":%d}`, s.Session, now+3), // a type this release does not know
		fmt.Sprintf(`{"v":1,"type":"cart","session":%q,"ts":%d,"action":"add","value":2999,"items":1}`, s.Session, now+4),
	).accepted(t)
	if a.Accepted != 3 || a.Rejected != 2 || len(a.Errors) != 2 || a.Errors[0].Index != 2 || a.Errors[0].Reason != "missing_field" || a.Errors[1].Reason != "unknown_type" {
		t.Fatalf("answer %+v", a)
	}
	recs := events.WaitN(t, 3, 10*time.Second)
	var dec schemas.Decoder
	var ev schemas.Event
	for i, r := range recs {
		if string(r.Key) != s.Session {
			t.Fatalf("record %d keyed %q, want the session", i, r.Key)
		}
		if err := dec.Decode(r.Key, r.Value, 0, &ev); err != nil {
			t.Fatalf("record %d does not decode as the processor decodes: %v: %s", i, err, r.Value)
		}
		if ev.TS != now+int64([]int{0, 1, 4}[i]) || ev.Bot {
			t.Fatalf("record %d: ts %d bot %v", i, ev.TS, ev.Bot)
		}
		if got := header(r, HeaderReceivedAt); got == "" || r.Timestamp.IsZero() {
			t.Fatalf("record %d has no receive time", i)
		}
	}
	if bytes.Contains(recs[1].Value, []byte("4111")) {
		t.Fatalf("a field the contract does not know reached Kafka: %s", recs[1].Value)
	}
	if got := testutil.ToFloat64(tg.g.m.rejectedBy.WithLabelValues("unknown_type")); got != 1 {
		t.Fatalf("unknown_type rejections counted %v", got)
	}
}

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

func TestTSWindow(t *testing.T) {
	tg := newGateway(t, nil, nil)
	events := kafkatest.Collecting(t, tg.broker.Addr(), schemas.TopicEvents)
	s := tg.newSession(t)
	sent := []int64{
		tg.clock.ms(-5 * time.Minute),  // an offline page's batch: kept
		tg.clock.ms(30 * time.Second),  // a fast clock: kept
		tg.clock.ms(-20 * time.Minute), // too old: receive time
		tg.clock.ms(5 * time.Minute),   // too far ahead: receive time
	}
	var evs []string
	for _, ts := range sent {
		evs = append(evs, event(s.Session, ts))
	}
	before := tg.clock.ms(0)
	a := tg.postEvents(t, s.Token, evs...).accepted(t)
	after := tg.clock.ms(0)
	if a.Accepted != 4 || a.Clamped != 2 {
		t.Fatalf("answer %+v", a)
	}
	recs := events.WaitN(t, 4, 10*time.Second)
	var dec schemas.Decoder
	var ev schemas.Event
	for i, r := range recs {
		if err := dec.Decode(r.Key, r.Value, 0, &ev); err != nil {
			t.Fatal(err)
		}
		if i < 2 {
			if ev.TS != sent[i] || header(r, HeaderClientTS) != "" {
				t.Fatalf("event %d within the window: ts %d, want %d kept", i, ev.TS, sent[i])
			}
			continue
		}
		if ev.TS < before || ev.TS > after || header(r, HeaderClientTS) != strconv.FormatInt(sent[i], 10) {
			t.Fatalf("event %d outside the window: ts %d (client's in header: %q), want the receive time", i, ev.TS, header(r, HeaderClientTS))
		}
	}
	if got := testutil.ToFloat64(tg.g.m.clamped); got != 2 {
		t.Fatalf("clamped counted %v, want 2", got)
	}
}

// countingReader is a body that counts what the server read of it.
type countingReader struct {
	mu     sync.Mutex
	n, max int
}

func (c *countingReader) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n >= c.max {
		return 0, io.EOF
	}
	n := min(len(p), c.max-c.n)
	for i := range n {
		p[i] = ' '
	}
	c.n += n
	return n, nil
}

func (c *countingReader) read() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

func TestBodyCap(t *testing.T) {
	const cap = 16 << 10
	tg := newGateway(t, nil, func(c *Config) { c.MaxBodyBytes = cap })
	s := tg.newSession(t)

	// A declared length over the cap: refused before reading any of it.
	body := &countingReader{max: 10 << 20}
	req := httptest.NewRequest("POST", "/v1/events", body)
	req.ContentLength = int64(body.max)
	req.Header.Set("Authorization", "Bearer "+s.Token)
	w := httptest.NewRecorder()
	tg.g.Handler().ServeHTTP(w, req)
	if w.Code != http.StatusRequestEntityTooLarge || body.read() != 0 {
		t.Fatalf("declared 10 MiB: %d after reading %d bytes, want 413 after none", w.Code, body.read())
	}

	// No length declared (chunked): read up to the cap only.
	body = &countingReader{max: 10 << 20}
	req = httptest.NewRequest("POST", "/v1/events", body)
	req.ContentLength = -1
	req.Header.Set("Authorization", "Bearer "+s.Token)
	w = httptest.NewRecorder()
	tg.g.Handler().ServeHTTP(w, req)
	if w.Code != http.StatusRequestEntityTooLarge || body.read() > 2*cap {
		t.Fatalf("chunked 10 MiB: %d after reading %d bytes, want 413 after about %d", w.Code, body.read(), cap)
	}

	// Over the network too.
	r := tg.do(t, "POST", "/v1/events", s.Token, strings.NewReader("["+strings.Repeat(" ", cap)+"]"), nil)
	if r.code != http.StatusRequestEntityTooLarge {
		t.Fatalf("over the cap: %d", r.code)
	}
	r.errorText(t)
}

func TestEventsPerRequestCap(t *testing.T) {
	tg := newGateway(t, nil, func(c *Config) { c.MaxEvents = 5 })
	events := kafkatest.Collecting(t, tg.broker.Addr(), schemas.TopicEvents)
	s := tg.newSession(t)
	var evs []string
	for i := range 6 {
		evs = append(evs, event(s.Session, tg.clock.ms(0)+int64(i)))
	}
	r := tg.postEvents(t, s.Token, evs...)
	if r.code != http.StatusRequestEntityTooLarge || !strings.Contains(r.errorText(t), "more than 5 events") {
		t.Fatalf("6 events, cap 5: %d %s", r.code, r.body)
	}
	if a := tg.postEvents(t, s.Token, evs[:5]...).accepted(t); a.Accepted != 5 {
		t.Fatalf("5 events: %+v", a)
	}
	time.Sleep(300 * time.Millisecond)
	if n := len(events.WaitN(t, 5, 10*time.Second)); n != 5 {
		t.Fatalf("%d events produced, want the 5 of the batch within the cap", n)
	}
}

func TestBadBodies(t *testing.T) {
	tg := newGateway(t, nil, nil)
	s := tg.newSession(t)
	for _, tc := range []struct{ name, body string }{
		{"empty", ""},
		{"not JSON", "hello"},
		{"an object", event(s.Session, 1)},
		{"truncated", "[" + event(s.Session, 1)},
		{"trailing data", "[]x"},
		{"two arrays", "[][]"},
		{"bad element", "[{]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tg.do(t, "POST", "/v1/events", s.Token, strings.NewReader(tc.body), nil)
			if r.code != http.StatusBadRequest {
				t.Fatalf("%d, want 400: %s", r.code, r.body)
			}
			r.errorText(t)
		})
	}
	// Elements that are JSON but not events are rejected one by one.
	if a := tg.postEvents(t, s.Token, "1", `"x"`, "null", "{}").accepted(t); a.Rejected != 4 || a.Accepted != 0 {
		t.Fatalf("non-events: %+v", a)
	}
	if a := tg.postEvents(t, s.Token).accepted(t); a.Accepted != 0 || a.Rejected != 0 {
		t.Fatalf("an empty batch: %+v", a)
	}
}

func TestSessionRateLimit(t *testing.T) {
	tg := newGateway(t, nil, func(c *Config) { c.SessionRate, c.SessionBurst = 1, 3 })
	s, other := tg.newSession(t), tg.newSession(t)
	for i := range 3 {
		tg.postEvents(t, s.Token, event(s.Session, tg.clock.ms(0)+int64(i))).accepted(t)
	}
	r := tg.postEvents(t, s.Token, event(s.Session, tg.clock.ms(0)))
	if r.code != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Fatalf("4th post in a burst of 3: %d (Retry-After %q), want 429", r.code, r.header.Get("Retry-After"))
	}
	r.errorText(t)
	tg.postEvents(t, other.Token, event(other.Session, tg.clock.ms(0))).accepted(t) // another session is not limited
	tg.clock.advance(1100 * time.Millisecond)
	tg.postEvents(t, s.Token, event(s.Session, tg.clock.ms(0))).accepted(t) // a token back after a second
}

func TestIPRateLimitDoesNotSlowOthers(t *testing.T) {
	tg := newGateway(t, nil, func(c *Config) {
		c.IPRate, c.IPBurst = 20, 20
		c.SessionRate, c.SessionBurst = 1000, 1000
		c.ClientIPHeader = "X-Forwarded-For"
	})
	flooder, visitor := tg.newSession(t), tg.newSession(t)
	from := func(ip string) map[string]string { return map[string]string{"X-Forwarded-For": "198.51.100.7, " + ip} }

	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r := tg.do(t, "POST", "/v1/events", flooder.Token, strings.NewReader("["+event(flooder.Session, tg.clock.ms(0))+"]"), from("203.0.113.1"))
				mu.Lock()
				codes[r.code]++
				mu.Unlock()
			}
		}()
	}
	var slowest time.Duration
	for i := range 5 {
		start := time.Now()
		tg.do(t, "POST", "/v1/events", visitor.Token, strings.NewReader("["+event(visitor.Session, tg.clock.ms(0)+int64(i))+"]"), from("203.0.113.2")).accepted(t)
		slowest = max(slowest, time.Since(start))
		time.Sleep(20 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if codes[http.StatusTooManyRequests] == 0 {
		t.Fatalf("the flooding address was never limited: %v", codes)
	}
	if codes[http.StatusAccepted] > 40 {
		t.Fatalf("the flooding address got %d posts through, want about its burst of 20: %v", codes[http.StatusAccepted], codes)
	}
	if slowest > time.Second {
		t.Fatalf("another address waited %v during the flood", slowest)
	}
	if got := testutil.ToFloat64(tg.g.m.limited.WithLabelValues("ip")); got == 0 {
		t.Fatal("IP limit not counted")
	}
	// Sessions are limited per address too.
	var last int
	for range 30 {
		last = tg.do(t, "POST", "/v1/sessions", "", nil, from("203.0.113.3")).code
	}
	if last != http.StatusTooManyRequests {
		t.Fatalf("30 new sessions from one address at once: last answered %d, want 429", last)
	}
}

func TestBotUserAgents(t *testing.T) {
	tg := newGateway(t, nil, nil)
	events := kafkatest.Collecting(t, tg.broker.Addr(), schemas.TopicEvents)
	s := tg.newSession(t)
	for _, ua := range []string{"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "curl/8.5.0", "Mozilla/5.0 HeadlessChrome/120", ""} {
		r := tg.do(t, "POST", "/v1/events", s.Token, strings.NewReader("["+event(s.Session, tg.clock.ms(0))+"]"), map[string]string{"User-Agent": ua})
		r.accepted(t)
	}
	tg.postEvents(t, s.Token, event(s.Session, tg.clock.ms(0))).accepted(t) // a browser
	recs := events.WaitN(t, 5, 10*time.Second)
	var dec schemas.Decoder
	var ev schemas.Event
	for i, r := range recs {
		if err := dec.Decode(r.Key, r.Value, 0, &ev); err != nil {
			t.Fatal(err)
		}
		if want := i < 4; ev.Bot != want {
			t.Fatalf("event %d: bot %v, want %v", i, ev.Bot, want)
		}
	}
	if got := testutil.ToFloat64(tg.g.m.bots); got != 4 {
		t.Fatalf("bot events counted %v, want 4", got)
	}
}

func TestCORS(t *testing.T) {
	tg := newGateway(t, nil, func(c *Config) { c.AllowedOrigins = []string{"https://shop.example.com"} })
	s := tg.newSession(t)
	body := func() io.Reader { return strings.NewReader("[" + event(s.Session, tg.clock.ms(0)) + "]") }

	r := tg.do(t, "OPTIONS", "/v1/events", "", nil, map[string]string{"Origin": "https://shop.example.com", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"})
	if r.code != http.StatusNoContent || r.header.Get("Access-Control-Allow-Origin") != "https://shop.example.com" || !strings.Contains(r.header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Fatalf("preflight from an allowed origin: %d %v", r.code, r.header)
	}
	r = tg.do(t, "POST", "/v1/events", s.Token, body(), map[string]string{"Origin": "https://shop.example.com"})
	if r.code != http.StatusAccepted || r.header.Get("Access-Control-Allow-Origin") != "https://shop.example.com" {
		t.Fatalf("post from an allowed origin: %d %v", r.code, r.header)
	}
	for _, o := range []string{"https://evil.example.net", "http://shop.example.com", "https://shop.example.com.evil.net", "null"} {
		r = tg.do(t, "OPTIONS", "/v1/events", "", nil, map[string]string{"Origin": o, "Access-Control-Request-Method": "POST"})
		if r.code != http.StatusForbidden || r.header.Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("preflight from %s: %d %v", o, r.code, r.header)
		}
		r = tg.do(t, "POST", "/v1/events", s.Token, body(), map[string]string{"Origin": o})
		if r.code != http.StatusForbidden || r.header.Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("post from %s: %d %v", o, r.code, r.header)
		}
	}
	// The gateway's own pages (the demo shop) need no CORS.
	r = tg.do(t, "POST", "/v1/events", s.Token, body(), map[string]string{"Origin": tg.srv.URL})
	if r.code != http.StatusAccepted || r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("same-origin post: %d %v", r.code, r.header)
	}
}

func TestInvitesIsolatedPerSession(t *testing.T) {
	tg := newGateway(t, nil, nil)
	a, b := tg.newSession(t), tg.newSession(t)
	sa, sb := tg.openStream(t, a.Token, ""), tg.openStream(t, b.Token, "")
	if sa.code != http.StatusOK || sb.code != http.StatusOK {
		t.Fatalf("streams: %d %d", sa.code, sb.code)
	}
	cl := producer(t, tg.broker.Addr())
	exp := tg.clock.ms(time.Minute)
	publish(t, cl,
		decision(a.Session, 1, exp, nil),
		decision(b.Session, 1, exp, nil),
		decision("s-simulated", 1, exp, nil),
		decision(a.Session, 2, exp, func(d *schemas.Decision) { d.Holdout = true }), // the control group
		decision(a.Session, 3, tg.clock.ms(-time.Second), nil),                      // expired
		decision(a.Session, 4, exp, func(d *schemas.Decision) { d.Action, d.InviteID = schemas.ActionWithdraw, []byte(a.Session+"/1") }),
	)
	ev := sa.next(t, 10*time.Second)
	if ev.event != "invite" || ev.id != a.Session+"/1" {
		t.Fatalf("first event of a: %+v", ev)
	}
	d, err := schemas.ParseDecision([]byte(ev.data))
	if err != nil || string(d.Session) != a.Session || string(d.Signals[0].Detail) != "card-number" {
		t.Fatalf("data %q: %v", ev.data, err)
	}
	if ev := sa.next(t, 5*time.Second); ev.event != "withdraw" || ev.id != a.Session+"/4" {
		t.Fatalf("second event of a: %+v, want the withdraw (holdout and expired skipped)", ev)
	}
	sa.none(t, 300*time.Millisecond)
	if ev := sb.next(t, 5*time.Second); ev.id != b.Session+"/1" {
		t.Fatalf("b got %+v", ev)
	}
	sb.none(t, 300*time.Millisecond)
	if got := testutil.ToFloat64(tg.g.m.decisions.WithLabelValues("holdout")); got != 1 {
		t.Fatalf("holdout decisions counted %v", got)
	}
}

func TestInvitesReconnect(t *testing.T) {
	tg := newGateway(t, nil, nil)
	s := tg.newSession(t)
	cl := producer(t, tg.broker.Addr())
	exp := tg.clock.ms(time.Minute)

	st := tg.openStream(t, s.Token, "")
	publish(t, cl, decision(s.Session, 1, exp, nil))
	first := st.next(t, 10*time.Second)
	st.close()
	publish(t, cl, decision(s.Session, 2, exp, nil), decision(s.Session, 3, exp, nil))
	kafkatest.WaitFor(t, "decisions buffered", 10*time.Second, func() bool {
		return testutil.ToFloat64(tg.g.m.decisions.WithLabelValues("buffered")) == 3
	})

	// Reconnecting with Last-Event-ID gets what was missed, and only that.
	st = tg.openStream(t, s.Token, first.id)
	for _, want := range []string{s.Session + "/2", s.Session + "/3"} {
		if ev := st.next(t, 5*time.Second); ev.id != want {
			t.Fatalf("after reconnecting: %+v, want %s", ev, want)
		}
	}
	st.none(t, 300*time.Millisecond)
	// A repeat of a decision (at-least-once delivery) is not sent again.
	publish(t, cl, decision(s.Session, 3, exp, nil), decision(s.Session, 4, exp, nil))
	if ev := st.next(t, 5*time.Second); ev.id != s.Session+"/4" {
		t.Fatalf("after a repeat: %+v", ev)
	}
	st.close()

	// A new page of the visit (no Last-Event-ID) gets every live one;
	// once they expire, none.
	st = tg.openStream(t, s.Token, "")
	for i := 1; i <= 4; i++ {
		if ev := st.next(t, 5*time.Second); ev.id != s.Session+"/"+strconv.Itoa(i) {
			t.Fatalf("new page: %+v", ev)
		}
	}
	st.close()
	tg.clock.advance(2 * time.Minute)
	tg.openStream(t, s.Token, "").none(t, 300*time.Millisecond)
}

func TestInvitesReadCommittedAndLookBack(t *testing.T) {
	b := startBroker(t)
	cl := producer(t, b.Addr())
	exp := time.Now().Add(time.Minute).UnixMilli()
	// Before the gateway starts: one decision within the look-back, one
	// stamped before it.
	old := &kgo.Record{Topic: schemas.TopicInvites, Key: []byte("w-before"), Timestamp: time.Now().Add(-10 * time.Minute),
		Value: schemas.AppendDecision(nil, decision("w-before", 1, exp, nil))}
	recent := &kgo.Record{Topic: schemas.TopicInvites, Key: []byte("w-before"),
		Value: schemas.AppendDecision(nil, decision("w-before", 2, exp, nil))}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, old, recent).FirstErr(); err != nil {
		t.Fatal(err)
	}
	tg := newGateway(t, b, nil)
	s := tg.newSession(t)
	st := tg.openStream(t, s.Token, "")

	// A decision in an aborted transaction is never sent; the committed
	// one after it is.
	txn := producer(t, b.Addr(), kgo.TransactionalID("test-txn"))
	for _, commit := range []kgo.TransactionEndTry{kgo.TryAbort, kgo.TryCommit} {
		if err := txn.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		seq := uint32(1)
		if commit {
			seq = 2
		}
		d := decision(s.Session, seq, exp, nil)
		if err := txn.ProduceSync(ctx, &kgo.Record{Topic: schemas.TopicInvites, Key: d.Session, Value: schemas.AppendDecision(nil, d)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if err := txn.EndTransaction(ctx, commit); err != nil {
			t.Fatal(err)
		}
	}
	if ev := st.next(t, 10*time.Second); ev.id != s.Session+"/2" {
		t.Fatalf("got %+v, want only the committed decision", ev)
	}
	st.none(t, 300*time.Millisecond)

	// The token of a session is needed to read it: a test-made one here.
	tok, _ := tg.g.tokens.issue("w-before", testSite, tg.clock.now())
	before := tg.openStream(t, tok, "")
	if ev := before.next(t, 5*time.Second); ev.id != "w-before/2" {
		t.Fatalf("decision made before the start, within the look-back: %+v", ev)
	}
	before.none(t, 300*time.Millisecond)
}

func TestStreamCaps(t *testing.T) {
	tg := newGateway(t, nil, func(c *Config) {
		c.StreamsPerSession, c.StreamsPerIP = 2, 3
		c.ClientIPHeader = "X-Forwarded-For"
	})
	// A session at its cap loses its oldest stream (a page the tab left).
	s := tg.newSession(t)
	first := tg.openStream(t, s.Token, "")
	tg.openStream(t, s.Token, "")
	third := tg.openStream(t, s.Token, "")
	if third.code != http.StatusOK {
		t.Fatalf("third stream of a session: %d", third.code)
	}
	select {
	case <-first.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the oldest stream of the session is still open")
	}
	// An address at its cap gets 429.
	if st := tg.openStream(t, tg.newSession(t).Token, ""); st.code != http.StatusOK {
		t.Fatalf("another session's stream: %d", st.code)
	}
	if st := tg.openStream(t, tg.newSession(t).Token, ""); st.code != http.StatusTooManyRequests {
		t.Fatalf("fourth stream from one address, cap 3: %d, want 429", st.code)
	}
}

func TestStreamsEndOnClose(t *testing.T) {
	tg := newGateway(t, nil, nil)
	st := tg.openStream(t, tg.newSession(t).Token, "")
	tg.g.EndStreams()
	select {
	case <-st.done:
	case <-time.After(5 * time.Second):
		t.Fatal("a stream outlived EndStreams")
	}
	if tg.g.Ready() {
		t.Fatal("ready after EndStreams")
	}
}

func TestTrackerUnder5KBGzipped(t *testing.T) {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(Tracker())
	zw.Close()
	if buf.Len() >= 5<<10 {
		t.Fatalf("linger.js is %d bytes gzipped, budget 5 KiB", buf.Len())
	}
	t.Logf("linger.js: %d bytes, %d gzipped", len(Tracker()), buf.Len())

	tg := newGateway(t, nil, nil)
	r := tg.do(t, "GET", "/linger.js", "", nil, nil)
	if r.code != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/javascript") || !bytes.Equal(r.body, Tracker()) {
		t.Fatalf("GET /linger.js: %d %v", r.code, r.header)
	}
}

// TestNothingEchoedAsHTML checks that no page or script of the gateway
// parses text as HTML, and that the shop's pages forbid inline scripts.
func TestNothingEchoedAsHTML(t *testing.T) {
	sinks := regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function|setAttribute\("on`)
	inline := regexp.MustCompile(`<script>|<script [^>]*>[^<]|\son[a-z]+=|style=`)
	err := fs.WalkDir(web, "web", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := web.ReadFile(name)
		if m := sinks.Find(b); m != nil {
			t.Errorf("%s uses %s", name, m)
		}
		if strings.HasSuffix(name, ".html") && inline.Match(b) {
			t.Errorf("%s has an inline script, handler or style (the CSP refuses them)", name)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	tg := newGateway(t, nil, nil)
	for _, p := range []string{"/", "/index.html", "/product.html", "/checkout.html", "/thanks.html", "/widget.js", "/shop.css"} {
		r := tg.do(t, "GET", p, "", nil, nil)
		if r.code != 200 || !strings.Contains(r.header.Get("Content-Security-Policy"), "script-src 'self'") || r.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("GET %s: %d %v", p, r.code, r.header)
		}
		if strings.HasSuffix(p, ".html") && !bytes.Contains(r.body, []byte(`<script src="/linger.js"`)) {
			t.Fatalf("GET %s: the page does not load the tracker:\n%s", p, r.body)
		}
	}
	if r := tg.do(t, "GET", "/checkout.html", "", nil, nil); !bytes.Contains(r.body, []byte(`data-linger-kind="checkout"`)) || !bytes.Contains(r.body, []byte(`id="card-number"`)) {
		t.Fatalf("checkout page:\n%s", r.body)
	}
	for _, p := range []string{"/layout.html", "/pages/cart.html", "/nothing.html"} {
		if r := tg.do(t, "GET", p, "", nil, nil); r.code != http.StatusNotFound {
			t.Fatalf("GET %s: %d, want 404", p, r.code)
		}
	}
	// What a client sends comes back only as JSON.
	s := tg.newSession(t)
	r := tg.postEvents(t, s.Token, `{"v":1,"type":"<script>alert(1)</script>","session":"`+s.Session+`","ts":1}`)
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") || r.header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("answer of type %q", ct)
	}
}

func TestConfigValidate(t *testing.T) {
	c := Config{Secret: []byte("short"), AllowedOrigins: []string{"shop.example.com"}, MaxEvents: -1}
	c.setDefaults()
	err := c.Validate()
	for _, want := range []string{"no brokers", "secret has 5 bytes", "allowed origin", "events per request"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v, want %q", err, want)
		}
	}
}
