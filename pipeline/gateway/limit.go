package gateway

import (
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// limiter is a token bucket per key (a client IP, a session): rate tokens
// a second, up to burst. Its memory is bounded: past max keys it forgets
// the full buckets (clients that have been quiet), then random ones.
type limiter struct {
	rate, burst float64
	max         int

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newLimiter(rate, burst float64, max int) *limiter {
	return &limiter{rate: rate, burst: burst, max: max, buckets: map[string]*bucket{}}
}

// allow takes a token for key, or says how long until one is there.
func (l *limiter) allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= l.max {
			l.shrink(now)
		}
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[key] = b
	}
	if now.After(b.at) {
		b.tokens = min(l.burst, b.tokens+now.Sub(b.at).Seconds()*l.rate)
		b.at = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
	return false, wait
}

// shrink drops the buckets that would be full by now (they behave as new
// ones), and, if that is not a tenth of them, random ones: a flood of new
// keys can then make a limited client look new, but cannot grow memory.
func (l *limiter) shrink(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.at).Seconds()*l.rate >= l.burst {
			delete(l.buckets, k)
		}
	}
	for k := range l.buckets { // map order is random
		if len(l.buckets) < l.max*9/10 {
			break
		}
		delete(l.buckets, k)
	}
}

// retryAfter is a Retry-After header value: whole seconds, at least 1.
func retryAfter(d time.Duration) string {
	return itoa(int64(max(1, math.Ceil(d.Seconds()))))
}

// clientIP returns the address a request comes from: the last address of
// the configured proxy header, else the connection's peer.
func (g *Gateway) clientIP(r *http.Request) string {
	if h := g.cfg.ClientIPHeader; h != "" {
		if v := r.Header.Values(h); len(v) > 0 {
			last := v[len(v)-1]
			if i := strings.LastIndexByte(last, ','); i >= 0 {
				last = last[i+1:]
			}
			if ip := net.ParseIP(strings.TrimSpace(last)); ip != nil {
				return ip.String()
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// limit applies the per-IP limit, and the per-session one when session is
// set; it writes the 429 and returns false when either refuses.
func (g *Gateway) limit(w http.ResponseWriter, r *http.Request, session string) bool {
	now := g.now()
	if ok, wait := g.ipLim.allow(g.clientIP(r), now); !ok {
		g.m.limited.WithLabelValues("ip").Inc()
		g.log.Debug("rate limited", "scope", "ip", "ip", g.clientIP(r), "path", r.URL.Path)
		w.Header().Set("Retry-After", retryAfter(wait))
		writeError(w, http.StatusTooManyRequests, "too many requests from this address: retry later")
		return false
	}
	if session != "" {
		if ok, wait := g.sessLim.allow(session, now); !ok {
			g.m.limited.WithLabelValues("session").Inc()
			g.log.Debug("rate limited", "scope", "session", "session", session, "path", r.URL.Path)
			w.Header().Set("Retry-After", retryAfter(wait))
			writeError(w, http.StatusTooManyRequests, "too many requests for this session: retry later")
			return false
		}
	}
	return true
}

// streamCounts caps open invite streams, in all and per IP. (Per session,
// the hub ends the oldest stream instead: a tab that navigates opens the
// next page's stream before the server sees the last one close.)
type streamCounts struct {
	max, perIP int

	mu    sync.Mutex
	total int
	byIP  map[string]int
}

func newStreamCounts(max, perIP int) *streamCounts {
	return &streamCounts{max: max, perIP: perIP, byIP: map[string]int{}}
}

// open counts a stream in, or says which cap refuses it.
func (s *streamCounts) open(ip string) (ok bool, why string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.total >= s.max:
		return false, "too many open streams: retry later"
	case s.byIP[ip] >= s.perIP:
		return false, "too many open streams from this address"
	}
	s.total++
	s.byIP[ip]++
	return true, ""
}

func (s *streamCounts) close(ip string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.total--
	if s.byIP[ip]--; s.byIP[ip] <= 0 {
		delete(s.byIP, ip)
	}
}
