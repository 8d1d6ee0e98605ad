package outcomes

import (
	"encoding/json"
	"math"
	"slices"

	"github.com/lingerhq/linger/scoring"
	"github.com/lingerhq/linger/scoring/learn"
)

// Estimate is a figure with the n it rests on and a 95% confidence interval
// (Wilson's for proportions). Both reports, the replay's and `linger
// report`'s, give every figure as one.
type Estimate struct {
	Value float64 `json:"value"`
	N     int     `json:"n"`
	Lo    float64 `json:"ci_low"`
	Hi    float64 `json:"ci_high"`
}

// estimateJSON repeats the field names of Estimate with pointer fields, so
// that a figure that is not a number is written as null; a test
// (TestEstimateJSONFields) checks that the names and order stay those of
// Estimate.
type estimateJSON struct {
	Value *float64 `json:"value"`
	N     int      `json:"n"`
	Lo    *float64 `json:"ci_low"`
	Hi    *float64 `json:"ci_high"`
}

// MarshalJSON writes an Estimate with its value and interval as null when
// it rests on no observation (n=0) or is not a finite number: a replay
// with no abandoned session has no recall, and NaN is not JSON.
func (e Estimate) MarshalJSON() ([]byte, error) {
	if e.N == 0 {
		return json.Marshal(estimateJSON{})
	}
	return json.Marshal(estimateJSON{Value: Finite(e.Value), N: e.N, Lo: Finite(e.Lo), Hi: Finite(e.Hi)})
}

// UnmarshalJSON reads what MarshalJSON wrote, null as NaN, so that a
// report read back from JSON renders as the original did.
func (e *Estimate) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var v estimateJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*e = Estimate{Value: OrNaN(v.Value), N: v.N, Lo: OrNaN(v.Lo), Hi: OrNaN(v.Hi)}
	return nil
}

// IsFinite reports whether x is a number a figure can show: neither NaN
// nor infinite.
func IsFinite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// Finite is x as a JSON number, nil (null) when it is not finite: the
// reports' JSON forms write a figure that is not a number as null.
func Finite(x float64) *float64 {
	if !IsFinite(x) {
		return nil
	}
	return &x
}

// OrNaN reads back what Finite gave: null is NaN.
func OrNaN(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

// Proportion is k of n with its Wilson interval; NaN when n is 0.
func Proportion(k, n int) Estimate {
	if n == 0 {
		return Estimate{Value: math.NaN(), Lo: math.NaN(), Hi: math.NaN()}
	}
	lo, hi := scoring.Wilson(k, n)
	return Estimate{Value: float64(k) / float64(n), N: n, Lo: lo, Hi: hi}
}

// Difference is k1/n1 − k2/n2 with Newcombe's interval (learn.WilsonDifference);
// its n is n1 + n2, or 0 when either is 0: there is nothing to compare.
func Difference(k1, n1, k2, n2 int) Estimate {
	if n1 == 0 || n2 == 0 {
		return Estimate{Value: math.NaN(), Lo: math.NaN(), Hi: math.NaN()}
	}
	d, lo, hi := learn.WilsonDifference(k1, n1, k2, n2)
	return Estimate{Value: d, N: n1 + n2, Lo: lo, Hi: hi}
}

// Quantile returns the p-quantile of xs with a distribution-free 95%
// interval: the order statistics whose ranks bound the quantile's rank by
// the binomial's normal approximation.
func Quantile(xs []float64, p float64) Estimate {
	n := len(xs)
	if n == 0 {
		return Estimate{Value: math.NaN(), Lo: math.NaN(), Hi: math.NaN()}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	// Nearest rank (1-based) r of a rank x: the ceiling, within 1..n.
	at := func(x float64) float64 {
		r := int(math.Ceil(x - 1e-9))
		return s[min(max(r, 1), n)-1]
	}
	np := p * float64(n)
	half := 1.96 * math.Sqrt(np*(1-p))
	return Estimate{Value: at(np), N: n, Lo: at(math.Floor(np - half)), Hi: at(np + half + 1)}
}
