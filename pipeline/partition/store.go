package partition

import (
	"sync/atomic"

	"github.com/VictoriaMetrics/fastcache"
)

// MinCacheBytes is the smallest cache fastcache supports (512 buckets of one
// 64 KiB chunk); smaller sizes are rounded up to it.
const MinCacheBytes = 32 << 20

// DefaultCacheBytes is the cache size a replica gets unless told otherwise
// (--cache-bytes).
const DefaultCacheBytes = 256 << 20

// Store holds the session states of every partition this replica owns, in
// one fastcache ring bounded by its size in bytes. fastcache is safe for
// concurrent use; each session is touched by its partition's worker only.
//
// fastcache is a ring of appends: every Set appends, and an entry survives
// only until its bucket's ring wraps. Workers therefore write each session
// once per batch, and Store counts bytes written so the horizon (how long an
// untouched session survives) can be exported and compared with the session
// timeout.
type Store struct {
	c        *fastcache.Cache
	maxBytes uint64

	written atomic.Uint64 // bytes appended to the ring, fastcache's framing included
	values  atomic.Uint64 // bytes of state (values only) written
	writes  atomic.Uint64
	inserts atomic.Uint64 // sets of sessions that were not in the cache
	deletes atomic.Uint64
	epoch   atomic.Uint32

	// The loss-detection index and the timer index of every Processor
	// count against bounds set by the cache size, so their memory follows
	// the configuration, not the traffic.
	indexLen atomic.Int64
	indexCap int64
	timerLen atomic.Int64
	timerCap int64
	// The hot tables of every Processor share what of the cache size
	// fastcache does not use yet, and at least a quarter of it
	// (Store.HotCap).
	hotLen   atomic.Int64
	hotFloor int64 // sessions
	size     int64 // --cache-bytes, as bounded
}

// indexBytesPerSession sizes the loss-detection index: at most one entry per
// this many cache bytes. A state with its key and framing takes 60 to 200
// bytes, so the index can track about as many sessions as the cache holds at
// most, for about 16 bytes of memory per 128 cache bytes (12%).
const indexBytesPerSession = 128

// NewStore returns a store of maxBytes (at least MinCacheBytes), shared by
// the Processors' hot tables (hot.go) and fastcache: fastcache may fill
// three quarters, the hot tables have the rest and, until fastcache has
// filled, whatever it has not used yet (HotCap). fastcache takes no less
// than MinCacheBytes, so below 4/3 of it the bound is MinCacheBytes plus
// the hot quarter.
func NewStore(maxBytes int) *Store {
	maxBytes = max(maxBytes, MinCacheBytes)
	hot := maxBytes / 4
	ring := max(maxBytes-hot, MinCacheBytes)
	return &Store{
		c:        fastcache.New(ring),
		maxBytes: uint64(ring),
		indexCap: int64(maxBytes / indexBytesPerSession),
		timerCap: int64(maxBytes / timerBytesPerSession),
		hotFloor: int64(hot / hotBytesPerSession),
		size:     int64(maxBytes),
	}
}

// HotCap returns how many sessions the hot tables may hold now. fastcache
// takes its memory as it is written (a ring of appends keeps every byte
// written until it wraps), so the bytes written to it, up to its size, are
// what it uses; the hot tables may have the rest of the cache size, and a
// quarter of it at least. A young replica, or one whose sessions seldom go
// quiet, thus keeps every active session hot, where rewriting one costs no
// ring space; as fastcache fills, the hot tables give way to it.
func (s *Store) HotCap() int64 {
	ring := min(s.written.Load(), s.maxBytes)
	return max(s.hotFloor, (s.size-int64(ring))/hotBytesPerSession)
}

// takeHot reserves room for one hot session, or reports that the hot
// tables are full.
func (s *Store) takeHot() bool {
	if s.hotLen.Add(1) > s.HotCap() {
		s.hotLen.Add(-1)
		return false
	}
	return true
}

// swapHot takes back the room of the hot session just spilled, whatever
// HotCap says: one session takes another's place, and the tables shrink
// at the pace spillQuiet sets, not at a new session's arrival.
func (s *Store) swapHot() { s.hotLen.Add(1) }

// hotOver reports whether the hot tables hold more sessions than HotCap
// allows, as they do once fastcache has grown into their room.
func (s *Store) hotOver() bool { return s.hotLen.Load() > s.HotCap() }

// releaseHot gives back room for n hot sessions.
func (s *Store) releaseHot(n int) { s.hotLen.Add(int64(-n)) }

// timerBytesPerSession sizes the timer index: at most one 16-byte entry per
// this many cache bytes, about as many as the cache holds sessions and then
// half again for entries gone stale (12% of the cache size in memory).
const timerBytesPerSession = 128

// takeTimer reserves room for one timer entry, or reports that the index
// is full.
func (s *Store) takeTimer() bool {
	if s.timerLen.Add(1) > s.timerCap {
		s.timerLen.Add(-1)
		return false
	}
	return true
}

// releaseTimers gives back room for n timer entries.
func (s *Store) releaseTimers(n int) { s.timerLen.Add(int64(-n)) }

// Timers returns the timer entries held by every Processor on this store.
func (s *Store) Timers() int64 { return s.timerLen.Load() }

// NextEpoch returns a fresh key prefix for a new partition assignment: a
// partition that comes back to this replica must not read states it left
// behind, which another replica has moved on from since.
func (s *Store) NextEpoch() uint32 { return s.epoch.Add(1) }

// get appends the state stored under key to dst.
func (s *Store) get(dst, key []byte) ([]byte, bool) { return s.c.HasGet(dst, key) }

// set stores val under key; inserted says the key was not in the cache.
func (s *Store) set(key, val []byte, inserted bool) {
	s.c.Set(key, val)
	// fastcache frames each entry with 4 bytes of lengths.
	s.written.Add(uint64(len(key) + len(val) + 4))
	s.values.Add(uint64(len(val)))
	s.writes.Add(1)
	if inserted {
		s.inserts.Add(1)
	}
}

// del removes key.
func (s *Store) del(key []byte) {
	s.c.Del(key)
	s.deletes.Add(1)
}

// StoreStats is a snapshot of the store's counters.
type StoreStats struct {
	Entries      uint64
	Bytes        uint64
	MaxBytes     uint64
	BytesWritten uint64
	// Writes counts states written; StateBytes their total size (values
	// only), so StateBytes/Writes is the mean encoded state.
	Writes     uint64
	StateBytes uint64
	// Evictions estimates sessions pushed out of the ring: sessions
	// inserted, minus those deleted (expired) and those still held.
	Evictions uint64
	// HotSessions are the sessions in the Processors' hot tables, at most
	// HotCap (Store.HotCap, as of the snapshot); MaxBytes and the rest are
	// fastcache's.
	HotSessions, HotCap int64
	// HotBytes is what the hot tables are sized to take of the cache
	// size: HotSessions entries, and their quarter at least.
	HotBytes int64
}

// Stats returns a snapshot of the store's counters.
func (s *Store) Stats() StoreStats {
	var fs fastcache.Stats
	s.c.UpdateStats(&fs)
	st := StoreStats{Entries: fs.EntriesCount, Bytes: fs.BytesSize, MaxBytes: s.maxBytes, BytesWritten: s.written.Load(),
		Writes: s.writes.Load(), StateBytes: s.values.Load(), HotSessions: s.hotLen.Load(), HotCap: s.HotCap()}
	st.HotBytes = max(st.HotSessions, s.hotFloor) * hotBytesPerSession
	if in, out := s.inserts.Load(), s.deletes.Load()+fs.EntriesCount; in > out {
		st.Evictions = in - out
	}
	return st
}

// Reset drops every state.
func (s *Store) Reset() { s.c.Reset() }
