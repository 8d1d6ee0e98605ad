package gateway

import (
	"math"
	"net/http"
	"net/netip"
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

// clientAddr returns the address a request comes from: the last address
// of the configured proxy header, else the connection's peer.
func (g *Gateway) clientAddr(r *http.Request) netip.Addr {
	if h := g.cfg.ClientIPHeader; h != "" {
		if v := r.Header.Values(h); len(v) > 0 {
			last := v[len(v)-1]
			if i := strings.LastIndexByte(last, ','); i >= 0 {
				last = last[i+1:]
			}
			if a, ok := parseAddr(strings.TrimSpace(last)); ok {
				return a
			}
		}
	}
	return peerAddr(r.RemoteAddr)
}

// clientKey is the key of a request's client in the limits: its address
// (clientAddr) as addrKey makes it.
func (g *Gateway) clientKey(r *http.Request) string { return addrKey(g.clientAddr(r)) }

// parseAddr reads an address as proxies write it: "203.0.113.7",
// "2001:db8::1", or either with a port ("203.0.113.7:4711",
// "[2001:db8::1]:4711").
func parseAddr(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.WithZone(""), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().WithZone(""), true
	}
	return netip.Addr{}, false
}

// peerAddr returns the address of a connection's peer (host:port), or the
// zero Addr when it is not an IP address (a Unix socket, a test).
func peerAddr(hostport string) netip.Addr {
	if ap, err := netip.ParseAddrPort(hostport); err == nil {
		return ap.Addr().WithZone("")
	}
	a, _ := parseAddr(hostport)
	return a
}

// addrKey is the key of a client address in every per-address limit: an
// IPv4 address as it is, an IPv6 address by its /64, the smallest network
// a provider gives one subscriber (whose devices each pick addresses in it
// at will, so keying by the whole address would give one client 2^64
// buckets).
func addrKey(a netip.Addr) string {
	a = a.Unmap()
	switch {
	case !a.IsValid():
		return "unknown"
	case a.Is4():
		return a.String()
	}
	p, _ := a.Prefix(64)
	return p.String()
}

// trustedPeer reports whether a connection's peer may be the proxy that
// sets ClientIPHeader: a loopback, private (RFC 1918, RFC 4193) or
// link-local address. A proxy in front of the gateway is on one of those;
// a client on the internet is not, and its header is then its own word.
func trustedPeer(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast()
}

// limit applies the per-IP limit, and the per-session one when session is
// set; it writes the 429 and returns false when either refuses.
func (g *Gateway) limit(w http.ResponseWriter, r *http.Request, session string) bool {
	now := g.now()
	if ok, wait := g.ipLim.allow(g.clientKey(r), now); !ok {
		g.m.limited.WithLabelValues("ip").Inc()
		g.log.Debug("rate limited", "scope", "ip", "client", g.clientKey(r), "path", r.URL.Path)
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

// counts caps what is open at once (streams, connections, requests), in
// all and per key (a client address).
type counts struct {
	max, perKey int

	mu    sync.Mutex
	total int
	byKey map[string]int
}

func newCounts(max, perKey int) *counts {
	return &counts{max: max, perKey: perKey, byKey: map[string]int{}}
}

// Which cap refused an open.
const (
	capNone = iota
	capTotal
	capKey
)

// open counts one in for key, or says which cap refuses it.
func (c *counts) open(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.total >= c.max:
		return capTotal
	case c.byKey[key] >= c.perKey:
		return capKey
	}
	c.total++
	c.byKey[key]++
	return capNone
}

// close counts one out for key, once per open that succeeded.
func (c *counts) close(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.total--
	if c.byKey[key]--; c.byKey[key] <= 0 {
		delete(c.byKey, key)
	}
}
