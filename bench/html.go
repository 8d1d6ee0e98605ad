package bench

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"slices"

	"github.com/lingerhq/linger/internal/svgplot"
)

// WriteHTML writes r as one self-contained HTML page: the verdicts against
// the budgets, the run's settings, its figures (with the cache warning when
// the horizon falls short of the session timeout), invites by persona, the
// passthrough comparison and the steps when there are any, and plots over
// time of latency, throughput, lag, CPU, cache horizon and memory with the
// measured window shaded, the budgets drawn on them and the warm-up left
// out of their scales. Styles are inline and the plots
// inline SVG: nothing is fetched, so the file can be attached to a ticket
// or opened offline.
func (r *Result) WriteHTML(w io.Writer) error {
	return benchPage.Execute(w, r.htmlView())
}

// htmlView is what the page shows: the Result itself, escaped by
// html/template, and what is worked out from it. The plots are built by
// svgplot, which escapes the text in them, and go in as trusted HTML.
type htmlView struct {
	*Result
	Budgets  []verdictRow
	Personas []personaRow
	Answers  []acceptanceRow
	Plots    []htmlPlot
}

// verdictRow is a Verdict as the page shows it.
type verdictRow struct {
	Verdict
	Figure, Budget string
}

type acceptanceRow struct {
	Name string
	Acceptance
}

type personaRow struct {
	Name              string
	Sessions, Invited int
}

type htmlPlot struct {
	SVG     template.HTML
	Caption string
}

// Plot colours are the Okabe–Ito palette, which colour-blind readers tell
// apart too; the second line of a plot is also dashed.
const (
	colourBlue   = "#0072B2"
	colourOrange = "#D55E00"
	colourGrey   = "#8C959F"
	colourYellow = "#E69F00"
	colourGreen  = "#009E73"
	colourRed    = "#A40E26" // budgets: the colour of a missed one
	colourPurple = "#CC79A7"
)

func (r *Result) htmlView() htmlView {
	v := htmlView{Result: r}
	// Personas the mix left out have no row, as in WriteText.
	seen := map[string]bool{}
	for _, p := range Personas() {
		name := p.String()
		seen[name] = true
		if c := r.InvitesByPersona[name]; c.Sessions > 0 {
			v.Personas = append(v.Personas, personaRow{name, c.Sessions, c.Invited})
		}
	}
	// Personas this build does not know (a Result read from an older or
	// newer run) come last, by name.
	var other []string
	for name, c := range r.InvitesByPersona {
		if !seen[name] && c.Sessions > 0 {
			other = append(other, name)
		}
	}
	slices.Sort(other)
	for _, name := range other {
		c := r.InvitesByPersona[name]
		v.Personas = append(v.Personas, personaRow{name, c.Sessions, c.Invited})
	}
	for _, p := range Personas() {
		if c := r.AcceptanceByPersona[p.String()]; c.Invites > 0 {
			v.Answers = append(v.Answers, acceptanceRow{p.String(), c})
		}
	}
	for _, vd := range r.verdicts() {
		v.Budgets = append(v.Budgets, verdictRow{vd, vd.FigureText(), vd.BudgetText()})
	}
	v.Plots = r.plots()
	return v
}

// plots draws the series: latency, throughput, lag, and CPU, cache horizon
// and RSS when the processors' metrics gave them. Each budget that bears on
// a plot is a line on it; the warm-up, whose history burst and catch-up
// dwarf the rest, is left out of every y scale.
func (r *Result) plots() []htmlPlot {
	n := len(r.Series)
	t := make([]float64, n)
	p50, p99 := make([]float64, n), make([]float64, n)
	offered, achieved := make([]float64, n), make([]float64, n)
	lag, rss := make([]float64, n), make([]float64, n)
	cpu, horizon := make([]float64, n), make([]float64, n)
	anyRSS, anyCPU, anyHorizon := false, false, false
	for i, p := range r.Series {
		t[i] = p.T
		p50[i], p99[i] = p.P50, p.P99
		if p.P99 == 0 && p.Invites == 0 {
			p50[i], p99[i] = math.NaN(), math.NaN() // no invite read: a gap
		}
		offered[i], achieved[i] = p.Offered, p.Achieved
		lag[i] = float64(p.Lag)
		rss[i] = float64(p.RSS) / (1 << 20)
		anyRSS = anyRSS || p.RSS != 0
		cpu[i], horizon[i] = math.NaN(), math.NaN() // not known: a gap
		if p.CPU > 0 {
			cpu[i], anyCPU = p.CPU, true
		}
		if p.Horizon > 0 {
			horizon[i], anyHorizon = p.Horizon/60, true
		}
	}
	chart := func(id, title, ytitle string, lines ...svgplot.Line) svgplot.Chart {
		c := svgplot.Chart{
			ID: id, Title: title, XTitle: "seconds since the start", YTitle: ytitle,
			X: t, Lines: lines, YLabel: siTick,
		}
		if r.DurationSeconds > 0 {
			c.BandFrom, c.BandTo = r.WarmupSeconds, r.WarmupSeconds+r.DurationSeconds
			c.BandLabel = "measured window"
			c.ScaleFrom = r.WarmupSeconds
		}
		return c
	}
	budget := func(name string) Budget {
		for _, b := range budgets {
			if b.Name == name {
				return b
			}
		}
		panic("BUG: no budget " + name)
	}
	const warmNote = " The warm-up is left out of the scale: a value of it beyond the scale is a triangle at the edge."
	latency := chart("latency", "Invite latency per second", "ms (log scale)",
		svgplot.Line{Label: "p50", Colour: colourBlue, Y: p50},
		svgplot.Line{Label: "p99", Colour: colourOrange, Dash: "6 3", Y: p99})
	latency.LogY, latency.YLabel = true, svgplot.TickNumber
	lb := budget("latency_p99")
	latency.Refs = []svgplot.Ref{{Label: "p99 budget " + lb.limitText(), Colour: colourRed, Y: lb.Limit}}
	latencyRefs := "the dotted line is the p99 budget"
	if r.SLOP99Ms > 0 && r.SLOP99Ms != lb.Limit {
		latency.Refs = append(latency.Refs, svgplot.Ref{Label: "--slo-p99 " + msStr(r.SLOP99Ms), Colour: colourPurple, Y: r.SLOP99Ms})
		latencyRefs = "the dotted lines are the p99 budget and the --slo-p99 of the run"
	}
	throughput := chart("throughput", "Throughput", "events/s",
		svgplot.Line{Label: "offered", Colour: colourGrey, Dash: "6 3", Y: offered},
		svgplot.Line{Label: "achieved", Colour: colourBlue, Y: achieved})
	plots := []htmlPlot{
		{template.HTML(latency.SVG()), "Median and 99th percentile, in each second, of the time from the moment an event was due to be sent to the moment its invite was read; " + latencyRefs + ". A gap is a second in which no invite was read. The shaded band is the measured window: the warm-up before it and the drain after it count in no figure." + warmNote},
		{template.HTML(throughput.SVG()),
			"Events sent in real time (offered) and events the processor committed (achieved) in each second; the history sent at once in the warm-up is not in offered. Achieved below offered for long means the processor is falling behind." + warmNote},
		{template.HTML(chart("lag", "Processor lag", "events",
			svgplot.Line{Label: "lag", Colour: colourYellow, Y: lag}).SVG()),
			"Events acknowledged by the brokers and not yet committed by the processor, at the end of each second." + warmNote},
	}
	if anyCPU {
		cb := budget("cpu_per_event")
		c := chart("cpu", "Processor CPU per event", "µs/event",
			svgplot.Line{Label: "CPU", Colour: colourBlue, Y: cpu})
		c.YLabel = svgplot.TickNumber
		c.Refs = []svgplot.Ref{{Label: "budget " + cb.limitText() + " " + cb.When, Colour: colourRed, Y: cb.Limit}}
		plots = append(plots, htmlPlot{template.HTML(c.SVG()), "The processors' CPU time over the last 5 seconds per event they committed in them, Kafka I/O included; the dotted line is the budget." + warmNote})
	}
	if anyHorizon {
		c := chart("horizon", "Cache horizon", "minutes",
			svgplot.Line{Label: "horizon", Colour: colourGreen, Y: horizon})
		c.YLabel = svgplot.TickNumber
		caption := "How long an untouched session survives in the cache at the current write rate (the processors' estimate, the shortest replica's): the hot tables' quiet period plus fastcache's size ÷ bytes written per second."
		if r.SessionTimeoutSeconds > 0 {
			c.Refs = []svgplot.Ref{{Label: "session timeout " + durationWords(r.SessionTimeoutSeconds), Colour: colourRed, Y: r.SessionTimeoutSeconds / 60}}
			caption += " Below the dotted line, the session timeout, sessions lose their state while still in progress."
		}
		plots = append(plots, htmlPlot{template.HTML(c.SVG()), caption + warmNote})
	}
	if anyRSS {
		c := chart("rss", "Processor memory", "MiB",
			svgplot.Line{Label: "RSS", Colour: colourGreen, Y: rss})
		c.YLabel = svgplot.TickNumber
		caption := "Resident memory of the processors (the sum over replicas), at the end of each second."
		if r.Replicas <= 1 {
			rb := budget("rss")
			c.Refs = []svgplot.Ref{{Label: "budget " + rb.limitText(), Colour: colourRed, Y: rb.Limit}}
			caption += " The dotted line is the budget of a processor."
		}
		plots = append(plots, htmlPlot{template.HTML(c.SVG()), caption + warmNote})
	}
	return plots
}

// siTick formats a count tick short: 1500 is "1.5k".
func siTick(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1e6:
		return svgplot.TickNumber(v/1e6) + "M"
	case a >= 1e3:
		return svgplot.TickNumber(v/1e3) + "k"
	}
	return svgplot.TickNumber(v)
}

var htmlFuncs = template.FuncMap{
	"eps": eps,
	"ms":  msStr,
	"mib": mib,
	"rate": func(v float64) string {
		if v <= 0 {
			return "as fast as possible"
		}
		return eps(v)
	},
	"secs":  func(s float64) string { return fmt.Sprintf("%.0f s", s) },
	"words": durationWords,
	"bps":   bytesRate,
	"pct": func(part, whole int) string {
		if whole <= 0 {
			return "–"
		}
		return fmt.Sprintf("%.1f%%", 100*float64(part)/float64(whole))
	},
	"share": pct,
	"num":   func(v float64, decimals int) string { return fmt.Sprintf("%.*f", decimals, v) },
	"p99": func(p Percentiles) string {
		if p.Count == 0 {
			return "–"
		}
		return msStr(p.P99)
	},
	// args names a row of the percentiles table.
	"args": func(name string, p Percentiles) percentileRow { return percentileRow{name, p} },
}

type percentileRow struct {
	Name string
	P    Percentiles
}

// The page is written to parse as XML too (every element closed, every
// attribute quoted, no "<" or "&" in the style sheet), which lets the test
// check that it is well formed with encoding/xml.
var benchPage = template.Must(template.New("bench").Funcs(htmlFuncs).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1"/>
<title>linger load test · {{.Mode}} · {{rate .Rate}}</title>
<style>
body { margin: 0 auto; max-width: 1100px; padding: 16px 24px 32px; color: #1f2328; font: 14px/1.45 system-ui, sans-serif; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #d0d7de; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: 4px 14px 4px 0; text-align: right; border-bottom: 1px solid #eaeef2; }
th:first-child, td:first-child, .text { text-align: left; }
thead th { border-bottom: 2px solid #d0d7de; }
.meta, .note, figcaption { color: #57606a; }
figcaption { font-size: 13px; }
figure { margin: 8px 0 24px; max-width: 720px; }
tr.bad td { color: #a40e26; }
tr.na td { color: #57606a; }
td.fail { font-weight: 600; }
.warn { border-left: 4px solid #a40e26; padding: 6px 12px; background: #fff5f5; max-width: 900px; }
code { font: 13px ui-monospace, monospace; }
` + svgplot.Style + `</style>
</head>
<body>
<h1>linger load test: {{.Mode}}</h1>
<p class="meta">{{rate .Rate}} asked · {{secs .DurationSeconds}} measured after {{secs .WarmupSeconds}} of warm-up · seed {{.Seed}}</p>

<h2 id="budgets">Budgets</h2>
<table>
<thead><tr><th>verdict</th><th class="text">figure</th><th>this run</th><th class="text">budget</th></tr></thead>
<tbody>
{{range .Budgets}}<tr{{if eq .Outcome "fail"}} class="bad"{{else if eq .Outcome "n.a."}} class="na"{{end}}><td class="text{{if eq .Outcome "fail"}} fail{{end}}">{{if eq .Outcome "fail"}}FAIL{{else}}{{.Outcome}}{{end}}</td><td class="text">{{.Label}}</td><td>{{.Figure}}</td><td class="text">{{.Budget}}{{with .Why}} <span class="note">({{.}})</span>{{end}}</td></tr>
{{end}}</tbody>
</table>
<p class="note">n.a.: the budget holds under conditions this run was not in, or the figure was not measured. The budgets are the README’s Performance table.</p>
{{with .CacheWarning}}<p class="warn" id="cache-warning"><strong>Cache too small.</strong> {{.}}</p>
{{end}}
<h2 id="settings">Settings</h2>
<table>
<tr><th>mode</th><td class="text">{{.Mode}}</td></tr>
<tr><th>brokers</th><td class="text"><code>{{.Brokers}}</code>{{if .Embedded}} (embedded){{end}}, {{.Partitions}} partitions</td></tr>
<tr><th>rate asked</th><td class="text">{{rate .Rate}}</td></tr>
<tr><th>window</th><td class="text">{{secs .DurationSeconds}}</td></tr>
<tr><th>warm-up</th><td class="text">{{secs .WarmupSeconds}}</td></tr>
<tr><th>seed</th><td class="text">{{.Seed}}</td></tr>
<tr><th>mix</th><td class="text">{{or .Mix "–"}}</td></tr>
<tr><th>guarantee</th><td class="text">{{or .Guarantee "–"}}</td></tr>
<tr><th>commit interval</th><td class="text">{{with .CommitIntervalMs}}{{ms .}}{{else}}–{{end}}</td></tr>
<tr><th>cache</th><td class="text">{{if .CacheBytes}}{{mib .CacheBytes}}{{else}}–{{end}}</td></tr>
</table>

<h2 id="summary">Summary</h2>
<table>
<tr><th>offered</th><td>{{eps .OfferedEPS}}</td><td class="text note">{{.Sent}} events sent in the window</td></tr>
<tr><th>achieved</th><td>{{eps .AchievedEPS}}</td><td class="text note">{{.Processed}} events processed; lag at the end {{.LagEnd}} events, {{if lt .DrainSeconds 0.0}}did not drain{{else}}drained in {{num .DrainSeconds 1}} s{{end}}</td></tr>
{{if .ProduceErrors}}<tr class="bad"><th>produce errors</th><td>{{.ProduceErrors}}</td><td></td></tr>
{{end}}<tr><th>invites</th><td>{{.Invites}}</td><td class="text note">{{.TimerInvites}} by a silence timer, {{.Unmatched}} not matched to an event</td></tr>
<tr><th>CPU</th><td>{{if .CPUMicrosPerEvent}}{{num .CPUMicrosPerEvent 2}} µs/event{{else}}–{{end}}</td><td class="text note">the processors’ CPU per event processed, Kafka I/O included</td></tr>
<tr><th>RSS</th><td>{{if .RSSBytes}}{{mib .RSSBytes}}{{else}}–{{end}}</td><td class="text note">{{if .RSSMaxBytes}}at the end; {{mib .RSSMaxBytes}} at most{{end}}</td></tr>
<tr><th>bytes per session</th><td>{{if .BytesPerSession}}{{num .BytesPerSession 0}} B{{else}}–{{end}}</td><td class="text note">growth of RSS over the run per session held</td></tr>
<tr><th>sessions held</th><td>{{.HotSessions}} + {{.CacheEntries}}</td><td class="text note">active in the hot tables + in fastcache; {{.CacheEvictions}} sessions evicted, {{.StateLost}} lost early, {{.DLQ}} records to the DLQ{{if .CacheMaxBytes}}; fastcache {{mib .CacheMaxBytes}}{{end}}</td></tr>
<tr><th>cache horizon</th><td>{{if .CacheHorizonSeconds}}{{words .CacheHorizonSeconds}}{{else}}–{{end}}</td><td class="text note">{{if .SessionTimeoutSeconds}}session timeout {{words .SessionTimeoutSeconds}}{{end}}{{if and .SessionTimeoutSeconds .StateBytesPerSecond}}; {{end}}{{if .StateBytesPerSecond}}{{bps .StateBytesPerSecond}} of state written to fastcache{{end}}</td></tr>
</table>

<h3>Percentiles</h3>
<table>
<thead><tr><th></th><th>count</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th></tr></thead>
<tbody>
{{template "percentiles" (args "latency" .Latency)}}
{{with .PublishLatency}}{{if .Count}}<tr><td>publish latency</td><td>{{.Count}}</td><td>{{ms .P50}}</td><td>–</td><td>{{ms .P99}}</td><td>–</td><td>–</td></tr>
{{end}}{{end}}{{template "percentiles" (args "timer-invite delay" .TimerDelay)}}
</tbody>
</table>
<p class="note">Latency: from the moment an event was due to be sent to the moment its invite was read. Publish latency: the processors’ own account, from an event’s time to the commit that made its decision readable (<code>linger_decision_publish_latency_seconds</code>, read from its buckets, each twice the one before, so coarser). Timer-invite delay: how long after a silence timer’s deadline its invite was read.</p>

{{with .Personas}}<h2 id="personas">Invites by persona</h2>
<table>
<thead><tr><th>persona</th><th>sessions</th><th>invited</th><th>share</th></tr></thead>
<tbody>
{{range .}}<tr><td>{{.Name}}</td><td>{{.Sessions}}</td><td>{{.Invited}}</td><td>{{pct .Invited .Sessions}}</td></tr>
{{end}}</tbody>
</table>
{{end}}
{{if .Acceptance.Invites}}<h2 id="acceptance">Acceptance by persona</h2>
<table>
<thead><tr><th>persona</th><th>invites</th><th>shown</th><th>accepted</th><th>acceptance</th></tr></thead>
<tbody>
{{range .Answers}}<tr><td>{{.Name}}</td><td>{{.Invites}}</td><td>{{.Shown}}</td><td>{{.Accepted}}</td><td>{{if .Shown}}{{share .Rate}}{{else}}–{{end}}</td></tr>
{{end}}{{with .Acceptance}}<tr><th>all</th><th>{{.Invites}}</th><th>{{.Shown}}</th><th>{{.Accepted}}</th><th>{{if .Shown}}{{share .Rate}}{{else}}–{{end}}</th></tr>{{end}}
</tbody>
</table>
<p class="note">How the simulated visitors answered the invites the run read (the history’s included): shown unless in the holdout group or expired first, then accepted, declined or left to expire, each persona with its own chances. {{if .FeedbackTopic}}{{.FeedbackWritten}} records went to <code>{{.FeedbackTopic}}</code> as they fell due.{{else}}The answers were counted, not written.{{end}}</p>
{{end}}
{{with .Passthrough}}<h2 id="passthrough">Against the passthrough</h2>
<table>
<thead><tr><th>run</th><th>offered</th><th>achieved</th><th>p99</th><th>CPU µs/event</th><th>RSS</th></tr></thead>
<tbody>
<tr><td>{{$.Mode}}</td><td>{{eps $.OfferedEPS}}</td><td>{{eps $.AchievedEPS}}</td><td>{{p99 $.Latency}}</td><td>{{num $.CPUMicrosPerEvent 2}}</td><td>{{mib $.RSSBytes}}</td></tr>
<tr><td>{{.Mode}}</td><td>{{eps .OfferedEPS}}</td><td>{{eps .AchievedEPS}}</td><td>{{p99 .Latency}}</td><td>{{num .CPUMicrosPerEvent 2}}</td><td>{{mib .RSSBytes}}</td></tr>
</tbody>
</table>
<p>{{$.AgainstPassthrough}}</p>
{{end}}
{{with .Steps}}<h2 id="steps">Steps</h2>
<table>
<thead><tr><th>rate asked</th><th>offered</th><th>achieved</th><th>p99</th><th>lag at the end, events</th><th class="text">sustained</th></tr></thead>
<tbody>
{{range .}}<tr{{if not .OK}} class="bad"{{end}}><td>{{rate .Rate}}</td><td>{{eps .OfferedEPS}}</td><td>{{eps .AchievedEPS}}</td><td>{{ms .P99}}</td><td>{{.LagEnd}}</td><td class="text">{{if .OK}}yes{{else}}no{{with .Why}}: {{.}}{{end}}{{end}}</td></tr>
{{end}}</tbody>
</table>
<p>Highest sustainable rate: <strong>{{if $.MaxSustainableEPS}}{{eps $.MaxSustainableEPS}}{{else}}none of the rates{{end}}</strong>{{if $.SLOP99Ms}} (p99 within {{ms $.SLOP99Ms}}, the processor keeping up){{end}}. The rest of the page is that step’s.</p>
{{end}}
<h2 id="plots">Over time</h2>
{{range .Plots}}<figure>
{{.SVG}}
<figcaption>{{.Caption}}</figcaption>
</figure>
{{end}}</body>
</html>
{{define "percentiles"}}<tr><td>{{.Name}}</td>{{with .P}}{{if .Count}}<td>{{.Count}}</td><td>{{ms .P50}}</td><td>{{ms .P90}}</td><td>{{ms .P99}}</td><td>{{ms .P999}}</td><td>{{ms .Max}}</td>{{else}}<td>0</td><td>–</td><td>–</td><td>–</td><td>–</td><td>–</td>{{end}}{{end}}</tr>{{end}}`))
