package partition

import (
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"github.com/VictoriaMetrics/fastcache"
	"github.com/cespare/xxhash/v2"
	"github.com/lingerhq/linger/schemas"
	"github.com/lingerhq/linger/scoring"
)

// benchState is a checkout session part-way, with its timer armed: the
// state BenchmarkRestore uses.
func benchState(i int) scoring.State {
	return scoring.State{
		Flags: scoring.FlagInFieldFocus, Start: 1767225600000, Last: 1767225692000, ActiveAt: 1767225685000,
		Events: 23, PageSince: 1767225631000, Kind: uint8(schemas.KindCheckout), PageViews: 5, Distinct: 4,
		Pages: [3]uint16{0x2b5e, 0x9d1c, 0x4f11}, IdleLongestMs: 15000, CartValue: 34900, CartItems: 1,
		CheckoutStep: 2, Focuses: 3, MovesD: 2100, TurnsD: 140, Deadline: 1767225715000, Armed: 1767225715000,
		Visitor: []byte("v-3f9a1c2b"), Site: []byte("demo-shop"), URL: []byte("/checkout/payment"),
		Session: fmt.Appendf(nil, "%08x-4b1c-4e2a-9f3d-%012x", i, i*7919),
	}
}

// BenchmarkHotTable compares what a batch does with the state of a session
// it touches, with n sessions live: in the hot table (decode the committed
// state into the batch's slot, change it, encode it for the changelog, put
// the bytes back) and in plain fastcache (read, decode, change, encode,
// write: what every batch did before the hot table). It reports the resident memory each live session
// costs in either, measured on the first fill. A random session per op, as
// a partition sees them.
func BenchmarkHotTable(b *testing.B) {
	for _, n := range []int{1_000_000, 10_000_000} {
		b.Run(fmt.Sprintf("hot/sessions=%dM", n/1_000_000), func(b *testing.B) { benchmarkHot(b, n) })
		b.Run(fmt.Sprintf("fastcache/sessions=%dM", n/1_000_000), func(b *testing.B) { benchmarkFastcache(b, n) })
	}
}

// procRSS reads this process's resident set size.
func procRSS(b *testing.B) int64 {
	b.Helper()
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		b.Skip("no /proc/self/statm: cannot measure RSS here")
	}
	pages, err := strconv.ParseInt(strings.Fields(string(data))[1], 10, 64)
	if err != nil {
		b.Fatal(err)
	}
	return pages * int64(os.Getpagesize())
}

func settle() {
	runtime.GC()
	debug.FreeOSMemory()
}

func benchmarkHot(b *testing.B, n int) {
	settle()
	rss0 := procRSS(b)
	h := newHotTable()
	hashes := make([]uint64, n)
	var val []byte
	for i := range n {
		st := benchState(i)
		hashes[i] = xxhash.Sum64(st.Session)
		val = st.AppendBinary(val[:0])
		h.insert(hashes[i], val, st.Last, false)
	}
	settle()
	perSession := float64(procRSS(b)-rss0-int64(8*n)) / float64(n) // less the test's own hash list
	var slot scoring.State
	r := uint64(1)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r = r*6364136223846793005 + 1442695040888963407
		i := h.find(hashes[r>>33%uint64(n)])
		if err := scoring.DecodeState(h.value(i), &slot); err != nil {
			b.Fatal(err)
		}
		slot.Events++
		val = slot.AppendBinary(val[:0])
		h.update(i, val, slot.Last, true) // as Commit does, by the index the load found
	}
	b.ReportMetric(perSession, "RSS-B/session")
	runtime.KeepAlive(h)
}

func benchmarkFastcache(b *testing.B, n int) {
	settle()
	rss0 := procRSS(b)
	// Room for every session and the op's rewrites of them: none evicted
	// (a write appends to the ring, a bucket's at a time; at least 512
	// MiB, or a small ring's buckets wrap unevenly).
	c := fastcache.New(max(n*600, 512<<20))
	keys := make([][]byte, n)
	var val []byte
	for i := range n {
		st := benchState(i)
		keys[i] = binary.BigEndian.AppendUint64([]byte{0, 0, 0, 1}, xxhash.Sum64(st.Session))
		val = st.AppendBinary(val[:0])
		c.Set(keys[i], val)
	}
	settle()
	perSession := float64(procRSS(b)-rss0-int64(n*(12+24+16))) / float64(n) // less the test's own key list
	var fs fastcache.Stats
	c.UpdateStats(&fs)
	if fs.EntriesCount != uint64(n) {
		b.Fatalf("fastcache holds %d of %d sessions", fs.EntriesCount, n)
	}
	var slot scoring.State
	buf := make([]byte, 0, 512)
	r := uint64(1)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r = r*6364136223846793005 + 1442695040888963407
		key := keys[r>>33%uint64(n)]
		buf = c.Get(buf[:0], key)
		if err := scoring.DecodeState(buf, &slot); err != nil {
			b.Fatal(err)
		}
		slot.Events++
		buf = slot.AppendBinary(buf[:0])
		c.Set(key, buf)
	}
	b.ReportMetric(perSession, "RSS-B/session")
	c.Reset()
}
