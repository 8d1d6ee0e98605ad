//go:build soak

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/lingerhq/linger/schemas"
	"github.com/twmb/franz-go/pkg/kgo"
)

// gwClient talks to the gateway's API as a browser would, from one
// loopback address of its own (127.0.0.0/8 is all the machine's), so the
// gateway's per-address limits see one client per visitor.
type gwClient struct {
	base string
	hc   *http.Client
	tr   *http.Transport
}

func newGWClient(base, ip string) *gwClient {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 10 * time.Second}
	tr := &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 2, IdleConnTimeout: 30 * time.Second, DisableCompression: true}
	return &gwClient{base: base, hc: &http.Client{Transport: tr}, tr: tr}
}

// close drops the client's kept-alive connections.
func (c *gwClient) close() { c.tr.CloseIdleConnections() }

// requestTimeout bounds one API request of the soak's clients: the
// gateway answers within its own 20 s, or it is a failure.
const requestTimeout = 30 * time.Second

// do sends a request (token as Bearer, if any) and returns the answer's
// status, headers and body.
func (c *gwClient) do(ctx context.Context, method, path, token string, body []byte) (int, http.Header, []byte, error) {
	return c.doHeader(ctx, method, path, token, body, nil)
}

func (c *gwClient) doHeader(ctx context.Context, method, path, token string, body []byte, h http.Header) (int, http.Header, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", chromeUA)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b, err
}

// gwSession is the answer to POST /v1/sessions.
type gwSession struct {
	Session, Site, Token string
}

func (c *gwClient) newSession(ctx context.Context, site string) (*gwSession, error) {
	code, _, b, err := c.do(ctx, "POST", "/v1/sessions", "", []byte(`{"site":"`+site+`"}`))
	if err != nil {
		return nil, err
	}
	if code != http.StatusCreated {
		return nil, fmt.Errorf("POST /v1/sessions: %d %s", code, b)
	}
	var s gwSession
	if err := json.Unmarshal(b, &s); err != nil || s.Session == "" || s.Site != site {
		return nil, fmt.Errorf("POST /v1/sessions: %s (%v)", b, err)
	}
	return &s, nil
}

// eventsAnswer is the answer to POST /v1/events.
type eventsAnswer struct {
	Accepted, Rejected int
	Errors             []struct {
		Index         int
		Reason, Error string
	}
}

// stream is an open GET /v1/invites: its decisions, as a chat widget's
// EventSource gets them.
type stream struct {
	decisions chan *schemas.Decision
	cancel    context.CancelFunc
	done      chan struct{}
	bad       []string // lines that were not what the stream may carry
}

// openStream opens the session's invite stream and returns once the
// gateway answered: from then on the session's decisions reach it. A
// refusal returns its status and no stream.
func (c *gwClient) openStream(ctx context.Context, token string) (*stream, int, error) {
	ctx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(ctx, "GET", c.base+"/v1/invites", nil)
	if err != nil {
		cancel()
		return nil, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("User-Agent", chromeUA)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := c.hc.Do(req)
	if err != nil {
		cancel()
		return nil, 0, err
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		cancel()
		return nil, resp.StatusCode, nil
	}
	st := &stream{decisions: make(chan *schemas.Decision, 8), cancel: cancel, done: make(chan struct{})}
	go st.read(resp.Body)
	return st, resp.StatusCode, nil
}

// read parses Server-Sent Events until the stream ends.
func (st *stream) read(body io.ReadCloser) {
	defer close(st.done)
	defer close(st.decisions)
	defer body.Close()
	sc := bufio.NewScanner(body)
	var event, data string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if event != "" {
				d, err := schemas.ParseDecision([]byte(data))
				if err != nil || (event != "invite" && event != "withdraw") {
					st.bad = append(st.bad, event+": "+data)
				} else {
					st.decisions <- d
				}
			}
			event, data = "", ""
		case strings.HasPrefix(line, "event: "):
			event = line[len("event: "):]
		case strings.HasPrefix(line, "data: "):
			data = line[len("data: "):]
		}
	}
}

// close ends the stream and waits for its reader.
func (st *stream) close() {
	st.cancel()
	for range st.decisions { // unblock the reader
	}
	<-st.done
}

// partitionClocks stamp the soak's events so that, on every partition of
// visitor-events, event time never goes back in offset order: a replay,
// which reads in event-time order, then feeds each partition's engine the
// records in the order the replicas read them. A batch is stamped and
// posted under its partition's lock; the gateway answers once Kafka has
// the records, so the next batch of the partition lands after it.
type partitionClocks struct {
	part kgo.TopicPartitioner
	n    int
	mu   []sync.Mutex
	last []int64
}

func newPartitionClocks(n int) *partitionClocks {
	return &partitionClocks{part: kgo.StickyKeyPartitioner(nil).ForTopic(schemas.TopicEvents), n: n,
		mu: make([]sync.Mutex, n), last: make([]int64, n)}
}

// stamped runs post with the session's partition locked; next returns
// the event times to stamp with, the wall clock's as long as it moves on.
func (pc *partitionClocks) stamped(session string, post func(next func() int64) error) error {
	p := pc.part.Partition(&kgo.Record{Key: []byte(session)}, pc.n)
	pc.mu[p].Lock()
	defer pc.mu[p].Unlock()
	next := func() int64 {
		pc.last[p] = max(time.Now().UnixMilli(), pc.last[p]+1)
		return pc.last[p]
	}
	return post(next)
}

// postEvents stamps v's events and posts them as one batch, and returns
// the gateway's answer to a 202.
func (s *soak) postEvents(ctx context.Context, v *visitor, evs []schemas.Event) (*eventsAnswer, error) {
	var ans eventsAnswer
	err := s.clocks.stamped(v.session, func(next func() int64) error {
		body := []byte{'['}
		for i := range evs {
			ev := evs[i]
			ev.Session, ev.Visitor, ev.TS = []byte(v.session), []byte(v.visitorID), next()
			if len(ev.Site) == 0 {
				ev.Site = []byte(v.site)
			}
			if i > 0 {
				body = append(body, ',')
			}
			body = schemas.AppendEvent(body, &ev)
		}
		body = append(body, ']')
		code, _, b, err := v.c.do(ctx, "POST", "/v1/events", v.token, body)
		if err != nil {
			return err
		}
		if code != http.StatusAccepted {
			return fmt.Errorf("POST /v1/events: %d %s", code, b)
		}
		return json.Unmarshal(b, &ans)
	})
	if err != nil {
		return nil, err
	}
	s.stats.mu.Lock()
	s.stats.batches++
	s.stats.eventsAccepted += ans.Accepted
	s.stats.mu.Unlock()
	return &ans, nil
}

// postFeedback posts one feedback record of the visitor's session and
// returns the status.
func (s *soak) postFeedback(ctx context.Context, v *visitor, typ schemas.FeedbackType, invite string) int {
	body := schemas.AppendFeedback(nil, &schemas.Feedback{Type: typ, InviteID: []byte(invite), Session: []byte(v.session),
		Visitor: []byte(v.visitorID), Site: []byte(v.site), TS: time.Now().UnixMilli()})
	code, _, b, err := v.c.do(ctx, "POST", "/v1/feedback", v.token, body)
	if err != nil {
		s.fail("feedback %s on %s: %v", typ, invite, err)
		return 0
	}
	if code == http.StatusAccepted {
		s.stats.tookFeedback(typ.String())
	} else if code >= 500 {
		s.fail("feedback %s on %s: %d %s", typ, invite, code, b)
	}
	return code
}

// postPlatform posts what only the chat platform knows about an accepted
// invite, through the platform route.
func (s *soak) postPlatform(ctx context.Context, v *visitor, f schemas.Feedback) {
	f.Session, f.Site, f.TS = []byte(v.session), []byte(v.site), time.Now().UnixMilli()
	code, _, b, err := s.platform.do(ctx, "POST", "/v1/platform/feedback", s.platformToken, schemas.AppendFeedback(nil, &f))
	if err != nil || code != http.StatusAccepted {
		s.fail("platform feedback %s: %d %s %v", f.Type, code, b, err)
		return
	}
	s.stats.tookFeedback(f.Type.String())
}
