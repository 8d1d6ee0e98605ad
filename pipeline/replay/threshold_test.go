package replay

import (
	"math"
	"slices"
	"strings"
	"testing"
)

func TestBetween(t *testing.T) {
	for _, c := range [][2]float64{{0.5, 0.4}, {0.0013051, 0.0013049}, {1, 0.99999}, {0.2, 0}, {0.7, 0.6999999}} {
		hi, lo := c[0], c[1]
		if got := between(hi, lo); !(got > lo && got <= hi) {
			t.Errorf("between(%v, %v) = %v", hi, lo, got)
		}
	}
	if got := between(0.5, 0.4); got != 0.45 {
		t.Errorf("between(0.5, 0.4) = %v, want the short 0.45", got)
	}
}

func pool(ab, conf []float64) []sessionScores {
	var p []sessionScores
	for i := range ab {
		p = append(p, sessionScores{abandonment: ab[i], confusion: conf[i]})
	}
	slices.SortFunc(p, func(a, b sessionScores) int {
		switch {
		case a.abandonment > b.abandonment || math.IsNaN(b.abandonment) && !math.IsNaN(a.abandonment):
			return -1
		case a.abandonment < b.abandonment || math.IsNaN(a.abandonment):
			return 1
		}
		return 0
	})
	return p
}

// TestChooseThresholds: thresholds come as near the target as the scores
// allow, between two scores, a tie never split; confusion keeps its
// threshold unless it alone reaches the target.
func TestChooseThresholds(t *testing.T) {
	nan := math.NaN()
	// Ten sessions, abandonment scores 0.1..1.0, confusion low.
	var ab, conf []float64
	for i := 1; i <= 10; i++ {
		ab, conf = append(ab, float64(i)/10), append(conf, 0.01)
	}
	th, note := chooseThresholds(pool(ab, conf), Scores{Abandonment: 0.7, Confusion: 0.7}, 0.3)
	if th.Abandonment != 0.75 || th.Confusion != 0.7 || note != "" {
		t.Errorf("3 of 10: thresholds %+v (%q), want abandonment 0.75 (0.8, 0.9 and 1.0 above it)", th, note)
	}
	// A tie of four at 0.5: 30% cannot be hit; of 20% (above the tie) and
	// 60% (under it), 20% is nearer.
	ab = []float64{0.9, 0.8, 0.5, 0.5, 0.5, 0.5, 0.2, 0.1, nan, nan}
	th, note = chooseThresholds(pool(ab, conf), Scores{Abandonment: 0.7, Confusion: 0.7}, 0.3)
	if th.Abandonment != 0.65 || !strings.Contains(note, "the nearest share the scores allow is 20.0%") {
		t.Errorf("tie: thresholds %+v (%q)", th, note)
	}
	// Confusion alone invites 50%, over a 20% target: raised to invite
	// half the target; abandonment takes the rest.
	conf = []float64{0.95, 0.9, 0.85, 0.8, 0.8, 0.1, 0.1, 0.1, 0.1, 0.1}
	ab = []float64{0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1}
	th, note = chooseThresholds(pool(ab, conf), Scores{Abandonment: 0.7, Confusion: 0.7}, 0.2)
	if th.Confusion != 0.93 || th.Abandonment != 0.95 || !strings.Contains(note, "confusion alone invited 50.0%") {
		t.Errorf("confusion: thresholds %+v (%q)", th, note)
	}
	if th, note := chooseThresholds(nil, Scores{Abandonment: 0.7, Confusion: 0.7}, 0.2); th.Abandonment != 0.7 || !strings.Contains(note, "no session was ever eligible") {
		t.Errorf("no pool: %+v %q", th, note)
	}
}
