package scoring

import (
	"math"
	"testing"
)

func TestWilson(t *testing.T) {
	cases := []struct {
		k, n   int
		lo, hi float64
	}{
		{8, 10, 0.49016247153664183, 0.9433178485456247},
		{0, 10, 0, 0.2775327998628892},
		{10, 10, 0.7224672001371107, 1},
		{50, 100, 0.4038315303659956, 0.5961684696340044},
		{1, 3, 0.06149194472039621, 0.7923403991979522},
		{0, 0, 0, 1},
	}
	for _, c := range cases {
		lo, hi := Wilson(c.k, c.n)
		if !nearWilson(lo, c.lo, 1e-12) || !nearWilson(hi, c.hi, 1e-12) {
			t.Errorf("Wilson(%d, %d) = [%v, %v], want [%v, %v]", c.k, c.n, lo, hi, c.lo, c.hi)
		}
	}
	// The brief's rounding: k=8, n=10 → [0.490, 0.943].
	if lo, hi := Wilson(8, 10); math.Round(lo*1000) != 490 || math.Round(hi*1000) != 943 {
		t.Errorf("Wilson(8, 10) = [%.3f, %.3f]", lo, hi)
	}
}

func nearWilson(a, b, tol float64) bool { return math.Abs(a-b) <= tol }
