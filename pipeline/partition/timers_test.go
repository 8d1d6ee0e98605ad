package partition

import (
	"math/rand/v2"
	"sort"
	"testing"
)

// TestTimerHeapOrder: timers come out by time, then hash, whatever order
// they went in, also after init re-heaps a shuffled slice.
func TestTimerHeapOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var in []timer
	for range 5000 {
		in = append(in, timer{at: int64(r.IntN(300)), hash: r.Uint64N(50)})
	}
	want := append([]timer(nil), in...)
	sort.Slice(want, func(i, j int) bool {
		return want[i].at < want[j].at || want[i].at == want[j].at && want[i].hash < want[j].hash
	})
	check := func(name string, h timerHeap) {
		for i, w := range want {
			if at, _ := h.next(); at != w.at {
				t.Fatalf("%s: next %d at %d, want %d", name, at, i, w.at)
			}
			if got := h.pop(); got != w {
				t.Fatalf("%s: pop %d = %+v, want %+v", name, i, got, w)
			}
		}
		if _, ok := h.next(); ok {
			t.Fatalf("%s: heap not empty", name)
		}
	}
	var pushed timerHeap
	for _, tm := range in {
		pushed.push(tm)
	}
	check("pushed", pushed)
	shuffled := timerHeap(append([]timer(nil), in...))
	shuffled.init()
	check("init", shuffled)
}

// TestCompactTimersKeepsTheLiveOnes: compaction drops stale and duplicate
// entries and keeps exactly the armed entry of each live session, so every
// decision still comes.
func TestCompactTimersKeepsTheLiveOnes(t *testing.T) {
	cfg := timerConfig(t)
	recs := genRecords(60000)
	var want runResult
	process(t, newTestProcessor(t, cfg), recs, 500, &want, nil)

	p := newTestProcessor(t, cfg)
	var got runResult
	half := len(recs) / 2
	process(t, p, recs[:half], 500, &got, nil)
	// Stale duplicates of every entry, as aborted batches leave behind.
	n := len(p.timers)
	for _, tm := range append([]timer(nil), p.timers...) {
		p.timers.push(tm)
		p.timers.push(timer{at: tm.at + 1, hash: tm.hash})
	}
	p.store.timerLen.Add(int64(2 * n))
	p.compactTimers()
	if len(p.timers) > n {
		t.Fatalf("%d timers after compaction, want at most the %d live ones", len(p.timers), n)
	}
	if int64(len(p.timers)) != p.store.Timers() {
		t.Fatalf("the store counts %d timers, the heap holds %d", p.store.Timers(), len(p.timers))
	}
	process(t, p, recs[half:], 500, &got, nil)
	sameDecisions(t, "compacted", got, want)
}
