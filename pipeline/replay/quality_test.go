package replay

import (
	"math"
	"testing"

	"github.com/lingerhq/linger/schemas"
	"github.com/lingerhq/linger/scoring"

	"github.com/lingerhq/linger/pipeline/outcomes"
)

// TestReportFigures checks the report's arithmetic on sessions made by hand:
// outcomes (censoring included), invite rate, precision, recall, lead time
// and the baselines at linger's invite rate.
func TestReportFigures(t *testing.T) {
	const minute = 60_000
	end := int64(100 * minute)
	timeout := int64(30 * minute)
	mk := func(id string, last int64, cart, bought, invited bool, inviteAt int64, score float64) *session {
		s := &session{ID: id, Start: 0, Last: last, ReachedCart: cart, Purchased: bought, TimeoutMs: timeout,
			Invited: invited, InviteAt: inviteAt, Score: score}
		s.maxSpan3 = last // every session saw three pages at once
		return s
	}
	sessions := map[string]*session{
		"a1": mk("a1", 10*minute, true, false, true, 9*minute, 0.9),      // abandoned, invited 60 s before leaving
		"a2": mk("a2", 20*minute, true, false, false, 0, 0.6),            // abandoned, missed
		"p1": mk("p1", 30*minute, true, true, true, 30*minute+1000, 0.8), // bought; invited after its last event
		"b1": mk("b1", 40*minute, false, false, false, 0, 0.1),           // browsed
		"c1": mk("c1", 90*minute, true, false, true, 89*minute, 0.95),    // censored: could come back
		"b2": mk("b2", 50*minute, false, false, false, 0, math.NaN()),    // never eligible
	}
	res := &Result{sessions: sessions, end: end, config: scoring.DefaultConfig(),
		Decisions: []*schemas.Decision{{Action: schemas.ActionInvite, Reason: schemas.ReasonAbandonment, Signals: []schemas.Signal{{Name: "exit_intent"}}}}}
	rep := res.Report("hand-made")
	want := map[string]int{"abandoned": 2, "purchase": 1, "browse": 2, "censored": 1}
	for k, v := range want {
		if rep.SessionsByOutcome[k] != v {
			t.Errorf("%s: %d sessions, want %d", k, rep.SessionsByOutcome[k], v)
		}
	}
	check := func(name string, e outcomes.Estimate, value float64, n int) {
		t.Helper()
		if math.Abs(e.Value-value) > 1e-9 || e.N != n || !(e.Lo <= e.Value && e.Value <= e.Hi) {
			t.Errorf("%s = %+v, want %v over %d, inside its interval", name, e, value, n)
		}
	}
	check("invite rate", rep.InviteRate, 2.0/5, 5) // a1, p1 of the five known
	check("precision", rep.Precision, 1.0/2, 2)    // a1 of a1, p1
	check("recall", rep.Recall, 1.0/2, 2)          // a1 of a1, a2
	// Lead times: a1 60 s; p1 invited after it left, 0.
	check("lead p50", rep.LeadTime.P50, 0, 2)
	check("lead p90", rep.LeadTime.P90, 60, 2)
	// AUC: abandoned a1 (0.9), a2 (0.6) against p1 (0.8), b1 (0.1), b2 (0):
	// of the 6 pairs, a1 wins 3, a2 wins 2.
	check("AUC", rep.AUC, 5.0/6, 5)
	if len(rep.Signals) != 1 || rep.Signals[0].Name != "exit_intent" || rep.Invites.Total != 1 {
		t.Errorf("signals %+v, invites %+v", rep.Signals, rep.Invites)
	}
	// The time-on-site rule at linger's invite rate invites the two known
	// sessions that stayed longest: b2 (50 min) and b1 (40 min).
	var matched *baseline
	for i := range rep.Baselines {
		if rep.Baselines[i].Name == "time on site and pages, at linger's invite rate" {
			matched = &rep.Baselines[i]
		}
	}
	if matched == nil || matched.Invites != 2 {
		t.Fatalf("baseline at linger's invite rate: %+v", matched)
	}
	check("matched baseline precision", matched.Precision, 0, 2)
}
