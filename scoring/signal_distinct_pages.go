package scoring

// distinctPages counts pages that were new when visited (not among the
// three seen before). Broad exploration is browsing, not hesitation, so its
// default abandonment weight is negative.
// Unit: pages.
func distinctPages(s *State, _ int64, _ *Settings) float64 {
	return float64(s.Distinct)
}

func init() {
	register(Signal{
		Name:    "distinct_pages",
		Doc:     "pages new when visited (exploration, not hesitation)",
		Scale:   10,
		Weights: [numModels]float64{Abandonment: -0.3, Confusion: 0.0},
		Value:   distinctPages,
	})
}
