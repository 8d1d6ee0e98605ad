// Package svgplot draws small plots as inline SVG, for reports that are one
// self-contained HTML page: no script, font or stylesheet is fetched, and
// every text that goes in is escaped.
//
// Doc, Area, Axes and Legend are the parts a bespoke plot is drawn with;
// Chart is a ready line chart of series over a shared x. Style is the CSS
// for the classes they draw with, for the page to include. This package
// imports the standard library alone.
package svgplot

import (
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Doc builds the markup of one SVG element. Text goes in through Text and
// Esc, which escape it; Printf writes markup as is.
type Doc struct {
	strings.Builder
}

// Printf appends formatted markup to the document, unescaped.
func (d *Doc) Printf(format string, args ...any) { fmt.Fprintf(d, format, args...) }

// Esc escapes s for an attribute value or element text.
func Esc(s string) string { return html.EscapeString(s) }

// Px formats a coordinate to a tenth of a pixel: finer is invisible and
// only makes the page bigger.
func Px(x float64) string { return strconv.FormatFloat(math.Round(x*10)/10, 'f', -1, 64) }

// Open starts an SVG of the given size, with title as its accessible name.
// The xmlns lets the element be saved as an .svg file on its own; it is a
// name, nothing is fetched.
func (d *Doc) Open(id, class string, width, height float64, title string) {
	d.Printf(`<svg xmlns="http://www.w3.org/2000/svg" id="%s" class="%s" viewBox="0 0 %s %s" width="%s" height="%s" role="img" aria-labelledby="%s-title">`,
		Esc(id), Esc(class), Px(width), Px(height), Px(width), Px(height), Esc(id))
	d.Printf(`<title id="%s-title">%s</title>`, Esc(id), Esc(title))
}

// Close ends the SVG that Open started.
func (d *Doc) Close() { d.WriteString("</svg>") }

// Text writes a text element at (x, y); anchor is start, middle or end,
// class may be empty.
func (d *Doc) Text(x, y float64, anchor, class, text string) {
	d.Printf(`<text x="%s" y="%s" text-anchor="%s"`, Px(x), Px(y), anchor)
	if class != "" {
		d.Printf(` class="%s"`, Esc(class))
	}
	d.Printf(`>%s</text>`, Esc(text))
}

// Area maps data coordinates to pixels: an SVG of Width by Height, the plot
// inside its margins, showing XMin..XMax and YMin..YMax.
type Area struct {
	Width, Height            float64
	Left, Right, Top, Bottom float64
	XMin, XMax, YMin, YMax   float64
}

// X is the pixel column of data x v.
func (a Area) X(v float64) float64 {
	return a.Left + (v-a.XMin)/(a.XMax-a.XMin)*(a.Width-a.Left-a.Right)
}

// Y is the pixel row of data y v.
func (a Area) Y(v float64) float64 {
	return a.Height - a.Bottom - (v-a.YMin)/(a.YMax-a.YMin)*(a.Height-a.Top-a.Bottom)
}

// Axes draws the grid, the axes, their ticks (in data coordinates) with
// labels formatted by xlabel and ylabel, and the axis titles.
func (d *Doc) Axes(a Area, xticks, yticks []float64, xlabel, ylabel func(float64) string, xtitle, ytitle string) {
	x0, x1, y0, y1 := a.X(a.XMin), a.X(a.XMax), a.Y(a.YMin), a.Y(a.YMax)
	for _, t := range xticks {
		d.Printf(`<line class="grid" x1="%s" y1="%s" x2="%s" y2="%s"/>`, Px(a.X(t)), Px(y1), Px(a.X(t)), Px(y0))
	}
	for _, t := range yticks {
		d.Printf(`<line class="grid" x1="%s" y1="%s" x2="%s" y2="%s"/>`, Px(x0), Px(a.Y(t)), Px(x1), Px(a.Y(t)))
	}
	d.Printf(`<path class="axis" fill="none" d="M%s %sV%sH%s"/>`, Px(x0), Px(y1), Px(y0), Px(x1))
	for _, t := range xticks {
		d.Printf(`<line class="axis" x1="%s" y1="%s" x2="%s" y2="%s"/>`, Px(a.X(t)), Px(y0), Px(a.X(t)), Px(y0+4))
		d.Text(a.X(t), y0+17, "middle", "tick", xlabel(t))
	}
	for _, t := range yticks {
		d.Printf(`<line class="axis" x1="%s" y1="%s" x2="%s" y2="%s"/>`, Px(x0-4), Px(a.Y(t)), Px(x0), Px(a.Y(t)))
		d.Text(x0-7, a.Y(t)+4, "end", "tick", ylabel(t))
	}
	d.Text((x0+x1)/2, a.Height-8, "middle", "", xtitle)
	d.Printf(`<text x="0" y="0" text-anchor="middle" transform="translate(%s %s) rotate(-90)">%s</text>`,
		Px(14), Px((y0+y1)/2), Esc(ytitle))
}

// NoData draws, for a plot that has nothing to show, its frame and the
// words "no data".
func (d *Doc) NoData(a Area) {
	d.Printf(`<rect x="%s" y="%s" width="%s" height="%s" fill="none" stroke="#d0d7de"/>`,
		Px(a.Left), Px(a.Top), Px(a.Width-a.Left-a.Right), Px(a.Height-a.Top-a.Bottom))
	d.Text((a.Left+a.Width-a.Right)/2, (a.Top+a.Height-a.Bottom)/2, "middle", "nodata", "no data")
}

// LegendItem is a line sample in a legend: its label, its colour and its
// stroke-dasharray ("" for a solid line).
type LegendItem struct {
	Label, Colour, Dash string
}

// Legend draws items one under the other in a box whose top-right corner
// is (x, y): inside a plot, where its curves leave room.
func (d *Doc) Legend(x, y float64, items []LegendItem) {
	width := 0.0
	for _, it := range items {
		width = max(width, TextWidth(it.Label))
	}
	width += 46
	x -= width
	h := float64(len(items))*18 + 8
	d.Printf(`<g class="legend"><rect x="%s" y="%s" width="%s" height="%s" fill="#fff" fill-opacity="0.85" stroke="#d0d7de"/>`, Px(x), Px(y), Px(width), Px(h))
	for i, it := range items {
		ly := y + 13 + float64(i)*18
		d.sample(x+8, x+32, ly, it)
		d.Text(x+38, ly+4, "start", "", it.Label)
	}
	d.WriteString("</g>")
}

// LegendRow draws items side by side, ending at x, on the text baseline y:
// above a plot whose curves may run anywhere in it.
func (d *Doc) LegendRow(x, y float64, items []LegendItem) {
	width := 0.0
	for _, it := range items {
		width += 36 + TextWidth(it.Label) + 16
	}
	x -= width - 16
	d.WriteString(`<g class="legend">`)
	for _, it := range items {
		d.sample(x, x+28, y-4, it)
		d.Text(x+34, y, "start", "", it.Label)
		x += 36 + TextWidth(it.Label) + 16
	}
	d.WriteString("</g>")
}

// sample draws the line of it from x0 to x1 at y.
func (d *Doc) sample(x0, x1, y float64, it LegendItem) {
	d.Printf(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="2.5"`, Px(x0), Px(y), Px(x1), Px(y), Esc(it.Colour))
	if it.Dash != "" {
		d.Printf(` stroke-dasharray="%s"`, Esc(it.Dash))
	}
	d.WriteString("/>")
}

// TextWidth estimates the width of s at 12px: there is no font metric to
// ask, and an estimate a little wide only leaves a little room.
func TextWidth(s string) float64 { return 7 * float64(utf8.RuneCountInString(s)) }

// Ticks returns lo and the multiples of step above it up to hi.
func Ticks(lo, hi, step float64) []float64 {
	var t []float64
	for i := 0; ; i++ {
		v := lo + float64(i)*step
		if v > hi+step/1e6 {
			return t
		}
		t = append(t, math.Round(v/step)*step)
	}
}

// NiceStep is a round step (1, 2, 2.5 or 5 times a power of ten) that
// divides 0..hi into about n intervals.
func NiceStep(hi float64, n int) float64 {
	raw := hi / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 2.5, 5} {
		if m*mag >= raw*(1-1e-9) {
			return m * mag
		}
	}
	return 10 * mag
}

// TickNumber formats a tick label without trailing zeros: 0.1, 0.25, 1.
func TickNumber(v float64) string {
	return strconv.FormatFloat(math.Round(v*1e6)/1e6, 'f', -1, 64)
}

// Style is the CSS for the classes the plots use (grid, axis, the tick,
// title, dim and nodata texts), to go in the page's style element. It holds
// no "<" or "&", so the page still parses as XML.
const Style = `svg { max-width: 100%; height: auto; font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }
svg text { font-size: 12px; fill: #1f2328; }
svg text.title { font-size: 14px; font-weight: 600; }
svg text.tick, svg text.dim { fill: #57606a; }
svg text.nodata { font-size: 16px; fill: #8c959f; }
svg .grid { stroke: #eaeef2; }
svg .axis { stroke: #57606a; }
`
