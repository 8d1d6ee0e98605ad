package outcomes

import (
	"html/template"
	"io"
	"time"

	"github.com/lingerhq/linger/internal/svgplot"
)

// WriteHTML writes the report as one self-contained HTML page, styled as
// the replay's: what was read, the counts and rates per site, reason and
// team, a plot of the conversion of invited and holdout sessions, the
// suppressed invites by cause, and the chat team's sections. No script,
// font or style sheet is fetched.
func (o *Report) WriteHTML(w io.Writer) error {
	v := reportPage{
		From: o.From.Format(time.RFC3339), To: o.To.Format(time.RFC3339), Length: windowLength(o.To.Sub(o.From)),
		Events: o.Events, Decisions: o.Decisions, Feedback: o.Feedback, Skipped: o.Skipped,
		Sessions: o.Sessions, Conversion: ProportionFigure(o.Conversion).String(),
		Measured: o.measuredView(),
	}
	return reportPageTemplate.Execute(w, v)
}

// WriteHTMLSection writes the part of the page that the replay's page
// shows too, under its own heading: the counts and rates per site, reason
// and team, the notes that qualify them, the conversion plot, the
// suppressed invites by cause, and the chat team's sections (acceptance
// against its band, staffing with its heat map, satisfaction). It is a fragment for the body of a page
// styled with PageStyle.
func (o *Report) WriteHTMLSection(w io.Writer) error {
	return reportPageTemplate.ExecuteTemplate(w, "measured", o.measuredView())
}

type reportPage struct {
	From, To, Length                     string
	Events, Decisions, Feedback, Skipped int
	Sessions                             int
	Conversion                           string
	Measured                             *measuredView
}

// measuredView is what the outcomes section shows, in the replay's page
// and in linger report's.
type measuredView struct {
	CountColumns     []string
	RateColumns      []string
	Rows             []measuredRow
	Notes            []string
	HasSuppressed    bool
	SuppressedSource string
	Suppressed       []suppressedRow
	NoSuppressed     string
	ConversionSVG    template.HTML
	Chat             *chatView
}

type measuredRow struct {
	Site, Reason, Team string
	Total              bool
	Counts             []int
	Rates              []Figure
}

type suppressedRow struct {
	Name  string
	Count int
}

func (o *Report) measuredView() *measuredView {
	v := &measuredView{Notes: o.notes(), NoSuppressed: noSuppressed}
	for _, c := range outcomeCounts {
		v.CountColumns = append(v.CountColumns, c.title)
	}
	for _, c := range outcomeRates {
		v.RateColumns = append(v.RateColumns, c.title)
	}
	rows := o.rows()
	for i, g := range rows {
		r := measuredRow{Site: orDash(g.Site), Reason: orDash(g.Reason), Team: orDash(g.Team), Total: i == len(rows)-1}
		if r.Total {
			r.Site, r.Reason, r.Team = "all", "", ""
		}
		for _, c := range outcomeCounts {
			r.Counts = append(r.Counts, c.count(g))
		}
		for _, c := range outcomeRates {
			r.Rates = append(r.Rates, c.figure(g))
		}
		v.Rows = append(v.Rows, r)
	}
	if s := o.Suppressed; s != nil {
		v.HasSuppressed, v.SuppressedSource = true, s.source()
		for _, r := range s.reasons() {
			v.Suppressed = append(v.Suppressed, suppressedRow{Name: r, Count: int(s.ByReason[r])})
		}
	}
	v.ConversionSVG = template.HTML(conversionSVG(rows))
	v.Chat = o.chatView()
	return v
}

func orDash(s string) string {
	if s == "" {
		return NoFigure
	}
	return s
}

// measuredSection is the outcomes section: a template of linger report's
// page, and what WriteHTMLSection writes for the replay's.
const measuredSection = `{{define "measured"}}<h3>Invites and what became of them</h3>
<p class="note">Invites count every invite decision published, the holdout’s included (decided, not to be shown); shown, accepted, declined, expired and chats count the other invites, each once however many feedback records name it (accepted or declined implies shown, a chat implies accepted).</p>
<table>
<thead><tr><th class="name">site</th><th class="name">reason</th><th class="name">team</th>{{range .CountColumns}}<th>{{.}}</th>{{end}}</tr></thead>
<tbody>
{{range .Rows}}<tr{{if .Total}} class="linger"{{end}}><td class="name">{{.Site}}</td><td class="name">{{.Reason}}</td><td class="name">{{.Team}}</td>{{range .Counts}}<td>{{.}}</td>{{end}}</tr>
{{end}}</tbody>
</table>
<h3>Acceptance, conversion and uplift</h3>
<p class="note">Acceptance is accepted over shown. Conversion is the share of sessions that bought at or after their first invite’s event time, shown or not (intent to treat), of invited sessions and of holdout sessions; the uplift is their difference, in percentage points. Each figure: value, then its 95% confidence interval and the n it rests on; “–” where there is nothing to rest on.</p>
<table class="quality">
<thead><tr><th class="name">site</th><th class="name">reason</th><th class="name">team</th>{{range .RateColumns}}<th>{{.}}</th>{{end}}</tr></thead>
<tbody>
{{range .Rows}}<tr{{if .Total}} class="linger"{{end}}><td class="name">{{.Site}}</td><td class="name">{{.Reason}}</td><td class="name">{{.Team}}</td>{{range .Rates}}<td><span class="v">{{.Value}}</span>{{if or .CI .N}}<span class="ci">{{.CI}} {{.N}}</span>{{end}}</td>{{end}}</tr>
{{end}}</tbody>
</table>
{{with .Notes}}<ul class="note">{{range .}}<li>{{.}}</li>{{end}}</ul>
{{end}}<figure>
{{.ConversionSVG}}
<figcaption>Conversion of invited and holdout sessions per site, reason and team, with 95% confidence intervals: where the intervals overlap much, the data do not tell the groups apart.</figcaption>
</figure>
<h3>Suppressed by cause</h3>
{{if .HasSuppressed}}<p class="note">{{.SuppressedSource}}</p>
<table>
<thead><tr><th>cause</th><th>would-be invites</th></tr></thead>
<tbody>
{{range .Suppressed}}<tr><td>{{.Name}}</td><td>{{.Count}}</td></tr>
{{else}}<tr><td>none</td><td>0</td></tr>
{{end}}</tbody>
</table>
{{else}}<p class="note">{{.NoSuppressed}}</p>
{{end}}{{template "chat" .Chat}}{{end}}`

// reportPageTemplate is linger report's page; it parses as XML too, as the
// replay's does.
var reportPageTemplate = template.Must(template.Must(template.New("outcomes").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1"/>
<title>linger report · {{.From}} → {{.To}}</title>
<style>
` + PageStyle + `h3 { font-size: 15px; margin: 24px 0 8px; }
</style>
</head>
<body>
<main>
<h1>linger report</h1>
<p class="meta">{{.From}} → {{.To}} ({{.Length}}) · {{.Events}} events, {{.Decisions}} decisions, {{.Feedback}} feedback records read, {{.Skipped}} skipped (not valid v1) · {{.Sessions}} sessions with events, of which bought: {{.Conversion}}</p>
{{template "measured" .Measured}}
<footer>95% confidence intervals: Wilson’s for proportions, Newcombe’s hybrid score interval for the uplift. Written by linger report.</footer>
</main>
</body>
</html>
`)).Parse(measuredSection + chatSection))

// conversionSVG draws each row's conversion of invited and of holdout
// sessions as a dot with its 95% interval, one row under the other.
func conversionSVG(rows []Group) string {
	var s svgplot.Doc
	const rowHeight, top, bottom, right = 34, 60, 48, 24
	labels := make([]string, len(rows))
	left := 120.0
	for i, g := range rows {
		labels[i] = "all"
		if i < len(rows)-1 {
			labels[i] = orDash(g.Site) + " · " + orDash(g.Reason) + " · " + orDash(g.Team)
		}
		left = max(left, min(svgplot.TextWidth(labels[i])+16, 360))
	}
	hi := 0.0
	for _, g := range rows {
		for _, e := range []Estimate{g.InvitedConversion, g.HoldoutConversion} {
			if e.N > 0 && IsFinite(e.Hi) {
				hi = max(hi, e.Hi)
			}
		}
	}
	a := svgplot.Area{Width: PlotWidth, Height: float64(top + bottom + rowHeight*len(rows)), Left: left, Right: right, Top: top, Bottom: bottom, XMin: 0, XMax: 1, YMin: 0, YMax: float64(len(rows))}
	title := "Conversion of invited and holdout sessions"
	s.Open("conversion", "plot", a.Width, a.Height, title)
	s.Text(8, 22, "start", "title", title)
	if hi == 0 {
		s.NoData(a)
		s.Close()
		return s.String()
	}
	step := svgplot.NiceStep(hi, 5)
	a.XMax = min(1, step*float64(int(hi/step)+1))
	s.Axes(a, svgplot.Ticks(0, a.XMax, step), nil, TickPercent, nil, "sessions that bought at or after their first invite", "")
	series := []struct {
		name   string
		colour string
		offset float64
		est    func(Group) Estimate
	}{
		{"invited", ColourBlue, -6, func(g Group) Estimate { return g.InvitedConversion }},
		{"holdout", ColourOrange, 6, func(g Group) Estimate { return g.HoldoutConversion }},
	}
	for i, g := range rows {
		y := float64(top + i*rowHeight + rowHeight/2)
		s.Text(a.Left-8, y+4, "end", "", labels[i])
		for _, se := range series {
			e := se.est(g)
			if e.N == 0 || !IsFinite(e.Value) {
				continue
			}
			yy := y + se.offset
			tip := svgplot.Esc(labels[i] + ", " + se.name + ": " + ProportionFigure(e).String())
			s.Printf(`<g class="series" data-series="%s"><title>%s</title>`, se.name, tip)
			if IsFinite(e.Lo) && IsFinite(e.Hi) {
				s.Printf(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="2"/>`,
					svgplot.Px(a.X(e.Lo)), svgplot.Px(yy), svgplot.Px(a.X(min(e.Hi, a.XMax))), svgplot.Px(yy), se.colour)
			}
			s.Printf(`<circle cx="%s" cy="%s" r="4.5" fill="%s"/></g>`, svgplot.Px(a.X(e.Value)), svgplot.Px(yy), se.colour)
		}
	}
	items := make([]svgplot.LegendItem, len(series))
	for i, se := range series {
		items[i] = svgplot.LegendItem{Label: se.name + " sessions", Colour: se.colour}
	}
	s.LegendRow(a.Width-a.Right, 44, items)
	s.Close()
	return s.String()
}
