package schemas

import (
	"encoding/binary"
	"unicode/utf16"
	"unicode/utf8"
)

// maxDepth bounds the nesting of arrays and objects the scanner accepts,
// as fastjson (which parses decisions) does.
const maxDepth = 300

// jkind is the JSON type of a scanned value.
type jkind uint8

const (
	jAbsent jkind = iota
	jString
	jNumber
	jTrue
	jFalse
	jNull
	jObject
	jArray
)

var jkindNames = [...]string{"", "string", "number", "true", "false", "null", "object", "array"}

// jval is a scanned value: a string's content (unescaped), a number's text,
// or only the kind of a literal, object or array.
type jval struct {
	kind jkind
	// cls is, for a string, the union of the fieldClass of its content's
	// bytes: the scan computes it on the way, so checking a field's rule
	// (field.go) costs no second pass over the field.
	cls uint8
	b   []byte
}

// scanner is a strict, single-pass JSON reader for one event: it validates
// the whole value as RFC 8259 JSON in UTF-8 and, in the same pass, picks out the fields the event contract knows, so
// decoding costs one read of the input and no allocation. Values of unknown
// fields are validated and skipped.
//
// Strings without escapes are returned as sub-slices of the input; escaped
// ones are unescaped into scratch, which has the capacity of the input, so
// slices handed out earlier stay valid while it fills.
type scanner struct {
	b       []byte
	i       int
	scratch []byte
	err     string // what is wrong, set once; the scan unwinds on it
	cls     uint8  // the fieldClass union of the last string scanned
	// guess, when set, is the key the member function of the object being
	// scanned expects next; guessed says the last key was it (and so
	// which field it is).
	guess   *keyWord
	guessed bool
}

// keyWord is an object key as it is written with its quotes and the ':'
// after it ("type":), in two little-endian words and their masks, so a
// guessed key is checked with two loads and two compares instead of a
// string scan and a lookup of its name.
type keyWord struct {
	w0, w1, m0, m1 uint64
	n              int // bytes, quotes and ':' included
	f              int // the caller's index of the key
}

// newKeyWord returns the keyWord of name, the caller's key f, which must
// be plain ASCII of at most 13 bytes.
func newKeyWord(name string, f int) keyWord {
	var buf [16]byte
	n := copy(buf[:], `"`+name+`":`)
	if n != len(name)+3 {
		panic("schemas: key too long to guess: " + name)
	}
	k := keyWord{w0: binary.LittleEndian.Uint64(buf[:]), w1: binary.LittleEndian.Uint64(buf[8:]), n: n, f: f}
	for i := range n {
		if i < 8 {
			k.m0 |= 0xff << (8 * i)
		} else {
			k.m1 |= 0xff << (8 * (i - 8))
		}
	}
	return k
}

// matchKey reports whether the input at s.i is k, and then moves past it.
// It needs 16 bytes of input left; near the end the caller scans as usual.
func (s *scanner) matchKey(k *keyWord) bool {
	if len(s.b)-s.i < 16 || !keyAt(s.b[s.i:], k) {
		return false
	}
	s.i += k.n
	return true
}

func (s *scanner) fail(msg string) {
	if s.err == "" {
		s.err = msg
	}
}

// ws skips whitespace.
func (s *scanner) ws() { s.i = ws(s.b, s.i) }

// peek returns the next byte, or 0 at the end.
func (s *scanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// top scans the whole input as one JSON value. For an object, each member is
// handed to member (the key and the scanner positioned at the value), which
// must consume the value. It returns the kind of the value.
func (s *scanner) top(member func(key []byte)) jkind {
	s.ws()
	kind := jObject
	if s.peek() == '{' {
		s.object(1, member)
	} else {
		kind = s.value(0).kind
	}
	if s.err == "" {
		s.ws()
		if s.i < len(s.b) {
			s.fail("unexpected data after the top-level value")
		}
	}
	return kind
}

// object scans an object, calling member for each key (nil: skip values).
func (s *scanner) object(depth int, member func(key []byte)) {
	if depth > maxDepth {
		s.fail("nested too deep")
		return
	}
	s.i++ // '{'
	s.ws()
	if s.peek() == '}' {
		s.i++
		return
	}
	for s.err == "" {
		if s.peek() != '"' {
			s.fail("expected a string key")
			return
		}
		var key []byte
		if s.guessed = member != nil && s.guess != nil && s.matchKey(s.guess); s.guessed {
			key = s.b[s.i-s.guess.n+1 : s.i-2]
			s.ws()
		} else {
			key = s.str()
			s.ws()
			if s.peek() != ':' {
				s.fail("expected ':' after an object key")
				return
			}
			s.i++
			s.ws()
		}
		if member != nil {
			member(key)
		} else {
			s.value(depth)
		}
		s.ws()
		switch s.peek() {
		case ',':
			s.i++
			s.ws()
		case '}':
			s.i++
			return
		default:
			s.fail("expected ',' or '}' in an object")
			return
		}
	}
}

// value scans any value; depth is that of the enclosing container.
func (s *scanner) value(depth int) jval {
	switch c := s.peek(); {
	case c == '"':
		b := s.str()
		return jval{kind: jString, cls: s.cls, b: b}
	case c == '-' || c >= '0' && c <= '9':
		return jval{kind: jNumber, b: s.number()}
	case c == '{':
		s.object(depth+1, nil)
		return jval{kind: jObject}
	case c == '[':
		s.array(depth + 1)
		return jval{kind: jArray}
	case c == 't' || c == 'f' || c == 'n':
		kind, j := literalAt(s.b, s.i)
		if kind == jAbsent {
			s.fail("invalid literal")
			return jval{}
		}
		s.i = j
		return jval{kind: kind}
	case c == 0 && s.i >= len(s.b):
		s.fail("unexpected end of input")
	default:
		s.fail("unexpected character")
	}
	return jval{}
}

func (s *scanner) array(depth int) {
	if depth > maxDepth {
		s.fail("nested too deep")
		return
	}
	s.i++ // '['
	s.ws()
	if s.peek() == ']' {
		s.i++
		return
	}
	for s.err == "" {
		s.value(depth)
		s.ws()
		switch s.peek() {
		case ',':
			s.i++
			s.ws()
		case ']':
			s.i++
			return
		default:
			s.fail("expected ',' or ']' in an array")
			return
		}
	}
}

// number scans -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? and returns
// its text.
func (s *scanner) number() []byte {
	start := s.i
	if s.peek() == '-' {
		s.i++
	}
	switch c := s.peek(); {
	case c == '0':
		s.i++
	case c >= '1' && c <= '9':
		s.digits()
	default:
		s.fail("invalid number")
		return nil
	}
	if s.peek() == '.' {
		s.i++
		if !s.digits() {
			s.fail("invalid number: no digits after '.'")
			return nil
		}
	}
	if c := s.peek(); c == 'e' || c == 'E' {
		s.i++
		if c := s.peek(); c == '+' || c == '-' {
			s.i++
		}
		if !s.digits() {
			s.fail("invalid number: no digits in the exponent")
			return nil
		}
	}
	return s.b[start:s.i]
}

func (s *scanner) digits() bool {
	i := digitsEnd(s.b, s.i)
	ok := i > s.i
	s.i = i
	return ok
}

// plain marks the bytes a string can hold as they are and that no field
// rule looks for: ASCII but not '"', '\\', a control character, DEL or one
// of < > ' &. Other bytes take the slow path, which checks that non-ASCII
// bytes are UTF-8 (the scanner is the only UTF-8 check, and outside strings
// any non-ASCII byte is a syntax error anyway) and gathers the fieldClass
// of those a rule looks for. Such bytes are rare in the fields of an
// event, so the loop over the common ones stays a bare table lookup.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\' && fieldClass[c] == 0
	}
	return t
}()

// str scans a string (the scanner is at its '"') and returns its content;
// s.cls is then the fieldClass union of the content.
func (s *scanner) str() []byte {
	b := s.b
	start := s.i + 1
	i := start
	var cls uint8
	for {
		j, run := plainRun(b, i)
		i, cls = j, cls|run
		if i >= len(b) {
			s.i = i
			s.fail("unterminated string")
			return nil
		}
		c := b[i]
		if c < utf8.RuneSelf {
			break // '"', '\\' or a control character
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			s.i = i
			s.fail("invalid UTF-8 in a string")
			return nil
		}
		cls |= fieldClass[c]
		i += size
	}
	s.i = i
	switch b[i] {
	case '"':
		s.i = i + 1
		s.cls = cls
		return b[start:i:i]
	case '\\':
		return s.unescape(start, cls)
	}
	s.fail("control character in a string")
	return nil
}

// unescape finishes a string that has escapes, from its content's start,
// writing the unescaped content to scratch; cls is the fieldClass union of
// the content so far. Lone surrogates become U+FFFD, as encoding/json and
// JavaScript's JSON.parse make them.
func (s *scanner) unescape(start int, cls uint8) []byte {
	out0 := len(s.scratch)
	s.scratch = append(s.scratch, s.b[start:s.i]...)
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			s.cls = cls
			return s.scratch[out0:len(s.scratch):len(s.scratch)]
		case c < 0x20:
			s.fail("control character in a string")
			return nil
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(s.b[s.i:])
			if r == utf8.RuneError && size == 1 {
				s.fail("invalid UTF-8 in a string")
				return nil
			}
			cls |= fieldClass[c]
			s.scratch = append(s.scratch, s.b[s.i:s.i+size]...)
			s.i += size
			continue
		case c != '\\':
			cls |= fieldClass[c]
			s.scratch = append(s.scratch, c)
			s.i++
			continue
		}
		if s.i+1 >= len(s.b) {
			break
		}
		e := s.b[s.i+1]
		s.i += 2
		// What an escape stands for has the class of the first byte it
		// writes (the lead byte of a character beyond ASCII).
		lead := len(s.scratch)
		switch e {
		case '"', '\\', '/':
			s.scratch = append(s.scratch, e)
		case 'b':
			s.scratch = append(s.scratch, '\b')
		case 'f':
			s.scratch = append(s.scratch, '\f')
		case 'n':
			s.scratch = append(s.scratch, '\n')
		case 'r':
			s.scratch = append(s.scratch, '\r')
		case 't':
			s.scratch = append(s.scratch, '\t')
		case 'u':
			r, ok := s.hex4()
			if !ok {
				s.fail("invalid \\u escape")
				return nil
			}
			if utf16.IsSurrogate(r) {
				// A high surrogate followed by a \u low surrogate is one
				// character; anything else is a lone surrogate.
				r2 := utf8.RuneError
				if s.i+1 < len(s.b) && s.b[s.i] == '\\' && s.b[s.i+1] == 'u' {
					save := s.i
					s.i += 2
					lo, ok := s.hex4()
					if !ok {
						s.fail("invalid \\u escape")
						return nil
					}
					if dec := utf16.DecodeRune(r, lo); dec != utf8.RuneError {
						r2 = dec
					} else {
						s.i = save // the second escape stands on its own
					}
				}
				r = r2
			}
			s.scratch = utf8.AppendRune(s.scratch, r)
		default:
			s.fail("invalid escape in a string")
			return nil
		}
		cls |= fieldClass[s.scratch[lead]]
	}
	s.fail("unterminated string")
	return nil
}

func (s *scanner) hex4() (rune, bool) {
	if len(s.b)-s.i < 4 {
		return 0, false
	}
	var r rune
	for _, c := range s.b[s.i : s.i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	s.i += 4
	return r, true
}

// validJSON returns an error if b is not exactly one JSON value in UTF-8. fastjson, which parses decisions, is lenient: it reads 01, +1, NaN,
// raw control characters in strings and unknown escapes, which are not JSON
// and which a JSON Schema validator refuses.
func validJSON(b []byte) error {
	s := scanner{b: b, scratch: make([]byte, 0, len(b))}
	s.top(nil)
	if s.err != "" {
		return jsonError{s.err, s.i}
	}
	return nil
}

type jsonError struct {
	msg string
	at  int
}

func (e jsonError) Error() string { return e.msg + " at byte " + itoa(e.at) }

func itoa(n int) string { return string(appendUint(nil, uint64(n))) }
