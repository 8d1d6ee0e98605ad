package partition

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/lingerhq/linger/bench"
)

// TestBatchCommitAllocs holds the partition engine to its budget of no
// allocation per event in steady state: once its slots, maps and tables
// have grown and fastcache's ring has come round once, a poll's batch and
// its commit allocate nothing. What new sessions still grow now and then
// is amortised over the runs; an allocation made at every batch or commit
// is not, and fails the test.
func TestBatchCommitAllocs(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("processes 300,000 events; allocations are counted without the race detector")
	}
	const batch = 500
	recs := bench.GenerateRecords(7, 300_000)
	prec := make([]Record, len(recs))
	for i := range recs {
		prec[i] = Record{Key: recs[i].Key, Value: recs[i].Value, Offset: int64(i)}
	}
	store := NewStore(MinCacheBytes)
	// Fill the ring once with entries of a session's size, so that the
	// sessions spilled below reuse its chunks and bucket maps as they do
	// in a replica that has run for a while, instead of allocating them.
	key, val := make([]byte, 40), make([]byte, 110)
	for i := uint64(0); store.Stats().BytesWritten < MinCacheBytes*5/4; i++ {
		binary.LittleEndian.PutUint64(key, i)
		store.set(key, val, true)
	}
	clock := func() time.Time { return time.UnixMilli(recs[len(recs)-1].TS) }
	p := New(0, Config{Store: store, Now: clock})
	defer p.Close()
	next := 0
	run := func() {
		p.Batch(nil, prec[next:next+batch])
		p.Commit()
		next += batch
	}
	// Two thirds of the stream bring the engine to its steady size.
	for next < 2*len(prec)/3 {
		run()
	}
	// AllocsPerRun runs once more than asked, to warm up.
	runs := (len(prec)-next)/batch - 1
	before := store.Stats().Writes
	if n := testing.AllocsPerRun(runs, run); n != 0 {
		t.Errorf("a batch of %d events and its commit allocate %.0f times in steady state, want 0", batch, n)
	}
	if w := store.Stats().Writes - before; w < 1000 {
		t.Errorf("%d sessions spilled to fastcache while measured: the test should cover spills", w)
	}
}
