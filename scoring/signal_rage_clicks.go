package scoring

// rageClicks counts recent rage clicks (bursts of clicks on one spot),
// decayed over the window: something does not respond as expected.
// Unit: clicks.
func rageClicks(s *State, at int64, set *Settings) float64 {
	return s.decayed(s.RageD, at, set)
}

func init() {
	register(Signal{
		Name:    "rage_clicks",
		Doc:     "recent rage clicks",
		Scale:   3,
		Weights: [numModels]float64{Abandonment: 0.5, Confusion: 2.5},
		Value:   rageClicks,
	})
}
