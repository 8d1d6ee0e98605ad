package scoring

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/lingerhq/linger/schemas"
)

// CapacityRecord is one chat-capacity record of a site's team, as a
// CapacityTable keeps it.
type CapacityRecord struct {
	Agents     int64
	FreeSlots  int64
	AvgHandleS float64
	// TS is the record's event time, Unix ms: it applies to decisions at
	// or after TS, until the next record.
	TS int64
}

// CapacityTableOptions bound a CapacityTable. Zero fields take the
// defaults.
type CapacityTableOptions struct {
	// History is how much event time of records the table keeps per key,
	// back from the key's newest record (and one record before that, so
	// every time in the span has an answer). It must cover how far the
	// slowest partition's event time lags the capacity topic's, so a
	// lagging partition or a late timer still finds the record of its
	// moment. Default: 1h.
	History time.Duration
	// PerKey bounds the records kept per key whatever their age.
	// Default: 512.
	PerKey int
	// MaxKeys bounds the site/team keys; records of further keys are
	// refused (and counted). Default: 10000.
	MaxKeys int
}

// Defaults of CapacityTableOptions.
const (
	DefaultCapacityHistory = time.Hour
	DefaultCapacityPerKey  = 512
	DefaultCapacityKeys    = 10000
)

// CapacityTable holds the chat-capacity records of every site and team by
// event time: a broadcast table, one per replica. A reader of the whole
// chat-capacity topic (every partition, outside the consumer group) feeds
// it with Put; every partition's Engine reads it with At. It is safe for
// concurrent use by one writer and many readers.
//
// A decision at event time t uses the latest record whose ts ≤ t, so a
// timer that fires late for a moment when a team was full invites nobody,
// and a replay gives the decisions of the live run, provided the table
// holds the records up to t when the decision is made: the pipeline should
// let a partition's event time run ahead of what the capacity reader has
// read only as far as it accepts the difference.
type CapacityTable struct {
	mu      sync.RWMutex
	sites   map[string]map[string]*capacityHistory
	keys    int
	history int64
	perKey  int
	maxKeys int

	records, dropped, refused, tooOld atomic.Uint64
}

// capacityHistory is one key's records, oldest first.
type capacityHistory struct {
	recs []CapacityRecord
	// trimmed: older records were dropped, so a time before recs[0] is
	// not "no data" but "unknown".
	trimmed bool
}

// NewCapacityTable returns an empty table bounded by o.
func NewCapacityTable(o CapacityTableOptions) *CapacityTable {
	if o.History <= 0 {
		o.History = DefaultCapacityHistory
	}
	if o.PerKey <= 0 {
		o.PerKey = DefaultCapacityPerKey
	}
	if o.MaxKeys <= 0 {
		o.MaxKeys = DefaultCapacityKeys
	}
	return &CapacityTable{
		sites:   map[string]map[string]*capacityHistory{},
		history: o.History.Milliseconds(),
		perKey:  o.PerKey,
		maxKeys: o.MaxKeys,
	}
}

// Put adds a decoded capacity record (schemas.CapacityDecoder). Records may
// come in any order; one with the ts of a record already held replaces it
// (reading the topic again is harmless). It reports false if the record
// was refused because the table holds MaxKeys keys already.
func (t *CapacityTable) Put(c *schemas.Capacity) bool {
	rec := CapacityRecord{Agents: c.Agents, FreeSlots: c.FreeSlots, AvgHandleS: c.AvgHandleS, TS: c.TS}
	t.mu.Lock()
	defer t.mu.Unlock()
	teams := t.sites[string(c.Site)]
	h := teams[string(c.Team)]
	if h == nil {
		if t.keys >= t.maxKeys {
			t.refused.Add(1)
			return false
		}
		if teams == nil {
			teams = map[string]*capacityHistory{}
			t.sites[string(c.Site)] = teams
		}
		h = &capacityHistory{}
		teams[string(c.Team)] = h
		t.keys++
	}
	i := h.after(rec.TS - 1) // the first record at or after rec.TS
	if i < len(h.recs) && h.recs[i].TS == rec.TS {
		h.recs[i] = rec
		return true
	}
	h.recs = append(h.recs, CapacityRecord{})
	copy(h.recs[i+1:], h.recs[i:])
	h.recs[i] = rec
	t.records.Add(1)
	t.trim(h)
	return true
}

// after returns the index of the first record whose TS > at (len(recs) if
// none): a binary search.
func (h *capacityHistory) after(at int64) int {
	lo, hi := 0, len(h.recs)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if h.recs[mid].TS > at {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// trim drops records beyond the history, keeping the latest one at or
// before the horizon, and beyond PerKey.
func (t *CapacityTable) trim(h *capacityHistory) {
	horizon := h.recs[len(h.recs)-1].TS - t.history
	n := 0
	for n+1 < len(h.recs) && h.recs[n+1].TS <= horizon {
		n++
	}
	n = max(n, len(h.recs)-t.perKey)
	if n > 0 {
		h.recs = append(h.recs[:0], h.recs[n:]...)
		h.trimmed = true
		t.dropped.Add(uint64(n))
		t.records.Add(^uint64(n - 1))
	}
}

// At returns the capacity of site's team at event time at: the latest
// record whose TS ≤ at. It reports false when there is none (the team has
// no capacity data for that moment). When at is before every record kept
// and older ones were dropped (History too short for a lagging partition),
// it answers with the oldest record kept, the nearest it knows, and counts
// the lookup in CapacityStats.TooOld. It does not allocate.
func (t *CapacityTable) At(site, team []byte, at int64) (CapacityRecord, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	h := t.sites[string(site)][string(team)]
	if h == nil || len(h.recs) == 0 {
		return CapacityRecord{}, false
	}
	// Usually the newest record is the answer.
	if last := h.recs[len(h.recs)-1]; last.TS <= at {
		return last, true
	}
	i := h.after(at)
	if i == 0 {
		if h.trimmed {
			t.tooOld.Add(1)
			return h.recs[0], true
		}
		return CapacityRecord{}, false
	}
	return h.recs[i-1], true
}

// CapacityStats describe a CapacityTable, for metrics.
type CapacityStats struct {
	// Keys is the site/team keys held, Records the records.
	Keys, Records int
	// Dropped counts records dropped for age or count; Refused records of
	// keys beyond MaxKeys; TooOld lookups for a time before the history
	// kept (answered with the oldest record kept: raise History).
	Dropped, Refused, TooOld uint64
}

// Stats returns the table's counts.
func (t *CapacityTable) Stats() CapacityStats {
	t.mu.RLock()
	keys := t.keys
	t.mu.RUnlock()
	return CapacityStats{Keys: keys, Records: int(t.records.Load()), Dropped: t.dropped.Load(), Refused: t.refused.Load(), TooOld: t.tooOld.Load()}
}
