package bench

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/lingerhq/linger/schemas"
)

// openReaders opens a reader on every partition of the output topic at its
// end, so the run reads what is published from now on.
func (l *load) openReaders(ctx context.Context) ([]*kafka.Reader, error) {
	parts, err := l.partitions(ctx, l.cfg.OutputTopic)
	if err != nil {
		return nil, err
	}
	ends, err := l.endOffsets(ctx, l.cfg.OutputTopic, parts)
	if err != nil {
		return nil, err
	}
	// kafka-go backs off after an empty fetch, 100 ms at first: a
	// read_committed fetch that records of a transaction not yet committed
	// woke up comes back empty, so every invite would wait that long
	// behind one (it was the bench's ~100 ms stall every few seconds with
	// exactly-once). Invites are sparse: poll again at once. A
	// passthrough's copies are dense, and polling at once would only add
	// fetches to a busy broker.
	backoffMin, backoffMax := time.Millisecond, 5*time.Millisecond
	if l.cfg.Passthrough {
		backoffMin, backoffMax = 0, 0 // kafka-go's defaults
	}
	readers := make([]*kafka.Reader, len(parts))
	for i, p := range parts {
		r := kafka.NewReader(kafka.ReaderConfig{
			Brokers:   l.cfg.Brokers,
			Topic:     l.cfg.OutputTopic,
			Partition: p,
			MinBytes:  1,
			MaxBytes:  8 << 20,
			// With MinBytes 1 a fetch returns as soon as there is a
			// record; MaxWait only bounds an idle one.
			MaxWait:        200 * time.Millisecond,
			ReadBackoffMin: backoffMin,
			ReadBackoffMax: backoffMax,
			// Chat front-ends read committed: invites of an aborted
			// transaction were never decided.
			IsolationLevel: kafka.ReadCommitted,
			Dialer:         l.dialer,
		})
		if err := r.SetOffset(ends[i]); err != nil {
			return nil, fmt.Errorf("reader of %s/%d: %w", l.cfg.OutputTopic, p, withoutGoNames(err))
		}
		readers[i] = r
	}
	return readers, nil
}

// read reads decisions until ctx ends, and times every invite.
func (l *load) read(ctx context.Context, r *kafka.Reader) {
	for {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			return // ctx ended or the reader was closed
		}
		if l.cfg.Passthrough {
			l.copied(m.Key, m.Value, time.Now())
		} else {
			l.decision(m.Value, time.Now())
		}
	}
}

// copied times one event a passthrough copied, read at readAt: the
// transport's own latency, for comparison with linger's.
func (l *load) copied(key, value []byte, readAt time.Time) {
	ts, ok := eventTS(value)
	if !ok {
		return
	}
	idx, ok := l.sim.SessionIndex(key)
	if !ok {
		return
	}
	l.sessions.mu.Lock()
	var due int64
	matched := false
	if slot := l.sessions.lookup(idx); slot != nil {
		due, matched = slot.match(l.startNs, ts)
	}
	l.sessions.mu.Unlock()
	if !matched || due < l.warmNs.Load() {
		return
	}
	lat := readAt.Sub(l.start) - time.Duration(due)
	l.histMu.Lock()
	recordMicros(l.lat, lat)
	recordMicros(l.second, lat)
	l.secInvites++
	l.histMu.Unlock()
}

// eventTS returns the "ts" of a v1 event as the simulator writes it,
// without decoding the rest.
func eventTS(value []byte) (int64, bool) {
	i := bytes.Index(value, []byte(`"ts":`))
	if i < 0 {
		return 0, false
	}
	var ts int64
	n := 0
	for _, c := range value[i+5:] {
		if c < '0' || c > '9' {
			break
		}
		ts = ts*10 + int64(c-'0')
		n++
	}
	return ts, n > 0
}

// decision times one decision read at readAt, and has its visitor answer
// it (the history's invites too: their answers are written at once, as
// their time is past).
func (l *load) decision(value []byte, readAt time.Time) {
	d, err := schemas.ParseDecision(value)
	if err != nil || d.Action != schemas.ActionInvite {
		return // withdrawals are not timed; a bad one is the processor's bug, not load
	}
	if l.answers != nil {
		l.answers.Add(d)
	}
	// Only decisions on events (or deadlines) of the window count: the
	// warm-up's history comes in a burst, minutes of it in a second.
	warm := l.warmNs.Load()
	if warm == math.MaxInt64 || d.EventTS*1e6-l.startNs < warm {
		l.markInvited(d.Session, d.EventTS)
		return
	}
	l.invites.Add(1)
	slot, due, matched := l.markInvited(d.Session, d.EventTS)
	switch {
	case slot == nil:
		l.unmatched.Add(1)
	case timerDecision(d):
		l.timers.Add(1)
		l.histMu.Lock()
		recordMicros(l.timer, readAt.Sub(time.UnixMilli(d.EventTS)))
		l.histMu.Unlock()
	case matched:
		lat := readAt.Sub(l.start) - time.Duration(due)
		l.histMu.Lock()
		if due >= warm {
			recordMicros(l.lat, lat)
		}
		recordMicros(l.second, lat)
		l.secInvites++
		l.histMu.Unlock()
	default:
		l.unmatched.Add(1)
	}
}

// markInvited notes that session id was invited and returns its slot (nil
// if this run did not send it) and the due time of its event whose time
// in ms is eventTS, if it was one of the latest sent.
func (l *load) markInvited(id []byte, eventTS int64) (slot *sessionSlot, due int64, matched bool) {
	idx, ok := l.sim.SessionIndex(id)
	if !ok {
		return nil, 0, false
	}
	l.sessions.mu.Lock()
	defer l.sessions.mu.Unlock()
	if slot = l.sessions.lookup(idx); slot == nil {
		return nil, 0, false
	}
	slot.invited = true
	due, matched = slot.match(l.startNs, eventTS)
	return slot, due, matched
}

// timerDecision reports whether a silence timer, not an event, triggered d.
func timerDecision(d *schemas.Decision) bool { return d.Trigger == schemas.TriggerTimer }
