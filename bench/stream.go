package bench

import (
	"math/rand/v2"

	"github.com/lingerhq/linger/schemas"
)

// arrivalStream is the PCG stream of session arrivals; session i draws
// from stream i, which never reaches it.
const arrivalStream = ^uint64(0)

// Stream merges sessions into one stream of events in event-time order, as
// a collector would write them to visitor-events. Sessions start at the
// simulator's rate; only those in progress are held, in a heap ordered by
// their next event's time, and the memory of finished ones is reused, so
// a Stream allocates nothing per event once warm. Ties in time go to the
// lower session index: the order is deterministic for a seed.
//
// A Stream is not safe for concurrent use.
type Stream struct {
	sim     *Simulator
	limit   int // sessions to start, < 0 for no limit
	started int
	arrival float64 // ms after StartMs at which the next session starts
	arr     *rand.Rand

	pcg *rand.PCG // seeded per session by fill
	rng *rand.Rand

	from  int64 // events before this time (Unix ms) are skipped; 0: none
	until int64 // no session starts at or after this time (Unix ms); 0: no end

	live liveHeap
	free []*liveSession
	last *liveSession // the session of the event Next returned last
	ev   schemas.Event
}

// liveSession is a session in progress in a Stream.
type liveSession struct {
	sess    Session
	k       int  // its next event
	partial bool // its first events were before the Stream's from
}

// Stream returns a stream of sessions 0 to n-1, or of every session, for
// ever, if n ≤ 0.
func (s *Simulator) Stream(n int) *Stream {
	if n <= 0 {
		n = -1
	}
	pcg := rand.NewPCG(0, 0)
	return &Stream{
		sim:   s,
		limit: n,
		arr:   rand.New(rand.NewPCG(s.cfg.Seed, arrivalStream)),
		pcg:   pcg,
		rng:   rand.New(pcg),
	}
}

// StreamFrom is Stream, joined at fromMs (Unix ms): sessions arrive from
// Config.StartMs as in Stream(n), but events before fromMs are skipped, so
// the stream begins with the site in full swing, its sessions in progress
// (their records are marked Partial). Sessions that ended before fromMs
// are skipped whole; start StartMs at least MaxSessionMs before fromMs for
// a steady state.
func (s *Simulator) StreamFrom(n int, fromMs int64) *Stream {
	st := s.Stream(n)
	st.from = fromMs
	return st
}

// Until makes the stream start no session at or after ms (Unix ms of event
// time); the sessions under way then play to their end. It returns st.
func (st *Stream) Until(ms int64) *Stream {
	st.until = ms
	return st
}

// MaxSessionMs bounds the length of every persona's session, first event
// to last, in ms: a StreamFrom that starts this long before it joins is
// in its steady state.
const MaxSessionMs = 10 * 60 * 1000

// Next fills ev with the next event and reports whether there was one. The
// byte slices of ev are valid until the next call and must not be
// modified.
func (st *Stream) Next(ev *schemas.Event) bool {
	// Start every session that arrives before the next event.
	for st.limit < 0 || st.started < st.limit {
		at := st.sim.cfg.StartMs + int64(st.arrival)
		if len(st.live) > 0 && st.live[0].next < at || st.until > 0 && at >= st.until {
			break
		}
		st.start(at)
	}
	if len(st.live) == 0 {
		return false
	}
	l := st.live[0].s
	l.sess.Event(l.k, ev)
	st.last = l
	l.k++
	if l.k < l.sess.Len() {
		st.live[0].next = l.sess.TS(l.k)
		st.live.down(0)
	} else {
		// Its memory is reused by a later session, after this event has
		// been read (Next's contract).
		st.live.popTop()
		st.free = append(st.free, l)
	}
	return true
}

func (st *Stream) start(at int64) {
	var l *liveSession
	if n := len(st.free); n > 0 {
		l, st.free = st.free[n-1], st.free[:n-1]
	} else {
		l = new(liveSession)
	}
	st.sim.fill(st.started, &l.sess, st.pcg, st.rng)
	st.started++
	l.sess.Start = at
	l.k = 0
	if st.from > at {
		for l.k < l.sess.Len() && l.sess.TS(l.k) < st.from {
			l.k++
		}
		if l.k == l.sess.Len() {
			st.free = append(st.free, l) // over before the stream joins
		} else {
			l.partial = l.k > 0
			st.live.push(liveEntry{next: l.sess.TS(l.k), index: l.sess.Index, s: l})
		}
	} else {
		l.partial = false
		st.live.push(liveEntry{next: l.sess.TS(0), index: l.sess.Index, s: l})
	}

	gap := 1000 / st.sim.cfg.Rate
	if !st.sim.cfg.Regular {
		gap *= st.arr.ExpFloat64()
	}
	st.arrival += gap
}

// Record is one record for visitor-events.
type Record struct {
	// Key is the session id, the record key.
	Key []byte
	// Value is the event, v1 JSON.
	Value []byte
	// TS is the event time, Unix ms.
	TS int64
	// Persona and Session (its index) say who sent it: for reports, not
	// for the processor.
	Persona Persona
	Session int
	// Last marks the session's last event, Partial one of a session a
	// StreamFrom joined in progress.
	Last, Partial bool
}

// NextRecord fills rec with the next event, encoded, and reports whether
// there was one. It appends to rec.Key[:0] and rec.Value[:0], so a caller
// that reuses rec allocates nothing, and one that needs records to outlive
// the call (a producer that has not sent them yet) passes a fresh one.
func (st *Stream) NextRecord(rec *Record) bool { return st.nextRecord(rec, -1) }

// NextRecordAt is NextRecord with the event's time replaced by ts, Unix ms:
// a load driver stamps each event with the moment it is due to be sent, so
// event time follows the wall clock as it would on a live site. The order
// of events and their content stay those of the simulation.
func (st *Stream) NextRecordAt(rec *Record, ts int64) bool { return st.nextRecord(rec, ts) }

func (st *Stream) nextRecord(rec *Record, ts int64) bool {
	if !st.Next(&st.ev) {
		return false
	}
	if ts >= 0 {
		st.ev.TS = ts
	}
	rec.Key = append(rec.Key[:0], st.ev.Session...)
	rec.Value = schemas.AppendEvent(rec.Value[:0], &st.ev)
	rec.TS = st.ev.TS
	rec.Persona = st.last.sess.Persona
	rec.Session = st.last.sess.Index
	rec.Last = st.last.k == st.last.sess.Len()
	rec.Partial = st.last.partial
	return true
}

// Active returns the number of sessions in progress: what the Stream holds
// in memory.
func (st *Stream) Active() int { return len(st.live) }

// Started returns the number of sessions started so far.
func (st *Stream) Started() int { return st.started }

// GenerateRecords returns the first n records of a stream of the default
// config (DefaultMix, DefaultRate) with seed: events of some 1 600
// concurrent sessions interleaved as a processor receives them, for
// benchmarks. The records own their memory (slices of a few large
// buffers).
func GenerateRecords(seed uint64, n int) []Record {
	sim, err := NewSimulator(Config{Seed: seed})
	if err != nil {
		panic("BUG: the default config does not validate: " + err.Error())
	}
	st := sim.Stream(0)
	recs := make([]Record, 0, n)
	var tmp Record
	var buf []byte
	// keep copies b into buf, starting a new buffer when it is full, so the
	// records do not each hold an allocation.
	keep := func(b []byte) []byte {
		if cap(buf)-len(buf) < len(b) {
			buf = make([]byte, 0, max(1<<20, len(b)))
		}
		buf = append(buf, b...)
		return buf[len(buf)-len(b) : len(buf) : len(buf)]
	}
	for len(recs) < n && st.NextRecord(&tmp) {
		r := tmp
		r.Key, r.Value = keep(tmp.Key), keep(tmp.Value)
		recs = append(recs, r)
	}
	return recs
}

// liveHeap is a binary min-heap of sessions by next event time, then
// index. Entries carry their keys, so comparisons do not chase pointers:
// with thousands of sessions in progress, that is most of a Stream's time.
type liveHeap []liveEntry

type liveEntry struct {
	next  int64 // time of the session's next event
	index int   // the session's index, for ties
	s     *liveSession
}

func (e *liveEntry) before(f *liveEntry) bool {
	return e.next < f.next || e.next == f.next && e.index < f.index
}

func (h *liveHeap) push(e liveEntry) {
	*h = append(*h, e)
	q := *h
	for i := len(q) - 1; i > 0; {
		parent := (i - 1) / 2
		if !q[i].before(&q[parent]) {
			break
		}
		q[i], q[parent] = q[parent], q[i]
		i = parent
	}
}

func (h *liveHeap) popTop() {
	q := *h
	n := len(q) - 1
	q[0] = q[n]
	q[n] = liveEntry{}
	*h = q[:n]
	h.down(0)
}

// down restores the heap below i after q[i] moved later.
func (h liveHeap) down(i int) {
	for {
		least := i
		if l := 2*i + 1; l < len(h) && h[l].before(&h[least]) {
			least = l
		}
		if r := 2*i + 2; r < len(h) && h[r].before(&h[least]) {
			least = r
		}
		if least == i {
			return
		}
		h[i], h[least] = h[least], h[i]
		i = least
	}
}
