package schemas

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/valyala/fastjson"
)

// Problem says why a record is not a valid v1 event. It is the DLQ reason
// header and the reason label of linger_dlq_total.
type Problem uint8

// Problems, each named by when it happens.
const (
	ProblemNone Problem = iota
	// ProblemTooLarge: the value is over MaxEventBytes.
	ProblemTooLarge
	// ProblemInvalidJSON: the value is not UTF-8 JSON.
	ProblemInvalidJSON
	// ProblemNotObject: the value is JSON but not an object.
	ProblemNotObject
	// ProblemMissingSession: "session" is absent or empty.
	ProblemMissingSession
	// ProblemKeyMismatch: the record key differs from "session".
	ProblemKeyMismatch
	// ProblemMissingTS: "ts" is absent.
	ProblemMissingTS
	// ProblemFutureTS: "ts" is more than an hour ahead of the processor's clock.
	ProblemFutureTS
	// ProblemWrongType: a known field holds the wrong JSON type.
	ProblemWrongType
	// ProblemMissingField: a field the event's type requires is absent.
	ProblemMissingField
	// ProblemInvalidValue: a field has the right type but a value out of
	// its range or enum.
	ProblemInvalidValue
	// ProblemUnsupportedVersion: "v" is not 1.
	ProblemUnsupportedVersion
	// ProblemInternal is never produced by the decoder: the pipeline uses it
	// for records it could not process for reasons of its own.
	ProblemInternal
	numProblems
)

var problemNames = [numProblems]string{"", "too_large", "invalid_json", "not_object", "missing_session", "key_mismatch", "missing_ts", "future_ts", "wrong_type", "missing_field", "invalid_value", "unsupported_version", "internal"}

// String returns the problem's name as used in DLQ headers and metrics.
func (p Problem) String() string {
	if p < numProblems {
		return problemNames[p]
	}
	return "unknown"
}

// Problems lists every problem name, so metrics can initialise one series per
// reason.
func Problems() []string { return slices.Clone(problemNames[1:]) }

// DecodeError is returned by Decoder.Decode for input that belongs in the DLQ.
type DecodeError struct {
	Problem Problem
	// Field is the JSON field at fault, if any ("page.kind").
	Field string
	// Detail says what is wrong in words.
	Detail string
}

func (e *DecodeError) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s: %s", e.Problem, e.Field, e.Detail)
	}
	return fmt.Sprintf("%s: %s", e.Problem, e.Detail)
}

// ErrUnknownType is returned by Decoder.Decode for an event whose envelope is
// valid but whose "type" this release does not know. Such events are counted
// and skipped, not sent to the DLQ: a newer collector may send types an
// older processor cannot use.
var ErrUnknownType = errors.New("unknown event type")

// ProblemOf returns the Problem carried by err, or ProblemNone.
func ProblemOf(err error) Problem {
	var de *DecodeError
	if errors.As(err, &de) {
		return de.Problem
	}
	return ProblemNone
}

// field indexes: each known key has a slot in Decoder.vals so that one pass
// over the object finds them all, and checks then run in a fixed order
// whatever the key order in the input (the reported problem is stable).
const (
	fV = iota
	fType
	fSession
	fVisitor
	fSite
	fTS
	fBot
	fPage
	fRef
	fMS
	fState
	fMoves
	fDirChanges
	fClicks
	fRageClicks
	fDeadClicks
	fDepth
	fDir
	fForm
	fField
	fAction
	fValue
	fItems
	fStep
	numFields
)

var fieldNames = [numFields]string{"v", "type", "session", "visitor", "site", "ts", "bot", "page", "ref", "ms", "state", "moves", "dir_changes", "clicks", "rage_clicks", "dead_clicks", "depth", "dir", "form", "field", "action", "value", "items", "step"}

func fieldIndex(key []byte) int {
	switch string(key) {
	case "v":
		return fV
	case "type":
		return fType
	case "session":
		return fSession
	case "visitor":
		return fVisitor
	case "site":
		return fSite
	case "ts":
		return fTS
	case "bot":
		return fBot
	case "page":
		return fPage
	case "ref":
		return fRef
	case "ms":
		return fMS
	case "state":
		return fState
	case "moves":
		return fMoves
	case "dir_changes":
		return fDirChanges
	case "clicks":
		return fClicks
	case "rage_clicks":
		return fRageClicks
	case "dead_clicks":
		return fDeadClicks
	case "depth":
		return fDepth
	case "dir":
		return fDir
	case "form":
		return fForm
	case "field":
		return fField
	case "action":
		return fAction
	case "value":
		return fValue
	case "items":
		return fItems
	case "step":
		return fStep
	}
	return -1
}

// Decoder decodes v1 events. It reuses its parser, so decoding allocates
// nothing per valid event once warm. A Decoder is not safe for concurrent
// use: give each partition worker its own.
type Decoder struct {
	p    fastjson.Parser
	vals [numFields]*fastjson.Value
	num  numReader
}

// Decode validates value, the record value, against contract v1 and fills ev.
// key is the record key, which must equal the session id. nowMs is the
// processor's clock in Unix ms, for the future-ts check; 0 skips that check.
//
// It returns nil for a valid event, ErrUnknownType (with the envelope
// fields of ev set) for a valid envelope of an unknown type, and a
// *DecodeError for anything that belongs in the DLQ. Byte slices in ev point
// into the Decoder and are valid until the next call.
func (d *Decoder) Decode(key, value []byte, nowMs int64, ev *Event) error {
	ev.Reset()
	if len(value) > MaxEventBytes {
		return &DecodeError{Problem: ProblemTooLarge, Detail: fmt.Sprintf("value is %d bytes, the limit is %d", len(value), MaxEventBytes)}
	}
	if !utf8.Valid(value) {
		return &DecodeError{Problem: ProblemInvalidJSON, Detail: "value is not valid UTF-8"}
	}
	if err := validJSON(value); err != nil {
		return &DecodeError{Problem: ProblemInvalidJSON, Detail: err.Error()}
	}
	root, err := d.p.ParseBytes(value)
	if err != nil {
		return &DecodeError{Problem: ProblemInvalidJSON, Detail: err.Error()}
	}
	obj, err := root.Object()
	if err != nil {
		return &DecodeError{Problem: ProblemNotObject, Detail: "value is a JSON " + root.Type().String() + ", not an object"}
	}
	d.vals = [numFields]*fastjson.Value{}
	obj.Visit(func(k []byte, v *fastjson.Value) {
		if i := fieldIndex(k); i >= 0 {
			d.vals[i] = v
		}
	})
	return d.fill(key, nowMs, ev)
}

func (d *Decoder) fill(key []byte, nowMs int64, ev *Event) error {
	vals := &d.vals

	// Envelope, in the order problems are reported.
	if vals[fV] == nil {
		return missing("v")
	}
	v, err := d.num.intOf(vals[fV], "v")
	if err != nil {
		return err
	}
	if v != Version {
		return &DecodeError{Problem: ProblemUnsupportedVersion, Field: "v", Detail: fmt.Sprintf("version %d, this release reads %d", v, Version)}
	}

	if vals[fSession] == nil {
		return &DecodeError{Problem: ProblemMissingSession, Field: "session", Detail: "absent"}
	}
	if ev.Session, err = stringOf(vals[fSession], "session", MaxIDBytes); err != nil {
		return err
	}
	if len(ev.Session) == 0 {
		return &DecodeError{Problem: ProblemMissingSession, Field: "session", Detail: "empty"}
	}
	if string(key) != string(ev.Session) {
		return &DecodeError{Problem: ProblemKeyMismatch, Field: "session", Detail: fmt.Sprintf("record key %q differs from session %q", key, ev.Session)}
	}

	if vals[fTS] == nil {
		return &DecodeError{Problem: ProblemMissingTS, Field: "ts", Detail: "absent"}
	}
	if ev.TS, err = d.num.intOf(vals[fTS], "ts"); err != nil {
		return err
	}
	if ev.TS <= 0 {
		return invalid("ts", "must be a positive Unix time in milliseconds")
	}
	if nowMs > 0 && ev.TS > nowMs+MaxFutureMs {
		return &DecodeError{Problem: ProblemFutureTS, Field: "ts", Detail: fmt.Sprintf("%d ms ahead of the processor's clock (limit %d)", ev.TS-nowMs, MaxFutureMs)}
	}

	if vals[fType] == nil {
		return missing("type")
	}
	typ, err := stringOf(vals[fType], "type", -1)
	if err != nil {
		return err
	}
	ev.Type = Type(enumIndex(typeNames[:], typ))

	if vals[fVisitor] != nil {
		if ev.Visitor, err = stringOf(vals[fVisitor], "visitor", MaxIDBytes); err != nil {
			return err
		}
	}
	if vals[fSite] != nil {
		if ev.Site, err = stringOf(vals[fSite], "site", MaxIDBytes); err != nil {
			return err
		}
	}
	if b := vals[fBot]; b != nil {
		switch b.Type() {
		case fastjson.TypeTrue:
			ev.Bot = true
		case fastjson.TypeFalse:
		default:
			return wrongType("bot", "a boolean", b)
		}
	}
	if ev.Type == TypeUnknown {
		return ErrUnknownType
	}
	if p := vals[fPage]; p != nil {
		if err := pageOf(p, &ev.Page); err != nil {
			return err
		}
	}

	switch ev.Type {
	case TypePageView:
		if vals[fPage] == nil {
			return missing("page")
		}
		if vals[fRef] != nil {
			if ev.Ref, err = stringOf(vals[fRef], "ref", MaxURLBytes); err != nil {
				return err
			}
		}
	case TypeIdle:
		if vals[fMS] == nil {
			return missing("ms")
		}
		if ev.MS, err = d.num.countOf(vals[fMS], "ms"); err != nil {
			return err
		}
	case TypeVisibility:
		if ev.Visibility, err = enumOf[Visibility](vals[fState], "state", visibilityNames, true); err != nil {
			return err
		}
	case TypeExitIntent:
	case TypeMouse:
		for _, f := range [...]struct {
			i   int
			dst *int64
		}{{fMS, &ev.MS}, {fMoves, &ev.Moves}, {fDirChanges, &ev.DirChanges}, {fClicks, &ev.Clicks}, {fRageClicks, &ev.RageClicks}, {fDeadClicks, &ev.DeadClicks}} {
			if vals[f.i] != nil {
				if *f.dst, err = d.num.countOf(vals[f.i], fieldNames[f.i]); err != nil {
					return err
				}
			}
		}
	case TypeScroll:
		if vals[fDepth] == nil {
			return missing("depth")
		}
		if ev.Depth, err = d.num.floatIn(vals[fDepth], "depth", 0, 1); err != nil {
			return err
		}
		if ev.ScrollDir, err = enumOf[ScrollDir](vals[fDir], "dir", scrollNames, false); err != nil {
			return err
		}
	case TypeForm:
		if ev.FormAction, err = enumOf[FormAction](vals[fAction], "action", formNames, true); err != nil {
			return err
		}
		if vals[fForm] != nil {
			if ev.Form, err = stringOf(vals[fForm], "form", MaxNameBytes); err != nil {
				return err
			}
		}
		if vals[fField] != nil {
			if ev.Field, err = stringOf(vals[fField], "field", MaxNameBytes); err != nil {
				return err
			}
		}
	case TypeCart:
		if ev.CartAction, err = enumOf[CartAction](vals[fAction], "action", cartNames, true); err != nil {
			return err
		}
		if err := d.valueItems(ev); err != nil {
			return err
		}
	case TypeCheckout:
		if vals[fStep] == nil {
			return missing("step")
		}
		if ev.Step, err = d.num.intOf(vals[fStep], "step"); err != nil {
			return err
		}
		if ev.Step < 1 || ev.Step > 255 {
			return invalid("step", "must be between 1 and 255")
		}
	case TypePurchase:
		if err := d.valueItems(ev); err != nil {
			return err
		}
	case TypeChat:
		if ev.ChatAction, err = enumOf[ChatAction](vals[fAction], "action", chatNames, true); err != nil {
			return err
		}
	}
	return nil
}

func (d *Decoder) valueItems(ev *Event) (err error) {
	if v := d.vals[fValue]; v != nil {
		if ev.Value, err = d.num.countOf(v, "value"); err != nil {
			return err
		}
	}
	if v := d.vals[fItems]; v != nil {
		if ev.Items, err = d.num.countOf(v, "items"); err != nil {
			return err
		}
	}
	return nil
}

// pageOf reads a page object into pg.
func pageOf(p *fastjson.Value, pg *Page) error {
	obj, err := p.Object()
	if err != nil {
		return wrongType("page", "an object", p)
	}
	url, kind := lookup(obj, "url"), lookup(obj, "kind")
	if url == nil {
		return missing("page.url")
	}
	if pg.URL, err = stringOf(url, "page.url", MaxURLBytes); err != nil {
		return err
	}
	if pg.Kind, err = enumOf[PageKind](kind, "page.kind", kindNames[:], true); err != nil {
		return err
	}
	return nil
}

// validJSON returns an error if b is not JSON. fastjson's parser is
// lenient: it reads 01, +1, NaN, raw control characters in strings and
// unknown escapes, which are not JSON and which a JSON Schema validator
// refuses. Its validator is strict but for one thing: it misses a raw
// control character that comes before an escape in a string ("\x10\\b").
func validJSON(b []byte) error {
	if err := fastjson.ValidateBytes(b); err != nil {
		return err
	}
	if bytes.IndexByte(b, '\\') < 0 {
		// No escape anywhere: the validator saw every string whole.
		return nil
	}
	inString, escaped := false, false
	for _, c := range b {
		switch {
		case !inString:
			inString = c == '"'
		case escaped:
			escaped = false
		case c == '\\':
			escaped = true
		case c == '"':
			inString = false
		case c < 0x20:
			return fmt.Errorf("raw control character 0x%02x in a string", c)
		}
	}
	return nil
}

func missing(field string) error {
	return &DecodeError{Problem: ProblemMissingField, Field: field, Detail: "absent"}
}

func invalid(field, detail string) error {
	return &DecodeError{Problem: ProblemInvalidValue, Field: field, Detail: detail}
}

func wrongType(field, want string, v *fastjson.Value) error {
	return &DecodeError{Problem: ProblemWrongType, Field: field, Detail: "want " + want + ", got a JSON " + v.Type().String()}
}

// stringOf returns v's string bytes; max < 0 means unbounded.
func stringOf(v *fastjson.Value, field string, max int) ([]byte, error) {
	if v.Type() != fastjson.TypeString {
		return nil, wrongType(field, "a string", v)
	}
	b, _ := v.StringBytes()
	if max >= 0 && len(b) > max {
		return nil, invalid(field, fmt.Sprintf("%d bytes, the limit is %d", len(b), max))
	}
	return b, nil
}

// maxSafeInt is the largest integer a JSON number carries exactly in every
// client (2^53-1, JavaScript's Number.MAX_SAFE_INTEGER).
const maxSafeInt = 1<<53 - 1

// numReader reads JSON numbers from their text, which it keeps in a buffer
// it reuses (fastjson hands the text out only through MarshalTo, whose
// destination escapes: a stack buffer would be a heap allocation per number).
type numReader struct{ buf []byte }

// text returns the text of number v, valid until the next call.
func (r *numReader) text(v *fastjson.Value) []byte {
	r.buf = v.MarshalTo(r.buf[:0])
	return r.buf
}

// intOf returns v as an integer. Like JSON Schema's "integer", it accepts a
// number with a zero fraction (3.0, 1.13e2), but not 3.5.
func (r *numReader) intOf(v *fastjson.Value, field string) (int64, error) {
	if v.Type() != fastjson.TypeNumber {
		return 0, wrongType(field, "an integer", v)
	}
	// Whether the number is integral is read from its text: once rounded
	// to a float64, 3.0000000000000001 would pass for 3. (fastjson's Int64
	// is no help: it allocates an error for anything but plain digits.)
	num := r.text(v)
	d := parseDecimal(num)
	if !d.integral() {
		return 0, wrongType(field, "an integer", v)
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

// countOf returns v as a non-negative integer below 2^32.
func (r *numReader) countOf(v *fastjson.Value, field string) (int64, error) {
	n, err := r.intOf(v, field)
	if err != nil {
		return 0, err
	}
	if n < 0 || n > math.MaxUint32 {
		return 0, invalid(field, "must be between 0 and 4294967295")
	}
	return n, nil
}

func (r *numReader) floatOf(v *fastjson.Value, field string) (float64, error) {
	if v.Type() != fastjson.TypeNumber {
		return 0, wrongType(field, "a number", v)
	}
	f, err := parseFloat(r.text(v))
	if err != nil {
		return 0, invalid(field, "not a representable number")
	}
	return f, nil
}

// floatIn returns v as a number between lo and hi. A number that rounds to
// a bound is compared with it exactly, as a JSON Schema validator does:
// 1.00000000000000001 rounds to 1 but is above it.
func (r *numReader) floatIn(v *fastjson.Value, field string, lo, hi float64) (float64, error) {
	f, err := r.floatOf(v, field)
	if err != nil {
		return 0, err
	}
	in := f >= lo && f <= hi
	if in && (f == lo || f == hi) {
		var lb, hb [32]byte
		x, l, h := parseDecimal(r.text(v)), parseDecimal(strconv.AppendFloat(lb[:0], lo, 'g', -1, 64)), parseDecimal(strconv.AppendFloat(hb[:0], hi, 'g', -1, 64))
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

// lookup returns the value of key in obj, the last one if the key is
// repeated: encoding/json and JavaScript's JSON.parse keep the last, so a
// JSON Schema validator sees that one (obj.Get returns the first).
func lookup(obj *fastjson.Object, key string) *fastjson.Value {
	var last *fastjson.Value
	obj.Visit(func(k []byte, v *fastjson.Value) {
		if string(k) == key {
			last = v
		}
	})
	return last
}

// enumOf returns the index of v's string in names. An absent v is an error
// when required, else the zero value.
func enumOf[E ~uint8](v *fastjson.Value, field string, names []string, required bool) (E, error) {
	if v == nil {
		if required {
			return 0, missing(field)
		}
		return 0, nil
	}
	b, err := stringOf(v, field, -1)
	if err != nil {
		return 0, err
	}
	i := enumIndex(names, b)
	if i == 0 {
		return 0, invalid(field, fmt.Sprintf("%q is not one of %v", b, names[1:]))
	}
	return E(i), nil
}
