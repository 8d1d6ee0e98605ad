package scoring

// cartValue is the cart's value in major currency units (value/100): what
// leaves with the visitor if they abandon.
// Unit: units.
func cartValue(s *State, _ int64, _ *Settings) float64 {
	return float64(s.CartValue) / 100
}

func init() {
	register(Signal{
		Name:    "cart_value",
		Doc:     "cart value in major currency units",
		Scale:   200,
		Weights: [numModels]float64{Abandonment: 0.8, Confusion: 0.0},
		Value:   cartValue,
	})
}
