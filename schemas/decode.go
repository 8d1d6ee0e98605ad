package schemas

import (
	"errors"
	"fmt"
	"slices"
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
	// ProblemBadField: a string field holds what its kind may not: a
	// control character in an id, markup in a display name, a URL that is
	// neither a path nor http(s) (see field.go for the rules).
	ProblemBadField
	// ProblemInternal ("internal_error") is never produced by the decoder:
	// the engine uses it for a record whose handling failed (a bug), so
	// that one record cannot stop its partition.
	ProblemInternal
	numProblems
)

var problemNames = [numProblems]string{"", "too_large", "invalid_json", "not_object", "missing_session", "key_mismatch", "missing_ts", "future_ts", "wrong_type", "missing_field", "invalid_value", "unsupported_version", "bad_field", "internal_error"}

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

// MaxDetailBytes bounds the Error() of a *DecodeError from a decoder (the
// DLQ's error header): whatever the record, its key or its size, an error
// quotes at most 64 bytes of what the sender wrote.
const MaxDetailBytes = 1024

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
	fPageURL  // page.url, filled while scanning page
	fPageKind // page.kind
	numFields
)

var fieldNames = [numFields]string{"v", "type", "session", "visitor", "site", "ts", "bot", "page", "ref", "ms", "state", "moves", "dir_changes", "clicks", "rage_clicks", "dead_clicks", "depth", "dir", "form", "field", "action", "value", "items", "step", "page.url", "page.kind"}

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

// Decoder decodes v1 events. It keeps its scratch space between calls, so
// decoding allocates nothing per valid event once warm. A Decoder is not safe
// for concurrent use: give each partition worker its own.
type Decoder struct {
	s scanner
	// next[f] is the field that last followed field f (afterStart: the
	// object's start; afterUnknown: a key the contract does not know),
	// plus 1 (0: none known). Events of one type from one collector list
	// their keys in one order, so the scanner is told which key to expect
	// and checks it with two compares (scanner.matchKey) instead of
	// scanning it and looking its name up. A wrong guess costs the
	// compares; a matched one names its own field, so no guess can change
	// what an event decodes to.
	next    [afterUnknown + 1]uint8
	prev    int // the field of the last top-level key, or afterStart or afterUnknown
	vals    [numFields]jval
	present uint32           // bit f set: vals[f] holds this event's value
	member  func(key []byte) // d.topMember, bound once so Decode does not allocate a closure
}

// val returns the value of field f, or an absent one. A presence mask rather
// than clearing vals keeps Decode from zeroing 800 bytes per event.
func (d *Decoder) val(f int) jval {
	if d.present&(1<<f) == 0 {
		return jval{}
	}
	return d.vals[f]
}

func (d *Decoder) set(f int, v jval) {
	d.vals[f] = v
	d.present |= 1 << f
}

// Decode validates value, the record value, against contract v1 and fills ev.
// key is the record key, which must equal the session id. nowMs is the
// processor's clock in Unix ms, for the future-ts check; 0 skips that check.
//
// It returns nil for a valid event, ErrUnknownType (with the envelope
// fields of ev set) for a valid envelope of an unknown type, and a
// *DecodeError for anything that belongs in the DLQ. Byte slices in ev point
// into value or into the Decoder: they are valid while value is unchanged
// and until the next call.
func (d *Decoder) Decode(key, value []byte, nowMs int64, ev *Event) error {
	ev.Reset()
	d.present = 0
	if len(value) <= MaxEventBytes && d.quick(value) {
		return d.fill(key, nowMs, ev)
	}
	return d.decodeGeneral(key, value, nowMs, ev)
}

// decodeGeneral is Decode by the general scanner, for any input; ev has
// been reset.
func (d *Decoder) decodeGeneral(key, value []byte, nowMs int64, ev *Event) error {
	if d.member == nil {
		d.member = d.topMember
	}
	d.present = 0
	d.prev = afterStart
	d.s.guess = d.guessOf(afterStart)
	if err := scanObject(&d.s, value, d.member, 512); err != nil {
		return err
	}
	return d.fill(key, nowMs, ev)
}

// topMember stores the value of a known top-level key in its slot (the
// last one wins if a key repeats, as in encoding/json and JSON.parse), and
// the url and kind of a page object in theirs.
func (d *Decoder) topMember(key []byte) {
	s := &d.s
	var i int
	if s.guessed {
		i = s.guess.f
	} else {
		i = fieldIndex(key)
		d.next[d.prev] = uint8(i + 1) // unknown keys (-1) are not guessed
	}
	d.prev = i
	if i < 0 {
		d.prev = afterUnknown
	}
	if i == fPage && s.peek() == '{' {
		d.set(fPage, jval{kind: jObject})
		d.present &^= 1<<fPageURL | 1<<fPageKind
		s.guess = &pageWords[0]
		s.object(2, d.pageMember)
	} else {
		v := s.value(1)
		if i >= 0 {
			d.set(i, v)
		}
	}
	s.guess = d.guessOf(d.prev)
}

// The places in Decoder.next of the keys that are not a field.
const (
	afterStart   = numFields
	afterUnknown = numFields + 1
)

// guessOf returns the key to expect after field f, or nil.
func (d *Decoder) guessOf(f int) *keyWord {
	if n := d.next[f]; n > 0 {
		return &fieldWords[n-1]
	}
	return nil
}

// fieldWords are the top-level keys as keyWords, by field index.
var fieldWords = func() (w [fPageURL]keyWord) {
	for i := range w {
		w[i] = newKeyWord(fieldNames[i], i)
	}
	return w
}()

// pageWords are the keys of a page object: each is guessed after the
// other, and url first.
var pageWords = [2]keyWord{newKeyWord("url", fPageURL), newKeyWord("kind", fPageKind)}

func (d *Decoder) pageMember(key []byte) {
	s := &d.s
	f := -1
	switch {
	case s.guessed:
		f = s.guess.f
	case string(key) == "url":
		f = fPageURL
	case string(key) == "kind":
		f = fPageKind
	}
	v := s.value(2)
	switch f {
	case fPageURL:
		d.set(f, v)
		s.guess = &pageWords[1]
	case fPageKind:
		d.set(f, v)
		s.guess = &pageWords[0]
	}
}

func (d *Decoder) fill(key []byte, nowMs int64, ev *Event) error {
	// Envelope, in the order problems are reported.
	if d.val(fV).kind == jAbsent {
		return missing("v")
	}
	v, err := intOf(d.val(fV), "v")
	if err != nil {
		return err
	}
	if v != Version {
		return &DecodeError{Problem: ProblemUnsupportedVersion, Field: "v", Detail: fmt.Sprintf("version %d, this release reads %d", v, Version)}
	}

	if d.val(fSession).kind == jAbsent {
		return &DecodeError{Problem: ProblemMissingSession, Field: "session", Detail: "absent"}
	}
	if ev.Session, err = strOf(d.val(fSession), "session", MaxIDBytes); err != nil {
		return err
	}
	if len(ev.Session) == 0 {
		return &DecodeError{Problem: ProblemMissingSession, Field: "session", Detail: "empty"}
	}
	if err := checkClasses(ev.Session, d.val(fSession).cls, "session", ruleID); err != nil {
		return err
	}
	if string(key) != string(ev.Session) {
		return keyMismatch(key, ev.Session)
	}

	if d.val(fTS).kind == jAbsent {
		return &DecodeError{Problem: ProblemMissingTS, Field: "ts", Detail: "absent"}
	}
	if ev.TS, err = intOf(d.val(fTS), "ts"); err != nil {
		return err
	}
	if ev.TS <= 0 {
		return invalid("ts", "must be a positive Unix time in milliseconds")
	}
	if nowMs > 0 && ev.TS > nowMs+MaxFutureMs {
		return &DecodeError{Problem: ProblemFutureTS, Field: "ts", Detail: fmt.Sprintf("%d ms ahead of the processor's clock (limit %d)", ev.TS-nowMs, MaxFutureMs)}
	}

	if d.val(fType).kind == jAbsent {
		return missing("type")
	}
	typ, err := strOf(d.val(fType), "type", -1)
	if err != nil {
		return err
	}
	ev.Type = Type(typeEnum.index(typ))

	if d.val(fVisitor).kind != jAbsent {
		if ev.Visitor, err = ruleStrOf(d.val(fVisitor), "visitor", MaxIDBytes, ruleID); err != nil {
			return err
		}
	}
	if d.val(fSite).kind != jAbsent {
		if ev.Site, err = ruleStrOf(d.val(fSite), "site", MaxIDBytes, ruleName); err != nil {
			return err
		}
	}
	switch b := d.val(fBot); b.kind {
	case jAbsent, jFalse:
	case jTrue:
		ev.Bot = true
	default:
		return wrongType("bot", "a boolean", jkindNames[b.kind])
	}
	if ev.Type == TypeUnknown {
		return ErrUnknownType
	}
	if p := d.val(fPage); p.kind != jAbsent {
		if p.kind != jObject {
			return wrongType("page", "an object", jkindNames[p.kind])
		}
		if d.val(fPageURL).kind == jAbsent {
			return missing("page.url")
		}
		if ev.Page.URL, err = ruleStrOf(d.val(fPageURL), "page.url", MaxURLBytes, ruleURL); err != nil {
			return err
		}
		if ev.Page.Kind, err = enumOfVal[PageKind](d.val(fPageKind), "page.kind", kindEnum, true); err != nil {
			return err
		}
	}

	switch ev.Type {
	case TypePageView:
		if d.val(fPage).kind == jAbsent {
			return missing("page")
		}
		if d.val(fRef).kind != jAbsent {
			if ev.Ref, err = ruleStrOf(d.val(fRef), "ref", MaxURLBytes, ruleURL); err != nil {
				return err
			}
		}
	case TypeIdle:
		if d.val(fMS).kind == jAbsent {
			return missing("ms")
		}
		if ev.MS, err = countOf(d.val(fMS), "ms"); err != nil {
			return err
		}
	case TypeVisibility:
		if ev.Visibility, err = enumOfVal[Visibility](d.val(fState), "state", visibilityEnum, true); err != nil {
			return err
		}
	case TypeExitIntent:
	case TypeMouse:
		for _, f := range [...]struct {
			i   int
			dst *int64
		}{{fMS, &ev.MS}, {fMoves, &ev.Moves}, {fDirChanges, &ev.DirChanges}, {fClicks, &ev.Clicks}, {fRageClicks, &ev.RageClicks}, {fDeadClicks, &ev.DeadClicks}} {
			if d.val(f.i).kind != jAbsent {
				if *f.dst, err = countOf(d.val(f.i), fieldNames[f.i]); err != nil {
					return err
				}
			}
		}
	case TypeScroll:
		if d.val(fDepth).kind == jAbsent {
			return missing("depth")
		}
		if d.val(fDepth).kind != jNumber {
			return wrongType("depth", "a number", jkindNames[d.val(fDepth).kind])
		}
		if ev.Depth, err = floatInText(d.val(fDepth).b, "depth", 0, 1); err != nil {
			return err
		}
		if ev.ScrollDir, err = enumOfVal[ScrollDir](d.val(fDir), "dir", scrollEnum, false); err != nil {
			return err
		}
	case TypeForm:
		if ev.FormAction, err = enumOfVal[FormAction](d.val(fAction), "action", formEnum, true); err != nil {
			return err
		}
		if d.val(fForm).kind != jAbsent {
			if ev.Form, err = ruleStrOf(d.val(fForm), "form", MaxNameBytes, ruleName); err != nil {
				return err
			}
		}
		if d.val(fField).kind != jAbsent {
			if ev.Field, err = ruleStrOf(d.val(fField), "field", MaxNameBytes, ruleName); err != nil {
				return err
			}
		}
	case TypeCart:
		if ev.CartAction, err = enumOfVal[CartAction](d.val(fAction), "action", cartEnum, true); err != nil {
			return err
		}
		if err := d.valueItems(ev); err != nil {
			return err
		}
	case TypeCheckout:
		if d.val(fStep).kind == jAbsent {
			return missing("step")
		}
		if ev.Step, err = intOf(d.val(fStep), "step"); err != nil {
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
		if ev.ChatAction, err = enumOfVal[ChatAction](d.val(fAction), "action", chatEnum, true); err != nil {
			return err
		}
	}
	return nil
}

func (d *Decoder) valueItems(ev *Event) (err error) {
	if v := d.val(fValue); v.kind != jAbsent {
		if ev.Value, err = countOf(v, "value"); err != nil {
			return err
		}
	}
	if v := d.val(fItems); v.kind != jAbsent {
		if ev.Items, err = countOf(v, "items"); err != nil {
			return err
		}
	}
	return nil
}

// keyMismatch reports a record keyed key whose session is session.
func keyMismatch(key, session []byte) error {
	return &DecodeError{Problem: ProblemKeyMismatch, Field: "session", Detail: "record key " + excerpt(key) + " differs from session " + excerpt(session)}
}

func missing(field string) error {
	return &DecodeError{Problem: ProblemMissingField, Field: field, Detail: "absent"}
}

func invalid(field, detail string) error {
	return &DecodeError{Problem: ProblemInvalidValue, Field: field, Detail: detail}
}

// wrongType reports a field of JSON type got where want was expected.
func wrongType(field, want, got string) error {
	return &DecodeError{Problem: ProblemWrongType, Field: field, Detail: "want " + want + ", got a JSON " + got}
}

// strOf returns a scanned string; max < 0 means unbounded.
func strOf(v jval, field string, max int) ([]byte, error) {
	if v.kind != jString {
		return nil, wrongType(field, "a string", jkindNames[v.kind])
	}
	if max >= 0 && len(v.b) > max {
		return nil, invalid(field, fmt.Sprintf("%d bytes, the limit is %d", len(v.b), max))
	}
	return v.b, nil
}

func intOf(v jval, field string) (int64, error) {
	if v.kind != jNumber {
		return 0, wrongType(field, "an integer", jkindNames[v.kind])
	}
	return intText(v.b, field)
}

func countOf(v jval, field string) (int64, error) {
	if v.kind != jNumber {
		return 0, wrongType(field, "an integer", jkindNames[v.kind])
	}
	return countText(v.b, field)
}

// enumOfVal returns the index of v's string in names. An absent v is an
// error when required, else the zero value.
func enumOfVal[E ~uint8](v jval, field string, names *enum, required bool) (E, error) {
	if v.kind == jAbsent {
		if required {
			return 0, missing(field)
		}
		return 0, nil
	}
	b, err := strOf(v, field, -1)
	if err != nil {
		return 0, err
	}
	return enumByName[E](b, field, names)
}

// enumByName returns the index of name in names, or an invalid_value error
// that lists the names.
func enumByName[E ~uint8](name []byte, field string, names *enum) (E, error) {
	i := names.index(name)
	if i == 0 {
		return 0, invalid(field, fmt.Sprintf("%s is not one of %v", excerpt(name), names.names[1:]))
	}
	return E(i), nil
}
