package replay

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"text/tabwriter"

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
	Threshold  *float64 `json:"threshold"`
	InviteRate *float64 `json:"invite_rate"`
	Precision  *float64 `json:"precision"`
}

// MarshalJSON writes a figure that is not a finite number as null: at a
// threshold no session reaches, precision is 0/0.
func (t thresholdPoint) MarshalJSON() ([]byte, error) {
	return json.Marshal(thresholdPointJSON{Threshold: outcomes.Finite(t.Threshold), InviteRate: outcomes.Finite(t.InviteRate), Precision: outcomes.Finite(t.Precision)})
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
	*t = thresholdPoint{Threshold: outcomes.OrNaN(v.Threshold), InviteRate: outcomes.OrNaN(v.InviteRate), Precision: outcomes.OrNaN(v.Precision)}
	return nil
}

// WriteText writes a summary for the terminal: what was replayed, the
// sessions by outcome, the invites by reason, linger's quality figures
// against the baselines' (each with its 95% CI and n), and the signals that
// drove the invites. A figure with n=0 shows as "–".
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
	fmt.Fprintf(tw, "invites\t%d\n", r.Invites.Total)
	for i, x := range reasons {
		fmt.Fprintf(tw, "  %s\t%s  %s\n", x.name, counts[i], x.note)
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintf(&b, "\nquality over the %d sessions with a known outcome: value [95%% CI] n; lead: invite to the session's last event\n", r.knownSessions())
	rows := r.qualityRows()
	cols := make([][]string, len(qualityColumns))
	for c, col := range qualityColumns {
		figs := make([]outcomes.Figure, len(rows))
		for i, row := range rows {
			figs[i] = col.figure(row)
		}
		cols[c] = outcomes.FigureCells(figs)
	}
	names := make([]string, len(rows))
	for i, row := range rows {
		names[i] = row.name
	}
	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, col := range qualityColumns {
		fmt.Fprintf(tw, "\t%s", col.title)
	}
	fmt.Fprintln(tw)
	for i, name := range names {
		fmt.Fprint(tw, outcomes.OneLine(name))
		for c := range qualityColumns {
			fmt.Fprintf(tw, "\t%s", cols[c][i])
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.Baselines) > 0 {
		tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "baselines")
		for _, bl := range r.Baselines {
			fmt.Fprintf(tw, "  %s\t%s\n", outcomes.OneLine(bl.Name), outcomes.OneLine(bl.Rule))
		}
		if err := tw.Flush(); err != nil {
			return err
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
	rows := []qualityRow{{name: "linger", rule: rule, invites: r.Invites.Total, q: r.Quality}}
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
	{"invites", func(r qualityRow) outcomes.Figure { return outcomes.Figure{Value: strconv.Itoa(r.invites)} }},
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
