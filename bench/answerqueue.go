package bench

import (
	"context"
	"sync"
	"time"

	"github.com/lingerhq/linger/schemas"
)

// FeedbackRecord is one record for chat-feedback: part of a visitor's
// answer to an invite, as a chat widget or platform writes it.
type FeedbackRecord struct {
	// Key is the session id, the record key; Value the v1 feedback JSON.
	Key, Value []byte
	// TS is the record's event time, Unix ms: when it is due.
	TS   int64
	Type schemas.FeedbackType
}

// Answers is the chat front-end of a live run (`linger bench`, `linger
// demo`): it takes the invites the processor publishes, plays the answers
// of the simulated visitors they are for, and holds each feedback record
// until its time comes, in event time, which in a live run follows the
// wall clock. It counts acceptance per persona as the invites come in.
// It is safe for concurrent use: the invite readers Add, one goroutine
// Delivers.
type Answers struct {
	sim *Simulator

	mu      sync.Mutex
	resp    *Responder
	fbs     []schemas.Feedback // scratch for one answer
	pending answerHeap
	seq     uint64 // ties in time go out in the order they came
	tally   AcceptanceTally
	wake    chan struct{}
}

// NewAnswers returns the front-end of the visitors sim plays.
func NewAnswers(sim *Simulator) *Answers {
	return &Answers{sim: sim, resp: NewResponder(sim.cfg.Seed), wake: make(chan struct{}, 1)}
}

// Add answers decision d, if it is an invite for a session of the
// simulator (another session, such as a real visitor's in the demo, is
// left to its visitor), and reports whether it was answered.
func (a *Answers) Add(d *schemas.Decision) bool {
	if d.Action != schemas.ActionInvite {
		return false
	}
	i, ok := a.sim.SessionIndex(d.Session)
	if !ok {
		return false
	}
	p := a.sim.Persona(i)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.fbs = a.resp.Respond(a.fbs[:0], d, p)
	a.tally.Count(p, a.fbs)
	if len(a.fbs) == 0 {
		return true
	}
	// One buffer for the answer's records, which outlive d.
	n := 0
	for i := range a.fbs {
		n += len(a.fbs[i].Session) + 256 + len(a.fbs[i].InviteID) + len(a.fbs[i].Visitor) + len(a.fbs[i].Site) + len(a.fbs[i].Team)
	}
	buf := make([]byte, 0, n)
	for i := range a.fbs {
		f := &a.fbs[i]
		k0 := len(buf)
		buf = append(buf, f.Session...)
		v0 := len(buf)
		buf = schemas.AppendFeedback(buf, f)
		a.seq++
		a.pending.push(pendingAnswer{seq: a.seq, rec: FeedbackRecord{
			Key: buf[k0:v0:v0], Value: buf[v0:len(buf):len(buf)], TS: f.TS, Type: f.Type,
		}})
	}
	select {
	case a.wake <- struct{}{}:
	default:
	}
	return true
}

// Due moves the records due at nowMs (Unix ms) out of the queue, appending
// them to dst in time order.
func (a *Answers) Due(dst []FeedbackRecord, nowMs int64) []FeedbackRecord {
	a.mu.Lock()
	defer a.mu.Unlock()
	for len(a.pending) > 0 && a.pending[0].rec.TS <= nowMs {
		dst = append(dst, a.pending.pop().rec)
	}
	return dst
}

// Next returns when the next record falls due, if one is pending.
func (a *Answers) Next() (int64, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.pending) == 0 {
		return 0, false
	}
	return a.pending[0].rec.TS, true
}

// Pending returns the number of records not yet due.
func (a *Answers) Pending() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.pending)
}

// Acceptance returns the counts so far, in all and per persona (every
// persona has an entry).
func (a *Answers) Acceptance() (Acceptance, map[string]Acceptance) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.tally.Total(), a.tally.ByName()
}

// Deliver hands write the records as they fall due by the wall clock, in
// time order, until ctx ends or write fails, whose error it returns. write
// owns the records it is given.
func (a *Answers) Deliver(ctx context.Context, write func([]FeedbackRecord) error) error {
	var due []FeedbackRecord
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		due = a.Due(due[:0], time.Now().UnixMilli())
		if len(due) > 0 {
			if err := write(due); err != nil {
				return err
			}
			clear(due) // let the records go once written
		}
		wait := time.Hour
		if next, ok := a.Next(); ok {
			wait = max(time.Until(time.UnixMilli(next)), time.Millisecond)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case <-a.wake:
		case <-timer.C:
		}
	}
}

// pendingAnswer is a record waiting for its time.
type pendingAnswer struct {
	seq uint64
	rec FeedbackRecord
}

func (e *pendingAnswer) before(f *pendingAnswer) bool {
	return e.rec.TS < f.rec.TS || e.rec.TS == f.rec.TS && e.seq < f.seq
}

// answerHeap is a binary min-heap of records by time, then arrival.
type answerHeap []pendingAnswer

func (h *answerHeap) push(e pendingAnswer) {
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

func (h *answerHeap) pop() pendingAnswer {
	q := *h
	top := q[0]
	n := len(q) - 1
	q[0] = q[n]
	q[n] = pendingAnswer{}
	q = q[:n]
	*h = q
	for i := 0; ; {
		least := i
		if l := 2*i + 1; l < n && q[l].before(&q[least]) {
			least = l
		}
		if r := 2*i + 2; r < n && q[r].before(&q[least]) {
			least = r
		}
		if least == i {
			return top
		}
		q[i], q[least] = q[least], q[i]
		i = least
	}
}
