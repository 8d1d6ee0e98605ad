package bench

import (
	"math"
	"math/rand/v2"

	"github.com/lingerhq/linger/schemas"
)

// step is one event of a session in compact form (36 bytes, against 200 and
// more for a schemas.Event): a Stream holds every active session's steps,
// so their size is its memory. Session.Event expands a step.
type step struct {
	at    uint32 // ms after the session's start
	typ   schemas.Type
	op    uint8   // the type's enum: visibility state, scroll dir, form, cart or chat action
	field fieldID // form events
	page  pageID  // where the visitor is; every event carries it, as the tracker sends it
	ref   pageID  // page_view: the referrer
	// n holds the type's numbers: idle {ms}; mouse {ms, moves,
	// dir_changes, clicks, rage_clicks, dead_clicks}; scroll {depth in
	// 1/1000}; cart and purchase {value, items}; checkout {step}.
	n [6]uint32
}

// The browser tracker's idle timer: after idleEveryMs without input it
// sends an idle event with the length of the gap so far, and again every
// idleEveryMs while the gap lasts. A hidden tab's timers are throttled, so
// a hidden tab reports nothing.
const idleEveryMs = 15_000

// maxSessionMs bounds a script's length: a Stream holds a session until its
// last event, so this bounds its memory (rate × maxSessionMs sessions).
const maxSessionMs = 30 * 60_000

// script writes a session's steps. It models two things at once: what the
// visitor does (read, type, hesitate, leave) and what the tracker in their
// browser sends about it (aggregated mouse windows, idle reports, the page
// on every event). Times are ms after the session's start.
type script struct {
	r     *rand.Rand
	steps []step

	t      int64  // now
	page   pageID // current page, 0 before the first view
	depth  uint32 // scroll depth on the current page, 1/1000
	input  int64  // last input the tracker saw: the start of an idle gap
	lag    int64  // how late the idle timer fires in the current gap
	hidden bool
	ended  bool // the visitor left: nothing more is written

	cart, items int64 // cart value (minor units) and items
}

func (sc *script) reset(r *rand.Rand, steps []step) {
	*sc = script{r: r, steps: steps[:0], lag: -1}
}

// --- randomness -------------------------------------------------------

// between returns a uniform integer in [lo, hi].
func (sc *script) between(lo, hi int64) int64 { return lo + sc.r.Int64N(hi-lo+1) }

// chance returns true with probability p.
func (sc *script) chance(p float64) bool { return sc.r.Float64() < p }

// around returns a duration near median: log-normal, as dwell times are,
// kept within a factor 4 of median.
func (sc *script) around(median int64) int64 {
	f := math.Exp(0.5 * sc.r.NormFloat64())
	return int64(float64(median) * min(max(f, 0.25), 4))
}

func pick[T any](sc *script, xs []T) T { return xs[sc.r.IntN(len(xs))] }

// --- writing events ---------------------------------------------------

// add appends st at the current time, on the current page.
func (sc *script) add(st step) {
	if sc.ended {
		return
	}
	if sc.t > maxSessionMs {
		// Cut the script rather than hold a Stream's memory forever.
		sc.ended = true
		return
	}
	st.at = uint32(sc.t)
	st.page = sc.page
	sc.steps = append(sc.steps, st)
}

// touch records input the tracker saw (a view, pointer activity, scroll,
// typing), which closes an idle gap.
func (sc *script) touch() {
	sc.input = sc.t
	sc.lag = -1
}

// advance moves the clock by ms during which the visitor gives input
// (typing, moving the pointer): no idle gap, no event.
func (sc *script) advance(ms int64) {
	sc.t += ms
	sc.touch()
}

// quiet lets ms pass without input: the tracker reports the gap with an
// idle event every idleEveryMs, unless the tab is hidden.
func (sc *script) quiet(ms int64) {
	end := sc.t + ms
	if !sc.hidden {
		if sc.lag < 0 {
			// A timer fires a little late, by the same amount all along
			// one gap.
			sc.lag = sc.between(5, 250)
		}
		// The first report of this gap that is still to come.
		k := (sc.t-sc.input-sc.lag)/idleEveryMs + 1
		for at := sc.input + k*idleEveryMs + sc.lag; at <= end; at += idleEveryMs {
			sc.t = at
			sc.add(step{typ: schemas.TypeIdle, n: [6]uint32{uint32(at - sc.input)}})
		}
	}
	sc.t = end
}

// gap is a short pause between two actions; a long one is reported idle.
func (sc *script) gap(lo, hi int64) { sc.quiet(sc.between(lo, hi)) }

// inputEvent appends an event that is input to the tracker.
func (sc *script) inputEvent(st step) {
	sc.add(st)
	sc.touch()
}

// land is the first page view, from an external referrer or none (typed,
// bookmarked).
func (sc *script) land(p pageID) {
	var ref pageID
	if sc.chance(0.75) {
		ref = pick(sc, shop.referrers)
	}
	sc.show(p, ref)
}

// view navigates to p from the current page.
func (sc *script) view(p pageID) {
	sc.gap(150, 900) // the next page loads
	sc.show(p, sc.page)
}

func (sc *script) show(p, ref pageID) {
	sc.page, sc.depth = p, 0
	sc.inputEvent(step{typ: schemas.TypePageView, ref: ref})
}

// mouse appends the tracker's aggregate of a pointer window of ms from
// now; the tracker sends one only for a window with pointer activity.
func (sc *script) mouse(ms, moves, turns, clicks, rage, dead int64) {
	sc.t += ms
	sc.inputEvent(step{typ: schemas.TypeMouse, n: [6]uint32{uint32(ms), uint32(moves), uint32(turns), uint32(clicks), uint32(rage), uint32(dead)}})
}

// calmMouse is a window of ordinary pointer use: steady moves, few turns.
func (sc *script) calmMouse(ms int64) {
	moves := ms * sc.between(8, 35) / 1000
	turns := moves * sc.between(3, 12) / 100
	var clicks int64
	if sc.chance(0.2) {
		clicks = 1
	}
	sc.mouse(ms, moves, turns, clicks, 0, 0)
}

// scroll moves the page by a share of its height (per mille, negative is up).
func (sc *script) scroll(by int64) {
	d := int64(sc.depth) + by
	dir := schemas.ScrollDown
	if by < 0 {
		dir = schemas.ScrollUp
	}
	sc.depth = uint32(min(max(d, 0), 1000))
	sc.inputEvent(step{typ: schemas.TypeScroll, op: uint8(dir), n: [6]uint32{sc.depth}})
}

// busy is ms of reading with the pointer and the wheel, in tracker windows
// of 1.5-5 s: mostly pointer aggregates, some scrolling, some windows of
// plain reading with no input.
func (sc *script) busy(ms int64) {
	end := sc.t + ms
	for sc.t < end && !sc.ended {
		w := min(sc.between(1500, 5000), end-sc.t)
		switch x := sc.r.Float64(); {
		case x < 0.6:
			sc.calmMouse(w)
		case x < 0.8 && sc.depth < 1000:
			sc.t += w
			sc.scroll(sc.between(100, 350))
		case x < 0.85 && sc.depth > 0:
			sc.t += w
			sc.scroll(-sc.between(100, 300))
		default:
			sc.quiet(w)
		}
	}
}

// dwell returns a typical reading time for a page of kind k.
func (sc *script) dwell(k schemas.PageKind) int64 {
	switch k {
	case schemas.KindHome, schemas.KindSearch:
		return sc.around(8_000)
	case schemas.KindCategory:
		return sc.around(12_000)
	case schemas.KindProduct:
		return sc.around(25_000)
	case schemas.KindCart:
		return sc.around(7_000)
	case schemas.KindPricing, schemas.KindHelp:
		return sc.around(20_000)
	default:
		return sc.around(12_000)
	}
}

// read reads the current page for a typical time.
func (sc *script) read() { sc.busy(sc.dwell(shop.kind(sc.page))) }

// hide switches to another tab for ms, then back.
func (sc *script) hide(ms int64) {
	sc.add(step{typ: schemas.TypeVisibility, op: uint8(schemas.VisibilityHidden)})
	sc.hidden = true
	sc.quiet(ms)
	sc.hidden = false
	sc.inputEvent(step{typ: schemas.TypeVisibility, op: uint8(schemas.VisibilityVisible)})
}

// exits is the pointer leaving towards the tab bar, once or a few times in
// a row as the visitor hovers there.
func (sc *script) exits() {
	n := 1 + sc.r.IntN(3)
	for i := 0; i < n; i++ {
		if i > 0 {
			sc.gap(150, 1500)
		}
		// Not input: a pointer that leaves the page does nothing there.
		sc.add(step{typ: schemas.TypeExitIntent})
	}
}

// leave ends the session. Closing a tab hides it, and the tracker sends
// that as its last beacon, when the beacon gets through.
func (sc *script) leave() {
	if sc.chance(0.7) {
		sc.gap(200, 3000)
		sc.add(step{typ: schemas.TypeVisibility, op: uint8(schemas.VisibilityHidden)})
	}
	sc.ended = true
}

func (sc *script) form(f fieldID, a schemas.FormAction) {
	sc.inputEvent(step{typ: schemas.TypeForm, op: uint8(a), field: f})
}

// typeIn types into the focused field f for ms: the tracker sends an
// input event per burst of typing (debounced), at least one.
func (sc *script) typeIn(f fieldID, ms int64) {
	for ms > 0 {
		burst := min(ms, sc.between(800, 2500))
		sc.advance(burst)
		sc.form(f, schemas.FormInput)
		ms -= burst
	}
}

// fill focuses f, types for ms and leaves the field.
func (sc *script) fill(f fieldID, ms int64) {
	sc.form(f, schemas.FormFocus)
	sc.advance(sc.between(200, 900))
	sc.typeIn(f, ms)
	sc.advance(sc.between(100, 600))
	sc.form(f, schemas.FormBlur)
}

// fillForm fills fields promptly, or all at once when the browser
// autofills them.
func (sc *script) fillForm(fields []fieldID, autofill bool) {
	for _, f := range fields {
		if autofill {
			sc.form(f, schemas.FormFocus)
			sc.advance(sc.between(20, 120))
			sc.form(f, schemas.FormInput)
			sc.advance(sc.between(20, 120))
			sc.form(f, schemas.FormBlur)
			continue
		}
		sc.gap(300, 1800)
		sc.fill(f, sc.between(1_500, 7_000))
	}
}

// submit sends a form: a click on its button.
func (sc *script) submit(f fieldID) {
	sc.gap(500, 2500)
	sc.mouse(sc.between(800, 2000), sc.between(10, 40), sc.between(0, 3), 1, 0, 0)
	sc.form(f, schemas.FormSubmit)
}

// addToCart puts items of product p in the cart.
func (sc *script) addToCart(p int, items int64) {
	sc.gap(500, 3000)
	sc.mouse(sc.between(800, 2500), sc.between(10, 50), sc.between(0, 4), 1, 0, 0)
	v := shop.products[p].price * items
	sc.cart += v
	sc.items += items
	sc.inputEvent(step{typ: schemas.TypeCart, op: uint8(schemas.CartAdd), n: [6]uint32{uint32(v), uint32(items)}})
}

func (sc *script) checkout(n uint32) {
	sc.gap(100, 600)
	sc.inputEvent(step{typ: schemas.TypeCheckout, n: [6]uint32{n}})
}

func (sc *script) purchase() {
	sc.inputEvent(step{typ: schemas.TypePurchase, n: [6]uint32{uint32(sc.cart), uint32(sc.items)}})
}
