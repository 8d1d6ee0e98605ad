package replay

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/lingerhq/linger/schemas"
	"github.com/lingerhq/linger/scoring"
	"go.yaml.in/yaml/v3"

	"github.com/lingerhq/linger/pipeline/outcomes"
)

// SweepKey is one axis of a sweep, from ParseSweep for Grid and
// NewSweep: a config key (dotted, as in the YAML file:
// thresholds.abandonment) and the values it takes.
type SweepKey struct {
	key    string
	values []string
}

// maxSweepPoints bounds a grid: each point is a whole replay.
const maxSweepPoints = 500

// ParseSweep reads "key=from:to:step,key=from:to:step". Values are numbers
// or Go durations (15s), from and to included.
func ParseSweep(spec string) ([]SweepKey, error) {
	var keys []SweepKey
	points := 1
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		key, rng, ok := strings.Cut(part, "=")
		bounds := strings.Split(rng, ":")
		if !ok || key == "" || len(bounds) != 3 {
			return nil, fmt.Errorf("sweep %q: want key=from:to:step", part)
		}
		values, err := sweepRange(bounds[0], bounds[1], bounds[2])
		if err != nil {
			return nil, fmt.Errorf("sweep %s: %w", key, err)
		}
		keys = append(keys, SweepKey{key: key, values: values})
		points *= len(values)
		if points > maxSweepPoints {
			return nil, fmt.Errorf("sweep: more than %d settings to replay; use coarser steps", maxSweepPoints)
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("sweep: no key")
	}
	return keys, nil
}

func sweepRange(from, to, step string) ([]string, error) {
	if f, err1 := strconv.ParseFloat(from, 64); err1 == nil {
		t, err2 := strconv.ParseFloat(to, 64)
		s, err3 := strconv.ParseFloat(step, 64)
		if err2 != nil || err3 != nil || s <= 0 || t < f {
			return nil, fmt.Errorf("%s:%s:%s: want numbers from ≤ to and a positive step", from, to, step)
		}
		var out []string
		for i := 0; ; i++ {
			v := f + float64(i)*s
			if v > t+s/1e6 {
				break
			}
			out = append(out, strconv.FormatFloat(math.Round(v*1e9)/1e9, 'f', -1, 64))
		}
		return out, nil
	}
	f, err1 := time.ParseDuration(from)
	t, err2 := time.ParseDuration(to)
	s, err3 := time.ParseDuration(step)
	if err1 != nil || err2 != nil || err3 != nil || s <= 0 || t < f {
		return nil, fmt.Errorf("%s:%s:%s: want numbers or durations, from ≤ to and a positive step", from, to, step)
	}
	var out []string
	for v := f; v <= t; v += s {
		out = append(out, v.String())
	}
	return out, nil
}

// SweepPoint is one setting of a sweep: the values of its keys, in the
// order of the keys, and the config they make.
type SweepPoint struct {
	Values []string
	Config *scoring.Config
}

// Grid returns every combination of the keys' values applied over base.
// Each config is validated like a config file.
func Grid(base *scoring.Config, keys []SweepKey) ([]SweepPoint, error) {
	data, err := base.Marshal()
	if err != nil {
		return nil, err
	}
	points := []SweepPoint{{}}
	for _, k := range keys {
		var next []SweepPoint
		for _, p := range points {
			for _, v := range k.values {
				next = append(next, SweepPoint{Values: append(append([]string(nil), p.Values...), v)})
			}
		}
		points = next
	}
	for i := range points {
		var doc map[string]any
		if err := yaml.Unmarshal(data, &doc); err != nil {
			return nil, err
		}
		for j, k := range keys {
			if err := setPath(doc, k.key, points[i].Values[j]); err != nil {
				return nil, err
			}
		}
		out, err := yaml.Marshal(doc)
		if err != nil {
			return nil, err
		}
		if points[i].Config, err = scoring.ParseConfig(out); err != nil {
			// The document is generated: its lines mean nothing to the
			// user, the key and the value they gave do.
			var ce *scoring.ConfigError
			if errors.As(err, &ce) {
				err = ce.WithoutLines()
			}
			return nil, fmt.Errorf("sweep setting %s: %w", describePoint(keys, points[i]), err)
		}
	}
	return points, nil
}

// setPath sets a dotted key in a YAML document, as a number if it parses as
// one, else as a string (a duration).
func setPath(doc map[string]any, path, value string) error {
	parts := strings.Split(path, ".")
	m := doc
	for _, p := range parts[:len(parts)-1] {
		sub, ok := m[p].(map[string]any)
		if !ok {
			return fmt.Errorf("sweep key %s: %s is not a section of the config", path, p)
		}
		m = sub
	}
	last := parts[len(parts)-1]
	if _, ok := m[last]; !ok {
		return fmt.Errorf("sweep key %s: no such key in the config (see `linger config`)", path)
	}
	if f, err := strconv.ParseFloat(value, 64); err == nil {
		m[last] = f
	} else {
		m[last] = value
	}
	return nil
}

func describePoint(keys []SweepKey, p SweepPoint) string {
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%s=%s", k.key, p.Values[i])
	}
	return b.String()
}

// SweepRow is one replayed setting.
type SweepRow struct {
	Values []string
	Model  string
	// Invites counts invite decisions, over all sessions.
	Invites int
	// Eligible counts the eligible sessions, Share the share of them
	// invited, in all and per reason (Report.InviteShare).
	Eligible int
	Share    InviteShare
	// Acceptance is accepted of shown invites, in all and per reason, by
	// the input's feedback on the invites this setting made; nil when the
	// input holds no feedback.
	Acceptance *ReasonFigures
	// Highest are the highest scores at an eligible moment, and
	// Thresholds the setting's: a sweep that invites nobody says so with
	// them.
	Highest, Thresholds Scores
	// Quality over the sessions with a known outcome.
	Quality
	warnings []Warning
	frontier bool // no other setting has both a higher-or-equal invite share and precision
	inBand   bool // invite share within the target band
}

// ReasonFigures is a figure in all and per reason.
type ReasonFigures struct {
	All         outcomes.Estimate `json:"all"`
	Abandonment outcomes.Estimate `json:"abandonment"`
	Confusion   outcomes.Estimate `json:"confusion"`
}

// of returns the figure of a reason, "" for all.
func (f *ReasonFigures) of(reason string) outcomes.Estimate {
	switch reason {
	case "abandonment":
		return f.Abandonment
	case "confusion":
		return f.Confusion
	}
	return f.All
}

// NewSweepRow sums up a setting's replay for a sweep.
func NewSweepRow(pt SweepPoint, rep *Report) SweepRow {
	row := SweepRow{
		Values: pt.Values, Model: rep.Model, Invites: rep.Invites.Total,
		Eligible: rep.EligibleSessions, Share: rep.InviteShare, Highest: rep.HighestScores,
		Quality: rep.Quality, warnings: rep.Warnings,
	}
	if pt.Config != nil {
		row.Thresholds = Scores{Abandonment: pt.Config.Thresholds.Abandonment, Confusion: pt.Config.Thresholds.Confusion}
	}
	if rep.Outcomes != nil {
		var acc, shown [3]int // all, abandonment, confusion
		for _, g := range rep.Outcomes.Groups {
			i := 0
			switch g.Reason {
			case schemas.ReasonAbandonment.String():
				i = 1
			case schemas.ReasonConfusion.String():
				i = 2
			}
			acc[i] += g.Accepted
			shown[i] += g.Shown
			if i > 0 {
				acc[0] += g.Accepted
				shown[0] += g.Shown
			}
		}
		row.Acceptance = &ReasonFigures{
			All:         outcomes.Proportion(acc[0], shown[0]),
			Abandonment: outcomes.Proportion(acc[1], shown[1]),
			Confusion:   outcomes.Proportion(acc[2], shown[2]),
		}
	}
	return row
}

// Frontier marks the rows on the invite-share/precision frontier and those
// whose invite share of eligible sessions is in band.
func Frontier(rows []SweepRow, band Band) {
	share := func(r *SweepRow) float64 { return r.Share.All.Value }
	for i := range rows {
		r := &rows[i]
		r.inBand = band.Contains(share(r))
		r.frontier = !math.IsNaN(r.Precision.Value) && !math.IsNaN(share(r))
		for j := range rows {
			o := &rows[j]
			if i == j || math.IsNaN(o.Precision.Value) || math.IsNaN(share(o)) {
				continue
			}
			if share(o) >= share(r) && o.Precision.Value >= r.Precision.Value &&
				(share(o) > share(r) || o.Precision.Value > r.Precision.Value) {
				r.frontier = false
				break
			}
		}
	}
}

// DefaultAcceptanceBand is the acceptance band of healthy proactive chat:
// 3–10% of the invites shown are accepted.
var DefaultAcceptanceBand = Band{Low: 0.03, High: 0.10}

// acceptanceBand is the band a sweep holds acceptance against (the
// config's acceptance_band, which defaults to 3–10%), and whether the
// config file set it rather than leaving the default.
func acceptanceBand(cfg *scoring.Config) (Band, bool) {
	lo, hi := cfg.For(nil).AcceptanceBand()
	b := Band{Low: lo, High: hi}
	return b, b != DefaultAcceptanceBand
}

// Sweep is the replays of a grid of settings, for WriteText.
type Sweep struct {
	Input string
	Keys  []SweepKey
	Rows  []SweepRow
	// Band is the target band of the invite share of eligible sessions;
	// Acceptance the band acceptance is held against, AcceptanceOwn
	// whether the config set it.
	Band          Band
	Acceptance    Band
	AcceptanceOwn bool
}

// NewSweep gathers the rows of a sweep over base, and marks the frontier
// and the rows in band.
func NewSweep(input string, keys []SweepKey, rows []SweepRow, band Band, base *scoring.Config) *Sweep {
	Frontier(rows, band)
	acc, own := acceptanceBand(base)
	return &Sweep{Input: input, Keys: keys, Rows: rows, Band: band, Acceptance: acc, AcceptanceOwn: own}
}

// reasons are the decision reasons, in the order tables list them.
var reasons = []string{"abandonment", "confusion"}

// Warnings are what the settings' replays warned of, each once (a sweep of
// thresholds warns of the same censoring in every setting), and, when no
// setting invited anyone, why.
func (s *Sweep) Warnings() []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range s.Rows {
		for _, w := range r.warnings {
			if w.Code != WarnNoInvites && !seen[w.Message] {
				seen[w.Message] = true
				out = append(out, w.Message)
			}
		}
	}
	if why := s.whyNoInvites(); why != "" {
		out = append(out, "no setting invited anyone: "+why)
	}
	return out
}

// whyNoInvites says why no setting invited anyone, "" when one did.
func (s *Sweep) whyNoInvites() string {
	if len(s.Rows) == 0 {
		return ""
	}
	eligible := 0
	top := Scores{Abandonment: math.NaN(), Confusion: math.NaN()}
	low := Scores{Abandonment: math.Inf(1), Confusion: math.Inf(1)}
	for _, r := range s.Rows {
		if r.Invites > 0 {
			return ""
		}
		eligible = max(eligible, r.Eligible)
		top.Abandonment = maxScore(top.Abandonment, r.Highest.Abandonment)
		top.Confusion = maxScore(top.Confusion, r.Highest.Confusion)
		low.Abandonment = min(low.Abandonment, r.Thresholds.Abandonment)
		low.Confusion = min(low.Confusion, r.Thresholds.Confusion)
	}
	if eligible == 0 {
		for _, w := range s.Rows[0].warnings {
			if w.Code == WarnNoInvites {
				return strings.TrimPrefix(w.Message, "no invites: ")
			}
		}
		return "no session was ever eligible for one"
	}
	if top.Abandonment < low.Abandonment && top.Confusion < low.Confusion || math.IsNaN(top.Abandonment) && math.IsNaN(top.Confusion) {
		return scoresVsThresholds(top, low.Abandonment, low.Confusion) + " at the lowest thresholds swept; " +
			"sweep thresholds below the scores, or train the model (linger train --target-invite-rate)"
	}
	return "scores reached their thresholds, and the policy held every invite back (see a replay's report of one setting)"
}

// maxScore is the larger of two scores, NaN (none) losing to any number.
func maxScore(a, b float64) float64 {
	switch {
	case math.IsNaN(a):
		return b
	case math.IsNaN(b):
		return a
	}
	return max(a, b)
}

// WriteText prints the sweep: a legend, a table of the settings (invite
// share of eligible sessions in all and per reason, acceptance in all and
// per reason when the input holds feedback, precision, recall, the
// frontier and the band marked), then which reason keeps a figure outside
// its band.
func (s *Sweep) WriteText(w io.Writer) error {
	var b strings.Builder
	keys := make([]string, len(s.Keys))
	for i, k := range s.Keys {
		keys[i] = k.key
	}
	fmt.Fprintf(&b, "%s: %d settings of %s\n", s.Input, len(s.Rows), strings.Join(keys, ", "))
	for _, warn := range s.Warnings() {
		b.WriteString(wrap("warning: "+warn, textWidth, "  "))
	}
	feedback := len(s.Rows) > 0 && s.Rows[0].Acceptance != nil
	legend := "invited: share of the eligible sessions (those the policy would have invited at some moment) " +
		"invited, in all [95% CI] and for each reason, against rate_band " + s.Band.String() + "; " +
		"precision and recall over the sessions with a known outcome; * marks the invite-share/precision frontier"
	if feedback {
		legend += "; shown and accepted: the invites shown, by the input's feedback on the invites each setting " +
			"made, and the share of them accepted, in all [95% CI] and for each reason, against " + s.acceptanceName()
	}
	b.WriteString(wrap(legend, textWidth, ""))
	b.WriteByte('\n')

	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	for _, k := range keys {
		fmt.Fprintf(tw, "%s\t", k)
	}
	fmt.Fprintf(tw, "invites\tinvited\tabandonment\tconfusion\tprecision\trecall\tfrontier\tin %s\n", s.Band.String())
	value := func(e outcomes.Estimate) string { return ciOnly(e).Value }
	for _, r := range s.Rows {
		for _, v := range r.Values {
			fmt.Fprintf(tw, "%s\t", v)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Invites, ciOnly(r.Share.All), value(r.Share.Abandonment), value(r.Share.Confusion),
			ciOnly(r.Precision), value(r.Recall), mark(r.frontier, "*"), mark(r.inBand, "✓"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if feedback {
		b.WriteByte('\n')
		tw = tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
		for _, k := range keys {
			fmt.Fprintf(tw, "%s\t", k)
		}
		fmt.Fprint(tw, "shown\taccepted\tabandonment\tconfusion\n")
		for _, r := range s.Rows {
			for _, v := range r.Values {
				fmt.Fprintf(tw, "%s\t", v)
			}
			a := r.Acceptance
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", a.All.N, ciOnly(a.All), value(a.Abandonment), value(a.Confusion))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if notes := s.Notes(); len(notes) > 0 {
		b.WriteByte('\n')
		for _, n := range notes {
			b.WriteString(wrap(n, textWidth, "  "))
		}
	}
	return outcomes.WriteTrimmed(w, b.String())
}

func mark(b bool, s string) string {
	if b {
		return s
	}
	return ""
}

// acceptanceName names the acceptance band and where it comes from.
func (s *Sweep) acceptanceName() string {
	if s.AcceptanceOwn {
		return "acceptance_band " + s.Acceptance.String()
	}
	return "the acceptance band " + s.Acceptance.String() + " (the default: the config sets none)"
}

// Notes say, for the invite share and for acceptance, in how many settings
// the figure falls outside its band, and which reason keeps it there: for
// a share above the band, the reason that invites the most of it; for
// acceptance, each reason whose own acceptance is outside.
func (s *Sweep) Notes() []string {
	var notes []string
	if n := s.shareNote(); n != "" {
		notes = append(notes, n)
	}
	if n := s.acceptanceNote(); n != "" {
		notes = append(notes, n)
	}
	return notes
}

// span formats the range of a figure over rows, "9.0–9.4%", or "9.1%".
func span(rows []*SweepRow, of func(*SweepRow) outcomes.Estimate) string {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, r := range rows {
		if e := of(r); e.N > 0 && outcomes.IsFinite(e.Value) {
			lo, hi = min(lo, e.Value), max(hi, e.Value)
		}
	}
	switch {
	case math.IsInf(lo, 1):
		return "–"
	case outcomes.Percent(lo) == outcomes.Percent(hi):
		return outcomes.Percent(lo) + "%"
	}
	return outcomes.Percent(lo) + "–" + outcomes.Percent(hi) + "%"
}

func (s *Sweep) shareNote() string {
	if !s.Band.valid() {
		return ""
	}
	shareOf := func(reason string) func(*SweepRow) outcomes.Estimate {
		return func(r *SweepRow) outcomes.Estimate {
			if reason == "abandonment" {
				return r.Share.Abandonment
			}
			return r.Share.Confusion
		}
	}
	// Each setting above the band is put down to the reason that keeps it
	// there: one above the band on its own (whatever the other's threshold,
	// the share stays above), both if both are, else the one inviting more.
	above := map[string][]*SweepRow{}
	var below []*SweepRow
	nAbove := 0
	for i := range s.Rows {
		r := &s.Rows[i]
		v := r.Share.All.Value
		switch {
		case r.Share.All.N == 0 || !outcomes.IsFinite(v):
		case v > s.Band.High:
			nAbove++
			a, c := r.Share.Abandonment.Value > s.Band.High, r.Share.Confusion.Value > s.Band.High
			switch {
			case a && c:
				above["both"] = append(above["both"], r)
			case c || !a && r.Share.Confusion.Value > r.Share.Abandonment.Value:
				above["confusion"] = append(above["confusion"], r)
			default:
				above["abandonment"] = append(above["abandonment"], r)
			}
		case v < s.Band.Low:
			below = append(below, r)
		}
	}
	if nAbove+len(below) == 0 {
		return ""
	}
	var parts []string
	for _, main := range []string{"both", "abandonment", "confusion"} {
		rows := above[main]
		if len(rows) == 0 {
			continue
		}
		if main == "both" {
			parts = append(parts, fmt.Sprintf("above it in %d, where each reason is above it on its own: abandonment invites %s of eligible sessions, confusion %s",
				len(rows), span(rows, shareOf("abandonment")), span(rows, shareOf("confusion"))))
			continue
		}
		other := "confusion"
		if main == "confusion" {
			other = "abandonment"
		}
		p := fmt.Sprintf("above it in %d, where %s keeps it there: it invites %s of eligible sessions (%s %s)",
			len(rows), main, span(rows, shareOf(main)), other, span(rows, shareOf(other)))
		lone := true
		for _, r := range rows {
			lone = lone && shareOf(main)(r).Value > s.Band.High
		}
		if lone {
			p += ", above the band on its own"
		}
		if !s.swept("thresholds." + main) {
			p += "; thresholds." + main + " is not swept"
		}
		parts = append(parts, p)
	}
	if len(below) > 0 {
		parts = append(parts, fmt.Sprintf("below it in %d: abandonment invites %s of eligible sessions, confusion %s",
			len(below), span(below, shareOf("abandonment")), span(below, shareOf("confusion"))))
	}
	return fmt.Sprintf("invite share outside rate_band %s in %d of %d settings: %s.",
		s.Band.String(), nAbove+len(below), len(s.Rows), strings.Join(parts, "; "))
}

func (s *Sweep) acceptanceNote() string {
	if len(s.Rows) == 0 || s.Rows[0].Acceptance == nil {
		return ""
	}
	var parts []string
	for _, reason := range append([]string{"in all"}, reasons...) {
		key := reason
		if reason == "in all" {
			key = ""
		}
		of := func(r *SweepRow) outcomes.Estimate { return r.Acceptance.of(key) }
		var above, below, shown []*SweepRow
		for i := range s.Rows {
			r := &s.Rows[i]
			e := of(r)
			if e.N == 0 {
				continue
			}
			shown = append(shown, r)
			switch {
			case e.Value > s.Acceptance.High:
				above = append(above, r)
			case e.Value < s.Acceptance.Low:
				below = append(below, r)
			}
		}
		var says []string
		if len(below) > 0 {
			says = append(says, fmt.Sprintf("below it in %d (%s)", len(below), span(below, of)))
		}
		if len(above) > 0 {
			says = append(says, fmt.Sprintf("above it in %d (%s)", len(above), span(above, of)))
		}
		switch {
		case len(shown) == 0:
			says = []string{"no invite shown"}
		case len(says) == 0:
			says = []string{fmt.Sprintf("within it (%s)", span(shown, of))}
		}
		parts = append(parts, reason+" "+strings.Join(says, " and "))
	}
	return fmt.Sprintf("acceptance against %s, in %d settings: %s.", s.acceptanceName(), len(s.Rows), strings.Join(parts, "; "))
}

// swept reports whether key is one of the sweep's keys.
func (s *Sweep) swept(key string) bool {
	for _, k := range s.Keys {
		if k.key == key {
			return true
		}
	}
	return false
}
