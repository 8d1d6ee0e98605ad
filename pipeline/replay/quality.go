package replay

import (
	"maps"
	"math"
	"slices"
	"sort"

	"github.com/lingerhq/linger/pipeline/outcomes"
	"github.com/lingerhq/linger/schemas"
	"github.com/lingerhq/linger/scoring/learn"
)

// Report measures the replay: sessions by outcome, invites, their quality
// over the sessions whose outcome is known, the baselines and the plots.
// input names what was replayed.
func (r *Result) Report(input string) *Report {
	rep := &Report{
		Input:             input,
		Model:             r.config.Model(),
		Events:            r.Events,
		Rejected:          r.rejected,
		Sessions:          len(r.sessions),
		SessionsByOutcome: map[string]int{"purchase": 0, "abandoned": 0, "browse": 0, "censored": 0},
	}
	ids := make([]string, 0, len(r.sessions))
	for id := range r.sessions {
		ids = append(ids, id)
	}
	sort.Strings(ids) // deterministic order for everything below
	var known []*session
	for _, id := range ids {
		s := r.sessions[id]
		o := s.Outcome(r.end)
		rep.SessionsByOutcome[o]++
		if o != "censored" {
			known = append(known, s)
		}
	}
	signals := map[string]int{}
	for _, d := range r.Decisions {
		switch d.Action {
		case schemas.ActionInvite:
			rep.Invites.Total++
			if d.Reason == schemas.ReasonAbandonment {
				rep.Invites.Abandonment++
			} else {
				rep.Invites.Confusion++
			}
			if d.Holdout {
				rep.Invites.Holdout++
			}
			for _, s := range d.Signals {
				signals[s.Name]++
			}
		case schemas.ActionWithdraw:
			rep.Invites.Withdrawn++
		}
	}
	for name, n := range signals {
		rep.Signals = append(rep.Signals, signalCount{Name: name, Invites: n})
	}
	slices.SortFunc(rep.Signals, func(a, b signalCount) int {
		if a.Invites != b.Invites {
			return b.Invites - a.Invites
		}
		if a.Name < b.Name {
			return -1
		}
		return 1
	})

	invited := func(s *session) (bool, int64) { return s.Invited, s.InviteAt }
	rep.Quality = measure(known, r.end, invited, sessionScore)
	for _, s := range known {
		if s.Invited {
			rep.InvitedSessions++
		}
	}
	band := Band{Low: r.config.RateBand.MinPercent / 100, High: r.config.RateBand.MaxPercent / 100}
	all := make([]*session, len(ids))
	for i, id := range ids {
		all[i] = r.sessions[id]
	}
	rep.EligibleSessions, rep.InviteShare, rep.HighestScores = shares(all, band)
	rep.Baselines = baselines(known, r.end, rep.InvitedSessions)
	rep.Plots = plots(known, all, r.config.Thresholds.Confusion)
	rep.Plots.AbandonmentThreshold = r.config.Thresholds.Abandonment
	rep.Plots.ConfusionThreshold = r.config.Thresholds.Confusion
	rep.Plots.Band = band
	rep.Warnings = r.warnings(rep, all)
	if r.tally != nil {
		rep.Outcomes = r.tally.Report()
		rep.Outcomes.Suppressed = &outcomes.Suppressed{Sources: []string{outcomes.SuppressedByReplay}, ByReason: maps.Clone(r.suppressed)}
	}
	return rep
}

// sessionScore is the abandonment score a threshold would act on: the
// highest at a moment the policy would invite, 0 if there was none.
func sessionScore(s *session) float64 {
	if math.IsNaN(s.Score) {
		return 0
	}
	return s.Score
}

// measure computes the quality of a way of inviting over sessions with a
// known outcome: invited says whether, and when, it invites a session; score
// is its continuous score, for the AUC.
func measure(known []*session, end int64, invited func(*session) (bool, int64), score func(*session) float64) Quality {
	var q Quality
	n, nInv, nAb, nInvAb := len(known), 0, 0, 0
	scores := make([]float64, n)
	positive := make([]bool, n)
	var leads []float64
	for i, s := range known {
		ab := s.Outcome(end) == "abandoned"
		inv, at := invited(s)
		if inv {
			nInv++
			// Seconds the visitor was still there after the invite; an
			// invite after their last event is worth nothing.
			leads = append(leads, max(0, float64(s.Last-at)/1000))
		}
		if ab {
			nAb++
			if inv {
				nInvAb++
			}
		}
		scores[i], positive[i] = score(s), ab
	}
	q.InviteRate = outcomes.Proportion(nInv, n)
	q.Precision = outcomes.Proportion(nInvAb, nInv)
	q.Recall = outcomes.Proportion(nInvAb, nAb)
	if nAb > 0 && nAb < n {
		a := learn.AUC(scores, positive)
		q.AUC = outcomes.Estimate{Value: a.Value, N: a.N, Lo: a.Lo, Hi: a.Hi}
	} else {
		q.AUC = outcomes.Estimate{Value: math.NaN(), N: n, Lo: math.NaN(), Hi: math.NaN()}
	}
	q.LeadTime = leadTime{P50: outcomes.Quantile(leads, 0.5), P90: outcomes.Quantile(leads, 0.9)}
	return q
}

// shares counts the eligible sessions among all, the share of them invited
// (by any reason and by each) and the highest scores at their eligible
// moments.
func shares(all []*session, band Band) (eligible int, sh InviteShare, top Scores) {
	var inv, ab, co int
	top = Scores{Abandonment: math.NaN(), Confusion: math.NaN()}
	for _, s := range all {
		if !s.Eligible {
			continue
		}
		eligible++
		if s.invitedFor != 0 {
			inv++
		}
		if s.invitedFor&(1<<schemas.ReasonAbandonment) != 0 {
			ab++
		}
		if s.invitedFor&(1<<schemas.ReasonConfusion) != 0 {
			co++
		}
		if !math.IsNaN(s.Score) && !(s.Score <= top.Abandonment) {
			top.Abandonment = s.Score
		}
		if !math.IsNaN(s.ConfScore) && !(s.ConfScore <= top.Confusion) {
			top.Confusion = s.ConfScore
		}
	}
	sh = InviteShare{
		All: outcomes.Proportion(inv, eligible), Abandonment: outcomes.Proportion(ab, eligible), Confusion: outcomes.Proportion(co, eligible),
		Band: band,
	}
	return eligible, sh, top
}

// plots gathers the data of the report's plots: the histogram and the ROC
// over the sessions with a known outcome, the threshold curve's invite
// share over all eligible sessions and its precision over the known ones.
// confusion is the confusion threshold the curve holds.
func plots(known, all []*session, confusion float64) plotData {
	const bins = 20
	h := scoreHistogram{Bins: bins, Purchase: make([]int, bins), Abandoned: make([]int, bins), Browse: make([]int, bins)}
	scores := make([]float64, len(known))
	positive := make([]bool, len(known))
	for i, s := range known {
		sc := sessionScore(s)
		b := min(int(sc*bins), bins-1)
		switch s.Outcome(math.MaxInt64 / 2) { // known: never censored here
		case "purchase":
			h.Purchase[b]++
		case "abandoned":
			h.Abandoned[b]++
		default:
			h.Browse[b]++
		}
		scores[i] = sc
		positive[i] = s.ReachedCart && !s.Purchased
	}
	var p plotData
	p.ScoreHistogram = h
	if len(known) > 0 {
		for _, pt := range learn.ROC(scores, positive, 101) {
			p.ROC = append(p.ROC, curvePoint{X: pt.X, Y: pt.Y})
		}
	}
	byConfusion := func(s *session) bool { return !math.IsNaN(s.ConfScore) && s.ConfScore >= confusion }
	eligible, conf := 0, 0
	for _, s := range all {
		if s.Eligible {
			eligible++
			if byConfusion(s) {
				conf++
			}
		}
	}
	for t := 0.05; t < 0.999; t += 0.05 {
		inv, invKnown, invAb := 0, 0, 0
		for _, s := range all {
			if s.Eligible && (sessionScore(s) >= t || byConfusion(s)) {
				inv++
			}
		}
		for i, s := range known {
			if s.Eligible && (scores[i] >= t || byConfusion(s)) {
				invKnown++
				if positive[i] {
					invAb++
				}
			}
		}
		tp := thresholdPoint{Threshold: math.Round(t*100) / 100, InviteRate: math.NaN(), ConfusionRate: math.NaN(), Precision: math.NaN()}
		if eligible > 0 {
			tp.InviteRate = float64(inv) / float64(eligible)
			tp.ConfusionRate = float64(conf) / float64(eligible)
		}
		if invKnown > 0 {
			tp.Precision = float64(invAb) / float64(invKnown)
		}
		p.Thresholds = append(p.Thresholds, tp)
	}
	return p
}
