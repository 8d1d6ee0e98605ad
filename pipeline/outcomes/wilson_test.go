package outcomes

import (
	"math"
	"testing"

	"github.com/lingerhq/linger/scoring/learn"
)

// TestWilsonPublished checks the worked examples of Newcombe, "Two-sided
// confidence intervals for the single proportion: comparison of seven
// methods", Statistics in Medicine 17 (1998) 857–872: the score method
// without continuity correction (his method 3), to the four decimals
// printed there. 29/29 mirrors 0/29 (upper bound 0.1170).
func TestWilsonPublished(t *testing.T) {
	for _, c := range []struct {
		k, n   int
		lo, hi float64
	}{
		{81, 263, 0.2553, 0.3662},
		{15, 148, 0.0624, 0.1605},
		{0, 20, 0, 0.1611},
		{1, 29, 0.0061, 0.1718},
		{29, 29, 0.8830, 1},
	} {
		lo, hi := Wilson(c.k, c.n)
		if !near(lo, c.lo, 0.00005) || !near(hi, c.hi, 0.00005) {
			t.Errorf("Wilson(%d, %d) = [%.4f, %.4f], published [%.4f, %.4f]", c.k, c.n, lo, hi, c.lo, c.hi)
		}
	}
	if got, want := z95, math.Sqrt2*math.Erfinv(0.95); !near(got, want, 1e-15) {
		t.Errorf("z95 = %v, √2·erf⁻¹(0.95) = %v", got, want)
	}
}

// TestWilsonAgreesWithLearn: scoring/learn has its own Wilson (replay's
// quality figures and learn.WilsonDifference use it, and learn cannot
// import this package); on every proportion both accept they must give the
// same interval, so switching a caller from one to the other changes no
// figure.
func TestWilsonAgreesWithLearn(t *testing.T) {
	for n := 0; n <= 400; n++ {
		for k := 0; k <= n; k++ {
			lo, hi := Wilson(k, n)
			llo, lhi := learn.Wilson(k, n)
			if !near(lo, llo, 1e-14) || !near(hi, lhi, 1e-14) {
				t.Fatalf("Wilson(%d, %d) = [%v, %v], learn.Wilson [%v, %v]", k, n, lo, hi, llo, lhi)
			}
		}
	}
}

// TestWilsonProperties: the interval holds the observed share, stays in
// [0, 1], mirrors under swapping successes and failures, and narrows as
// the same share rests on more trials.
func TestWilsonProperties(t *testing.T) {
	for n := 1; n <= 300; n++ {
		for k := 0; k <= n; k++ {
			lo, hi := Wilson(k, n)
			p := float64(k) / float64(n)
			if !(0 <= lo && lo <= p && p <= hi && hi <= 1) {
				t.Fatalf("Wilson(%d, %d) = [%v, %v] does not hold %v inside [0, 1]", k, n, lo, hi, p)
			}
			mlo, mhi := Wilson(n-k, n)
			if !near(lo, 1-mhi, 1e-12) || !near(hi, 1-mlo, 1e-12) {
				t.Fatalf("Wilson(%d, %d) = [%v, %v] does not mirror Wilson(%d, %d) = [%v, %v]", k, n, lo, hi, n-k, n, mlo, mhi)
			}
		}
	}
	prev := 1.0
	for n := 10; n <= 100000; n *= 10 {
		lo, hi := Wilson(n/20, n) // 5%, the middle of a healthy acceptance band
		if w := hi - lo; w >= prev {
			t.Fatalf("5%% of %d: width %v, not narrower than %v", n, w, prev)
		} else {
			prev = w
		}
	}
}

// TestWilsonHostileCounts: counts built from records a front-end sent may
// not be a proportion; the interval says so instead of panicking.
func TestWilsonHostileCounts(t *testing.T) {
	for _, c := range []struct{ k, n int }{{-1, 10}, {11, 10}, {0, -1}, {-5, -5}, {math.MaxInt, 3}} {
		if lo, hi := Wilson(c.k, c.n); !math.IsNaN(lo) || !math.IsNaN(hi) {
			t.Errorf("Wilson(%d, %d) = [%v, %v], want NaN, NaN", c.k, c.n, lo, hi)
		}
	}
	if lo, hi := Wilson(0, 0); lo != 0 || hi != 1 {
		t.Errorf("Wilson(0, 0) = [%v, %v], want [0, 1]: nothing is known", lo, hi)
	}
	if lo, hi := Wilson(math.MaxInt/2, math.MaxInt); !(lo > 0.49 && hi < 0.51) {
		t.Errorf("Wilson of huge counts = [%v, %v]", lo, hi)
	}
}
