package replay

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Warning codes, as Warning.Code names them.
const (
	// WarnMostlyCensored: more than half the sessions have no known
	// outcome, because the input ends before their timeout could pass.
	WarnMostlyCensored = "mostly_censored"
	// WarnNoAbandoned: sessions have a known outcome, and none abandoned:
	// precision, recall and AUC have nothing to find.
	WarnNoAbandoned = "no_abandoned"
	// WarnNoInvites: the replay invited nobody.
	WarnNoInvites = "no_invites"
)

// warnings says what makes rep's figures weak or empty, and why, in the
// order a reader should fix them.
func (r *Result) warnings(rep *Report, all []*session) []Warning {
	var ws []Warning
	if rep.Sessions == 0 {
		return ws
	}
	censored := rep.SessionsByOutcome["censored"]
	known := rep.Sessions - censored
	if 2*censored > rep.Sessions {
		ws = append(ws, Warning{Code: WarnMostlyCensored, Message: fmt.Sprintf(
			"%s of sessions censored (%d of %d): the input spans %s; an outcome needs %s of quiet after a session's last event",
			wholePercent(censored, rep.Sessions), censored, rep.Sessions,
			humanDuration(time.Duration(r.end-r.start)*time.Millisecond), humanDuration(r.config.SessionTimeout))})
	}
	if known > 0 && rep.SessionsByOutcome["abandoned"] == 0 {
		cart := false
		for _, s := range all {
			cart = cart || s.ReachedCart
		}
		msg := fmt.Sprintf("no session abandoned: none of the %d sessions with a known outcome reached a cart or checkout and left without buying", known)
		if !cart {
			msg = "no session abandoned: no session reached a cart or checkout page, added to its cart or started checkout"
		}
		ws = append(ws, Warning{Code: WarnNoAbandoned, Message: msg + "; precision, recall and AUC have nothing to find"})
	}
	if rep.Invites.Total == 0 {
		ws = append(ws, Warning{Code: WarnNoInvites, Message: "no invites: " + r.whyNoInvites(rep, all)})
	}
	return ws
}

// whyNoInvites says why a replay invited nobody: no session was ever
// eligible (and what held them back), or no score reached its threshold
// (and how high they got), or the policy held back those that did.
func (r *Result) whyNoInvites(rep *Report, all []*session) string {
	if rep.EligibleSessions == 0 {
		held := map[string]int{}
		for _, s := range all {
			held[s.held.String()]++
		}
		return "no session was ever eligible for one; the policy held them back at their last moment for " + countsText(held)
	}
	th := r.config.Thresholds
	top := rep.HighestScores
	reached := top.Abandonment >= th.Abandonment || top.Confusion >= th.Confusion
	if !reached {
		return fmt.Sprintf("no score reached its threshold at an eligible moment of the %d eligible sessions: %s", rep.EligibleSessions, scoresVsThresholds(top, th.Abandonment, th.Confusion))
	}
	held := map[string]int{}
	for cause, n := range r.suppressed {
		held[cause] = int(n)
	}
	return "scores reached their thresholds, and the policy held every invite back: " + countsText(held)
}

// scoresVsThresholds says how high the scores got against their
// thresholds: "abandonment scores reach 0.024 (threshold 0.7), confusion
// 0.011 (threshold 0.7)".
func scoresVsThresholds(top Scores, abandonment, confusion float64) string {
	return fmt.Sprintf("abandonment scores reach %s (threshold %s), confusion %s (threshold %s)",
		scoreText(top.Abandonment), strconv.FormatFloat(abandonment, 'g', -1, 64),
		scoreText(top.Confusion), strconv.FormatFloat(confusion, 'g', -1, 64))
}

// scoreText shows a score with the digits that tell it from a threshold
// near it: 0.024, 0.71, 0.0013.
func scoreText(x float64) string {
	if math.IsNaN(x) {
		return "–"
	}
	return strconv.FormatFloat(x, 'g', 2, 64)
}

// countsText lists counts by cause, largest first: "page 1203,
// breathing_space 87".
func countsText(m map[string]int) string {
	keys := slices.Collect(maps.Keys(m))
	slices.SortFunc(keys, func(a, b string) int { return cmp.Or(cmp.Compare(m[b], m[a]), cmp.Compare(a, b)) })
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		if m[k] > 0 {
			parts = append(parts, k+" "+strconv.Itoa(m[k]))
		}
	}
	if len(parts) == 0 {
		return "nothing counted"
	}
	return strings.Join(parts, ", ")
}

// wholePercent is part of whole as a whole percentage, "85%", with "<1%"
// and ">99%" where rounding would say 0 or 100 of a part that is neither.
func wholePercent(part, whole int) string {
	if whole <= 0 {
		return "–"
	}
	p := 100 * float64(part) / float64(whole)
	switch {
	case part > 0 && p < 1:
		return "<1%"
	case part < whole && p > 99:
		return ">99%"
	}
	return strconv.Itoa(int(math.Round(p))) + "%"
}

// humanDuration writes d as a person would: at most two units, the smaller
// rounded, no zero units ("7m", "2h50m", "3m21s", "45s", "1.5s"), and
// milliseconds only under a second.
func humanDuration(d time.Duration) string {
	neg := d < 0
	if neg {
		d = -d
	}
	var s string
	switch {
	case d == 0:
		return "0s"
	case d < time.Second:
		s = d.Round(time.Millisecond).String()
	case d < 10*time.Second:
		s = strings.TrimSuffix(strconv.FormatFloat(d.Round(100*time.Millisecond).Seconds(), 'f', 1, 64), ".0") + "s"
	case d < time.Hour:
		d = d.Round(time.Second)
		s = trimZeroUnits(d.String())
	default:
		d = d.Round(time.Minute)
		s = trimZeroUnits(d.String())
	}
	if neg {
		s = "-" + s
	}
	return s
}

// trimZeroUnits drops the zero units Duration.String ends with: "2h0m0s"
// → "2h", "7m0s" → "7m".
func trimZeroUnits(s string) string {
	for _, z := range []string{"0s", "0m"} {
		if strings.HasSuffix(s, z) && len(s) > len(z) && !isDigit(s[len(s)-len(z)-1]) {
			s = s[:len(s)-len(z)]
		}
	}
	return s
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
