//go:build soak

package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lingerhq/linger/schemas"
	"github.com/twmb/franz-go/pkg/kgo"
)

// badRecord is a record a producer that bypasses the gateway writes
// straight to Kafka, and the DLQ reason it must end up under.
type badRecord struct {
	topic  string
	key    string
	value  []byte
	reason string
}

// injected is a bad record as the broker stored it: where the DLQ record
// must say it was read.
type injected struct {
	badRecord
	partition int32
	offset    int64
}

// where names a record by its place, as the DLQ's source headers do.
type where struct {
	topic     string
	partition int32
	offset    int64
}

// oversizedBytes is the size of the oversized event: valid JSON that the
// decoder refuses as too large, and whose DLQ copy, headers added, would
// not fit the producer's limit if it were not cut.
const oversizedBytes = 1_000_000

// badRecords returns wave w's records for Kafka: one of each kind of input
// the processor must send to the DLQ with its reason, markup and control
// characters included, and one oversized event.
func badRecords(w int, nowMs int64) []badRecord {
	key := func(kind string) string { return fmt.Sprintf("bad-%d-%s", w, kind) }
	ev := func(k, rest string) []byte {
		return fmt.Appendf(nil, `{"v":1,"session":%q,"ts":%d,%s}`, key(k), nowMs, rest)
	}
	pad := fmt.Sprintf(`{"v":1,"type":"page_view","session":%q,"ts":%d,"page":{"url":"/","kind":"home"},"pad":"`, key("huge"), nowMs)
	huge := []byte(pad + strings.Repeat("x", oversizedBytes-len(pad)-2) + `"}`)
	ctl := fmt.Sprintf("bad-%d-\x01ctl", w) // a control character in the id itself
	return []badRecord{
		{schemas.TopicEvents, key("huge"), huge, "too_large"},
		{schemas.TopicEvents, key("json"), []byte(`{"v":1,"type":"page_view","session":"` + key("json") + `",`), "invalid_json"},
		{schemas.TopicEvents, key("array"), []byte(`[1,2,3]`), "not_object"},
		{schemas.TopicEvents, key("script"), ev("script", `"type":"form","form":"payment","field":"<script>alert(1)</script>","action":"focus"`), "bad_field"},
		{schemas.TopicEvents, key("jsurl"), ev("jsurl", `"type":"page_view","page":{"url":"javascript:alert(document.cookie)","kind":"home"}`), "bad_field"},
		{schemas.TopicEvents, key("crlf"), ev("crlf", `"type":"page_view","page":{"url":"/x\r\nSet-Cookie: a=b","kind":"home"}`), "bad_field"},
		{schemas.TopicEvents, key("nul"), ev("nul", `"type":"page_view","page":{"url":"/a\u0000b","kind":"home"}`), "bad_field"},
		{schemas.TopicEvents, key("bidi"), ev("bidi", `"type":"form","form":"pay\u202eyap","field":"card","action":"focus"`), "bad_field"},
		{schemas.TopicEvents, ctl, fmt.Appendf(nil, `{"v":1,"type":"exit_intent","session":"bad-%d-\u0001ctl","ts":%d}`, w, nowMs), "bad_field"},
		{schemas.TopicEvents, key("mismatch"), []byte(fmt.Sprintf(`{"v":1,"type":"exit_intent","session":"someone-else","ts":%d}`, nowMs)), "key_mismatch"},
		{schemas.TopicEvents, key("nots"), []byte(fmt.Sprintf(`{"v":1,"type":"exit_intent","session":%q}`, key("nots"))), "missing_ts"},
		{schemas.TopicEvents, key("future"), []byte(fmt.Sprintf(`{"v":1,"type":"exit_intent","session":%q,"ts":%d}`, key("future"), nowMs+3*3600_000)), "future_ts"},
		{schemas.TopicEvents, key("v2"), []byte(fmt.Sprintf(`{"v":2,"type":"exit_intent","session":%q,"ts":%d}`, key("v2"), nowMs)), "unsupported_version"},
		{schemas.TopicEvents, key("tsstr"), []byte(fmt.Sprintf(`{"v":1,"type":"exit_intent","session":%q,"ts":"%d"}`, key("tsstr"), nowMs)), "wrong_type"},
		{schemas.TopicFeedback, key("fbjson"), []byte(`{"v":1,"type":"invite_accepted","invite_id":`), "invalid_json"},
		{schemas.TopicFeedback, key("fbnul"), []byte(fmt.Sprintf(`{"v":1,"type":"invite_accepted","invite_id":"x\u0000y","session":%q,"ts":%d}`, key("fbnul"), nowMs)), "bad_field"},
	}
}

// injectKafka produces wave w's bad records straight to Kafka and returns
// where they landed.
func (s *soak) injectKafka(ctx context.Context, w int) []injected {
	recs := badRecords(w, time.Now().UnixMilli())
	krs := make([]*kgo.Record, len(recs))
	for i, r := range recs {
		krs[i] = &kgo.Record{Topic: r.topic, Key: []byte(r.key), Value: r.value}
	}
	res := s.kafka.ProduceSync(ctx, krs...)
	if err := res.FirstErr(); err != nil {
		s.fail("wave %d of bad records: %v", w, err)
		return nil
	}
	// Results come in the order the broker acknowledged them.
	out := make([]injected, len(recs))
	for _, r := range res {
		i := slices.Index(krs, r.Record)
		out[i] = injected{badRecord: recs[i], partition: r.Record.Partition, offset: r.Record.Offset}
	}
	return out
}

// probe is what a raw connection to the gateway saw: the status of the
// answer it got, if any, and when the gateway closed the connection.
type probe struct {
	status   int
	close    bool          // the answer said Connection: close
	answered time.Duration // from the request's last byte to the status line
	closed   time.Duration // from the request's last byte to the end of the connection
	err      error         // the connection outlived its limit, or failed
}

// rawProbe connects from ip, writes req (which may stop anywhere) and
// reads until the gateway closes the connection, or until limit.
func rawProbe(ctx context.Context, gwAddr, ip, req string, limit time.Duration) probe {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 10 * time.Second}
	c, err := d.DialContext(ctx, "tcp", gwAddr)
	if err != nil {
		return probe{err: err}
	}
	defer c.Close()
	if _, err := io.WriteString(c, req); err != nil {
		return probe{err: err}
	}
	sent := time.Now()
	_ = c.SetReadDeadline(sent.Add(limit))
	return readProbe(c, sent)
}

// readProbe reads an answer (or none) and the end of the connection.
func readProbe(c net.Conn, sent time.Time) probe {
	var p probe
	br := bufio.NewReader(c)
	if resp, err := http.ReadResponse(br, nil); err == nil {
		p.status, p.answered, p.close = resp.StatusCode, time.Since(sent), resp.Close
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	_, err := io.Copy(io.Discard, br)
	p.closed = time.Since(sent)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		p.err = fmt.Errorf("still open after %v (answer %d)", p.closed.Round(time.Millisecond), p.status)
	}
	return p
}

// stalledKind is one way of holding a connection without finishing its
// request, what the gateway must answer, and within how long it must end
// the connection.
type stalledKind struct {
	name   string
	req    func(host, token string) string
	status int // 0: no answer expected
	answer time.Duration
	limit  time.Duration
}

// stalledKinds: a declared body that never comes, refused for no token
// (at once), for a declared length over the cap (at once) or waited for
// with a valid token (the body timeout, 10 s); headers that never end
// (the header timeout, 5 s); a connection that sends nothing.
var stalledKinds = []stalledKind{
	{"no token, body never sent", func(host, _ string) string {
		return "POST /v1/events HTTP/1.1\r\nHost: " + host + "\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
	}, http.StatusUnauthorized, 3 * time.Second, 5 * time.Second},
	{"declared length over the cap", func(host, token string) string {
		return "POST /v1/events HTTP/1.1\r\nHost: " + host + "\r\nAuthorization: Bearer " + token + "\r\nContent-Length: 100000000\r\n\r\n"
	}, http.StatusRequestEntityTooLarge, 3 * time.Second, 5 * time.Second},
	{"valid token, body never sent", func(host, token string) string {
		return "POST /v1/events HTTP/1.1\r\nHost: " + host + "\r\nAuthorization: Bearer " + token + "\r\nContent-Length: 1000\r\n\r\n"
	}, http.StatusRequestTimeout, 25 * time.Second, 30 * time.Second},
	{"headers never end", func(host, _ string) string {
		return "POST /v1/events HTTP/1.1\r\nHost: " + host + "\r\nContent-Length: 10\r\n"
	}, 0, 0, 20 * time.Second},
	{"nothing sent", func(string, string) string { return "" }, 0, 0, 20 * time.Second},
}

// stallerAddrs and stalledPerKind: 8 addresses, each holding 4 stalled
// connections of each kind at once (20 each: under --max-conns-per-ip).
const (
	stallerAddrs   = 8
	stalledPerKind = 4
)

// stall holds stalled connections from several addresses at once and
// checks that each is answered as it must be and ended within its limit.
func (s *soak) stall(ctx context.Context, round int) {
	tokens := make([]string, stallerAddrs)
	for a := range tokens {
		// Each address stalls with a session of its own: the session
		// rate limit is not what ends these.
		c := newGWClient(s.gwURL, fmt.Sprintf("127.77.%d.%d", round, a+1))
		sess, err := c.newSession(ctx, "shop-a")
		c.close()
		if err != nil {
			s.fail("stalled clients: a session: %v", err)
			return
		}
		tokens[a] = sess.Token
	}
	host := strings.TrimPrefix(s.gwURL, "http://")
	var wg sync.WaitGroup
	for a := range stallerAddrs {
		ip := fmt.Sprintf("127.77.%d.%d", round, a+1)
		for _, k := range stalledKinds {
			for range stalledPerKind {
				wg.Add(1)
				go func() {
					defer wg.Done()
					p := rawProbe(ctx, host, ip, k.req(host, tokens[a]), k.limit)
					s.stats.stalled(k.name, p)
					switch {
					case p.err != nil:
						s.fail("stalled client (%s): %v", k.name, p.err)
					case k.status != 0 && (p.status != k.status || !p.close || p.answered > k.answer):
						s.fail("stalled client (%s): answer %d (close %v) after %v, want %d with Connection: close within %v",
							k.name, p.status, p.close, p.answered.Round(time.Millisecond), k.status, k.answer)
					}
				}()
			}
		}
	}
	wg.Wait()
}

// floodConns opens cap+extra connections from one address at once and
// holds them without a byte: the gateway must refuse those over
// --max-conns-per-ip as they come (429, closed), and end the others with
// the header timeout.
func (s *soak) floodConns(ctx context.Context, limit, extra int) {
	host := strings.TrimPrefix(s.gwURL, "http://")
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.66.0.1")}, Timeout: 10 * time.Second}
	conns := make([]net.Conn, 0, limit+extra)
	opened := time.Now()
	for range limit + extra {
		c, err := d.DialContext(ctx, "tcp", host)
		if err != nil {
			s.fail("flood: dial: %v", err)
			break
		}
		conns = append(conns, c)
	}
	var (
		wg                    sync.WaitGroup
		mu                    sync.Mutex
		refused, held, slower int
		longest               time.Duration
	)
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
			p := readProbe(c, opened)
			mu.Lock()
			defer mu.Unlock()
			longest = max(longest, p.closed)
			switch {
			case p.err != nil:
				s.fail("flood: %v", p.err)
			case p.status == http.StatusTooManyRequests && p.close && p.answered < 3*time.Second:
				refused++
			case p.status == 0 && p.closed >= 4*time.Second:
				held++ // ended by the header timeout
			default:
				slower++
				s.fail("flood: a connection answered %d after %v, closed after %v", p.status, p.answered, p.closed)
			}
		}()
	}
	wg.Wait()
	s.stats.mu.Lock()
	s.stats.floodRefused, s.stats.floodHeld, s.stats.floodLongest = refused, held, longest
	s.stats.mu.Unlock()
	if held > limit || refused < extra {
		s.fail("flood of %d connections from one address: %d held, %d refused; want at most %d held", len(conns), held, refused, limit)
	}
}

// floodRequests posts sessions from one address as fast as answers come:
// past the address's burst, 429 with Retry-After, at once.
func (s *soak) floodRequests(ctx context.Context, n int) {
	c := newGWClient(s.gwURL, "127.99.0.1")
	defer c.close()
	limited := 0
	for range n {
		code, hdr, _, err := c.do(ctx, "POST", "/v1/sessions", "", []byte(`{"site":"shop-a"}`))
		switch {
		case err != nil:
			s.fail("request flood: %v", err)
			return
		case code == http.StatusTooManyRequests:
			if hdr.Get("Retry-After") == "" {
				s.fail("request flood: 429 without Retry-After")
			}
			limited++
		case code != http.StatusCreated:
			s.fail("request flood: %d", code)
		}
	}
	s.stats.mu.Lock()
	s.stats.rateLimited = limited
	s.stats.mu.Unlock()
	if limited < n/3 {
		s.fail("request flood: %d of %d requests limited", limited, n)
	}
}

// floodStreams opens more invite streams from one address than
// --max-streams-per-ip allows, with sessions made elsewhere: the ones
// over the cap get 429 at once.
func (s *soak) floodStreams(ctx context.Context, limit, extra int) {
	maker := newGWClient(s.gwURL, "127.55.1.1")
	defer maker.close()
	c := newGWClient(s.gwURL, "127.55.0.1")
	defer c.close()
	var streams []*stream
	refused := 0
	for i := range limit + extra {
		sess, err := maker.newSession(ctx, "shop-b")
		if err != nil {
			s.fail("stream flood: session %d: %v", i, err)
			break
		}
		st, code, err := c.openStream(ctx, sess.Token)
		switch {
		case err != nil:
			s.fail("stream flood: %v", err)
		case code == http.StatusTooManyRequests:
			refused++
		case st != nil:
			streams = append(streams, st)
		default:
			s.fail("stream flood: stream %d answered %d", i, code)
		}
	}
	for _, st := range streams {
		st.close()
	}
	s.stats.mu.Lock()
	s.stats.streamsHeld, s.stats.streamsRefused = len(streams), refused
	s.stats.mu.Unlock()
	if len(streams) != limit || refused != extra {
		s.fail("stream flood: %d streams open, %d refused; want %d and %d", len(streams), refused, limit, extra)
	}
}

// hostileEvents posts, with a session of its own, batches that mix one
// valid event with events for another site and with markup: the valid
// one is taken, the others refused with their reasons and never produced.
func (s *soak) hostileEvents(ctx context.Context, n int) {
	c := newGWClient(s.gwURL, "127.88.1.1")
	defer c.close()
	for i := range n {
		sess, err := c.newSession(ctx, "shop-a")
		if err != nil {
			s.fail("hostile events: session: %v", err)
			return
		}
		v := &visitor{c: c, site: "shop-a", session: sess.Session, token: sess.Token, visitorID: fmt.Sprintf("v-hostile-%d", i)}
		good := pageView("/", schemas.KindHome)
		foreign := pageView("/", schemas.KindHome)
		foreign.Site = []byte("shop-b")
		script := form(schemas.FormFocus, "<img src=x onerror=alert(1)>")
		jsURL := pageView("javascript:alert(1)", schemas.KindHome)
		ans, err := s.postEvents(ctx, v, []schemas.Event{good, foreign, script, jsURL})
		if err != nil {
			s.fail("hostile events: %v", err)
			continue
		}
		reasons := map[string]int{}
		for _, e := range ans.Errors {
			reasons[e.Reason]++
		}
		if ans.Accepted != 1 || ans.Rejected != 3 || reasons["site_mismatch"] != 1 || reasons["bad_field"] != 2 {
			s.fail("hostile events: accepted %d, rejected %d %v; want 1, and 3 (site_mismatch 1, bad_field 2)", ans.Accepted, ans.Rejected, reasons)
		}
		s.stats.mu.Lock()
		s.stats.hostileSessions = append(s.stats.hostileSessions, sess.Session)
		s.stats.gwRejected["site_mismatch"]++
		s.stats.gwRejected["bad_field"] += 2
		s.stats.mu.Unlock()
	}
	// Sessions for sites the gateway does not serve are not made.
	for _, site := range []string{"shop-evil", "", "<b>"} {
		code, _, _, err := c.do(ctx, "POST", "/v1/sessions", "", []byte(`{"site":"`+site+`"}`))
		if err != nil || code != http.StatusBadRequest {
			s.fail("a session for site %q: %d %v, want 400", site, code, err)
		}
	}
}

// forgeFeedback reports on invites a session was never given: ids never
// issued (404), another session's invite (400), a platform-only type
// (403), another site (400), the platform route with a wrong token (401)
// and from a browser page (403). None reaches chat-feedback.
func (s *soak) forgeFeedback(ctx context.Context, n int) {
	c := newGWClient(s.gwURL, "127.88.2.1")
	defer c.close()
	var victim string
	select {
	case victim = <-s.firstInvite:
	case <-time.After(2 * time.Minute):
		s.fail("forged feedback: no visitor got an invite to forge feedback on")
		return
	case <-ctx.Done():
		return
	}
	expect := func(what string, code, want int, reason string) {
		if code != want {
			s.fail("forged feedback (%s): %d, want %d", what, code, want)
			return
		}
		s.stats.mu.Lock()
		s.stats.forged[fmt.Sprintf("%d %s", code, what)]++
		if reason != "" {
			s.stats.fbRejected[reason]++
		}
		s.stats.mu.Unlock()
	}
	for i := range n {
		sess, err := c.newSession(ctx, "shop-a")
		if err != nil {
			s.fail("forged feedback: session: %v", err)
			return
		}
		own := func(typ schemas.FeedbackType, invite, site string) []byte {
			return schemas.AppendFeedback(nil, &schemas.Feedback{Type: typ, InviteID: []byte(invite), Session: []byte(sess.Session), Site: []byte(site), TS: time.Now().UnixMilli()})
		}
		post := func(body []byte) int {
			code, _, _, err := c.do(ctx, "POST", "/v1/feedback", sess.Token, body)
			if err != nil {
				s.fail("forged feedback: %v", err)
			}
			return code
		}
		never := sess.Session + "/" + strconv.Itoa(1+i%3)
		expect("never issued", post(own(schemas.FeedbackAccepted, never, "")), http.StatusNotFound, "unknown_invite")
		expect("never issued, again", post(own(schemas.FeedbackAccepted, never, "")), http.StatusNotFound, "unknown_invite")
		expect("another session's invite", post(own(schemas.FeedbackAccepted, victim, "")), http.StatusBadRequest, "")
		theirs := schemas.AppendFeedback(nil, &schemas.Feedback{Type: schemas.FeedbackAccepted, InviteID: []byte(victim),
			Session: []byte(strings.SplitN(victim, "/", 2)[0]), TS: time.Now().UnixMilli()})
		expect("another session's record", post(theirs), http.StatusBadRequest, "")
		ownRating := schemas.AppendFeedback(nil, &schemas.Feedback{Type: schemas.FeedbackChatRated, InviteID: []byte(never),
			Session: []byte(sess.Session), Score: 5, TS: time.Now().UnixMilli()})
		expect("platform-only type", post(ownRating), http.StatusForbidden, "type_not_allowed")
		expect("another site", post(own(schemas.FeedbackShown, never, "shop-b")), http.StatusBadRequest, "site_mismatch")
		rated := schemas.AppendFeedback(nil, &schemas.Feedback{Type: schemas.FeedbackChatRated, InviteID: []byte(victim),
			Session: []byte(strings.SplitN(victim, "/", 2)[0]), Score: 1, TS: time.Now().UnixMilli()})
		code, _, _, err := c.do(ctx, "POST", "/v1/platform/feedback", "not-the-platform-token-"+strconv.Itoa(i), rated)
		if err != nil {
			s.fail("forged platform feedback: %v", err)
		}
		expect("platform route, wrong token", code, http.StatusUnauthorized, "")
		code, _, _, err = c.doHeader(ctx, "POST", "/v1/platform/feedback", s.platformToken, rated, http.Header{"Origin": {"https://evil.example"}})
		if err != nil {
			s.fail("forged platform feedback: %v", err)
		}
		expect("platform route from a page", code, http.StatusForbidden, "")
	}
}
