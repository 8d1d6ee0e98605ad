package gateway

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lingerhq/linger/internal/kafkatest"
	"github.com/lingerhq/linger/schemas"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// eventOn returns a valid v1 page_view of session at ts naming site (none
// when empty), at url, with an optional referrer.
func eventOn(session, site, url, ref string, ts int64) string {
	s, r := "", ""
	if site != "" {
		s = fmt.Sprintf(`"site":%q,`, site)
	}
	if ref != "" {
		r = fmt.Sprintf(`,"ref":%q`, ref)
	}
	return fmt.Sprintf(`{"v":1,"type":"page_view","session":%q,%s"ts":%d,"page":{"url":%q,"kind":"product"}%s}`, session, s, ts, url, r)
}

func TestSessionsOfServedSites(t *testing.T) {
	tg := newGateway(t, nil, func(c *Config) { c.Sites = []string{testSite, "shop-b"} })
	for _, site := range []string{testSite, "shop-b"} {
		var s struct {
			Site string `json:"site"`
		}
		r := tg.do(t, "POST", "/v1/sessions", "", strings.NewReader(`{"site":"`+site+`"}`), nil)
		if r.code != http.StatusCreated || jsonInto(t, r.body, &s).Site != site {
			t.Fatalf("a session for %s: %d %s", site, r.code, r.body)
		}
	}
	for name, body := range map[string]string{
		"a site not served": `{"site":"shop-c"}`,
		"no site":           `{}`,
		"no body":           "",
		"markup":            `{"site":"<b>shop</b>"}`,
		"not JSON":          `shop-b`,
		"a site not text":   `{"site":7}`,
	} {
		r := tg.do(t, "POST", "/v1/sessions", "", strings.NewReader(body), nil)
		if r.code != http.StatusBadRequest {
			t.Fatalf("%s: %d, want 400", name, r.code)
		}
		if msg := r.errorText(t); strings.Contains(msg, "shop-b") {
			t.Fatalf("%s: the answer lists the sites served: %s", name, msg)
		}
	}
}

func TestEventsBoundToTheSessionsSite(t *testing.T) {
	tg := newGateway(t, nil, func(c *Config) { c.Sites = []string{testSite, "shop-b"} })
	events := kafkatest.Collecting(t, tg.broker.Addr(), schemas.TopicEvents)
	s := tg.newSession(t)
	now := tg.clock.ms(0)
	a := tg.postEvents(t, s.Token,
		eventOn(s.Session, testSite, "/p/1", "", now),
		eventOn(s.Session, "shop-b", "/p/2", "", now+1), // a site this gateway serves, not the session's
		eventOn(s.Session, "", "/p/3", "", now+2),
	).accepted(t)
	if a.Accepted != 2 || a.Rejected != 1 || a.Errors[0].Index != 1 || a.Errors[0].Reason != fbSiteMismatch {
		t.Fatalf("answer %+v", a)
	}
	recs := events.WaitN(t, 2, 10*time.Second)
	var dec schemas.Decoder
	var ev schemas.Event
	for i, r := range recs {
		if err := dec.Decode(r.Key, r.Value, 0, &ev); err != nil || string(ev.Site) != testSite {
			t.Fatalf("record %d: site %q (%v), want the session's", i, ev.Site, err)
		}
	}
	if got := testutil.ToFloat64(tg.g.m.rejectedBy.WithLabelValues(fbSiteMismatch)); got != 1 {
		t.Fatalf("site_mismatch counted %v", got)
	}
}

// TestTokenCarriesItsSite: the site is part of what the MAC covers, and
// tokens of the earlier form (no site) are invalid.
func TestTokenCarriesItsSite(t *testing.T) {
	tg := newGateway(t, nil, nil)
	s := tg.newSession(t)
	parts := strings.Split(s.Token, ".")
	if len(parts) != 4 {
		t.Fatalf("token %q: want 4 parts", s.Token)
	}
	parts[1] = base64.RawURLEncoding.EncodeToString([]byte("shop-b"))
	moved := strings.Join(parts, ".")
	earlier := strings.Join([]string{parts[0], parts[2], parts[3]}, ".")
	for name, tok := range map[string]string{"site changed": moved, "no site part": earlier} {
		if r := tg.postEvents(t, tok, eventOn(s.Session, "shop-b", "/", "", tg.clock.ms(0))); r.code != http.StatusUnauthorized {
			t.Fatalf("%s: %d, want 401", name, r.code)
		}
	}
}

// TestAnySiteWithoutSites: without a list, any well-formed site (or none)
// gets a session, and the gateway says so at start.
func TestAnySiteWithoutSites(t *testing.T) {
	var logs syncBuffer
	tg := newGateway(t, nil, func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	})
	if !strings.Contains(logs.String(), "serving sessions for any site") {
		t.Fatalf("no warning at start:\n%s", logs.String())
	}
	none := tg.newSessionFor(t, "")
	tg.newSessionFor(t, "made-up-site")
	a := tg.postEvents(t, none.Token, eventOn(none.Session, "", "/", "", tg.clock.ms(0)), eventOn(none.Session, "shop-b", "/", "", tg.clock.ms(0))).accepted(t)
	if a.Accepted != 1 || a.Rejected != 1 || a.Errors[0].Reason != fbSiteMismatch {
		t.Fatalf("a session of no site: %+v", a)
	}
	if r := tg.do(t, "POST", "/v1/sessions", "", strings.NewReader(`{"site":"a\u0000b"}`), nil); r.code != http.StatusBadRequest {
		t.Fatalf("a site with a control character: %d", r.code)
	}
}

// TestQueryAndFragmentCut: page.url and ref lose their query string and
// fragment, unless KeepQuery.
func TestQueryAndFragmentCut(t *testing.T) {
	for _, keep := range []bool{false, true} {
		t.Run(fmt.Sprint("keep=", keep), func(t *testing.T) {
			tg := newGateway(t, nil, func(c *Config) { c.KeepQuery = keep })
			events := kafkatest.Collecting(t, tg.broker.Addr(), schemas.TopicEvents)
			s := tg.newSession(t)
			in := [][2]string{
				{"/search?q=jane%40example.com#top", "https://mail.example.net/inbox?u=jane#m1"},
				{"/p/lamp#reviews", "/account/reset?token=s3cr3t"},
				{"/?only=query", ""},
			}
			var evs []string
			for i, u := range in {
				evs = append(evs, eventOn(s.Session, testSite, u[0], u[1], tg.clock.ms(0)+int64(i)))
			}
			tg.postEvents(t, s.Token, evs...).accepted(t)
			want := [][2]string{
				{"/search", "https://mail.example.net/inbox"},
				{"/p/lamp", "/account/reset"},
				{"/", ""},
			}
			if keep {
				want = in
			}
			var dec schemas.Decoder
			var ev schemas.Event
			for i, r := range events.WaitN(t, len(in), 10*time.Second) {
				if err := dec.Decode(r.Key, r.Value, 0, &ev); err != nil {
					t.Fatal(err)
				}
				if string(ev.Page.URL) != want[i][0] || string(ev.Ref) != want[i][1] {
					t.Errorf("event %d: url %q ref %q, want %q %q", i, ev.Page.URL, ev.Ref, want[i][0], want[i][1])
				}
			}
		})
	}
}

func TestCheckSecret(t *testing.T) {
	for _, good := range []string{
		"Jq4v-Tz8w_Lc2R9xNb7KpYd3mHs6aFe0",                                 // base64url of random bytes
		"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", // hex of random bytes
	} {
		if err := CheckSecret("s", []byte(good)); err != nil {
			t.Errorf("%q: %v", good, err)
		}
	}
	for bad, want := range map[string]string{
		"short":                               "at least 32",
		strings.Repeat("k", 32):               "repeats a pattern of 1",
		strings.Repeat("0123456789abcdef", 3): "repeats a pattern of 16",
		"correct horse battery staple 12345":  "whitespace",
		"Jq4v-Tz8w_Lc2R9xNb7KpYd3mHs6aFe0\n":  "whitespace",
		"aaaabbbbccccddddaaaabbbbccccdddX":    "distinct bytes",
		"00000000000000000000000000000000000000000000000000000000000000f1": "distinct bytes", // hex of near-zero bytes
	} {
		if err := CheckSecret("s", []byte(bad)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", bad, err, want)
		}
	}
	c := Config{Brokers: []string{"x:1"}, Secret: testSecret, PlatformToken: []byte("platform"), Sites: []string{"ok", "not ok"}}
	c.setDefaults()
	err := c.Validate()
	for _, want := range []string{"the platform token has 8 bytes", `site "not ok"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v, want %q", err, want)
		}
	}
}

func TestConfigLookBackCoversFeedback(t *testing.T) {
	c := Config{Brokers: []string{"x:1"}, Secret: testSecret, LookBack: time.Minute, FeedbackMargin: 2 * time.Minute}
	c.setDefaults()
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "look-back") {
		t.Fatalf("Validate: %v", err)
	}
}

// jsonInto decodes b into v, failing the test if it cannot.
func jsonInto[T any](t *testing.T, b []byte, v *T) *T {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return v
}
