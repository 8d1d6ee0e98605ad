package scoring

// tabHidden counts the times the tab was hidden: comparing with another
// shop, or leaving.
// Unit: times.
func tabHidden(s *State, _ int64, _ *Settings) float64 {
	return float64(s.HiddenCount)
}

func init() {
	register(Signal{
		Name:    "tab_hidden",
		Doc:     "times the tab was hidden",
		Scale:   3,
		Weights: [numModels]float64{Abandonment: 1.2, Confusion: 0.2},
		Value:   tabHidden,
	})
}
