package partition

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime/debug"

	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/lingerhq/linger/schemas"
	"github.com/lingerhq/linger/scoring"
)

// Processor turns the records of one partition into decisions, DLQ records
// and state changes, one batch at a time: Begin, Process each record in
// offset order (and Tick when the partition is idle), End, then Commit once
// the batch's output is durably published, or Abort if it is not. It owns
// the partition's sessions, event time and timers while it lives (one
// worker, one Processor), and allocates nothing per event in steady state.
//
// Event time: the watermark trails the newest event time by the allowed
// lateness, never ahead of the wall clock + 1 min. Before each event, every
// timer at or below the watermark fires, in (time, session hash) order, so
// where timers fire in the stream depends on the events alone, not on how
// they were batched: the same events give the same decisions.
//
// State is written behind: a batch keeps every session it touches in a
// table, End encodes them into the output (the changelog records), and only
// Commit writes them to the Store, once per session per batch. fastcache
// appends on every Set, so writing per event would shorten the cache's
// horizon by the batch size; and an aborted batch leaves nothing to undo in
// the cache.
type Processor struct {
	partition int32
	prefix    [4]byte // store key prefix: this assignment's epoch
	store     *Store
	engine    *scoring.Engine
	cfg       *scoring.Config
	now       func() time.Time
	counts    Counts // the batch's, handed up by Commit
	total     Counts // every committed batch's
	lateness  int64  // ms
	wallClock bool   // Tick may advance the watermark by wall time
	observe   func(*Observation)
	obs       Observation

	dec  schemas.Decoder
	ev   schemas.Event
	d    schemas.Decision
	fdec schemas.FeedbackDecoder
	fb   schemas.Feedback

	nowMs int64 // the clock at Begin, for the future-ts check and the cap

	// Event time of the partition, and its value at the last Commit.
	maxTS, watermark   int64
	cMaxTS, cWatermark int64
	lastRecv           int64 // wall ms of the last record received
	caughtUp           bool  // nothing left to fetch, as of the last fetch
	timers             timerHeap
	popped             []timer // timers popped this batch, pushed back on Abort
	metaDirty          bool
	restored           int

	slots []slot
	n     int              // slots in use this span
	table map[uint64]int32 // key hash → slot, of the sessions not hot
	span  uint32           // this span's number, for hotEntry.span; never 0

	// hot holds the committed states of the partition's active sessions,
	// in front of the store (hot.go).
	hot     hotTable
	touched byte // what prefetch read, so that the compiler keeps the reads
	// runHash holds the key hashes of the run prefetch read ahead.
	runHash [prefetchRun]uint64

	// alive maps a session hash to the event time its state expires,
	// rounded up to the minute, so a cache miss for a session that should
	// still be there is counted as lost (the cache is too small) rather
	// than taken for a new session.
	alive   map[uint64]int64
	sweepAt int

	buf []byte // state read from the store
	key []byte
	out Output

	// budget is the partition's share of the chat teams' capacity and its
	// invite-rate bands: partition state like its event time, written with
	// it to the changelog; cBudget is its encoding as of the last Commit,
	// which an Abort goes back to.
	budget     *scoring.Budget
	cBudget    []byte
	capacity   *scoring.CapacityTable
	visitors   *scoring.VisitorCaps
	partitions int
	capped     []int64 // the event times of out.visitors' invites, for Abort

	// The span: batches since the last Commit or Abort. out holds every
	// batch's output (arena and lists grow, so what an earlier batch
	// returned stays valid until the span ends); mark is where this
	// batch's began, view what End returns.
	// tallies are the partition's hourly tallies (tallies.go); tally1 the
	// record being written.
	tallies tallyTable
	tally1  schemas.HourTally

	inSpan        bool
	mark          outputMark
	view          Output
	metaAt        int  // index in out.state of the span's last partition record, or -1
	budgetTouched bool // the span changed the budget (its partition record is at metaAt)
}

type slot struct {
	hash     uint64
	st       scoring.State
	stored   bool  // fastcache may hold a copy of the session (or an older one)
	deleted  bool  // expired in this batch: tombstone it
	expiry   int64 // the loss index's minute when loaded
	val      span  // the encoded state in the output arena, after End
	noEncode bool  // left as it was in this batch: nothing to write at End
	dirty    bool  // in the changelog of this span (val, or a tombstone): for Commit
	inTable  bool  // found through table, not through its hot entry
	hot      int32 // the hot entry it was loaded from, or -1 (hotTable.holds)
}

// Config is what a Processor needs besides its partition.
type Config struct {
	// Epoch prefixes the partition's store keys (see Store.NextEpoch).
	Epoch uint32
	Store *Store
	// Scoring is the scoring config. Default: scoring.DefaultConfig().
	Scoring *scoring.Config
	// Now is the wall clock. Default: time.Now.
	Now func() time.Time
	// WallClockAdvance lets Tick advance the watermark of a caught-up, idle
	// partition by the wall time since its last record, so quiet partitions
	// still fire timers. Strictly deterministic runs turn it off.
	WallClockAdvance bool
	// Observe, if set, is called after every scored moment (an event or a
	// timer), for backtests and training; nil in production.
	Observe func(*Observation)
	// Partitions is the events topic's partition count: each partition
	// spends 1/Partitions of a chat team's capacity. Default: 1.
	Partitions int
	// Capacity is the replica's chat-capacity table, shared by its
	// partitions; nil: no capacity data (the static budgets apply).
	Capacity *scoring.CapacityTable
	// Visitors is the replica's per-visitor frequency-cap table, shared by
	// its partitions; nil: no cap across sessions.
	Visitors *scoring.VisitorCaps
}

// Observation is one scored moment of a session, for Config.Observe.
// Its pointers are valid during the call only.
type Observation struct {
	// At is the moment's event time; Type the event's type, TypeUnknown
	// for a timer.
	At   int64
	Type schemas.Type
	// State is the session's state after the moment was applied and
	// decided.
	State *scoring.State
	// Scores, Outcome and Features are the engine's for this moment;
	// Features in natural units, indexed like scoring.Signals().
	Scores   schemas.Scores
	Outcome  scoring.Outcome
	Features *scoring.Vector
	// Decision is the decision the moment made, or nil.
	Decision *schemas.Decision
	// Team is the team of the moment's invite, would-be invite or
	// withdraw (scoring.Engine.Team), nil if it had none.
	Team []byte
	// Settings are the settings of the session's site.
	Settings *scoring.Settings
}

// New returns a processor for one partition.
func New(partition int32, cfg Config) *Processor {
	if cfg.Scoring == nil {
		cfg.Scoring = scoring.DefaultConfig()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Store == nil {
		cfg.Store = NewStore(0)
	}
	p := &Processor{
		partition:  partition,
		store:      cfg.Store,
		budget:     scoring.NewBudget(max(cfg.Partitions, 1)),
		capacity:   cfg.Capacity,
		visitors:   cfg.Visitors,
		partitions: max(cfg.Partitions, 1),
		cfg:        cfg.Scoring,
		now:        cfg.Now,
		lateness:   cfg.Scoring.For(nil).AllowedLatenessMs,
		wallClock:  cfg.WallClockAdvance,
		observe:    cfg.Observe,
		table:      make(map[uint64]int32),
		span:       1,
		hot:        newHotTable(),
		alive:      make(map[uint64]int64),
		sweepAt:    4096,
	}
	p.engine = p.newEngine(cfg.Scoring)
	binary.BigEndian.PutUint32(p.prefix[:], cfg.Epoch)
	return p
}

// SetConfig makes the processor decide with cfg from its next batch on: a
// config reload takes effect between events, never within one.
func (p *Processor) SetConfig(cfg *scoring.Config) {
	p.cfg = cfg
	p.engine.SetConfig(cfg)
	p.lateness = cfg.For(nil).AllowedLatenessMs
}

// newEngine returns an engine deciding with cfg over the partition's
// budget and the replica's shared tables.
func (p *Processor) newEngine(cfg *scoring.Config) *scoring.Engine {
	opts := []scoring.EngineOption{scoring.WithBudget(p.budget)}
	if p.capacity != nil {
		opts = append(opts, scoring.WithCapacity(p.capacity))
	}
	if p.visitors != nil {
		opts = append(opts, scoring.WithVisitorCaps(p.visitors))
	}
	return scoring.NewEngine(cfg, opts...)
}

// Begin starts a batch. Batches until the next Commit or Abort form a span:
// a later batch sees the state an earlier one changed, Commit makes them all
// durable at once and Abort forgets them all (the records of every batch of
// the span are processed again). A Kafka transaction that spans several
// polls is one span.
func (p *Processor) Begin() {
	p.nowMs = p.now().UnixMilli()
	if !p.inSpan {
		// The first batch since the last Commit or Abort: its output and
		// counts start afresh. Later batches of the span add to them.
		p.inSpan = true
		p.counts.reset()
		p.out.arena = p.out.arena[:0]
		p.out.inv = p.out.inv[:0]
		clear(p.out.dlq)
		p.out.dlq = p.out.dlq[:0]
		p.out.state = p.out.state[:0]
		p.out.visitors = p.out.visitors[:0]
		p.out.tallies = p.out.tallies[:0]
		p.capped = p.capped[:0]
		p.metaAt, p.budgetTouched = -1, false
	} else {
		// Sessions an earlier batch of the span touched are written again
		// only if this one touches them too.
		for i := range p.slots[:p.n] {
			p.slots[i].noEncode = true
		}
	}
	p.counts.Now = p.nowMs
	p.mark = outputMark{inv: len(p.out.inv), dlq: len(p.out.dlq), state: len(p.out.state), visitors: len(p.out.visitors), tallies: len(p.out.tallies)}
}

// Process handles one record of the batch. key and value must stay unchanged
// until the batch's output is consumed: DLQ records refer to them.
func (p *Processor) Process(key, value []byte, offset int64) {
	p.process(key, value, offset, xxhash.Sum64(key))
}

// process is Process with the key's hash computed already (by prefetch):
// a valid event's key is its session id, so it is the session's hash too.
func (p *Processor) process(key, value []byte, offset int64, hash uint64) {
	defer p.recoverRecord(key, value, offset, false)
	p.lastRecv = p.nowMs
	err := p.dec.Decode(key, value, p.nowMs, &p.ev)
	if err != nil {
		if errors.Is(err, schemas.ErrUnknownType) {
			p.counts.Events[schemas.TypeUnknown]++
			return
		}
		p.reject(Rejected{Key: key, Value: value, Offset: offset}, err)
		return
	}
	p.counts.Events[p.ev.Type]++
	p.apply(hash)
}

// reject sends rj, a record that did not decode with err, to the DLQ
// with the problem err names, and counts it.
func (p *Processor) reject(rj Rejected, err error) {
	rj.Problem, rj.Detail = schemas.ProblemInternal, err.Error()
	var de *schemas.DecodeError
	if errors.As(err, &de) {
		rj.Problem = de.Problem
	}
	p.counts.DLQ[rj.Problem]++
	p.out.dlq = append(p.out.dlq, rj)
}

// apply applies p.ev, a valid event, to its session, whose key hash is
// hash, and decides.
func (p *Processor) apply(hash uint64) {
	ev := &p.ev
	if ev.TS < p.maxTS-p.lateness {
		p.counts.Late++
	}
	if ev.TS > p.maxTS {
		p.maxTS = ev.TS
		p.metaDirty = true
		p.advance(min(p.maxTS-p.lateness, p.nowMs+maxWatermarkLeadMs))
	}

	sl := p.session(ev.Session, hash)
	decided := p.engine.Apply(&sl.st, ev, &p.d)
	p.count(&sl.st, ev.TS)
	if decided {
		p.emit()
	}
	if p.observe != nil {
		p.report(ev.TS, ev.Type, &sl.st, decided)
	}
	p.arm(sl)
}

// report hands one scored moment to the observer.
func (p *Processor) report(at int64, typ schemas.Type, st *scoring.State, decided bool) {
	o := &p.obs
	*o = Observation{At: at, Type: typ, State: st, Scores: p.engine.Scores(), Outcome: p.engine.Outcome(),
		Features: p.engine.Features(), Settings: p.cfg.For(st.Site), Team: p.engine.Team()}
	if decided {
		o.Decision = &p.d
	}
	p.observe(o)
}

// maxWatermarkLeadMs keeps the watermark within a minute of the wall clock,
// so one client with a wrong clock cannot expire a partition's sessions.
const maxWatermarkLeadMs = 60_000

// Feedback handles one record of the feedback topic's partition of the
// same number, before the batch's events: what the chat front-end made of
// an invite. A record about the session's latest invite that shows it was
// shown (invite_shown, or an answer that implies it) marks it shown, so it
// is no longer withdrawn, and counts it shown, or accepted, once per
// invite for its site and team (Counts.Teams; and in the site's acceptance
// band, by the record's ts: scoring.Engine.Feedback); chat_started is also
// the visitor opening chat, as a chat open event would say; the rest is
// only counted. Feedback of a session this partition does not hold
// (expired, never seen) changes nothing.
func (p *Processor) Feedback(key, value []byte, offset int64) {
	defer p.recoverRecord(key, value, offset, true)
	err := p.fdec.Decode(key, value, p.nowMs, &p.fb)
	if err != nil {
		if errors.Is(err, schemas.ErrUnknownType) {
			p.counts.Feedback[schemas.FeedbackUnknown]++
			return
		}
		p.reject(Rejected{Key: key, Value: value, Offset: offset, Feedback: true}, err)
		return
	}
	f := &p.fb
	p.counts.Feedback[f.Type]++
	hash := xxhash.Sum64(f.Session)
	sl := p.slotByHash(hash, nil)
	if sl == nil || sl.st.IsNew() || !bytes.Equal(sl.st.Session, f.Session) {
		p.counts.FeedbackUnknown++
		return
	}
	c := p.engine.Feedback(&sl.st, f)
	if c.Ignored {
		// An invite the session was never sent, or an answer given
		// already: nothing changes, nothing counts twice.
		if c.Unknown {
			p.counts.FeedbackForeign++
		} else {
			p.counts.FeedbackRepeat++
		}
		return
	}
	if c.Changed {
		sl.noEncode = false
	}
	if c.Shown || c.Accepted {
		site, team := p.cfg.Labels(sl.st.Site, c.Team)
		p.counts.Teams.Add(site, team, b2u(c.Shown), b2u(c.Accepted))
	}
	if f.Type == schemas.FeedbackChatStarted {
		p.ev = schemas.Event{Type: schemas.TypeChat, ChatAction: schemas.ChatOpen, Session: f.Session, Site: f.Site, TS: f.TS}
		p.apply(hash)
	}
}

// Tick advances the watermark of an idle partition by the wall time since
// its last record, if wall-clock advance is on and the partition is caught
// up, and fires the timers that came due. Call it within a batch.
func (p *Processor) Tick() {
	if !p.wallClock || !p.caughtUp || p.maxTS == 0 {
		return
	}
	idle := p.nowMs - p.lastRecv
	p.advance(min(p.maxTS-p.lateness+idle, p.nowMs+maxWatermarkLeadMs))
}

// SetCaughtUp records whether the partition had nothing left to fetch as of
// its last fetch; only a caught-up partition's watermark follows the wall
// clock, so a backlog never fires a timer that its own events would cancel.
func (p *Processor) SetCaughtUp(ok bool) { p.caughtUp = ok }

// AdvanceTo moves the watermark to wm, if later, firing every timer due:
// within a batch, as a replay does at the end of its input to fire every
// pending deadline, as a live run eventually would.
func (p *Processor) AdvanceTo(wm int64) { p.advance(wm) }

// advance moves the watermark to wm, if later, and fires every timer due.
func (p *Processor) advance(wm int64) {
	if wm <= p.watermark {
		return
	}
	p.watermark = wm
	for {
		at, ok := p.timers.next()
		if !ok || at > wm {
			return
		}
		t := p.timers.pop()
		p.popped = append(p.popped, t)
		p.fireSafely(t)
	}
}

// recoverRecord, deferred by Process and Feedback, turns a panic while
// handling one record (decode, state update or scoring: none is known, and
// the fuzzers look for them) into a DLQ record with ProblemInternal, so one
// record cannot stop its partition. The session keeps what the record had
// applied before the panic; the same records panic the same way, so the
// partition stays deterministic.
func (p *Processor) recoverRecord(key, value []byte, offset int64, feedback bool) {
	if v := recover(); v != nil {
		p.reject(Rejected{Key: key, Value: value, Offset: offset, Feedback: feedback}, panicError(v))
	}
}

// fireSafely fires one timer; a panic in it is counted (TimerErrors) and
// the timer dropped, for the same reason as recoverRecord.
func (p *Processor) fireSafely(t timer) {
	defer func() {
		if v := recover(); v != nil {
			p.counts.TimerErrors++
		}
	}()
	p.fire(t)
}

// panicError describes a recovered panic for the DLQ's error header: its
// value and where it happened, cut to a few lines.
func panicError(v any) error {
	stack := debug.Stack()
	if len(stack) > 1024 {
		stack = stack[:1024]
	}
	return fmt.Errorf("internal error (please report it): %v\n%s", v, stack)
}

// fire handles one timer: a stale entry is skipped, an early one re-armed,
// a due one checks on its session or expires it.
func (p *Processor) fire(t timer) {
	sl := p.slotByHash(t.hash, nil)
	if sl == nil {
		return // the state is gone: expired, evicted or never written
	}
	st := &sl.st
	if st.IsNew() || sl.deleted || st.Armed != t.at {
		return // stale: the session re-armed, or expired, since
	}
	sl.noEncode = false
	if st.Deadline > t.at {
		p.counts.Rearmed++
		p.arm(sl)
		return
	}
	decided, expired := p.engine.Fire(st, t.at, &p.d)
	if expired {
		p.counts.Expired++
		sl.deleted = true
		return
	}
	p.counts.Silence++
	p.count(st, t.at)
	if decided {
		p.emit()
	}
	if p.observe != nil {
		p.report(t.at, schemas.TypeUnknown, st, decided)
	}
	p.arm(sl)
}

// arm gives the session a timer entry for its deadline, unless its armed
// entry comes first (it re-arms when it fires).
func (p *Processor) arm(sl *slot) {
	st := &sl.st
	if st.Armed != 0 && st.Armed <= st.Deadline && st.Armed > p.watermark {
		return
	}
	if !p.store.takeTimer() {
		p.counts.TimersDropped++
		st.Armed = 0
		return
	}
	st.Armed = st.Deadline
	p.timers.push(timer{at: st.Deadline, hash: sl.hash})
}

// count adds the moment's scores and outcome to the batch's counts, and
// the would-be invite it may be to the hourly tallies.
func (p *Processor) count(st *scoring.State, at int64) {
	p.tally(st, at)
	sc := p.engine.Scores()
	p.counts.Scores[0].Observe(sc.Abandonment)
	p.counts.Scores[1].Observe(sc.Confusion)
	if o := p.engine.Outcome(); o.Suppressed() {
		p.counts.Suppressed[o]++
	}
}

// emit stamps the decision with the wall clock and adds it to the output.
func (p *Processor) emit() {
	d := &p.d
	d.DecidedAt = p.now().UnixMilli()
	switch d.Action {
	case schemas.ActionInvite:
		p.counts.Invites[d.Reason]++
		if d.Holdout {
			p.counts.Holdout[d.Reason]++
		}
	case schemas.ActionWithdraw:
		p.counts.Withdrawals[d.Reason]++
	}
	if lat := float64(d.DecidedAt-d.EventTS) / 1000; d.Trigger == schemas.TriggerTimer {
		p.counts.TimerLatencies = append(p.counts.TimerLatencies, lat)
		p.counts.TimerEventTimes = append(p.counts.TimerEventTimes, d.EventTS)
	} else {
		p.counts.Latencies = append(p.counts.Latencies, lat)
		p.counts.EventTimes = append(p.counts.EventTimes, d.EventTS)
	}
	if p.visitors != nil && d.Action == schemas.ActionInvite && len(d.Visitor) > 0 {
		// The engine counted the invite (holdout ones too, so both groups
		// see the same cap) against the visitor's cap: the visitor's
		// record goes to linger-visitors with the batch, for the other
		// replicas and the next owner.
		k0 := len(p.out.arena)
		a := append(p.out.arena, d.Visitor...)
		v0 := len(a)
		if a, ok := p.visitors.AppendRecord(a, d.Visitor); ok {
			p.out.visitors = append(p.out.visitors, span{k0, v0, v0, len(a)})
			p.out.arena = a
			p.capped = append(p.capped, d.EventTS)
		}
	}
	a := p.out.arena
	k0 := len(a)
	a = append(a, d.Session...)
	v0 := len(a)
	a = schemas.AppendDecision(a, d)
	p.out.arena = a
	p.out.inv = append(p.out.inv, span{k0, v0, v0, len(a)})
}

// Close releases the processor's share of the loss, timer and hot indexes.
func (p *Processor) Close() {
	p.store.releaseHot(p.hot.len())
	p.hot.reset()
	p.store.indexLen.Add(int64(-len(p.alive)))
	clear(p.alive)
	p.store.releaseTimers(len(p.timers) + len(p.popped))
	p.timers, p.popped = nil, nil
}

// Partition returns the partition the processor serves.
func (p *Processor) Partition() int32 { return p.partition }

// Watermark returns the partition's watermark, event time in Unix ms.
func (p *Processor) Watermark() int64 { return p.watermark }

// Totals returns the counts of every batch committed since New.
func (p *Processor) Totals() *Counts { return &p.total }

// Budget returns the partition's budget: its invite-rate bands and its
// share of the chat teams' capacity, as of the last Commit or Abort. Its
// figures are for metrics; it belongs to the processor.
func (p *Processor) Budget() *scoring.Budget { return p.budget }

// Record is one record of a batch: the key and value as read, and the
// offset it was read at (for the DLQ's source headers).
type Record struct {
	Key, Value []byte
	Offset     int64
}

// Batch processes one batch as a live partition does: Begin, the feedback
// records first (what the chat front-ends made of earlier invites), then
// the events in offset order, then a Tick; it returns the output, to be
// published and then committed or aborted. The records must stay unchanged
// until the output is consumed.
func (p *Processor) Batch(feedback, events []Record) *Output {
	p.Begin()
	for i := range feedback {
		p.Feedback(feedback[i].Key, feedback[i].Value, feedback[i].Offset)
	}
	for i := 0; i < len(events); i += prefetchRun {
		run := events[i:min(i+prefetchRun, len(events))]
		p.prefetch(run)
		for j := range run {
			p.process(run[j].Key, run[j].Value, run[j].Offset, p.runHash[j])
		}
	}
	p.Tick()
	return p.End()
}

// prefetchRun is how many records Batch looks up in the hot table ahead
// of processing them: enough for the processor to have their entries in
// flight side by side, few enough that they are still in its caches when
// their turn comes.
const prefetchRun = 16

// prefetch touches the hot entries of a run of records' sessions (by
// their keys, which name the session in every valid event), the records'
// values, a byte per cache line, and the byte buffers of the batch slots
// the run's sessions will take, which a load decodes into and a span
// touches once: a hint, so a key that is not its event's session costs
// nothing but the read. It keeps the keys' hashes for process.
//
// The index slots of the whole run are read first, then the entries they
// name: an entry's address depends on its slot, so reading both for one
// record before the next puts each record's first miss in the way of the
// next one's. BenchmarkProcess could not tell the two orders apart from
// its noise (README, "What the profiles say").
func (p *Processor) prefetch(run []Record) {
	var x byte
	var home [prefetchRun]int32
	for i := range run {
		p.runHash[i] = xxhash.Sum64(run[i].Key)
		home[i] = p.hot.home(p.runHash[i])
	}
	for i := range run {
		x += p.hot.touchEntry(home[i])
		// The decoder reads the value next, and one that has left the
		// processor's caches (a fetch's records are not always side by
		// side) would make it wait for each of its lines in turn; read
		// here, the misses of the run's values overlap.
		v := run[i].Value
		for j := 0; j < len(v); j += 64 {
			x += v[j]
		}
	}
	for i := p.n; i < min(p.n+len(run), len(p.slots)); i++ {
		st := &p.slots[i].st
		x += first(st.Visitor) + first(st.Site) + first(st.URL) + first(st.Session)
	}
	p.touched += x
}

// first returns the first byte of b's backing array, or 0 if it has none.
func first(b []byte) byte {
	if cap(b) == 0 {
		return 0
	}
	return b[:1][0]
}
