// Package learn fits and evaluates the logistic models linger scores sessions
// with, for `linger train`: it turns recorded sessions (a row of signal values
// and an outcome each) into a bias and weights that go into a scoring config
// (scoring.ModelConfig), and says how well a score separates the outcomes
// (ROC AUC with a confidence interval, ROC curve, Wilson intervals, k-fold
// splits for cross-validation).
//
// Like package scoring it is pure: no I/O, no clock, no goroutines, and the
// same input gives the same output bits. A data engineer can then rerun a
// training and get exactly the config it produced, and a test can pin a fit.
//
// Fit is L2-regularised logistic regression by Newton's method (IRLS) rather
// than by gradient descent: linger's models have about twenty features, so
// the (p+1)×(p+1) Hessian is tiny, and Newton converges in a handful of passes
// over the data to the exact optimum, with no learning rate to tune and no
// sampling order to make it depend on.
package learn

import (
	"errors"
	"fmt"
	"math"
)

// Dataset is what Fit learns from: rows of features, each with a binary
// label and optionally a weight.
type Dataset struct {
	// X holds one row of features per example; all rows have the same
	// length, and every value is finite.
	X [][]float64
	// Y is the label of each row: true for the outcome the model scores
	// (abandoned, confused, purchased).
	Y []bool
	// Weight, if not nil, weighs each row (≥ 0, finite): a row of weight 2
	// counts as two identical rows, which lets a caller balance classes or
	// compress duplicates. Nil weighs every row 1.
	Weight []float64
}

// Options tunes Fit. The zero value gives the defaults.
type Options struct {
	// L2 is the strength λ of the penalty λ/2·Σ w_j² on the weights of the
	// standardised features (mean 0, standard deviation 1); the bias is not
	// penalised. Penalising standardised weights makes the penalty the same
	// whatever a feature's units (seconds or counts). It is relative to the
	// total row weight: 1 on a million rows barely moves the fit, and only
	// keeps it finite when a feature separates the classes perfectly.
	// 0 means the default, 1; negative is an error.
	L2 float64
	// MaxIter bounds the Newton iterations. 0 means the default, 100; a fit
	// on well-behaved data takes under ten.
	MaxIter int
	// Tol: Fit has converged when no Newton step moves a standardised
	// coefficient by more than Tol·(1+|coefficient|). 0 means the default,
	// 1e-8.
	Tol float64
}

// Defaults of Options.
const (
	DefaultL2      = 1.0
	DefaultMaxIter = 100
	DefaultTol     = 1e-8
)

// Errors of Fit, for errors.Is; the error returned says more (which row,
// which class).
var (
	// ErrEmpty: the dataset has no rows.
	ErrEmpty = errors.New("learn: no rows")
	// ErrOneClass: all rows of positive weight have the same label, so
	// there is nothing to separate.
	ErrOneClass = errors.New("learn: all rows have the same label")
	// ErrNotConverged: Newton's method used MaxIter iterations without
	// converging. Fit returns the last model along with it.
	ErrNotConverged = errors.New("learn: Newton's method did not converge")
)

// Model is a fitted logistic model over raw features: the probability of the
// positive label is 1/(1+exp(-(Bias + Σ Weights[j]·x[j]))). Whatever
// scaling Fit used internally, the weights apply to the features as given.
type Model struct {
	Bias    float64
	Weights []float64
}

// Logit returns the model's log-odds for x, which must have one value per
// weight (it panics otherwise: a shorter row would silently drop features).
func (m Model) Logit(x []float64) float64 {
	if len(x) != len(m.Weights) {
		panic(fmt.Sprintf("learn: Logit of %d features with a model of %d weights", len(x), len(m.Weights)))
	}
	eta := m.Bias
	for j, w := range m.Weights {
		eta += w * x[j]
	}
	return eta
}

// Score returns the model's probability that x is positive.
func (m Model) Score(x []float64) float64 { return sigmoid(m.Logit(x)) }

// Fit fits an L2-regularised logistic regression of d.Y on d.X: it minimises
// Σ weight·logloss + L2/2·Σ w_j² (standardised weights, bias unpenalised) by
// Newton's method with a backtracking line search. It reads d.X three times
// to check and standardise it, then once per iteration (more only when the
// line search shortens a step), and never copies it, so a caller can pass
// millions of rows.
//
// Errors: ErrEmpty, ErrOneClass, lengths that do not match, NaN or infinite
// values or weights, negative weights or L2; ErrNotConverged (wrapped) if
// MaxIter is reached, with the last model.
func Fit(d Dataset, o Options) (Model, error) {
	o, err := o.withDefaults()
	if err != nil {
		return Model{}, err
	}
	p, err := d.check()
	if err != nil {
		return Model{}, err
	}
	f := newFitter(d, p, o.L2)
	return f.run(o.MaxIter, o.Tol)
}

func (o Options) withDefaults() (Options, error) {
	switch {
	case o.L2 < 0 || math.IsNaN(o.L2) || math.IsInf(o.L2, 0):
		return o, fmt.Errorf("learn: L2 is %v; it must be a finite number ≥ 0 (0 means %v)", o.L2, DefaultL2)
	case o.MaxIter < 0:
		return o, fmt.Errorf("learn: MaxIter is %d; it must be ≥ 0 (0 means %d)", o.MaxIter, DefaultMaxIter)
	case o.Tol < 0 || math.IsNaN(o.Tol):
		return o, fmt.Errorf("learn: Tol is %v; it must be ≥ 0 (0 means %v)", o.Tol, DefaultTol)
	}
	if o.L2 == 0 {
		o.L2 = DefaultL2
	}
	if o.MaxIter == 0 {
		o.MaxIter = DefaultMaxIter
	}
	if o.Tol == 0 {
		o.Tol = DefaultTol
	}
	return o, nil
}

// check validates d and returns its number of features. It checks every
// value up front so that a bad row is reported by its index, not as a NaN
// model many iterations later.
func (d Dataset) check() (int, error) {
	n := len(d.X)
	if n == 0 {
		return 0, ErrEmpty
	}
	if len(d.Y) != n {
		return 0, fmt.Errorf("learn: %d rows of features but %d labels", n, len(d.Y))
	}
	if d.Weight != nil && len(d.Weight) != n {
		return 0, fmt.Errorf("learn: %d rows but %d weights", n, len(d.Weight))
	}
	p := len(d.X[0])
	var pos, neg float64
	for i, row := range d.X {
		if len(row) != p {
			return 0, fmt.Errorf("learn: row %d has %d features, row 0 has %d", i, len(row), p)
		}
		for j, x := range row {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return 0, fmt.Errorf("learn: row %d feature %d is %v", i, j, x)
			}
		}
		w := 1.0
		if d.Weight != nil {
			w = d.Weight[i]
			if w < 0 || math.IsNaN(w) || math.IsInf(w, 0) {
				return 0, fmt.Errorf("learn: row %d has weight %v; weights must be finite and ≥ 0", i, w)
			}
		}
		if d.Y[i] {
			pos += w
		} else {
			neg += w
		}
	}
	if pos == 0 || neg == 0 {
		return 0, fmt.Errorf("%w (all %v): a model needs both classes", ErrOneClass, pos > 0)
	}
	return p, nil
}

// fitter holds the state of one fit. Coefficients are kept for the
// standardised features z_j = (x_j − mean_j)·inv_j, index 0 being the bias:
// centring and scaling make the Hessian well conditioned whatever the
// features' units, and make the penalty unit-free.
type fitter struct {
	d       Dataset
	p, q    int // features; coefficients (p+1)
	l2      float64
	mean    []float64
	inv     []float64 // 1/sd, or 1 for a constant feature (whose z is then 0)
	prior   float64   // weighted share of positive rows
	qp      int       // q rounded up to even, for addBlock's 2×2 tiles
	zb, hzb []float64 // qp×blockRows: a block of rows, see pass
	acc     []float64 // qp×qp: the Hessian's sum over the rows
	grad    []float64
	hess    []float64 // q×q, row-major; pass fills the upper triangle
	chol    []float64 // q×q scratch for the Cholesky factor
	step    []float64
	trial   []float64
	trialG  []float64
	trialH  []float64
	current []float64
}

func newFitter(d Dataset, p int, l2 float64) *fitter {
	q := p + 1
	qp := q + q%2
	f := &fitter{
		d: d, p: p, q: q, qp: qp, l2: l2,
		zb: make([]float64, qp*blockRows), hzb: make([]float64, qp*blockRows), acc: make([]float64, qp*qp),
		mean: make([]float64, p), inv: make([]float64, p),
		grad: make([]float64, q), hess: make([]float64, q*q),
		chol: make([]float64, q*q), step: make([]float64, q),
		trial: make([]float64, q), trialG: make([]float64, q), trialH: make([]float64, q*q),
		current: make([]float64, q),
	}
	f.standardise()
	return f
}

// standardise computes the weighted mean and standard deviation of each
// feature, in two passes (sum, then squared deviations) because one pass
// (Σx² − n·mean²) cancels catastrophically for features like durations in
// seconds with a small spread around a large mean.
func (f *fitter) standardise() {
	var total, pos float64
	for i, row := range f.d.X {
		w := f.weight(i)
		total += w
		if f.d.Y[i] {
			pos += w
		}
		for j, x := range row {
			f.mean[j] += w * x
		}
	}
	for j := range f.mean {
		f.mean[j] /= total
	}
	ss := f.inv // accumulate squared deviations in place
	for i, row := range f.d.X {
		w := f.weight(i)
		for j, x := range row {
			dx := x - f.mean[j]
			ss[j] += w * dx * dx
		}
	}
	for j := range ss {
		sd := math.Sqrt(ss[j] / total)
		if sd > 0 {
			f.inv[j] = 1 / sd
		} else {
			f.inv[j] = 1
		}
	}
	f.prior = pos / total
}

func (f *fitter) weight(i int) float64 {
	if f.d.Weight == nil {
		return 1
	}
	return f.d.Weight[i]
}

// blockRows is how many rows pass gathers before adding their curvature to
// the Hessian. Summing a block as dot products over rows, two by two
// coefficients at a time, keeps four independent sums in registers; adding
// each row's outer product into the triangle instead spends most of its time
// on loop overhead, rows being only ~20 long. The order of the sums is fixed,
// so the result is as deterministic as the row-by-row one.
const blockRows = 128

// pass evaluates the penalised objective at beta, and its gradient and
// Hessian (upper triangle) into grad and hess: one read of the data.
func (f *fitter) pass(beta, grad, hess []float64) float64 {
	q := f.q
	clear(grad)
	clear(hess)
	clear(f.acc)
	mean, inv := f.mean[:f.p], f.inv[:f.p]
	bs := beta[1 : 1+len(mean)]
	var obj float64
	nb := 0 // rows in the block
	for i, row := range f.d.X {
		w := f.weight(i)
		if w == 0 {
			continue
		}
		// Column b of the block: z (z[0] = 1 for the bias) in zb, and z
		// times the row's curvature weight in hzb, coefficient-major.
		row = row[:len(mean)]
		eta := beta[0]
		f.zb[nb] = 1
		for j, x := range row {
			zj := (x - mean[j]) * inv[j]
			f.zb[(j+1)*blockRows+nb] = zj
			eta += bs[j] * zj
		}
		// Loss, probability and its complement from one exp: computing
		// 1−p by subtraction would lose all precision when p is near 1,
		// and with it the curvature p(1−p).
		e := math.Exp(-math.Abs(eta))
		l := math.Log1p(e)
		var pr, qr, lossPos, lossNeg float64
		if eta >= 0 {
			pr, qr = 1/(1+e), e/(1+e)
			lossPos, lossNeg = l, eta+l
		} else {
			pr, qr = e/(1+e), 1/(1+e)
			lossPos, lossNeg = l-eta, l
		}
		var r float64 // d loss / d eta
		if f.d.Y[i] {
			obj += w * lossPos
			r = -qr
		} else {
			obj += w * lossNeg
			r = pr
		}
		wr := w * r
		h := w * pr * qr
		for j := 0; j < q; j++ {
			zj := f.zb[j*blockRows+nb]
			grad[j] += wr * zj
			f.hzb[j*blockRows+nb] = h * zj
		}
		nb++
		if nb == blockRows {
			f.addBlock(nb)
			nb = 0
		}
	}
	if nb > 0 {
		f.addBlock(nb)
	}
	qp := f.qp
	for j := 0; j < q; j++ {
		copy(hess[j*q+j:j*q+q], f.acc[j*qp+j:j*qp+q])
	}
	for j := 1; j < q; j++ {
		obj += 0.5 * f.l2 * beta[j] * beta[j]
		grad[j] += f.l2 * beta[j]
		hess[j*q+j] += f.l2
	}
	return obj
}

// addBlock adds Σ_b h_b·z_b·z_bᵀ over the first nb rows of the block to
// acc, in 2×2 tiles of the upper triangle (a tile on the diagonal also
// writes one entry below it, which nothing reads). The padding coefficient
// when q is odd is all zeros, so it adds nothing.
func (f *fitter) addBlock(nb int) {
	qp := f.qp
	for j := 0; j < qp; j += 2 {
		h0 := f.hzb[j*blockRows : j*blockRows+nb]
		h1 := f.hzb[(j+1)*blockRows : (j+1)*blockRows+nb]
		h1 = h1[:len(h0)]
		for k := j; k < qp; k += 2 {
			z0 := f.zb[k*blockRows : k*blockRows+nb]
			z1 := f.zb[(k+1)*blockRows : (k+1)*blockRows+nb]
			z0, z1 = z0[:len(h0)], z1[:len(h0)]
			var s00, s01, s10, s11 float64
			for b, a0 := range h0 {
				a1, c0, c1 := h1[b], z0[b], z1[b]
				s00 += a0 * c0
				s01 += a0 * c1
				s10 += a1 * c0
				s11 += a1 * c1
			}
			f.acc[j*qp+k] += s00
			f.acc[j*qp+k+1] += s01
			f.acc[(j+1)*qp+k] += s10
			f.acc[(j+1)*qp+k+1] += s11
		}
	}
}

// run iterates Newton steps from the intercept-only model.
func (f *fitter) run(maxIter int, tol float64) (Model, error) {
	beta := f.current
	clear(beta)
	// Starting at the intercept-only optimum puts Newton close to the
	// answer for the bias, the coefficient that moves the most.
	beta[0] = math.Log(f.prior / (1 - f.prior))
	obj := f.pass(beta, f.grad, f.hess)
	for iter := 0; iter < maxIter; iter++ {
		if err := f.newtonStep(); err != nil {
			return f.model(), err
		}
		decrease := 0.0 // -gᵀΔ, twice the decrease Newton predicts
		converged := true
		for j, s := range f.step {
			decrease -= f.grad[j] * s
			if math.Abs(s) > tol*(1+math.Abs(beta[j])) {
				converged = false
			}
		}
		// When the predicted decrease is below the rounding error of the
		// objective (a sum over all rows), a line search cannot tell better
		// from worse: the step is as good as it gets.
		if converged || decrease <= 1e-13*(1+math.Abs(obj)) {
			for j, s := range f.step {
				beta[j] += s
			}
			return f.model(), nil
		}
		// Backtracking (Armijo): the full Newton step is almost always
		// taken; halving guards the first steps when the quadratic model
		// overshoots, as it can on nearly separable data.
		t := 1.0
		for {
			for j := range beta {
				f.trial[j] = beta[j] + t*f.step[j]
			}
			trialObj := f.pass(f.trial, f.trialG, f.trialH)
			if trialObj <= obj-1e-4*t*decrease {
				copy(beta, f.trial)
				f.grad, f.trialG = f.trialG, f.grad
				f.hess, f.trialH = f.trialH, f.hess
				obj = trialObj
				break
			}
			t /= 2
			if t < 1e-10 {
				return f.model(), fmt.Errorf("learn: the line search found no decrease at iteration %d (objective %v)", iter+1, obj)
			}
		}
	}
	return f.model(), fmt.Errorf("%w in %d iterations (raise MaxIter or L2)", ErrNotConverged, maxIter)
}

// newtonStep solves H·step = −grad by Cholesky. A tiny ridge relative to
// the Hessian's diagonal keeps the factorisation defined when the bias's
// curvature vanishes (all probabilities near 0 or 1); it changes the step
// slightly, never the point Newton converges to, where grad = 0.
func (f *fitter) newtonStep() error {
	q := f.q
	maxDiag := 0.0
	for j := 0; j < q; j++ {
		maxDiag = math.Max(maxDiag, f.hess[j*q+j])
	}
	ridge := 1e-12*maxDiag + 1e-300
	// The lower triangle of chol gets L; hess holds the upper triangle.
	for i := 0; i < q; i++ {
		for j := 0; j <= i; j++ {
			s := f.hess[j*q+i]
			if i == j {
				s += ridge
			}
			for k := 0; k < j; k++ {
				s -= f.chol[i*q+k] * f.chol[j*q+k]
			}
			if i == j {
				if !(s > 0) {
					return fmt.Errorf("learn: the Hessian is not positive definite (pivot %d is %v)", i, s)
				}
				f.chol[i*q+i] = math.Sqrt(s)
			} else {
				f.chol[i*q+j] = s / f.chol[j*q+j]
			}
		}
	}
	// Forward then back substitution.
	for i := 0; i < q; i++ {
		s := -f.grad[i]
		for k := 0; k < i; k++ {
			s -= f.chol[i*q+k] * f.step[k]
		}
		f.step[i] = s / f.chol[i*q+i]
	}
	for i := q - 1; i >= 0; i-- {
		s := f.step[i]
		for k := i + 1; k < q; k++ {
			s -= f.chol[k*q+i] * f.step[k]
		}
		f.step[i] = s / f.chol[i*q+i]
	}
	return nil
}

// model maps the standardised coefficients back to raw features:
// b + Σ β_j (x_j − m_j)·inv_j = (b − Σ β_j m_j inv_j) + Σ (β_j inv_j) x_j.
func (f *fitter) model() Model {
	beta := f.current
	m := Model{Bias: beta[0], Weights: make([]float64, f.p)}
	for j := range m.Weights {
		w := beta[j+1] * f.inv[j]
		m.Weights[j] = w
		m.Bias -= w * f.mean[j]
	}
	return m
}

// sigmoid is the logistic function, computed without overflow for large |x|.
func sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}
