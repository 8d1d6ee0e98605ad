package scoring

// idleCheckout is the idle time on a cart or checkout page, in seconds:
// the current idle gap or the longest one on that page kind, whichever is
// larger, while the visitor is still on it. Silence at checkout is the
// strongest sign of an abandoning buyer.
// Unit: s.
func idleCheckout(s *State, at int64, _ *Settings) float64 {
	if !isCartOrCheckout(s.Kind) {
		return 0
	}
	return max(float64(s.IdleCartMs)/1000, since(s.ActiveAt, at))
}

func init() {
	register(Signal{
		Name:    "idle_checkout_s",
		Doc:     "idle seconds on a cart or checkout page",
		Scale:   60,
		Weights: [numModels]float64{Abandonment: 3.0, Confusion: 0.5},
		Silence: true,
		Value:   idleCheckout,
	})
}
