package schemas

import (
	"encoding/binary"
	"math/bits"
)

// Eight bytes at a time: runs of digits (a millisecond timestamp has 13)
// are found and read a word at a time rather than a byte at a time, where
// a word of input is left. notDigit8 sets the high bit of the bytes of a
// little-endian word (the byte at the lowest address in its lowest bits)
// that stop a run, and only those: no carry crosses from one byte into the
// next, as every sum stays below 0x100 in its byte.
//
// Strings are read a byte at a time still: the same test for their bytes
// (a dozen compares a word) made BenchmarkDecodeStream 2% slower, as an
// event's ids and names are mostly shorter than a word.

const (
	lows  = 0x0101010101010101
	highs = 0x8080808080808080
	low7  = 0x7f7f7f7f7f7f7f7f
)

// word returns the eight bytes at b[i:] as a little-endian word; b must
// hold them.
func word(b []byte, i int) uint64 { return binary.LittleEndian.Uint64(b[i:]) }

// firstByte returns the index within its word of the lowest byte a stop
// mask marks; the mask must not be 0.
func firstByte(stop uint64) int { return bits.TrailingZeros64(stop) >> 3 }

// notDigit8 marks the bytes of w that are not '0' to '9'.
func notDigit8(w uint64) uint64 {
	x := w ^ '0'*lows // a digit's byte becomes 0 to 9
	// 0x76 + 0–9 stays below 0x80; anything more, or a byte whose own
	// high bit is set, is not a digit.
	return ((x&low7 + 0x76*lows) | x) & highs
}

// digits8 returns the number eight ASCII digits in w spell, the first at the
// lowest address the most significant; w must hold digits only, but bytes
// at the front may be cleared to 0, which read as leading zeros.
func digits8(w uint64) uint64 {
	w &= 0x0f0f0f0f0f0f0f0f
	// Pairs, then fours, then all eight: each step puts ten, a hundred or
	// ten thousand times the earlier group beside the later one.
	w = w * (10<<8 + 1) >> 8 & 0x00ff00ff00ff00ff
	w = w * (100<<16 + 1) >> 16 & 0x0000ffff0000ffff
	return w * (10000<<32 + 1) >> 32
}
