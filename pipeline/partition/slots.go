package partition

import (
	"bytes"
	"encoding/binary"

	"github.com/lingerhq/linger/scoring"
)

// A batch works on slots: the sessions it touches, loaded on first touch
// from the hot table or else the store, and written back by End and
// Commit (batch.go).

// session returns the batch slot of a session, whose key hash is hash,
// loading its state from the store on first touch in the batch.
func (p *Processor) session(id []byte, hash uint64) *slot {
	sl := p.slotByHash(hash, id)
	st := &sl.st
	if sl.deleted {
		// Expired earlier in this batch: the event starts it over.
		sl.deleted = false
		st.Reset()
	}
	if !st.IsNew() && !bytes.Equal(st.Session, id) {
		// Two session ids with one 64-bit key hash: vanishingly rare, and
		// the cache cannot hold both. The newcomer starts over.
		p.counts.Collisions++
		st.Reset()
	}
	sl.noEncode = false
	return sl
}

// slotByHash returns the batch slot for a key hash, loading the state on
// first touch from the hot table, or else from the store. For a timer (id
// nil) it returns nil when neither has the session.
func (p *Processor) slotByHash(h uint64, id []byte) *slot {
	if i := p.hot.find(h); i >= 0 {
		e := &p.hot.entries[i]
		if e.span == p.span {
			return &p.slots[e.slot]
		}
		// The hot table does not change within a span (Commit changes
		// it), so the entry holds the slot until the span ends.
		e.span, e.slot = p.span, int32(p.n)
		sl := p.newSlot(h, id, false)
		sl.stored, sl.hot = e.stored, i
		if err := scoring.DecodeState(p.hot.value(i), &sl.st); err != nil {
			panic("BUG: the hot table holds a state it cannot read: " + err.Error())
		}
		sl.expiry = p.expiryMinute(&sl.st)
		return sl
	}
	if i, ok := p.table[h]; ok {
		return &p.slots[i]
	}
	p.key = p.storeKey(p.key[:0], h)
	var found bool
	p.buf, found = p.store.get(p.buf[:0], p.key)
	if !found && id == nil {
		return nil
	}
	sl := p.newSlot(h, id, true)
	sl.stored = found
	if !found {
		sl.st.Reset()
		if expiry, ok := p.alive[h]; ok && p.ev.TS <= expiry {
			p.counts.Lost++
		}
		return sl
	}
	if err := scoring.DecodeState(p.buf, &sl.st); err != nil {
		p.counts.Corrupt++
		sl.st.Reset()
	}
	sl.expiry = p.expiryMinute(&sl.st)
	return sl
}

// newSlot takes the next batch slot for a key hash, indexed in table if
// inTable (a hot session's entry indexes it); for a timer (id nil) it is
// left as loaded unless the timer changes it.
func (p *Processor) newSlot(h uint64, id []byte, inTable bool) *slot {
	if p.n == len(p.slots) {
		p.slots = append(p.slots, slot{})
	}
	i := int32(p.n)
	p.n++
	if inTable {
		p.table[h] = i
	}
	sl := &p.slots[i]
	sl.hash, sl.stored, sl.deleted, sl.expiry, sl.noEncode, sl.inTable, sl.hot = h, false, false, 0, id == nil, inTable, -1
	return sl
}

func (p *Processor) storeKey(dst []byte, h uint64) []byte {
	dst = append(dst, p.prefix[:]...)
	return binary.BigEndian.AppendUint64(dst, h)
}

// expiryMinute is the minute after which a state is expired, for the loss
// index; 0 for an empty state.
func (p *Processor) expiryMinute(st *scoring.State) int64 {
	if st.IsNew() {
		return 0
	}
	return ceilMinute(st.Last + p.cfg.For(st.Site).SessionTimeoutMs)
}
