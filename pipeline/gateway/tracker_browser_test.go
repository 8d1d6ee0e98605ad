package gateway

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/lingerhq/linger/internal/htmltest"
	"github.com/lingerhq/linger/internal/kafkatest"
	"github.com/lingerhq/linger/schemas"
)

// TestTrackerMapsPaths loads linger.js in Chromium on a site of its own
// (another origin than the gateway's), with path templates and a
// linger.paths hook, and visits pages whose paths name a person: what
// reaches Kafka carries the templates, never the e-mail address, and the
// session is the site's.
func TestTrackerMapsPaths(t *testing.T) {
	chrome := htmltest.Chromium(t)
	site := httptest.NewUnstartedServer(nil)
	tg := newGateway(t, nil, func(c *Config) {
		c.Sites = []string{testSite}
		c.AllowedOrigins = []string{"http://" + site.Listener.Addr().String()}
	})
	events := kafkatest.Collecting(t, tg.broker.Addr(), schemas.TopicEvents)
	// The visit: each page links to the next. Every page loads the
	// tracker, and sets the hook in the script after it (before
	// DOMContentLoaded).
	pages := []string{"/user/jane.doe@example.com?ref=mail#top", "/orders/42/items", "/search/jane.doe@example.com", "/about", "/"}
	next := map[string]string{}
	for i, p := range pages[:len(pages)-1] {
		next[strings.SplitN(p, "?", 2)[0]] = pages[i+1]
	}
	site.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html><head><title>page</title>
<script src="%[1]s/linger.js" data-site="%[2]s" data-consent="none" data-path-template="/user/{email} /orders/{id}/items"></script>
<script>linger.paths(function (p) { return p.indexOf("/search/") === 0 ? "/search/{q}" : p; });</script>
</head><body data-linger-kind="account"><a id="next" href="%[3]s">next</a></body></html>`, tg.srv.URL, html.EscapeString(testSite), html.EscapeString(next[r.URL.Path]))
	})
	site.Start()
	t.Cleanup(site.Close)

	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome), chromedp.NoSandbox, chromedp.Flag("disable-gpu", true))...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	tctx, cancelT := context.WithTimeout(ctx, 60*time.Second)
	defer cancelT()
	if err := chromedp.Do(tctx, chromedp.Navigate(site.URL+pages[0])); err != nil {
		t.Fatal(err)
	}
	for _, p := range pages[1 : len(pages)-1] {
		// A visitor reads, then follows the link (the next page's
		// referrer is this one).
		time.Sleep(300 * time.Millisecond)
		if err := chromedp.Do(tctx, chromedp.Click(chromedp.ID("next"), chromedp.NodeVisible), chromedp.WaitReady(chromedp.ID("next"))); err != nil {
			t.Fatalf("to %s: %v", p, err)
		}
	}

	want := map[string]string{ // page.url → ref
		"/user/{email}":      "",
		"/orders/{id}/items": "/user/{email}",
		"/search/{q}":        "/orders/{id}/items",
		"/about":             "/search/{q}",
	}
	var dec schemas.Decoder
	var ev schemas.Event
	seen := map[string]bool{}
	kafkatest.WaitFor(t, "the page views of the 4 pages", 20*time.Second, func() bool {
		for _, r := range events.Records() {
			if bytes.Contains(r.Value, []byte("jane")) || bytes.Contains(r.Value, []byte("example.com")) {
				t.Fatalf("a person's address left the browser: %s", r.Value)
			}
			if err := dec.Decode(r.Key, r.Value, 0, &ev); err != nil {
				t.Fatalf("%v: %s", err, r.Value)
			}
			if string(ev.Site) != testSite {
				t.Fatalf("event of site %q, want %q: %s", ev.Site, testSite, r.Value)
			}
			if ev.Type != schemas.TypePageView {
				continue
			}
			ref, ok := want[string(ev.Page.URL)]
			if !ok || string(ev.Ref) != ref {
				t.Fatalf("page view of %q (ref %q): not a mapped path of the visit", ev.Page.URL, ev.Ref)
			}
			seen[string(ev.Page.URL)] = true
		}
		return len(seen) == len(want)
	})
}
