package schemas

import (
	"fmt"
	"math"
	"strconv"
)

// maxSafeInt is the largest integer a JSON number carries exactly in every
// client (2^53-1, JavaScript's Number.MAX_SAFE_INTEGER).
const maxSafeInt = 1<<53 - 1

// pow10u holds 10^0 to 10^8.
var pow10u = [9]uint64{1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8}

// intText returns the JSON number num as an integer. Like JSON Schema's
// "integer", it accepts a number with a zero fraction (3.0, 1.13e2), but not
// 3.5. Whether the number is integral is read from its text: once rounded to
// a float64, 3.0000000000000001 would pass for 3.
func intText(num []byte, field string) (int64, error) {
	// Fast path: plain digits, as every collector writes integers; those
	// of 9 to 16 digits (a millisecond timestamp has 13) two words at a
	// time.
	if n := len(num); n > 8 && n <= 16 {
		hi, lo := word(num, 0), word(num, n-8)
		if notDigit8(hi)|notDigit8(lo) == 0 {
			// lo's first 16-n bytes are hi's last: cleared, they count
			// as leading zeros.
			v := digits8(hi)*pow10u[n-8] + digits8(lo&(^uint64(0)<<(8*(16-n))))
			if v > maxSafeInt {
				return 0, invalid(field, "out of range")
			}
			return int64(v), nil
		}
	}
	if digits := num; len(digits) > 0 && len(digits) <= 16 {
		neg := digits[0] == '-'
		if neg {
			digits = digits[1:]
		}
		var n int64
		plain := len(digits) > 0
		for _, c := range digits {
			if c < '0' || c > '9' {
				plain = false
				break
			}
			n = n*10 + int64(c-'0')
		}
		if plain {
			if n > maxSafeInt {
				return 0, invalid(field, "out of range")
			}
			if neg {
				n = -n
			}
			return n, nil
		}
	}
	d := parseDecimal(num)
	if !d.integral() {
		return 0, wrongType(field, "an integer", "number")
	}
	if len(d.frac) == 0 && d.exp == 0 && len(d.whole) <= 16 {
		// Plain digits, below 10^16: exact in an int64.
		var n int64
		for _, c := range d.whole {
			n = n*10 + int64(c-'0')
		}
		if d.neg {
			n = -n
		}
		if n > maxSafeInt || n < -maxSafeInt {
			return 0, invalid(field, "out of range")
		}
		return n, nil
	}
	// An integral float64 is exact up to 2^53, which is the limit anyway.
	f, err := parseFloat(num)
	if err != nil || f > maxSafeInt || f < -maxSafeInt {
		return 0, invalid(field, "out of range")
	}
	return int64(f), nil
}

// countText returns num as a non-negative integer below 2^32.
func countText(num []byte, field string) (int64, error) {
	n, err := intText(num, field)
	if err != nil {
		return 0, err
	}
	if n < 0 || n > math.MaxUint32 {
		return 0, invalid(field, "must be between 0 and 4294967295")
	}
	return n, nil
}

// floatInText returns num as a number between lo and hi. A number that
// rounds to a bound is compared with it exactly, as a JSON Schema validator
// does: 1.00000000000000001 rounds to 1 but is above it.
func floatInText(num []byte, field string, lo, hi float64) (float64, error) {
	f, err := parseFloat(num)
	if err != nil {
		return 0, invalid(field, "not a representable number")
	}
	in := f >= lo && f <= hi
	if in && (f == lo || f == hi) {
		var lb, hb [32]byte
		x, l, h := parseDecimal(num), parseDecimal(strconv.AppendFloat(lb[:0], lo, 'g', -1, 64)), parseDecimal(strconv.AppendFloat(hb[:0], hi, 'g', -1, 64))
		in = x.compare(&l) >= 0 && x.compare(&h) <= 0
	}
	if !in {
		return 0, invalid(field, fmt.Sprintf("must be between %g and %g", lo, hi))
	}
	return f, nil
}

// parseFloat parses a JSON number's text. It is strconv's, which rounds
// correctly, rather than fastjson's Float64, which can be an ulp off
// (3e-1 gives 0.30000000000000004, 1.13e2 gives 112.99999999999999).
func parseFloat(num []byte) (float64, error) {
	f, err := strconv.ParseFloat(string(num), 64)
	if err == nil && (math.IsNaN(f) || math.IsInf(f, 0)) {
		// strconv reads "NaN" and "Inf", which are not JSON.
		err = strconv.ErrSyntax
	}
	return f, err
}

// decimal is a JSON number's text read exactly, with no float64 rounding:
// the digits before and after the point, and the exponent.
type decimal struct {
	neg         bool
	whole, frac []byte
	exp         int
}

// parseDecimal reads num, which must be a valid JSON number.
func parseDecimal(num []byte) decimal {
	var d decimal
	if len(num) > 0 && num[0] == '-' {
		d.neg, num = true, num[1:]
	}
	digits := func() []byte {
		i := 0
		for i < len(num) && num[i] >= '0' && num[i] <= '9' {
			i++
		}
		r := num[:i]
		num = num[i:]
		return r
	}
	d.whole = digits()
	if len(num) > 0 && num[0] == '.' {
		num = num[1:]
		d.frac = digits()
	}
	if len(num) > 0 && (num[0] == 'e' || num[0] == 'E') {
		num = num[1:]
		neg := len(num) > 0 && num[0] == '-'
		if len(num) > 0 && (num[0] == '-' || num[0] == '+') {
			num = num[1:]
		}
		for _, c := range digits() {
			// Saturate: no value within MaxEventBytes needs more, and
			// 1e99999999999999999999 must not wrap around.
			if d.exp < 1<<20 {
				d.exp = d.exp*10 + int(c-'0')
			}
		}
		if neg {
			d.exp = -d.exp
		}
	}
	return d
}

func (d *decimal) len() int { return len(d.whole) + len(d.frac) }

// digit returns digit i, counting from the first digit of whole; digits
// past the end are '0'.
func (d *decimal) digit(i int) byte {
	if i < len(d.whole) {
		return d.whole[i]
	}
	if i < d.len() {
		return d.frac[i-len(d.whole)]
	}
	return '0'
}

// power returns the power of ten that digit i stands for.
func (d *decimal) power(i int) int { return d.exp + len(d.whole) - 1 - i }

// nonZero returns the first and last non-zero digits, or -1, -1 for zero.
func (d *decimal) nonZero() (first, last int) {
	first, last = -1, -1
	for i := range d.len() {
		if d.digit(i) != '0' {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	return first, last
}

func (d *decimal) integral() bool {
	_, last := d.nonZero()
	return last < 0 || d.power(last) >= 0
}

func (d *decimal) sign() int {
	if first, _ := d.nonZero(); first < 0 {
		return 0
	}
	if d.neg {
		return -1
	}
	return 1
}

// compare returns -1, 0 or +1 as d is less than, equal to or greater than e.
func (d *decimal) compare(e *decimal) int {
	s, t := d.sign(), e.sign()
	if s != t {
		if s < t {
			return -1
		}
		return 1
	}
	if s == 0 {
		return 0
	}
	// Same sign, both non-zero: compare magnitudes, then apply the sign.
	i, _ := d.nonZero()
	j, _ := e.nonZero()
	mag := 0
	if p, q := d.power(i), e.power(j); p != q {
		mag = 1
		if p < q {
			mag = -1
		}
	} else {
		for ; mag == 0 && (i < d.len() || j < e.len()); i, j = i+1, j+1 {
			if a, b := d.digit(i), e.digit(j); a != b {
				mag = 1
				if a < b {
					mag = -1
				}
			}
		}
	}
	return s * mag
}
