package scoring

// fieldStuck is the time in the focused form field without progress (no
// input since focus, or since its last validation error), in seconds.
// Unit: s.
func fieldStuck(s *State, at int64, _ *Settings) float64 {
	if s.Flags&FlagInFieldFocus == 0 || s.Flags&FlagFieldProgress != 0 {
		return 0
	}
	return since(s.FieldSince, at)
}

func init() {
	register(Signal{
		Name:    "field_stuck_s",
		Doc:     "seconds in the focused field without progress",
		Scale:   45,
		Weights: [numModels]float64{Abandonment: 0.3, Confusion: 1.5},
		Value:   fieldStuck,
	})
}
