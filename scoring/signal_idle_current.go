package scoring

// idleCurrent is the time since the visitor last did anything (a page
// view, pointer activity, scrolling, form input, cart), in seconds.
// Unit: s.
func idleCurrent(s *State, at int64, _ *Settings) float64 {
	return since(s.ActiveAt, at)
}

func init() {
	register(Signal{
		Name:    "idle_current_s",
		Doc:     "seconds since the visitor last did anything",
		Scale:   90,
		Weights: [numModels]float64{Abandonment: 1.0, Confusion: 0.3},
		Silence: true,
		Value:   idleCurrent,
	})
}
