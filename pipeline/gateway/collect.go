package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/lingerhq/linger/schemas"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Headers the gateway sets on the events it produces.
const (
	// HeaderReceivedAt holds the gateway's receive time, Unix ms (also the
	// record's timestamp).
	HeaderReceivedAt = "linger.gateway.received_at"
	// HeaderClientTS holds the client's ts when it was outside the window
	// and the event carries the receive time instead.
	HeaderClientTS = "linger.gateway.client_ts"
)

// produceTimeout bounds how long a request waits for Kafka to take its
// records; past it the client gets 503 and may retry.
const produceTimeout = 5 * time.Second

// bodyReadTimeout bounds reading a request body: a client that trickles it
// is cut off.
const bodyReadTimeout = 10 * time.Second

// handleSessions makes a session for the site the body names, {"site": S}
// (the tracker's data-site). An empty body, or no site, is a session for
// no site, which only a gateway serving any site makes.
func (g *Gateway) handleSessions(w http.ResponseWriter, r *http.Request) {
	if !g.limit(w, r, "") {
		return
	}
	body, ok := g.readBody(w, r)
	if !ok {
		return
	}
	var req struct {
		Site string `json:"site"`
	}
	if len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			writeError(w, http.StatusBadRequest, `want {"site": "<the site's id>"}`)
			return
		}
	}
	switch {
	case req.Site == "" && g.sites != nil:
		writeError(w, http.StatusBadRequest, `no site: this gateway serves named sites only; send {"site": "<the site's id>"} (the tracker's data-site)`)
		return
	case req.Site == "":
	case checkSite(req.Site) != nil:
		writeError(w, http.StatusBadRequest, checkSite(req.Site).Error())
		return
	case g.sites != nil && !g.sites[req.Site]:
		writeError(w, http.StatusBadRequest, "this gateway does not serve that site")
		return
	}
	s := newSessionID()
	tok, exp := g.tokens.issue(s, req.Site, g.now())
	writeJSON(w, http.StatusCreated, struct {
		Session   string `json:"session"`
		Site      string `json:"site,omitempty"`
		Token     string `json:"token"`
		ExpiresAt int64  `json:"expires_at"`
	}{s, req.Site, tok, exp.UnixMilli()})
}

// readBody reads a request body of at most MaxBodyBytes within
// bodyReadTimeout. A declared Content-Length over the cap is refused before
// reading anything; a body without one is read only up to the cap. A body
// that does not arrive in time gets 408. No answer repeats the read error:
// it names the connection's addresses.
func (g *Gateway) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	if r.ContentLength > g.cfg.MaxBodyBytes {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body over %d bytes", g.cfg.MaxBodyBytes))
		return nil, false
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(g.bodyTimeout))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, g.cfg.MaxBodyBytes))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body over %d bytes", g.cfg.MaxBodyBytes))
		return nil, false
	case errors.Is(err, os.ErrDeadlineExceeded):
		writeError(w, http.StatusRequestTimeout, fmt.Sprintf("the body did not arrive within %v", g.bodyTimeout))
		return nil, false
	case err != nil:
		writeError(w, http.StatusBadRequest, "the body could not be read")
		return nil, false
	}
	// The body is in: Go's server now clears the read deadline and reads
	// in the background, to notice a client that goes away. What is left
	// is bounded by produceTimeout and the write timeout.
	return body, true
}

// splitArray returns the elements of a JSON array, unparsed, refusing more
// than maxN: errTooMany, or a syntax error.
func splitArray(body []byte, maxN int) ([]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return nil, errors.New("want a JSON array of events")
	}
	var out []json.RawMessage
	for dec.More() {
		if len(out) == maxN {
			return nil, errTooMany
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("event %d: not JSON: %w", len(out), err)
		}
		out = append(out, raw)
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the array")
	}
	return out, nil
}

// errTooMany: a batch of more than MaxEvents events.
var errTooMany = errors.New("too many events")

// rejection says why one event of a batch was refused.
type rejection struct {
	Index  int    `json:"index"`
	Reason string `json:"reason"`
	Error  string `json:"error"`
}

// maxRejections bounds the rejections listed in an answer.
const maxRejections = 10

// post starts a POST of a session: the token (from the query too when
// query is set), the rate limits, the body. It has answered when ok is
// false.
func (g *Gateway) post(w http.ResponseWriter, r *http.Request, query bool) (c claims, body []byte, ok bool) {
	if c, ok = g.session(w, r, query); !ok || !g.limit(w, r, c.session) {
		return claims{}, nil, false
	}
	body, ok = g.readBody(w, r)
	return c, body, ok
}

// bindSite holds a record's site to its session's: a record without one
// gets the session's, one naming another is refused (false).
func bindSite(site *[]byte, c claims) bool {
	if len(*site) == 0 {
		if c.site != "" {
			*site = []byte(c.site)
		}
		return true
	}
	return string(*site) == c.site
}

// cutQuery cuts the query string and fragment off a URL: they often carry
// e-mail addresses, search terms and tokens, and the scorer reads paths.
// A URL that was nothing else becomes empty, a path one (page.url, which
// is required) becomes the root.
func cutQuery(u []byte, empty string) []byte {
	i := bytes.IndexAny(u, "?#")
	switch {
	case i < 0:
		return u
	case i == 0:
		return []byte(empty)
	}
	return u[:i]
}

// stamp returns the headers of a record received at recv whose client
// time is ts, and the time the record carries: ts, or recv when ts lies
// outside the window (counted, and kept in a header).
func (g *Gateway) stamp(ts int64, recv time.Time) (int64, []kgo.RecordHeader) {
	headers := []kgo.RecordHeader{{Key: HeaderReceivedAt, Value: []byte(itoa(recv.UnixMilli()))}}
	if ts >= recv.Add(-g.cfg.TSBehind).UnixMilli() && ts <= recv.Add(g.cfg.TSAhead).UnixMilli() {
		return ts, headers
	}
	g.m.clamped.Inc()
	return recv.UnixMilli(), append(headers, kgo.RecordHeader{Key: HeaderClientTS, Value: []byte(itoa(ts))})
}

// produce writes recs and waits for Kafka to take them; when it does not
// in time, it answers 503 and returns false.
func (g *Gateway) produce(w http.ResponseWriter, r *http.Request, session string, recs []*kgo.Record) bool {
	if len(recs) == 0 {
		return true
	}
	ctx, cancel := context.WithTimeout(r.Context(), produceTimeout)
	err := g.prod.ProduceSync(ctx, recs...).FirstErr()
	cancel()
	if err != nil {
		g.m.produceErrors.WithLabelValues(recs[0].Topic).Inc()
		g.log.Warn("records not produced", "topic", recs[0].Topic, "session", session, "records", len(recs), "err", err)
		writeError(w, http.StatusServiceUnavailable, "could not store this in time: retry")
		return false
	}
	return true
}

func (g *Gateway) handleEvents(w http.ResponseWriter, r *http.Request) {
	c, body, ok := g.post(w, r, true)
	if !ok {
		return
	}
	session := c.session
	raws, err := splitArray(body, g.cfg.MaxEvents)
	if errors.Is(err, errTooMany) {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("more than %d events in one request", g.cfg.MaxEvents))
		return
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}

	recv := g.now()
	bot := isBot(r.UserAgent())
	key := []byte(session)
	dec := g.decoders.Get().(*schemas.Decoder)
	defer g.decoders.Put(dec)
	var (
		ev       schemas.Event
		recs     = make([]*kgo.Record, 0, len(raws))
		rejected []rejection
		nRej     int
		clamped  int
	)
	reject := func(i int, reason, msg string) {
		g.m.rejectedBy.WithLabelValues(reason).Inc()
		nRej++
		if len(rejected) < maxRejections {
			rejected = append(rejected, rejection{Index: i, Reason: reason, Error: msg})
		}
	}
	for i, raw := range raws {
		// The processor's own validation; its future-ts check is left to
		// the window (nowMs 0).
		if err := dec.Decode(key, raw, 0, &ev); err != nil {
			reason := schemas.ProblemOf(err).String()
			if errors.Is(err, schemas.ErrUnknownType) {
				reason = "unknown_type"
			}
			reject(i, reason, err.Error())
			continue
		}
		if !bindSite(&ev.Site, c) {
			reject(i, fbSiteMismatch, "site differs from the session's: a session posts for the site it was made for")
			continue
		}
		if !g.cfg.KeepQuery {
			ev.Page.URL, ev.Ref = cutQuery(ev.Page.URL, "/"), cutQuery(ev.Ref, "")
		}
		var headers []kgo.RecordHeader
		ts := ev.TS
		if ev.TS, headers = g.stamp(ts, recv); ev.TS != ts {
			clamped++
		}
		if bot {
			ev.Bot = true
		}
		// Encoded anew: unknown fields stay out of Kafka, and the
		// processor reads exactly what was checked here.
		recs = append(recs, &kgo.Record{Topic: g.cfg.EventsTopic, Key: key, Value: schemas.AppendEvent(nil, &ev), Timestamp: recv, Headers: headers})
	}
	g.m.events.WithLabelValues("rejected").Add(float64(nRej))
	if !g.produce(w, r, session, recs) {
		return
	}
	g.m.events.WithLabelValues("accepted").Add(float64(len(recs)))
	if bot {
		g.m.bots.Add(float64(len(recs)))
	}
	writeJSON(w, http.StatusAccepted, struct {
		Accepted int         `json:"accepted"`
		Rejected int         `json:"rejected"`
		Clamped  int         `json:"clamped,omitempty"`
		Errors   []rejection `json:"errors,omitempty"`
	}{len(recs), nRej, clamped, rejected})
}

// botMarks are substrings (lower case) of the user agents of crawlers,
// monitors, headless browsers and HTTP libraries: their events are flagged
// bot, and the processor never invites a bot.
var botMarks = []string{
	"bot", "crawl", "spider", "slurp", "mediapartners", "facebookexternalhit", "embedly", "quora link preview",
	"bingpreview", "yandex", "baiduspider", "duckduckgo", "pingdom", "uptime", "monitor", "lighthouse",
	"headlesschrome", "phantomjs", "puppeteer", "playwright", "selenium", "python-requests", "python-urllib",
	"curl/", "wget/", "go-http-client", "okhttp", "java/", "libwww", "httpclient", "axios/", "node-fetch",
}

// isBot reports whether ua is a known crawler or automation, or empty
// (every browser sends one).
func isBot(ua string) bool {
	if strings.TrimSpace(ua) == "" {
		return true
	}
	ua = strings.ToLower(ua)
	for _, m := range botMarks {
		if strings.Contains(ua, m) {
			return true
		}
	}
	return false
}
