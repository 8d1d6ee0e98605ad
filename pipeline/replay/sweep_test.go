package replay

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/lingerhq/linger/scoring"

	"github.com/lingerhq/linger/pipeline/outcomes"
)

func TestParseSweep(t *testing.T) {
	keys, err := ParseSweep("thresholds.abandonment=0.5:0.7:0.1, silence=15s:45s:15s")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(keys[0].values, " "); got != "0.5 0.6 0.7" {
		t.Fatalf("numbers: %s", got)
	}
	if got := strings.Join(keys[1].values, " "); got != "15s 30s 45s" {
		t.Fatalf("durations: %s", got)
	}
	for _, bad := range []string{"", "x", "a=1:2", "a=2:1:1", "a=1:2:0", "a=1s:2:1s", "a=0:1000:1,b=0:1000:1"} {
		if _, err := ParseSweep(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestGridAppliesEachSetting(t *testing.T) {
	keys, _ := ParseSweep("thresholds.abandonment=0.6:0.8:0.2,silence=10s:20s:10s")
	grid, err := Grid(scoring.DefaultConfig(), keys)
	if err != nil {
		t.Fatal(err)
	}
	if len(grid) != 4 {
		t.Fatalf("%d settings, want 4", len(grid))
	}
	models := map[string]bool{}
	for _, p := range grid {
		if got := p.Config.Thresholds.Abandonment; math.Abs(got-map[string]float64{"0.6": 0.6, "0.8": 0.8}[p.Values[0]]) > 1e-9 {
			t.Errorf("setting %v: threshold %v", p.Values, got)
		}
		if got := p.Config.Silence.String(); got != p.Values[1] {
			t.Errorf("setting %v: silence %v", p.Values, got)
		}
		models[p.Config.Model()] = true
	}
	if len(models) != 4 {
		t.Fatal("settings share a model name")
	}
	if _, err := Grid(scoring.DefaultConfig(), []SweepKey{{key: "thresholds.nonsense", values: []string{"1"}}}); err == nil {
		t.Fatal("an unknown key was accepted")
	}
	if _, err := Grid(scoring.DefaultConfig(), []SweepKey{{key: "thresholds.abandonment", values: []string{"2"}}}); err == nil {
		t.Fatal("an invalid value was accepted")
	}
}

func TestFrontier(t *testing.T) {
	row := func(share, prec float64) SweepRow {
		return SweepRow{Share: InviteShare{All: outcomes.Estimate{Value: share, N: 100}}, Quality: Quality{Precision: outcomes.Estimate{Value: prec}}}
	}
	rows := []SweepRow{row(0.02, 0.5), row(0.05, 0.4), row(0.05, 0.3), row(0.12, 0.2), row(0.08, 0.1)}
	Frontier(rows, Band{Low: 0.03, High: 0.10})
	var front, band []bool
	for _, r := range rows {
		front, band = append(front, r.frontier), append(band, r.inBand)
	}
	if want := []bool{true, true, false, true, false}; !slices.Equal(front, want) {
		t.Errorf("frontier %v, want %v", front, want)
	}
	if want := []bool{false, true, true, false, true}; !slices.Equal(band, want) {
		t.Errorf("band %v, want %v", band, want)
	}
}

func est(v float64) outcomes.Estimate { return outcomes.Estimate{Value: v, N: 1000, Lo: v, Hi: v} }

// sweepOf builds a sweep of thresholds.abandonment whose rows have the
// given invite shares per reason and acceptance per reason (nil: no
// feedback).
func sweepOf(shares [][2]float64, acceptance [][2]float64) *Sweep {
	keys, _ := ParseSweep("thresholds.abandonment=0.6:0.6:0.1")
	var rows []SweepRow
	for i, sh := range shares {
		r := SweepRow{Values: []string{fmt.Sprint(0.6 + 0.1*float64(i))}, Invites: 10,
			Share: InviteShare{All: est(sh[0] + sh[1]), Abandonment: est(sh[0]), Confusion: est(sh[1])}}
		if acceptance != nil {
			a := acceptance[i]
			r.Acceptance = &ReasonFigures{All: est((a[0] + a[1]) / 2), Abandonment: est(a[0]), Confusion: est(a[1])}
		}
		rows = append(rows, r)
	}
	return NewSweep("in.jsonl", keys, rows, Band{Low: 0.03, High: 0.10}, scoring.DefaultConfig())
}

// TestSweepNotes: the notes say which reason keeps the invite share above
// its band, and which reason's acceptance is outside its band.
func TestSweepNotes(t *testing.T) {
	// The demo's case: abandonment's threshold swept, confusion's 9 points
	// keep the total above 10%.
	s := sweepOf([][2]float64{{0.08, 0.05}, {0.04, 0.09}, {0.02, 0.091}}, [][2]float64{{0.01, 0.06}, {0.012, 0.06}, {0.015, 0.06}})
	notes := strings.Join(s.Notes(), "\n")
	for _, want := range []string{
		"invite share outside rate_band 3–10% in 3 of 3 settings",
		"above it in 1, where abandonment keeps it there: it invites 8.0% of eligible sessions (confusion 5.0%)",
		"above it in 2, where confusion keeps it there: it invites 9.0–9.1% of eligible sessions (abandonment 2.0–4.0%); thresholds.confusion is not swept",
		"acceptance against the acceptance band 3–10% (the default: the config sets none), in 3 settings: in all within it (3.5–3.8%); abandonment below it in 3 (1.0–1.5%); confusion within it (6.0%).",
	} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q:\n%s", want, notes)
		}
	}
	// A reason above the band on its own, and one that is under it.
	s = sweepOf([][2]float64{{0.02, 0.12}, {0.005, 0.005}}, nil)
	notes = strings.Join(s.Notes(), "\n")
	for _, want := range []string{
		"where confusion keeps it there: it invites 12.0% of eligible sessions (abandonment 2.0%), above the band on its own; thresholds.confusion is not swept",
		"below it in 1: abandonment invites 0.5% of eligible sessions, confusion 0.5%",
	} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q:\n%s", want, notes)
		}
	}
	if strings.Contains(notes, "acceptance") {
		t.Errorf("acceptance without feedback:\n%s", notes)
	}
	var b strings.Builder
	if err := s.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "accepted") || !strings.Contains(b.String(), "abandonment  confusion") {
		t.Errorf("table:\n%s", b.String())
	}
	// All within: nothing to say.
	if n := sweepOf([][2]float64{{0.03, 0.02}}, nil).Notes(); len(n) != 0 {
		t.Errorf("notes for a sweep within its band: %v", n)
	}
}

// TestSweepNoInvites: a sweep where no setting invites anyone says why.
func TestSweepNoInvites(t *testing.T) {
	s := sweepOf([][2]float64{{0, 0}, {0, 0}}, nil)
	for i := range s.Rows {
		s.Rows[i].Invites, s.Rows[i].Eligible = 0, 100
		s.Rows[i].Highest = Scores{Abandonment: 0.045, Confusion: 0.057}
		s.Rows[i].Thresholds = Scores{Abandonment: 0.05 + 0.1*float64(i), Confusion: 0.7}
	}
	ws := strings.Join(s.Warnings(), "\n")
	want := "no setting invited anyone: abandonment scores reach 0.045 (threshold 0.05), confusion 0.057 (threshold 0.7) at the lowest thresholds swept"
	if !strings.Contains(ws, want) {
		t.Errorf("warnings lack %q:\n%s", want, ws)
	}
	s.Rows[1].Invites = 1
	if ws := s.Warnings(); len(ws) != 0 {
		t.Errorf("warnings when a setting invited: %v", ws)
	}
}
