package scoring

// pageViews counts page views in the session. Many views with nothing
// bought or carted is a visitor who cannot find what they came for.
// Unit: pages.
func pageViews(s *State, _ int64, _ *Settings) float64 {
	return float64(s.PageViews)
}

func init() {
	register(Signal{
		Name:    "page_views",
		Doc:     "page views in the session",
		Scale:   20,
		Weights: [numModels]float64{Abandonment: 0.3, Confusion: 0.3},
		Value:   pageViews,
	})
}
