package scoring

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// VisitorCaps is the per-visitor frequency cap table of a replica: for each
// visitor, the event times of their latest invites (at most MaxCapInvites),
// across sessions. It is bounded by entries: when full, the visitor
// written least recently is dropped (and counted), which can only let an
// invite through that the cap would have held back, never hold one back.
// It is safe for concurrent use: every partition's Engine of the replica
// shares one.
//
// How it stays consistent across replicas: an Engine that invites a
// visitor records the invite here at once (Record), so the replica's other
// partitions see it from their next decision on; the pipeline also
// produces the visitor's record (AppendRecord) to the compacted
// linger-visitors topic, keyed by visitor id, and every replica reads that
// topic into its table (Merge). A replica thus learns of another replica's
// invite once that record is committed and read: two sessions of one
// visitor, on partitions of different replicas, deciding within that delay
// can both invite. Records merge by union, so the order in which replicas
// read them does not matter; a compacted topic keeps only a visitor's last
// record, so after two replicas wrote one concurrently a replica that
// restarts may know only one of the two invites. The cap is therefore
// exact within a replica (up to the order in which its partitions run)
// and eventually consistent across replicas; and unlike the rest of the
// policy, it depends on the order in which partitions are processed, so a
// replay reproduces it only for visitors whose sessions share a partition.
type VisitorCaps struct {
	mu         sync.RWMutex
	index      map[string]*visitorEntry
	head, tail *visitorEntry // least and most recently written
	max        int
	dropped    atomic.Uint64
}

type visitorEntry struct {
	key        string
	times      []int64 // newest first, distinct, at most MaxCapInvites
	prev, next *visitorEntry
}

// DefaultVisitorEntries is the size of a VisitorCaps made with 0 entries:
// about 150 MB at 150 bytes an entry.
const DefaultVisitorEntries = 1 << 20

// NewVisitorCaps returns an empty table of at most maxEntries visitors (0:
// DefaultVisitorEntries).
func NewVisitorCaps(maxEntries int) *VisitorCaps {
	if maxEntries <= 0 {
		maxEntries = DefaultVisitorEntries
	}
	return &VisitorCaps{index: map[string]*visitorEntry{}, max: maxEntries}
}

// Allow reports whether visitor may be invited at event time at: fewer than
// invites of their invites lie within perMs of at (before or after it:
// another partition may already have decided a later moment). It does not
// allocate.
func (v *VisitorCaps) Allow(visitor []byte, at int64, invites int, perMs int64) bool {
	v.mu.RLock()
	defer v.mu.RUnlock()
	e := v.index[string(visitor)]
	if e == nil {
		return true
	}
	n := 0
	for _, t := range e.times {
		if d := at - t; d < perMs && d > -perMs {
			n++
		}
	}
	return n < invites
}

// Record adds an invite of visitor at event time at.
func (v *VisitorCaps) Record(visitor []byte, at int64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	e := v.entry(visitor)
	e.times = addTime(e.times, at)
}

// Forget takes back an invite of visitor at event time at that Record
// added: the pipeline calls it when the batch that decided the invite is
// aborted, since the batch is processed again and would otherwise find its
// own invite in the cap.
func (v *VisitorCaps) Forget(visitor []byte, at int64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	e := v.index[string(visitor)]
	if e == nil {
		return
	}
	for i, t := range e.times {
		if t == at {
			e.times = append(e.times[:i], e.times[i+1:]...)
			return
		}
	}
}

// entry returns visitor's entry, made the most recently written, creating
// it (and dropping the least recently written one if full).
func (v *VisitorCaps) entry(visitor []byte) *visitorEntry {
	e := v.index[string(visitor)]
	if e != nil {
		v.unlink(e)
	} else {
		if len(v.index) >= v.max {
			e = v.head
			v.unlink(e)
			delete(v.index, e.key)
			v.dropped.Add(1)
			*e = visitorEntry{times: e.times[:0]}
		} else {
			e = &visitorEntry{}
		}
		e.key = string(visitor)
		v.index[e.key] = e
	}
	e.prev, e.next = v.tail, nil
	if v.tail != nil {
		v.tail.next = e
	} else {
		v.head = e
	}
	v.tail = e
	return e
}

func (v *VisitorCaps) unlink(e *visitorEntry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		v.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		v.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

// addTime inserts at into times (newest first), keeping them distinct and
// at most MaxCapInvites.
func addTime(times []int64, at int64) []int64 {
	i := 0
	for i < len(times) && times[i] > at {
		i++
	}
	if i < len(times) && times[i] == at {
		return times
	}
	if i >= MaxCapInvites {
		return times
	}
	if len(times) < MaxCapInvites {
		times = append(times, 0)
	}
	copy(times[i+1:], times[i:len(times)-1])
	times[i] = at
	return times
}

// ErrBadVisitorRecord is returned by Merge for a value it cannot read.
var ErrBadVisitorRecord = errors.New("bad visitor record")

// visitorRecordVersion is the first byte of a visitor record.
const visitorRecordVersion = 1

// AppendRecord appends visitor's record, the value the pipeline produces to
// linger-visitors keyed by the visitor id after an invite: a version byte,
// the number of invite times, then the times newest first, the first in
// Unix ms and each next one as its distance from the one before (uvarints).
// It reports false, appending nothing, if the table holds no invite of
// visitor.
func (v *VisitorCaps) AppendRecord(dst, visitor []byte) ([]byte, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	e := v.index[string(visitor)]
	if e == nil || len(e.times) == 0 {
		return dst, false
	}
	dst = append(dst, visitorRecordVersion)
	dst = binary.AppendUvarint(dst, uint64(len(e.times)))
	prev := int64(0)
	for i, t := range e.times {
		if i == 0 {
			dst = binary.AppendUvarint(dst, uint64(t))
		} else {
			dst = binary.AppendUvarint(dst, uint64(prev-t))
		}
		prev = t
	}
	return dst, true
}

// Merge adds the invite times of a record read from linger-visitors (the
// value of a record keyed by visitor) to what the table knows of visitor:
// a union, so records can be read in any order and more than once. An empty
// value (a tombstone) forgets the visitor.
func (v *VisitorCaps) Merge(visitor, value []byte) error {
	if len(value) == 0 {
		v.mu.Lock()
		if e := v.index[string(visitor)]; e != nil {
			v.unlink(e)
			delete(v.index, e.key)
		}
		v.mu.Unlock()
		return nil
	}
	var times [MaxCapInvites]int64
	n, err := decodeVisitorRecord(value, &times)
	if err != nil {
		return err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	e := v.entry(visitor)
	for _, t := range times[:n] {
		e.times = addTime(e.times, t)
	}
	return nil
}

// decodeVisitorRecord reads a record's times into times (the newest
// MaxCapInvites of them).
func decodeVisitorRecord(b []byte, times *[MaxCapInvites]int64) (int, error) {
	if b[0] != visitorRecordVersion {
		return 0, fmt.Errorf("%w: version %d, this release reads %d", ErrBadVisitorRecord, b[0], visitorRecordVersion)
	}
	b = b[1:]
	count, k := binary.Uvarint(b)
	if k <= 0 || count > uint64(len(b)) {
		return 0, fmt.Errorf("%w: bad count", ErrBadVisitorRecord)
	}
	if count == 0 {
		// AppendRecord writes none: a visitor without invites has no
		// record (an empty value forgets one).
		return 0, fmt.Errorf("%w: no invite times", ErrBadVisitorRecord)
	}
	b = b[k:]
	n := 0
	var prev int64
	for i := range count {
		u, k := binary.Uvarint(b)
		if k <= 0 || u > 1<<62 {
			return 0, fmt.Errorf("%w: truncated or corrupt", ErrBadVisitorRecord)
		}
		b = b[k:]
		t := int64(u)
		if i > 0 {
			t = prev - int64(u)
		}
		if t <= 0 {
			return 0, fmt.Errorf("%w: time out of range", ErrBadVisitorRecord)
		}
		prev = t
		if n < MaxCapInvites {
			times[n] = t
			n++
		}
	}
	if len(b) != 0 {
		return 0, fmt.Errorf("%w: %d bytes after the times", ErrBadVisitorRecord, len(b))
	}
	return n, nil
}

// Prune forgets visitors whose latest invite is before event time before
// (the watermark less the longest frequency_cap.per is a good choice),
// walking from the least recently written and stopping at the first
// visitor it keeps: an approximation that costs only what it drops. It
// returns how many it forgot.
func (v *VisitorCaps) Prune(before int64) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	n := 0
	for e := v.head; e != nil && (len(e.times) == 0 || e.times[0] < before); e = v.head {
		v.unlink(e)
		delete(v.index, e.key)
		n++
	}
	return n
}

// Len returns the visitors held; Dropped how many were dropped because the
// table was full (for metrics: a growing count means the cap leaks).
func (v *VisitorCaps) Len() int {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return len(v.index)
}

// Dropped returns the visitors dropped because the table was full.
func (v *VisitorCaps) Dropped() uint64 { return v.dropped.Load() }
