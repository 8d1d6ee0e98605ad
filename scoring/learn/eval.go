package learn

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/lingerhq/linger/scoring"
)

// z95 is the standard normal quantile of 0.975: the half-width of a 95%
// interval in standard errors.
const z95 = 1.959963984540054

// Estimate is a figure with the n it rests on and a 95% confidence interval.
// Its fields match the replay report's Estimate, so that one converts to the
// other, while learn stays independent of the replay package.
type Estimate struct {
	Value float64 `json:"value"`
	N     int     `json:"n"`
	Lo    float64 `json:"ci_low"`
	Hi    float64 `json:"ci_high"`
}

// Point is a point of a curve; on a ROC curve X is the false positive rate
// and Y the true positive rate.
type Point struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
}

// AUC returns the ROC AUC of scores separating the rows where positive is
// true from the others: the probability that a random positive scores above
// a random negative, ties counting one half (the Mann–Whitney U statistic
// over the positives' average ranks, so that a score that ties a lot is not
// credited for an arbitrary tie order). N is the number of scores; the 95%
// interval uses the Hanley–McNeil (1982) standard error, clamped to [0,1].
// NaN scores rank below every other score. If one class is missing the AUC
// is undefined and Value, Lo and Hi are NaN. It panics if the lengths
// differ.
func AUC(scores []float64, positive []bool) Estimate {
	checkLengths("AUC", scores, positive)
	n := len(scores)
	est := Estimate{Value: math.NaN(), N: n, Lo: math.NaN(), Hi: math.NaN()}
	var u, negBelow, nPos, nNeg float64
	forTieGroups(scores, positive, false, func(pos, neg float64) {
		// Each positive of this group beats every negative below it and
		// ties with the negatives of its own group.
		u += pos * (negBelow + neg/2)
		negBelow += neg
		nPos += pos
		nNeg += neg
	})
	if nPos == 0 || nNeg == 0 {
		return est
	}
	a := u / (nPos * nNeg)
	q1 := a / (2 - a)
	q2 := 2 * a * a / (1 + a)
	v := (a*(1-a) + (nPos-1)*(q1-a*a) + (nNeg-1)*(q2-a*a)) / (nPos * nNeg)
	se := math.Sqrt(math.Max(v, 0))
	est.Value = a
	est.Lo = math.Max(0, a-z95*se)
	est.Hi = math.Min(1, a+z95*se)
	return est
}

// ROC returns the ROC curve of scores: one point per distinct score, taken
// as a threshold from the highest down, from (0,0) to (1,1). Tied scores
// make one diagonal step, the curve of a random order among them, whose area
// is what AUC counts. If maxPoints > 0 and the curve has more points, it is
// thinned to at most maxPoints (at least 2, the ends) spaced evenly along
// the curve's length (x+y grows from 0 to 2 along it), so steep rises and
// long flats keep their shape; the thinned curve stays within
// 2/(maxPoints−1) in x+y of the full one. It returns nil if one class is
// missing, and panics if the lengths differ.
func ROC(scores []float64, positive []bool, maxPoints int) []Point {
	checkLengths("ROC", scores, positive)
	var nPos, nNeg float64
	for _, p := range positive {
		if p {
			nPos++
		} else {
			nNeg++
		}
	}
	if nPos == 0 || nNeg == 0 {
		return nil
	}
	pts := []Point{{0, 0}}
	var tp, fp float64
	forTieGroups(scores, positive, true, func(pos, neg float64) {
		tp += pos
		fp += neg
		pts = append(pts, Point{X: fp / nNeg, Y: tp / nPos})
	})
	// Division can leave the last point a hair off (1,1); it is (1,1).
	pts[len(pts)-1] = Point{1, 1}
	if maxPoints <= 0 || len(pts) <= maxPoints {
		return pts
	}
	maxPoints = max(maxPoints, 2)
	spacing := 2 / float64(maxPoints-1)
	out := make([]Point, 1, maxPoints)
	out[0] = pts[0]
	next := spacing
	for _, pt := range pts[1 : len(pts)-1] {
		if s := pt.X + pt.Y; s >= next && len(out) < maxPoints-1 {
			out = append(out, pt)
			// Skip every target this point reached, so that one long
			// step does not use up several points.
			next = (math.Floor(s/spacing) + 1) * spacing
		}
	}
	return append(out, pts[len(pts)-1])
}

// forTieGroups calls fn with the number of positives and negatives of each
// group of equal scores, in ascending score order, or descending if desc.
func forTieGroups(scores []float64, positive []bool, desc bool, fn func(pos, neg float64)) {
	order := make([]int, len(scores))
	for i := range order {
		order[i] = i
	}
	// cmp.Compare orders NaN first and equal to itself, so NaN scores form
	// one group below all others instead of breaking the sort.
	slices.SortFunc(order, func(a, b int) int {
		if desc {
			return cmp.Compare(scores[b], scores[a])
		}
		return cmp.Compare(scores[a], scores[b])
	})
	for i := 0; i < len(order); {
		var pos, neg float64
		j := i
		for ; j < len(order) && cmp.Compare(scores[order[j]], scores[order[i]]) == 0; j++ {
			if positive[order[j]] {
				pos++
			} else {
				neg++
			}
		}
		fn(pos, neg)
		i = j
	}
}

func checkLengths(name string, scores []float64, positive []bool) {
	if len(scores) != len(positive) {
		panic(fmt.Sprintf("learn: %s of %d scores with %d labels", name, len(scores), len(positive)))
	}
}

// WilsonDifference returns the difference of two proportions, d = k1/n1 −
// k2/n2, with its 95% interval by Newcombe's hybrid score method (method 10
// of Newcombe 1998, "Interval estimation for the difference between
// independent proportions"): each proportion's Wilson interval [l, u] gives
// the bounds
//
//	lo = d − √((p1 − l1)² + (u2 − p2)²)
//	hi = d + √((u1 − p1)² + (p2 − l2)²)
//
// Unlike the normal approximation d ± 1.96·√(p1(1−p1)/n1 + p2(1−p2)/n2),
// it stays inside [−1, 1] and does not collapse to a point when a count is
// 0 or all, which matters for the small groups of a holdout. With n1 or n2
// 0 nothing is known: d is NaN and the interval [−1, 1]. It panics unless
// 0 ≤ k ≤ n for both.
func WilsonDifference(k1, n1, k2, n2 int) (d, lo, hi float64) {
	l1, u1 := scoring.Wilson(k1, n1)
	l2, u2 := scoring.Wilson(k2, n2)
	if n1 == 0 || n2 == 0 {
		return math.NaN(), -1, 1
	}
	p1, p2 := float64(k1)/float64(n1), float64(k2)/float64(n2)
	d = p1 - p2
	lo = d - math.Hypot(p1-l1, u2-p2)
	hi = d + math.Hypot(u1-p1, p2-l2)
	return d, math.Max(-1, lo), math.Min(1, hi)
}
