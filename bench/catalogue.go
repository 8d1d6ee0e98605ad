package bench

import "github.com/lingerhq/linger/schemas"

// pageID indexes shop.pages; 0 is no page.
type pageID uint16

// fieldID indexes shop.fields; 0 is no field.
type fieldID uint8

type pageInfo struct {
	url  []byte
	kind schemas.PageKind // KindNone for external referrers
}

type fieldInfo struct {
	form, field []byte // field is empty for a form's submit
}

type product struct {
	page  pageID
	cat   int   // index in catalogue.categories
	price int64 // minor units
}

type category struct {
	page     pageID
	products []int // indexes in catalogue.products
}

// catalogue is the simulated shop. URLs and names are built once, so an
// event points at them instead of carrying copies: Session.Event allocates
// nothing.
type catalogue struct {
	pages  []pageInfo
	fields []fieldInfo

	home, cart, shipping, payment, thanks, pricing, login pageID
	help                                                  []pageID
	// shippingInfo pages count as pricing views for the scorer (their URLs
	// hold "shipping" or "delivery").
	shippingInfo []pageID
	searches     []pageID
	referrers    []pageID // external, for the ref of a landing page
	all          []pageID // every page of the shop, for crawlers
	categories   []category
	products     []product

	shipFields  []fieldID // the shipping form, in the order it is filled
	payFields   []fieldID // the payment form
	coupon      fieldID   // the coupon code on the cart page
	couponApply fieldID   // its "apply" button
	shipSubmit  fieldID
	paySubmit   fieldID
}

var shop = newCatalogue()

func newCatalogue() *catalogue {
	c := &catalogue{pages: []pageInfo{{}}, fields: []fieldInfo{{}}}
	c.home = c.page("/", schemas.KindHome)
	c.cart = c.page("/cart", schemas.KindCart)
	c.shipping = c.page("/checkout/shipping", schemas.KindCheckout)
	c.payment = c.page("/checkout/payment", schemas.KindCheckout)
	c.thanks = c.page("/checkout/thank-you", schemas.KindOther)
	c.pricing = c.page("/pricing", schemas.KindPricing) // membership plans with free delivery
	c.login = c.page("/account/login", schemas.KindAccount)
	for _, u := range []string{"/help", "/help/returns", "/help/payment-methods"} {
		c.help = append(c.help, c.page(u, schemas.KindHelp))
	}
	c.shippingInfo = []pageID{
		c.page("/help/shipping", schemas.KindHelp),
		c.page("/delivery-costs", schemas.KindOther),
	}
	for _, q := range []string{"coffee", "waterproof+jacket", "desk", "hose", "gift+ideas", "boots"} {
		c.searches = append(c.searches, c.page("/search?q="+q, schemas.KindSearch))
	}
	for _, u := range []string{"https://www.google.com/", "https://www.bing.com/", "https://duckduckgo.com/",
		"https://www.instagram.com/", "https://mail.example.com/newsletter"} {
		c.referrers = append(c.referrers, c.page(u, schemas.KindNone))
	}
	for _, p := range []struct {
		cat, slug string
		price     int64
	}{
		{"kitchen", "espresso-machine", 34900}, {"kitchen", "chef-knife", 8900}, {"kitchen", "cast-iron-pan", 5400},
		{"kitchen", "kettle", 4999}, {"kitchen", "coffee-grinder", 12900},
		{"garden", "garden-hose", 2999}, {"garden", "pruning-shears", 2450}, {"garden", "raised-bed", 11900},
		{"garden", "lawn-mower", 27900}, {"garden", "watering-can", 1899},
		{"outdoor", "rain-jacket", 14900}, {"outdoor", "hiking-boots", 17900}, {"outdoor", "tent-2p", 22900},
		{"outdoor", "headlamp", 3499}, {"outdoor", "daypack", 7900},
		{"home-office", "standing-desk", 49900}, {"home-office", "office-chair", 32900}, {"home-office", "monitor-arm", 8900},
		{"home-office", "desk-lamp", 4599}, {"home-office", "webcam", 6999},
		{"clothing", "running-shoes", 8999}, {"clothing", "merino-sweater", 9900}, {"clothing", "denim-jacket", 11900},
		{"clothing", "wool-socks", 1999}, {"clothing", "rain-boots", 6499},
	} {
		// Products are listed by category: a new category name starts one.
		if n := len(c.categories); n == 0 || string(c.pages[c.categories[n-1].page].url) != "/c/"+p.cat {
			c.categories = append(c.categories, category{page: c.page("/c/"+p.cat, schemas.KindCategory)})
		}
		cg := &c.categories[len(c.categories)-1]
		cg.products = append(cg.products, len(c.products))
		c.products = append(c.products, product{page: c.page("/p/"+p.slug, schemas.KindProduct), cat: len(c.categories) - 1, price: p.price})
	}
	for _, f := range []string{"email", "name", "address", "postcode", "city", "phone"} {
		c.shipFields = append(c.shipFields, c.field("shipping", f))
	}
	for _, f := range []string{"card_number", "expiry", "cvc", "name_on_card"} {
		c.payFields = append(c.payFields, c.field("payment", f))
	}
	c.coupon = c.field("cart", "coupon_code")
	c.couponApply = c.field("cart", "")
	c.shipSubmit = c.field("shipping", "")
	c.paySubmit = c.field("payment", "")
	for i, p := range c.pages {
		if p.kind != schemas.KindNone {
			c.all = append(c.all, pageID(i))
		}
	}
	if len(c.pages) > 1<<16 || len(c.fields) > 1<<8 {
		panic("BUG: catalogue outgrew its id types")
	}
	return c
}

func (c *catalogue) page(url string, kind schemas.PageKind) pageID {
	c.pages = append(c.pages, pageInfo{url: []byte(url), kind: kind})
	return pageID(len(c.pages) - 1)
}

func (c *catalogue) field(form, field string) fieldID {
	c.fields = append(c.fields, fieldInfo{form: []byte(form), field: []byte(field)})
	return fieldID(len(c.fields) - 1)
}

func (c *catalogue) kind(p pageID) schemas.PageKind { return c.pages[p].kind }

// productAt returns the product shown on page p, or -1.
func (c *catalogue) productAt(p pageID) int {
	for i := range c.products {
		if c.products[i].page == p {
			return i
		}
	}
	return -1
}
