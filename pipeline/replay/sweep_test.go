package replay

import (
	"math"
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
	if want := []bool{true, true, false, true, false}; !equalBools(front, want) {
		t.Errorf("frontier %v, want %v", front, want)
	}
	if want := []bool{false, true, true, false, true}; !equalBools(band, want) {
		t.Errorf("band %v, want %v", band, want)
	}
}

func equalBools(a, b []bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
