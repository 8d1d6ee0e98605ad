package scoring

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/lingerhq/linger/schemas"
)

// acceptancePopulation is a simulated site whose visitors accept an
// invite the more often the higher they score: scores spread from 0.3 to
// 0.99, most of them low (density ∝ e^(−5·(s−0.3))), and a visitor shown
// an invite accepts it with probability 1.2·(s−0.3)⁴: 0.06% at 0.45,
// 3% at 0.7, 27% at 0.99. So acceptance, over the invites a threshold T
// lets out, rises with T: about 1.6% at T = 0.35, 6% at 0.6, 9.5% at
// 0.7, 17% at 0.86.
type acceptancePopulation struct {
	rng *rand.Rand
}

func (p *acceptancePopulation) score() float64 {
	const lam, lo, span = 5.0, 0.3, 0.69
	u := p.rng.Float64()
	return lo - math.Log(1-u*(1-math.Exp(-lam*span)))/lam
}

func (p *acceptancePopulation) accepts(score float64) bool {
	return p.rng.Float64() < 1.2*math.Pow(max(score-0.3, 0), 4)
}

// simulateAcceptance runs hours of that population through an engine with
// the acceptance controller on (its defaults: 3–10%, 1h, min_shown 200)
// and the abandonment threshold at threshold: a session every 180 ms, each
// a checkout page, a cart whose value gives it its score, and a scroll
// 20 s later that decides; every invite is shown 2 s later and accepted,
// or not, 8 s later, as the population says. It returns, per hour, the
// invites shown and accepted, the would-be invites the controller stopped,
// and the controller's offset at the hour's end.
func simulateAcceptance(t *testing.T, threshold float64, hours int, seed uint64) (shown, accepted, stopped []int, offsets []float64) {
	t.Helper()
	const (
		every  = 180 // ms between sessions
		weight = 8.0 // of cart_value, full at 1000
	)
	yaml := func(bias float64) string {
		return fmt.Sprintf(`thresholds: {abandonment: %v, confusion: 1}
models: {abandonment: {bias: %v, weights: {cart_value: %v}}}
scales: {cart_value: 1000}
frequency_cap: {invites: 0}
acceptance_band: {controller: true}
sites: {shop: {}}
`, threshold, bias, weight)
	}
	page := schemas.Page{URL: []byte("/checkout/payment"), Kind: schemas.KindCheckout}
	var id []byte
	session := func(e *Engine, st *State, i int, at, cart int64, d *schemas.Decision) bool {
		id = strconv.AppendInt(append(id[:0], "s-"...), int64(i), 10)
		evs := [...]schemas.Event{
			{Type: schemas.TypePageView, Session: id, Site: shop, TS: at, Page: page},
			{Type: schemas.TypeCart, Session: id, TS: at + 1000, CartAction: schemas.CartAdd, Value: cart, Items: 1},
			{Type: schemas.TypeScroll, Session: id, TS: at + 20_000, ScrollDir: schemas.ScrollDown},
		}
		st.Reset()
		decided := false
		for k := range evs {
			decided = e.Apply(st, &evs[k], d)
		}
		return decided
	}
	// The other signals of these sessions add the same to every score:
	// measure it with an empty cart, and set the bias so that a score of
	// 0.3 needs a little cart value and 0.99 less than all of it.
	var st State
	var d schemas.Decision
	probe := NewEngine(mustConfig(t, yaml(0)))
	session(probe, &st, -1, timelineBase-hour, 0, &d)
	s0 := probe.Scores().Abandonment
	bias := -1.5 - math.Log(s0/(1-s0))
	e := NewEngine(mustConfig(t, yaml(bias)))

	pop := &acceptancePopulation{rng: rand.New(rand.NewPCG(seed, 7))}
	shown, accepted, stopped = make([]int, hours), make([]int, hours), make([]int, hours)
	n := int(int64(hours) * hour / every)
	for i := range n {
		at := timelineBase + int64(i)*every
		h := int((at - timelineBase) / hour)
		s := pop.score()
		x := (math.Log(s/(1-s)) + 1.5) / weight // cart_value's share of its scale
		if x < 0 || x > 1 {
			t.Fatalf("score %v needs a cart of %v of the scale", s, x)
		}
		switch {
		case session(e, &st, i, at, int64(math.Round(x*1000*100)), &d):
			if got := e.Scores().Abandonment; math.Abs(got-s) > 1e-3 {
				t.Fatalf("session %d scored %v, want the population's %v", i, got, s)
			}
			shown[h]++
			e.Feedback(&st, &schemas.Feedback{Type: schemas.FeedbackShown, InviteID: d.ID, Session: st.Session, TS: d.EventTS + 2000})
			if pop.accepts(s) {
				accepted[h]++
				e.Feedback(&st, &schemas.Feedback{Type: schemas.FeedbackAccepted, InviteID: d.ID, Session: st.Session, TS: d.EventTS + 8000})
			}
		case e.Outcome() == SuppressedAcceptanceBand:
			stopped[h]++
		}
		if next := int((at + every - timelineBase) / hour); next != h || i == n-1 {
			b, _ := e.Budget().Band(shop)
			offsets = append(offsets, b.Acceptance.Offset)
		}
	}
	return shown, accepted, stopped, offsets
}

// TestAcceptanceBandConverges: from a threshold whose invites are accepted
// below the band, and from one above it, the controller moves the
// threshold until the acceptance of the invites it lets out is in the
// band, as far as a window can tell: it stops once the Wilson interval of
// a window's acceptance reaches the band, so it comes to rest at the
// band's edge, within the interval of its own measurement (and takes
// another step, now and then, while the acceptance there is still a little
// outside). The offset it settles at is short of its bound: the band, not
// the bound, stopped it.
func TestAcceptanceBandConverges(t *testing.T) {
	const hours = 12
	for _, c := range []struct {
		name      string
		threshold float64
		direction int // of the start, against the band: -1 below, 1 above
	}{
		{"from below", 0.35, -1},
		{"from above", 0.86, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			shown, accepted, stopped, offsets := simulateAcceptance(t, c.threshold, hours, 1)
			var trace strings.Builder
			for h := range hours {
				fmt.Fprintf(&trace, "\n  hour %2d: %4d shown, %3d accepted (%5.2f%%), %4d stopped; offset %+.2f",
					h, shown[h], accepted[h], 100*float64(accepted[h])/float64(max(shown[h], 1)), stopped[h], offsets[h])
			}
			t.Log(trace.String())

			// The first hour, before any step, is outside the band.
			if got := wilsonOutside(accepted[0], shown[0], 0.03, 0.10); got != c.direction {
				t.Fatalf("the first hour's acceptance is not wholly on the %+d side of the band: %s", c.direction, trace.String())
			}
			// The controller moved the right way only (it weighs the
			// invites of the thresholds as they are, so it does not
			// overshoot and come back), by steps, and not to its bound.
			final := offsets[hours-1]
			for h := 1; h < hours; h++ {
				if (offsets[h]-offsets[h-1])*float64(c.direction) > 0 {
					t.Fatalf("the offset moved back in hour %d%s", h, trace.String())
				}
			}
			if final*float64(-c.direction) < 2*AcceptanceStep-1e-9 || math.Abs(final) >= AcceptanceMaxOffset {
				t.Fatalf("final offset %+v: want at least two steps %s the threshold, short of ±%v%s",
					final, map[int]string{-1: "up", 1: "down"}[c.direction], AcceptanceMaxOffset, trace.String())
			}
			// In the band as far as a window can tell: the last four
			// hours' acceptance, weighed with an hour's worth of invites
			// (one window's), has an interval that reaches the band.
			var n, k int
			for h := hours - 4; h < hours; h++ {
				n += shown[h]
				k += accepted[h]
			}
			if got := wilsonOutside(k/4, n/4, 0.03, 0.10); got != 0 {
				t.Fatalf("the last four hours' acceptance, %d of %d, is outside the band%s", k, n, trace.String())
			}
			// The would-be invites a raised threshold held back are
			// counted; a lowered one holds none back.
			total := 0
			for _, s := range stopped {
				total += s
			}
			if (c.direction < 0) != (total > 0) {
				t.Fatalf("%d would-be invites counted as acceptance_band%s", total, trace.String())
			}
		})
	}
}
