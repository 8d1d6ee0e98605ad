package schemas

import (
	"errors"
	"fmt"
	"math"
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
func Problems() []string { return problemNames[1:] }

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
	v, err := intOf(vals[fV], "v")
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
	if ev.TS, err = intOf(vals[fTS], "ts"); err != nil {
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
		if err := d.page(p, ev); err != nil {
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
		if ev.MS, err = countOf(vals[fMS], "ms"); err != nil {
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
				if *f.dst, err = countOf(vals[f.i], fieldNames[f.i]); err != nil {
					return err
				}
			}
		}
	case TypeScroll:
		if vals[fDepth] == nil {
			return missing("depth")
		}
		if ev.Depth, err = floatOf(vals[fDepth], "depth"); err != nil {
			return err
		}
		if ev.Depth < 0 || ev.Depth > 1 {
			return invalid("depth", "must be between 0 and 1")
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
		if ev.Step, err = intOf(vals[fStep], "step"); err != nil {
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
		if ev.Value, err = countOf(v, "value"); err != nil {
			return err
		}
	}
	if v := d.vals[fItems]; v != nil {
		if ev.Items, err = countOf(v, "items"); err != nil {
			return err
		}
	}
	return nil
}

func (d *Decoder) page(p *fastjson.Value, ev *Event) error {
	obj, err := p.Object()
	if err != nil {
		return wrongType("page", "an object", p)
	}
	url, kind := obj.Get("url"), obj.Get("kind")
	if url == nil {
		return missing("page.url")
	}
	if ev.Page.URL, err = stringOf(url, "page.url", MaxURLBytes); err != nil {
		return err
	}
	if ev.Page.Kind, err = enumOf[PageKind](kind, "page.kind", kindNames[:], true); err != nil {
		return err
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

// intOf returns v as an integer. Like JSON Schema's "integer", it accepts a
// number with a zero fraction (3.0), but not 3.5.
func intOf(v *fastjson.Value, field string) (int64, error) {
	if v.Type() != fastjson.TypeNumber {
		return 0, wrongType(field, "an integer", v)
	}
	if n, err := v.Int64(); err == nil {
		if n > maxSafeInt || n < -maxSafeInt {
			return 0, invalid(field, "out of range")
		}
		return n, nil
	}
	f, err := v.Float64()
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, invalid(field, "not a representable number")
	}
	if f != math.Trunc(f) {
		return 0, wrongType(field, "an integer", v)
	}
	if f > maxSafeInt || f < -maxSafeInt {
		return 0, invalid(field, "out of range")
	}
	return int64(f), nil
}

// countOf returns v as a non-negative integer below 2^32.
func countOf(v *fastjson.Value, field string) (int64, error) {
	n, err := intOf(v, field)
	if err != nil {
		return 0, err
	}
	if n < 0 || n > math.MaxUint32 {
		return 0, invalid(field, "must be between 0 and 4294967295")
	}
	return n, nil
}

func floatOf(v *fastjson.Value, field string) (float64, error) {
	if v.Type() != fastjson.TypeNumber {
		return 0, wrongType(field, "a number", v)
	}
	f, err := v.Float64()
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, invalid(field, "not a representable number")
	}
	return f, nil
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
