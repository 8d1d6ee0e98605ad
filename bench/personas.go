package bench

import "github.com/lingerhq/linger/schemas"

// The personas' scripts. Probabilities and durations are guesses at how such
// visitors behave, kept plausible on their own terms: the scorer's weights
// were not looked at to write them, and the tests check that the scorer
// reads them as intended.

func (sc *script) play(p Persona) {
	switch p {
	case Browser:
		sc.browser()
	case Buyer:
		sc.buyer()
	case Hesitator:
		sc.hesitator()
	case Confused:
		sc.confused()
	case Abandoner:
		sc.abandoner()
	case Bot:
		sc.bot()
	default:
		panic("BUG: no script for " + p.String())
	}
}

// toProduct brings the visitor to a product page: straight from an ad or a
// search engine with probability direct, else through the home page and a
// category. It returns the product.
func (sc *script) toProduct(direct float64) int {
	if sc.chance(direct) {
		p := sc.r.IntN(len(shop.products))
		sc.land(shop.products[p].page)
		return p
	}
	sc.land(shop.home)
	sc.read()
	cat := pick(sc, shop.categories)
	sc.view(cat.page)
	sc.read()
	p := pick(sc, cat.products)
	sc.view(shop.products[p].page)
	return p
}

// sibling returns another product of p's category.
func (sc *script) sibling(p int) int {
	ps := shop.categories[shop.products[p].cat].products
	q := pick(sc, ps)
	if q == p {
		q = ps[(indexOf(ps, p)+1)%len(ps)]
	}
	return q
}

func indexOf(xs []int, x int) int {
	for i, y := range xs {
		if y == x {
			return i
		}
	}
	return -1
}

// browser looks around and leaves. A fifth bounce after one page, as real
// sessions often do; the others see a handful of pages, go back from a
// product to its category, now and then leave the tab for a while.
func (sc *script) browser() {
	switch x := sc.r.Float64(); {
	case x < 0.45:
		sc.land(shop.home)
	case x < 0.7:
		sc.land(pick(sc, shop.categories).page)
	case x < 0.9:
		sc.land(pick(sc, shop.products).page)
	default:
		sc.land(pick(sc, shop.searches))
	}
	pages := int64(0)
	if !sc.chance(0.2) {
		pages = sc.between(2, 9)
	}
	for range pages {
		sc.read()
		if sc.chance(0.12) {
			sc.quiet(sc.between(5_000, 45_000)) // reads a long text, or looks away
		}
		if sc.chance(0.1) {
			sc.hide(sc.around(40_000))
		}
		sc.view(sc.browseNext())
	}
	sc.read()
	switch k := shop.kind(sc.page); {
	case (k == schemas.KindHome || k == schemas.KindCategory) && sc.chance(0.45):
		sc.exits()
	case sc.chance(0.08):
		sc.exits()
	}
	sc.leave()
}

// browseNext is where a browsing visitor goes from the current page.
func (sc *script) browseNext() pageID {
	x := sc.r.Float64()
	switch shop.kind(sc.page) {
	case schemas.KindHome:
		switch {
		case x < 0.6:
			return pick(sc, shop.categories).page
		case x < 0.8:
			return pick(sc, shop.products).page
		case x < 0.95:
			return pick(sc, shop.searches)
		default:
			return pick(sc, shop.help)
		}
	case schemas.KindCategory:
		cat := sc.categoryOf(sc.page)
		switch {
		case x < 0.65 && cat >= 0:
			return shop.products[pick(sc, shop.categories[cat].products)].page
		case x < 0.8:
			return pick(sc, shop.categories).page
		case x < 0.9:
			return shop.home
		default:
			return pick(sc, shop.searches)
		}
	case schemas.KindProduct:
		p := shop.productAt(sc.page)
		switch {
		case x < 0.35:
			return shop.categories[shop.products[p].cat].page // back to the list
		case x < 0.6:
			return shop.products[sc.sibling(p)].page
		case x < 0.7:
			return pick(sc, shop.searches)
		case x < 0.8:
			return shop.home
		case x < 0.9:
			return pick(sc, shop.categories).page
		case x < 0.95:
			return pick(sc, shop.shippingInfo)
		default:
			return pick(sc, shop.help)
		}
	case schemas.KindSearch:
		switch {
		case x < 0.7:
			return pick(sc, shop.products).page
		case x < 0.85:
			return pick(sc, shop.searches)
		default:
			return shop.home
		}
	default:
		if x < 0.5 {
			return shop.home
		}
		return pick(sc, shop.categories).page
	}
}

func (sc *script) categoryOf(p pageID) int {
	for i := range shop.categories {
		if shop.categories[i].page == p {
			return i
		}
	}
	return -1
}

// buyer knows what they want: product, cart, checkout, paid. Some compare a
// sibling product or check delivery costs first; at the payment step some
// fetch their card (a quiet spell) or switch to a banking app or password
// manager (a hidden tab); a few mistype the card number once.
func (sc *script) buyer() {
	p := sc.toProduct(0.55)
	sc.read()
	if sc.chance(0.3) {
		q := sc.sibling(p)
		sc.view(shop.products[q].page)
		sc.read()
		if sc.chance(0.5) {
			p = q
		} else {
			sc.view(shop.products[p].page)
			sc.busy(sc.around(6_000))
		}
	}
	if sc.chance(0.12) {
		sc.view(pick(sc, shop.shippingInfo))
		sc.read()
		sc.view(shop.products[p].page)
		sc.busy(sc.around(4_000))
	}
	items := int64(1)
	if sc.chance(0.15) {
		items = 2
	}
	sc.addToCart(p, items)
	if sc.chance(0.2) {
		q := sc.sibling(p)
		sc.view(shop.products[q].page)
		sc.read()
		sc.addToCart(q, 1)
	}
	sc.view(shop.cart)
	sc.read()

	sc.view(shop.shipping)
	sc.checkout(1)
	sc.fillForm(shop.shipFields[:5+sc.r.IntN(2)], sc.chance(0.3))
	sc.submit(shop.shipSubmit)

	sc.view(shop.payment)
	sc.checkout(2)
	sc.busy(sc.between(1_500, 5_000))
	switch x := sc.r.Float64(); {
	case x < 0.2:
		sc.quiet(sc.between(8_000, 40_000)) // fetches the card
	case x < 0.35:
		if sc.chance(0.3) {
			sc.exits() // on the way to the banking tab
		}
		sc.hide(sc.between(5_000, 45_000))
	}
	cardTypo := sc.chance(0.1)
	for i, f := range shop.payFields {
		sc.gap(300, 1500)
		sc.fill(f, sc.between(1_500, 6_000))
		if i == 0 && cardTypo {
			sc.form(f, schemas.FormError)
			sc.gap(800, 2500)
			sc.form(f, schemas.FormFocus)
			sc.typeIn(f, sc.between(1_500, 4_000))
			sc.form(f, schemas.FormBlur)
		}
	}
	sc.submit(shop.paySubmit)
	sc.gap(1_500, 6_000) // the payment is processed
	sc.purchase()
	sc.view(shop.thanks)
	sc.busy(sc.around(8_000))
	if sc.chance(0.2) {
		sc.exits()
	}
	sc.leave()
}

// hesitator fills a cart with something that costs, goes through shipping
// promptly and stops at the payment step: second thoughts. They go quiet
// (the tracker reports the gap), often leave for another tab, come back,
// and reach for the tab bar.
func (sc *script) hesitator() {
	p := sc.toProduct(0.6)
	sc.read()
	if sc.chance(0.4) {
		q := sc.sibling(p)
		sc.view(shop.products[q].page)
		sc.read()
		sc.view(shop.products[p].page)
		sc.busy(sc.around(8_000))
	}
	items := int64(1)
	if sc.chance(0.25) {
		items = 2
	}
	sc.addToCart(p, items)
	sc.view(shop.cart)
	sc.read()
	if sc.chance(0.25) {
		sc.view(pick(sc, shop.shippingInfo))
		sc.read()
		sc.view(shop.cart)
		sc.busy(sc.around(4_000))
	}
	sc.view(shop.shipping)
	sc.checkout(1)
	sc.fillForm(shop.shipFields[:5+sc.r.IntN(2)], sc.chance(0.3))
	sc.submit(shop.shipSubmit)

	sc.view(shop.payment)
	sc.checkout(2)
	sc.busy(sc.between(3_000, 10_000))
	card := shop.payFields[0]
	focused := sc.chance(0.3)
	if focused {
		sc.form(card, schemas.FormFocus)
	}
	sc.quiet(sc.between(25_000, 110_000))
	if focused {
		sc.form(card, schemas.FormBlur)
	}
	if sc.chance(0.6) {
		sc.hide(sc.between(10_000, 120_000))
		if sc.chance(0.5) {
			sc.busy(sc.between(2_000, 8_000)) // reads the total again
		}
	} else if sc.chance(0.5) {
		sc.quiet(sc.between(10_000, 40_000))
	}
	if sc.chance(0.85) {
		sc.gap(500, 4_000)
		sc.exits()
	}
	sc.leave()
}

// confused is stopped by one form field that keeps rejecting what they
// enter: on the shipping form (postcode or phone), the payment form (card
// number or expiry), or the coupon code on the cart. They retype and
// clear it, wander to other fields and back, click the button that does
// nothing, hunt over the page with the pointer. Some get it right in the
// end and go on; most give up.
func (sc *script) confused() {
	p := sc.toProduct(0.6)
	sc.read()
	sc.addToCart(p, 1)
	sc.view(shop.cart)
	sc.read()

	var form []fieldID
	var bad int // index in form of the field that rejects them
	var submit fieldID
	switch x := sc.r.Float64(); {
	case x < 0.6:
		sc.view(shop.shipping)
		sc.checkout(1)
		form, submit = shop.shipFields, shop.shipSubmit
		bad = 3 // postcode
		if sc.chance(0.35) {
			bad = 5 // phone
		}
	case x < 0.85:
		sc.view(shop.shipping)
		sc.checkout(1)
		sc.fillForm(shop.shipFields[:5], sc.chance(0.3))
		sc.submit(shop.shipSubmit)
		sc.view(shop.payment)
		sc.checkout(2)
		form, submit = shop.payFields, shop.paySubmit
		bad = sc.r.IntN(2) // card number or expiry
	default:
		form, submit = []fieldID{shop.coupon}, shop.couponApply
	}
	sc.fillForm(form[:bad], false)
	f := form[bad]
	sc.gap(300, 1500)
	sc.form(f, schemas.FormFocus)
	sc.advance(sc.between(200, 900))
	sc.typeIn(f, sc.between(2_000, 6_000))
	sc.reject(f)

	fixed := sc.chance(0.35)
	rounds := sc.between(2, 4)
	for round := range rounds {
		sc.struggle(f, form, submit)
		if fixed && round == rounds-1 {
			break
		}
		sc.gap(500, 3000)
		sc.form(f, schemas.FormFocus)
		if sc.chance(0.6) {
			sc.advance(sc.between(300, 1200))
			sc.form(f, schemas.FormClear)
		}
		sc.typeIn(f, sc.between(1_500, 5_000))
		sc.reject(f)
	}
	if fixed {
		sc.gap(500, 3000)
		sc.form(f, schemas.FormFocus)
		sc.form(f, schemas.FormClear)
		sc.typeIn(f, sc.between(2_000, 6_000))
		sc.form(f, schemas.FormBlur)
		sc.fillForm(form[bad+1:], false)
		if submit != 0 {
			sc.submit(submit)
		}
		if submit == shop.paySubmit && sc.chance(0.7) {
			sc.gap(1_500, 6_000)
			sc.purchase()
			sc.view(shop.thanks)
			sc.busy(sc.around(6_000))
		}
		sc.leave()
		return
	}
	if sc.chance(0.5) {
		sc.gap(1_000, 8_000)
		sc.exits()
	}
	sc.leave()
}

// reject leaves field f, whose check on blur fails.
func (sc *script) reject(f fieldID) {
	sc.advance(sc.between(100, 600))
	sc.form(f, schemas.FormBlur)
	sc.advance(sc.between(50, 300))
	sc.form(f, schemas.FormError)
}

// struggle is one round of hunting for what is wrong with field f.
func (sc *script) struggle(f fieldID, form []fieldID, submit fieldID) {
	// The pointer searches the form for a hint: many turns per move.
	ms := sc.between(2_000, 5_000)
	moves := ms * sc.between(10, 30) / 1000
	turns := moves * sc.between(30, 60) / 100
	var clicks, rage, dead int64
	if submit != 0 && sc.chance(0.65) {
		// Clicks "continue" again and again: nothing happens.
		rage = sc.between(2, 5)
		clicks += rage + 1
	}
	if sc.chance(0.4) {
		// Clicks the field's label or the hint icon, which do nothing.
		dead = sc.between(1, 3)
		clicks += dead
	}
	sc.gap(300, 1500)
	sc.mouse(ms, moves, turns, clicks, rage, dead)
	if sc.chance(0.3) {
		sc.scroll(-sc.between(100, 400)) // up, to the form's instructions
	}
	if len(form) > 1 && sc.chance(0.4) {
		// Tries another field, types nothing, goes back.
		other := form[sc.r.IntN(len(form))]
		if other == f {
			other = form[0]
		}
		if other != f {
			sc.gap(300, 1500)
			sc.form(other, schemas.FormFocus)
			sc.advance(sc.between(800, 3000))
			sc.form(other, schemas.FormBlur)
		}
	}
	if sc.chance(0.25) {
		// Stares at the field, not knowing what it wants.
		sc.gap(300, 1000)
		sc.form(f, schemas.FormFocus)
		sc.quiet(sc.between(8_000, 30_000))
		sc.form(f, schemas.FormBlur)
	}
}

// abandoner wants the product but not at this price or delivery cost:
// they go back and forth between the product, pricing and shipping pages,
// add to the cart, check delivery again, compare in other tabs, and reach
// for the tab bar.
func (sc *script) abandoner() {
	p := sc.toProduct(0.6)
	pp := shop.products[p].page
	sc.read()
	for range sc.between(2, 4) {
		switch x := sc.r.Float64(); {
		case x < 0.35:
			sc.view(shop.pricing)
		case x < 0.8:
			sc.view(pick(sc, shop.shippingInfo))
		default:
			sc.view(shop.products[sc.sibling(p)].page)
		}
		sc.read()
		sc.view(pp)
		sc.busy(sc.around(6_000))
	}
	sc.addToCart(p, 1)
	sc.view(shop.cart)
	sc.read()
	if sc.chance(0.6) {
		sc.view(pick(sc, shop.shippingInfo))
		sc.read()
		sc.view(shop.cart)
		sc.busy(sc.around(5_000))
	}
	if sc.chance(0.9) {
		sc.hide(sc.between(20_000, 180_000)) // another shop's price
		if sc.chance(0.4) {
			sc.busy(sc.around(5_000))
			sc.hide(sc.between(10_000, 90_000))
		}
	}
	switch x := sc.r.Float64(); {
	case x < 0.35:
		sc.view(shop.pricing)
		sc.read()
	case x < 0.55:
		sc.view(pp)
		sc.busy(sc.around(6_000))
	}
	sc.gap(2_000, 15_000)
	if sc.chance(0.9) {
		sc.exits()
	}
	sc.leave()
}

// bot is a crawler: it walks many pages fast, with no pointer, scrolling
// to load lazy content; a quarter also walk through the cart to checkout
// (price and stock checkers), some pause on a rate limit. The collector
// flagged it, so its session is marked bot.
func (sc *script) bot() {
	sc.show(shop.home, 0)
	for range sc.between(15, 60) {
		sc.gap(200, 3_000)
		sc.show(pick(sc, shop.all), sc.page)
		if sc.chance(0.3) {
			sc.advance(sc.between(50, 300))
			sc.scroll(1000)
		}
	}
	if sc.chance(0.25) {
		p := sc.r.IntN(len(shop.products))
		sc.show(shop.products[p].page, sc.page)
		sc.advance(sc.between(200, 1_000))
		sc.inputEvent(step{typ: schemas.TypeCart, op: uint8(schemas.CartAdd), n: [6]uint32{uint32(shop.products[p].price), 1}})
		sc.cart = shop.products[p].price
		sc.gap(200, 1_000)
		sc.show(shop.cart, sc.page)
		sc.gap(200, 1_000)
		sc.show(shop.shipping, sc.page)
		sc.checkout(1)
		if sc.chance(0.5) {
			sc.quiet(sc.between(20_000, 90_000)) // rate-limited
			sc.show(shop.payment, sc.page)
			sc.checkout(2)
		}
	}
	sc.ended = true
}
