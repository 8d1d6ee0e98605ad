package scoring

// deadClicks counts recent clicks that did nothing (not on a link,
// button or input), decayed over the window: the visitor expects something
// to be clickable.
// Unit: clicks.
func deadClicks(s *State, at int64, set *Settings) float64 {
	return s.decayed(s.DeadD, at, set)
}

func init() {
	register(Signal{
		Name:    "dead_clicks",
		Doc:     "recent clicks that did nothing",
		Scale:   5,
		Weights: [numModels]float64{Abandonment: 0.2, Confusion: 1.5},
		Value:   deadClicks,
	})
}
