package partition

import (
	"github.com/lingerhq/linger/scoring"
)

// Counts is what one batch of a partition counted, handed up by Commit so
// that the Kafka layer can turn it into metrics and a replay into a report.
// An aborted batch's counts are dropped with it: its records come again.
// Arrays are indexed by the enum they count (schemas.Type, schemas.Problem,
// schemas.Reason, scoring.Outcome, schemas.FeedbackType).
type Counts struct {
	Events     [16]uint64 // events read, by type (TypeUnknown: types this release skips)
	DLQ        [16]uint64 // records bound for the DLQ, by problem
	Suppressed [16]uint64 // would-be invites the policy held back, by outcome
	Feedback   [16]uint64 // feedback records, by type (FeedbackUnknown: types this release skips)

	Invites, Holdout, Withdrawals [3]uint64 // decisions, by reason

	Late            uint64 // events older than the watermark allowed
	Lost            uint64 // sessions missing from the store before their timeout
	Corrupt         uint64 // states in the store that did not decode
	Collisions      uint64 // sessions started over on a 64-bit key hash collision
	IndexDropped    uint64 // sessions not tracked for loss detection: the index was full
	TimersDropped   uint64 // timers not armed: the timer index was full
	Expired         uint64 // sessions ended by inactivity
	Silence         uint64 // silence timers that checked on a quiet session
	Rearmed         uint64 // timers that found their deadline moved later
	FeedbackUnknown uint64 // feedback about a session the partition does not hold
	TimerErrors     uint64 // timers dropped because handling them panicked
	FeedbackForeign uint64 // feedback naming an invite its session was never sent
	FeedbackRepeat  uint64 // feedback of a type already applied to its invite
	TalliesDropped  uint64 // would-be invites not tallied: the table was full

	// Scores holds the batch's scores, abandonment then confusion (the
	// order of schemas.Reasons), bucketed by ScoreBuckets.
	Scores [2]ScoreCounts

	// Latencies are the seconds from each decision's event time to the
	// decision, for decisions an event triggered; TimerLatencies for those
	// a timer triggered (about the allowed lateness by design).
	Latencies, TimerLatencies []float64
	// EventTimes and TimerEventTimes are the event times of the same
	// decisions, Unix ms, for the latency to their publication, which only
	// the caller knows.
	EventTimes, TimerEventTimes []int64

	// Teams holds, per site and team, the invites the chat front-ends
	// reported shown and accepted (each once per invite; see
	// scoring.Engine.Feedback), labelled as scoring.Config.Labels says.
	Teams TeamTable

	// Now is the wall clock at the batch's Begin, Unix ms.
	Now int64
	// BudgetChanged says the partition's budget (its bands and team
	// buckets, Processor.Budget) changed in the batch.
	BudgetChanged bool
}

// ScoreBuckets are the upper bounds of the score histogram's buckets
// (0.05 to 1 in steps of 0.05); a last bucket above them holds the rest.
var ScoreBuckets = func() []float64 {
	b := make([]float64, 20)
	for i := range b {
		b[i] = float64(i+1) * 0.05
	}
	return b
}()

// scoreBucket is the index of the first of ScoreBuckets ≥ v (the length
// if none is), as sort.SearchFloat64s finds it, without its binary search
// and the calls of its comparison: the bounds step by 0.05, so v·20 is the
// index, or one off where the product rounds; the walks make it exact
// whatever the bounds. Two scores an event are counted.
func scoreBucket(v float64) int {
	b := ScoreBuckets
	if v != v {
		return len(b) // NaN: no bound is ≥ it
	}
	i := int(min(max(v*20, 0), float64(len(b))))
	for i > 0 && b[i-1] >= v {
		i--
	}
	for i < len(b) && b[i] < v {
		i++
	}
	return i
}

// ScoreCounts is a histogram of scores: per bucket (not cumulative, the last
// one above every bound of ScoreBuckets), their number and sum.
type ScoreCounts struct {
	Buckets [21]uint64
	Count   uint64
	Sum     float64
}

// Observe counts v in the first bucket whose upper bound is ≥ v, as the
// Prometheus client does.
func (h *ScoreCounts) Observe(v float64) {
	h.Buckets[scoreBucket(v)]++
	h.Count++
	h.Sum += v
}

// Add adds o's counts to c (the latencies are left out: they are per batch).
func (c *Counts) Add(o *Counts) {
	for i := range c.Events {
		c.Events[i] += o.Events[i]
		c.DLQ[i] += o.DLQ[i]
		c.Suppressed[i] += o.Suppressed[i]
	}
	for i := range c.Feedback {
		c.Feedback[i] += o.Feedback[i]
	}
	for i := range c.Invites {
		c.Invites[i] += o.Invites[i]
		c.Holdout[i] += o.Holdout[i]
		c.Withdrawals[i] += o.Withdrawals[i]
	}
	c.Late += o.Late
	c.Lost += o.Lost
	c.Corrupt += o.Corrupt
	c.Collisions += o.Collisions
	c.IndexDropped += o.IndexDropped
	c.TimersDropped += o.TimersDropped
	c.Expired += o.Expired
	c.Silence += o.Silence
	c.Rearmed += o.Rearmed
	c.FeedbackUnknown += o.FeedbackUnknown
	c.TimerErrors += o.TimerErrors
	c.FeedbackForeign += o.FeedbackForeign
	c.FeedbackRepeat += o.FeedbackRepeat
	c.TalliesDropped += o.TalliesDropped
	for i := range c.Scores {
		s, x := &c.Scores[i], &o.Scores[i]
		for j := range s.Buckets {
			s.Buckets[j] += x.Buckets[j]
		}
		s.Count += x.Count
		s.Sum += x.Sum
	}
	for _, r := range o.Teams.Rows() {
		c.Teams.Add(r.Site, r.Team, r.Shown, r.Accepted)
	}
	c.Now = max(c.Now, o.Now)
	c.BudgetChanged = c.BudgetChanged || o.BudgetChanged
}

// MaxTeamRows bounds the rows of a TeamTable.
const MaxTeamRows = 32

// TeamCounts are the invites of one site and team reported shown and
// accepted.
type TeamCounts struct {
	Site, Team      string
	Shown, Accepted uint64
}

// TeamTable holds TeamCounts by site and team in a fixed array, so that
// counting allocates nothing and a table's size does not grow with what
// records say: beyond MaxTeamRows−1 pairs, the counts go to one row of
// site and team scoring.LabelOther. Labels come from the scoring config
// (scoring.Config.Labels), which bounds them already; the overflow row
// only matters for a batch (or, in Totals, a run) that sees more pairs
// than that.
type TeamTable struct {
	rows [MaxTeamRows]TeamCounts
	n    int
}

// Add counts shown and accepted invites for site and team.
func (t *TeamTable) Add(site, team string, shown, accepted uint64) {
	r := t.row(site, team)
	if r == nil {
		if t.n < MaxTeamRows-1 {
			t.rows[t.n] = TeamCounts{Site: site, Team: team}
			r = &t.rows[t.n]
			t.n++
		} else if r = t.row(scoring.LabelOther, scoring.LabelOther); r == nil {
			t.rows[t.n] = TeamCounts{Site: scoring.LabelOther, Team: scoring.LabelOther}
			r = &t.rows[t.n]
			t.n++
		}
	}
	r.Shown += shown
	r.Accepted += accepted
}

func (t *TeamTable) row(site, team string) *TeamCounts {
	for i := range t.rows[:t.n] {
		if r := &t.rows[i]; r.Site == site && r.Team == team {
			return r
		}
	}
	return nil
}

// Rows returns the table's rows, in the order first counted; valid until
// the table changes.
func (t *TeamTable) Rows() []TeamCounts { return t.rows[:t.n] }

// reset clears c for the next batch, keeping the latency slices' memory.
func (c *Counts) reset() {
	lat, tlat, ets, tets := c.Latencies[:0], c.TimerLatencies[:0], c.EventTimes[:0], c.TimerEventTimes[:0]
	*c = Counts{Latencies: lat, TimerLatencies: tlat, EventTimes: ets, TimerEventTimes: tets}
}

// SuppressedBy returns the would-be invites held back by each policy rule
// that held any back, by the rule's name (scoring.Outcome's String).
func (c *Counts) SuppressedBy() map[string]uint64 {
	out := map[string]uint64{}
	for o := scoring.SuppressedBot; o.Suppressed(); o++ {
		if n := c.Suppressed[o]; n > 0 {
			out[o.String()] = n
		}
	}
	return out
}

// EventsRead returns the events counted, of every type.
func (c *Counts) EventsRead() uint64 {
	var n uint64
	for _, v := range c.Events {
		n += v
	}
	return n
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}
