package bench

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkHostProbe tells how busy the shared host is, for reading the
// figures of a run made beside it: the VM reports no steal time, so a busy
// host shows only as slower code. Its parts differ in what they wait for:
//
//   - registers: arithmetic on registers (a xorshift step), which the
//     host's other guests slow only by taking the core;
//   - chase=1MiB and chase=16MiB: reads that each depend on the one before,
//     around a random cycle through that much memory, so every read waits
//     for the caches or for memory, as the processor's session lookups do.
//
// One op is one step or one read. Run it a few times in a row (-count 5)
// and compare each part's spread with its fastest run: on this machine a
// noisy hour spreads the chases far more than the register loop.
func BenchmarkHostProbe(b *testing.B) {
	b.Run("registers", func(b *testing.B) {
		x := uint64(88172645463325252)
		for b.Loop() {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
		}
		probeSink = x
	})
	for _, size := range []int{1 << 20, 16 << 20} {
		b.Run(fmt.Sprintf("chase=%dMiB", size>>20), func(b *testing.B) {
			next := chaseCycle(size / 4) // 4 bytes a slot
			i := uint32(0)
			for b.Loop() {
				i = next[i]
			}
			probeSink = uint64(i)
		})
	}
}

// probeSink keeps the probe's results alive, so the compiler keeps the
// loops that compute them.
var probeSink uint64

// chaseCycle returns n indexes that form one cycle through all of them in
// random order (Sattolo's shuffle): following it from any index reads
// every slot before coming back, in an order no prefetcher can guess.
func chaseCycle(n int) []uint32 {
	next := make([]uint32, n)
	for i := range next {
		next[i] = uint32(i)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := n - 1; i > 0; i-- {
		j := r.IntN(i)
		next[i], next[j] = next[j], next[i]
	}
	return next
}

func TestChaseCycleVisitsEverySlot(t *testing.T) {
	const n = 1000
	next := chaseCycle(n)
	seen := make([]bool, n)
	i := uint32(0)
	for range n {
		if seen[i] {
			t.Fatalf("slot %d comes back before every slot was read", i)
		}
		seen[i] = true
		i = next[i]
	}
	if i != 0 {
		t.Fatalf("after %d reads the chase is at %d, not back at 0", n, i)
	}
}
