package partition_test

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/fastcache"
	"github.com/cespare/xxhash/v2"
	"github.com/lingerhq/linger/bench"
	"github.com/lingerhq/linger/pipeline/partition"
	"github.com/lingerhq/linger/schemas"
)

// BenchmarkProcess measures the whole per-event path of a partition worker,
// a poll's batch at a time as the worker runs it (Batch, then Commit):
// decode, state load from the hot table or fastcache and its write back
// (once per session per batch), score, and encode a decision where one is
// made, over the simulator's default persona mix. One op is one event. The
// budget on the 2-core reference machine is 1 µs and 0 allocations per
// event in steady state.
func BenchmarkProcess(b *testing.B) {
	for _, size := range []int{partition.MinCacheBytes, partition.DefaultCacheBytes} {
		b.Run(fmt.Sprintf("cache=%dMiB", size>>20), func(b *testing.B) { benchmarkProcess(b, size) })
	}
}

func benchmarkProcess(b *testing.B, cacheBytes int) {
	const batch = 500   // records per poll of one partition
	const chunk = 50000 // records generated at a time, outside the timer
	sim, err := bench.NewSimulator(bench.Config{Seed: 1, Rate: 50})
	if err != nil {
		b.Fatal(err)
	}
	stream := sim.Stream(0)
	recs := make([]bench.Record, chunk)
	prec := make([]partition.Record, chunk)
	fill := func() {
		for i := range recs {
			if !stream.NextRecord(&recs[i]) {
				b.Fatal("endless stream ended")
			}
			prec[i] = partition.Record{Key: recs[i].Key, Value: recs[i].Value, Offset: int64(i)}
		}
	}
	store := steadyStore(cacheBytes)
	clock := func() time.Time { return time.UnixMilli(recs[len(recs)-1].TS) }
	benchEpoch++
	p := partition.New(0, partition.Config{Epoch: benchEpoch, Store: store, Now: clock})
	decisions := 0
	run := func(n int) {
		for i := 0; i < n; i += batch {
			decisions += p.Batch(nil, prec[i:min(i+batch, n)]).Decisions()
			p.Commit()
		}
	}
	// Warm up: slots, maps and buffers reach their steady size.
	for range 4 {
		fill()
		run(chunk)
	}
	decisions = 0
	before := store.Stats()
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		b.StopTimer()
		fill()
		n := min(chunk, b.N-done)
		b.StartTimer()
		run(n)
		done += n
	}
	b.StopTimer()
	st := store.Stats()
	// The next run's processor needs the hot room, as above.
	defer p.Close()
	if w := st.Writes - before.Writes; w > 0 {
		b.ReportMetric(float64(st.StateBytes-before.StateBytes)/float64(w), "B/session")
	}
	// Sessions written to fastcache per event: near 0 when the hot table
	// serves the active sessions.
	b.ReportMetric(float64(st.Writes-before.Writes)/float64(b.N), "ring-writes/event")
	b.ReportMetric(float64(decisions)/float64(b.N)*1000, "decisions/1k-events")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkDecodeStream is the event decode of BenchmarkProcess alone: the
// simulator's records, compact JSON with each type's keys in one order as a
// collector writes them, through one decoder as a partition worker holds
// it (so its guesses of the next key are in play). schemas'
// BenchmarkDecode reads the contract's golden files instead, pretty-printed
// and in many key orders. One op is one event.
func BenchmarkDecodeStream(b *testing.B) {
	recs := bench.GenerateRecords(1, 20000)
	var d schemas.Decoder
	var ev schemas.Event
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r := &recs[i%len(recs)]
		if err := d.Decode(r.Key, r.Value, 0, &ev); err != nil {
			b.Fatal(err)
		}
	}
}

var (
	benchStores = map[int]*partition.Store{}
	benchEpoch  uint32
)

// BenchmarkReplica measures the engine's work per event as one replica
// does it at 20k events/s: 16 partitions (sessions split by key hash),
// each given what a fetch of the default 100 ms commit interval brings it
// (125 records) in turn, a commit after every poll (a span ends with its
// fetch), after four minutes of event time, so the hot tables are in their
// steady state (about 120,000 sessions, 23 MB of entries). BenchmarkProcess's one partition keeps its
// sessions in the processor's caches; here, as in a replica, they are not,
// and each event's session is a trip to memory. One op is one event.
// Generating the events is outside the timer. The warm-up (about 25 s) is
// done once per process: later runs go on from where the last one stopped.
func BenchmarkReplica(b *testing.B) {
	if theReplica == nil {
		theReplica = newBenchReplica(b)
	}
	r := theReplica
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; done += len(r.recs) {
		b.StopTimer()
		r.fill(b, min(replicaRate, b.N-done))
		b.StartTimer()
		r.run()
	}
	b.StopTimer()
	b.ReportMetric(float64(r.store.Stats().HotSessions), "hot-sessions")
}

const (
	replicaRate       = 20000 // events per second of event time
	replicaPartitions = 16
	replicaPerPoll    = replicaRate / 10 / replicaPartitions // a 100 ms fetch's, per partition
	replicaSpan       = 1                                    // polls per commit: a span is its fetch
)

var theReplica *benchReplica

// benchReplica is BenchmarkReplica's replica: its processors, their
// store, and the simulator's stream, a second of events at a time.
type benchReplica struct {
	stream *bench.Stream
	nowMs  int64
	store  *partition.Store
	procs  []*partition.Processor
	recs   []bench.Record
	parts  [][]partition.Record // recs by partition
}

func newBenchReplica(b *testing.B) *benchReplica {
	probe, err := bench.NewSimulator(bench.Config{Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	sim, err := bench.NewSimulator(bench.Config{Seed: 1, Rate: probe.SessionRate(replicaRate)})
	if err != nil {
		b.Fatal(err)
	}
	r := &benchReplica{stream: sim.Stream(0), store: partition.NewStore(partition.DefaultCacheBytes),
		recs: make([]bench.Record, replicaRate), parts: make([][]partition.Record, replicaPartitions)}
	clock := func() time.Time { return time.UnixMilli(r.nowMs) }
	for i := range replicaPartitions {
		r.procs = append(r.procs, partition.New(int32(i), partition.Config{Epoch: r.store.NextEpoch(), Store: r.store, Now: clock, Partitions: replicaPartitions}))
	}
	// Four minutes of event time: past HotQuiet, so sessions go quiet and
	// leave the hot tables as fast as others come.
	for range 4 * 60 {
		r.fill(b, replicaRate)
		r.run()
	}
	return r
}

// fill generates the next n events and splits them by partition.
func (r *benchReplica) fill(b *testing.B, n int) {
	for i := range r.parts {
		r.parts[i] = r.parts[i][:0]
	}
	r.recs = r.recs[:n]
	for i := range r.recs {
		if !r.stream.NextRecord(&r.recs[i]) {
			b.Fatal("endless stream ended")
		}
		k := xxhash.Sum64(r.recs[i].Key) % replicaPartitions
		r.parts[k] = append(r.parts[k], partition.Record{Key: r.recs[i].Key, Value: r.recs[i].Value, Offset: int64(i)})
	}
	r.nowMs = r.recs[n-1].TS
}

// run processes what fill split, the partitions taking turns a poll's
// worth at a time, and commits every replicaSpan polls and at the end.
func (r *benchReplica) run() {
	for poll := 0; ; poll++ {
		left := false
		for k, p := range r.procs {
			from := min(poll*replicaPerPoll, len(r.parts[k]))
			to := min(from+replicaPerPoll, len(r.parts[k]))
			left = left || to < len(r.parts[k])
			p.Batch(nil, r.parts[k][from:to])
		}
		if !left || poll%replicaSpan == replicaSpan-1 {
			for _, p := range r.procs {
				p.Commit()
			}
		}
		if !left {
			return
		}
	}
}

// steadyStore returns a store whose ring has wrapped once, as it has in a
// replica that has run for a while: a fresh ring would charge the benchmark
// with the first touch (page faults) of every chunk, and hold its entries in
// fewer cache lines than a full one. It is shared by every run of the
// benchmark, each under its own key prefix.
func steadyStore(size int) *partition.Store {
	if s := benchStores[size]; s != nil {
		return s
	}
	benchStore := partition.NewStore(size)
	benchStores[size] = benchStore
	{
		p := partition.New(0, partition.Config{Epoch: 0, Store: benchStore, Now: time.Now})
		// Each seed plays other sessions, so every pass writes new entries.
		for seed := uint64(100); benchStore.Stats().BytesWritten < uint64(11*size/10); seed++ {
			recs := bench.GenerateRecords(seed, 50000)
			for i := 0; i < len(recs); i += 500 {
				p.Begin()
				for j := i; j < i+500; j++ {
					p.Process(recs[j].Key, recs[j].Value, int64(j))
				}
				p.End()
				p.Commit()
			}
		}
		// Its hot sessions are of no use to the benchmark, whose own
		// processor needs the room, as a live partition's would have it.
		p.Close()
	}
	return benchStore
}

// BenchmarkCache measures a state write and read in fastcache, and the
// resident memory each cached session costs, fastcache's framing, bucket
// maps and chunk slack included (budget: 200 B per entry).
func BenchmarkCache(b *testing.B) {
	// A typical entry: the 4-byte assignment prefix and a UUID session id
	// as the key (40 bytes), 85 bytes of state (BenchmarkProcess's
	// B/session).
	val := make([]byte, 85)
	key := make([]byte, 0, 40)
	setKey := func(i int) {
		key = append(key[:0], 0, 0, 0, 1)
		key = appendHex(key, uint64(i), 8)
		key = append(key, "-4b1c-4e2a-9f3d-"...)
		key = appendHex(key, uint64(i)*7919, 12)
	}

	const entries = 1 << 20
	c := fastcache.New(256 << 20)
	fill := func() {
		for i := range entries {
			setKey(i)
			c.Set(key, val)
		}
	}
	// fastcache keeps freed chunks for reuse, so only the first fill in a
	// process shows as RSS: measure it once, report it on every run.
	cacheRSSOnce.Do(func() {
		runtime.GC()
		debug.FreeOSMemory()
		rss0 := rss(b)
		fill()
		runtime.GC()
		var s fastcache.Stats
		c.UpdateStats(&s)
		if s.EntriesCount != entries {
			b.Fatalf("the cache holds %d of %d entries: it wrapped; measure with a larger cache", s.EntriesCount, entries)
		}
		cacheRSSPerEntry = float64(rss(b)-rss0) / entries
	})
	fill()

	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		setKey(i % entries)
		buf = c.Get(buf[:0], key)
		c.Set(key, buf)
	}
	b.ReportMetric(cacheRSSPerEntry, "RSS-B/entry")
	c.Reset()
}

var (
	cacheRSSOnce     sync.Once
	cacheRSSPerEntry float64
)

// appendHex appends the low n hex digits of v, without fmt's allocation.
func appendHex(dst []byte, v uint64, n int) []byte {
	for i := n - 1; i >= 0; i-- {
		dst = append(dst, "0123456789abcdef"[(v>>(4*uint(i)))&0xf])
	}
	return dst
}

// rss reads the resident set size of this process from /proc.
func rss(b *testing.B) int64 {
	b.Helper()
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		b.Skip("no /proc/self/statm: cannot measure RSS here")
	}
	f := strings.Fields(string(data))
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		b.Fatal(err)
	}
	return pages * int64(os.Getpagesize())
}

// BenchmarkBaselineJSONMap is the yardstick the budget was set against: the
// same records decoded with encoding/json into a map and their sessions kept
// in a Go map (no scoring, no cache): what a straightforward processor pays
// before it does any work. Compare its ns/op with BenchmarkProcess's.
func BenchmarkBaselineJSONMap(b *testing.B) {
	recs := bench.GenerateRecords(1, 50000)
	sessions := map[string]map[string]any{}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r := &recs[i%len(recs)]
		var ev map[string]any
		if err := json.Unmarshal(r.Value, &ev); err != nil {
			b.Fatal(err)
		}
		s, ok := sessions[string(r.Key)]
		if !ok {
			s = map[string]any{}
			sessions[string(r.Key)] = s
		}
		s["last"] = ev["ts"]
		s[ev["type"].(string)] = ev
	}
}
