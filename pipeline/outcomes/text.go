package outcomes

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteJSON writes the report as indented JSON, fields in struct order,
// figures that rest on nothing as null (as the replay's report is written),
// no groups as [] rather than null.
func (o *Report) WriteJSON(w io.Writer) error {
	c := *o
	if c.Groups == nil {
		c.Groups = []Group{}
	}
	if c.Acceptance == nil {
		c.Acceptance = []AcceptanceRow{}
	}
	if c.Staffing == nil {
		c.Staffing = []StaffingRow{}
	}
	if c.CSAT == nil {
		c.CSAT = []CSATRow{}
	}
	return EncodeJSON(w, &c)
}

// WriteText writes the report for the terminal: what was read, then the
// section the replay's report shows too.
func (o *Report) WriteText(w io.Writer) error {
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "linger report\t%s → %s (%s)\n", o.From.Format(time.RFC3339), o.To.Format(time.RFC3339), windowLength(o.To.Sub(o.From)))
	fmt.Fprintf(tw, "read\t%d events, %d decisions, %d feedback records; %d skipped (not valid v1)\n", o.Events, o.Decisions, o.Feedback, o.Skipped)
	fmt.Fprintf(tw, "sessions\t%d with events, of which bought: %s\n", o.Sessions, ProportionFigure(o.Conversion))
	if err := tw.Flush(); err != nil {
		return err
	}
	if err := o.writeSection(&b); err != nil {
		return err
	}
	return WriteTrimmed(w, b.String())
}

// WriteTextSection writes the part of WriteText that the replay's text
// shows too, after a blank line: the tables of counts and rates per site,
// reason and team, the notes that qualify them, the suppressed invites by
// cause, and the chat team's sections (acceptance against its band,
// staffing, satisfaction).
func (o *Report) WriteTextSection(w io.Writer) error {
	var b bytes.Buffer
	if err := o.writeSection(&b); err != nil {
		return err
	}
	return WriteTrimmed(w, b.String())
}

// windowLength formats a window's length to the minute: "7d", "24h",
// "90m", "3h25m".
func windowLength(d time.Duration) string {
	m := int64(d.Round(time.Minute) / time.Minute)
	switch {
	case m >= 2*24*60 && m%(24*60) == 0:
		return fmt.Sprintf("%dd", m/(24*60))
	case m < 60:
		return fmt.Sprintf("%dm", m)
	case m%60 == 0:
		return fmt.Sprintf("%dh", m/60)
	}
	return fmt.Sprintf("%dh%dm", m/60, m%60)
}

// writeSection writes the tables of counts and rates per site, reason and
// team, the notes that qualify them, the suppressed invites by cause, and
// the chat team's sections.
func (o *Report) writeSection(b *bytes.Buffer) error {
	rows := o.rows()
	fmt.Fprintln(b)
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	// Counts align to the right, under titles aligned so too.
	cols := make([][]string, len(outcomeCounts))
	for c, col := range outcomeCounts {
		cells := []string{col.title}
		for _, g := range rows {
			cells = append(cells, strconv.Itoa(col.count(g)))
		}
		cols[c] = PadCells(cells, true)
	}
	fmt.Fprint(tw, "site\treason\tteam")
	for c := range outcomeCounts {
		fmt.Fprintf(tw, "\t%s", cols[c][0])
	}
	fmt.Fprintln(tw)
	for i, g := range rows {
		fmt.Fprint(tw, groupNames(g, i == len(rows)-1))
		for c := range outcomeCounts {
			fmt.Fprintf(tw, "\t%s", cols[c][i+1])
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintf(b, "\nrates: value [95%% CI] n. acceptance: accepted/shown; conversion: sessions that bought at or after\ntheir first invite, shown or not (intent to treat); uplift: invited − holdout conversion, in points (pp)\n")
	tw = tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "site\treason\tteam")
	for _, c := range outcomeRates {
		fmt.Fprintf(tw, "\t%s", c.title)
	}
	fmt.Fprintln(tw)
	cols = make([][]string, len(outcomeRates))
	for c, col := range outcomeRates {
		figs := make([]Figure, len(rows))
		for i, g := range rows {
			figs[i] = col.figure(g)
		}
		cols[c] = FigureCells(figs)
	}
	for i, g := range rows {
		fmt.Fprint(tw, groupNames(g, i == len(rows)-1))
		for c := range outcomeRates {
			fmt.Fprintf(tw, "\t%s", cols[c][i])
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	if notes := o.notes(); len(notes) > 0 {
		fmt.Fprintln(b)
		for _, n := range notes {
			fmt.Fprintf(b, "note: %s\n", n)
		}
	}

	fmt.Fprintln(b)
	if o.Suppressed == nil {
		fmt.Fprintln(b, "suppressed by cause: "+noSuppressed)
		return o.writeChatText(b)
	}
	fmt.Fprintf(b, "suppressed by cause (%s)\n", o.Suppressed.source())
	tw = tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	reasons := o.Suppressed.reasons()
	counts := make([]string, len(reasons))
	for i, r := range reasons {
		counts[i] = strconv.FormatInt(o.Suppressed.ByReason[r], 10)
	}
	counts = PadCells(counts, true)
	for i, r := range reasons {
		fmt.Fprintf(tw, "  %s\t%s\n", OneLine(r), counts[i])
	}
	if len(reasons) == 0 {
		fmt.Fprintln(tw, "  none")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return o.writeChatText(b)
}

// noSuppressed says why suppressions are missing and how to get them.
const noSuppressed = "not on any topic; give --metrics with each replica's /metrics URL to include them"

// rows is the groups, then the total.
func (o *Report) rows() []Group {
	return append(slices.Clip(o.Groups), o.Total)
}

// groupNames is the site, reason and team cells of a row: "all" for the
// total, "–" for a name the decisions left empty.
func groupNames(g Group, total bool) string {
	if total {
		return "all\t\t"
	}
	name := func(s string) string {
		if s == "" {
			return NoFigure
		}
		return OneLine(s)
	}
	return name(g.Site) + "\t" + name(g.Reason) + "\t" + name(g.Team)
}

// outcomeCounts are the count columns, shared by the text and the HTML.
var outcomeCounts = []struct {
	title string
	count func(Group) int
}{
	{"invites", func(g Group) int { return g.Invites }},
	{"holdout", func(g Group) int { return g.Holdout }},
	{"withdrawn", func(g Group) int { return g.Withdrawn }},
	{"shown", func(g Group) int { return g.Shown }},
	{"accepted", func(g Group) int { return g.Accepted }},
	{"declined", func(g Group) int { return g.Declined }},
	{"expired", func(g Group) int { return g.Expired }},
	{"chats", func(g Group) int { return g.ChatsStarted }},
}

// outcomeRates are the rate columns, shared by the text and the HTML.
var outcomeRates = []struct {
	title  string
	figure func(Group) Figure
}{
	{"acceptance", func(g Group) Figure { return ProportionFigure(g.AcceptanceRate) }},
	{"conversion invited", func(g Group) Figure { return ProportionFigure(g.InvitedConversion) }},
	{"conversion holdout", func(g Group) Figure { return ProportionFigure(g.HoldoutConversion) }},
	{"uplift", func(g Group) Figure { return upliftFigure(g.Uplift) }},
}

// upliftFigure shows a difference of proportions in percentage points,
// signed, "+3.2pp [-1.0–+7.5]".
func upliftFigure(e Estimate) Figure {
	signed := func(x float64) string {
		s := Percent(x)
		if s != "0.0" && !strings.HasPrefix(s, "-") {
			s = "+" + s
		}
		return s
	}
	f := EstimateFigure(e, signed)
	if f.Value != NoFigure {
		f.Value += "pp"
	}
	return f
}

// notes are what qualifies the figures: feedback that names no invite,
// holdout invites that were shown, decided sessions without events.
func (o *Report) notes() []string {
	var n []string
	if o.UnmatchedFeedback > 0 {
		n = append(n, plural(o.UnmatchedFeedback, "feedback record names", "feedback records name")+" no invite read (decided before the start?): left out")
	}
	if o.Total.HoldoutShown > 0 {
		n = append(n, plural(o.Total.HoldoutShown, "holdout invite was", "holdout invites were")+" reported shown: a front-end shows holdout:true decisions, which blurs the uplift")
	}
	if o.SessionsWithoutEvents > 0 {
		n = append(n, plural(o.SessionsWithoutEvents, "decided session has", "decided sessions have")+" no event read (another events topic, or a shorter retention?)")
	}
	if o.Total.Invites > 0 && o.Total.Holdout == 0 {
		n = append(n, "no holdout invites: no uplift without a control group (holdout_percent in the scoring config)")
	}
	return n
}

// plural is "1 <one>" or "n <many>".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// source says where the counts come from.
func (s *Suppressed) source() string {
	switch {
	case len(s.Sources) == 1 && s.Sources[0] == SuppressedByReplay:
		return "counted by the replay"
	case len(s.Sources) == 1:
		return "linger_suppressed_total of " + s.Sources[0] + ", since it started"
	}
	return fmt.Sprintf("linger_suppressed_total summed over %d replicas, since each started", len(s.Sources))
}

// reasons lists the causes, most first (ties by name).
func (s *Suppressed) reasons() []string {
	r := slices.Sorted(maps.Keys(s.ByReason))
	slices.SortStableFunc(r, func(a, b string) int {
		x, y := s.ByReason[a], s.ByReason[b]
		switch {
		case x > y:
			return -1
		case x < y:
			return 1
		}
		return 0
	})
	return r
}
