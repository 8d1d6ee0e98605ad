package gateway

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// routes builds the routes: every API answer goes through the origin
// check (but the platform's, which no browser may call) and is counted by
// endpoint and status.
func (g *Gateway) routes() http.Handler {
	mux := http.NewServeMux()
	api := func(pattern, endpoint string, h http.HandlerFunc) {
		mux.Handle(pattern, g.counted(endpoint, g.cors(h)))
	}
	api("POST /v1/sessions", "sessions", g.handleSessions)
	api("POST /v1/events", "events", g.handleEvents)
	api("GET /v1/invites", "invites", g.handleInvites)
	api("POST /v1/feedback", "feedback", g.handleFeedback)
	if len(g.cfg.PlatformToken) > 0 {
		mux.Handle("POST /v1/platform/feedback", g.counted("platform_feedback", http.HandlerFunc(g.handlePlatformFeedback)))
	}
	api("OPTIONS /v1/", "preflight", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.Handle("/v1/", g.counted("other", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint")
	})))
	mux.Handle("GET /linger.js", g.counted("tracker", http.HandlerFunc(serveTracker)))
	if g.cfg.Shop {
		mux.Handle("/", shopHandler())
	}
	return mux
}

// writeError answers code with {"error": msg}.
func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, struct {
		Error string `json:"error"`
	}{msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v) // a client gone is not our error
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// statusWriter remembers the status code, for the requests counter. It
// unwraps for http.ResponseController (Flush, deadlines).
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (g *Gateway) counted(endpoint string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		if sw.code == 0 {
			sw.code = http.StatusOK
		}
		g.m.requests.WithLabelValues(endpoint, strconv.Itoa(sw.code)).Inc()
	})
}

// origins are the allowed cross-origin callers.
type origins struct {
	any bool
	set map[string]bool
}

func newOrigins(list []string) (origins, error) {
	o := origins{set: map[string]bool{}}
	for _, s := range list {
		n, err := normalizeOrigin(s)
		if err != nil {
			return o, err
		}
		if n == "*" {
			o.any = true
		}
		o.set[n] = true
	}
	return o, nil
}

// normalizeOrigin returns an origin as browsers send it: scheme://host[:port],
// lower case, no path.
func normalizeOrigin(s string) (string, error) {
	if s == "*" {
		return s, nil
	}
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return "", fmt.Errorf("allowed origin %q: want scheme://host[:port], e.g. https://shop.example.com", s)
	}
	return strings.ToLower(u.Scheme + "://" + u.Host), nil
}

// cors lets through requests without an Origin (not from a browser, or a
// same-origin GET), from the gateway's own origin (the demo shop), and from
// allowed origins, which get the CORS headers; any other origin gets 403,
// preflight or not, so a page elsewhere cannot even send events blind.
func (g *Gateway) cors(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" || sameOrigin(origin, r.Host) {
			h.ServeHTTP(w, r)
			return
		}
		n, err := normalizeOrigin(origin)
		if err != nil || !(g.origins.any || g.origins.set[n]) {
			writeError(w, http.StatusForbidden, "origin not allowed")
			return
		}
		hd := w.Header()
		hd.Set("Access-Control-Allow-Origin", origin)
		hd.Add("Vary", "Origin")
		if r.Method == http.MethodOptions {
			hd.Set("Access-Control-Allow-Methods", "GET, POST")
			hd.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Last-Event-ID")
			hd.Set("Access-Control-Max-Age", "600")
		}
		h.ServeHTTP(w, r)
	})
}

func sameOrigin(origin, host string) bool {
	u, err := url.Parse(origin)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, host)
}
