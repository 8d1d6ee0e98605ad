package scoring

// pricingRevisits counts views of pricing or shipping pages after the
// first: price or delivery cost is what holds the visitor back.
// Unit: views.
func pricingRevisits(s *State, _ int64, _ *Settings) float64 {
	return float64(max(s.PriceViews, 1) - 1)
}

func init() {
	register(Signal{
		Name:    "pricing_revisits",
		Doc:     "repeat views of pricing or shipping pages",
		Scale:   3,
		Weights: [numModels]float64{Abandonment: 1.5, Confusion: 0.4},
		Value:   pricingRevisits,
	})
}
