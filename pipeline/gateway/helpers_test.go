package gateway

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lingerhq/linger/internal/kafkatest"
	"github.com/lingerhq/linger/pipeline/broker"
	"github.com/lingerhq/linger/schemas"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind: every
// gateway, stream, client and broker a test starts must be stopped by it.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testSecret is the token secret of test gateways.
var testSecret = []byte("Jq4v-Tz8w_Lc2R9xNb7KpYd3mHs6aFe0")

// clock is a wall clock a test can move forward.
type clock struct{ off atomic.Int64 }

func (c *clock) now() time.Time           { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *clock) advance(d time.Duration)  { c.off.Add(int64(d)) }
func (c *clock) ms(d time.Duration) int64 { return c.now().Add(d).UnixMilli() }

// testGateway is a gateway on an embedded broker (kfake), served by an
// httptest server with the gateway's own server settings and connection
// caps (as Listen serves it).
type testGateway struct {
	g      *Gateway
	srv    *httptest.Server
	broker *broker.Broker
	reg    *prometheus.Registry
	clock  *clock
}

func startBroker(t *testing.T) *broker.Broker {
	t.Helper()
	return kafkatest.StartBroker(t, broker.Config{Partitions: 2, Logger: quietLogger()})
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelError}))
}

// newGateway starts a gateway on b (a new broker when nil), with cfg
// changed by mutate, and waits until it is ready.
func newGateway(t *testing.T, b *broker.Broker, mutate func(*Config)) *testGateway {
	t.Helper()
	return newGatewayWith(t, b, mutate, nil)
}

// newGatewayWith is newGateway, with the gateway changed by adjust before
// its server starts (its timeouts).
func newGatewayWith(t *testing.T, b *broker.Broker, mutate func(*Config), adjust func(*Gateway)) *testGateway {
	t.Helper()
	if b == nil {
		b = startBroker(t)
	}
	tg := &testGateway{broker: b, reg: prometheus.NewRegistry(), clock: &clock{}}
	cfg := Config{Brokers: []string{b.Addr()}, Secret: testSecret, Logger: quietLogger(), Registerer: tg.reg, Now: tg.clock.now, Shop: true}
	if mutate != nil {
		mutate(&cfg)
	}
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if adjust != nil {
		adjust(g)
	}
	g.Start()
	tg.g = g
	tg.srv = httptest.NewUnstartedServer(nil)
	tg.srv.Config = g.httpServer()
	tg.srv.Listener = g.limitListener(tg.srv.Listener)
	tg.srv.Start()
	t.Cleanup(func() {
		g.EndStreams()
		tg.srv.Close()
		g.Close()
	})
	kafkatest.WaitFor(t, "gateway ready", 10*time.Second, g.Ready)
	return tg
}

type session struct {
	Session   string `json:"session"`
	Token     string `json:"token"`
	ExpiresAt int64  `json:"expires_at"`
}

// testSite is the site of the sessions newSession makes.
const testSite = "shop-test"

func (tg *testGateway) newSession(t *testing.T) session {
	t.Helper()
	return tg.newSessionFor(t, testSite)
}

// newSessionFor makes a session for site (none when empty).
func (tg *testGateway) newSessionFor(t *testing.T, site string) session {
	t.Helper()
	var body io.Reader
	if site != "" {
		body = strings.NewReader(`{"site":` + strconv.Quote(site) + `}`)
	}
	resp := tg.do(t, "POST", "/v1/sessions", "", body, nil)
	if resp.code != http.StatusCreated {
		t.Fatalf("POST /v1/sessions: %d %s", resp.code, resp.body)
	}
	var s session
	if err := json.Unmarshal(resp.body, &s); err != nil || s.Session == "" || s.Token == "" {
		t.Fatalf("POST /v1/sessions: %q: %v", resp.body, err)
	}
	return s
}

type response struct {
	code   int
	header http.Header
	body   []byte
	close  bool // the answer said Connection: close
}

// errorText returns the "error" of a JSON error body, failing the test if
// the body is not one.
func (r response) errorText(t *testing.T) string {
	t.Helper()
	var e struct {
		Error string `json:"error"`
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("error answer of type %q, want JSON: %s", ct, r.body)
	}
	if err := json.Unmarshal(r.body, &e); err != nil || e.Error == "" {
		t.Fatalf("error answer %q is not {\"error\": ...}", r.body)
	}
	return e.Error
}

// do sends a request with an optional bearer token and headers.
func (tg *testGateway) do(t *testing.T, method, path, token string, body io.Reader, header map[string]string) response {
	t.Helper()
	req, err := http.NewRequest(method, tg.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("User-Agent", browserUA)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := tg.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, b, resp.Close}
}

const browserUA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"

// postEvents posts events (JSON values) for a token.
func (tg *testGateway) postEvents(t *testing.T, token string, events ...string) response {
	t.Helper()
	return tg.do(t, "POST", "/v1/events", token, strings.NewReader("["+strings.Join(events, ",")+"]"), map[string]string{"Content-Type": "application/json"})
}

// event returns a valid v1 event of session at ts.
func event(session string, ts int64) string {
	return fmt.Sprintf(`{"v":1,"type":"page_view","session":%q,"ts":%d,"page":{"url":"/checkout","kind":"checkout"}}`, session, ts)
}

type accepted struct {
	Accepted int `json:"accepted"`
	Rejected int `json:"rejected"`
	Clamped  int `json:"clamped"`
	Errors   []struct {
		Index  int    `json:"index"`
		Reason string `json:"reason"`
	} `json:"errors"`
}

func (r response) accepted(t *testing.T) accepted {
	t.Helper()
	if r.code != http.StatusAccepted {
		t.Fatalf("status %d, want 202: %s", r.code, r.body)
	}
	var a accepted
	if err := json.Unmarshal(r.body, &a); err != nil {
		t.Fatal(err)
	}
	return a
}

// collector reads a topic from the start, read committed, in the
// background.

// producer writes records to the broker, optionally in a transaction.
func producer(t *testing.T, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// decision returns a v1 decision of session, the seq-th, expiring at exp.
func decision(session string, seq uint32, exp int64, mutate func(*schemas.Decision)) *schemas.Decision {
	d := &schemas.Decision{
		ID: schemas.AppendDecisionID(nil, []byte(session), seq), Session: []byte(session), Action: schemas.ActionInvite,
		Reason: schemas.ReasonConfusion, Score: 0.8, Scores: schemas.Scores{Abandonment: 0.2, Confusion: 0.8},
		Signals: []schemas.Signal{{Name: "form_errors", Value: 2.6, Weight: 2.5, Detail: []byte("card-number")}},
		Page:    schemas.Page{URL: []byte("/checkout.html"), Kind: schemas.KindCheckout},
		EventTS: exp - 60_000, DecidedAt: exp - 60_000, ExpiresAt: exp, Model: []byte("m1-test"), Team: []byte("service"),
	}
	if mutate != nil {
		mutate(d)
	}
	return d
}

func publish(t *testing.T, cl *kgo.Client, ds ...*schemas.Decision) {
	t.Helper()
	var recs []*kgo.Record
	for _, d := range ds {
		recs = append(recs, &kgo.Record{Topic: schemas.TopicInvites, Key: d.Session, Value: schemas.AppendDecision(nil, d)})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// sse is one Server-Sent Event as a client sees it.
type sse struct{ id, event, data string }

// stream is an open GET /v1/invites, read in the background.
type stream struct {
	code   int
	events chan sse
	cancel context.CancelFunc
	done   chan struct{}
}

// openStream opens the invite stream of token, with Last-Event-ID when
// lastID is set, and returns once the answer's headers are in.
func (tg *testGateway) openStream(t *testing.T, token, lastID string) *stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", tg.srv.URL+"/v1/invites?token="+token, nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := tg.srv.Client().Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	s := &stream{code: resp.StatusCode, events: make(chan sse, 100), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		var ev sse
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.data != "" {
					s.events <- ev
				}
				ev = sse{}
			case strings.HasPrefix(line, "id: "):
				ev.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				ev.event = line[7:]
			case strings.HasPrefix(line, "data: "):
				ev.data = line[6:]
			}
		}
	}()
	t.Cleanup(s.close)
	return s
}

func (s *stream) close() {
	s.cancel()
	<-s.done
}

// next returns the next event, or fails after timeout.
func (s *stream) next(t *testing.T, timeout time.Duration) sse {
	t.Helper()
	select {
	case ev := <-s.events:
		return ev
	case <-time.After(timeout):
		t.Fatalf("no event within %v", timeout)
		return sse{}
	}
}

// none checks that no event comes within d.
func (s *stream) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case ev := <-s.events:
		t.Fatalf("unexpected event %+v", ev)
	case <-time.After(d):
	}
}
