package pipeline

import (
	"runtime/debug"
	"testing"
	"time"

	"github.com/lingerhq/linger/internal/kafkatest"
	"github.com/lingerhq/linger/pipeline/partition"
	"github.com/lingerhq/linger/schemas"
)

// TestHeapLimitFollowsHotTables: with HeapLimitBase set, the runner keeps
// the Go heap's soft limit at that base plus what the hot tables are sized
// to take (their quarter of the cache while they hold less).
func TestHeapLimitFollowsHotTables(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(prev) })
	const base = 100 << 20
	b := startBroker(t, 2)
	rr := startRunner(t, b.Addr(), func(c *Config) { c.HeapLimitBase = base })
	produce(t, newClient(t, b.Addr()), schemas.TopicEvents, kafkatest.Hesitators(0, 10))
	want := int64(base + partition.MinCacheBytes/4) // ten sessions: the quarter
	deadline := time.Now().Add(20 * time.Second)
	for debug.SetMemoryLimit(-1) != want {
		if time.Now().After(deadline) {
			t.Fatalf("heap limit %d, want %d (base + the hot tables' quarter of the cache)", debug.SetMemoryLimit(-1), want)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := rr.stop(t); err != nil {
		t.Fatal(err)
	}
}
