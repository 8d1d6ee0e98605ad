package scoring

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"os"
	"reflect"
	"strings"
	"testing"
)

// randomState fills every field, so a round trip proves each one is encoded.
func randomState(r *rand.Rand) State {
	u32 := func() uint32 { return r.Uint32() >> r.IntN(32) }
	start := int64(1767225600000 + r.IntN(1e9))
	rel := func() int64 {
		if r.IntN(4) == 0 {
			return 0
		}
		return start + int64(r.IntN(3600_000)) - 1000
	}
	// Times right at and just before the start are the edge cases of the
	// relative encoding.
	edge := func() int64 { return start - int64(r.IntN(3)) }
	str := func(n int) []byte {
		b := make([]byte, r.IntN(n))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		return b
	}
	return State{
		Flags: Flags(r.Uint32N(1 << 9)), Start: start, Last: edge(), ActiveAt: rel(), Events: u32(),
		PageSince: rel(), Kind: uint8(r.IntN(11)), PageViews: u32(), Distinct: u32(),
		Pages:     [3]uint16{uint16(r.Uint32()), uint16(r.Uint32()), uint16(r.Uint32())},
		BackForth: u32(), PriceViews: u32(), IdleLongestMs: u32(), IdleCartMs: u32(),
		HiddenSince: rel(), HiddenCount: u32(), ExitD: u32(), CartValue: int64(r.Uint64N(1e12)) - 5e11,
		CartItems: u32(), CheckoutStep: uint8(r.IntN(256)), FieldSince: rel(),
		Fields:  [3]uint16{uint16(r.Uint32()), 0, uint16(r.Uint32())},
		Focuses: u32(), Churn: u32(), Reedits: u32(), ErrorsD: u32(), RageD: u32(), DeadD: u32(),
		MovesD: u32(), TurnsD: u32(), Scrolls: u32(), Seq: u32(), Invites: u32(), InviteSeq: u32(),
		InviteAt: rel(), InviteReason: uint8(r.IntN(3)), Deadline: rel(),
		InviteRoute: uint8(r.IntN(256)), RateMinute: u32(), RateCur: u32(), RatePrev: u32(), FeedbackSeen: uint16(r.Uint32()), TallyHour: u32(), TallyCauses: u32(),
		Visitor: str(40), Site: str(10), URL: str(MaxStateURL), ErrField: str(MaxStateField),
	}
}

// normalize makes empty and nil slices compare equal.
func normalize(s State) State {
	for _, b := range []*[]byte{&s.Visitor, &s.Site, &s.URL, &s.ErrField} {
		if len(*b) == 0 {
			*b = nil
		}
	}
	return s
}

func TestStateRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var got State
	for i := range 2000 {
		want := randomState(r)
		if i == 0 {
			want = State{}
		}
		b := want.AppendBinary([]byte("prefix"))
		if string(b[:6]) != "prefix" {
			t.Fatal("AppendBinary overwrote dst")
		}
		if err := DecodeState(b[6:], &got); err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if !reflect.DeepEqual(normalize(got), normalize(want)) {
			t.Fatalf("case %d: round trip\n got %+v\nwant %+v", i, got, want)
		}
	}
}

// TestStateCopyFrom: a copy equals its source and shares no memory with it
// (the engine keeps committed states beside their working copies).
func TestStateCopyFrom(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var dst State
	for range 200 {
		src := randomState(r)
		src.Session = []byte("s-copy")
		dst.CopyFrom(&src)
		if !reflect.DeepEqual(normalize(dst), normalize(src)) {
			t.Fatalf("copy\n got %+v\nwant %+v", dst, src)
		}
		for _, b := range [][]byte{src.Visitor, src.Site, src.URL, src.ErrField, src.Session} {
			for i := range b {
				b[i] ^= 0xff
			}
		}
		if len(src.Session) > 0 && string(dst.Session) != "s-copy" {
			t.Fatal("the copy shares memory with its source")
		}
	}
	if n := testing.AllocsPerRun(100, func() { dst.CopyFrom(&dst) }); n != 0 {
		t.Errorf("CopyFrom allocates %v times in steady state", n)
	}
}

// TestStateDecodesV1 pins the version 1 encoding: a release that cannot read
// this blob would lose every session in flight during a rolling upgrade. Do
// not regenerate the file; add a new one when StateVersion changes.
func TestStateDecodesV1(t *testing.T) {
	data, err := os.ReadFile("testdata/state.v1.hex")
	if err != nil {
		t.Fatal(err)
	}
	b, err := hex.DecodeString(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	var s State
	if err := DecodeState(b, &s); err != nil {
		t.Fatal(err)
	}
	want := State{
		Flags: FlagHidden, Start: 1767225600000, Last: 1767225692000, ActiveAt: 1767225685000,
		Events: 15, PageSince: 1767225631000, Kind: 6, PageViews: 5, Distinct: 4,
		Pages: [3]uint16{0x2b5e, 0x9d1c, 0x4f11}, IdleLongestMs: 53000, IdleCartMs: 53000,
		HiddenSince: 1767225670000, HiddenCount: 1, ExitD: 100, CartValue: 34900, CartItems: 1,
		CheckoutStep: 2, Fields: [3]uint16{0x1234, 0, 0}, Focuses: 1, MovesD: 2100, TurnsD: 140,
		Seq: 1, Invites: 1, InviteSeq: 1, InviteAt: 1767225692000, InviteReason: 1,
		Deadline: 1767227492000, Visitor: []byte("v-100"), Site: []byte("shop"), URL: []byte("/checkout/payment"),
	}
	if !reflect.DeepEqual(normalize(s), normalize(want)) {
		t.Fatalf("v1 blob decodes to\n%+v\nwant\n%+v", s, want)
	}
}

func TestDecodeStateErrors(t *testing.T) {
	full := func() []byte {
		s := randomState(rand.New(rand.NewPCG(3, 4)))
		return s.AppendBinary(nil)
	}()
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"unknown version", []byte{StateVersion + 1, 0}},
		{"version 0", []byte{0, 0}},
		{"no mask", []byte{1}},
		{"mask but no fields", []byte{1, 0xff, 0x01}},
		{"truncated", full[:len(full)/2]},
		// Bit 37 is Visitor: a length of 5 with one byte behind it.
		{"string longer than input", append(binary.AppendUvarint([]byte{1}, 1<<37), 5, 'a')},
		// Values over the range of their field's type.
		{"uint32 field over range", binary.AppendUvarint(binary.AppendUvarint([]byte{1}, 1<<bitEvents), 1<<32)},
		{"uint8 field over range", binary.AppendUvarint(binary.AppendUvarint([]byte{1}, 1<<bitKind), 256)},
		{"uint16 field over range", binary.AppendUvarint(binary.AppendUvarint([]byte{1}, 1<<bitFeedbackSeen), 1<<16)},
		{"uvarint longer than input", append(binary.AppendUvarint([]byte{1}, 1<<bitEvents), 0x80)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s State
			if err := DecodeState(tc.in, &s); !errors.Is(err, ErrBadState) {
				t.Fatalf("got %v, want ErrBadState", err)
			}
		})
	}
}

// FuzzDecodeState: arbitrary bytes never panic, and whatever decodes
// re-encodes to a state that decodes to the same value.
func FuzzDecodeState(f *testing.F) {
	r := rand.New(rand.NewPCG(5, 6))
	for range 8 {
		s := randomState(r)
		f.Add(s.AppendBinary(nil))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var s, again State
		if DecodeState(b, &s) != nil {
			return
		}
		if err := DecodeState(s.AppendBinary(nil), &again); err != nil {
			t.Fatalf("re-encoded state does not decode: %v", err)
		}
		if !reflect.DeepEqual(normalize(s), normalize(again)) {
			t.Fatalf("round trip changed the state")
		}
	})
}

func TestStateReuseDoesNotAllocate(t *testing.T) {
	src := randomState(rand.New(rand.NewPCG(7, 8)))
	b := src.AppendBinary(nil)
	var s State
	buf := make([]byte, 0, 512)
	_ = DecodeState(b, &s) // warm the byte slices
	n := testing.AllocsPerRun(100, func() {
		if err := DecodeState(b, &s); err != nil {
			t.Fatal(err)
		}
		buf = s.AppendBinary(buf[:0])
	})
	if n != 0 {
		t.Fatalf("decode+encode of a warm state allocates %v times", n)
	}
}

func BenchmarkStateDecode(b *testing.B) {
	src := typicalState()
	buf := src.AppendBinary(nil)
	var s State
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if err := DecodeState(buf, &s); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStateEncode(b *testing.B) {
	src := typicalState()
	buf := src.AppendBinary(nil)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf = src.AppendBinary(buf[:0])
	}
}

// typicalState is a checkout session part-way: what most cached states look
// like.
func typicalState() State {
	return State{
		Flags: FlagInFieldFocus, Start: 1767225600000, Last: 1767225692000, ActiveAt: 1767225685000,
		Events: 23, PageSince: 1767225631000, Kind: 6, PageViews: 5, Distinct: 4,
		Pages: [3]uint16{0x2b5e, 0x9d1c, 0x4f11}, IdleLongestMs: 15000, IdleCartMs: 9000,
		CartValue: 34900, CartItems: 1, CheckoutStep: 2, FieldSince: 1767225680000,
		Fields: [3]uint16{0x1234, 0x2345, 0}, Focuses: 3, MovesD: 2100, TurnsD: 140,
		Deadline: 1767227492000, Visitor: []byte("v-3f9a1c2b"), Site: []byte("demo-shop"), URL: []byte("/checkout/payment"),
	}
}

// TestUvarint8 holds the branch-free read to binary.Uvarint on values of
// every length up to 8 bytes, on non-canonical encodings (a trailing 0x80
// 0x00 pair) and on whatever follows in the word; longer ones it leaves
// to the caller (k = 0).
func TestUvarint8(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	check := func(b []byte) {
		t.Helper()
		v, k := uvarint8(b)
		want, wantK := binary.Uvarint(b)
		if wantK > 8 {
			wantK, want = 0, 0
		}
		if v != want || k != wantK {
			t.Fatalf("uvarint8(% x) = %d, %d; binary.Uvarint: %d, %d", b, v, k, want, wantK)
		}
	}
	for bitsLen := range 65 {
		for range 200 {
			v := r.Uint64() >> (64 - bitsLen) // 0 when bitsLen is 0
			b := binary.AppendUvarint(nil, v)
			for len(b) < 16 {
				b = append(b, byte(r.Uint32())) // what follows must not count
			}
			check(b)
		}
	}
	for n := 1; n <= 9; n++ {
		b := make([]byte, 16)
		for i := range n - 1 {
			b[i] = 0x80 | byte(r.Uint32())
		}
		b[n-1] = 0 // an overlong encoding ending in a zero byte
		check(b)
	}
	check([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
}

// DecodeState does not clear the State before reading into it: decodeV1
// assigns every field. A field added to State but not to decodeV1 would
// keep what the slot held before, another session's value; this fills
// every field of the target with garbage first and expects what a fresh
// State gets, for a full state, an empty one and a corrupt one.
func TestDecodeStateOverwritesEveryField(t *testing.T) {
	full := typicalState()
	full.Visitor, full.ErrField, full.Pages, full.Fields = []byte("v-1"), []byte("email"), [3]uint16{1, 2, 3}, [3]uint16{4, 5, 6}
	for _, src := range []struct {
		name string
		b    []byte
	}{
		{"full", full.AppendBinary(nil)},
		{"empty", (&State{}).AppendBinary(nil)},
		{"corrupt", append(full.AppendBinary(nil)[:12:12], 0xff, 0xff)},
	} {
		var want State
		wantErr := DecodeState(src.b, &want)
		var got State
		v := reflect.ValueOf(&got).Elem()
		for i := range v.NumField() {
			fillGarbage(t, v.Field(i), v.Type().Field(i).Name)
		}
		gotErr := DecodeState(src.b, &got)
		if (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("%s: error %v, into a fresh State %v", src.name, gotErr, wantErr)
		}
		if (wantErr != nil) != (src.name == "corrupt") {
			t.Fatalf("%s: decode error %v", src.name, wantErr)
		}
		if !equalBesidesNilSlices(got, want) {
			t.Fatalf("%s: decoding into a used State left what it held:\n got %+v\nwant %+v", src.name, got, want)
		}
	}
}

// fillGarbage sets f, a field of State, to a value no decode produces.
func fillGarbage(t *testing.T, f reflect.Value, name string) {
	switch f.Kind() {
	case reflect.Int64, reflect.Int32, reflect.Int:
		f.SetInt(-7777)
	case reflect.Uint64, reflect.Uint32, reflect.Uint16, reflect.Uint8:
		f.SetUint(77)
	case reflect.Array:
		for i := range f.Len() {
			fillGarbage(t, f.Index(i), name)
		}
	case reflect.Slice:
		f.SetBytes([]byte("garbage"))
	default:
		t.Fatalf("State.%s: a field of kind %s; teach fillGarbage to fill it", name, f.Kind())
	}
}

// equalBesidesNilSlices compares two States treating an empty byte slice
// and a nil one as equal (the garbage-filled State keeps its capacity).
func equalBesidesNilSlices(a, b State) bool {
	norm := func(s *State) {
		for _, p := range []*[]byte{&s.Visitor, &s.Site, &s.URL, &s.ErrField, &s.Session} {
			if len(*p) == 0 {
				*p = nil
			}
		}
	}
	norm(&a)
	norm(&b)
	return reflect.DeepEqual(a, b)
}
