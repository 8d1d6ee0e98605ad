package replay

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lingerhq/linger/schemas"
	"github.com/lingerhq/linger/scoring"
)

func TestHumanDuration(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{250 * time.Millisecond, "250ms"},
		{1500 * time.Millisecond, "1.5s"},
		{2 * time.Second, "2s"},
		{45 * time.Second, "45s"},
		{3*time.Minute + 20758*time.Millisecond, "3m21s"},
		{7 * time.Minute, "7m"},
		{7*time.Minute + 29*time.Second, "7m29s"},
		{30 * time.Minute, "30m"},
		{2*time.Hour + 50*time.Minute + 10*time.Second, "2h50m"},
		{3 * time.Hour, "3h"},
		{-90 * time.Second, "-1m30s"},
	} {
		if got := humanDuration(c.d); got != c.want {
			t.Errorf("humanDuration(%v) = %q, want %q", c.d, got, c.want)
		}
	}
	// What a baseline prints is what it measures.
	for _, ms := range []int64{200758, 5432, 999, 3_723_456} {
		shown := shownMs(ms)
		back, err := time.ParseDuration(humanDuration(time.Duration(shown) * time.Millisecond))
		if shown > ms || err != nil || back.Milliseconds() != shown {
			t.Errorf("shownMs(%d) = %d, printed %q, which reads back as %v", ms, shown, humanDuration(time.Duration(shown)*time.Millisecond), back)
		}
	}
}

// timeline builds JSON-lines records of events, for the replays below.
type timeline struct {
	lines []string
}

const t0 = 1_750_000_000_000

func (tl *timeline) add(ev schemas.Event) {
	ev.Site = []byte("shop")
	tl.lines = append(tl.lines, string(schemas.AppendEvent(nil, &ev)))
}

// browse adds a session that views a product page every 20 s, views
// times, from start (ms after t0).
func (tl *timeline) browse(id string, start int64, views int, kind schemas.PageKind) {
	for i := range views {
		tl.add(schemas.Event{Type: schemas.TypePageView, Session: []byte(id), TS: t0 + start + int64(i)*20_000,
			Page: schemas.Page{URL: []byte(fmt.Sprintf("/p/%d", i)), Kind: kind}})
	}
}

func (tl *timeline) report(t *testing.T, config string) *Report {
	t.Helper()
	in, err := ReadInput(strings.NewReader(strings.Join(tl.lines, "\n")), "")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := scoring.ParseConfig([]byte(config))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(in.Records, Options{Config: cfg, Partitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	return res.Report("timeline")
}

func warningOf(r *Report, code string) string {
	for _, w := range r.Warnings {
		if w.Code == code {
			return w.Message
		}
	}
	return ""
}

func TestWarnings(t *testing.T) {
	t.Run("mostly censored", func(t *testing.T) {
		// 7 minutes of traffic, a 30-minute session timeout: every session
		// but none is censored.
		var tl timeline
		for i := range 20 {
			tl.browse(fmt.Sprintf("s%d", i), int64(i)*20_000, 3, schemas.KindProduct)
		}
		tl.browse("late", 7*60_000-40_000, 3, schemas.KindProduct)
		r := tl.report(t, "")
		msg := warningOf(r, WarnMostlyCensored)
		if msg != "100% of sessions censored (21 of 21): the input spans 7m; an outcome needs 30m of quiet after a session's last event" {
			t.Errorf("warning %q", msg)
		}
		// With a timeout the input spans, most outcomes are known: no
		// warning.
		if r := tl.report(t, "session_timeout: 1m\n"); warningOf(r, WarnMostlyCensored) != "" {
			t.Errorf("warned with %d of %d censored: %v", r.SessionsByOutcome["censored"], r.Sessions, r.Warnings)
		}
	})
	t.Run("no session abandoned", func(t *testing.T) {
		var tl timeline
		for i := range 5 {
			tl.browse(fmt.Sprintf("s%d", i), int64(i)*60_000, 3, schemas.KindProduct)
		}
		tl.browse("late", 20*60_000, 1, schemas.KindHome)
		r := tl.report(t, "session_timeout: 2m\n")
		if msg := warningOf(r, WarnNoAbandoned); !strings.HasPrefix(msg, "no session abandoned: no session reached a cart or checkout page") {
			t.Errorf("warning %q", msg)
		}
		// One that bought after reaching its cart: there was a cart, and
		// still no abandonment.
		tl.add(schemas.Event{Type: schemas.TypeCart, Session: []byte("s0"), CartAction: schemas.CartAdd, Value: 100, Items: 1, TS: t0 + 61_000})
		tl.add(schemas.Event{Type: schemas.TypePurchase, Session: []byte("s0"), Value: 100, Items: 1, TS: t0 + 62_000})
		r = tl.report(t, "session_timeout: 2m\n")
		if msg := warningOf(r, WarnNoAbandoned); !regexp.MustCompile(`^no session abandoned: none of the 5 sessions with a known outcome reached a cart or checkout and left without buying; `).MatchString(msg) {
			t.Errorf("warning %q", msg)
		}
	})
	t.Run("no invites, scores under the thresholds", func(t *testing.T) {
		var tl timeline
		for i := range 5 {
			tl.browse(fmt.Sprintf("s%d", i), int64(i)*60_000, 4, schemas.KindProduct)
		}
		r := tl.report(t, "session_timeout: 2m\n")
		msg := warningOf(r, WarnNoInvites)
		want := regexp.MustCompile(`^no invites: no score reached its threshold at an eligible moment of the 5 eligible sessions: abandonment scores reach 0\.0\d+ \(threshold 0\.7\), confusion 0\.0\d+ \(threshold 0\.7\)$`)
		if !want.MatchString(msg) {
			t.Errorf("warning %q", msg)
		}
		if r.EligibleSessions != 5 || !(r.HighestScores.Abandonment > 0 && r.HighestScores.Abandonment < 0.7) {
			t.Errorf("eligible %d, highest %+v", r.EligibleSessions, r.HighestScores)
		}
	})
	t.Run("no invites, nobody eligible", func(t *testing.T) {
		var tl timeline
		for i := range 5 {
			tl.browse(fmt.Sprintf("s%d", i), int64(i)*60_000, 4, schemas.KindHome)
		}
		r := tl.report(t, "session_timeout: 2m\n")
		if msg := warningOf(r, WarnNoInvites); msg != "no invites: no session was ever eligible for one; the policy held them back at their last moment for page 5" {
			t.Errorf("warning %q", msg)
		}
	})
}
