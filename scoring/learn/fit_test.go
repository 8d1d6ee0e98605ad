package learn

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// synthetic draws n rows from a known logistic model over features of very
// different scales (a standard normal, durations in seconds around 50, a
// binary flag, a skewed count), so that a fit that mixed up the internal
// standardisation with the returned raw weights would show.
func synthetic(n int, seed uint64, bias float64, w []float64) Dataset {
	r := rand.New(rand.NewPCG(seed, 1))
	d := Dataset{X: make([][]float64, n), Y: make([]bool, n)}
	flat := make([]float64, n*4)
	for i := range d.X {
		x := flat[i*4 : i*4+4 : i*4+4]
		x[0] = r.NormFloat64()
		x[1] = 50 + 10*r.NormFloat64()
		if r.Float64() < 0.3 {
			x[2] = 1
		}
		x[3] = math.Floor(r.ExpFloat64() * 3)
		eta := bias
		for j := range x {
			eta += w[j] * x[j]
		}
		d.X[i] = x
		d.Y[i] = r.Float64() < sigmoid(eta)
	}
	return d
}

func TestFitRecoversKnownWeights(t *testing.T) {
	bias, w := -3.0, []float64{1.0, 0.05, -1.5, 0.3}
	d := synthetic(200_000, 7, bias, w)
	m, err := Fit(d, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Standard errors at n = 200k are about 0.006 per unit of standardised
	// feature; allow ~6 of them, in raw units (divide by the feature's sd).
	sd := []float64{1, 10, math.Sqrt(0.3 * 0.7), 3}
	for j := range w {
		if tol := 0.04 / sd[j]; math.Abs(m.Weights[j]-w[j]) > tol {
			t.Errorf("weight %d = %.4f, want %.4f ± %.4f", j, m.Weights[j], w[j], tol)
		}
	}
	if math.Abs(m.Bias-bias) > 0.15 {
		t.Errorf("bias = %.4f, want %.4f ± 0.15", m.Bias, bias)
	}
	t.Logf("bias %.4f weights %.4f", m.Bias, m.Weights)
}

// With one binary feature the unpenalised fit has a closed form: the bias
// is the log-odds at x = 0, the weight the log odds ratio.
func TestFitClosedForm(t *testing.T) {
	var d Dataset
	add := func(x float64, y bool, times int) {
		for range times {
			d.X = append(d.X, []float64{x})
			d.Y = append(d.Y, y)
		}
	}
	add(0, true, 3)
	add(0, false, 7)
	add(1, true, 6)
	add(1, false, 4)
	m, err := Fit(d, Options{L2: 1e-12})
	if err != nil {
		t.Fatal(err)
	}
	wantBias := math.Log(3.0 / 7)
	wantW := math.Log(6.0/4) - wantBias
	if math.Abs(m.Bias-wantBias) > 1e-9 || math.Abs(m.Weights[0]-wantW) > 1e-9 {
		t.Errorf("got bias %v weight %v, want %v %v", m.Bias, m.Weights[0], wantBias, wantW)
	}
	if got := m.Score([]float64{1}); math.Abs(got-0.6) > 1e-9 {
		t.Errorf("Score(1) = %v, want 0.6", got)
	}
}

// TestFitOptimality checks the first-order conditions of the penalised
// problem directly, in standardised units: Σ(p−y) = 0 for the bias and
// Σ(p−y)·z_j + L2·β_j = 0 for each feature.
func TestFitOptimality(t *testing.T) {
	d := synthetic(5000, 3, -1, []float64{0.8, 0.02, 1, -0.2})
	for _, l2 := range []float64{1, 100, 3000} {
		m, err := Fit(d, Options{L2: l2})
		if err != nil {
			t.Fatal(err)
		}
		mean, sd := moments(d.X)
		var gb float64
		g := make([]float64, len(mean))
		for i, x := range d.X {
			r := m.Score(x)
			if d.Y[i] {
				r--
			}
			gb += r
			for j := range x {
				g[j] += r * (x[j] - mean[j]) / sd[j]
			}
		}
		if math.Abs(gb) > 1e-6 {
			t.Errorf("L2=%v: bias gradient %v", l2, gb)
		}
		for j := range g {
			g[j] += l2 * m.Weights[j] * sd[j] // β_j = weight·sd
			if math.Abs(g[j]) > 1e-6 {
				t.Errorf("L2=%v: gradient %d = %v", l2, j, g[j])
			}
		}
	}
}

func moments(X [][]float64) (mean, sd []float64) {
	p := len(X[0])
	mean, sd = make([]float64, p), make([]float64, p)
	for _, x := range X {
		for j := range x {
			mean[j] += x[j]
		}
	}
	for j := range mean {
		mean[j] /= float64(len(X))
	}
	for _, x := range X {
		for j := range x {
			sd[j] += (x[j] - mean[j]) * (x[j] - mean[j])
		}
	}
	for j := range sd {
		sd[j] = math.Sqrt(sd[j] / float64(len(X)))
	}
	return mean, sd
}

// TestFitL2Shrinks: a stronger penalty shrinks the standardised weights,
// monotonically, to zero in the limit, where the model is the base rate.
func TestFitL2Shrinks(t *testing.T) {
	d := synthetic(2000, 11, -1, []float64{1, 0.05, -1.5, 0.3})
	_, sd := moments(d.X)
	norm := func(m Model) float64 {
		var s float64
		for j, w := range m.Weights {
			s += (w * sd[j]) * (w * sd[j])
		}
		return math.Sqrt(s)
	}
	prev := math.Inf(1)
	var last Model
	for _, l2 := range []float64{1e-6, 1, 100, 1e4, 1e10} {
		m, err := Fit(d, Options{L2: l2})
		if err != nil {
			t.Fatal(err)
		}
		n := norm(m)
		t.Logf("L2=%g: |β| = %.6f", l2, n)
		if n >= prev {
			t.Errorf("L2=%g: |β| = %v, not below %v", l2, n, prev)
		}
		prev, last = n, m
	}
	if prev > 1e-6 {
		t.Errorf("L2=1e10 left |β| = %v", prev)
	}
	var pos float64
	for _, y := range d.Y {
		if y {
			pos++
		}
	}
	rate := pos / float64(len(d.Y))
	mean, _ := moments(d.X)
	if got := last.Score(mean); math.Abs(got-rate) > 1e-6 {
		t.Errorf("heavily penalised model scores the mean row %v, want the base rate %v", got, rate)
	}
}

// Row weights are repetitions: weight 3 fits like three copies.
func TestFitWeightsAreRepetitions(t *testing.T) {
	d := synthetic(300, 5, 0, []float64{1, 0.05, -1, 0.2})
	w := make([]float64, len(d.X))
	var rep Dataset
	for i := range d.X {
		w[i] = float64(i%3 + 1)
		for range i%3 + 1 {
			rep.X = append(rep.X, d.X[i])
			rep.Y = append(rep.Y, d.Y[i])
		}
	}
	d.Weight = w
	a, err := Fit(d, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Fit(rep, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(a.Bias-b.Bias) > 1e-8 {
		t.Errorf("bias %v vs %v", a.Bias, b.Bias)
	}
	for j := range a.Weights {
		if math.Abs(a.Weights[j]-b.Weights[j]) > 1e-8 {
			t.Errorf("weight %d: %v vs %v", j, a.Weights[j], b.Weights[j])
		}
	}
}

// Perfectly separable data has no unpenalised optimum; the default penalty
// keeps the fit finite and converging. A constant feature gets weight 0.
func TestFitSeparableAndConstant(t *testing.T) {
	var d Dataset
	for i := range 100 {
		d.X = append(d.X, []float64{float64(i), 42})
		d.Y = append(d.Y, i >= 50)
	}
	m, err := Fit(d, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Weights[0] <= 0 || math.IsInf(m.Weights[0], 0) || math.IsNaN(m.Bias) {
		t.Errorf("separable fit: %+v", m)
	}
	if m.Weights[1] != 0 {
		t.Errorf("constant feature weight = %v, want 0", m.Weights[1])
	}
	if m.Score([]float64{10, 42}) > 0.01 || m.Score([]float64{90, 42}) < 0.99 {
		t.Errorf("separable fit does not separate: %+v", m)
	}
}

func TestFitErrors(t *testing.T) {
	ok := Dataset{X: [][]float64{{1}, {2}}, Y: []bool{false, true}}
	cases := []struct {
		name string
		d    Dataset
		o    Options
		is   error
		want string
	}{
		{"empty", Dataset{}, Options{}, ErrEmpty, "no rows"},
		{"labels", Dataset{X: ok.X, Y: []bool{true}}, Options{}, nil, "2 rows of features but 1 labels"},
		{"weights", Dataset{X: ok.X, Y: ok.Y, Weight: []float64{1}}, Options{}, nil, "2 rows but 1 weights"},
		{"ragged", Dataset{X: [][]float64{{1}, {2, 3}}, Y: ok.Y}, Options{}, nil, "row 1 has 2 features, row 0 has 1"},
		{"nan", Dataset{X: [][]float64{{1}, {math.NaN()}}, Y: ok.Y}, Options{}, nil, "row 1 feature 0 is NaN"},
		{"inf", Dataset{X: [][]float64{{math.Inf(-1)}, {2}}, Y: ok.Y}, Options{}, nil, "row 0 feature 0 is -Inf"},
		{"negative weight", Dataset{X: ok.X, Y: ok.Y, Weight: []float64{1, -1}}, Options{}, nil, "row 1 has weight -1"},
		{"nan weight", Dataset{X: ok.X, Y: ok.Y, Weight: []float64{math.NaN(), 1}}, Options{}, nil, "row 0 has weight NaN"},
		{"one class", Dataset{X: ok.X, Y: []bool{true, true}}, Options{}, ErrOneClass, "all true"},
		{"one class by weight", Dataset{X: ok.X, Y: ok.Y, Weight: []float64{0, 1}}, Options{}, ErrOneClass, "all true"},
		{"negative L2", ok, Options{L2: -1}, nil, "L2 is -1"},
		{"negative MaxIter", ok, Options{MaxIter: -1}, nil, "MaxIter is -1"},
		{"not converged", Dataset{X: [][]float64{{1}, {2}, {3}, {4}}, Y: []bool{false, true, false, true}}, Options{MaxIter: 1, Tol: 1e-300}, ErrNotConverged, "in 1 iterations"},
	}
	for _, c := range cases {
		_, err := Fit(c.d, c.o)
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		if c.is != nil && !errors.Is(err, c.is) {
			t.Errorf("%s: %v is not %v", c.name, err, c.is)
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q does not say %q", c.name, err, c.want)
		}
	}
}

func TestFitDeterministic(t *testing.T) {
	d := synthetic(20_000, 9, -2, []float64{0.5, 0.03, 1, 0.1})
	a, err := Fit(d, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		b, err := Fit(d, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if math.Float64bits(a.Bias) != math.Float64bits(b.Bias) {
			t.Fatalf("bias %x vs %x", math.Float64bits(a.Bias), math.Float64bits(b.Bias))
		}
		for j := range a.Weights {
			if math.Float64bits(a.Weights[j]) != math.Float64bits(b.Weights[j]) {
				t.Fatalf("weight %d: %x vs %x", j, math.Float64bits(a.Weights[j]), math.Float64bits(b.Weights[j]))
			}
		}
	}
}

func TestModelLogitPanicsOnLength(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Logit of a short row did not panic")
		}
	}()
	Model{Weights: []float64{1, 2}}.Logit([]float64{1})
}

// BenchmarkFit fits 1M rows × 19 features, the size of a large training set
// of linger's signals.
func BenchmarkFit(b *testing.B) {
	const n, p = 1_000_000, 19
	r := rand.New(rand.NewPCG(1, 2))
	w := make([]float64, p)
	for j := range w {
		w[j] = r.NormFloat64() * 0.5
	}
	d := Dataset{X: make([][]float64, n), Y: make([]bool, n)}
	flat := make([]float64, n*p)
	for i := range d.X {
		x := flat[i*p : (i+1)*p : (i+1)*p]
		eta := -2.0
		for j := range x {
			// Like linger's scaled signals: in [0,1], mostly 0.
			if r.Float64() < 0.3 {
				x[j] = r.Float64()
			}
			eta += w[j] * x[j] * 3
		}
		d.X[i] = x
		d.Y[i] = r.Float64() < sigmoid(eta)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Fit(d, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// With no features the model is the base rate: the bias is its log-odds.
func TestFitNoFeatures(t *testing.T) {
	d := Dataset{X: make([][]float64, 10), Y: make([]bool, 10)}
	for i := range 3 {
		d.Y[i] = true
	}
	m, err := Fit(d, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if want := math.Log(3.0 / 7); math.Abs(m.Bias-want) > 1e-12 || len(m.Weights) != 0 {
		t.Errorf("got %+v, want bias %v and no weights", m, want)
	}
}
