package replay

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	"github.com/lingerhq/linger/pipeline/outcomes"
)

// WriteJSON writes the report as indented JSON, fields in struct order, for
// scripts. A figure that rests on nothing (n=0) or is not a number is
// written as null, never NaN, which JSON cannot hold. Empty lists and maps
// are written as [] and {} rather than null, so a script can iterate over
// them without a check.
func (r *Report) WriteJSON(w io.Writer) error {
	c := *r
	if c.SessionsByOutcome == nil {
		c.SessionsByOutcome = map[string]int{}
	}
	c.Warnings = nonNil(c.Warnings)
	c.Signals = nonNil(c.Signals)
	c.Baselines = nonNil(c.Baselines)
	h := &c.Plots.ScoreHistogram
	h.Purchase, h.Abandoned, h.Browse = nonNil(h.Purchase), nonNil(h.Abandoned), nonNil(h.Browse)
	c.Plots.ROC = nonNil(c.Plots.ROC)
	c.Plots.Thresholds = nonNil(c.Plots.Thresholds)
	if c.Outcomes != nil {
		oc := *c.Outcomes
		oc.Groups = nonNil(oc.Groups)
		c.Outcomes = &oc
	}
	return outcomes.EncodeJSON(w, &c)
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// The JSON forms below repeat the field names of report.go with pointer
// fields, so that a figure that is not a number is written as null; a test
// (TestJSONFieldsMatchReport) checks that the names and order stay those of
// report.go.

type pointJSON struct {
	X *float64 `json:"x"`
	Y *float64 `json:"y"`
}

// MarshalJSON writes a coordinate that is not a finite number as null.
func (p curvePoint) MarshalJSON() ([]byte, error) {
	return json.Marshal(pointJSON{X: outcomes.Finite(p.X), Y: outcomes.Finite(p.Y)})
}

// UnmarshalJSON reads what MarshalJSON wrote, null as NaN.
func (p *curvePoint) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var v pointJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*p = curvePoint{X: outcomes.OrNaN(v.X), Y: outcomes.OrNaN(v.Y)}
	return nil
}

type thresholdPointJSON struct {
	Threshold     *float64 `json:"threshold"`
	InviteRate    *float64 `json:"invite_rate"`
	ConfusionRate *float64 `json:"confusion_rate"`
	Precision     *float64 `json:"precision"`
}

// MarshalJSON writes a figure that is not a finite number as null: at a
// threshold no session reaches, precision is 0/0.
func (t thresholdPoint) MarshalJSON() ([]byte, error) {
	return json.Marshal(thresholdPointJSON{Threshold: outcomes.Finite(t.Threshold), InviteRate: outcomes.Finite(t.InviteRate),
		ConfusionRate: outcomes.Finite(t.ConfusionRate), Precision: outcomes.Finite(t.Precision)})
}

// UnmarshalJSON reads what MarshalJSON wrote, null as NaN.
func (t *thresholdPoint) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var v thresholdPointJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*t = thresholdPoint{Threshold: outcomes.OrNaN(v.Threshold), InviteRate: outcomes.OrNaN(v.InviteRate),
		ConfusionRate: outcomes.OrNaN(v.ConfusionRate), Precision: outcomes.OrNaN(v.Precision)}
	return nil
}

type scoresJSON struct {
	Abandonment *float64 `json:"abandonment"`
	Confusion   *float64 `json:"confusion"`
}

// MarshalJSON writes a score that is not a number (no eligible moment) as
// null.
func (s Scores) MarshalJSON() ([]byte, error) {
	return json.Marshal(scoresJSON{Abandonment: outcomes.Finite(s.Abandonment), Confusion: outcomes.Finite(s.Confusion)})
}

// UnmarshalJSON reads what MarshalJSON wrote, null as NaN.
func (s *Scores) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var v scoresJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*s = Scores{Abandonment: outcomes.OrNaN(v.Abandonment), Confusion: outcomes.OrNaN(v.Confusion)}
	return nil
}

// WriteText writes a summary for the terminal, in at most textWidth
// columns: what was replayed and any warning, the sessions by outcome, the
// invites by reason and their share of eligible sessions, linger's quality
// figures against the baselines' (each with its 95% CI; the legend says
// which sessions each counts), and the signals that drove the invites. A
// figure with n=0 shows as "–".
func (r *Report) WriteText(w io.Writer) error {
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)

	input := r.Input
	if input == "" {
		input = "(unnamed input)"
	}
	fmt.Fprintf(tw, "linger replay\t%s\n", input)
	fmt.Fprintf(tw, "model\t%s\n", r.Model)
	fmt.Fprintf(tw, "events\t%d read, %d rejected\n", r.Events, r.Rejected)
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, wn := range r.Warnings {
		b.WriteString(wrap("warning: "+wn.Message, textWidth, "  "))
	}

	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	byOutcome := r.byOutcome()
	counts := make([]string, len(byOutcome))
	for i, o := range byOutcome {
		counts[i] = strconv.Itoa(o.count)
	}
	shares := make([]string, len(byOutcome))
	for i, o := range byOutcome {
		shares[i] = o.share
	}
	counts, shares = outcomes.PadCells(counts, true), outcomes.PadCells(shares, true)
	fmt.Fprintf(tw, "sessions\t%d\n", r.Sessions)
	for i, o := range byOutcome {
		note := ""
		if o.name == "censored" && o.count > 0 {
			note = "  outcome unknown: left out of the figures"
		}
		fmt.Fprintf(tw, "  %s\t%s  %s%s\n", o.name, counts[i], shares[i], note)
	}
	reasons := r.reasons()
	counts = make([]string, len(reasons))
	for i, x := range reasons {
		counts[i] = strconv.Itoa(x.count)
	}
	counts = outcomes.PadCells(counts, true)
	fmt.Fprintf(tw, "invites\t%d  decisions, over all %d sessions\n", r.Invites.Total, r.Sessions)
	for i, x := range reasons {
		fmt.Fprintf(tw, "  %s\t%s  %s\n", x.name, counts[i], x.note)
	}
	eligibleShare := ""
	if r.Sessions > 0 {
		eligibleShare = "  " + outcomes.Percent(float64(r.EligibleSessions)/float64(r.Sessions)) + "%"
	}
	fmt.Fprintf(tw, "eligible\t%d%s  the policy would have invited them at some moment\n", r.EligibleSessions, eligibleShare)
	if r.EligibleSessions > 0 {
		sh := r.InviteShare
		figs := outcomes.FigureCells([]outcomes.Figure{ciOnly(sh.All), ciOnly(sh.Abandonment), ciOnly(sh.Confusion)})
		fmt.Fprintf(tw, "invited\t%s  of the eligible sessions%s\n", figs[0], bandVerdict(sh.All.Value, sh.Band, "rate_band"))
		fmt.Fprintf(tw, "  abandonment\t%s\n", figs[1])
		fmt.Fprintf(tw, "  confusion\t%s\n", figs[2])
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	known := r.knownSessions()
	fmt.Fprintf(&b, "\nquality over the %d sessions with a known outcome: value [95%% CI]\n", known)
	b.WriteString(wrap(fmt.Sprintf("invited: how many of them were; invite rate: invited of the %d; "+
		"precision: of the invited, the share that abandoned; recall: of the %d abandoned, the share invited; "+
		"lead: from the invite to the session's last event", known, r.SessionsByOutcome["abandoned"]), textWidth, ""))
	rows := r.qualityRows()
	labels := make([]string, len(rows))
	for i, row := range rows {
		labels[i] = outcomes.OneLine(row.name)
		if i > 1 && strings.HasPrefix(row.name, rows[i-1].name+", ") {
			// A baseline at another setting sits under the one it varies.
			labels[i] = "  " + outcomes.OneLine(strings.TrimPrefix(row.name, rows[i-1].name+", "))
		}
	}
	for _, part := range [][]qualityColumn{qualityColumns[:4], qualityColumns[4:]} {
		b.WriteByte('\n')
		tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		cols := make([][]string, len(part))
		for c, col := range part {
			figs := make([]outcomes.Figure, len(rows))
			for i, row := range rows {
				// The n of each figure is the legend's: the column says it.
				figs[i] = col.figure(row)
				if col.title != "invited" {
					figs[i] = ciOnly2(figs[i])
				}
			}
			cols[c] = outcomes.FigureCells(figs)
		}
		for _, col := range part {
			fmt.Fprintf(tw, "\t%s", col.title)
		}
		fmt.Fprintln(tw)
		for i := range rows {
			fmt.Fprint(tw, labels[i])
			for c := range part {
				fmt.Fprintf(tw, "\t%s", cols[c][i])
			}
			fmt.Fprintln(tw)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(r.Baselines) > 0 {
		b.WriteString("\nbaselines: trigger rules chat products ship, on the same sessions\n")
		names := make([]string, len(r.Baselines))
		for i := range r.Baselines {
			names[i] = "  " + labels[i+1]
		}
		names = outcomes.PadCells(names, false)
		for i, bl := range r.Baselines {
			// A long rule wraps under itself, so the list stays in the
			// width.
			indent := strings.Repeat(" ", utf8.RuneCountInString(names[i])+2)
			b.WriteString(wrap(names[i]+"  "+outcomes.OneLine(bl.Rule), textWidth, indent))
		}
	}

	signals, more := r.topSignals(textTopSignals)
	fmt.Fprintln(&b)
	if len(signals) == 0 {
		fmt.Fprintln(&b, "top signals of invites: none")
	} else {
		counts = make([]string, len(signals))
		for i, s := range signals {
			counts[i] = strconv.Itoa(s.Invites)
		}
		counts = outcomes.PadCells(counts, true)
		tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "top signals of invites")
		for i, s := range signals {
			fmt.Fprintf(tw, "  %s\t%s%s\n", outcomes.OneLine(s.Name), counts[i], rateOf(s.Invites, r.Invites.Total, " of invites"))
		}
		if more > 0 {
			fmt.Fprintf(tw, "  … %d more\n", more)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}

	if r.Outcomes != nil {
		fmt.Fprintf(&b, "\nmeasured outcomes: %d feedback records on the replayed decisions\n", r.Outcomes.Feedback)
		if err := r.Outcomes.WriteTextSection(&b); err != nil {
			return err
		}
	}
	return outcomes.WriteTrimmed(w, b.String())
}

// textWidth is the columns the text report fits in.
const textWidth = 100

// ciOnly formats a proportion without its n, "62.1% [55.0–68.7]", where
// the line or the legend says what it counts.
func ciOnly(e outcomes.Estimate) outcomes.Figure { return ciOnly2(outcomes.ProportionFigure(e)) }

func ciOnly2(f outcomes.Figure) outcomes.Figure {
	f.N = ""
	return f
}

// bandVerdict says where x falls against band: "; within rate_band 3–10%".
func bandVerdict(x float64, band Band, name string) string {
	if !band.valid() || !outcomes.IsFinite(x) {
		return ""
	}
	switch {
	case x < band.Low:
		return "; below " + name + " " + band.String()
	case x > band.High:
		return "; above " + name + " " + band.String()
	}
	return "; within " + name + " " + band.String()
}

// wrap breaks s into lines of at most width runes at spaces (a word
// longer than that gets a line of its own), lines after the first
// indented, each ending in a newline. Spaces at the start of s and runs of
// spaces within a line are kept: they align columns.
func wrap(s string, width int, indent string) string {
	var b strings.Builder
	rest := strings.TrimLeft(s, " ")
	line := s[:len(s)-len(rest)]
	start := true // nothing but indentation on the line yet
	for _, word := range strings.Split(rest, " ") {
		switch {
		case start:
			line += word
			start = word == ""
		case word != "" && utf8.RuneCountInString(line)+1+utf8.RuneCountInString(word) > width:
			b.WriteString(strings.TrimRight(line, " ") + "\n")
			line, start = indent+word, false
		default:
			line += " " + word
		}
	}
	if strings.TrimSpace(line) != "" {
		b.WriteString(strings.TrimRight(line, " ") + "\n")
	}
	return b.String()
}

// textTopSignals is how many signals the text lists: enough to see what
// drives the invites, few enough to read at a glance.
const textTopSignals = 8

// rateOf formats part/whole as "  (12.3%<suffix>)", or "" when whole is 0.
func rateOf(part, whole int, suffix string) string {
	if whole <= 0 {
		return ""
	}
	return "  (" + outcomes.Percent(float64(part)/float64(whole)) + "%" + suffix + ")"
}

// outcomeRow is a line of sessions by outcome.
type outcomeRow struct {
	name  string
	count int
	share string // of all sessions, "12.3%", or "" when there are none
}

// knownOutcomes are listed in this order, even at 0, so that reports read
// alike; any other outcome follows in name order.
var knownOutcomes = []string{"purchase", "abandoned", "browse", "censored"}

func (r *Report) byOutcome() []outcomeRow {
	names := append([]string(nil), knownOutcomes...)
	var other []string
	for k := range r.SessionsByOutcome {
		known := false
		for _, n := range knownOutcomes {
			known = known || k == n
		}
		if !known {
			other = append(other, k)
		}
	}
	sort.Strings(other)
	names = append(names, other...)
	rows := make([]outcomeRow, len(names))
	for i, n := range names {
		c := r.SessionsByOutcome[n]
		rows[i] = outcomeRow{name: n, count: c}
		if r.Sessions > 0 {
			rows[i].share = outcomes.Percent(float64(c)/float64(r.Sessions)) + "%"
		}
	}
	return rows
}

// knownSessions is the sessions the quality figures are over: all but the
// censored.
func (r *Report) knownSessions() int {
	return r.Sessions - r.SessionsByOutcome["censored"]
}

// reasonRow is a line of invites by reason.
type reasonRow struct {
	name  string
	count int
	note  string
}

func (r *Report) reasons() []reasonRow {
	share := func(n int) string {
		if r.Invites.Total <= 0 {
			return ""
		}
		return outcomes.Percent(float64(n)/float64(r.Invites.Total)) + "%"
	}
	return []reasonRow{
		{"abandonment", r.Invites.Abandonment, share(r.Invites.Abandonment)},
		{"confusion", r.Invites.Confusion, share(r.Invites.Confusion)},
		{"holdout", r.Invites.Holdout, "control group: decided, not shown"},
		{"withdrawn", r.Invites.Withdrawn, "taken back: the visitor bought or opened chat first"},
	}
}

// qualityRow is linger or a baseline in the quality table.
type qualityRow struct {
	name, rule string
	invites    int
	q          Quality
}

func (r *Report) qualityRows() []qualityRow {
	rule := "abandonment and confusion scores, as configured"
	if r.Model != "" {
		rule += " (model " + r.Model + ")"
	}
	rows := []qualityRow{{name: "linger", rule: rule, invites: r.InvitedSessions, q: r.Quality}}
	for _, b := range r.Baselines {
		rows = append(rows, qualityRow{name: b.Name, rule: b.Rule, invites: b.Invites, q: b.Quality})
	}
	return rows
}

// qualityColumn is a column of the quality table, shared by the text and
// the HTML so that both show the same figures the same way.
type qualityColumn struct {
	title  string
	figure func(qualityRow) outcomes.Figure
}

var qualityColumns = []qualityColumn{
	{"invited", func(r qualityRow) outcomes.Figure { return outcomes.Figure{Value: strconv.Itoa(r.invites)} }},
	{"invite rate", func(r qualityRow) outcomes.Figure { return outcomes.ProportionFigure(r.q.InviteRate) }},
	{"precision", func(r qualityRow) outcomes.Figure { return outcomes.ProportionFigure(r.q.Precision) }},
	{"recall", func(r qualityRow) outcomes.Figure { return outcomes.ProportionFigure(r.q.Recall) }},
	{"AUC", func(r qualityRow) outcomes.Figure { return aucFigure(r.q.AUC) }},
	{"lead p50", func(r qualityRow) outcomes.Figure { return secondsFigure(r.q.LeadTime.P50) }},
	{"lead p90", func(r qualityRow) outcomes.Figure { return secondsFigure(r.q.LeadTime.P90) }},
}

// aucFigure shows an AUC with two decimals: its interval is rarely
// narrower than 0.02.
func aucFigure(e outcomes.Estimate) outcomes.Figure {
	return outcomes.EstimateFigure(e, func(x float64) string { return outcomes.Fixed(x, 2) })
}

// secondsFigure shows a lead time in seconds, with a decimal under 10 s
// where a second matters, "8.5s [3.1–15.7]", and none above, "42s [35–51]".
func secondsFigure(e outcomes.Estimate) outcomes.Figure {
	decimals := 0
	if math.Abs(e.Value) < 10 {
		decimals = 1
	}
	f := outcomes.EstimateFigure(e, func(x float64) string { return outcomes.Fixed(x, decimals) })
	if f.Value != outcomes.NoFigure {
		f.Value += "s"
	}
	return f
}

// topSignals is the n signals with the most invites, most first (ties by
// name, so that the order is stable), and how many more there are.
func (r *Report) topSignals(n int) (top []signalCount, more int) {
	s := append([]signalCount(nil), r.Signals...)
	sort.SliceStable(s, func(i, j int) bool {
		if s[i].Invites != s[j].Invites {
			return s[i].Invites > s[j].Invites
		}
		return s[i].Name < s[j].Name
	})
	if len(s) > n {
		return s[:n], len(s) - n
	}
	return s, 0
}
