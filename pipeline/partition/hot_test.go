package partition

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
	"unsafe"
)

// TestHotTableMatchesAMap drives the hot table's index with inserts,
// updates and removals against a plain map, over key hashes made to
// collide: many share the slot a search starts at, some share the whole
// tag and differ only in the half the entry tells apart. A removal that
// shifted the wrong slots back, or a search that stopped short, loses a
// session here.
func TestHotTableMatchesAMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	// 64 tags whose low bits agree in small tables, 4 hashes per tag.
	hashOf := func(k int) uint64 {
		tag := uint64(k/4)<<20 | 7
		return tag<<32 | uint64(k%4)
	}
	h := newHotTable()
	want := map[uint64][]byte{}
	check := func(step int) {
		t.Helper()
		if h.len() != len(want) {
			t.Fatalf("step %d: the table holds %d entries, want %d", step, h.len(), len(want))
		}
		for k := range 256 {
			hash := hashOf(k)
			e := h.get(hash)
			w, ok := want[hash]
			switch {
			case ok && e == nil:
				t.Fatalf("step %d: hash %x is lost", step, hash)
			case !ok && e != nil:
				t.Fatalf("step %d: hash %x is found after its removal", step, hash)
			case ok && !bytes.Equal(e.value(), w):
				t.Fatalf("step %d: hash %x holds %q, want %q", step, hash, e.value(), w)
			}
		}
	}
	for step := range 20_000 {
		hash := hashOf(rng.IntN(256))
		switch _, ok := want[hash]; {
		case ok && rng.IntN(2) == 0:
			if !h.remove(hash) {
				t.Fatalf("step %d: remove(%x) found nothing", step, hash)
			}
			delete(want, hash)
		case ok:
			// Now and then a state longer than the entry's inline room.
			v := fmt.Appendf(nil, "%x-%d-%s", hash, step, bytes.Repeat([]byte{'u'}, rng.IntN(2*hotInline)))
			h.update(h.find(hash), v, int64(step), false)
			want[hash] = v
		default:
			v := fmt.Appendf(nil, "%x-%d", hash, step)
			h.insert(hash, v, int64(step), false)
			want[hash] = v
		}
		if step%97 == 0 {
			check(step)
		}
	}
	check(-1)
	if h.remove(hashOf(1000)) {
		t.Fatal("remove found a hash never inserted")
	}
	h.reset()
	want = map[uint64][]byte{}
	check(-2)
}

// TestHotEntrySize: an entry is three cache lines; a field added to it
// should be weighed against the inline room (hotInline), not grow it by
// accident.
func TestHotEntrySize(t *testing.T) {
	if got := unsafe.Sizeof(hotEntry{}); got != 192 {
		t.Fatalf("a hot entry takes %d bytes, want 192: resize hotInline", got)
	}
}
