package partition

import (
	"encoding/binary"
	"fmt"

	"github.com/cespare/xxhash/v2"
	"github.com/lingerhq/linger/scoring"
)

// Restore loads one changelog record of the partition into the store and
// the timers: the state of a session (the last record of a key wins), a
// tombstone (nil value), or the partition's own record (empty key). Call it
// for every record of the partition's changelog, in offset order, before
// the first Begin, then FinishRestore. A record that does not decode is
// skipped, and its error returned for the caller to count; the restore goes
// on with the next record.
func (p *Processor) Restore(key, value []byte) error {
	p.restored++
	// A record that does not decode is skipped, never a reason to stop: a
	// partition whose restore failed for good would not be served at all.
	if len(key) == 0 {
		maxTS, budget, tallies, err := decodePartitionMeta(value)
		if err != nil {
			return err
		}
		if len(tallies) > 0 {
			if err := p.tallies.decode(tallies); err != nil {
				return err
			}
		}
		p.maxTS = max(p.maxTS, maxTS)
		if len(budget) > 0 {
			if err := scoring.DecodeBudget(budget, p.budget); err != nil {
				// The budget starts over, empty.
				p.cBudget = p.cBudget[:0]
				return fmt.Errorf("partition record's budget: %w", err)
			}
			p.cBudget = append(p.cBudget[:0], budget...)
		}
		return nil
	}
	h := xxhash.Sum64(key)
	p.key = p.storeKey(p.key[:0], h)
	if value == nil {
		p.store.del(p.key)
		if _, ok := p.alive[h]; ok {
			delete(p.alive, h)
			p.store.indexLen.Add(-1)
		}
		return nil
	}
	var st scoring.State
	if err := scoring.DecodeState(value, &st); err != nil {
		// The session starts over, as a corrupt state in the cache does.
		p.store.del(p.key)
		return fmt.Errorf("state of session %q: %w", key, err)
	}
	p.store.set(p.key, value, true)
	p.track(h, p.expiryMinute(&st))
	// The timer the previous owner had armed: re-armed here, it fires when
	// it did there.
	if st.Armed != 0 && p.store.takeTimer() {
		p.timers.push(timer{at: st.Armed, hash: h})
	}
	return nil
}

// FinishRestore ends a restore: the watermark resumes from the restored
// event time.
func (p *Processor) FinishRestore() {
	if p.maxTS > 0 {
		p.watermark = p.maxTS - p.lateness
	}
	p.cMaxTS, p.cWatermark = p.maxTS, p.watermark
	p.lastRecv = p.now().UnixMilli()
}

// Restored returns the changelog records restored.
func (p *Processor) Restored() int { return p.restored }

// The partition record's encodings: version 1 holds the newest event time;
// version 2 the budget after it; version 3 the budget's length, the budget
// and the hourly tallies.
const (
	partitionMetaV1 = 1
	partitionMetaV2 = 2
	partitionMetaV3 = 3
)

func appendPartitionMeta(dst []byte, maxTS int64, b *scoring.Budget, t *tallyTable) []byte {
	dst = append(dst, partitionMetaV3)
	dst = binary.AppendVarint(dst, maxTS)
	at := len(dst)
	dst = b.AppendBinary(dst)
	// The budget's length goes in front of it, once known.
	var n [binary.MaxVarintLen64]byte
	l := binary.PutUvarint(n[:], uint64(len(dst)-at))
	dst = append(dst, n[:l]...)
	copy(dst[at+l:], dst[at:len(dst)-l])
	copy(dst[at:], n[:l])
	return t.appendBinary(dst)
}

// errBadPartitionMeta is made once: Commit decodes the span's last
// partition record every time, and an error built per call allocated there.
var errBadPartitionMeta = fmt.Errorf("%w: partition record", scoring.ErrBadState)

// decodePartitionMeta reads a partition record; budget is the encoded
// budget it holds (empty in version 1), tallies the encoded tallies (empty
// before version 3).
func decodePartitionMeta(b []byte) (maxTS int64, budget, tallies []byte, err error) {
	bad := errBadPartitionMeta
	if len(b) < 2 || b[0] < partitionMetaV1 || b[0] > partitionMetaV3 {
		return 0, nil, nil, bad
	}
	v, n := binary.Varint(b[1:])
	if n <= 0 {
		return 0, nil, nil, bad
	}
	rest := b[1+n:]
	switch b[0] {
	case partitionMetaV2:
		budget = rest
	case partitionMetaV3:
		l, k := binary.Uvarint(rest)
		if k <= 0 || l > uint64(len(rest)-k) {
			return 0, nil, nil, bad
		}
		budget, tallies = rest[k:k+int(l)], rest[k+int(l):]
	}
	return v, budget, tallies, nil
}
