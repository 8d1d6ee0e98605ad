package outcomes

import (
	"bytes"
	"fmt"
	"html/template"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/lingerhq/linger/internal/svgplot"
)

// The chat team's sections as text and HTML: acceptance against its band,
// staffing by hour of the week (a heat map of the agents short in the
// HTML), and satisfaction beside acceptance and conversion.

// writeChatText writes the three sections for the terminal.
func (o *Report) writeChatText(b *bytes.Buffer) error {
	fmt.Fprintf(b, "\nacceptance per site and team: accepted/shown [95%% CI] n, against the site's band (verdict from the rate)\n")
	if len(o.Acceptance) == 0 {
		fmt.Fprintln(b, "  none: no invite reported shown")
	} else {
		tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
		figs := make([]Figure, len(o.Acceptance))
		for i, r := range o.Acceptance {
			figs[i] = acceptanceFigure(r)
		}
		cells := FigureCells(figs)
		shown, accepted := []string{"shown"}, []string{"accepted"}
		for _, r := range o.Acceptance {
			shown = append(shown, strconv.Itoa(r.Shown))
			accepted = append(accepted, strconv.Itoa(r.Accepted))
		}
		shown, accepted = PadCells(shown, true), PadCells(accepted, true)
		fmt.Fprintf(tw, "site\tteam\t%s\t%s\tacceptance\tband\tverdict\n", shown[0], accepted[0])
		for i, r := range o.Acceptance {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", nameCell(r.Site), nameCell(r.Team), shown[i+1], accepted[i+1], cells[i], bandText(r.BandMin, r.BandMax), r.Verdict)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}

	s := o.StaffingBasis
	fmt.Fprintf(b, "\nstaffing: the fewest agents (one chat each) that answer %s of an hour's accepted chats within %s\n(Erlang C), chats per hour averaged over the weeks read; weekday and hour in %s;\n%s\n",
		share(s.ServiceLevel), seconds(s.AnswerWithinS), s.TimeZone, s.talliesText())
	if len(o.Staffing) == 0 {
		fmt.Fprintln(b, "  none: no invite reported shown or accepted")
	} else {
		cols := staffingColumns
		cells := make([][]string, len(cols))
		for c, col := range cols {
			cells[c] = []string{col.title}
			for _, r := range o.Staffing {
				cells[c] = append(cells[c], col.text(r))
			}
			cells[c] = PadCells(cells[c], col.right)
		}
		tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
		for i := range len(o.Staffing) + 1 {
			for c := range cols {
				if c > 0 {
					fmt.Fprint(tw, "\t")
				}
				fmt.Fprint(tw, cells[c][i])
			}
			fmt.Fprintln(tw)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}

	fmt.Fprintf(b, "\nsatisfaction per site, team and reason: post-chat ratings 1–5; satisfied: rated 4 or 5 [95%% CI] n;\nbeside them the acceptance and the conversion of invited sessions\n")
	if len(o.CSAT) == 0 {
		fmt.Fprintln(b, "  none: no invite read")
		return nil
	}
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	groups := o.groupIndex()
	var sat, acc, conv []Figure
	ratings, means := []string{"ratings"}, []string{"mean"}
	for _, r := range o.CSAT {
		g := groups[groupKey{r.Site, r.Reason, r.Team}]
		sat = append(sat, satisfiedFigure(r))
		acc = append(acc, ProportionFigure(g.AcceptanceRate))
		conv = append(conv, ProportionFigure(g.InvitedConversion))
		ratings = append(ratings, strconv.Itoa(r.Ratings))
		means = append(means, meanText(r.Mean))
	}
	ratings, means = PadCells(ratings, true), PadCells(means, true)
	satCells, accCells, convCells := FigureCells(sat), FigureCells(acc), FigureCells(conv)
	fmt.Fprintf(tw, "site\tteam\treason\t%s\t%s\tsatisfied\tacceptance\tconversion invited\n", ratings[0], means[0])
	for i, r := range o.CSAT {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", nameCell(r.Site), nameCell(r.Team), nameCell(r.Reason), ratings[i+1], means[i+1], satCells[i], accCells[i], convCells[i])
	}
	return tw.Flush()
}

// groupIndex finds a group by its names.
func (o *Report) groupIndex() map[groupKey]Group {
	m := make(map[groupKey]Group, len(o.Groups))
	for _, g := range o.Groups {
		m[groupKey{g.Site, g.Reason, g.Team}] = g
	}
	return m
}

// staffingColumns are the staffing table's columns, shared by the text and
// the HTML.
var staffingColumns = []struct {
	title string
	right bool
	text  func(StaffingRow) string
}{
	{"site", false, func(r StaffingRow) string { return nameCell(r.Site) }},
	{"team", false, func(r StaffingRow) string { return nameCell(r.Team) }},
	{"day", false, func(r StaffingRow) string { return r.Weekday }},
	{"hour", true, func(r StaffingRow) string { return fmt.Sprintf("%02d:00", r.Hour) }},
	{"shown", true, func(r StaffingRow) string { return strconv.Itoa(r.Shown) }},
	{"accepted", true, func(r StaffingRow) string { return strconv.Itoa(r.Accepted) }},
	{"avg handle", true, func(r StaffingRow) string { return handleText(r.AvgHandleS) }},
	{"agents needed", true, func(r StaffingRow) string { return intText(r.AgentsNeeded) }},
	{"available", true, func(r StaffingRow) string { return agentsText(r.AgentsAvailable) }},
	{"held back (no capacity)", true, func(r StaffingRow) string { return int64Text(r.SuppressedNoCapacity) }},
	{"needed with held back", true, func(r StaffingRow) string { return intText(r.AgentsNeededAll) }},
}

// notAvailable stands for a figure that has no source in what was read.
const notAvailable = "n/a"

func intText(p *int) string {
	if p == nil {
		return notAvailable
	}
	return strconv.Itoa(*p)
}

func int64Text(p *int64) string {
	if p == nil {
		return notAvailable
	}
	return strconv.FormatInt(*p, 10)
}

// agentsText shows agents on shift to a tenth: an average over an hour.
func agentsText(p *float64) string {
	if p == nil {
		return notAvailable
	}
	return strings.TrimSuffix(Fixed(*p, 1), ".0")
}

// handleText shows a handling time to the second, "4m05s".
func handleText(p *float64) string {
	if p == nil {
		return notAvailable
	}
	s := int64(math.Round(*p))
	if s < 60 {
		return fmt.Sprintf("%ds", s)
	}
	return fmt.Sprintf("%dm%02ds", s/60, s%60)
}

// seconds shows a time target: "30 s", "1m30s".
func seconds(s float64) string {
	d := time.Duration(s * float64(time.Second))
	if d < time.Minute {
		return strconv.FormatFloat(s, 'f', -1, 64) + " s"
	}
	return d.String()
}

// share shows a target share as a percentage without needless decimals:
// "80%", "92.5%".
func share(x float64) string { return strconv.FormatFloat(math.Round(x*1000)/10, 'f', -1, 64) + "%" }

func meanText(p *float64) string {
	if p == nil {
		return NoFigure
	}
	return Fixed(*p, 2)
}

func nameCell(s string) string {
	if s == "" {
		return NoFigure
	}
	return OneLine(s)
}

// bandText shows a band in percent: "3–10%".
func bandText(lo, hi float64) string {
	f := func(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }
	return f(lo) + "–" + f(hi) + "%"
}

func acceptanceFigure(r AcceptanceRow) Figure {
	return ProportionFigure(Estimate{Value: r.Rate, N: r.Shown, Lo: r.Lo, Hi: r.Hi})
}

func satisfiedFigure(r CSATRow) Figure {
	if r.SatisfiedShare == nil {
		return Figure{Value: NoFigure}
	}
	return ProportionFigure(Estimate{Value: *r.SatisfiedShare, N: r.Ratings, Lo: OrNaN(r.Lo), Hi: OrNaN(r.Hi)})
}

// talliesText says where the held-back column comes from.
func (s StaffingBasis) talliesText() string {
	if s.Tallies == "" {
		return "held back: n/a (no linger-tallies read)"
	}
	return fmt.Sprintf("held back: sessions whose would-be invite was suppressed for no_capacity, from %s (%d hourly tallies)", s.Tallies, s.TallyRecords)
}

// chatView is what the chat sections show in HTML.
type chatView struct {
	Acceptance     []acceptanceHTML
	Staffing       []StaffingRow
	StaffingTitles []string
	StaffingCells  [][]string
	Basis          string
	HeatSVG        template.HTML
	HeatCaption    string
	CSAT           []csatHTML
}

type acceptanceHTML struct {
	Site, Team      string
	Shown, Accepted int
	Rate            Figure
	Band, Verdict   string
}

type csatHTML struct {
	Site, Team, Reason          string
	Ratings                     int
	Mean                        string
	Satisfied, Acceptance, Conv Figure
}

func (o *Report) chatView() *chatView {
	v := &chatView{}
	for _, r := range o.Acceptance {
		v.Acceptance = append(v.Acceptance, acceptanceHTML{Site: orDash(r.Site), Team: orDash(r.Team), Shown: r.Shown, Accepted: r.Accepted,
			Rate: acceptanceFigure(r), Band: bandText(r.BandMin, r.BandMax), Verdict: r.Verdict})
	}
	s := o.StaffingBasis
	v.Basis = fmt.Sprintf("The fewest agents (one chat each) that answer %s of an hour’s accepted chats within %s by Erlang C, the chats per hour averaged over the weeks read; weekday and hour in %s; %s.",
		share(s.ServiceLevel), seconds(s.AnswerWithinS), s.TimeZone, s.talliesText())
	for _, c := range staffingColumns {
		v.StaffingTitles = append(v.StaffingTitles, c.title)
	}
	for _, r := range o.Staffing {
		row := make([]string, len(staffingColumns))
		for i, c := range staffingColumns {
			row[i] = c.text(r)
		}
		v.StaffingCells = append(v.StaffingCells, row)
	}
	withHeld := s.Tallies != ""
	v.HeatSVG = template.HTML(staffingHeatSVG(o.Staffing, withHeld))
	v.HeatCaption = "Agents short per hour of the week: agents needed to answer the accepted chats and the sessions held back for want of agents (at the team’s acceptance rate), less the agents on shift by the capacity records. Vermillion: short of agents; blue: agents to spare; grey: no capacity record or no handling time; blank: no invite shown or held back."
	if !withHeld {
		v.HeatCaption = "Agents short per hour of the week: agents needed to answer the accepted chats, less the agents on shift by the capacity records (no tallies read, so the sessions held back for want of agents are not in it). Vermillion: short of agents; blue: agents to spare; grey: no capacity record or no handling time; blank: no invite shown."
	}
	groups := o.groupIndex()
	for _, r := range o.CSAT {
		g := groups[groupKey{r.Site, r.Reason, r.Team}]
		v.CSAT = append(v.CSAT, csatHTML{Site: orDash(r.Site), Team: orDash(r.Team), Reason: orDash(r.Reason), Ratings: r.Ratings, Mean: meanText(r.Mean),
			Satisfied: satisfiedFigure(r), Acceptance: ProportionFigure(g.AcceptanceRate), Conv: ProportionFigure(g.InvitedConversion)})
	}
	return v
}

// chatSection is the HTML of the three sections, a template of both pages.
const chatSection = `{{define "chat"}}<h3>Acceptance against its band</h3>
<p class="note">Of the invites shown, the share accepted, per site and team, with its 95% confidence interval and n, against the site’s acceptance band: healthy proactive chat sits between 3% and 10%. The verdict is the rate’s; an interval that reaches across a bound says the data cannot yet tell.</p>
{{if .Acceptance}}<table class="quality">
<thead><tr><th class="name">site</th><th class="name">team</th><th>shown</th><th>accepted</th><th>acceptance</th><th>band</th><th class="name">verdict</th></tr></thead>
<tbody>
{{range .Acceptance}}<tr><td class="name">{{.Site}}</td><td class="name">{{.Team}}</td><td>{{.Shown}}</td><td>{{.Accepted}}</td><td><span class="v">{{.Rate.Value}}</span><span class="ci">{{.Rate.CI}} {{.Rate.N}}</span></td><td>{{.Band}}</td><td class="name verdict-{{.Verdict}}">{{.Verdict}}</td></tr>
{{end}}</tbody>
</table>
{{else}}<p class="note">No invite reported shown.</p>
{{end}}<h3>Staffing to answer in time</h3>
<p class="note">{{.Basis}}</p>
<figure>
{{.HeatSVG}}
<figcaption>{{.HeatCaption}}</figcaption>
</figure>
{{if .StaffingCells}}<details><summary>Staffing by site, team, weekday and hour ({{len .StaffingCells}} rows)</summary>
<table>
<thead><tr>{{range .StaffingTitles}}<th>{{.}}</th>{{end}}</tr></thead>
<tbody>
{{range .StaffingCells}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>
{{end}}</tbody>
</table>
</details>
{{end}}<h3>Satisfaction</h3>
<p class="note">Post-chat ratings (1 to 5) per site, team and reason: their mean, and the share satisfied (rated 4 or 5) with its 95% confidence interval; beside them the acceptance and the conversion of invited sessions of the same invites.</p>
{{if .CSAT}}<table class="quality">
<thead><tr><th class="name">site</th><th class="name">team</th><th class="name">reason</th><th>ratings</th><th>mean</th><th>satisfied</th><th>acceptance</th><th>conversion invited</th></tr></thead>
<tbody>
{{range .CSAT}}<tr><td class="name">{{.Site}}</td><td class="name">{{.Team}}</td><td class="name">{{.Reason}}</td><td>{{.Ratings}}</td><td>{{.Mean}}</td>{{template "chatfig" .Satisfied}}{{template "chatfig" .Acceptance}}{{template "chatfig" .Conv}}</tr>
{{end}}</tbody>
</table>
{{else}}<p class="note">No invite read.</p>
{{end}}{{end}}{{define "chatfig"}}<td><span class="v">{{.Value}}</span>{{if or .CI .N}}<span class="ci">{{.CI}} {{.N}}</span>{{end}}</td>{{end}}`

// staffingHeatSVG draws, per site and team, a weekday × hour grid of the
// agents short: agents needed (with the held-back would-be invites when
// withHeld) less the agents available.
func staffingHeatSVG(rows []StaffingRow, withHeld bool) string {
	type team struct{ site, team string }
	var teams []team
	cells := map[team]map[slot]StaffingRow{}
	maxGap := 0.0
	for _, r := range rows {
		k := team{r.Site, r.Team}
		if cells[k] == nil {
			cells[k] = map[slot]StaffingRow{}
			teams = append(teams, k)
		}
		cells[k][slot{weekdayIndex(r.Weekday), r.Hour}] = r
		if g, ok := staffingGap(r, withHeld); ok {
			maxGap = max(maxGap, math.Abs(g))
		}
	}
	const cell, cellH, left, top, gridGap = 26.0, 20.0, 44.0, 58.0, 40.0
	gridH := 7*cellH + 18
	height := top + float64(max(len(teams), 1))*(gridH+gridGap)
	title := "Agents short by hour of the week"
	var s svgplot.Doc
	s.Open("staffing", "plot", PlotWidth, height, title)
	s.Text(8, 22, "start", "title", title)
	if len(teams) == 0 {
		s.NoData(svgplot.Area{Width: PlotWidth, Height: height, Left: left, Right: 24, Top: top, Bottom: 24})
		s.Close()
		return s.String()
	}
	s.LegendRow(PlotWidth-24, 44, []svgplot.LegendItem{
		{Label: "short of agents", Colour: ColourVermillion}, {Label: "agents to spare", Colour: ColourBlue}, {Label: "unknown", Colour: ColourGrey}})
	for i, k := range teams {
		y0 := top + float64(i)*(gridH+gridGap)
		s.Text(8, y0+12, "start", "", orDash(k.site)+" · "+orDash(k.team))
		gy := y0 + 20
		for h := 0; h < 24; h += 3 {
			s.Text(left+float64(h)*cell+cell/2, gy+7*cellH+14, "middle", "tick", fmt.Sprintf("%02d", h))
		}
		for row := range 7 {
			day := (row + 1) % 7 // Monday first
			y := gy + float64(row)*cellH
			s.Text(left-6, y+cellH/2+4, "end", "tick", weekdayNames[day])
			for h := range 24 {
				x := left + float64(h)*cell
				r, ok := cells[k][slot{day, h}]
				if !ok {
					s.Printf(`<rect x="%s" y="%s" width="%s" height="%s" fill="none" stroke="#eaeef2"/>`, svgplot.Px(x), svgplot.Px(y), svgplot.Px(cell), svgplot.Px(cellH))
					continue
				}
				fill, opacity, label := ColourGrey, 0.35, ""
				if g, known := staffingGap(r, withHeld); known {
					fill, opacity = ColourBlue, 0.12
					if g > 0 {
						fill = ColourVermillion
					}
					if maxGap > 0 && g != 0 {
						opacity = 0.2 + 0.8*math.Abs(g)/maxGap
					}
					label = strconv.FormatFloat(math.Round(g), 'f', 0, 64)
					if g > 0 {
						label = "+" + label
					}
				}
				tip := fmt.Sprintf("%s · %s, %s %02d:00: %d shown, %d accepted, agents needed %s, with held back %s, available %s, held back %s",
					orDash(r.Site), orDash(r.Team), r.Weekday, r.Hour, r.Shown, r.Accepted, intText(r.AgentsNeeded), intText(r.AgentsNeededAll), agentsText(r.AgentsAvailable), int64Text(r.SuppressedNoCapacity))
				s.Printf(`<g class="cell"><title>%s</title><rect x="%s" y="%s" width="%s" height="%s" fill="%s" fill-opacity="%s" stroke="#fff"/>`,
					svgplot.Esc(tip), svgplot.Px(x), svgplot.Px(y), svgplot.Px(cell), svgplot.Px(cellH), fill, strconv.FormatFloat(math.Round(opacity*100)/100, 'f', -1, 64))
				if label != "" && label != "0" && label != "+0" && label != "-0" {
					// Dark cells take white digits, light ones grey.
					ink := "#57606a"
					if opacity > 0.6 {
						ink = "#fff"
					}
					s.Printf(`<text x="%s" y="%s" text-anchor="middle" font-size="10" style="fill: %s">%s</text>`, svgplot.Px(x+cell/2), svgplot.Px(y+cellH/2+4), ink, svgplot.Esc(label))
				}
				s.WriteString("</g>")
			}
		}
	}
	s.Close()
	return s.String()
}

// staffingGap is the agents short in a row (negative: to spare), and
// whether it is known: it needs the agents available and the agents
// needed (with the held-back invites when withHeld).
func staffingGap(r StaffingRow, withHeld bool) (float64, bool) {
	need := r.AgentsNeeded
	if withHeld {
		need = r.AgentsNeededAll
	}
	if need == nil || r.AgentsAvailable == nil {
		return 0, false
	}
	return float64(*need) - *r.AgentsAvailable, true
}
