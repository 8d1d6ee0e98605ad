package replay

import (
	"cmp"
	"html/template"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/lingerhq/linger/internal/svgplot"
	"github.com/lingerhq/linger/pipeline/outcomes"
)

// WriteHTML writes the report as one self-contained HTML page: the quality
// table of linger against the baselines, sessions by outcome, invites by
// reason, the top signals as a bar chart, and three plots (score
// distribution by outcome, ROC curve, invite rate and precision against the
// abandonment threshold). Styles are inline and the plots are inline SVG,
// with no script, font or stylesheet fetched from anywhere, so the file can
// be mailed, attached to a ticket or opened offline and look the same.
func (r *Report) WriteHTML(w io.Writer) error {
	threshold := math.NaN() // 0: a report that does not know it
	if r.Plots.AbandonmentThreshold > 0 {
		threshold = r.Plots.AbandonmentThreshold
	}
	v, err := r.htmlView(threshold)
	if err != nil {
		return err
	}
	return pageTemplate.Execute(w, v)
}

// htmlView is what the page template shows. The SVG is built in Go, every
// text in it escaped by svgplot (Doc.Text, Esc), and handed to the template as
// trusted HTML; everything else is escaped by html/template.
type htmlView struct {
	Input, Model     string
	Warnings         []string
	Events, Rejected int
	Sessions, Known  int
	Abandoned        int
	Eligible         int
	Columns          []string
	Rows             []htmlRow
	Outcomes         []htmlCount
	Invites          int
	Reasons          []htmlCount
	// Shares are the invite shares of eligible sessions, in all and per
	// reason, and ShareNote where the whole falls against the band.
	Shares        []htmlShare
	ShareNote     string
	SignalsSVG    template.HTML
	HistogramSVG  template.HTML
	ROCSVG        template.HTML
	ThresholdsSVG template.HTML
	// Measured is the outcomes section, when the input held feedback.
	Measured *measuredView
}

// measuredView is the outcomes section of the page: a line on where the
// feedback came from, then the section linger report's page shows too.
type measuredView struct {
	Intro   string
	Section template.HTML
}

type htmlRow struct {
	Name, Rule string
	Linger     bool
	Cells      []outcomes.Figure
}

type htmlCount struct {
	Name  string
	Count int
	Note  string
}

type htmlShare struct {
	Name   string
	Figure outcomes.Figure
}

// htmlView gathers the page's data. threshold is the configured
// abandonment threshold, marked on the threshold plot when it is a number;
// the Report does not carry it yet, so WriteHTML passes NaN.
func (r *Report) htmlView(threshold float64) (htmlView, error) {
	v := htmlView{
		Input: r.Input, Model: r.Model, Events: r.Events, Rejected: r.Rejected,
		Sessions: r.Sessions, Known: r.knownSessions(), Abandoned: r.SessionsByOutcome["abandoned"],
		Eligible: r.EligibleSessions, Invites: r.Invites.Total,
	}
	for _, w := range r.Warnings {
		v.Warnings = append(v.Warnings, w.Message)
	}
	if r.EligibleSessions > 0 {
		sh := r.InviteShare
		v.Shares = []htmlShare{{"all", outcomes.ProportionFigure(sh.All)}, {"abandonment", outcomes.ProportionFigure(sh.Abandonment)}, {"confusion", outcomes.ProportionFigure(sh.Confusion)}}
		v.ShareNote = strings.TrimPrefix(bandVerdict(sh.All.Value, sh.Band, "rate_band"), "; ")
	}
	if v.Input == "" {
		v.Input = "(unnamed input)"
	}
	for _, c := range qualityColumns {
		v.Columns = append(v.Columns, c.title)
	}
	for i, row := range r.qualityRows() {
		hr := htmlRow{Name: row.name, Rule: row.rule, Linger: i == 0}
		for _, c := range qualityColumns {
			hr.Cells = append(hr.Cells, c.figure(row))
		}
		v.Rows = append(v.Rows, hr)
	}
	for _, o := range r.byOutcome() {
		note := o.share
		if o.name == "censored" && o.count > 0 {
			note += " · outcome unknown: left out of the figures"
		}
		v.Outcomes = append(v.Outcomes, htmlCount{o.name, o.count, note})
	}
	for _, x := range r.reasons() {
		v.Reasons = append(v.Reasons, htmlCount{x.name, x.count, x.note})
	}
	signals, more := r.topSignals(htmlTopSignals)
	v.SignalsSVG = template.HTML(signalsSVG(signals, more, r.Invites.Total))
	v.HistogramSVG = template.HTML(histogramSVG(r.Plots.ScoreHistogram))
	v.ROCSVG = template.HTML(rocSVG(r.Plots.ROC, r.AUC))
	v.ThresholdsSVG = template.HTML(thresholdsSVG(r.Plots.Thresholds, threshold, r.Plots.Band))
	if r.Outcomes != nil {
		var section strings.Builder
		if err := r.Outcomes.WriteHTMLSection(&section); err != nil {
			return v, err
		}
		v.Measured = &measuredView{
			Intro: strconv.Itoa(r.Outcomes.Feedback) + " feedback records in the input, on the replayed decisions.",
			// Written by html/template, escaped there.
			Section: template.HTML(section.String()),
		}
	}
	return v, nil
}

// htmlTopSignals is how many signals the bar chart shows: a chart has room
// for more than the terminal.
const htmlTopSignals = 15

// The page is written to parse as XML too (every element closed, every
// attribute quoted, no "<" or "&" in the style sheet), which is what lets
// the test check that it is well formed with encoding/xml.
var pageTemplate = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1"/>
<title>linger replay · {{.Input}}</title>
<style>
` + outcomes.PageStyle + `</style>
</head>
<body>
<main>
<h1>linger replay</h1>
<p class="meta">input <code>{{.Input}}</code> · model <code>{{.Model}}</code> · {{.Events}} events read, {{.Rejected}} rejected · {{.Sessions}} sessions, {{.Known}} with a known outcome, {{.Eligible}} eligible · {{.Invites}} invites</p>
{{range .Warnings}}<p class="warning"><strong>warning:</strong> {{.}}</p>
{{end}}
<h2 id="quality">linger against the baselines</h2>
<p class="note">Over the {{.Known}} sessions with a known outcome. <em>invited</em>: how many of them were invited; <em>invite rate</em>: invited of the {{.Known}}; <em>precision</em>: of the invited, the share that abandoned; <em>recall</em>: of the {{.Abandoned}} abandoned, the share invited; <em>lead</em>: seconds from an invite to the session’s last event. Each figure: value, then its 95% confidence interval and the n it rests on; “–” where there is nothing to rest on.</p>
<table class="quality">
<thead><tr><th></th>{{range .Columns}}<th>{{.}}</th>{{end}}</tr></thead>
<tbody>
{{range .Rows}}<tr{{if .Linger}} class="linger"{{end}}><td><span class="name">{{.Name}}</span><span class="rule">{{.Rule}}</span></td>{{range .Cells}}<td><span class="v">{{.Value}}</span>{{if or .CI .N}}<span class="ci">{{.CI}} {{.N}}</span>{{end}}</td>{{end}}</tr>
{{end}}</tbody>
</table>

<div class="cols">
<section>
<h2 id="outcomes">Sessions by outcome</h2>
<table>
<thead><tr><th>outcome</th><th>sessions</th><th></th></tr></thead>
<tbody>
{{range .Outcomes}}<tr><td>{{.Name}}</td><td>{{.Count}}</td><td class="note">{{.Note}}</td></tr>
{{end}}<tr><td>all</td><td>{{.Sessions}}</td><td></td></tr>
</tbody>
</table>
</section>
<section>
<h2 id="invites">Invites by reason</h2>
<table>
<thead><tr><th>reason</th><th>invites</th><th></th></tr></thead>
<tbody>
{{range .Reasons}}<tr><td>{{.Name}}</td><td>{{.Count}}</td><td class="note">{{.Note}}</td></tr>
{{end}}<tr><td>all</td><td>{{.Invites}}</td><td class="note">decisions, over all {{.Sessions}} sessions</td></tr>
</tbody>
</table>
</section>
{{if .Shares}}<section>
<h2 id="share">Invited of the {{.Eligible}} eligible sessions</h2>
<table>
<thead><tr><th>reason</th><th>share</th></tr></thead>
<tbody>
{{range .Shares}}<tr><td>{{.Name}}</td><td><span class="v">{{.Figure.Value}}</span><span class="ci">{{.Figure.CI}} {{.Figure.N}}</span></td></tr>
{{end}}</tbody>
</table>
<p class="note">Eligible: the policy would have invited the session at some moment, whatever its scores; censored sessions count. This is the share rate_band measures{{with .ShareNote}}: {{.}}{{end}}.</p>
</section>
{{end}}</div>

<h2 id="signals">Top signals of invites</h2>
<figure>
{{.SignalsSVG}}
<figcaption>How many invites each signal was among the top three contributions of; an invite counts once for each of its top signals, so the shares add up to more than 100%.</figcaption>
</figure>

<h2 id="plots">Plots</h2>
<div class="cols">
<figure>
{{.HistogramSVG}}
<figcaption>Highest abandonment score each session reached, by outcome. Each outcome is scaled to 100% of its own sessions, so the shapes compare whatever the sizes: a useful score puts abandoned sessions to the right and purchases to the left. Hover a bin for its counts.</figcaption>
</figure>
<figure class="square">
{{.ROCSVG}}
<figcaption>True positive rate (abandoned sessions reaching a score) against false positive rate (other sessions reaching it) as the score threshold falls from 1 to 0. The dashed diagonal is a score that knows nothing; the higher the curve, the better.</figcaption>
</figure>
<figure>
{{.ThresholdsSVG}}
<figcaption>Invite share of eligible sessions and precision if the abandonment threshold were each value, the confusion threshold and the other rules as configured: the share counts invites of both reasons, and the dotted line is what confusion invites alone, which no abandonment threshold takes away. The shaded band is rate_band. Estimated from each session’s highest scores; capacity and caps across sessions are not replayed for each point. Hover a point for its values.</figcaption>
</figure>
</div>

{{with .Measured}}<h2 id="measured">Measured outcomes</h2>
<p class="note">{{.Intro}}</p>
{{.Section}}
{{end}}<footer>95% confidence intervals: Wilson’s for proportions, Hanley and McNeil’s for the AUC, order statistics for lead-time percentiles{{if .Measured}}, Newcombe’s hybrid score interval for the uplift{{end}}. Sessions whose outcome is unknown (censored) are left out of every figure. Written by linger replay.</footer>
</main>
</body>
</html>
`))

// What each plot colour stands for, from the reports' palette; the lines
// also differ by dash, so a grey print still reads.
const (
	colourPurchase  = outcomes.ColourGreen
	colourAbandoned = outcomes.ColourVermillion
	colourBrowse    = outcomes.ColourBlue
	colourRate      = outcomes.ColourBlue
	colourPrecision = outcomes.ColourOrange
	colourChance    = outcomes.ColourGrey
	colourBar       = outcomes.ColourBlue
	colourBand      = outcomes.ColourBand
)

// Plot sizes, in pixels before scaling: a wide plot for the curves over
// scores and thresholds, a square one for the ROC.
const (
	wideWidth, wideHeight = outcomes.PlotWidth, 380
	rocSide               = 340
)

// histogramSVG draws the score distribution of each outcome as steps, each
// outcome scaled to 100% of its sessions, so that the shapes compare
// although browsing sessions outnumber abandoned ones many times over.
func histogramSVG(h scoreHistogram) string {
	var s svgplot.Doc
	bins := h.Bins
	if bins <= 0 {
		bins = max(len(h.Purchase), len(h.Abandoned), len(h.Browse))
	}
	series := []struct {
		name         string
		counts       []int
		colour, dash string
		total        int
	}{
		{name: "purchase", counts: h.Purchase, colour: colourPurchase, dash: "6 3"},
		{name: "abandoned", counts: h.Abandoned, colour: colourAbandoned},
		{name: "browse", counts: h.Browse, colour: colourBrowse, dash: "2 3"},
	}
	count := func(c []int, i int) int {
		if i < len(c) {
			return c[i]
		}
		return 0
	}
	peak, anything := 0.0, false
	for i := range series {
		for b := 0; b < bins; b++ {
			series[i].total += count(series[i].counts, b)
		}
		anything = anything || series[i].total > 0
	}
	for _, se := range series {
		for b := 0; b < bins && se.total > 0; b++ {
			peak = max(peak, float64(count(se.counts, b))/float64(se.total))
		}
	}
	a := svgplot.Area{Width: wideWidth, Height: wideHeight, Left: 58, Right: 20, Top: 40, Bottom: 48, XMin: 0, XMax: 1, YMin: 0, YMax: 1}
	s.Open("score-histogram", "plot", a.Width, a.Height, "Abandonment score by outcome (share of each outcome's sessions)")
	s.Text(a.Left, 22, "start", "title", "Abandonment score by outcome")
	if bins == 0 || !anything || !(peak > 0) {
		s.NoData(a)
		s.Close()
		return s.String()
	}
	step := svgplot.NiceStep(peak, 5)
	a.YMax = math.Ceil(peak/step-1e-9) * step
	s.Axes(a, svgplot.Ticks(0, 1, 0.1), svgplot.Ticks(0, a.YMax, step), svgplot.TickNumber, outcomes.TickPercent, "highest abandonment score", "share of the outcome's sessions")
	width := 1 / float64(bins)
	for _, se := range series {
		if se.total == 0 {
			continue
		}
		d := "M" + svgplot.Px(a.X(0)) + " " + svgplot.Px(a.Y(0))
		for b := 0; b < bins; b++ {
			f := float64(count(se.counts, b)) / float64(se.total)
			d += "V" + svgplot.Px(a.Y(f)) + "H" + svgplot.Px(a.X(float64(b+1)*width))
		}
		d += "V" + svgplot.Px(a.Y(0))
		s.Printf(`<path class="series" data-outcome="%s" d="%s" fill="%s" fill-opacity="0.07" stroke="%s" stroke-width="2" stroke-linejoin="round"`, se.name, d, se.colour, se.colour)
		if se.dash != "" {
			s.Printf(` stroke-dasharray="%s"`, se.dash)
		}
		s.WriteString("/>")
	}
	// A transparent band over each bin carries its counts as a tooltip:
	// the exact figures without a table, and without a script.
	for b := 0; b < bins; b++ {
		tip := "score " + outcomes.Fixed(float64(b)*width, 2) + "–" + outcomes.Fixed(float64(b+1)*width, 2)
		for _, se := range series {
			c := count(se.counts, b)
			tip += " · " + se.name + " " + strconv.Itoa(c)
			if se.total > 0 {
				tip += " (" + outcomes.Percent(float64(c)/float64(se.total)) + "%)"
			}
		}
		x0, x1 := a.X(float64(b)*width), a.X(float64(b+1)*width)
		s.Printf(`<rect class="bin hover" x="%s" y="%s" width="%s" height="%s" fill="transparent"><title>%s</title></rect>`,
			svgplot.Px(x0), svgplot.Px(a.Y(a.YMax)), svgplot.Px(x1-x0), svgplot.Px(a.Y(0)-a.Y(a.YMax)), svgplot.Esc(tip))
	}
	var items []svgplot.LegendItem
	for _, se := range series {
		items = append(items, svgplot.LegendItem{Label: se.name + " (" + strconv.Itoa(se.total) + " sessions)", Colour: se.colour, Dash: se.dash})
	}
	s.Legend(a.Width-a.Right-8, a.Top+8, items)
	s.Close()
	return s.String()
}

// rocSVG draws the ROC curve of the abandonment score with the diagonal of
// a score that knows nothing, the AUC in the title.
func rocSVG(points []curvePoint, auc outcomes.Estimate) string {
	var s svgplot.Doc
	a := svgplot.Area{Left: 58, Right: 20, Top: 40, Bottom: 48, XMin: 0, XMax: 1, YMin: 0, YMax: 1}
	a.Width, a.Height = a.Left+a.Right+rocSide, a.Top+a.Bottom+rocSide
	title := "ROC curve · AUC " + aucFigure(auc).String()
	s.Open("roc", "plot", a.Width, a.Height, title+" (abandonment score)")
	s.Text(a.Left, 22, "start", "title", title)
	var pts []string
	for _, p := range points {
		if outcomes.IsFinite(p.X) && outcomes.IsFinite(p.Y) {
			pts = append(pts, svgplot.Px(a.X(p.X))+","+svgplot.Px(a.Y(p.Y)))
		}
	}
	if len(pts) == 0 {
		s.NoData(a)
		s.Close()
		return s.String()
	}
	s.Axes(a, svgplot.Ticks(0, 1, 0.1), svgplot.Ticks(0, 1, 0.1), svgplot.TickNumber, svgplot.TickNumber, "false positive rate (other sessions)", "true positive rate (abandoned)")
	s.Printf(`<line class="chance" x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="1.5" stroke-dasharray="5 4"/>`,
		svgplot.Px(a.X(0)), svgplot.Px(a.Y(0)), svgplot.Px(a.X(1)), svgplot.Px(a.Y(1)), colourChance)
	s.Printf(`<polyline id="roc-curve" class="series" points="%s" fill="none" stroke="%s" stroke-width="2.5" stroke-linejoin="round"/>`,
		strings.Join(pts, " "), colourBrowse)
	s.Legend(a.Width-a.Right-8, a.Height-a.Bottom-8-2*18-8, []svgplot.LegendItem{
		{Label: "linger abandonment score", Colour: colourBrowse, Dash: ""},
		{Label: "chance (AUC 0.5)", Colour: colourChance, Dash: "5 4"},
	})
	s.Close()
	return s.String()
}

// thresholdsSVG draws the invite share (both reasons, and confusion's part)
// and precision against the abandonment threshold, over the band when it
// is one. A precision that is not a number (no session reaches the
// threshold) breaks its line rather than drop to 0. configured, when it is
// a number in 0..1, is marked with the figures read off the curves there.
func thresholdsSVG(points []thresholdPoint, configured float64, band Band) string {
	var s svgplot.Doc
	a := svgplot.Area{Width: wideWidth, Height: wideHeight + 16, Left: 58, Right: 20, Top: 56, Bottom: 48, XMin: 0, XMax: 1, YMin: 0, YMax: 1}
	const title = "Invite share and precision against the abandonment threshold"
	s.Open("thresholds", "plot", a.Width, a.Height, title+" (confusion at its configured threshold)")
	s.Text(a.Left, 22, "start", "title", title)
	// Points off the axis (0..1) or out of order would draw a line that
	// doubles back, and tooltip bands that overlap.
	var usable []thresholdPoint
	for _, p := range points {
		if p.Threshold >= 0 && p.Threshold <= 1 {
			usable = append(usable, p)
		}
	}
	slices.SortStableFunc(usable, func(p, q thresholdPoint) int { return cmp.Compare(p.Threshold, q.Threshold) })
	if len(usable) == 0 {
		s.NoData(a)
		s.Close()
		return s.String()
	}
	s.Axes(a, svgplot.Ticks(0, 1, 0.1), svgplot.Ticks(0, 1, 0.1), svgplot.TickNumber, outcomes.TickPercent, "abandonment threshold", "share")
	if band.valid() && band.High <= 1 {
		// Under the curves, so that they read over it.
		y0, y1 := a.Y(band.High), a.Y(band.Low)
		s.Printf(`<rect class="band" x="%s" y="%s" width="%s" height="%s" fill="%s" fill-opacity="0.14"><title>%s</title></rect>`,
			svgplot.Px(a.X(0)), svgplot.Px(y0), svgplot.Px(a.X(1)-a.X(0)), svgplot.Px(max(y1-y0, 1)), colourBand, svgplot.Esc("rate_band "+band.String()+" of eligible sessions"))
	}
	if outcomes.IsFinite(configured) && configured >= 0 && configured <= 1 {
		x := a.X(configured)
		s.Printf(`<line class="configured" x1="%s" y1="%s" x2="%s" y2="%s" stroke="#57606a" stroke-width="1.5" stroke-dasharray="3 3"/>`,
			svgplot.Px(x), svgplot.Px(a.Y(1)), svgplot.Px(x), svgplot.Px(a.Y(0)))
		label := "configured " + svgplot.TickNumber(configured)
		if p, ok := nearest(usable, configured); ok {
			// Read off the nearest point, said so when it is not the
			// configured threshold itself, and ringed on the curves.
			if math.Abs(p.Threshold-configured) > 1e-9 {
				label += " · at " + svgplot.TickNumber(p.Threshold)
			}
			label += ": invite share " + percentOrDash(p.InviteRate) + ", precision " + percentOrDash(p.Precision)
			for _, v := range []float64{p.InviteRate, p.Precision} {
				if outcomes.IsFinite(v) {
					s.Printf(`<circle class="configured" cx="%s" cy="%s" r="5.5" fill="none" stroke="#1f2328" stroke-width="1.5"/>`, svgplot.Px(a.X(p.Threshold)), svgplot.Px(a.Y(v)))
				}
			}
		}
		// The label goes at the top, inside, on the side of the line with
		// room for it, haloed so that a curve under it does not hide it.
		anchor, lx := "start", x+6
		if x+6+svgplot.TextWidth(label) > a.Width-a.Right {
			anchor, lx = "end", x-6
		}
		s.Printf(`<text x="%s" y="%s" text-anchor="%s" class="dim" paint-order="stroke" stroke="#fff" stroke-width="4">%s</text>`,
			svgplot.Px(lx), svgplot.Px(a.Y(1)+14), anchor, svgplot.Esc(label))
	}
	type series struct {
		name, colour, dash string
		value              func(thresholdPoint) float64
	}
	all := []series{
		{"invite-rate", colourRate, "", func(p thresholdPoint) float64 { return p.InviteRate }},
		{"confusion-rate", colourRate, "2 3", func(p thresholdPoint) float64 { return p.ConfusionRate }},
		{"precision", colourPrecision, "7 3", func(p thresholdPoint) float64 { return p.Precision }},
	}
	var drawn []series
	for _, se := range all {
		var d strings.Builder
		pen := false
		for _, p := range usable {
			v := se.value(p)
			if !outcomes.IsFinite(v) {
				pen = false
				continue
			}
			if pen {
				d.WriteString("L")
			} else {
				d.WriteString("M")
			}
			d.WriteString(svgplot.Px(a.X(p.Threshold)) + " " + svgplot.Px(a.Y(v)))
			pen = true
		}
		if d.Len() == 0 {
			continue
		}
		drawn = append(drawn, se)
		width := "2.5"
		if se.name == "confusion-rate" {
			width = "1.5"
		}
		s.Printf(`<path class="series" data-series="%s" d="%s" fill="none" stroke="%s" stroke-width="%s" stroke-linejoin="round"`, se.name, d.String(), se.colour, width)
		if se.dash != "" {
			s.Printf(` stroke-dasharray="%s"`, se.dash)
		}
		s.WriteString("/>")
		if se.name == "confusion-rate" {
			continue // a flat line: its points say nothing more
		}
		for _, p := range usable {
			if v := se.value(p); outcomes.IsFinite(v) {
				s.Printf(`<circle cx="%s" cy="%s" r="2.5" fill="%s"/>`, svgplot.Px(a.X(p.Threshold)), svgplot.Px(a.Y(v)), se.colour)
			}
		}
	}
	// A band around each threshold carries its figures as a tooltip.
	for i, p := range usable {
		lo, hi := a.XMin, a.XMax
		if i > 0 {
			lo = (usable[i-1].Threshold + p.Threshold) / 2
		}
		if i < len(usable)-1 {
			hi = (p.Threshold + usable[i+1].Threshold) / 2
		}
		lo, hi = max(lo, a.XMin), min(hi, a.XMax)
		tip := "threshold " + svgplot.TickNumber(p.Threshold) + " · invite share " + percentOrDash(p.InviteRate) +
			" (confusion alone " + percentOrDash(p.ConfusionRate) + ") · precision " + percentOrDash(p.Precision)
		s.Printf(`<rect class="thr hover" x="%s" y="%s" width="%s" height="%s" fill="transparent"><title>%s</title></rect>`,
			svgplot.Px(a.X(lo)), svgplot.Px(a.Y(1)), svgplot.Px(max(0, a.X(hi)-a.X(lo))), svgplot.Px(a.Y(0)-a.Y(1)), svgplot.Esc(tip))
	}
	labels := map[string]string{"invite-rate": "invite share, both reasons", "confusion-rate": "of which confusion", "precision": "precision"}
	var items []svgplot.LegendItem
	for _, se := range drawn {
		items = append(items, svgplot.LegendItem{Label: labels[se.name], Colour: se.colour, Dash: se.dash})
	}
	if band.valid() {
		items = append(items, svgplot.LegendItem{Label: "rate_band " + band.String(), Colour: colourBand, Dash: ""})
	}
	s.LegendRow(a.Width-a.Right, 44, items)
	s.Close()
	return s.String()
}

// nearest is the point whose threshold is nearest t.
func nearest(points []thresholdPoint, t float64) (thresholdPoint, bool) {
	best, ok := thresholdPoint{}, false
	for _, p := range points {
		if !ok || math.Abs(p.Threshold-t) < math.Abs(best.Threshold-t) {
			best, ok = p, true
		}
	}
	return best, ok
}

func percentOrDash(x float64) string {
	if !outcomes.IsFinite(x) {
		return outcomes.NoFigure
	}
	return outcomes.Percent(x) + "%"
}

// signalsSVG draws the top signals as horizontal bars, most first, each
// with its count and share of invites.
func signalsSVG(signals []signalCount, more, invites int) string {
	var s svgplot.Doc
	// No visible title: the page's heading above it says what it is.
	const rowHeight, top, right, maxName = 24, 8, 110, 40
	names := make([]string, len(signals))
	label := 0.0
	for i, sc := range signals {
		names[i] = sc.Name
		if utf8.RuneCountInString(sc.Name) > maxName {
			names[i] = string([]rune(sc.Name)[:maxName-1]) + "…"
		}
		label = max(label, svgplot.TextWidth(names[i]))
	}
	left := min(max(label+16, 120), 320)
	height := float64(top + max(len(signals), 1)*rowHeight + 16)
	if more > 0 {
		height += rowHeight
	}
	title := "Top signals of invites"
	s.Open("signals-chart", "bars", wideWidth, height, title)
	if len(signals) == 0 {
		s.Text(wideWidth/2, top+rowHeight/2+4, "middle", "nodata", "no data")
		s.Close()
		return s.String()
	}
	peak := 0
	for _, sc := range signals {
		peak = max(peak, sc.Invites)
	}
	span := wideWidth - left - right
	for i, sc := range signals {
		y := float64(top + i*rowHeight)
		w := 0.0
		if peak > 0 {
			w = span * float64(sc.Invites) / float64(peak)
		}
		value := strconv.Itoa(sc.Invites)
		if invites > 0 {
			value += " (" + outcomes.Percent(float64(sc.Invites)/float64(invites)) + "%)"
		}
		s.Text(left-8, y+rowHeight/2+4, "end", "", names[i])
		s.Printf(`<rect class="bar" x="%s" y="%s" width="%s" height="%s" fill="%s"><title>%s</title></rect>`,
			svgplot.Px(left), svgplot.Px(y+4), svgplot.Px(w), svgplot.Px(rowHeight-8), colourBar, svgplot.Esc(sc.Name+": "+value+" invites"))
		s.Text(left+w+6, y+rowHeight/2+4, "start", "dim", value)
	}
	if more > 0 {
		s.Text(left, float64(top+len(signals)*rowHeight+rowHeight/2+4), "start", "dim", "… "+strconv.Itoa(more)+" more")
	}
	s.Close()
	return s.String()
}
