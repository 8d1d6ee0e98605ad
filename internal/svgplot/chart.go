package svgplot

import (
	"math"
	"slices"
	"strings"
)

// Line is one series of a Chart.
type Line struct {
	// Label names the line in the legend, Colour and Dash (a
	// stroke-dasharray, "" for solid) draw it.
	Label, Colour, Dash string
	// Y has a value for each X of the chart; NaN (or, on a log scale,
	// a value not above 0) is no value, a gap in the line.
	Y []float64
}

// Chart is a line chart of series sampled at the same x values, such as
// one point a second of a run. Zero fields take the defaults said.
type Chart struct {
	// ID is the SVG element's id, Title is shown above the plot and is its
	// accessible name.
	ID, Title string
	// XTitle and YTitle name the axes.
	XTitle, YTitle string
	// X are the x values, increasing.
	X     []float64
	Lines []Line
	// LogY draws y on a log scale, with ticks at 1, 2 and 5 times powers
	// of ten; otherwise y runs from 0 (or the lowest value, if below).
	LogY bool
	// XLabel and YLabel format the tick labels. Default: TickNumber.
	XLabel, YLabel func(float64) string
	// BandFrom..BandTo, when BandTo > BandFrom, is an x range shaded and
	// labelled BandLabel: the measured window of a run, say.
	BandFrom, BandTo float64
	BandLabel        string
	// Refs are horizontal lines at fixed values, such as a budget the
	// series are held to; the y axis always reaches them.
	Refs []Ref
	// ScaleFrom, when above the first x, leaves the points before it out
	// of the y axis's range: a run's warm-up, whose burst would flatten
	// everything after it. Those points are still drawn where they fall in
	// the range; beyond it, each is a gap in its line and a small triangle
	// at the edge, pointing out.
	ScaleFrom float64
	// Width and Height of the SVG in pixels. Default: 720 by 320.
	Width, Height float64
}

// Ref is a horizontal line across a Chart at value Y (in the units of the
// y axis, not its log), named by Label at its right end.
type Ref struct {
	Label, Colour string
	Y             float64
}

// bandColour shades the band; the colour of the lines is theirs to choose.
const bandColour = "#0072B2"

// SVG draws the chart. With no value to show, it draws a frame saying "no
// data".
func (c Chart) SVG() string {
	if c.Width <= 0 {
		c.Width = 720
	}
	if c.Height <= 0 {
		c.Height = 320
	}
	if c.XLabel == nil {
		c.XLabel = TickNumber
	}
	if c.YLabel == nil {
		c.YLabel = TickNumber
	}
	a := Area{Width: c.Width, Height: c.Height, Left: 64, Right: 20, Top: 56, Bottom: 48}
	var d Doc
	d.Open(c.ID, "plot", a.Width, a.Height, c.Title)
	d.Text(a.Left, 22, "start", "title", c.Title)

	// y is the plotted value of v: its log on a log scale.
	y := func(v float64) (float64, bool) {
		if c.LogY {
			if !(v > 0) || math.IsInf(v, 0) {
				return 0, false
			}
			return math.Log10(v), true
		}
		return v, finite(v)
	}
	var ys, scaled []float64 // the plotted values of the points with one; those of them that set the scale
	for _, l := range c.Lines {
		for i, v := range l.Y[:min(len(l.Y), len(c.X))] {
			if yv, ok := y(v); ok && finite(c.X[i]) {
				ys = append(ys, yv)
				if c.X[i] >= c.ScaleFrom {
					scaled = append(scaled, yv)
				}
			}
		}
	}
	if len(ys) == 0 {
		d.NoData(a)
		d.Close()
		return d.String()
	}
	if len(scaled) == 0 { // nothing after ScaleFrom: every point sets it
		scaled = ys
	}
	for _, r := range c.Refs {
		if yv, ok := y(r.Y); ok {
			scaled = append(scaled, yv)
		}
	}
	a.XMin, a.XMax = bounds(c.X)
	if a.XMax <= a.XMin {
		a.XMin, a.XMax = a.XMin-0.5, a.XMax+0.5
	}
	ylo, yhi := bounds(scaled)
	var yticks []float64
	ylabel := c.YLabel
	if c.LogY {
		a.YMin, a.YMax = math.Floor(ylo), math.Ceil(yhi)
		if a.YMax <= a.YMin {
			a.YMax++
		}
		yticks = logTicks(a.YMin, a.YMax)
		ylabel = func(t float64) string { return c.YLabel(math.Pow(10, t)) }
	} else {
		a.YMin = min(0, ylo)
		if yhi <= a.YMin {
			yhi = a.YMin + 1
		}
		step := NiceStep(yhi-a.YMin, 5)
		a.YMin = math.Floor(a.YMin/step+1e-9) * step
		a.YMax = math.Ceil(yhi/step-1e-9) * step
		yticks = Ticks(a.YMin, a.YMax, step)
	}
	xstep := NiceStep(a.XMax-a.XMin, 8)
	d.Axes(a, Ticks(math.Ceil(a.XMin/xstep-1e-9)*xstep, a.XMax, xstep), yticks, c.XLabel, ylabel, c.XTitle, c.YTitle)

	if from, to := max(c.BandFrom, a.XMin), min(c.BandTo, a.XMax); c.BandTo > c.BandFrom && to > from {
		d.Printf(`<rect class="band" x="%s" y="%s" width="%s" height="%s" fill="%s" fill-opacity="0.07"/>`,
			Px(a.X(from)), Px(a.Y(a.YMax)), Px(a.X(to)-a.X(from)), Px(a.Y(a.YMin)-a.Y(a.YMax)), bandColour)
		if c.BandLabel != "" {
			d.Text(a.X(from)+4, a.Y(a.YMax)+14, "start", "dim", c.BandLabel)
		}
	}

	var items []LegendItem
	for _, l := range c.Lines {
		var p, off strings.Builder // the line; the marks of the points beyond the range
		points := 0                // in the current run of values
		for i, v := range l.Y[:min(len(l.Y), len(c.X))] {
			yv, ok := y(v)
			if ok && finite(c.X[i]) && (yv > a.YMax+1e-9 || yv < a.YMin-1e-9) {
				// Beyond the range (a point before ScaleFrom): a gap in
				// the line, and a small triangle at the edge, pointing out.
				px, edge, dir := a.X(c.X[i]), a.Y(a.YMax), 1.0
				if yv < a.YMin {
					edge, dir = a.Y(a.YMin), -1
				}
				off.WriteString("M" + Px(px) + " " + Px(edge) + "l-4 " + Px(7*dir) + "h8z")
				ok = false
			}
			if !ok || !finite(c.X[i]) {
				if points == 1 {
					p.WriteString("h0") // a lone value shows as a dot
				}
				points = 0
				continue
			}
			if points == 0 {
				p.WriteString("M")
			} else {
				p.WriteString("L")
			}
			p.WriteString(Px(a.X(c.X[i])) + " " + Px(a.Y(yv)))
			points++
		}
		if points == 1 {
			p.WriteString("h0")
		}
		items = append(items, LegendItem{Label: l.Label, Colour: l.Colour, Dash: l.Dash})
		if p.Len() > 0 {
			d.Printf(`<path class="series" data-series="%s" d="%s" fill="none" stroke="%s" stroke-width="2" stroke-linejoin="round" stroke-linecap="round"`,
				Esc(l.Label), p.String(), Esc(l.Colour))
			if l.Dash != "" {
				d.Printf(` stroke-dasharray="%s"`, Esc(l.Dash))
			}
			d.WriteString("/>")
		}
		if off.Len() > 0 {
			d.Printf(`<path class="offscale" data-series="%s" d="%s" fill="%s"/>`, Esc(l.Label), off.String(), Esc(l.Colour))
		}
	}
	// The refs' lines first, then their labels, each placed where it
	// crosses no line and covers no other label: above its line, else
	// below, else further off.
	var lines, labels []float64 // pixel rows of the lines, baselines of the labels
	type placed struct {
		label string
		py    float64
	}
	var refs []placed
	for _, r := range c.Refs {
		yv, ok := y(r.Y)
		if !ok {
			continue
		}
		py := a.Y(yv)
		d.Printf(`<line class="ref" data-ref="%s" x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="1.5" stroke-dasharray="2 3"/>`,
			Esc(r.Label), Px(a.X(a.XMin)), Px(py), Px(a.X(a.XMax)), Px(py), Esc(r.Colour))
		lines = append(lines, py)
		refs = append(refs, placed{r.Label, py})
	}
	free := func(ty float64) bool { // a 12px label on baseline ty
		return ty-11 >= a.Top && ty+2 <= a.Y(a.YMin) &&
			!slices.ContainsFunc(lines, func(l float64) bool { return l >= ty-11 && l <= ty+2 }) &&
			!slices.ContainsFunc(labels, func(o float64) bool { return math.Abs(o-ty) < 13 })
	}
	for _, r := range refs {
		ty := r.py - 5
		for _, try := range []float64{r.py - 5, r.py + 15, r.py - 18, r.py + 28, r.py - 31, r.py + 41} {
			if free(try) {
				ty = try
				break
			}
		}
		labels = append(labels, ty)
		d.Text(a.X(a.XMax)-4, ty, "end", "dim", r.label)
	}
	d.LegendRow(a.Width-a.Right, 44, items)
	d.Close()
	return d.String()
}

// logTicks are the ticks of a log axis from decade lo to decade hi (the
// logs of the values): every decade, and 2 and 5 times it when there are
// few decades.
func logTicks(lo, hi float64) []float64 {
	var t []float64
	for e := lo; e <= hi; e++ {
		t = append(t, e)
		if hi-lo <= 3 && e < hi {
			t = append(t, e+math.Log10(2), e+math.Log10(5))
		}
	}
	return t
}

// bounds are the least and the greatest of the finite values in v; 0, 0
// if there are none.
func bounds(v []float64) (lo, hi float64) {
	first := true
	for _, x := range v {
		if !finite(x) {
			continue
		}
		if first {
			lo, hi, first = x, x, false
		}
		lo, hi = min(lo, x), max(hi, x)
	}
	return lo, hi
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
