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
	m := regexp.MustCompile(`class="series" data-series="` + regexp.QuoteMeta(label) + `" d="([^"]*)"`).FindStringSubmatch(svg)
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

// yTicks are the labels of the y axis's ticks, bottom to top.
func yTicks(svg string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`<text x="[^"]*" y="[^"]*" text-anchor="end" class="tick">([^<]*)</text>`).FindAllStringSubmatch(svg, -1) {
		out = append(out, m[1])
	}
	return out
}

// TestChartScaleAndRefs: points before ScaleFrom do not stretch the y
// axis and are drawn at its edge; a Ref is drawn across the plot, labelled,
// and the axis reaches it.
func TestChartScaleAndRefs(t *testing.T) {
	c := Chart{
		ID: "s", X: []float64{1, 2, 3, 4, 5},
		Lines:     []Line{{Label: "rate", Colour: "#000", Y: []float64{900, 5000, 40, 45, 50}}},
		ScaleFrom: 3,
	}
	svg := c.SVG()
	if got := yTicks(svg); got[len(got)-1] != "50" {
		t.Errorf("y ticks %v: want the scale to stop at 50, the warm-up left out", got)
	}
	a := Area{Width: 720, Height: 320, Left: 64, Right: 20, Top: 56, Bottom: 48, XMin: 1, XMax: 5, YMin: 0, YMax: 50}
	top := Px(a.Y(50))
	if d := series(t, svg, "rate"); !strings.HasPrefix(d, "M"+Px(a.X(3))+" ") || strings.Count(d, "L") != 2 {
		t.Errorf("rate = %q: want the line from x=3 on, the warm-up's points beyond the scale left out", d)
	}
	m := regexp.MustCompile(`<path class="offscale" data-series="rate" d="([^"]*)"`).FindStringSubmatch(svg)
	if m == nil || m[1] != "M"+Px(a.X(1))+" "+top+"l-4 7h8zM"+Px(a.X(2))+" "+top+"l-4 7h8z" {
		t.Errorf("off-scale marks %q: want a triangle at the top edge for x=1 and x=2", m)
	}

	// A budget above every point: the axis reaches it, and it is drawn.
	c.Refs = []Ref{{Label: `budget <200>`, Colour: "#c00", Y: 200}}
	svg = c.SVG()
	if got := yTicks(svg); got[len(got)-1] != "200" {
		t.Errorf("y ticks %v: want them to reach the budget, 200", got)
	}
	a.YMax = 200
	m = regexp.MustCompile(`<line class="ref" data-ref="([^"]*)" x1="([^"]*)" y1="([^"]*)" x2="([^"]*)" y2="([^"]*)"`).FindStringSubmatch(svg)
	if m == nil || m[1] != "budget &lt;200&gt;" || m[2] != Px(a.X(1)) || m[4] != Px(a.X(5)) || m[3] != Px(a.Y(200)) || m[5] != m[3] {
		t.Errorf("ref line %q, want across the plot at y=%s", m, Px(a.Y(200)))
	}
	if !strings.Contains(svg, ">budget &lt;200&gt;</text>") {
		t.Error("the ref line has no label")
	}

	// On a log scale too, and nothing after ScaleFrom: every point counts.
	c = Chart{ID: "l", X: []float64{1, 2}, LogY: true, ScaleFrom: 10,
		Lines: []Line{{Label: "p99", Colour: "#000", Y: []float64{3, 30}}},
		Refs:  []Ref{{Label: "slo", Colour: "#c00", Y: 200}, {Label: "not on a log axis", Y: 0}}}
	svg = c.SVG()
	if got := yTicks(svg); got[0] != "1" || got[len(got)-1] != "1000" {
		t.Errorf("log ticks %v, want 1 to 1000", got)
	}
	if strings.Count(svg, `class="ref"`) != 1 || strings.Contains(svg, "NaN") || strings.Contains(svg, "Inf") {
		t.Errorf("log refs:\n%s", svg)
	}
}
