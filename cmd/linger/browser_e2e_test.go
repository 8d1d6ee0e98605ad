package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/lingerhq/linger/internal/htmltest"
	"github.com/lingerhq/linger/schemas"
	"github.com/twmb/franz-go/pkg/kgo"
)

// artifacts returns the folder for screenshots: $LINGER_ARTIFACTS, else
// testdata/artifacts (ignored by git).
func artifacts(t *testing.T) string {
	dir := os.Getenv("LINGER_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("testdata", "artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// chromeUA is a desktop Chrome's user agent: headless Chromium says
// "HeadlessChrome", which the gateway flags as a bot (never invited).
const chromeUA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"

// browserTestConfig shortens the scoring's timers so that a visitor who is
// stuck is noticed within seconds, not minutes: silence checks every 3 s,
// and idle and stuck time at full strength after 15-20 s.
const browserTestConfig = `breathing_space: 5s
silence: 3s
scales:
  idle_checkout_s: 15
  field_stuck_s: 15
  idle_current_s: 20
`

// TestBrowserInvite runs `linger demo` with its shop and drives headless
// Chromium through it as two visitors: one who keeps mistyping the card
// number and then sits idle gets an invite in the chat widget, with a
// confusion or abandonment reason in words; one who buys quickly gets none.
func TestBrowserInvite(t *testing.T) {
	chrome := htmltest.Chromium(t)
	began := time.Now()
	cfg := filepath.Join(t.TempDir(), "scoring.yaml")
	if err := os.WriteFile(cfg, []byte(browserTestConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	demo := start(t, nil, "demo", "--listen", "127.0.0.1:0", "--rate", "1", "--warmup", "30s", "--config", cfg)
	broker := demo.waitOutput(t, `embedded broker (127\.0\.0\.1:\d+)`, 30*time.Second)[1]
	shop := demo.waitOutput(t, `open (http://127\.0\.0\.1:\d+)`, 30*time.Second)[1]
	out := artifacts(t)

	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome), chromedp.NoSandbox, chromedp.UserAgent(chromeUA), chromedp.WindowSize(1200, 860),
		chromedp.Flag("disable-gpu", true))...)
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	if err := chromedp.Do(browser); err != nil { // starts the browser
		t.Fatalf("starting %s: %v", chrome, err)
	}

	// Each visitor has a browser context of their own: no shared storage.
	visitor := func(t *testing.T) context.Context {
		ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
		t.Cleanup(cancel)
		// The first run opens the tab, which lives as long as the context
		// of that run: this one, not a step's timeout.
		if err := chromedp.Do(ctx); err != nil {
			t.Fatal(err)
		}
		// The page's console (errors, refused requests) shows when the
		// test fails.
		var (
			mu   sync.Mutex
			logs []string
		)
		cctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for m, err := range chromedp.Console(cctx) {
				if err != nil {
					return
				}
				mu.Lock()
				logs = append(logs, m.String())
				mu.Unlock()
			}
		}()
		t.Cleanup(func() {
			stop()
			<-done
			if t.Failed() {
				mu.Lock()
				t.Logf("browser console:\n%s", strings.Join(logs, "\n"))
				mu.Unlock()
			}
		})
		return ctx
	}
	do := func(t *testing.T, ctx context.Context, what string, timeout time.Duration, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		if err := chromedp.Do(sctx, steps...); err != nil {
			shot(t, ctx, filepath.Join(out, "failed-"+strings.ReplaceAll(what, " ", "-")+".png"))
			t.Fatalf("%s: %v", what, err)
		}
	}
	toCheckout := func(t *testing.T, ctx context.Context) {
		t.Helper()
		steps := []chromedp.Action[chromedp.Void]{
			chromedp.Navigate(shop + "/"),
			chromedp.WaitVisible(chromedp.ID("shop-lamps")),
			// The banner shows until consent is given: not on a walk
			// that starts over.
			script(`(function(){var b=document.getElementById("consent-allow"); if (b) b.click(); return true})()`),
			// Links are followed by address, as a click on them would:
			// a click that navigates races the query of the next step
			// ("Could not find node with given id").
			chromedp.Navigate(shop + "/category.html"),
			chromedp.WaitVisible(chromedp.ID("product-oak-desk")),
			chromedp.Navigate(shop + "/product.html?id=oak-desk"),
			chromedp.Click(chromedp.ID("add-to-cart"), chromedp.NodeVisible),
			chromedp.WaitVisible(chromedp.ID("added")),
			chromedp.Navigate(shop + "/cart.html"),
			chromedp.WaitVisible(chromedp.ID("to-checkout")),
			chromedp.Navigate(shop + "/checkout.html"),
			chromedp.WaitVisible(chromedp.ID("card-number")),
			chromedp.SendKeys(chromedp.ID("name"), "Ada Lovelace"),
			chromedp.SendKeys(chromedp.ID("email"), "ada@example.com"),
			chromedp.SendKeys(chromedp.ID("address"), "12 St James's Square"),
			chromedp.SendKeys(chromedp.ID("postcode"), "SW1Y 4JH"),
			chromedp.SendKeys(chromedp.ID("card-expiry"), "09/29"),
			chromedp.SendKeys(chromedp.ID("card-cvc"), "123"),
		}
		// A click that navigates can race the query of the next step:
		// Chromium then drops the node it just handed out ("Could not
		// find node with given id"). The walk starts over from the home
		// page, as a visitor who reloads would.
		for attempt := 1; ; attempt++ {
			sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			err := chromedp.Do(sctx, steps...)
			cancel()
			if err == nil {
				return
			}
			if attempt == 3 || !strings.Contains(err.Error(), "Could not find node") {
				shot(t, ctx, filepath.Join(out, "failed-browse-to-checkout.png"))
				t.Fatalf("browse to checkout: %v", err)
			}
			t.Logf("browse to checkout, attempt %d: %v; again", attempt, err)
		}
	}
	sessionOf := func(t *testing.T, ctx context.Context) string {
		t.Helper()
		raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](`sessionStorage.getItem("linger.session") || ""`))
		var s struct{ Session string }
		if err != nil || json.Unmarshal([]byte(raw), &s) != nil || s.Session == "" {
			t.Fatalf("no linger session in the page (%v): %q", err, raw)
		}
		return s.Session
	}

	t.Run("consent banner leaves the payment form clear", func(t *testing.T) {
		ctx := visitor(t)
		do(t, ctx, "checkout at 1280x900 before consent", 20*time.Second,
			chromedp.EmulateViewport(1280, 900),
			chromedp.Navigate(shop+"/checkout.html"),
			chromedp.WaitVisible(chromedp.ID("consent")),
			chromedp.WaitVisible(chromedp.ID("card-number")))
		overlap, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(function(){
			var c = document.getElementById("consent").getBoundingClientRect();
			var f = document.getElementById("checkout").getBoundingClientRect();
			return !(c.right <= f.left || f.right <= c.left || c.bottom <= f.top || f.bottom <= c.top);
		})()`))
		if err != nil {
			t.Fatal(err)
		}
		if overlap {
			shot(t, ctx, filepath.Join(out, "failed-consent-covers-form.png"))
			t.Fatal("the consent banner covers the checkout form at 1280x900")
		}
	})

	t.Run("struggling visitor is invited", func(t *testing.T) {
		ctx := visitor(t)
		toCheckout(t, ctx)
		for i, card := range []string{"4111 1111 1111 1112", "1234 5678 9012 3456", "4111 1111 1111 111"} {
			do(t, ctx, fmt.Sprintf("card attempt %d", i+1), 10*time.Second,
				// Select what is there and erase it, as a person would.
				chromedp.Click(chromedp.ID("card-number")),
				script(`document.getElementById("card-number").select(), true`),
				chromedp.SendKeys(chromedp.ID("card-number"), kb.Backspace+card),
				chromedp.Click(chromedp.ID("pay")),
				chromedp.WaitVisible(chromedp.CSS(`#card-number[aria-invalid="true"]`)),
				chromedp.Sleep(700*time.Millisecond),
			)
		}
		// Back in the field, then idle: no input at all until the invite.
		do(t, ctx, "focus the card field", 5*time.Second, chromedp.Focus(chromedp.ID("card-number")))
		session := sessionOf(t, ctx)
		do(t, ctx, "wait for the invite", 40*time.Second, chromedp.WaitVisible(chromedp.ID("chat-invite")))
		reason, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.ID("chat-invite"), "data-reason"))
		if err != nil {
			t.Fatal(err)
		}
		headline, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("chat-invite-headline")))
		why, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("chat-invite-why")))
		t.Logf("invite after %v: %s: %q / %q", time.Since(began).Round(time.Second), reason.Value, headline, why)
		if reason.Value != "confusion" && reason.Value != "abandonment" {
			t.Fatalf("invite reason %q", reason.Value)
		}
		if !strings.HasSuffix(headline, "— can I help?") || !strings.Contains(why, "Why you see this: "+reason.Value) {
			t.Fatalf("the widget does not say why: %q / %q", headline, why)
		}
		shot(t, ctx, filepath.Join(out, "invite-page.png"))
		png, err := chromedp.Run(ctx, chromedp.Screenshot(chromedp.ID("chat-invite")))
		if err != nil {
			t.Fatal(err)
		}
		savePNG(t, filepath.Join(out, "invite-widget.png"), png)
		// The visitor's events reached visitor-events, keyed by session,
		// and none carries what was typed.
		events := sessionRecords(t, broker, schemas.TopicEvents, session, func(v []string) bool {
			return strings.Contains(strings.Join(v, "\n"), `"action":"error"`)
		})
		for _, e := range events {
			// The card numbers as typed, with or without their spaces:
			// four digits alone could be part of a timestamp.
			if strings.Contains(e, "4111 1111") || strings.Contains(e, "41111111") || strings.Contains(e, "1234 5678") ||
				strings.Contains(e, "12345678") || strings.Contains(e, "Lovelace") {
				t.Fatalf("an event carries what the visitor typed: %s", e)
			}
		}
		// The demo prints the visitor's decision like any other.
		demo.waitOutput(t, `invite +`+reason.Value+` +0\.\d\d +`+regexp.QuoteMeta(session), 10*time.Second)

		do(t, ctx, "accept the invite", 10*time.Second,
			chromedp.Click(chromedp.ID("chat-accept")),
			chromedp.WaitVisible(chromedp.ID("chat-open")))
		// The widget's feedback reached chat-feedback.
		sessionRecords(t, broker, schemas.TopicFeedback, session, func(v []string) bool {
			all := strings.Join(v, "\n")
			return strings.Contains(all, `"type":"invite_shown"`) && strings.Contains(all, `"type":"invite_accepted"`)
		})
	})

	t.Run("quick buyer is not invited", func(t *testing.T) {
		ctx := visitor(t)
		toCheckout(t, ctx)
		session := sessionOf(t, ctx)
		do(t, ctx, "pay", 15*time.Second,
			chromedp.SendKeys(chromedp.ID("card-number"), "4242 4242 4242 4242"),
			chromedp.Click(chromedp.ID("pay")),
			chromedp.WaitVisible(`//h1[text()="Thank you"]`),
			chromedp.Sleep(6*time.Second),
		)
		shot(t, ctx, filepath.Join(out, "buyer-thanks.png"))
		if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#chat-invite").length`)); err != nil || n != 0 {
			t.Fatalf("the quick buyer was shown an invite (%d, %v)", n, err)
		}
		if strings.Contains(demo.output(), session) {
			t.Fatalf("a decision for the quick buyer %s:\n%s", session, demo.output())
		}
	})
	t.Logf("took %v; screenshots in %s", time.Since(began).Round(time.Second), out)
}

func shot(t *testing.T, ctx context.Context, path string) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Logf("screenshot %s: %v", path, err)
		return
	}
	savePNG(t, path, png)
}

func savePNG(t *testing.T, path string, b []byte) {
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// script runs a JavaScript expression that gives a bool, as a step.
func script(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool](expr)(ctx, t)
		return err
	})
}

// sessionRecords reads topic from the start, keeping the values of
// session's records, until done says it has what it waits for, or fails
// after 15 s.
func sessionRecords(t *testing.T, addr, topic, session string, done func(values []string) bool) []string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var values []string
	for !done(values) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%s of %s: only %q", topic, session, values)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if string(r.Key) == session {
				values = append(values, string(r.Value))
			}
		})
	}
	return values
}
