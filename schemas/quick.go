package schemas

import "encoding/binary"

// quick is the decoder's fast path for events as collectors write them:
// keys the contract knows, strings without escapes or bytes beyond ASCII,
// and a page object holding only url and kind. It fills d.vals and
// d.present exactly as the scanner would, in one loop over local
// variables, without the scanner's per-member call and its error checks
// after every step; whitespace between tokens (pretty-printed JSON, or
// Python's ", " and ": ") costs a compare where there is none. At the
// first thing it does not handle it returns false, having decided
// nothing, and Decode scans the value again the general way, which also
// finds what is wrong with it, if anything: the fast path never reports an
// error, so what an event decodes to, or the problem a record is rejected
// with, does not depend on which path read it (FuzzDecodeQuick holds the
// two to that).
func (d *Decoder) quick(b []byte) bool {
	i := ws(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false // not an object: the scanner says what it is
	}
	prev := afterStart
	for {
		i = ws(b, i+1) // past the '{' or ','
		// A key, with its quotes and the ':' after it.
		f := -1
		if n := d.next[prev]; n > 0 && len(b)-i >= 16 && keyAt(b[i:], &fieldWords[n-1]) {
			f = int(n - 1)
			i += fieldWords[f].n
		} else {
			if i >= len(b) || b[i] != '"' {
				return false // and an empty object
			}
			j := i + 1
			for j < len(b) && plain[b[j]] {
				j++
			}
			if j+1 >= len(b) || b[j] != '"' || b[j+1] != ':' {
				return false
			}
			if f = fieldIndex(b[i+1 : j]); f < 0 {
				return false
			}
			d.next[prev] = uint8(f + 1)
			i = j + 2
		}
		prev = f
		// Its value.
		if i = ws(b, i); i >= len(b) {
			return false
		}
		switch c := b[i]; {
		case c == '"':
			j, cls, ok := plainString(b, i+1)
			if !ok {
				return false
			}
			d.vals[f] = jval{kind: jString, cls: cls, b: b[i+1 : j : j]}
			i = j + 1
		case c >= '0' && c <= '9' || c == '-':
			j := numberEnd(b, i)
			if j < 0 {
				return false
			}
			d.vals[f] = jval{kind: jNumber, b: b[i:j]}
			i = j
		case c == '{' && f == fPage:
			d.present &^= 1<<fPageURL | 1<<fPageKind
			if i = d.quickPage(b, i); i < 0 {
				return false
			}
			d.vals[f] = jval{kind: jObject}
		default:
			kind, j := literalAt(b, i)
			if kind == jAbsent {
				return false
			}
			d.vals[f] = jval{kind: kind}
			i = j
		}
		d.present |= 1 << f
		if i = ws(b, i); i >= len(b) {
			return false
		}
		switch b[i] {
		case ',':
		case '}':
			if ws(b, i+1) != len(b) {
				return false
			}
			d.prev = prev
			return true
		default:
			return false
		}
	}
}

// quickPage reads a page object at b[i] ('{') whose members are url and
// kind with string values, and returns the index after it, or -1 for
// anything else.
func (d *Decoder) quickPage(b []byte, i int) int {
	guess := &pageWords[0]
	for {
		i = ws(b, i+1) // past the '{' or ','
		var f int
		switch {
		case len(b)-i >= 16 && keyAt(b[i:], guess):
			f = guess.f
			i += guess.n
		case len(b)-i >= 7 && string(b[i:i+6]) == `"url":`:
			f = fPageURL
			i += 6
		case len(b)-i >= 8 && string(b[i:i+7]) == `"kind":`:
			f = fPageKind
			i += 7
		default:
			return -1
		}
		if i = ws(b, i); i >= len(b) || b[i] != '"' {
			return -1
		}
		j, cls, ok := plainString(b, i+1)
		if !ok {
			return -1
		}
		d.vals[f] = jval{kind: jString, cls: cls, b: b[i+1 : j : j]}
		d.present |= 1 << f
		if f == fPageURL {
			guess = &pageWords[1]
		} else {
			guess = &pageWords[0]
		}
		if i = ws(b, j+1); i >= len(b) {
			return -1
		}
		switch b[i] {
		case ',':
		case '}':
			return i + 1
		default:
			return -1
		}
	}
}

// ws returns the index of the first byte at or after i that is not JSON
// whitespace. The test before the loop keeps it inlined and costs
// compact JSON one compare.
func ws(b []byte, i int) int {
	if i < len(b) && b[i] > ' ' {
		return i
	}
	return wsLoop(b, i)
}

func wsLoop(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\t' || b[i] == '\r') {
		i++
	}
	return i
}

// keyAt reports whether b, at least 16 bytes, starts with k.
func keyAt(b []byte, k *keyWord) bool {
	return binary.LittleEndian.Uint64(b)&k.m0 == k.w0 && binary.LittleEndian.Uint64(b[8:16])&k.m1 == k.w1
}

// plainRun returns the index of the first byte at or after i that ends a
// run of a string's content the fast path reads as it is: '"', '\\', a
// control character, a byte beyond ASCII, or the end of b; and the
// fieldClass union of the run (DEL or one of < > ' &, which plain leaves
// out). The scanner's str goes on from there; the fast path reads only
// strings that end at the '"'.
func plainRun(b []byte, i int) (int, uint8) {
	var cls uint8
	for {
		for i < len(b) && plain[b[i]] {
			i++
		}
		if i >= len(b) {
			return i, cls
		}
		c := b[i]
		if c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			return i, cls
		}
		cls |= fieldClass[c]
		i++
	}
}

// plainString reads a string's content from b[i] up to its closing quote,
// and returns the quote's index and the fieldClass union of the content.
// ok is false for an escape, a control character, a byte beyond ASCII or
// no closing quote.
func plainString(b []byte, i int) (end int, cls uint8, ok bool) {
	end, cls = plainRun(b, i)
	return end, cls, end < len(b) && b[end] == '"'
}

// numberEnd returns the index after the JSON number at b[i], or -1 if
// there is none: the grammar of scanner.number.
func numberEnd(b []byte, i int) int {
	if b[i] == '-' {
		i++
	}
	switch {
	case i >= len(b):
		return -1
	case b[i] == '0':
		i++
	case b[i] >= '1' && b[i] <= '9':
		i = digitsEnd(b, i)
	default:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		j := digitsEnd(b, i+1)
		if j == i+1 {
			return -1
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digitsEnd(b, i)
		if j == i {
			return -1
		}
		i = j
	}
	return i
}

// digitsEnd returns the index of the first byte at or after i that is not
// a digit, or len(b).
func digitsEnd(b []byte, i int) int {
	for i+8 <= len(b) {
		if stop := notDigit8(word(b, i)); stop != 0 {
			return i + firstByte(stop)
		}
		i += 8
	}
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}

// literalAt returns the kind of the true, false or null at b[i] and the
// index after it, or jAbsent.
func literalAt(b []byte, i int) (jkind, int) {
	switch r := b[i:]; {
	case len(r) >= 4 && string(r[:4]) == "true":
		return jTrue, i + 4
	case len(r) >= 5 && string(r[:5]) == "false":
		return jFalse, i + 5
	case len(r) >= 4 && string(r[:4]) == "null":
		return jNull, i + 4
	}
	return jAbsent, 0
}
