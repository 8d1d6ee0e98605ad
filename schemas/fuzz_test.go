package schemas

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"unicode/utf8"

	"github.com/valyala/fastjson"
)

// FuzzDecode holds the decoder to three promises on any input: it does not
// panic, what it accepts AppendEvent writes back in a form it reads as the
// same Event (decode, encode, decode again), and a decoder that learned
// the input's key order (Decoder.next) decodes it as a fresh one does.
func FuzzDecode(f *testing.F) {
	for _, dir := range []string{"events/valid", "events/invalid"} {
		for _, g := range goldens(f, dir) {
			f.Add(goldenKey(g), g.data)
		}
	}
	f.Fuzz(func(t *testing.T, key, value []byte) {
		var d Decoder
		var ev Event
		err := d.Decode(key, value, testNowMs, &ev)
		first := fmt.Sprintf("%+v %v", ev, err)
		var again Event
		errAgain := d.Decode(key, value, testNowMs, &again)
		if second := fmt.Sprintf("%+v %v", again, errAgain); second != first {
			t.Fatalf("decoded again with the key order learned:\n%s\nthe first time:\n%s", second, first)
		}
		if err != nil {
			if err != ErrUnknownType && ProblemOf(err) == ProblemNone {
				t.Fatalf("Decode returned %v, neither ErrUnknownType nor a *DecodeError", err)
			}
			if n := len(err.Error()); n > MaxDetailBytes {
				t.Fatalf("an error of %d bytes, over MaxDetailBytes: %v", n, err)
			}
			return
		}
		// ev may point into the decoder's scratch, which the second
		// decode rewrote: check the event it made.
		checkEventRoundtrip(t, key, &again, nil)
	})
}

// FuzzAppendString: whatever the bytes, the output is one valid JSON string
// that reads back as the input with each invalid byte replaced by U+FFFD.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "a\"b\\c", "\x00\x1f\x7f", "größe", "\xff", "\xed\xa0\x80", "\xe2\x82", "\u2028", "🧶"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := AppendString([]byte("prefix"), s)
		if !bytes.HasPrefix(out, []byte("prefix")) {
			t.Fatalf("AppendString overwrote dst: %q", out)
		}
		out = out[len("prefix"):]
		if !json.Valid(out) || !utf8.Valid(out) {
			t.Fatalf("AppendString(%q) = %q, not valid JSON", s, out)
		}
		var got string
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatal(err)
		}
		// Converting to runes replaces each invalid byte by U+FFFD.
		if want := string([]rune(s)); got != want {
			t.Fatalf("AppendString(%q) reads back as %q, want %q", s, got, want)
		}
		if b := AppendString(nil, []byte(s)); !bytes.Equal(b, out) {
			t.Fatalf("AppendString differs for string and []byte: %q, %q", out, b)
		}
	})
}

// FuzzEventSchemaAgreement is the contract test on inputs nobody thought
// of: the codec and a JSON Schema validator must agree on whether an event
// is valid. It skips what the schema's description already owns up to:
// non-ASCII text (lengths are bytes for the codec, characters for the
// schema), \u escapes above ASCII (lone surrogates), the size and nesting
// limits; and it takes the key from the value, as a collector would.
func FuzzEventSchemaAgreement(f *testing.F) {
	evSch, _ := schemas(f)
	for _, dir := range []string{"events/valid", "events/invalid"} {
		for _, g := range goldens(f, dir) {
			f.Add(g.data)
		}
	}
	f.Fuzz(func(t *testing.T, value []byte) {
		if len(value) > MaxEventBytes || !plainASCII(value) {
			t.Skip()
		}
		var d Decoder
		var ev Event
		err := d.Decode(nil, value, 0, &ev)
		if ProblemOf(err) == ProblemKeyMismatch {
			err = d.Decode(bytes.Clone(ev.Session), value, 0, &ev)
		}
		codecOK := err == nil || err == ErrUnknownType
		parsed, serr := schemaVerdict(evSch, value)
		switch {
		case !parsed:
			if codecOK {
				t.Fatalf("codec accepts what encoding/json cannot parse (%v)", serr)
			}
		case ProblemOf(err) == ProblemInvalidJSON && nesting(value) > fastjson.MaxDepth:
		case codecOK != (serr == nil):
			t.Fatalf("codec says %v, schema says %v", err, serr)
		}
	})
}

// FuzzParseDecision: ParseDecision and the decision schema agree, and what
// ParseDecision accepts AppendDecision writes back in a form it accepts and
// that no longer changes (AppendDecision rounds once, then is stable).
func FuzzParseDecision(f *testing.F) {
	_, decSch := schemas(f)
	for _, dir := range []string{"decisions/valid", "decisions/invalid"} {
		for _, g := range goldens(f, dir) {
			f.Add(g.data)
		}
	}
	f.Fuzz(func(t *testing.T, value []byte) {
		d, err := ParseDecision(value)
		if plainASCII(value) {
			parsed, serr := schemaVerdict(decSch, value)
			if parsed && (err == nil) != (serr == nil) && !(err != nil && nesting(value) > fastjson.MaxDepth) {
				t.Fatalf("ParseDecision says %v, schema says %v", err, serr)
			}
			if !parsed && err == nil {
				t.Fatalf("ParseDecision accepts what encoding/json cannot parse (%v)", serr)
			}
		}
		if err != nil {
			return
		}
		enc := AppendDecision(nil, d)
		d2, err := ParseDecision(enc)
		if err != nil {
			t.Fatalf("ParseDecision(AppendDecision(d)): %v\n%s", err, enc)
		}
		if enc2 := AppendDecision(nil, d2); !bytes.Equal(enc, enc2) {
			t.Fatalf("AppendDecision is not stable:\n%s\n%s", enc, enc2)
		}
	})
}

// plainASCII reports whether b is ASCII with no \u escape beyond ASCII.
func plainASCII(b []byte) bool {
	for i, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
		if c == '\\' && i+5 < len(b) && b[i+1] == 'u' && !(b[i+2] == '0' && b[i+3] == '0' && b[i+4] <= '7') {
			return false
		}
	}
	return true
}
