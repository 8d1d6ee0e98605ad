package gateway

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/lingerhq/linger/schemas"
)

// MinSecretBytes is the shortest Config.Secret (and Config.PlatformToken)
// accepted.
const MinSecretBytes = 32

// minDistinctBytes is the fewest distinct byte values a secret may have: a
// secret of 32 random bytes has about 30, one typed by a person or made
// by repeating a character has a handful.
const minDistinctBytes = 16

// CheckSecret returns why b is too weak to sign tokens (or to be the
// platform's credential), or nil: shorter than MinSecretBytes, fewer than
// 16 distinct bytes (a hex secret is judged by the bytes it encodes), any
// whitespace (a pasted passphrase or a copy that took a line break along),
// or a pattern repeated (abcabcabc…). what names the secret in the error.
func CheckSecret(what string, b []byte) error {
	switch {
	case len(b) < MinSecretBytes:
		return fmt.Errorf("%s has %d bytes, want at least %d (e.g. from `head -c 32 /dev/urandom | base64`)", what, len(b), MinSecretBytes)
	case strings.ContainsFunc(string(b), unicode.IsSpace):
		return fmt.Errorf("%s contains whitespace: want random bytes, e.g. from `head -c 32 /dev/urandom | base64` (a file's last line break is not part of it)", what)
	}
	if p := period(b); p <= len(b)/2 {
		return fmt.Errorf("%s repeats a pattern of %d bytes: want random bytes, e.g. from `head -c 32 /dev/urandom | base64`", what, p)
	}
	if distinct(b) < minDistinctBytes {
		// A hex secret has at most 16 distinct characters whatever
		// its entropy: judge the bytes it encodes.
		raw, err := hex.DecodeString(string(b))
		if err != nil || distinct(raw) < len(raw)/2 {
			return fmt.Errorf("%s has %d distinct bytes, want at least %d: want random bytes, e.g. from `head -c 32 /dev/urandom | base64`", what, distinct(b), minDistinctBytes)
		}
	}
	return nil
}

// distinct returns how many byte values b holds.
func distinct(b []byte) int {
	var seen [256]bool
	n := 0
	for _, c := range b {
		if !seen[c] {
			seen[c] = true
			n++
		}
	}
	return n
}

// period returns the smallest p such that b[i] == b[i-p] for every i >= p
// (len(b) when b repeats nothing), by the prefix function of b.
func period(b []byte) int {
	if len(b) == 0 {
		return 0
	}
	pi := make([]int, len(b))
	for i := 1; i < len(b); i++ {
		k := pi[i-1]
		for k > 0 && b[i] != b[k] {
			k = pi[k-1]
		}
		if b[i] == b[k] {
			k++
		}
		pi[i] = k
	}
	return len(b) - pi[len(b)-1]
}

// secretEqual compares a credential a client sent with the configured one
// in constant time, whatever their lengths (both are hashed first, so not
// even the length leaks through timing).
func secretEqual(got string, want []byte) bool {
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256(want)
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1 && len(want) > 0
}

// checkSite returns why s cannot be a site id, or nil: 1 to
// schemas.MaxIDBytes bytes of UTF-8, no whitespace, no control character
// and none of <>"'&, since a site is shown to people (consoles, reports)
// and labels metrics.
func checkSite(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("empty site")
	case len(s) > schemas.MaxIDBytes:
		return fmt.Errorf("site of %d bytes, the limit is %d", len(s), schemas.MaxIDBytes)
	case !utf8.ValidString(s):
		return fmt.Errorf("site %q is not UTF-8", s)
	case strings.ContainsAny(s, `<>"'&`) || strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsGraphic(r) || unicode.IsSpace(r) }):
		return fmt.Errorf("site %q: want letters, digits and punctuation other than <>\"'&, no spaces", s)
	}
	return nil
}
