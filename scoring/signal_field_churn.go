package scoring

// fieldChurn counts form fields the visitor focused and left without
// typing: looking for the right field, or unsure what to enter.
// Unit: fields.
func fieldChurn(s *State, _ int64, _ *Settings) float64 {
	return float64(s.Churn)
}

func init() {
	register(Signal{
		Name:    "field_churn",
		Doc:     "form fields focused and left without typing",
		Scale:   4,
		Weights: [numModels]float64{Abandonment: 0.2, Confusion: 1.2},
		Value:   fieldChurn,
	})
}
