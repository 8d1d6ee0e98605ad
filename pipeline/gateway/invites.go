package gateway

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/lingerhq/linger/schemas"
	"github.com/twmb/franz-go/pkg/kgo"
)

// item is one decision as a stream sends it.
type item struct {
	id        string
	event     string // "invite" or "withdraw"
	data      []byte // the decision, compact JSON on one line
	expiresAt int64  // Unix ms
}

// subscriber is one open stream. The hub sends to ch without blocking; a
// subscriber too slow to keep up is dropped (ch closed) and reconnects with
// Last-Event-ID.
type subscriber struct {
	ch   chan *item
	seq  uint64 // order of subscription, to end a session's oldest
	gone bool   // ended by the hub: too slow, or replaced
}

// subscriberBuffer is how many decisions may wait for a slow stream.
const subscriberBuffer = 16

type sessionEntry struct {
	recent []*item // oldest first, at most hub.recent
	subs   map[*subscriber]struct{}
}

// expired reports whether every decision kept has expired.
func (e *sessionEntry) expired(nowMs int64) bool {
	for _, it := range e.recent {
		if it.expiresAt > nowMs {
			return false
		}
	}
	return true
}

// hub fans decisions out to the streams of their session and keeps each
// session's last few for reconnects. The consumer goroutine publishes;
// stream handlers subscribe and unsubscribe.
type hub struct {
	recent, maxSessions, perSession int
	m                               *metrics

	mu       sync.Mutex
	sessions map[string]*sessionEntry
	seq      uint64
}

func newHub(recent, maxSessions, perSession int, m *metrics) *hub {
	return &hub{recent: recent, maxSessions: maxSessions, perSession: perSession, m: m, sessions: map[string]*sessionEntry{}}
}

// end ends a subscriber's stream (its handler sees ch closed).
func (e *sessionEntry) end(s *subscriber) {
	s.gone = true
	close(s.ch)
	delete(e.subs, s)
}

// publish keeps a decision for its session and sends it to the session's
// streams. Holdout decisions go nowhere.
func (h *hub) publish(d *schemas.Decision, nowMs int64) {
	if d.Holdout {
		h.m.decisions.WithLabelValues("holdout").Inc()
		return
	}
	it := &item{id: string(d.ID), event: d.Action.String(), data: schemas.AppendDecision(nil, d), expiresAt: d.ExpiresAt}
	session := string(d.Session)
	h.mu.Lock()
	defer h.mu.Unlock()
	e := h.sessions[session]
	if e == nil {
		if len(h.sessions) >= h.maxSessions {
			h.makeRoom(nowMs)
		}
		e = &sessionEntry{subs: map[*subscriber]struct{}{}}
		h.sessions[session] = e
	}
	for _, old := range e.recent {
		if old.id == it.id { // a repeat: at-least-once delivery
			h.m.decisions.WithLabelValues("duplicate").Inc()
			return
		}
	}
	h.m.decisions.WithLabelValues("buffered").Inc()
	if len(e.recent) == h.recent {
		e.recent = append(e.recent[:0], e.recent[1:]...)
	}
	e.recent = append(e.recent, it)
	for s := range e.subs {
		select {
		case s.ch <- it:
		default:
			e.end(s)
		}
	}
}

// forgetExpired forgets the sessions without streams whose decisions have
// all expired.
func (h *hub) forgetExpired(nowMs int64) {
	for k, e := range h.sessions {
		if len(e.subs) == 0 && e.expired(nowMs) {
			delete(h.sessions, k)
		}
	}
}

// makeRoom frees a tenth of maxSessions: expired sessions first, then
// random ones without streams (a burst of decisions larger than the bound
// loses look-back, not memory).
func (h *hub) makeRoom(nowMs int64) {
	h.forgetExpired(nowMs)
	for k, e := range h.sessions { // map order is random
		if len(h.sessions) < h.maxSessions*9/10 {
			break
		}
		if len(e.subs) == 0 {
			delete(h.sessions, k)
		}
	}
}

// sweep forgets what can no longer be sent.
func (h *hub) sweep(nowMs int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.forgetExpired(nowMs)
}

// subscribe opens a stream for session and returns the decisions it
// missed: those after lastID, or all kept ones when lastID is not among
// them. Nothing published in between is lost or sent twice: both happen
// under the lock. A session at its cap of streams loses its oldest.
func (h *hub) subscribe(session, lastID string) (*subscriber, []*item) {
	h.mu.Lock()
	defer h.mu.Unlock()
	e := h.sessions[session]
	if e == nil {
		e = &sessionEntry{subs: map[*subscriber]struct{}{}}
		h.sessions[session] = e
	}
	backlog := e.recent
	for i, it := range e.recent {
		if lastID != "" && it.id == lastID {
			backlog = e.recent[i+1:]
		}
	}
	for len(e.subs) >= h.perSession {
		var oldest *subscriber
		for s := range e.subs {
			if oldest == nil || s.seq < oldest.seq {
				oldest = s
			}
		}
		e.end(oldest)
	}
	h.seq++
	s := &subscriber{ch: make(chan *item, subscriberBuffer), seq: h.seq}
	e.subs[s] = struct{}{}
	return s, append([]*item(nil), backlog...)
}

func (h *hub) unsubscribe(session string, s *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if e := h.sessions[session]; e != nil && !s.gone {
		e.end(s)
	}
}

// sweepEvery is how often the hub forgets sessions with nothing to send.
const sweepEvery = 10 * time.Second

// consume reads chat-invites until ctx ends.
func (g *Gateway) consume(ctx context.Context) {
	// Ready once the brokers answer.
	for ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := g.cons.Ping(pctx)
		cancel()
		if err == nil {
			g.ready.Store(true)
			break
		}
		g.log.Warn("waiting for Kafka", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	var lastErr time.Time
	for ctx.Err() == nil {
		fs := g.cons.PollFetches(ctx)
		if ctx.Err() != nil || fs.IsClientClosed() {
			return
		}
		fs.EachError(func(t string, p int32, err error) {
			if time.Since(lastErr) > 10*time.Second { // one line per 10 s, not per fetch
				lastErr = time.Now()
				g.log.Warn("reading decisions", "topic", t, "partition", p, "err", err)
			}
		})
		nowMs := g.now().UnixMilli()
		fs.EachRecord(func(r *kgo.Record) {
			d, err := schemas.ParseDecision(r.Value)
			if err != nil {
				g.m.decisions.WithLabelValues("invalid").Inc()
				return
			}
			// The index first: a widget that hears of an invite from
			// this replica finds it here when it reports on it.
			g.invites.add(d, nowMs)
			g.hub.publish(d, nowMs)
		})
	}
}

// sweep forgets, every sweepEvery until ctx ends, the sessions that have
// nothing left to send.
func (g *Gateway) sweep(ctx context.Context) {
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			nowMs := g.now().UnixMilli()
			g.hub.sweep(nowMs)
			g.invites.sweep(nowMs)
		}
	}
}

// streamWriteTimeout bounds one write to a stream: a client that does not
// read is cut off.
const streamWriteTimeout = 10 * time.Second

// handleInvites streams the token's session's decisions until the client
// goes, the gateway closes, the session opens too many other streams, or
// the token expires (the widget then needs a new session, as for any
// request).
func (g *Gateway) handleInvites(w http.ResponseWriter, r *http.Request) {
	c, ok := g.session(w, r, true)
	if !ok || !g.limit(w, r, "") {
		return
	}
	session := c.session
	// Per session, the hub ends the oldest stream instead of refusing: a
	// tab that navigates opens the next page's stream before the server
	// sees the last one close.
	key := g.clientKey(r)
	if refused := g.streams.open(key); refused != capNone {
		g.m.limited.WithLabelValues("streams").Inc()
		w.Header().Set("Retry-After", "5")
		msg := "too many open streams: retry later"
		if refused == capKey {
			msg = "too many open streams from this address"
		}
		writeError(w, http.StatusTooManyRequests, msg)
		return
	}
	defer g.streams.close(key)
	g.m.streams.Inc()
	defer g.m.streams.Dec()

	// EventSource sends the id it saw last when it reconnects; a
	// page can pass it as ?last_event_id= too.
	lastID := r.Header.Get("Last-Event-ID")
	if lastID == "" {
		lastID = r.URL.Query().Get("last_event_id")
	}
	sub, backlog := g.hub.subscribe(session, lastID)
	defer g.hub.unsubscribe(session, sub)

	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	h.Set("X-Content-Type-Options", "nosniff")
	// The stream lives as long as the token. (The server's read timeout
	// does not end it: Go's server clears the read deadline once the
	// request is read; its write timeout is replaced at every write.)
	expired := time.NewTimer(c.exp.Sub(g.now()))
	defer expired.Stop()
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	write := func(s string) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
		if _, err := fmt.Fprint(w, s); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	// Reconnect after 2 s when the connection drops.
	if !write("retry: 2000\n\n") {
		return
	}
	send := func(it *item) bool {
		if it.expiresAt <= g.now().UnixMilli() {
			return true // never one past its expires_at
		}
		g.m.sent.WithLabelValues(it.event).Inc()
		var b strings.Builder
		if safeSSEField(it.id) {
			fmt.Fprintf(&b, "id: %s\n", it.id)
		}
		fmt.Fprintf(&b, "event: %s\ndata: %s\n\n", it.event, it.data)
		return write(b.String())
	}
	for _, it := range backlog {
		if !send(it) {
			return
		}
	}
	beat := time.NewTicker(g.cfg.Heartbeat)
	defer beat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-g.closing:
			return
		case <-expired.C:
			g.m.streamsExpired.Inc()
			return
		case <-beat.C:
			if !write(": ping\n\n") {
				return
			}
		case it, ok := <-sub.ch:
			if !ok {
				return // too slow, or replaced by a newer stream of the session
			}
			if !send(it) {
				return
			}
		}
	}
}

// safeSSEField reports whether s can stand on an SSE field line.
func safeSSEField(s string) bool {
	return s != "" && !strings.ContainsAny(s, "\r\n\x00")
}
