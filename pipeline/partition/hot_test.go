package partition

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"reflect"
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
	h := newHotTable()
	// 64 tags whose low bits agree in small tables, 4 hashes per tag.
	hashOf := func(k int) uint64 {
		tag := uint64(k/4)<<20 | 7
		return h.hashMixedTo(tag<<32 | uint64(k%4))
	}
	want := map[uint64][]byte{}
	check := func(step int) {
		t.Helper()
		if h.len() != len(want) {
			t.Fatalf("step %d: the table holds %d entries, want %d", step, h.len(), len(want))
		}
		for k := range 256 {
			hash := hashOf(k)
			i := h.find(hash)
			w, ok := want[hash]
			switch {
			case ok && i < 0:
				t.Fatalf("step %d: hash %x is lost", step, hash)
			case !ok && i >= 0:
				t.Fatalf("step %d: hash %x is found after its removal", step, hash)
			case ok && !bytes.Equal(h.value(i), w):
				t.Fatalf("step %d: hash %x holds %q, want %q", step, hash, h.value(i), w)
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
	if held := len(h.long) - len(h.longFree); held < 0 || held > h.len() {
		t.Fatalf("%d long values held for %d entries: one leaked or was freed twice", held, h.len())
	}
	if h.remove(hashOf(1000)) {
		t.Fatal("remove found a hash never inserted")
	}
	h.reset()
	want = map[uint64][]byte{}
	check(-2)
}

// TestHotEntrySize: an entry is three cache lines and holds no pointer
// (the collector skips the entries); a field added to it should be
// weighed against the inline room (hotInline), not grow it by accident.
func TestHotEntrySize(t *testing.T) {
	if got := unsafe.Sizeof(hotEntry{}); got != 192 {
		t.Fatalf("a hot entry takes %d bytes, want 192: resize hotInline", got)
	}
	if f, ok := pointerField(reflect.TypeFor[hotEntry]()); ok {
		t.Fatalf("a hot entry holds a pointer (%s): the collector would scan every entry", f)
	}
}

// pointerField returns the name of a field of t that holds a pointer, and
// whether there is one.
func pointerField(t reflect.Type) (string, bool) {
	switch t.Kind() {
	case reflect.Struct:
		for i := range t.NumField() {
			if f, ok := pointerField(t.Field(i).Type); ok {
				return t.Field(i).Name + "." + f, true
			}
		}
		return "", false
	case reflect.Array:
		return pointerField(t.Elem())
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return "", false
	}
	return t.String(), true
}

// hashMixedTo returns the key hash that tagOf mixes to y, whose high half
// is then the tag: the mix is a bijection, undone step by step.
func (h *hotTable) hashMixedTo(y uint64) uint64 {
	unshift := func(y uint64, s uint) uint64 { // undoes x ^ x>>s
		x := y
		for range 64 / s {
			x = y ^ x>>s
		}
		return x
	}
	inverse := func(c uint64) uint64 { // of an odd c, mod 2^64 (Newton)
		v := c
		for range 6 {
			v *= 2 - c*v
		}
		return v
	}
	x := unshift(y, 31) * inverse(0x94d049bb133111eb)
	x = unshift(x, 27) * inverse(0xbf58476d1ce4e5b9)
	return unshift(x, 30) ^ h.seed
}

// longestSearch returns the most slots a search of h's index reads for
// an entry it holds.
func longestSearch(h *hotTable) int {
	n := 0
	for p, s := range h.idx {
		if s.i != 0 {
			n = max(n, int((uint32(p)-s.tag&h.mask)&h.mask)+1)
		}
	}
	return n
}

// TestHotTableSeedScattersCraftedHashes: session ids are hashed without
// a secret, so a sender can pick ids whose hashes share a search's start.
// Made for one table (whose seed the sender would have to know), 4,000
// such hashes make its searches walk thousands of slots; in a table with
// another seed, as every table has, they spread like any others.
func TestHotTableSeedScattersCraftedHashes(t *testing.T) {
	known, other := newHotTable(), newHotTable()
	if known.seed == other.seed {
		t.Fatal("two tables have one seed")
	}
	const n = 4000
	for i := range n {
		hash := known.hashMixedTo(uint64(7)<<32 | uint64(i)) // all tag 7
		if known.tagOf(hash) != 7 {
			t.Fatalf("hashMixedTo made a hash of tag %d, want 7", known.tagOf(hash))
		}
		known.insert(hash, []byte("s"), 0, false)
		other.insert(hash, []byte("s"), 0, false)
	}
	if got := longestSearch(&known); got < n {
		t.Fatalf("the crafted hashes' longest search in their own table is %d slots, want %d: the test crafts nothing", got, n)
	}
	if got := longestSearch(&other); got > 64 {
		t.Fatalf("the crafted hashes' longest search in another table is %d slots: the seed does not scatter them", got)
	}
}
