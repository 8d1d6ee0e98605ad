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
	return writeJSON(w, &c)
}

// writeJSON writes v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	// Names and rules are read by people and scripts, not embedded in
	// HTML: "<" is clearer than "\u003c".
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
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

type estimateJSON struct {
	Value *float64 `json:"value"`
	N     int      `json:"n"`
	Lo    *float64 `json:"ci_low"`
	Hi    *float64 `json:"ci_high"`
}

// MarshalJSON writes an Estimate with its value and interval as null when
// it rests on no observation (n=0) or is not a finite number: a replay
// with no abandoned session has no recall, and NaN is not JSON.
func (e Estimate) MarshalJSON() ([]byte, error) {
	if e.N == 0 {
		return json.Marshal(estimateJSON{})
	}
	return json.Marshal(estimateJSON{Value: finite(e.Value), N: e.N, Lo: finite(e.Lo), Hi: finite(e.Hi)})
}

// UnmarshalJSON reads what MarshalJSON wrote, null as NaN, so that a
// report read back from JSON renders as the original did.
func (e *Estimate) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var v estimateJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*e = Estimate{Value: orNaN(v.Value), N: v.N, Lo: orNaN(v.Lo), Hi: orNaN(v.Hi)}
	return nil
}

type pointJSON struct {
	X *float64 `json:"x"`
	Y *float64 `json:"y"`
}

// MarshalJSON writes a coordinate that is not a finite number as null.
func (p Point) MarshalJSON() ([]byte, error) {
	return json.Marshal(pointJSON{X: finite(p.X), Y: finite(p.Y)})
}

// UnmarshalJSON reads what MarshalJSON wrote, null as NaN.
func (p *Point) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var v pointJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*p = Point{X: orNaN(v.X), Y: orNaN(v.Y)}
	return nil
}

type thresholdPointJSON struct {
	Threshold  *float64 `json:"threshold"`
	InviteRate *float64 `json:"invite_rate"`
	Precision  *float64 `json:"precision"`
}

// MarshalJSON writes a figure that is not a finite number as null: at a
// threshold no session reaches, precision is 0/0.
func (t ThresholdPoint) MarshalJSON() ([]byte, error) {
	return json.Marshal(thresholdPointJSON{Threshold: finite(t.Threshold), InviteRate: finite(t.InviteRate), Precision: finite(t.Precision)})
}

// UnmarshalJSON reads what MarshalJSON wrote, null as NaN.
func (t *ThresholdPoint) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var v thresholdPointJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*t = ThresholdPoint{Threshold: orNaN(v.Threshold), InviteRate: orNaN(v.InviteRate), Precision: orNaN(v.Precision)}
	return nil
}

func isFinite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

func finite(x float64) *float64 {
	if !isFinite(x) {
		return nil
	}
	return &x
}

func orNaN(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
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

	outcomes := r.outcomes()
	counts := make([]string, len(outcomes))
	for i, o := range outcomes {
		counts[i] = strconv.Itoa(o.count)
	}
	shares := make([]string, len(outcomes))
	for i, o := range outcomes {
		shares[i] = o.share
	}
	counts, shares = padCells(counts, true), padCells(shares, true)
	fmt.Fprintf(tw, "sessions\t%d\n", r.Sessions)
	for i, o := range outcomes {
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
	counts = padCells(counts, true)
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
		figs := make([]figure, len(rows))
		for i, row := range rows {
			figs[i] = col.figure(row)
		}
		cols[c] = figureCells(figs)
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
		fmt.Fprint(tw, oneLine(name))
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
			fmt.Fprintf(tw, "  %s\t%s\n", oneLine(bl.Name), oneLine(bl.Rule))
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
		counts = padCells(counts, true)
		tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "top signals of invites")
		for i, s := range signals {
			fmt.Fprintf(tw, "  %s\t%s%s\n", oneLine(s.Name), counts[i], rateOf(s.Invites, r.Invites.Total, " of invites"))
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
		if err := r.Outcomes.writeSection(&b); err != nil {
			return err
		}
	}
	return writeTrimmed(w, b.String())
}

// writeTrimmed writes s without the spaces at the end of its lines that
// padded cells leave, so that a golden file and a copy-paste hold no
// invisible tails.
func writeTrimmed(w io.Writer, s string) error {
	var out strings.Builder
	for _, l := range strings.SplitAfter(s, "\n") {
		nl := strings.HasSuffix(l, "\n")
		out.WriteString(strings.TrimRight(l, " \n"))
		if nl {
			out.WriteByte('\n')
		}
	}
	_, err := io.WriteString(w, out.String())
	return err
}

// textTopSignals is how many signals the text lists: enough to see what
// drives the invites, few enough to read at a glance.
const textTopSignals = 8

// rateOf formats part/whole as "  (12.3%<suffix>)", or "" when whole is 0.
func rateOf(part, whole int, suffix string) string {
	if whole <= 0 {
		return ""
	}
	return "  (" + pct(float64(part)/float64(whole)) + "%" + suffix + ")"
}

// oneLine keeps a name or rule on its line: a newline in one would break
// the table.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
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

func (r *Report) outcomes() []outcomeRow {
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
			rows[i].share = pct(float64(c)/float64(r.Sessions)) + "%"
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
		return pct(float64(n)/float64(r.Invites.Total)) + "%"
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
	figure func(qualityRow) figure
}

var qualityColumns = []qualityColumn{
	{"invites", func(r qualityRow) figure { return figure{value: strconv.Itoa(r.invites)} }},
	{"invite rate", func(r qualityRow) figure { return proportionFigure(r.q.InviteRate) }},
	{"precision", func(r qualityRow) figure { return proportionFigure(r.q.Precision) }},
	{"recall", func(r qualityRow) figure { return proportionFigure(r.q.Recall) }},
	{"AUC", func(r qualityRow) figure { return aucFigure(r.q.AUC) }},
	{"lead p50", func(r qualityRow) figure { return secondsFigure(r.q.LeadTime.P50) }},
	{"lead p90", func(r qualityRow) figure { return secondsFigure(r.q.LeadTime.P90) }},
}

// figure is an Estimate formatted in three parts, "62.1%", "[55.0–68.7]"
// and "n=111", so that the text can align each part in its column and the
// HTML can set the interval and n smaller.
type figure struct {
	value, ci, n string
}

// String is the figure on one line, "62.1% [55.0–68.7] n=111".
func (f figure) String() string {
	s := f.value
	for _, p := range []string{f.ci, f.n} {
		if p != "" {
			s += " " + p
		}
	}
	return s
}

// noFigure stands for a figure with nothing to rest on (n=0, or not a
// number): an en dash, as in a printed table.
const noFigure = "–"

// estimateFigure formats e with format for its value and interval bounds.
func estimateFigure(e Estimate, format func(float64) string) figure {
	if e.N <= 0 || !isFinite(e.Value) {
		return figure{value: noFigure}
	}
	f := figure{value: format(e.Value), n: "n=" + strconv.Itoa(e.N)}
	if isFinite(e.Lo) && isFinite(e.Hi) {
		f.ci = "[" + format(e.Lo) + "–" + format(e.Hi) + "]"
	}
	return f
}

// proportionFigure shows a proportion as a percentage, "62.1% [55.0–68.7]":
// a rate reads faster as a percentage, and the interval is in the same
// unit, so its "%" is left out.
func proportionFigure(e Estimate) figure {
	f := estimateFigure(e, pct)
	if f.value != noFigure {
		f.value += "%"
	}
	return f
}

// aucFigure shows an AUC with two decimals: its interval is rarely
// narrower than 0.02.
func aucFigure(e Estimate) figure {
	return estimateFigure(e, func(x float64) string { return fixed(x, 2) })
}

// secondsFigure shows a lead time in seconds, with a decimal under 10 s
// where a second matters, "8.5s [3.1–15.7]", and none above, "42s [35–51]".
func secondsFigure(e Estimate) figure {
	decimals := 0
	if math.Abs(e.Value) < 10 {
		decimals = 1
	}
	f := estimateFigure(e, func(x float64) string { return fixed(x, decimals) })
	if f.value != noFigure {
		f.value += "s"
	}
	return f
}

// pct formats a proportion as a percentage with one decimal, without "%".
func pct(x float64) string { return fixed(100*x, 1) }

// fixed formats x with the given decimals, without the "-0.0" that a bound
// a hair below zero would print.
func fixed(x float64, decimals int) string {
	s := strconv.FormatFloat(x, 'f', decimals, 64)
	if strings.Trim(s, "-0.") == "" {
		s = strings.TrimPrefix(s, "-")
	}
	return s
}

// figureCells formats a column of figures with their values aligned to the
// right, so that digits line up; the interval and n follow as they come,
// which keeps the column narrow.
func figureCells(figs []figure) []string {
	values := make([]string, len(figs))
	for i, f := range figs {
		values[i] = f.value
	}
	values = padCells(values, true)
	cells := make([]string, len(figs))
	for i, f := range figs {
		f.value = values[i]
		cells[i] = f.String()
	}
	return cells
}

// padCells pads cells to the width of the widest, counting runes (an en
// dash is one column, three bytes). A column of empty cells stays empty.
func padCells(cells []string, right bool) []string {
	width := 0
	for _, c := range cells {
		width = max(width, utf8.RuneCountInString(c))
	}
	out := make([]string, len(cells))
	for i, c := range cells {
		pad := strings.Repeat(" ", width-utf8.RuneCountInString(c))
		if right {
			out[i] = pad + c
		} else {
			out[i] = c + pad
		}
	}
	return out
}

// topSignals is the n signals with the most invites, most first (ties by
// name, so that the order is stable), and how many more there are.
func (r *Report) topSignals(n int) (top []SignalCount, more int) {
	s := append([]SignalCount(nil), r.Signals...)
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
