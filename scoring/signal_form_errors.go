package scoring

// formErrors counts recent validation errors, decayed over the window;
// its detail names the field that last rejected the visitor.
// Unit: errors.
func formErrors(s *State, at int64, set *Settings) float64 {
	return s.decayed(s.ErrorsD, at, set)
}

func init() {
	register(Signal{
		Name:    "form_errors",
		Doc:     "recent validation errors; detail: the field",
		Scale:   3,
		Weights: [numModels]float64{Abandonment: 0.5, Confusion: 2.5},
		Value:   formErrors,
		Detail:  func(s *State) []byte { return s.ErrField },
	})
}
