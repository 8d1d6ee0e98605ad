package replay

import (
	"fmt"
	"slices"
	"time"

	"github.com/lingerhq/linger/pipeline/partition"
	"github.com/lingerhq/linger/schemas"
)

// baselineSession is what the baseline trigger rules look at in a session.
type baselineSession struct {
	pages3At   int64 // event time of the third page view; 0 if none
	maxSpan3   int64 // longest time on site at an event with three or more page views, ms
	cartVisits []cartVisit
}

// cartVisit is one stay on a cart page: when it began, and the longest time
// on it an event showed.
type cartVisit struct {
	since, maxDwell int64
}

func (b *baselineSession) observe(o *partition.Observation) {
	st := o.State
	if st.PageViews >= 3 {
		if b.pages3At == 0 {
			b.pages3At = o.At
		}
		b.maxSpan3 = max(b.maxSpan3, o.At-st.Start)
	}
	if schemas.PageKind(st.Kind) == schemas.KindCart && st.PageSince > 0 {
		if n := len(b.cartVisits); n == 0 || b.cartVisits[n-1].since != st.PageSince {
			b.cartVisits = append(b.cartVisits, cartVisit{since: st.PageSince})
		}
		v := &b.cartVisits[len(b.cartVisits)-1]
		v.maxDwell = max(v.maxDwell, o.At-st.PageSince)
	}
}

// rule is a trigger rule of the kind chat products ship by default: one
// number per session (its score) against a time threshold, and the moment
// the rule fires.
type rule struct {
	name     string
	describe func(threshold time.Duration) string
	// dflt is the product's default threshold.
	dflt time.Duration
	// score is the session's number: the rule fires iff score > threshold.
	score func(s *session) int64
	// firesAt is when the rule fires at threshold, given it fires.
	firesAt func(s *session, threshold int64) int64
}

var rules = []rule{
	{
		name: "time on site and pages",
		describe: func(t time.Duration) string {
			return fmt.Sprintf("time on site > %s and at least 3 pages", humanDuration(t))
		},
		dflt:    30 * time.Second,
		score:   func(s *session) int64 { return s.maxSpan3 },
		firesAt: func(s *session, t int64) int64 { return max(s.Start+t+1, s.pages3At) },
	},
	{
		name:     "time on cart page",
		describe: func(t time.Duration) string { return fmt.Sprintf("time on a cart page > %s", humanDuration(t)) },
		dflt:     20 * time.Second,
		score: func(s *session) int64 {
			var m int64
			for _, v := range s.cartVisits {
				m = max(m, v.maxDwell)
			}
			return m
		},
		firesAt: func(s *session, t int64) int64 {
			for _, v := range s.cartVisits {
				if v.maxDwell > t {
					return v.since + t + 1
				}
			}
			return 0
		},
	},
}

// baselines evaluates every rule on the sessions with a known outcome, at
// its default threshold and at the threshold that invites as many sessions
// as linger did.
func baselines(known []*session, end int64, invited int) []baseline {
	var out []baseline
	for _, r := range rules {
		scores := make([]int64, len(known))
		for i, s := range known {
			scores[i] = r.score(s)
		}
		eval := func(name string, t int64) baseline {
			n := 0
			q := measure(known, end,
				func(s *session) (bool, int64) {
					if r.score(s) > t {
						n++
						return true, r.firesAt(s, t)
					}
					return false, 0
				},
				func(s *session) float64 { return float64(r.score(s)) })
			return baseline{Name: name, Rule: r.describe(time.Duration(t) * time.Millisecond), Invites: n, Quality: q}
		}
		out = append(out, eval(r.name, r.dflt.Milliseconds()))
		if t, ok := matchRate(scores, invited); ok {
			out = append(out, eval(r.name+", at linger's invite rate", shownMs(t)))
		}
	}
	return out
}

// shownMs rounds a threshold of ms down to what humanDuration shows of it, so
// that the rule a report prints is the rule it evaluated: "> 3m20s", not
// "> 3m20.758s" said and something else measured.
func shownMs(t int64) int64 {
	unit := int64(1)
	switch {
	case t >= time.Hour.Milliseconds():
		unit = time.Minute.Milliseconds()
	case t >= 10*time.Second.Milliseconds():
		unit = time.Second.Milliseconds()
	case t >= time.Second.Milliseconds():
		unit = 100
	}
	return t - t%unit
}

// matchRate returns the threshold at which exactly k of the scores are above
// it (as near as ties allow), and false when no threshold invites anyone.
func matchRate(scores []int64, k int) (int64, bool) {
	if k <= 0 || len(scores) == 0 {
		return 0, false
	}
	s := slices.Clone(scores)
	slices.Sort(s)
	slices.Reverse(s)
	if k >= len(s) {
		return s[len(s)-1] - 1, true
	}
	if s[k-1] <= 0 {
		return 0, false
	}
	return s[k], true
}
