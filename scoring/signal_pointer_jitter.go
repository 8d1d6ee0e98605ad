package scoring

// pointerJitter is recent pointer direction changes per move (0..1),
// once there are at least 10 recent moves: a pointer that wanders back and
// forth over the page, searching.
// Unit: ratio.
func pointerJitter(s *State, _ int64, _ *Settings) float64 {
	if s.MovesD < 10*decayUnit {
		return 0
	}
	return min(float64(s.TurnsD)/float64(s.MovesD), 1)
}

func init() {
	register(Signal{
		Name:    "pointer_jitter",
		Doc:     "pointer direction changes per move",
		Scale:   0.3,
		Weights: [numModels]float64{Abandonment: 0.3, Confusion: 1.5},
		Value:   pointerJitter,
	})
}
