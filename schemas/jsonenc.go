package schemas

import (
	"math"
	"strconv"
	"unicode/utf8"
)

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string, quoted and escaped. Invalid UTF-8
// becomes U+FFFD, so the output is always valid JSON.
func AppendString[S ~string | ~[]byte](dst []byte, s S) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				// Short forms for every escape JSON has: \u0008 is three
				// times the input's \b, and would let AppendEvent turn a
				// valid event into one over MaxEventBytes.
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(string(s[i:min(i+utf8.UTFMax, len(s))]))
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, "\ufffd"...)
			i++
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendFixed appends f with at most prec decimals, trailing zeros trimmed,
// so that encoded scores are short and stable; prec -1 gives the shortest
// form that reads back as f exactly. NaN and infinities, which JSON cannot
// carry, become 0.
func appendFixed(dst []byte, f float64, prec int) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, '0')
	}
	start := len(dst)
	dst = strconv.AppendFloat(dst, f, 'f', prec, 64)
	if prec > 0 {
		i := len(dst)
		for i > start && dst[i-1] == '0' {
			i--
		}
		if i > start && dst[i-1] == '.' {
			i--
		}
		dst = dst[:i]
	}
	if string(dst[start:]) == "-0" {
		dst = append(dst[:start], '0')
	}
	return dst
}

// objWriter appends the fields of one JSON object.
type objWriter struct {
	b     []byte
	first bool
}

func (w *objWriter) key(k string) {
	if !w.first {
		w.b = append(w.b, ',')
	}
	w.first = false
	w.b = append(w.b, '"')
	w.b = append(w.b, k...)
	w.b = append(w.b, '"', ':')
}

func (w *objWriter) str(k string, v []byte) {
	w.key(k)
	w.b = AppendString(w.b, v)
}

func (w *objWriter) strs(k string, v string) {
	w.key(k)
	w.b = AppendString(w.b, v)
}

func (w *objWriter) int(k string, v int64) {
	w.key(k)
	w.b = strconv.AppendInt(w.b, v, 10)
}

func (w *objWriter) float(k string, v float64, prec int) {
	w.key(k)
	w.b = appendFixed(w.b, v, prec)
}

func (w *objWriter) bool(k string, v bool) {
	w.key(k)
	w.b = strconv.AppendBool(w.b, v)
}

func (w *objWriter) open() { w.b = append(w.b, '{'); w.first = true }

func (w *objWriter) close() { w.b = append(w.b, '}'); w.first = false }
