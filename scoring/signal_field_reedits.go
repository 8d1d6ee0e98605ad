package scoring

// fieldReedits counts returns to a field filled before, and cleared
// fields: the visitor keeps correcting what they entered.
// Unit: times.
func fieldReedits(s *State, _ int64, _ *Settings) float64 {
	return float64(s.Reedits)
}

func init() {
	register(Signal{
		Name:    "field_reedits",
		Doc:     "returns to filled fields, and cleared fields",
		Scale:   4,
		Weights: [numModels]float64{Abandonment: 0.2, Confusion: 1.5},
		Value:   fieldReedits,
	})
}
