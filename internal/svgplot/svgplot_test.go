package svgplot

import (
	"math"
	"regexp"
	"strings"
	"testing"
)

func TestTicks(t *testing.T) {
	if got := NiceStep(0.23, 5); got != 0.05 {
		t.Errorf("NiceStep(0.23, 5) = %v, want 0.05", got)
	}
	if got := NiceStep(1234, 5); got != 250 {
		t.Errorf("NiceStep(1234, 5) = %v, want 250", got)
	}
	if got := Ticks(0, 1, 0.1); len(got) != 11 || got[10] != 1 {
		t.Errorf("Ticks(0, 1, 0.1) = %v", got)
	}
	if got := TickNumber(0.30000000000000004); got != "0.3" {
		t.Errorf("TickNumber = %q, want 0.3", got)
	}
	// Two decades: 1, 2, 5 of each, and the top one.
	if got := logTicks(0, 2); len(got) != 7 || got[6] != 2 {
		t.Errorf("logTicks(0, 2) = %v", got)
	}
	if got := logTicks(-2, 4); len(got) != 7 {
		t.Errorf("logTicks(-2, 4) = %v, want the 7 decades alone", got)
	}
}

// series is the d of the path of the series named label.
func series(t *testing.T, svg, label string) string {
	t.Helper()
	m := regexp.MustCompile(`data-series="` + regexp.QuoteMeta(label) + `" d="([^"]*)"`).FindStringSubmatch(svg)
	if m == nil {
		t.Fatalf("no series %q in\n%s", label, svg)
	}
	return m[1]
}

func TestChart(t *testing.T) {
	nan := math.NaN()
	c := Chart{
		ID: "c", Title: `a <b> & "c"`, XTitle: "x", YTitle: "y",
		X: []float64{1, 2, 3, 4, 5, 6},
		Lines: []Line{
			{Label: "gappy", Colour: "#000", Y: []float64{1, 2, nan, 4, nan, 6}},
			{Label: `<i>`, Colour: "#111", Dash: "4 2", Y: []float64{3, 3, 3}}, // shorter than X
		},
		BandFrom: 2, BandTo: 10, BandLabel: "window",
	}
	svg := c.SVG()
	// A run of two, then two lone points, each a dot.
	if d := series(t, svg, "gappy"); strings.Count(d, "M") != 3 || strings.Count(d, "L") != 1 || strings.Count(d, "h0") != 2 {
		t.Errorf("gappy = %q, want M L, M h0, M h0", d)
	}
	if d := series(t, svg, "&lt;i&gt;"); strings.Count(d, "L") != 2 {
		t.Errorf("short line = %q, want 3 points", d)
	}
	if strings.Contains(svg, "<b>") || strings.Contains(svg, "<i>") || !strings.Contains(svg, "a &lt;b&gt; &amp; &#34;c&#34;") {
		t.Errorf("text not escaped:\n%s", svg)
	}
	// The band is clipped to the x axis: from x=2 to the end at x=6.
	a := Area{Width: 720, Height: 320, Left: 64, Right: 20, Top: 56, Bottom: 48, XMin: 1, XMax: 6}
	if want := `class="band" x="` + Px(a.X(2)) + `"`; !strings.Contains(svg, want) || !strings.Contains(svg, ` width="`+Px(a.X(6)-a.X(2))+`"`) {
		t.Errorf("band not from x=2 to 6:\n%s", svg)
	}

	// On a log scale, values not above 0 are gaps too.
	c.LogY = true
	c.Lines = []Line{{Label: "log", Colour: "#000", Y: []float64{0.5, 0, 50, 500, -1, 5}}}
	svg = c.SVG()
	if d := series(t, svg, "log"); strings.Count(d, "M") != 3 || strings.Count(d, "L") != 1 {
		t.Errorf("log line = %q", d)
	}
	for _, tick := range []string{">0.1<", ">1<", ">1000<"} {
		if !strings.Contains(svg, tick) {
			t.Errorf("log axis lacks the tick %s", tick)
		}
	}
}

func TestChartNoData(t *testing.T) {
	for name, c := range map[string]Chart{
		"nothing":     {ID: "n"},
		"no lines":    {ID: "n", X: []float64{1, 2}},
		"all gaps":    {ID: "n", X: []float64{1, 2}, Lines: []Line{{Label: "l", Y: []float64{math.NaN(), math.NaN()}}}},
		"log, zeroes": {ID: "n", X: []float64{1}, LogY: true, Lines: []Line{{Label: "l", Y: []float64{0}}}},
	} {
		svg := c.SVG()
		if !strings.Contains(svg, ">no data<") || strings.Contains(svg, "NaN") || strings.Contains(svg, "Inf") {
			t.Errorf("%s:\n%s", name, svg)
		}
	}
	// One point, all zero: drawn, on an axis of some height and width.
	svg := Chart{ID: "z", X: []float64{3}, Lines: []Line{{Label: "l", Y: []float64{0}}}}.SVG()
	if strings.Contains(svg, "no data") || strings.Contains(svg, "NaN") || !strings.Contains(svg, "h0") {
		t.Errorf("a lone zero:\n%s", svg)
	}
}
