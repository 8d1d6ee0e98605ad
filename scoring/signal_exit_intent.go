package scoring

// exitIntent counts recent exit intents (the pointer left towards the
// browser chrome), decayed over the window: the visitor is reaching for the
// tab bar or the back button.
// Unit: events.
func exitIntent(s *State, at int64, set *Settings) float64 {
	return s.decayed(s.ExitD, at, set)
}

func init() {
	register(Signal{
		Name:    "exit_intent",
		Doc:     "recent exit intents (pointer towards the browser chrome)",
		Scale:   1,
		Weights: [numModels]float64{Abandonment: 3.0, Confusion: 0.3},
		Value:   exitIntent,
	})
}
