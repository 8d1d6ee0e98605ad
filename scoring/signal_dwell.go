package scoring

// dwell is the time on the current page, in seconds of event time. A long
// dwell on a product, pricing or checkout page is deliberation.
// Unit: s.
func dwell(s *State, at int64, _ *Settings) float64 {
	return since(s.PageSince, at)
}

func init() {
	register(Signal{
		Name:    "dwell_s",
		Doc:     "seconds on the current page",
		Scale:   120,
		Weights: [numModels]float64{Abandonment: 0.5, Confusion: 0.8},
		Value:   dwell,
	})
}
