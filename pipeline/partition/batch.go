package partition

import (
	"github.com/lingerhq/linger/scoring"
)

// End encodes every session the batch touched into the output as changelog
// records, and returns the batch's output (that of this batch alone, in a
// span of several). The store is not written until Commit.
func (p *Processor) End() *Output {
	a := p.out.arena
	for i := range p.slots[:p.n] {
		sl := &p.slots[i]
		if sl.noEncode {
			continue
		}
		sl.dirty = true
		k0 := len(a)
		if sl.deleted {
			a = append(a, sl.st.Session...)
			p.out.state = append(p.out.state, stateRecord{span: span{k0, len(a), len(a), len(a)}, tombstone: true})
			continue
		}
		a = append(a, sl.st.Session...)
		v0 := len(a)
		a = sl.st.AppendBinary(a)
		sl.val = span{k0, v0, v0, len(a)}
		p.out.state = append(p.out.state, stateRecord{span: sl.val})
	}
	p.out.arena = a
	p.appendTallies()
	a = p.out.arena
	if p.metaDirty || p.budget.Dirty() || p.tallies.dirty {
		// The partition's own record, under the empty key (no session id
		// is empty): its newest event time, so a restore resumes the
		// watermark where it was, and its budget.
		k0 := len(a)
		a = appendPartitionMeta(a, p.maxTS, p.budget, &p.tallies)
		p.metaAt = len(p.out.state)
		p.out.state = append(p.out.state, stateRecord{span: span{k0, k0, k0, len(a)}})
		p.budgetTouched = p.budgetTouched || p.budget.Dirty()
		p.metaDirty, p.tallies.dirty = false, false
		p.budget.MarkClean()
	}
	p.out.arena = a
	m := p.mark
	p.view = Output{arena: a, inv: p.out.inv[m.inv:], dlq: p.out.dlq[m.dlq:], state: p.out.state[m.state:], visitors: p.out.visitors[m.visitors:], tallies: p.out.tallies[m.tallies:]}
	return &p.view
}

// outputMark is where a batch's output begins in the span's.
type outputMark struct{ inv, dlq, state, visitors, tallies int }

// Commit makes the span durable in memory, once its output is published:
// the sessions it touched go to the hot table (and those quiet since, from
// it to the store), expired ones leave both, and the event time and timers
// of the span stand. It returns the span's counts,
// valid until the next Begin, for the caller's metrics.
func (p *Processor) Commit() *Counts {
	for i := range p.slots[:p.n] {
		sl := &p.slots[i]
		if !sl.dirty {
			continue
		}
		if sl.deleted {
			p.dropHot(sl)
			if _, ok := p.alive[sl.hash]; ok {
				delete(p.alive, sl.hash)
				p.store.indexLen.Add(-1)
			}
			continue
		}
		p.commitHot(sl)
		// The index keeps expiries by the minute: a session seen every few
		// seconds costs an index write once a minute, not once a batch.
		if e := p.expiryMinute(&sl.st); e != sl.expiry {
			p.track(sl.hash, e)
		}
	}
	p.spillQuiet()
	if p.metaAt >= 0 {
		// The span's last partition record holds the budget an Abort
		// goes back to.
		_, v := p.out.StateRecord(p.metaAt)
		_, budget, _, _ := decodePartitionMeta(v)
		p.cBudget = append(p.cBudget[:0], budget...)
		p.counts.BudgetChanged = p.budgetTouched
	}
	p.cMaxTS, p.cWatermark = p.maxTS, p.watermark
	p.tallies.commit(p.maxTS)
	p.store.releaseTimers(len(p.popped))
	p.popped = p.popped[:0]
	if len(p.timers) > 2*len(p.alive)+4096 {
		p.compactTimers()
	}
	p.total.Add(&p.counts)
	p.reset()
	return &p.counts
}

// compactTimers drops stale entries from the timer heap: entries whose
// session has re-armed earlier (a deadline that moved earlier leaves the old
// entry behind), has expired, or was armed twice by a batch that aborted.
// It reads each entry's state from the store, so it runs only when the heap
// has grown to twice the sessions the partition tracks.
func (p *Processor) compactTimers() {
	var st scoring.State
	kept := p.timers[:0]
	seen := make(map[uint64]bool, len(p.alive))
	for _, t := range p.timers {
		if seen[t.hash] {
			continue
		}
		if i := p.hot.find(t.hash); i >= 0 {
			if scoring.DecodeState(p.hot.value(i), &st) != nil || st.Armed != t.at {
				continue
			}
		} else {
			p.key = p.storeKey(p.key[:0], t.hash)
			var found bool
			p.buf, found = p.store.get(p.buf[:0], p.key)
			if !found || scoring.DecodeState(p.buf, &st) != nil || st.Armed != t.at {
				continue
			}
		}
		seen[t.hash] = true
		kept = append(kept, t)
	}
	p.store.releaseTimers(len(p.timers) - len(kept))
	p.timers = kept
	p.timers.init()
}

// Abort forgets the span: the store keeps the states from before it, the
// timers it popped are pushed back, event time goes back to the last
// Commit, and its counts are dropped. The records are processed again
// after the transaction's rewind. Timers the span pushed stay in the heap,
// stale: their sessions' Armed in the store does not name them.
func (p *Processor) Abort() {
	for _, t := range p.popped {
		p.timers.push(t)
	}
	p.popped = p.popped[:0]
	p.maxTS, p.watermark, p.metaDirty = p.cMaxTS, p.cWatermark, false
	p.tallies.abort()
	if p.budgetTouched || p.budget.Dirty() {
		// Empty (nothing committed yet) decodes to an empty budget.
		_ = scoring.DecodeBudget(p.cBudget, p.budget)
	}
	// The batch comes again: its invites must not find themselves in the
	// visitors' caps.
	for i, at := range p.capped {
		visitor, _ := p.out.VisitorRecord(i)
		p.visitors.Forget(visitor, at)
	}
	p.budget.MarkClean()
	p.counts.reset()
	p.reset()
}

func (p *Processor) reset() {
	// Delete the batch's keys rather than clear the map: clear costs the
	// map's capacity, which one large batch (a restore, a backlog) grows
	// for good, and small batches would pay it every time.
	for i := range p.slots[:p.n] {
		sl := &p.slots[i]
		if sl.inTable {
			delete(p.table, sl.hash)
		}
		sl.dirty = false
	}
	p.n = 0
	// Hot entries hold slots of this span only (hotEntry.span).
	if p.span++; p.span == 0 {
		p.hot.forgetSpans()
		p.span = 1
	}
	p.inSpan = false
	if len(p.alive) >= p.sweepAt {
		p.sweep()
	}
}

// ceilMinute rounds an event time up to a whole minute.
func ceilMinute(ms int64) int64 { return (ms + 59_999) / 60_000 * 60_000 }

// track records when a session's state expires, for loss detection.
func (p *Processor) track(h uint64, expiry int64) {
	if _, ok := p.alive[h]; !ok {
		if p.store.indexLen.Load() >= p.store.indexCap {
			p.counts.IndexDropped++
			return
		}
		p.store.indexLen.Add(1)
	}
	p.alive[h] = expiry
}

// sweep forgets sessions that have expired by the partition's event time.
func (p *Processor) sweep() {
	n := 0
	for h, expiry := range p.alive {
		if expiry < p.maxTS {
			delete(p.alive, h)
			n++
		}
	}
	p.store.indexLen.Add(int64(-n))
	p.sweepAt = max(2*len(p.alive), 4096)
}
