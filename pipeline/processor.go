package pipeline

import (
	"bytes"
	"encoding/binary"
	"errors"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/lingerhq/linger/schemas"
	"github.com/lingerhq/linger/scoring"
)

// Processor turns the records of one partition into decisions and DLQ
// records, one batch at a time: Begin, Process each record in offset order,
// End. It owns the partition's sessions while it lives (one worker, one
// Processor), and allocates nothing per event in steady state.
//
// Within a batch each touched session is read from the Store once and
// written back once, at End: fastcache appends on every Set, so writing per
// event would shorten the cache's horizon by the batch size.
type Processor struct {
	partition int32
	prefix    [4]byte // store key prefix: this assignment's epoch
	store     *Store
	engine    *scoring.Engine
	now       func() time.Time
	m         *partitionMetrics

	dec schemas.Decoder
	ev  schemas.Event
	d   schemas.Decision

	nowMs int64 // the clock at Begin, for the future-ts check
	maxTS int64 // newest event time seen in the partition

	slots []slot
	n     int              // slots in use this batch
	table map[uint64]int32 // session hash → first slot, chained by slot.next

	// alive maps a session hash to the event time its state expires,
	// rounded up to the minute, so a cache miss for a session that should
	// still be there is counted as lost (the cache is too small) rather
	// than taken for a new session.
	alive   map[uint64]int64
	sweepAt int

	buf []byte // state read from the store
	val []byte // state to write
	out Output
}

type slot struct {
	hash     uint64
	next     int32
	session  []byte
	key      []byte // prefix + session
	st       scoring.State
	fresh    bool  // not in the store before this batch
	deadline int64 // st.Deadline when loaded
}

// Output is what one batch produced. Its slices are valid until the next
// Begin of the same Processor.
type Output struct {
	arena []byte
	inv   []span
	dlq   []Rejected
}

type span struct{ k0, k1, v0, v1 int }

// Rejected is a record bound for the DLQ.
type Rejected struct {
	Key, Value []byte // the record, unchanged
	Offset     int64
	Problem    schemas.Problem
	Detail     string
}

// Decisions returns the number of decisions in the batch.
func (o *Output) Decisions() int { return len(o.inv) }

// Decision returns the key (session id) and value (decision JSON) of the
// i-th decision.
func (o *Output) Decision(i int) (key, value []byte) {
	s := o.inv[i]
	return o.arena[s.k0:s.k1:s.k1], o.arena[s.v0:s.v1:s.v1]
}

// Rejected returns the records of the batch bound for the DLQ.
func (o *Output) Rejected() []Rejected { return o.dlq }

// NewProcessor returns a processor for one partition. epoch prefixes its
// store keys (see Store.nextEpoch); m may be nil (no metrics).
func NewProcessor(partition int32, epoch uint32, store *Store, cfg *scoring.Config, now func() time.Time, m *Metrics) *Processor {
	p := &Processor{
		partition: partition,
		store:     store,
		engine:    scoring.NewEngine(cfg),
		now:       now,
		table:     make(map[uint64]int32),
		alive:     make(map[uint64]int64),
		sweepAt:   4096,
	}
	binary.BigEndian.PutUint32(p.prefix[:], epoch)
	if m != nil {
		p.m = m.forPartition(partition)
	} else {
		p.m = unregisteredMetrics()
	}
	return p
}

// Begin starts a batch.
func (p *Processor) Begin() {
	p.nowMs = p.now().UnixMilli()
	p.out.arena = p.out.arena[:0]
	p.out.inv = p.out.inv[:0]
	clear(p.out.dlq)
	p.out.dlq = p.out.dlq[:0]
}

// Process handles one record of the batch. key and value must stay unchanged
// until the batch's output is consumed: DLQ records refer to them.
func (p *Processor) Process(key, value []byte, offset int64) {
	err := p.dec.Decode(key, value, p.nowMs, &p.ev)
	if err != nil {
		if errors.Is(err, schemas.ErrUnknownType) {
			p.m.nEvents[schemas.TypeUnknown]++
			return
		}
		problem, detail := schemas.ProblemInternal, err.Error()
		var de *schemas.DecodeError
		if errors.As(err, &de) {
			problem = de.Problem
		}
		p.m.dlq[problem].Inc()
		p.out.dlq = append(p.out.dlq, Rejected{Key: key, Value: value, Offset: offset, Problem: problem, Detail: detail})
		return
	}
	ev := &p.ev
	p.m.nEvents[ev.Type]++
	p.maxTS = max(p.maxTS, ev.TS)

	sl := p.session(ev)
	decided := p.engine.Apply(&sl.st, ev, &p.d)
	sc := p.engine.Scores()
	p.m.score[0].observe(sc.Abandonment)
	p.m.score[1].observe(sc.Confusion)
	if o := p.engine.Outcome(); o.Suppressed() {
		p.m.nSuppressed[o]++
	}
	if decided {
		p.emit()
	}
}

// emit stamps the decision with the wall clock and adds it to the output.
func (p *Processor) emit() {
	d := &p.d
	d.DecidedAt = p.now().UnixMilli()
	switch d.Action {
	case schemas.ActionInvite:
		p.m.invites[d.Reason].Inc()
		if d.Holdout {
			p.m.holdout[d.Reason].Inc()
		}
	case schemas.ActionWithdraw:
		p.m.withdrawals[d.Reason].Inc()
	}
	p.m.latency.Observe(float64(d.DecidedAt-d.EventTS) / 1000)
	a := p.out.arena
	k0 := len(a)
	a = append(a, d.Session...)
	v0 := len(a)
	a = schemas.AppendDecision(a, d)
	p.out.arena = a
	p.out.inv = append(p.out.inv, span{k0, v0, v0, len(a)})
}

// session returns the batch slot of ev's session, loading its state from the
// store on first touch in the batch.
func (p *Processor) session(ev *schemas.Event) *slot {
	h := xxhash.Sum64(ev.Session)
	first, ok := p.table[h]
	if ok {
		for i := first; i >= 0; i = p.slots[i].next {
			if bytes.Equal(p.slots[i].session, ev.Session) {
				return &p.slots[i]
			}
		}
	} else {
		first = -1
	}
	if p.n == len(p.slots) {
		p.slots = append(p.slots, slot{})
	}
	i := int32(p.n)
	p.n++
	sl := &p.slots[i]
	sl.hash, sl.next = h, first
	p.table[h] = i
	sl.session = append(sl.session[:0], ev.Session...)
	sl.key = append(append(sl.key[:0], p.prefix[:]...), ev.Session...)

	var found bool
	p.buf, found = p.store.get(p.buf[:0], sl.key)
	sl.fresh = !found
	if !found {
		sl.st.Reset()
		sl.deadline = 0
		if deadline, ok := p.alive[h]; ok && ev.TS <= deadline {
			p.m.lost.Inc()
		}
		return sl
	}
	if err := scoring.DecodeState(p.buf, &sl.st); err != nil {
		p.m.corrupt.Inc()
		sl.st.Reset()
	}
	sl.deadline = sl.st.Deadline
	return sl
}

// End writes every session touched in the batch back to the store and
// returns the batch's output.
func (p *Processor) End() *Output {
	for i := range p.slots[:p.n] {
		sl := &p.slots[i]
		p.val = sl.st.AppendBinary(p.val[:0])
		p.store.set(sl.key, p.val, sl.fresh)
		// The index keeps deadlines by the minute: a session seen every few
		// seconds costs an index write once a minute, not once a batch.
		if sl.fresh || ceilMinute(sl.st.Deadline) != ceilMinute(sl.deadline) {
			p.track(sl.hash, ceilMinute(sl.st.Deadline))
		}
	}
	p.n = 0
	clear(p.table)
	p.m.flush()
	if len(p.alive) >= p.sweepAt {
		p.sweep()
	}
	return &p.out
}

// ceilMinute rounds an event time up to a whole minute.
func ceilMinute(ms int64) int64 { return (ms + 59_999) / 60_000 * 60_000 }

// track records when a session's state expires, for loss detection.
func (p *Processor) track(h uint64, deadline int64) {
	if _, ok := p.alive[h]; !ok {
		if p.store.indexLen.Load() >= p.store.indexCap {
			p.m.dropped.Inc()
			return
		}
		p.store.indexLen.Add(1)
	}
	p.alive[h] = deadline
}

// sweep forgets sessions that have expired by the partition's event time.
func (p *Processor) sweep() {
	n := 0
	for h, deadline := range p.alive {
		if deadline < p.maxTS {
			delete(p.alive, h)
			n++
		}
	}
	p.store.indexLen.Add(int64(-n))
	p.sweepAt = max(2*len(p.alive), 4096)
}

// Close releases the processor's share of the loss-detection index.
func (p *Processor) Close() {
	p.store.indexLen.Add(int64(-len(p.alive)))
	clear(p.alive)
}

// Partition returns the partition the processor serves.
func (p *Processor) Partition() int32 { return p.partition }
