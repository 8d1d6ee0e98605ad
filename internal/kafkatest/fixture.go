package kafkatest

import (
	"fmt"
	"time"

	"github.com/lingerhq/linger/schemas"
)

// Start is the event time the fixture's sessions begin at.
var Start = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// Record is a record's key and value, as produced to the events topic.
type Record struct{ Key, Value []byte }

// Hesitators returns the events of sessions first..first+n-1, interleaved:
// each a checkout with a full cart followed by silence and exit intents, so
// that every session gets one abandonment invite with the default config.
// Session i is "s-%04d" (visitor "v-%04d") on site "shop".
func Hesitators(first, n int) []Record {
	var out []Record
	t0 := Start.UnixMilli()
	steps := []struct {
		at int64
		ev schemas.Event
	}{
		{0, schemas.Event{Type: schemas.TypePageView, Page: schemas.Page{URL: []byte("/checkout/payment"), Kind: schemas.KindCheckout}}},
		{1000, schemas.Event{Type: schemas.TypeCart, CartAction: schemas.CartAdd, Value: 40000, Items: 1}},
		{2000, schemas.Event{Type: schemas.TypeCheckout, Step: 2}},
		{60_000, schemas.Event{Type: schemas.TypeIdle, MS: 58_000}},
		{61_000, schemas.Event{Type: schemas.TypeExitIntent}},
		{62_000, schemas.Event{Type: schemas.TypeExitIntent}},
	}
	for _, st := range steps {
		for i := first; i < first+n; i++ {
			ev := st.ev
			ev.Session = fmt.Appendf(nil, "s-%04d", i)
			ev.Visitor = fmt.Appendf(nil, "v-%04d", i)
			ev.Site = []byte("shop")
			ev.TS = t0 + st.at + int64(i)
			out = append(out, Record{ev.Session, schemas.AppendEvent(nil, &ev)})
		}
	}
	return out
}
