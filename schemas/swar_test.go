package schemas

import (
	"math/rand/v2"
	"strconv"
	"testing"
)

// notDigit8 must mark exactly the bytes a byte-at-a-time digit run stops
// at, whatever stands beside them: every byte value at every position of a
// word, among neighbours that stop and neighbours that do not.
func TestNotDigit8(t *testing.T) {
	for _, fill := range []byte{'a', '5', '"', 0x00, 0x7f, 0x80, 0xff, '/', '\\'} {
		for pos := range 8 {
			for c := range 256 {
				var b [8]byte
				for i := range b {
					b[i] = fill
				}
				b[pos] = byte(c)
				got := notDigit8(word(b[:], 0))
				for i := range b {
					want := b[i] < '0' || b[i] > '9'
					if marked := got>>(8*i+7)&1 == 1; marked != want {
						t.Fatalf("notDigit8(% x): byte %d (%#x) marked %v, want %v", b, i, b[i], marked, want)
					}
				}
				if got&^highs != 0 {
					t.Fatalf("notDigit8(% x) = %#x: bits beyond the bytes' high bits", b, got)
				}
			}
		}
	}
}

// wordRunInputs returns byte strings that mix the bytes plainRun and
// digitsEnd stop at with those they read on, at every length around a
// word, so runs end before, at and after word boundaries and near the end.
func wordRunInputs() [][]byte {
	r := rand.New(rand.NewPCG(1, 2))
	alphabets := []string{
		"abcXYZ-_./:?=%+019",
		"0123456789",
		"0123456789.e-",
		"abc\"\\<>'&\x00\x1f\x7f\x80\xc2\xe2\xff",
	}
	var out [][]byte
	for n := range 40 {
		for range 50 {
			b := make([]byte, n)
			for i := range b {
				a := alphabets[r.IntN(len(alphabets))]
				if r.IntN(4) != 0 { // mostly long runs of one kind
					a = alphabets[0]
					if n%2 == 1 {
						a = alphabets[1]
					}
				}
				b[i] = a[r.IntN(len(a))]
			}
			out = append(out, b)
		}
	}
	return out
}

func TestPlainRunAndDigitsEndAgreeWithByteLoops(t *testing.T) {
	slowPlainRun := func(b []byte, i int) (int, uint8) {
		var cls uint8
		for ; i < len(b); i++ {
			c := b[i]
			if c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
				break
			}
			cls |= fieldClass[c]
		}
		return i, cls
	}
	slowDigitsEnd := func(b []byte, i int) int {
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		return i
	}
	for _, b := range wordRunInputs() {
		for i := 0; i <= len(b); i++ {
			gotEnd, gotCls := plainRun(b, i)
			wantEnd, wantCls := slowPlainRun(b, i)
			if gotEnd != wantEnd || gotCls != wantCls {
				t.Fatalf("plainRun(%q, %d) = %d, %#x; want %d, %#x", b, i, gotEnd, gotCls, wantEnd, wantCls)
			}
			if got, want := digitsEnd(b, i), slowDigitsEnd(b, i); got != want {
				t.Fatalf("digitsEnd(%q, %d) = %d, want %d", b, i, got, want)
			}
		}
	}
}

func TestDigits8(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 100000 {
		v := r.Uint64N(100_000_000)
		s := []byte(strconv.FormatUint(v+100_000_000, 10)[1:]) // eight digits, leading zeros kept
		if got := digits8(word(s, 0)); got != v {
			t.Fatalf("digits8(%q) = %d, want %d", s, got, v)
		}
	}
	for _, s := range []string{"00000000", "99999999", "10000000", "00000001"} {
		want, _ := strconv.ParseUint(s, 10, 64)
		if got := digits8(word([]byte(s), 0)); got != want {
			t.Fatalf("digits8(%q) = %d, want %d", s, got, want)
		}
	}
}

// intText's word-at-a-time path reads integers of 9 to 16 digits; its
// answers, values and errors alike, must be those of strconv and the
// range limit, at every length and at the limit itself.
func TestIntTextLongIntegers(t *testing.T) {
	check := func(s string) {
		t.Helper()
		got, err := intText([]byte(s), "ts")
		want, perr := strconv.ParseInt(s, 10, 64)
		switch {
		case perr != nil || want > maxSafeInt:
			if err == nil {
				t.Fatalf("intText(%q) = %d, want an out of range error", s, got)
			}
		case err != nil || got != want:
			t.Fatalf("intText(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	r := rand.New(rand.NewPCG(5, 6))
	for n := 9; n <= 16; n++ {
		for range 20000 {
			b := make([]byte, n)
			for i := range b {
				b[i] = byte('0' + r.IntN(10))
			}
			check(string(b))
		}
	}
	for _, s := range []string{
		"9007199254740991", "9007199254740992", "9999999999999999", "1000000000000000",
		"100000000", "999999999", "000000000", "1767225600000", "0000001767225600",
	} {
		check(s)
	}
	// Not plain digits: the general path answers as before.
	for _, s := range []string{"1767225600000.0", "17672256000e3", "-1767225600000", "17672256000.5"} {
		if _, err := intText([]byte(s), "ts"); (err == nil) != (s != "17672256000.5") {
			t.Fatalf("intText(%q): error %v", s, err)
		}
	}
}
