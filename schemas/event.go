package schemas

import (
	"fmt"
	"slices"
)

// Version is the contract version of events and decisions this release reads
// and writes (the "v" field).
const Version = 1

// MaxEventBytes is the largest event value accepted; larger ones go to the DLQ.
const MaxEventBytes = 8 << 10

// MaxIDBytes bounds session and visitor ids, site ids and team names.
const MaxIDBytes = 128

// MaxURLBytes bounds page.url and ref.
const MaxURLBytes = 2048

// MaxNameBytes bounds form and field names.
const MaxNameBytes = 128

// MaxFutureMs is how far ahead of the processor's clock an event's ts may be
// (1 h); beyond that it goes to the DLQ as ReasonFutureTS.
const MaxFutureMs = 3600_000

// Type is an event's "type". TypeUnknown stands for any type this release does
// not know: such events are counted and skipped, for forward compatibility.
type Type uint8

// Event types of contract v1.
const (
	TypeUnknown Type = iota
	TypePageView
	TypeIdle
	TypeVisibility
	TypeExitIntent
	TypeMouse
	TypeScroll
	TypeForm
	TypeCart
	TypeCheckout
	TypePurchase
	TypeChat
	numTypes
)

var typeNames = [numTypes]string{"unknown", "page_view", "idle", "visibility", "exit_intent", "mouse", "scroll", "form", "cart", "checkout", "purchase", "chat"}

// String returns the wire name of t ("unknown" for TypeUnknown).
func (t Type) String() string {
	if t < numTypes {
		return typeNames[t]
	}
	return "unknown"
}

// Types lists every known type's wire name, TypeUnknown's "unknown" first, so
// metrics can initialise one series per type. The slice is a copy: the
// decoder reads the names it was made from.
func Types() []string { return slices.Clone(typeNames[:]) }

// PageKind is page.kind: what sort of page the visitor is on.
type PageKind uint8

// Page kinds of contract v1. KindNone means the event carried no page.
const (
	KindNone PageKind = iota
	KindHome
	KindCategory
	KindProduct
	KindSearch
	KindCart
	KindCheckout
	KindPricing
	KindHelp
	KindAccount
	KindOther
	numKinds
)

var kindNames = [numKinds]string{"", "home", "category", "product", "search", "cart", "checkout", "pricing", "help", "account", "other"}

// String returns the wire name of k ("" for KindNone).
func (k PageKind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return ""
}

// ParsePageKind returns the kind named s, or false if s names none.
func ParsePageKind(s string) (PageKind, bool) {
	for i := KindHome; i < numKinds; i++ {
		if kindNames[i] == s {
			return i, true
		}
	}
	return KindNone, false
}

// PageKinds lists the wire names of every page kind.
func PageKinds() []string { return slices.Clone(kindNames[1:]) }

// Visibility is the "state" of a visibility event.
type Visibility uint8

// Visibility states.
const (
	VisibilityNone Visibility = iota
	VisibilityHidden
	VisibilityVisible
)

var visibilityNames = []string{"", "hidden", "visible"}

// ScrollDir is the "dir" of a scroll event.
type ScrollDir uint8

// Scroll directions.
const (
	ScrollNone ScrollDir = iota
	ScrollUp
	ScrollDown
)

var scrollNames = []string{"", "up", "down"}

// FormAction is the "action" of a form event.
type FormAction uint8

// Form actions.
const (
	FormNone FormAction = iota
	FormFocus
	FormBlur
	FormInput
	FormError
	FormClear
	FormSubmit
)

var formNames = []string{"", "focus", "blur", "input", "error", "clear", "submit"}

// CartAction is the "action" of a cart event.
type CartAction uint8

// Cart actions.
const (
	CartNone CartAction = iota
	CartAdd
	CartRemove
)

var cartNames = []string{"", "add", "remove"}

// ChatAction is the "action" of a chat event.
type ChatAction uint8

// Chat actions.
const (
	ChatNone ChatAction = iota
	ChatOpen
	ChatClose
)

var chatNames = []string{"", "open", "close"}

// String returns the wire name.
func (v Visibility) String() string { return enumName(visibilityNames, uint8(v)) }

// String returns the wire name.
func (d ScrollDir) String() string { return enumName(scrollNames, uint8(d)) }

// String returns the wire name.
func (a FormAction) String() string { return enumName(formNames, uint8(a)) }

// String returns the wire name.
func (a CartAction) String() string { return enumName(cartNames, uint8(a)) }

// String returns the wire name.
func (a ChatAction) String() string { return enumName(chatNames, uint8(a)) }

func enumName(names []string, i uint8) string {
	if int(i) < len(names) {
		return names[i]
	}
	return ""
}

// enum finds an enum's value by its wire name with one string compare: a
// name's length and its first, middle and last bytes, multiplied by a
// factor newEnum picks so that no two names share a slot, choose the one
// name it can be. Going down the list instead cost a compare and a
// mispredicted branch per name passed, a few percent of a partition's CPU
// for an event's type and page kind.
type enum struct {
	names []string // by value; names[0] is the zero value, never found
	mul   uint32
	slots [1 << enumBits]uint8 // the index of the name in each slot, or 0
}

const enumBits = 6

// Enums of the event, decision and feedback contracts.
var (
	typeEnum       = newEnum(typeNames[:])
	kindEnum       = newEnum(kindNames[:])
	visibilityEnum = newEnum(visibilityNames)
	scrollEnum     = newEnum(scrollNames)
	formEnum       = newEnum(formNames)
	cartEnum       = newEnum(cartNames)
	chatEnum       = newEnum(chatNames)
	actionEnum     = newEnum(actionNames)
	reasonEnum     = newEnum(reasonNames)
	triggerEnum    = newEnum(triggerNames)
	feedbackEnum   = newEnum(feedbackNames)
)

// newEnum indexes names[1:]; it panics if no factor separates them (two
// names alike in length and in those three bytes), which the package's
// tests would show at once.
func newEnum(names []string) *enum {
	e := &enum{names: names}
	for e.mul = 1; e.mul < 1<<20; e.mul += 2 {
		clear(e.slots[:])
		ok := true
		for i := 1; i < len(names) && ok; i++ {
			s := &e.slots[e.slot([]byte(names[i]))]
			ok = *s == 0
			*s = uint8(i)
		}
		if ok {
			return e
		}
	}
	panic(fmt.Sprintf("schemas: no slot factor separates the names %q", names[1:]))
}

func (e *enum) slot(b []byte) uint32 {
	n := len(b)
	k := uint32(n) | uint32(b[0])<<8 | uint32(b[n/2])<<16 | uint32(b[n-1])<<24
	return k * e.mul >> (32 - enumBits)
}

// index returns the index of b among the names (never the zero value's),
// or 0 if it names none. It does not allocate.
func (e *enum) index(b []byte) uint8 {
	if len(b) == 0 {
		return 0
	}
	if i := e.slots[e.slot(b)]; e.names[i] == string(b) {
		return i
	}
	return 0
}

// Page is where an event happened.
type Page struct {
	URL  []byte
	Kind PageKind
}

// Event is one decoded v1 clickstream event. Only the fields of its Type are
// set; the others are zero. Byte-slice fields point into the Decoder that
// filled the Event and are valid until its next Decode.
type Event struct {
	Type    Type
	Session []byte
	Visitor []byte
	Site    []byte
	// TS is event time, Unix epoch milliseconds.
	TS  int64
	Bot bool
	// Page is set by page_view and idle, optional elsewhere.
	Page Page
	// Ref is page_view's referrer.
	Ref []byte

	// MS is idle's gap length or mouse's aggregation window, milliseconds.
	MS int64

	// Visibility is visibility's state.
	Visibility Visibility

	// Mouse aggregates.
	Moves, DirChanges, Clicks, RageClicks, DeadClicks int64

	// Scroll.
	Depth     float64
	ScrollDir ScrollDir

	// Form.
	Form, Field []byte
	FormAction  FormAction

	// Cart and purchase. Value is in minor currency units.
	CartAction CartAction
	Value      int64
	Items      int64

	// Checkout step, 1-based.
	Step int64

	// Chat.
	ChatAction ChatAction
}

// Reset clears e for reuse, keeping nothing.
func (e *Event) Reset() { *e = Event{} }
