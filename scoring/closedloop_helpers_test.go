package scoring

import (
	"fmt"
	"strings"
	"testing"

	"github.com/lingerhq/linger/schemas"
)

// silent returns a buyer who goes quiet on the payment page at 8 s: with
// the default config, scored (Fire) at 38, 68, 98, 128 s of the session
// it reaches about 0.17, 0.62, 0.74, 0.79 for abandonment, so a test picks
// a score by picking a moment.
func silent(session, visitor, site string, start int64) []schemas.Event {
	s, v, w := []byte(session), []byte(visitor), []byte(site)
	return []schemas.Event{
		{Type: schemas.TypePageView, Session: s, Visitor: v, Site: w, TS: start, Page: schemas.Page{URL: []byte("/p/espresso-machine"), Kind: schemas.KindProduct}},
		{Type: schemas.TypeCart, Session: s, Visitor: v, Site: w, TS: start + 2000, CartAction: schemas.CartAdd, Value: 34900, Items: 1},
		{Type: schemas.TypePageView, Session: s, Visitor: v, Site: w, TS: start + 5000, Page: schemas.Page{URL: []byte("/checkout/payment"), Kind: schemas.KindCheckout}},
		{Type: schemas.TypeCheckout, Session: s, Visitor: v, Site: w, TS: start + 8000, Step: 2},
	}
}

// eager returns the first four events of hesitation with a visitor and a
// site on each: invited at 40 s with an abandonment score of about 0.88.
func eager(session, visitor, site string, start int64) []schemas.Event {
	evs := hesitation(session, start)[:4]
	for i := range evs {
		evs[i].Visitor, evs[i].Site = []byte(visitor), []byte(site)
	}
	return evs
}

// rig is an engine with the state of one session at a time, for tests that
// run many short sessions through one partition.
type rig struct {
	t *testing.T
	e *Engine
	d schemas.Decision
}

func newRig(t *testing.T, yaml string, opts ...EngineOption) *rig {
	t.Helper()
	if !strings.Contains(yaml, "sites:") {
		// The sessions of the tests are of site shop: named, it keeps a
		// budget of its own (other sites share one).
		yaml += "\nsites: {shop: {}}\n"
	}
	cfg, err := ParseConfig([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return &rig{t: t, e: NewEngine(cfg, opts...)}
}

// apply runs evs on a new session and returns the outcome and decision of
// the first event that decided, or the outcome of the last event.
func (r *rig) apply(evs []schemas.Event) (Outcome, *schemas.Decision) {
	var st State
	for i := range evs {
		if r.e.Apply(&st, &evs[i], &r.d) {
			return r.e.Outcome(), &r.d
		}
	}
	return r.e.Outcome(), nil
}

// fire runs evs on a new session, then scores it by a timer at event time
// at.
func (r *rig) fire(evs []schemas.Event, at int64) (Outcome, *schemas.Decision) {
	var st State
	for i := range evs {
		if r.e.Apply(&st, &evs[i], &r.d) {
			r.t.Fatalf("%s decided before its timer: %s", evs[0].Session, r.e.Outcome())
		}
	}
	decided, expired := r.e.Fire(&st, at, &r.d)
	if expired {
		r.t.Fatalf("%s expired", evs[0].Session)
	}
	if decided {
		return r.e.Outcome(), &r.d
	}
	return r.e.Outcome(), nil
}

func capacityRecord(site, team string, free, agents int64, handleS float64, ts int64) *schemas.Capacity {
	return &schemas.Capacity{Site: []byte(site), Team: []byte(team), FreeSlots: free, Agents: agents, AvgHandleS: handleS, TS: ts}
}

func sid(prefix string, i int) string { return fmt.Sprintf("%s-%d", prefix, i) }
