package scoring

// backForth counts returns to the page before the current one (A→B→A):
// comparing, or going in circles.
// Unit: times.
func backForth(s *State, _ int64, _ *Settings) float64 {
	return float64(s.BackForth)
}

func init() {
	register(Signal{
		Name:    "back_forth",
		Doc:     "returns to the previous page (A→B→A)",
		Scale:   4,
		Weights: [numModels]float64{Abandonment: 0.8, Confusion: 1.0},
		Value:   backForth,
	})
}
