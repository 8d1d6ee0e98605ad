package bench

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ParseRate reads an events-per-second figure as `linger bench` takes it
// (--rate, --step, --max-rate): a number, with k for thousands or M for
// millions, and optionally "/s": 20000, 20k, 1.5k, 2M, 20k/s, 0.
func ParseRate(s string) (float64, error) {
	t := strings.TrimSpace(s)
	t = strings.TrimSpace(strings.TrimSuffix(t, "/s"))
	exp := "" // a decimal exponent: 1.5k is parsed as 1.5e3, exactly 1500
	switch {
	case strings.HasSuffix(t, "k"), strings.HasSuffix(t, "K"):
		exp, t = "e3", t[:len(t)-1]
	case strings.HasSuffix(t, "M"):
		exp, t = "e6", t[:len(t)-1]
	}
	t = strings.TrimSpace(t)
	// Digits and one point only: no exponents, hex, signs, Inf or NaN,
	// which ParseFloat would take.
	ok := t != "" && t != "."
	points := 0
	for _, c := range t {
		switch {
		case c == '.':
			points++
		case c < '0' || c > '9':
			ok = false
		}
	}
	if strings.HasPrefix(t, "-") {
		return 0, fmt.Errorf("%q: a rate must not be negative", s)
	}
	if !ok || points > 1 {
		return 0, notRate(s)
	}
	v, err := strconv.ParseFloat(t+exp, 64)
	if err != nil || math.IsInf(v, 0) {
		return 0, notRate(s)
	}
	return v, nil
}

func notRate(s string) error {
	return fmt.Errorf("%q is not a rate: write events per second as a number, with k for thousands or M for millions (20000, 20k, 1.5k, 2M)", s)
}

// FormatRate writes a rate as ParseRate reads it, in its shortest form:
// 20000 is "20k", 1500 "1.5k", 2000000 "2M", 250 "250".
func FormatRate(rate float64) string {
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	switch a := math.Abs(rate); {
	case a >= 1e6 && math.Round(rate/1e3)*1e3 == rate:
		return f(rate/1e6) + "M"
	case a >= 1e3:
		return f(rate/1e3) + "k"
	}
	return f(rate)
}
