package gateway

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lingerhq/linger/internal/kafkatest"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// rawConn is a client connection written by hand, for requests that a
// well-behaved client would not send.
type rawConn struct {
	net.Conn
	r *bufio.Reader
}

// dial opens a connection to the test gateway from the loopback address
// from (127.0.0.1 when empty).
func (tg *testGateway) dial(t *testing.T, from string) *rawConn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	c, err := d.Dial("tcp", tg.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{Conn: c, r: bufio.NewReader(c)}
}

// send writes a request's head, its headers given one a line.
func (c *rawConn) send(t *testing.T, method, path string, headers ...string) {
	t.Helper()
	head := method + " " + path + " HTTP/1.1\r\nHost: gateway.test\r\nUser-Agent: " + browserUA + "\r\n"
	for _, h := range headers {
		head += h + "\r\n"
	}
	if _, err := io.WriteString(c, head+"\r\n"); err != nil {
		t.Fatal(err)
	}
}

// answer reads an answer's head within d.
func (c *rawConn) answer(d time.Duration) (*http.Response, error) {
	_ = c.SetReadDeadline(time.Now().Add(d))
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		return nil, err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp, nil
}

// closedWithin reports whether the server closes the connection within d
// (the client reads EOF, or a reset).
func (c *rawConn) closedWithin(d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c.r)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return false
	}
	return true
}

// openFDs counts the process's open file descriptors (Linux), -1 where
// /proc is not there.
func openFDs() int {
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(es)
}

// TestRefusalsCloseAtOnce sends 200 requests that declare a body and send
// none, each refused before its body would be read (no token, an origin
// not allowed, a rate limit, a declared length over the cap): every one
// must be answered at once with Connection: close and its connection
// closed by the server, not held while Go waits for the body; file
// descriptors and goroutines then return to where they were.
func TestRefusalsCloseAtOnce(t *testing.T) {
	tg := newGateway(t, nil, func(c *Config) {
		c.MaxConnsPerIP = 1000
		c.IPRate, c.IPBurst = 1e6, 1e6
		c.SessionRate, c.SessionBurst = 0.001, 1
	})
	limited := tg.newSession(t)
	tg.postEvents(t, limited.Token, event(limited.Session, tg.clock.ms(0))).accepted(t) // its one token
	const perKind = 50
	var good []string // a session each: one post each is within the session limit
	for range perKind {
		good = append(good, tg.newSession(t).Token)
	}
	kinds := []struct {
		name    string
		code    int
		headers func(i int) []string
	}{
		{"no token", http.StatusUnauthorized, func(int) []string { return []string{"Content-Length: 1000"} }},
		{"origin not allowed", http.StatusForbidden, func(i int) []string {
			return []string{"Content-Length: 1000", "Origin: https://evil.example", "Authorization: Bearer " + good[i]}
		}},
		{"rate limited", http.StatusTooManyRequests, func(int) []string { return []string{"Content-Length: 1000", "Authorization: Bearer " + limited.Token} }},
		{"declared too large", http.StatusRequestEntityTooLarge, func(i int) []string {
			return []string{"Content-Length: 10485760", "Authorization: Bearer " + good[i]}
		}},
	}
	time.Sleep(100 * time.Millisecond) // the client's idle connections settle
	runtime.GC()
	goroutines, fds, conns0 := runtime.NumGoroutine(), openFDs(), testutil.ToFloat64(tg.g.m.conns)

	start := time.Now()
	var conns []*rawConn
	for _, k := range kinds {
		for i := range perKind {
			c := tg.dial(t, "")
			c.send(t, "POST", "/v1/events", append([]string{"Content-Type: application/json"}, k.headers(i)...)...)
			conns = append(conns, c)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(conns))
	for i, c := range conns {
		k := kinds[i/perKind]
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := c.answer(2 * time.Second)
			switch {
			case err != nil:
				errs <- fmt.Errorf("%s: no answer: %v", k.name, err)
			case resp.StatusCode != k.code:
				errs <- fmt.Errorf("%s: %d, want %d", k.name, resp.StatusCode, k.code)
			case !resp.Close:
				errs <- fmt.Errorf("%s: no Connection: close", k.name)
			case !c.closedWithin(2 * time.Second):
				errs <- fmt.Errorf("%s: the connection is still open 2 s after the answer", k.name)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("%d refusals answered and closed in %v", len(conns), time.Since(start).Round(time.Millisecond))
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("200 refusals took %v", el)
	}
	for _, c := range conns {
		c.Close()
	}
	kafkatest.WaitFor(t, "connections closed", 5*time.Second, func() bool { return testutil.ToFloat64(tg.g.m.conns) <= conns0 })
	kafkatest.WaitFor(t, "goroutines back to their baseline", 5*time.Second, func() bool { return runtime.NumGoroutine() <= goroutines+2 })
	if fds >= 0 {
		kafkatest.WaitFor(t, "file descriptors back to their baseline", 5*time.Second, func() bool { return openFDs() <= fds+2 })
	}
	if got := testutil.ToFloat64(tg.g.m.inFlight); got != 0 {
		t.Errorf("%v requests in flight after all were answered", got)
	}
}

// TestEveryConnectionHasABoundedLife checks the server's deadlines: a
// connection that sends half a request head, or a body that never comes
// for an accepted request, is cut off and answered 408 where it can be,
// with no address of the gateway in what it says.
func TestEveryConnectionHasABoundedLife(t *testing.T) {
	tg := newGatewayWith(t, nil, nil, func(g *Gateway) { g.bodyTimeout = 300 * time.Millisecond })
	s := tg.newSession(t)

	// A body that stops half way.
	c := tg.dial(t, "")
	c.send(t, "POST", "/v1/events", "Content-Length: 100", "Authorization: Bearer "+s.Token)
	io.WriteString(c, `[{"v":1,`)
	resp, err := c.answer(3 * time.Second)
	if err != nil {
		t.Fatalf("a stalled body: no answer: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusRequestTimeout || !resp.Close {
		t.Fatalf("a stalled body: %d (close %v) %s, want 408 and Connection: close", resp.StatusCode, resp.Close, body)
	}
	host, _, _ := net.SplitHostPort(tg.srv.Listener.Addr().String())
	if bytes.Contains(body, []byte(host)) || bytes.Contains(body, []byte("tcp")) {
		t.Fatalf("the answer names the connection: %s", body)
	}
	if !c.closedWithin(2 * time.Second) {
		t.Fatal("a stalled body: the connection stays open")
	}

	// A body that is not HTTP: the error says nothing of the connection.
	c = tg.dial(t, "")
	c.send(t, "POST", "/v1/events", "Transfer-Encoding: chunked", "Authorization: Bearer "+s.Token)
	io.WriteString(c, "zz\r\n")
	if resp, err = c.answer(3 * time.Second); err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadRequest || bytes.Contains(body, []byte(host)) {
		t.Fatalf("a broken chunked body: %d %s", resp.StatusCode, body)
	}

	// Half a request head: the server's header timeout (5 s) ends it.
	c = tg.dial(t, "")
	io.WriteString(c, "POST /v1/events HTTP/1.1\r\nHost: x\r\n")
	if !c.closedWithin(headerTimeout + 3*time.Second) {
		t.Fatal("half a request head: the connection stays open")
	}
}

// TestConnectionCaps checks the caps on open connections, per client
// address and in all: a connection over one is answered and closed as it
// is accepted, counted, and the gauges come back down.
func TestConnectionCaps(t *testing.T) {
	tg := newGateway(t, nil, func(c *Config) { c.MaxConnsPerIP, c.MaxConns = 3, 5 })
	var open []*rawConn
	for range 3 {
		open = append(open, tg.dial(t, "127.0.0.1"))
	}
	kafkatest.WaitFor(t, "3 connections counted", 5*time.Second, func() bool { return testutil.ToFloat64(tg.g.m.conns) == 3 })

	over := tg.dial(t, "127.0.0.1")
	resp, err := over.answer(2 * time.Second)
	if err != nil || resp.StatusCode != http.StatusTooManyRequests || !resp.Close {
		t.Fatalf("a 4th connection from one address, cap 3: %v %v", resp, err)
	}
	if !over.closedWithin(time.Second) {
		t.Fatal("the refused connection stays open")
	}

	// Another address may open its own, up to the total.
	open = append(open, tg.dial(t, "127.0.0.2"), tg.dial(t, "127.0.0.2"))
	kafkatest.WaitFor(t, "5 connections counted", 5*time.Second, func() bool { return testutil.ToFloat64(tg.g.m.conns) == 5 })
	over = tg.dial(t, "127.0.0.3")
	if resp, err = over.answer(2 * time.Second); err != nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("a 6th connection, cap 5 in all: %v %v", resp, err)
	}
	if a, all := testutil.ToFloat64(tg.g.m.connRefused.WithLabelValues("address")), testutil.ToFloat64(tg.g.m.connRefused.WithLabelValues("total")); a != 1 || all != 1 {
		t.Fatalf("refusals counted: address %v, total %v; want 1 and 1", a, all)
	}

	// Those open still work; once they close, new ones are let in.
	open[0].send(t, "GET", "/linger.js")
	if resp, err = open[0].answer(2 * time.Second); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("a request on a connection within the caps: %v %v", resp, err)
	}
	for _, c := range open {
		c.Close()
	}
	kafkatest.WaitFor(t, "no connection counted", 5*time.Second, func() bool { return testutil.ToFloat64(tg.g.m.conns) == 0 })
	c := tg.dial(t, "127.0.0.1")
	c.send(t, "GET", "/linger.js")
	if resp, err = c.answer(2 * time.Second); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("after the others closed: %v %v", resp, err)
	}
}

// TestForwardedAddressCap: behind a proxy every connection comes from the
// proxy, so the per-address cap applies to each forwarded address's
// requests in flight, and the proxy's own connections are not capped per
// address.
func TestForwardedAddressCap(t *testing.T) {
	tg := newGateway(t, nil, func(c *Config) {
		c.MaxConnsPerIP = 3
		c.ClientIPHeader = "X-Forwarded-For"
	})
	from := func(ip string) map[string]string { return map[string]string{"X-Forwarded-For": ip} }
	s := tg.newSession(t)
	// Three requests in flight for one client: its invite streams.
	for range 3 {
		st := tg.openStreamWith(t, s.Token, from("203.0.113.5"))
		if st.code != http.StatusOK {
			t.Fatalf("stream: %d", st.code)
		}
	}
	kafkatest.WaitFor(t, "3 requests in flight", 5*time.Second, func() bool { return testutil.ToFloat64(tg.g.m.inFlight) >= 3 })
	r := tg.do(t, "POST", "/v1/sessions", "", strings.NewReader(`{"site":"shop-test"}`), from("203.0.113.5"))
	if r.code != http.StatusTooManyRequests || !r.close {
		t.Fatalf("a 4th request in flight for one forwarded address, cap 3: %d %s", r.code, r.body)
	}
	r.errorText(t)
	// Another client behind the same proxy is not held back, though the
	// proxy has more than 3 connections open.
	if r := tg.do(t, "POST", "/v1/sessions", "", strings.NewReader(`{"site":"shop-test"}`), from("203.0.113.6")); r.code != http.StatusCreated {
		t.Fatalf("another forwarded address: %d %s", r.code, r.body)
	}
	if got := testutil.ToFloat64(tg.g.m.conns); got < 4 {
		t.Fatalf("%v connections from the proxy, want at least 4 (no per-address cap on them)", got)
	}
}

// openStreamWith opens the invite stream of token with extra headers.
func (tg *testGateway) openStreamWith(t *testing.T, token string, header map[string]string) *stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", tg.srv.URL+"/v1/invites?token="+token, nil)
	for k, v := range header {
		req.Header.Set(k, v)
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
		_, _ = io.Copy(io.Discard, resp.Body)
	}()
	t.Cleanup(s.close)
	return s
}

// TestStreamOutlivesRequestTimeouts: the server's read and write timeouts
// are for requests; an invite stream lives on (its own deadlines).
func TestStreamOutlivesRequestTimeouts(t *testing.T) {
	tg := newGatewayWith(t, nil, func(c *Config) { c.Heartbeat = 200 * time.Millisecond }, func(g *Gateway) {
		g.timeouts.read, g.timeouts.write = 300*time.Millisecond, 300*time.Millisecond
	})
	s := tg.newSession(t)
	st := tg.openStream(t, s.Token, "")
	time.Sleep(time.Second)
	publish(t, producer(t, tg.broker.Addr()), decision(s.Session, 1, tg.clock.ms(time.Minute), nil))
	if ev := st.next(t, 10*time.Second); ev.id != s.Session+"/1" {
		t.Fatalf("after the request timeouts: %+v", ev)
	}
}

// TestStreamEndsWhenTokenExpires: an invite stream lasts as long as its
// token, not longer.
func TestStreamEndsWhenTokenExpires(t *testing.T) {
	tg := newGateway(t, nil, func(c *Config) { c.TokenTTL = 2 * time.Second })
	st := tg.openStream(t, tg.newSession(t).Token, "")
	if st.code != http.StatusOK {
		t.Fatalf("stream: %d", st.code)
	}
	select {
	case <-st.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the stream outlived its token")
	}
	if got := testutil.ToFloat64(tg.g.m.streamsExpired); got != 1 {
		t.Fatalf("streams ended by their token counted %v, want 1", got)
	}
}

func TestBearerAnyCase(t *testing.T) {
	tg := newGateway(t, nil, nil)
	s := tg.newSession(t)
	body := func() io.Reader { return strings.NewReader("[" + event(s.Session, tg.clock.ms(0)) + "]") }
	for _, auth := range []string{"Bearer " + s.Token, "bearer " + s.Token, "BEARER  " + s.Token, " bEaReR " + s.Token + " "} {
		if r := tg.do(t, "POST", "/v1/events", "", body(), map[string]string{"Authorization": auth}); r.code != http.StatusAccepted {
			t.Errorf("Authorization %q: %d %s", auth, r.code, r.body)
		}
	}
	for _, auth := range []string{"Basic " + s.Token, "Bearer", "Bearer" + s.Token, s.Token} {
		if r := tg.do(t, "POST", "/v1/events", "", body(), map[string]string{"Authorization": auth}); r.code != http.StatusUnauthorized {
			t.Errorf("Authorization %q: %d, want 401", auth, r.code)
		}
	}
}

func TestAddrKey(t *testing.T) {
	for _, tc := range []struct{ a, b string }{
		{"2001:db8:1:2:aaaa::1", "2001:db8:1:2:ffff:ffff:ffff:ffff"},
		{"::ffff:198.51.100.7", "198.51.100.7"},
		{"fe80::1%eth0", "fe80::2"},
	} {
		if ka, kb := addrKey(netip.MustParseAddr(tc.a).WithZone("")), addrKey(netip.MustParseAddr(tc.b)); ka != kb {
			t.Errorf("%s and %s: keys %q and %q, want one", tc.a, tc.b, ka, kb)
		}
	}
	for _, tc := range []struct{ a, b string }{
		{"2001:db8:1:2::1", "2001:db8:1:3::1"},
		{"198.51.100.7", "198.51.100.8"},
	} {
		if addrKey(netip.MustParseAddr(tc.a)) == addrKey(netip.MustParseAddr(tc.b)) {
			t.Errorf("%s and %s share a key", tc.a, tc.b)
		}
	}
	for in, want := range map[string]string{"203.0.113.7": "203.0.113.7", "203.0.113.7:4711": "203.0.113.7", "[2001:db8::1]:4711": "2001:db8::/64", "nonsense": ""} {
		a, ok := parseAddr(in)
		if got := addrKey(a); ok != (want != "") || (ok && got != want) {
			t.Errorf("parseAddr(%q): %q %v, want %q", in, got, ok, want)
		}
	}
}

// TestIPv6ClientsLimitedBy64: a client that changes its IPv6 address
// within its /64 stays one client for the rate limits.
func TestIPv6ClientsLimitedBy64(t *testing.T) {
	tg := newGateway(t, nil, func(c *Config) {
		c.IPRate, c.IPBurst = 0.001, 3
		c.ClientIPHeader = "X-Forwarded-For"
	})
	post := func(ip string) int {
		return tg.do(t, "POST", "/v1/sessions", "", strings.NewReader(`{"site":"shop-test"}`), map[string]string{"X-Forwarded-For": ip}).code
	}
	for i, ip := range []string{"2001:db8:7:7::1", "2001:db8:7:7::2", "2001:db8:7:7:ffff::3"} {
		if code := post(ip); code != http.StatusCreated {
			t.Fatalf("request %d: %d", i, code)
		}
	}
	if code := post("2001:db8:7:7::4"); code != http.StatusTooManyRequests {
		t.Fatalf("a 4th address of one /64, burst 3: %d, want 429", code)
	}
	if code := post("2001:db8:7:8::1"); code != http.StatusCreated {
		t.Fatalf("another /64: %d", code)
	}
}

// TestClientIPHeaderFromPublicAddress: the header coming straight from a
// public address is counted, and warned about at most once a minute.
func TestClientIPHeaderFromPublicAddress(t *testing.T) {
	var logs syncBuffer
	tg := newGateway(t, nil, func(c *Config) {
		c.ClientIPHeader = "X-Forwarded-For"
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	})
	send := func(peer string) {
		req := httptest.NewRequest("GET", "/linger.js", nil)
		req.RemoteAddr = peer
		req.Header.Set("X-Forwarded-For", "198.51.100.1")
		tg.g.Handler().ServeHTTP(httptest.NewRecorder(), req)
	}
	send("10.1.2.3:5000")
	send("[fd00::1]:5000")
	if got := testutil.ToFloat64(tg.g.m.untrustedProxy); got != 0 {
		t.Fatalf("requests through private addresses counted %v", got)
	}
	send("192.0.2.1:5000")
	send("192.0.2.2:5000")
	if got := testutil.ToFloat64(tg.g.m.untrustedProxy); got != 2 {
		t.Fatalf("requests from public addresses counted %v, want 2", got)
	}
	if n := strings.Count(logs.String(), "client address header came from a public address"); n != 1 {
		t.Fatalf("%d warnings, want 1 a minute:\n%s", n, logs.String())
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writes (a logger).
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
