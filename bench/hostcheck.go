package bench

import (
	"context"
	"runtime"
	"slices"
	"sync"
	"time"
)

// hostCheck tells how busy the machine under a run was, apart from the
// run's own load: a fixed computation, timed in the CPU time of a thread
// of its own a few times a second, takes longer when the host takes the
// processor away or shares its core and caches with other guests. On a
// virtual machine that reports no steal time (the steal column of
// /proc/stat stays 0), the time the host takes is charged to whatever
// was running, so the processors' CPU per event rises with it as well:
// the figure says whether a run's CPU and latency can be compared with
// another's.
//
// Thread CPU time leaves out the time the thread waits for a processor
// within the machine, so the run's own processes, however busy, do not
// count: only what happens underneath them does.
type hostCheck struct {
	mu      sync.Mutex
	samples []hostSample
	sink    uint64
}

type hostSample struct {
	at  time.Duration // since the run's start
	cpu time.Duration // thread CPU time of one hostWork
}

const (
	// hostCheckEvery is how often the computation runs once the run is
	// under way; hostCheckFirst is how many times it runs back to back
	// at the start, before the load builds up, for the fastest time.
	hostCheckEvery = 100 * time.Millisecond
	hostCheckFirst = 20
	// hostWorkRounds sizes the computation: about 0.2 ms on the
	// reference machine, so the clock's own cost (a system call) is
	// small beside it, and ten a second take 0.2% of a processor.
	hostWorkRounds = 120_000
)

// hostWork is the fixed computation: a xorshift generator's rounds,
// registers only, so its time is the processor's speed and nothing of
// memory. Its result is kept (hostCheck.sink), so the compiler cannot
// drop it.
func hostWork() uint64 {
	x := uint64(0x9e3779b97f4a7c15)
	for range hostWorkRounds {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	return x
}

// run samples until ctx ends, from start, the run's start. It returns at
// once where threads have no CPU clock (threadCPU).
func (h *hostCheck) run(ctx context.Context, start time.Time) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if _, ok := threadCPU(); !ok {
		return
	}
	sample := func() {
		t0, _ := threadCPU()
		x := hostWork()
		t1, _ := threadCPU()
		h.mu.Lock()
		h.sink += x
		h.samples = append(h.samples, hostSample{at: time.Since(start), cpu: t1 - t0})
		h.mu.Unlock()
	}
	for range hostCheckFirst {
		sample()
	}
	t := time.NewTicker(hostCheckEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			sample()
		}
	}
}

// slowdown returns the median time of the computation in [from, to) and
// its fastest time in the whole run, and false without samples in the
// window.
func (h *hostCheck) slowdown(from, to time.Duration) (median, fastest time.Duration, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var in []time.Duration
	for _, s := range h.samples {
		if s.cpu <= 0 {
			continue // a clock too coarse to time it
		}
		if fastest == 0 || s.cpu < fastest {
			fastest = s.cpu
		}
		if s.at >= from && s.at < to {
			in = append(in, s.cpu)
		}
	}
	if len(in) == 0 {
		return 0, 0, false
	}
	slices.Sort(in)
	return in[len(in)/2], fastest, true
}
