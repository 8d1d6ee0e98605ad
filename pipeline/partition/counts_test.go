package partition

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/lingerhq/linger/schemas"
	"github.com/lingerhq/linger/scoring"
)

// TestCountsHoldEveryEnum: Counts' arrays are indexed by the enums they
// count; a value added beyond an array's size would panic on the hot path.
func TestCountsHoldEveryEnum(t *testing.T) {
	var c Counts
	if n := len(schemas.Types()); n > len(c.Events) {
		t.Errorf("%d event types, Counts.Events holds %d", n, len(c.Events))
	}
	if n := len(schemas.Problems()) + 1; n > len(c.DLQ) {
		t.Errorf("%d problems, Counts.DLQ holds %d", n, len(c.DLQ))
	}
	if n := len(schemas.FeedbackTypes()); n > len(c.Feedback) {
		t.Errorf("%d feedback types, Counts.Feedback holds %d", n, len(c.Feedback))
	}
	if n := len(scoring.SuppressedReasons()) + int(scoring.SuppressedBot); n > len(c.Suppressed) {
		t.Errorf("%d outcomes, Counts.Suppressed holds %d", n, len(c.Suppressed))
	}
	if n := len(schemas.Reasons()) + 1; n > len(c.Invites) {
		t.Errorf("%d reasons, Counts.Invites holds %d", n, len(c.Invites))
	}
}

// TestTeamTable: counts add up by site and team in a fixed table; pairs
// beyond its size go to other/other; Counts.Add merges tables by pair.
func TestTeamTable(t *testing.T) {
	var c Counts
	c.Teams.Add("shop", "sales", 2, 1)
	c.Teams.Add("shop", "service", 1, 0)
	c.Teams.Add("shop", "sales", 1, 1)
	for i := range MaxTeamRows + 3 {
		c.Teams.Add("site", string(rune('a'+i)), 1, 0)
	}
	rows := c.Teams.Rows()
	if len(rows) != MaxTeamRows {
		t.Fatalf("%d rows, want %d", len(rows), MaxTeamRows)
	}
	if rows[0] != (TeamCounts{Site: "shop", Team: "sales", Shown: 3, Accepted: 2}) {
		t.Fatalf("first row %+v", rows[0])
	}
	// 2 rows of shop, MaxTeamRows-3 of site, the rest in other/other.
	if last := rows[MaxTeamRows-1]; last != (TeamCounts{Site: scoring.LabelOther, Team: scoring.LabelOther, Shown: 6}) {
		t.Fatalf("overflow row %+v", last)
	}
	var total Counts
	total.Add(&c)
	total.Add(&c)
	if got := total.Teams.Rows()[0]; got.Shown != 6 || got.Accepted != 4 || len(total.Teams.Rows()) != MaxTeamRows {
		t.Fatalf("merged %+v (%d rows)", got, len(total.Teams.Rows()))
	}
	c.reset()
	if len(c.Teams.Rows()) != 0 {
		t.Fatal("reset kept rows")
	}
	if n := testing.AllocsPerRun(100, func() { c.Teams.Add("shop", "sales", 1, 0) }); n != 0 {
		t.Fatalf("Add allocates %v times", n)
	}
}

// TestScoreBucketIsTheSearch holds scoreBucket to sort.SearchFloat64s over
// the bounds: at each bound, one step either side of it, across [0, 1] at
// random, and outside it (negative, above 1, infinite, NaN); and over
// bounds moved off the steps of 0.05, where the guess is off by one both
// ways and only the walks make it right.
func TestScoreBucketIsTheSearch(t *testing.T) {
	defer func(b []float64) { ScoreBuckets = b }(ScoreBuckets)
	r := rand.New(rand.NewPCG(3, 4))
	for _, shift := range []float64{0, 0.03, -0.02} {
		bounds := make([]float64, len(ScoreBuckets))
		for i := range bounds {
			bounds[i] = float64(i+1)*0.05 + shift
		}
		ScoreBuckets = bounds
		vs := []float64{0, math.Copysign(0, -1), 1, -1, 2, math.Inf(1), math.Inf(-1), math.NaN(), math.SmallestNonzeroFloat64}
		for _, b := range bounds {
			vs = append(vs, b, math.Nextafter(b, -1), math.Nextafter(b, 2))
		}
		for range 100_000 {
			vs = append(vs, r.Float64()*1.2-0.1)
		}
		for _, v := range vs {
			if got, want := scoreBucket(v), sort.SearchFloat64s(bounds, v); got != want {
				t.Fatalf("bounds moved by %v: scoreBucket(%v) = %d, the search gives %d", shift, v, got, want)
			}
		}
	}
}
