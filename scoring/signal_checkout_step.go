package scoring

// checkoutStep is the furthest checkout step reached: the further, the
// more intent an abandonment wastes.
// Unit: step.
func checkoutStep(s *State, _ int64, _ *Settings) float64 {
	return float64(s.CheckoutStep)
}

func init() {
	register(Signal{
		Name:    "checkout_step",
		Doc:     "furthest checkout step reached",
		Scale:   3,
		Weights: [numModels]float64{Abandonment: 0.8, Confusion: 0.2},
		Value:   checkoutStep,
	})
}
