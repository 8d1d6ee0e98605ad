package outcomes

import "math"

// z95 is the standard normal quantile of 0.975 (√2·erf⁻¹(0.95)): a 95%
// two-sided interval reaches z95 standard errors either side.
const z95 = 1.959963984540054

// Wilson returns Wilson's 95% score interval for a proportion of
// successes out of n trials (acceptance: accepted of shown; satisfaction:
// ratings of 4 or 5 of all ratings). Unlike the normal approximation
// p ± 1.96·√(p(1−p)/n), it stays inside [0, 1] and does not collapse to a
// point at 0 or n successes, which matters for the small counts of one
// team's hour.
//
// For n = 0 it returns [0, 1]: nothing is known. For counts that are not a
// proportion (n or successes negative, successes above n) it returns NaN,
// NaN rather than panicking: the counts come from records a front-end
// sent, and a report should show the row as unknown, not stop.
func Wilson(successes, n int) (low, high float64) {
	switch {
	case n < 0, successes < 0, successes > n:
		return math.NaN(), math.NaN()
	case n == 0:
		return 0, 1
	}
	nf := float64(n)
	p := float64(successes) / nf
	w := z95 * z95 / nf // z²/n, the weight the score interval gives the prior ½
	centre := (p + w/2) / (1 + w)
	half := z95 * math.Sqrt(p*(1-p)/nf+w/(4*nf)) / (1 + w)
	low, high = max(0, centre-half), min(1, centre+half)
	// In exact arithmetic the bound is 0 at no successes and 1 at all of
	// them; rounding must not move it off.
	if successes == 0 {
		low = 0
	}
	if successes == n {
		high = 1
	}
	return low, high
}
