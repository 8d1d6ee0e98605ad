package scoring

import (
	"fmt"
	"math"
)

// wilsonZ is the standard normal quantile of 0.975: the half-width of a 95%
// interval in standard errors.
const wilsonZ = 1.959963984540054

// Wilson returns the 95% Wilson score interval of the proportion k/n. Unlike
// the normal approximation p ± 1.96·√(p(1−p)/n) it stays inside [0,1] and
// does not collapse to a point at k = 0 or k = n, which matters for the
// small counts of a rare outcome or a short replay. For n = 0 it returns
// [0,1]: nothing is known. It panics unless 0 ≤ k ≤ n.
func Wilson(k, n int) (lo, hi float64) {
	if k < 0 || k > n {
		panic(fmt.Sprintf("scoring: Wilson(%d, %d): need 0 ≤ k ≤ n", k, n))
	}
	if n == 0 {
		return 0, 1
	}
	nf := float64(n)
	p := float64(k) / nf
	z2 := wilsonZ * wilsonZ
	denom := 1 + z2/nf
	centre := (p + z2/(2*nf)) / denom
	half := wilsonZ * math.Sqrt(p*(1-p)/nf+z2/(4*nf*nf)) / denom
	lo, hi = math.Max(0, centre-half), math.Min(1, centre+half)
	// Exact ends: at k = 0 (or n) the bound is 0 (or 1) in exact
	// arithmetic, and rounding should not move it.
	if k == 0 {
		lo = 0
	}
	if k == n {
		hi = 1
	}
	return lo, hi
}
