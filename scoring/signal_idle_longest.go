package scoring

// idleLongest is the longest idle gap of the session in seconds: the
// longest reported by the client, measured between events, or the current one.
// Unit: s.
func idleLongest(s *State, at int64, _ *Settings) float64 {
	return max(float64(s.IdleLongestMs)/1000, since(s.ActiveAt, at))
}

func init() {
	register(Signal{
		Name:    "idle_longest_s",
		Doc:     "longest idle gap of the session, seconds",
		Scale:   120,
		Weights: [numModels]float64{Abandonment: 0.5, Confusion: 0.3},
		Silence: true,
		Value:   idleLongest,
	})
}
