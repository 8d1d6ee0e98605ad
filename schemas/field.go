package schemas

import (
	"fmt"
	"strconv"
	"unicode/utf8"
)

// What a string field may hold. Text a browser sends reaches people: a
// form field's name becomes a decision's signals[].detail, a page URL its
// page.url, and an agent console may render them. So every string of a
// record that can reach a decision, a state record or a metric label
// follows one of three rules, checked by the decoders (ProblemBadField)
// and stated as patterns in the JSON Schemas:
//
//   - an id (session, visitor, invite_id) holds no control character, and
//     nothing else is asked of it, so the ids producers already send keep
//     working;
//   - a display name (site, team, form, field) holds no control character
//     and none of < > " ' &, the characters that open markup, end a quoted
//     attribute or start a character reference;
//   - a URL (page.url, ref) is empty, a path ("/…") or an http(s) URL
//     (javascript:, data: and every other scheme are refused), with no
//     control character and none of < > " '. A URL may hold '&': a query
//     string needs it, and alone it can neither open markup nor end an
//     attribute.
//
// A control character is one of Unicode's Cc (U+0000–U+001F, U+007F–U+009F:
// NUL, CR, LF, ESC, DEL…) or one that changes how the text around it is
// laid out: the line and paragraph separators U+2028 and U+2029 and the
// bidirectional embeddings, overrides and isolates U+202A–U+202E and
// U+2066–U+2069, with which a name can display as something else.
//
// The scanner gathers each string's byte classes as it reads it (jval.cls),
// so checking a valid field is a mask test: no second pass, no allocation.

// fieldRule is what a string field may hold.
type fieldRule uint8

const (
	ruleID fieldRule = iota
	ruleName
	ruleURL
	numRules
)

// Byte classes of fieldClass.
const (
	clControl = 1 << iota // C0 control or DEL
	clMarkup              // < > " '
	clAmp                 // &
	// clLead: 0xC2 and 0xE2 lead the UTF-8 of every non-ASCII control
	// character (C1: C2 80–9F; U+2028–U+202E: E2 80 A8–AE; U+2066–U+2069:
	// E2 81 A6–A9). Fields holding one are looked at rune by rune; other
	// non-ASCII text costs nothing more.
	clLead
)

var fieldClass = func() (t [256]uint8) {
	for c := range 0x20 {
		t[c] = clControl
	}
	t[0x7f] = clControl
	for _, c := range []byte(`<>"'`) {
		t[c] = clMarkup
	}
	t['&'] = clAmp
	t[0xc2], t[0xe2] = clLead, clLead
	return t
}()

// ruleClasses are the byte classes each rule looks for. Its size is a
// power of two so that indexing it by rule&3 needs no bounds check.
var ruleClasses = [4]uint8{
	ruleID:   clControl | clLead,
	ruleName: clControl | clMarkup | clAmp | clLead,
	ruleURL:  clControl | clMarkup | clLead,
}

// isLayoutControl reports whether r is a non-ASCII control character:
// C1, the line and paragraph separators, or a bidirectional control.
func isLayoutControl(r rune) bool {
	return r >= 0x80 && r <= 0x9f || r >= 0x2028 && r <= 0x202e || r >= 0x2066 && r <= 0x2069
}

// checkField returns a ProblemBadField error if b, the value of field,
// holds what rule does not allow, and nil otherwise. b is valid UTF-8.
func checkField(b []byte, field string, rule fieldRule) error {
	var cls uint8
	for _, c := range b {
		cls |= fieldClass[c]
	}
	return checkClasses(b, cls, field, rule)
}

// checkClasses is checkField for a b whose fieldClass union, cls, is known:
// the scanner computes it for every string it reads (jval.cls), so that a
// valid field costs a mask test (fieldOK, inlined), not a second pass.
func checkClasses(b []byte, cls uint8, field string, rule fieldRule) error {
	if fieldOK(b, cls, rule) {
		return nil
	}
	return checkSlow(b, field, rule)
}

// fieldOK reports whether b, whose fieldClass union is cls, follows rule
// for sure. It holds for almost every field; when it does not, checkSlow
// says whether and how the field breaks its rule.
func fieldOK(b []byte, cls uint8, rule fieldRule) bool {
	return cls&ruleClasses[rule&3] == 0 && (rule != ruleURL || len(b) == 0 || b[0] == '/')
}

// checkSlow is checkClasses for a field that may break its rule: an
// http(s) URL, or one holding a byte of a class its rule looks for.
func checkSlow(b []byte, field string, rule fieldRule) error {
	if rule == ruleURL && len(b) > 0 && !isPathOrHTTP(b) {
		return badField(field, "is neither a path (/…) nor an http(s) URL")
	}
	return fieldProblem(b, field, rule)
}

// fieldProblem finds the first character of b that rule refuses and says
// which and where; nil if there is none (a lead byte of a harmless rune).
// It never repeats the value: the error becomes a DLQ header and a log line.
func fieldProblem(b []byte, field string, rule fieldRule) error {
	classes := ruleClasses[rule]
	for i := 0; i < len(b); {
		c := b[i]
		switch cl := fieldClass[c] & classes; {
		case cl&clControl != 0:
			return badField(field, fmt.Sprintf("holds the control character U+%04X at byte %d", c, i))
		case cl&(clMarkup|clAmp) != 0:
			what := "a display name"
			if rule == ruleURL {
				what = "a URL"
			}
			return badField(field, fmt.Sprintf("holds %s at byte %d, which %s may not hold", strconv.QuoteRune(rune(c)), i, what))
		case cl&clLead != 0:
			r, size := utf8.DecodeRune(b[i:])
			if isLayoutControl(r) {
				return badField(field, fmt.Sprintf("holds the control character U+%04X at byte %d", r, i))
			}
			i += size
			continue
		}
		i++
	}
	return nil
}

// isPathOrHTTP reports whether url starts with '/' or with http:// or
// https:// in any case.
func isPathOrHTTP(url []byte) bool {
	if url[0] == '/' {
		return true
	}
	return hasPrefixFold(url, "http://") || hasPrefixFold(url, "https://")
}

// hasPrefixFold reports whether b starts with prefix, a lower-case ASCII
// string, in any case.
func hasPrefixFold(b []byte, prefix string) bool {
	if len(b) < len(prefix) {
		return false
	}
	for i := range len(prefix) {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != prefix[i] {
			return false
		}
	}
	return true
}

func badField(field, detail string) error {
	return &DecodeError{Problem: ProblemBadField, Field: field, Detail: detail}
}

// ruleStrOf is strOf (a string of at most max bytes) that also checks
// rule.
func ruleStrOf(v jval, field string, max int, rule fieldRule) ([]byte, error) {
	b, err := strOf(v, field, max)
	if err != nil {
		return nil, err
	}
	if fieldOK(b, v.cls, rule) {
		return b, nil
	}
	return b, checkSlow(b, field, rule)
}

// ValidName reports whether b may be a display name (site, team, form,
// field): UTF-8 with no control character and none of < > " ' &. A site a
// gateway serves and a team linger's config routes to must be one, or no
// record naming them gets through. The length is the caller's to check
// (MaxIDBytes for a site or team, MaxNameBytes for a form or field).
func ValidName(b []byte) bool { return utf8.Valid(b) && checkField(b, "", ruleName) == nil }

// excerpt quotes at most excerptBytes of b for an error's detail: a record
// key or an enum's value is the sender's, of any size, and the detail
// becomes a DLQ header (see MaxDetailBytes).
func excerpt(b []byte) string {
	if len(b) <= excerptBytes {
		return strconv.Quote(string(b))
	}
	return strconv.Quote(string(b[:excerptBytes])) + "… (" + strconv.Itoa(len(b)) + " bytes)"
}

const excerptBytes = 64
