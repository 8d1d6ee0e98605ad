package partition

import (
	"math/rand/v2"
	"time"
)

// The hot table keeps the committed state of a partition's active sessions
// in memory, in front of the Store. fastcache is a ring of appends: every
// write of a session shortens the time every other session survives in it
// (its horizon is its size ÷ bytes written per second). Writing a session
// at every batch that touches it makes memory follow the write rate; with
// the hot table, an active session is written to fastcache once, when it
// goes quiet (or the table is full), so memory follows the sessions alive.
// A hot session is also served without fastcache's random memory accesses
// and its copy out of the ring, which the hot path feels.
//
// The table holds committed states only, encoded as they go to the
// changelog: a span decodes them into its slots and Commit puts the bytes
// End encoded back, so an Abort has nothing to undo here. Encoded, a state
// is a third of a decoded State's size and lies inline in its entry, in
// three cache lines side by side rather than in six places (the State and
// its strings): at 20k events/s the cache misses of copying decoded states
// cost more than decoding. A state
// is exactly its encoding decoded (State keeps fixed-point counters for that
// reason), so whether a session comes from the table or from fastcache makes
// no difference to any decision.

// HotQuiet is how long, in event time, a session stays hot after its last
// event: the silence checks of a quiet visitor come within it, and a session
// that stays quiet longer is written to fastcache and leaves the table.
const HotQuiet = 3 * time.Minute

const hotQuietMs = int64(HotQuiet / time.Millisecond)

// hotBytesPerSession sizes the hot table: one entry per this many bytes of
// its room in --cache-bytes (Store.HotCap). An entry is 192 bytes with
// its encoded state inline, and its index slot 8 to 16 (the index is half
// full at most): about 225 bytes of resident memory a session, as
// BenchmarkHotTable measures it; a state longer than the inline room
// (long ids or URLs) takes its length more.
const hotBytesPerSession = 256

// hotTable is one partition's hot sessions: an open-addressing index by
// key hash over entries kept in a list from the most to the least recently
// committed. Entries and their values are reused, so it allocates nothing
// in steady state.
//
// Loading a hot session is the per-event cost that counts at production
// rates, where the table has long left the processor caches: every memory
// access of a lookup is a cache miss. A Go map with a slice per value took
// five or six (the map's control word and slot, the entry, the value); here
// a lookup reads one 8-byte index slot and then one entry, whose value lies
// inline in the three cache lines after its header.
type hotTable struct {
	// idx is a linear-probing index, half full at most: an empty slot
	// (i == 0) ends a search, and a removal shifts later slots back
	// rather than leave a tombstone, so searches never grow longer.
	idx        []hotSlot
	mask       uint32 // len(idx)-1
	entries    []hotEntry
	free       []int32
	live       int
	head, tail int32  // most and least recently committed; -1 when empty
	seed       uint64 // mixed into the index's tags (tagOf)
	// long holds the states too long for an entry's inline room, by
	// hotEntry.long; longFree the unused ones, whose capacity is reused.
	long     [][]byte
	longFree []int32
}

// hotSlot is an index slot: the tag of a key hash (tagOf), which also
// chooses the slot a search starts at, and the index of its entry plus 1
// (0: empty). Two hashes with one tag are told apart by the entry's hash.
type hotSlot struct {
	tag uint32
	i   int32
}

// hotInline is the room for an encoded state inside its entry: the
// entry's other fields make it 192 bytes, three cache lines next to each
// other. The simulator's sessions encode to 108 bytes on average; a longer
// state (long ids or URLs) goes to a slice of its own (hotTable.long).
//
// An entry holds no pointer, so the garbage collector never scans the
// entries: with half a million sessions hot, a pointer in each made every
// collection cycle walk a hundred megabytes.
const hotInline = 152

type hotEntry struct {
	hash uint64
	last int64 // the state's newest event time, for the quiet period
	prev int32
	next int32
	// span and slot: the Processor's batch slot of the session, valid if
	// span is the Processor's current one, so a hot session's one lookup
	// finds its slot too (Processor.slotByHash).
	span uint32
	slot int32
	long int32  // with hotOutside, the index of the value in hotTable.long
	n    uint16 // bytes of the value in inline; hotOutside: in hotTable.long
	// stored: fastcache may hold an older copy (the session was loaded
	// from it, or written there before), so a spill replaces an entry
	// rather than adding one, and an expiry deletes it there too.
	stored bool
	live   bool // in the table, not on the free list
	inline [hotInline]byte
}

// hotOutside in hotEntry.n says the value is in hotTable.long.
const hotOutside = 0xffff

// value returns entry i's encoded state (scoring.State.AppendBinary). It
// lies in the table's memory: read it before the table next changes.
func (h *hotTable) value(i int32) []byte {
	e := &h.entries[i]
	if e.n == hotOutside {
		return h.long[e.long]
	}
	return e.inline[:e.n]
}

// setValue stores v as entry i's state.
func (h *hotTable) setValue(i int32, v []byte) {
	e := &h.entries[i]
	if len(v) <= hotInline {
		h.freeLong(e)
		e.n = uint16(copy(e.inline[:], v))
		return
	}
	if e.n != hotOutside {
		if n := len(h.longFree); n > 0 {
			e.long = h.longFree[n-1]
			h.longFree = h.longFree[:n-1]
		} else {
			h.long = append(h.long, nil)
			e.long = int32(len(h.long) - 1)
		}
		e.n = hotOutside
	}
	h.long[e.long] = append(h.long[e.long][:0], v...)
}

// freeLong gives back the long value of an entry that has one.
func (h *hotTable) freeLong(e *hotEntry) {
	if e.n == hotOutside {
		h.longFree = append(h.longFree, e.long)
		e.n = 0
	}
}

func newHotTable() hotTable {
	return hotTable{head: -1, tail: -1, seed: rand.Uint64()}
}

// minHotIndex is the index's size when its first session comes.
const minHotIndex = 1024

// tagOf returns a key hash's tag: the high half of the hash mixed with the
// table's secret seed. Key hashes are xxhash of the session id, which
// anyone can compute: unmixed, a sender could make thousands of ids whose
// hashes start searches at one slot (a few seconds of brute force for the
// bits a table uses) and make every lookup of the partition walk them all.
// With the seed unknown, which ids share a slot cannot be told in advance.
// (Go maps, the Processor's other indexes, seed their hashes themselves.)
func (h *hotTable) tagOf(hash uint64) uint32 {
	x := hash ^ h.seed
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return uint32((x ^ x>>31) >> 32)
}

// find returns the index of a key hash's entry, or -1.
func (h *hotTable) find(hash uint64) int32 {
	if _, i := h.lookup(hash); i >= 0 {
		return i
	}
	return -1
}

// lookup returns the index slot and entry of a key hash; the entry is -1
// if the hash has none.
func (h *hotTable) lookup(hash uint64) (uint32, int32) {
	if len(h.idx) == 0 {
		return 0, -1
	}
	tag := h.tagOf(hash)
	for p := tag & h.mask; ; p = (p + 1) & h.mask {
		s := h.idx[p]
		if s.i == 0 {
			return p, -1
		}
		if s.tag == tag && h.entries[s.i-1].hash == hash {
			return p, s.i - 1
		}
	}
}

// home returns the entry a lookup of the key hash finds first (its home
// index slot's), or -1 if that slot is empty; touchEntry reads entry i,
// as a lookup and a load will, and returns a byte of it. Called for the
// sessions of a run of records before processing them, home for all of
// them and then touchEntry, they let the processor fetch the index slots
// from memory side by side, and then the entries, where one lookup after
// another would wait for each in turn.
func (h *hotTable) home(hash uint64) int32 {
	if len(h.idx) == 0 {
		return -1
	}
	return h.idx[h.tagOf(hash)&h.mask].i - 1
}

func (h *hotTable) touchEntry(i int32) byte {
	if i < 0 || int(i) >= len(h.entries) {
		return 0
	}
	e := &h.entries[i]
	// All three of its cache lines: the header, and the value across them.
	return byte(e.span) + e.inline[0] + e.inline[hotInline/2] + e.inline[hotInline-1]
}

// holds reports whether entry i is the key hash's: a slot remembers the
// index its session was loaded from, valid until the session leaves the
// table (a spill in the same Commit may reuse the index for another).
func (h *hotTable) holds(i int32, hash uint64) bool {
	return i >= 0 && int(i) < len(h.entries) && h.entries[i].live && h.entries[i].hash == hash
}

// len returns the entries in the table.
func (h *hotTable) len() int { return h.live }

func (h *hotTable) unlink(i int32) {
	e := &h.entries[i]
	if e.prev >= 0 {
		h.entries[e.prev].next = e.next
	} else {
		h.head = e.next
	}
	if e.next >= 0 {
		h.entries[e.next].prev = e.prev
	} else {
		h.tail = e.prev
	}
}

func (h *hotTable) pushFront(i int32) {
	e := &h.entries[i]
	e.prev, e.next = -1, h.head
	if h.head >= 0 {
		h.entries[h.head].prev = i
	}
	h.head = i
	if h.tail < 0 {
		h.tail = i
	}
}

// update stores val as entry i's state, most recent first.
func (h *hotTable) update(i int32, val []byte, last int64, stored bool) {
	h.setValue(i, val)
	e := &h.entries[i]
	e.last = last
	e.stored = e.stored || stored
	if h.head != i {
		h.unlink(i)
		h.pushFront(i)
	}
}

// insert adds an entry for a key hash that has none, most recent first.
func (h *hotTable) insert(hash uint64, val []byte, last int64, stored bool) {
	if 2*(h.live+1) > len(h.idx) {
		h.grow()
	}
	var i int32
	if n := len(h.free); n > 0 {
		i = h.free[n-1]
		h.free = h.free[:n-1]
	} else {
		h.entries = append(h.entries, hotEntry{})
		i = int32(len(h.entries) - 1)
	}
	e := &h.entries[i]
	e.hash, e.stored, e.last, e.span, e.live, e.n = hash, stored, last, 0, true, 0
	h.setValue(i, val)
	h.place(hash, i)
	h.live++
	h.pushFront(i)
}

// place indexes entry i under a key hash the index does not hold.
func (h *hotTable) place(hash uint64, i int32) {
	tag := h.tagOf(hash)
	p := tag & h.mask
	for h.idx[p].i != 0 {
		p = (p + 1) & h.mask
	}
	h.idx[p] = hotSlot{tag: tag, i: i + 1}
}

// grow doubles the index and places every entry again.
func (h *hotTable) grow() {
	n := max(2*len(h.idx), minHotIndex)
	h.idx = make([]hotSlot, n)
	h.mask = uint32(n - 1)
	for i := range h.entries {
		if h.entries[i].live {
			h.place(h.entries[i].hash, int32(i))
		}
	}
}

// remove drops the entry of a key hash, if any, and reports whether there
// was one.
func (h *hotTable) remove(hash uint64) bool {
	p, i := h.lookup(hash)
	if i < 0 {
		return false
	}
	h.unindex(p)
	h.unlink(i)
	h.freeLong(&h.entries[i])
	h.entries[i].live = false
	h.free = append(h.free, i)
	h.live--
	return true
}

// unindex empties index slot p and shifts back the slots after it whose
// search passes p, so that no search stops short of its entry.
func (h *hotTable) unindex(p uint32) {
	for q := (p + 1) & h.mask; ; q = (q + 1) & h.mask {
		s := h.idx[q]
		if s.i == 0 {
			break
		}
		// s may move to p if its search starts at or before p, counting
		// from q backwards.
		if home := s.tag & h.mask; (q-home)&h.mask >= (q-p)&h.mask {
			h.idx[p] = s
			p = q
		}
	}
	h.idx[p] = hotSlot{}
}

// forgetSpans marks every entry as in no span: the span counter wrapped.
func (h *hotTable) forgetSpans() {
	for i := range h.entries {
		h.entries[i].span = 0
	}
}

// oldest returns the least recently committed entry, or nil.
func (h *hotTable) oldest() *hotEntry {
	if h.tail < 0 {
		return nil
	}
	return &h.entries[h.tail]
}

// reset empties the table, keeping its memory.
func (h *hotTable) reset() {
	clear(h.idx)
	h.entries = h.entries[:0]
	h.free = h.free[:0]
	h.longFree = h.longFree[:0]
	for i := range h.long {
		h.longFree = append(h.longFree, int32(i))
	}
	h.live = 0
	h.head, h.tail = -1, -1
}

// commitHot makes a committed slot's state the session's hot state, making
// room first if the replica's hot sessions are at their bound; fastcache is
// not written.
func (p *Processor) commitHot(sl *slot) {
	val := p.out.arena[sl.val.v0:sl.val.v1]
	if p.hot.holds(sl.hot, sl.hash) {
		p.hot.update(sl.hot, val, sl.st.Last, sl.stored)
		return
	}
	// Not hot when the span loaded it (the table changes only at Commit),
	// or spilled since by this Commit: a new entry.
	if !p.store.takeHot() {
		// The tables are full, or over their room while fastcache grows
		// into it (spillQuiet gives that back, hotShrinkMax a commit):
		// the session takes the place of our least recently committed.
		if !p.spillOldest() {
			// Nothing of ours to spill: other partitions hold the
			// table's room. This session goes to fastcache.
			p.key = p.storeKey(p.key[:0], sl.hash)
			p.store.set(p.key, val, !sl.stored)
			return
		}
		p.store.swapHot()
	}
	p.hot.insert(sl.hash, val, sl.st.Last, sl.stored)
}

// dropHot forgets an expired session: out of the table, and out of
// fastcache if it may be there.
func (p *Processor) dropHot(sl *slot) {
	if i := p.hot.find(sl.hash); i >= 0 {
		sl.stored = sl.stored || p.hot.entries[i].stored
		p.hot.remove(sl.hash)
		p.store.releaseHot(1)
	}
	if sl.stored {
		p.key = p.storeKey(p.key[:0], sl.hash)
		p.store.del(p.key)
	}
}

// spillQuiet writes the sessions that have been quiet for hotQuietMs of
// event time to fastcache and drops them from the table, oldest first; and
// when fastcache has grown into the hot tables' room (Store.HotCap), the
// least recently committed ones until they fit, at most hotShrinkMax a
// commit, so that no one commit pays for the whole shrink.
func (p *Processor) spillQuiet() {
	for e := p.hot.oldest(); e != nil && e.last < p.maxTS-hotQuietMs; e = p.hot.oldest() {
		p.spillOldest()
	}
	for n := 0; n < hotShrinkMax && p.store.hotOver() && p.spillOldest(); n++ {
	}
}

// hotShrinkMax bounds the sessions one commit spills to give the hot
// tables' room back to fastcache.
const hotShrinkMax = 1024

// spillOldest writes the least recently committed hot session to fastcache
// and drops it from the table; it reports false when the table is empty.
func (p *Processor) spillOldest() bool {
	i := p.hot.tail
	if i < 0 {
		return false
	}
	e := &p.hot.entries[i]
	p.key = p.storeKey(p.key[:0], e.hash)
	p.store.set(p.key, p.hot.value(i), !e.stored)
	p.hot.remove(e.hash)
	p.store.releaseHot(1)
	return true
}
