package learn

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

func TestAUCHandComputed(t *testing.T) {
	cases := []struct {
		name   string
		scores []float64
		pos    []bool
		want   float64
	}{
		// 4 pairs: 0.35 loses to 0.4, beats 0.1; 0.8 beats both: 3/4.
		{"textbook", []float64{0.1, 0.4, 0.35, 0.8}, []bool{false, false, true, true}, 0.75},
		// Pairs (pos, neg): (1,1) tie ½, (1,2) 0, (2,1) 1, (2,2) tie ½: 2/4.
		{"ties", []float64{1, 1, 2, 2}, []bool{false, true, false, true}, 0.5},
		// The positive at 0.5 ties both negatives (½+½), the one at 0.9
		// beats both (2): 3/4.
		{"tie group", []float64{0.5, 0.5, 0.5, 0.9}, []bool{true, false, false, true}, 0.75},
		// One constant score says nothing: every pair ties.
		{"constant", []float64{3, 3, 3, 3, 3}, []bool{true, false, true, false, false}, 0.5},
		{"perfect", []float64{0.1, 0.2, 0.3, 0.7, 0.8, 0.9}, []bool{false, false, false, true, true, true}, 1},
		{"reversed", []float64{0.1, 0.2, 0.3, 0.7, 0.8, 0.9}, []bool{true, true, true, false, false, false}, 0},
		// NaN ranks lowest: the NaN positive loses to the 0.2 negative and
		// ties the NaN negative (½); the 0.5 positive beats both (2): 2.5/4.
		{"nan", []float64{math.NaN(), math.NaN(), 0.2, 0.5}, []bool{true, false, false, true}, 2.5 / 4},
	}
	for _, c := range cases {
		got := AUC(c.scores, c.pos)
		if !near(got.Value, c.want, 1e-15) || got.N != len(c.scores) {
			t.Errorf("%s: AUC = %+v, want %v over %d", c.name, got, c.want, len(c.scores))
		}
		if !(got.Lo <= got.Value && got.Value <= got.Hi && got.Lo >= 0 && got.Hi <= 1) {
			t.Errorf("%s: interval [%v, %v] around %v", c.name, got.Lo, got.Hi, got.Value)
		}
	}
}

// The Hanley–McNeil interval of the textbook case, worked by hand: A = 3/4,
// 2 positives, 2 negatives; Q1 = A/(2−A) = 0.6, Q2 = 2A²/(1+A) = 9/14;
// SE² = (A(1−A) + (Q1−A²) + (Q2−A²))/4 = 0.0763393; SE = 0.2762956;
// A ± 1.96·SE = [0.2084705, 1.2915] → clamped to [0.2084705, 1].
func TestAUCHanleyMcNeil(t *testing.T) {
	got := AUC([]float64{0.1, 0.4, 0.35, 0.8}, []bool{false, false, true, true})
	if !near(got.Lo, 0.20847047866932322, 1e-12) || got.Hi != 1 {
		t.Errorf("interval [%v, %v], want [0.2084705, 1]", got.Lo, got.Hi)
	}
	perfect := AUC([]float64{1, 2, 3, 4}, []bool{false, false, true, true})
	if perfect.Lo != 1 || perfect.Hi != 1 {
		t.Errorf("perfect: interval [%v, %v], want [1, 1] (SE is 0)", perfect.Lo, perfect.Hi)
	}
}

func TestAUCRandomCoversHalf(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	const n = 2000
	scores, pos := make([]float64, n), make([]bool, n)
	for i := range scores {
		scores[i] = r.Float64()
		pos[i] = r.Float64() < 0.3
	}
	got := AUC(scores, pos)
	t.Logf("random: %+v", got)
	if !(got.Lo < 0.5 && 0.5 < got.Hi) || !near(got.Value, 0.5, 0.05) {
		t.Errorf("random scores: %+v, want ~0.5 with a CI covering it", got)
	}
	if w := got.Hi - got.Lo; w < 0.04 || w > 0.08 {
		t.Errorf("CI width %v, want about 2·1.96·√(1/(12·600)+1/(12·1400)) ≈ 0.06", w)
	}
}

func TestAUCOneClass(t *testing.T) {
	got := AUC([]float64{1, 2}, []bool{true, true})
	if !math.IsNaN(got.Value) || !math.IsNaN(got.Lo) || !math.IsNaN(got.Hi) || got.N != 2 {
		t.Errorf("one class: %+v, want NaN over 2", got)
	}
	if got := AUC(nil, nil); !math.IsNaN(got.Value) || got.N != 0 {
		t.Errorf("empty: %+v", got)
	}
}

func TestROC(t *testing.T) {
	// Scores high to low: 0.9 P, 0.8 N, 0.5 P and N tied, 0.1 N.
	got := ROC([]float64{0.5, 0.9, 0.1, 0.8, 0.5}, []bool{true, true, false, false, false}, 0)
	want := []Point{{0, 0}, {0, 0.5}, {1.0 / 3, 0.5}, {2.0 / 3, 1}, {1, 1}}
	if len(got) != len(want) {
		t.Fatalf("ROC = %v, want %v", got, want)
	}
	for i := range want {
		if !near(got[i].X, want[i].X, 1e-15) || !near(got[i].Y, want[i].Y, 1e-15) {
			t.Fatalf("ROC = %v, want %v", got, want)
		}
	}
	if ROC([]float64{1}, []bool{true}, 0) != nil {
		t.Error("ROC of one class is not nil")
	}
}

// The full curve's trapezoid area is the AUC (ties as diagonal steps), and
// a thinned curve keeps its ends, stays monotone, has at most maxPoints and
// close to the same area.
func TestROCAreaAndThinning(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	const n = 5000
	scores, pos := make([]float64, n), make([]bool, n)
	for i := range scores {
		pos[i] = r.Float64() < 0.2
		s := r.NormFloat64()
		if pos[i] {
			s += 1
		}
		scores[i] = math.Round(s*20) / 20 // coarse, so there are ties
	}
	area := func(pts []Point) float64 {
		var a float64
		for i := 1; i < len(pts); i++ {
			a += (pts[i].X - pts[i-1].X) * (pts[i].Y + pts[i-1].Y) / 2
		}
		return a
	}
	full := ROC(scores, pos, 0)
	auc := AUC(scores, pos)
	if !near(area(full), auc.Value, 1e-12) {
		t.Errorf("area %v, AUC %v", area(full), auc.Value)
	}
	for _, m := range []int{1, 2, 3, 10, 50, len(full) - 1, len(full), len(full) + 5} {
		thin := ROC(scores, pos, m)
		if len(thin) > max(m, 2) || len(thin) < 2 {
			t.Errorf("maxPoints %d: %d points", m, len(thin))
		}
		if thin[0] != (Point{0, 0}) || thin[len(thin)-1] != (Point{1, 1}) {
			t.Errorf("maxPoints %d: ends %v %v", m, thin[0], thin[len(thin)-1])
		}
		for i := 1; i < len(thin); i++ {
			if thin[i].X < thin[i-1].X || thin[i].Y < thin[i-1].Y {
				t.Errorf("maxPoints %d: not monotone at %d", m, i)
			}
		}
		if m >= 50 && !near(area(thin), auc.Value, 2.0/float64(m-1)) {
			t.Errorf("maxPoints %d: area %v, AUC %v", m, area(thin), auc.Value)
		}
	}
	if len(full) < 60 {
		t.Fatalf("test curve too short (%d points) to test thinning", len(full))
	}
}

// TestWilsonDifference checks the examples of Newcombe (1998), table II,
// method 10, to the four decimals printed there.
func TestWilsonDifference(t *testing.T) {
	cases := []struct {
		k1, n1, k2, n2 int
		lo, hi         float64
	}{
		{56, 70, 48, 80, 0.0524, 0.3339},
		{9, 10, 3, 10, 0.1705, 0.8090},
		{5, 56, 0, 29, -0.0381, 0.1926},
		{0, 10, 0, 20, -0.1611, 0.2775},
		{0, 10, 0, 10, -0.2775, 0.2775},
		{10, 10, 0, 20, 0.6791, 1},
		{10, 10, 0, 10, 0.6075, 1},
	}
	for _, c := range cases {
		d, lo, hi := WilsonDifference(c.k1, c.n1, c.k2, c.n2)
		want := float64(c.k1)/float64(c.n1) - float64(c.k2)/float64(c.n2)
		if !near(d, want, 1e-12) || !near(lo, c.lo, 0.00005) || !near(hi, c.hi, 0.00005) {
			t.Errorf("WilsonDifference(%d/%d − %d/%d) = %.4f [%.4f, %.4f], want %.4f [%.4f, %.4f]",
				c.k1, c.n1, c.k2, c.n2, d, lo, hi, want, c.lo, c.hi)
		}
	}
	if d, lo, hi := WilsonDifference(3, 10, 0, 0); !math.IsNaN(d) || lo != -1 || hi != 1 {
		t.Errorf("with n2 = 0: %v [%v, %v], want NaN [-1, 1]", d, lo, hi)
	}
}

func TestKFold(t *testing.T) {
	const n, k = 103, 5
	folds := KFold(n, k, 42)
	if len(folds) != k {
		t.Fatalf("%d folds", len(folds))
	}
	var all []int
	for _, f := range folds {
		if len(f) != n/k && len(f) != n/k+1 {
			t.Errorf("fold of %d rows", len(f))
		}
		if !slices.IsSorted(f) {
			t.Errorf("fold not sorted: %v", f)
		}
		all = append(all, f...)
	}
	slices.Sort(all)
	for i, v := range all {
		if v != i {
			t.Fatalf("folds do not partition 0..%d: %v", n-1, all)
		}
	}
	again := KFold(n, k, 42)
	for f := range folds {
		if !slices.Equal(folds[f], again[f]) {
			t.Fatal("same seed, different folds")
		}
	}
	other := KFold(n, k, 43)
	if slices.Equal(folds[0], other[0]) {
		t.Error("seeds 42 and 43 give the same first fold")
	}
	// Pinned: a change of the shuffle would silently change every
	// cross-validated figure reported with a seed.
	if got := KFold(10, 3, 1); !slices.Equal(got[0], pinnedFold0) {
		t.Errorf("KFold(10, 3, 1)[0] = %v, pinned %v", got[0], pinnedFold0)
	}
}

var pinnedFold0 = []int{0, 1, 2, 5}

func TestKFoldPanics(t *testing.T) {
	for _, c := range [][2]int{{5, 0}, {5, 6}, {0, 1}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("KFold(%d, %d) did not panic", c[0], c[1])
				}
			}()
			KFold(c[0], c[1], 1)
		}()
	}
}
