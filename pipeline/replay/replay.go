// Package replay runs recorded traffic through the code `linger run` runs,
// without Kafka, and measures what the decisions would have achieved: the
// data engineer's loop of `linger replay`, `--sweep` and `linger train`.
//
// Records go to the partition a Kafka producer would put them on (murmur2
// of the key, like franz-go and Java clients), each partition to its own
// partition.Processor, in event-time order, so watermarks and timers behave
// as in a live run; at the end of the input, event time advances past every
// pending deadline, as a live run eventually would. When the input holds
// the chat platform's feedback, the report also measures what the replayed
// invites achieved, with package outcomes, as `linger report` does live.
package replay

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/lingerhq/linger/pipeline/outcomes"
	"github.com/lingerhq/linger/pipeline/partition"
	"github.com/lingerhq/linger/schemas"
	"github.com/lingerhq/linger/scoring"
)

// Options configures a replay.
type Options struct {
	// Config is the scoring config. Default: scoring.DefaultConfig().
	Config *scoring.Config
	// Partitions is the number of partitions of the events topic the
	// replay stands for: watermarks are per partition, so this matters for
	// timers. Default: 16.
	Partitions int
	// NoDrain leaves pending deadlines at the end of the input unfired, as a
	// live run does until more events or wall time come.
	NoDrain bool
	// Decisions, if set, receives every decision as a JSON line, in event
	// time order.
	Decisions io.Writer
	// observe, if set, sees every scored moment (Train). It is called
	// from one goroutine per partition at once.
	observe func(*partition.Observation)
	// Progress, if set, is called now and then with records done and in all.
	Progress func(done, total int)
}

// cacheBytes bounds the session state of a replay, over all its
// partitions, as --cache-bytes bounds a replica's.
const cacheBytes = 512 << 20

// batchSize is the records a processor takes per batch: large enough to
// amortise the batch's work, small enough to bound its table's memory.
const batchSize = 5000

// Result is what a replay produced: its decisions, in event-time order,
// the events it read, and what it knows of each session for its Report.
type Result struct {
	Decisions []*schemas.Decision
	// Events counts the events read and processed; rejected the records
	// refused (what run would send to the DLQ).
	Events   int
	sessions map[string]*session
	rejected int
	// firstRejected are the earliest records refused (by input order),
	// with why, at most maxRejectExamples.
	firstRejected []rejection
	// capacityRecords are the input's chat-capacity records the replay
	// decided with (capacityRejected the ones it could not read).
	capacityRecords, capacityRejected int
	// start and end are the oldest and newest event time of the input's
	// sessions (records refused leave them be: a bad timestamp must not
	// make every session look finished).
	start, end int64
	config     *scoring.Config
	// tally counts the decisions with the input's feedback records and
	// its events, nil when it has no feedback; suppressed counts the
	// would-be invites the policy held back, by cause.
	tally      *outcomes.Tally
	suppressed map[string]int64
}

// session is what a replay learned of one session.
type session struct {
	ID           string
	Start, Last  int64 // first and newest event time
	ReachedCart  bool  // a cart or checkout page, a cart addition or a checkout step
	Purchased    bool
	PurchasedAt  int64
	TimeoutMs    int64
	Invited      bool
	InviteAt     int64
	InviteReason schemas.Reason
	Score        float64 // highest abandonment score at a moment the policy would invite, before buying
	ConfScore    float64 // the same for the confusion score
	Signals      []string
	// Eligible: at some moment the policy would have invited the session,
	// whatever its scores (rate_band counts the invite share over these);
	// held is what the policy said at its latest moment while it was not.
	Eligible bool
	held     scoring.Outcome
	// invitedFor has bit 1<<reason set for each reason the session was
	// invited for (holdout included, as the rate band counts).
	invitedFor      uint8
	baselineSession // what the trigger rules look at
}

// Outcome names how a session ended, given the input's last event time.
func (s *session) Outcome(end int64) string {
	switch {
	case s.Purchased:
		return "purchase"
	case s.Last+s.TimeoutMs > end:
		// The timeout could not pass before the input ended: the
		// visitor may have come back and bought.
		return "censored"
	case s.ReachedCart:
		return "abandoned"
	}
	return "browse"
}

// Run replays recs, which must be in event-time order (Read returns them so).
func Run(recs []Record, o Options) (*Result, error) {
	if o.Config == nil {
		o.Config = scoring.DefaultConfig()
	}
	if o.Partitions <= 0 {
		o.Partitions = 16
	}
	res := &Result{sessions: map[string]*session{}, config: o.Config, suppressed: map[string]int64{}}
	feedback := 0
	for i := range recs {
		if recs[i].feedback {
			feedback++
		}
	}
	if feedback > 0 {
		res.tally = outcomes.NewTally()
		res.tally.SetOptions(outcomes.Options{Band: outcomes.ConfigBand(o.Config)})
	}

	// Split by partition, keeping the order within each. Feedback records
	// go to the outcomes tally, with the events.
	parts := make([][]int, o.Partitions)
	var capacity *scoring.CapacityTable
	var capDec schemas.CapacityDecoder
	var c schemas.Capacity
	for i := range recs {
		if recs[i].capacity {
			// All of them up front: the table answers by event time, so a
			// decision sees the record of its moment, as live.
			if capacity == nil {
				capacity = scoring.NewCapacityTable(scoring.CapacityTableOptions{History: 100 * 365 * 24 * time.Hour, PerKey: 1 << 20})
			}
			if capDec.Decode(recs[i].Key, recs[i].Value, math.MaxInt64/2, &c) == nil {
				capacity.Put(&c)
				res.capacityRecords++
				if res.tally != nil {
					// The staffing table's agents on shift and handling times.
					res.tally.AddCapacity(&c)
				}
			} else {
				res.capacityRejected++
			}
			continue
		}
		if res.tally != nil {
			if recs[i].feedback {
				res.tally.AddRecord(outcomes.FeedbackRecord, recs[i].Key, recs[i].Value)
				continue
			}
			res.tally.AddRecord(outcomes.EventRecord, recs[i].Key, recs[i].Value)
		}
		p := 0
		if len(recs[i].Key) > 0 {
			p = keyPartition(recs[i].Key, o.Partitions)
		}
		parts[p] = append(parts[p], i)
	}

	store := partition.NewStore(cacheBytes)
	type partResult struct {
		decisions  []*schemas.Decision
		sessions   map[string]*session
		rejected   int
		first      []rejection
		suppressed map[string]int64
		tallies    map[string][]byte // the engine's tally records: the last of each key
	}
	results := make([]partResult, o.Partitions)
	var done int64
	var progressMu sync.Mutex
	var wg sync.WaitGroup
	// Partitions are independent: run them side by side, as replicas'
	// workers would. The observer and the session table are per partition.
	sem := make(chan struct{}, 4)
	for p := range o.Partitions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			pr := partResult{sessions: map[string]*session{}, suppressed: map[string]int64{}, tallies: map[string][]byte{}}
			tr := tracker{sessions: pr.sessions, suppressed: pr.suppressed, observe: o.observe}
			// Each partition spends its share of the chat teams' budgets,
			// as a live one does. The frequency cap across sessions is
			// per partition here: partitions run side by side, in no
			// order a live run would share, so a table common to them
			// would make the replay depend on goroutine scheduling.
			proc := partition.New(int32(p), partition.Config{
				Epoch: uint32(p + 1), Store: store, Scoring: o.Config, Observe: tr.observe1,
				Partitions: o.Partitions, Visitors: scoring.NewVisitorCaps(0), Capacity: capacity,
			})
			collect := func(out *partition.Output) {
				for i := range out.Decisions() {
					_, v := out.Decision(i)
					d, err := schemas.ParseDecision(v)
					if err != nil {
						panic("BUG: the processor wrote a decision it cannot read: " + err.Error())
					}
					// A replay has no wall clock to speak of: a decision is
					// stamped with its event time.
					d.DecidedAt = d.EventTS
					pr.decisions = append(pr.decisions, d)
				}
				// The partition's hourly tallies, as a live replica writes
				// them to linger-tallies: the last record of a key is the
				// hour's.
				for i := range out.TallyRecords() {
					k, v := out.TallyRecord(i)
					pr.tallies[string(k)] = append([]byte(nil), v...)
				}
				for _, rj := range out.Rejected() {
					pr.rejected++
					if len(pr.first) < maxRejectExamples {
						pr.first = append(pr.first, rejection{index: int(rj.Offset), detail: rj.Detail})
					}
				}
			}
			idx := parts[p]
			batch := make([]partition.Record, 0, min(batchSize, len(idx)))
			for i := 0; i < len(idx); i += batchSize {
				batch = batch[:0]
				for _, j := range idx[i:min(i+batchSize, len(idx))] {
					batch = append(batch, partition.Record{Key: recs[j].Key, Value: recs[j].Value, Offset: int64(j)})
				}
				collect(proc.Batch(nil, batch))
				proc.Commit()
				if o.Progress != nil {
					progressMu.Lock()
					done += int64(len(batch))
					o.Progress(int(done), len(recs)-feedback)
					progressMu.Unlock()
				}
			}
			if !o.NoDrain {
				proc.Begin()
				proc.AdvanceTo(math.MaxInt64)
				collect(proc.End())
				proc.Commit()
			}
			proc.Close()
			results[p] = pr
		}()
	}
	wg.Wait()

	for _, pr := range results {
		res.Decisions = append(res.Decisions, pr.decisions...)
		res.rejected += pr.rejected
		res.firstRejected = append(res.firstRejected, pr.first...)
		for id, s := range pr.sessions {
			res.sessions[id] = s
		}
		for cause, n := range pr.suppressed {
			res.suppressed[cause] += n
		}
		if res.tally != nil {
			addHourTallies(res.tally, pr.tallies)
		}
	}
	if res.tally != nil {
		res.tally.TalliesFrom(outcomes.SuppressedByReplay)
	}
	first := true
	for _, s := range res.sessions {
		if first || s.Start < res.start {
			res.start = s.Start
		}
		res.end, first = max(res.end, s.Last), false
	}
	res.Events = len(recs) - feedback - res.capacityRecords - res.capacityRejected - res.rejected
	slices.SortFunc(res.firstRejected, func(a, b rejection) int { return a.index - b.index })
	for i := range res.firstRejected {
		res.firstRejected[i].line = recs[res.firstRejected[i].index].line
	}
	res.firstRejected = res.firstRejected[:min(len(res.firstRejected), maxRejectExamples)]
	slices.SortStableFunc(res.Decisions, func(a, b *schemas.Decision) int {
		if a.EventTS != b.EventTS {
			return cmpInt(a.EventTS, b.EventTS)
		}
		return bytes.Compare(a.ID, b.ID)
	})
	for _, d := range res.Decisions {
		s := res.sessions[string(d.Session)]
		if s == nil || d.Action != schemas.ActionInvite {
			continue
		}
		s.invitedFor |= 1 << d.Reason
		if s.Invited {
			continue
		}
		s.Invited, s.InviteAt, s.InviteReason = true, d.EventTS, d.Reason
		for _, sig := range d.Signals {
			s.Signals = append(s.Signals, sig.Name)
		}
	}
	if res.tally != nil {
		for _, d := range res.Decisions {
			res.tally.AddDecision(d)
		}
	}
	if o.Decisions != nil {
		var buf []byte
		for _, d := range res.Decisions {
			buf = append(schemas.AppendDecision(buf[:0], d), '\n')
			if _, err := o.Decisions.Write(buf); err != nil {
				return nil, fmt.Errorf("write decisions: %w", err)
			}
		}
	}
	return res, nil
}

// eligibleMoment returns OutcomeInvite when the policy would let the
// session be invited at the observed moment, whatever its scores and
// whatever invites it had: at another threshold an earlier invite might not
// have been made, and its cap and cooldown would not hold this moment back.
// Otherwise it returns the rule that holds the session back.
func eligibleMoment(o *partition.Observation) scoring.Outcome {
	if o.Decision != nil && o.Decision.Action == schemas.ActionInvite || o.Outcome == scoring.OutcomeInvite {
		return scoring.OutcomeInvite
	}
	st := *o.State
	st.Invites, st.InviteAt = 0, 0
	return scoring.Policy(&st, o.At, o.Settings)
}

func cmpInt(a, b int64) int {
	if a < b {
		return -1
	}
	return 1
}

// tracker follows the sessions of one partition through the processor's
// observations.
type tracker struct {
	sessions   map[string]*session
	suppressed map[string]int64 // by cause, as linger_suppressed_total
	observe    func(*partition.Observation)
}

// addHourTallies hands a partition's hourly tally records to the
// outcomes tally.
func addHourTallies(t *outcomes.Tally, records map[string][]byte) {
	var dec schemas.HourTallyDecoder
	var h schemas.HourTally
	for _, k := range slices.Sorted(maps.Keys(records)) {
		if dec.Decode([]byte(k), records[k], 0, &h) != nil {
			panic("BUG: the engine wrote a tally it cannot read: " + string(records[k]))
		}
		t.AddHourTally(&h)
	}
}

func (t *tracker) observe1(o *partition.Observation) {
	if t.observe != nil {
		t.observe(o)
	}
	if o.Outcome.Suppressed() {
		t.suppressed[o.Outcome.String()]++
	}
	st := o.State
	s := t.sessions[string(st.Session)]
	if s == nil {
		s = &session{ID: string(st.Session), Start: st.Start, Score: math.NaN(), ConfScore: math.NaN()}
		t.sessions[s.ID] = s
	}
	if o.Type == schemas.TypeUnknown {
		// A timer: its moment scores, but is not the visitor's doing.
		t.score(s, o)
		return
	}
	s.Last = max(s.Last, o.At)
	s.TimeoutMs = o.Settings.SessionTimeoutMs
	kind := schemas.PageKind(st.Kind)
	if kind == schemas.KindCart || kind == schemas.KindCheckout || st.CartItems > 0 || st.CheckoutStep > 0 {
		s.ReachedCart = true
	}
	if o.Type == schemas.TypePurchase && !s.Purchased {
		s.Purchased, s.PurchasedAt = true, o.At
	}
	t.score(s, o)
	s.baselineSession.observe(o)
}

// score keeps the session's highest scores at a moment the policy would have
// let it be invited (or that invited it), before it bought: the scores a
// threshold acts on. Such a moment makes the session eligible.
func (t *tracker) score(s *session, o *partition.Observation) {
	if p := eligibleMoment(o); p != scoring.OutcomeInvite {
		if !s.Eligible {
			s.held = p
		}
		return
	}
	s.Eligible = true
	if s.Purchased {
		return
	}
	if math.IsNaN(s.Score) || o.Scores.Abandonment > s.Score {
		s.Score = o.Scores.Abandonment
	}
	if math.IsNaN(s.ConfScore) || o.Scores.Confusion > s.ConfScore {
		s.ConfScore = o.Scores.Confusion
	}
}
