package scoring

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
)

// Flags are a session's sticky booleans.
type Flags uint16

// Session flags.
const (
	// FlagBot: the collector marked the visitor as a crawler; never invited.
	FlagBot Flags = 1 << iota
	// FlagPurchased: the session converted; no invite until it ends.
	FlagPurchased
	// FlagChatOpen: the visitor opened chat on their own; no invite needed.
	FlagChatOpen
	// FlagHidden: the tab is hidden now.
	FlagHidden
	// FlagFieldProgress: the focused field received input since its focus.
	FlagFieldProgress
	// FlagInFieldFocus: a form field has focus now.
	FlagInFieldFocus
	// FlagWithdrawn: the last invite was taken back.
	FlagWithdrawn
	// FlagInhuman: the session viewed pages faster than a human does
	// (max_page_views_per_minute); never invited.
	FlagInhuman
	// FlagEligible: the session reached a moment where the policy would
	// invite it, whatever its score, and was counted in its site's
	// invite-share band.
	FlagEligible
	// FlagShown: the chat front-end reported the last invite shown
	// (invite_shown on chat-feedback, or an answer that implies it): it
	// is no longer withdrawn.
	FlagShown
	// FlagAccepted: the chat front-end reported the last invite accepted
	// (invite_accepted or chat_started): counted once.
	FlagAccepted
)

// decayUnit is the fixed-point scale of decayed counters: a stored 100 is
// one event. Fixed point (rather than a float) keeps the encoded state small
// and makes the in-memory value exactly the stored one, so decisions do not
// depend on when a state happens to be written and read back.
const decayUnit = 100

// State is what linger keeps about one session: counters, event times and the
// few strings a decision must carry. It is encoded with AppendBinary into a
// fastcache value and read back with DecodeState; Reset makes it reusable, so
// a worker keeps a pool of them and allocates nothing in steady state.
//
// Times are Unix ms of event time. Counters with a D suffix decay with the
// config's window (exponentially, time constant Window), so they measure
// recent behaviour: they are sliding-window counts in fixed point
// (decayUnit per event).
type State struct {
	Flags Flags

	Start    int64 // first event
	Last     int64 // newest event time seen
	ActiveAt int64 // last event that shows the visitor doing something

	Events uint32

	// Navigation.
	PageSince  int64 // when the current page was entered
	Kind       uint8 // current page kind (schemas.PageKind)
	PageViews  uint32
	Distinct   uint32    // pages not among the last three seen
	Pages      [3]uint16 // hashes of the current and two previous page URLs
	BackForth  uint32    // returns to the page before the current one (A→B→A)
	PriceViews uint32    // views of pricing or shipping pages

	// Idle and attention.
	IdleLongestMs uint32
	IdleCartMs    uint32 // longest idle gap on a cart or checkout page
	HiddenSince   int64
	HiddenCount   uint32
	ExitD         uint32 // exit intents, decayed

	// Commerce.
	CartValue    int64 // minor units
	CartItems    uint32
	CheckoutStep uint8

	// Forms.
	FieldSince int64
	Fields     [3]uint16 // hashes of the current and two previous fields
	Focuses    uint32
	Churn      uint32 // fields left without input
	Reedits    uint32 // returns to a field already filled, and clears
	ErrorsD    uint32 // validation errors, decayed

	// Pointer.
	RageD   uint32 // rage clicks, decayed
	DeadD   uint32 // dead clicks, decayed
	MovesD  uint32 // pointer moves, decayed
	TurnsD  uint32 // pointer direction changes, decayed
	Scrolls uint32 // upward scrolls: hunting for something

	// Decisions.
	Seq          uint32 // decisions made so far; the next id is Seq+1
	Invites      uint32
	InviteSeq    uint32 // Seq of the last invite
	InviteAt     int64  // event time of the last invite
	InviteReason uint8
	// InviteRoute is the index+1 of the route rule that sent the last
	// invite to its team, 0 for the reason's team: a withdraw names the
	// same team.
	InviteRoute uint8

	// Page-view rate, for max_page_views_per_minute: the session's minutes
	// count from Start; RateMinute is the current one plus 1 (0: no view
	// counted yet), RateCur the views in it, RatePrev in the one before.
	RateMinute uint32
	RateCur    uint32
	RatePrev   uint32

	// FeedbackSeen has bit t set when a chat-feedback record of type t
	// (schemas.FeedbackType) was applied to the latest invite: a repeat is
	// ignored, so no path counts an answer twice.
	FeedbackSeen uint16

	// TallyHour and TallyCauses say what the session counted for in its
	// partition's hourly tallies: the hour (event time / 1 h) and, in it,
	// bit 0 as a would-be invite and bit o for each cause (an Outcome)
	// that held it back, so each counts once an hour.
	TallyHour   uint32
	TallyCauses uint32

	// Deadline is the event time at which the session next needs attention
	// without an event (NextDeadline): a silence check or its expiry. It
	// lives in the value because fastcache has no expiry of its own, and
	// so survives a restore.
	Deadline int64
	// Armed is the deadline of the session's entry in its partition's
	// timer index. It may lag Deadline: a later deadline is re-armed when
	// the armed one fires, so a busy session keeps one index entry.
	Armed int64
	// Checked is the event time of the last silence check (timer).
	Checked int64

	Visitor  []byte
	Site     []byte
	URL      []byte // current page URL, cut to MaxStateURL bytes
	ErrField []byte // the field of the latest validation error
	// Session is the session id: a timer fires with only the state at hand.
	Session []byte
}

// MaxStateURL bounds the URL kept in state; longer URLs are cut. Decisions
// show the cut URL.
const MaxStateURL = 256

// MaxStateField bounds the field name kept in state.
const MaxStateField = 64

// Reset clears s for reuse, keeping the capacity of its byte slices.
func (s *State) Reset() {
	v, site, url, f, id := s.Visitor[:0], s.Site[:0], s.URL[:0], s.ErrField[:0], s.Session[:0]
	*s = State{Visitor: v, Site: site, URL: url, ErrField: f, Session: id}
}

// IsNew reports whether s has seen no event yet.
func (s *State) IsNew() bool { return s.Events == 0 }

// StateVersion is the encoding version AppendBinary writes. DecodeState reads
// it and every earlier version, so a rolling upgrade keeps its sessions.
//
// Within a version, fields are listed by a presence mask in a fixed order;
// a release may append fields at the end without a new version (older states
// simply lack them). A new version is needed only to remove or reinterpret a
// field.
const StateVersion = 1

// ErrBadState is returned by DecodeState for bytes it cannot read.
var ErrBadState = errors.New("bad session state")

// The put functions append one field of a state if it is not zero, and
// return the field mask with its bit set: values in and out rather than a
// writer struct's fields, so the compiler keeps the slice and the mask in
// registers across AppendBinary's fifty fields instead of loading and
// storing them at each (BenchmarkStateEncode: about a fifth faster).

func putU(b []byte, m uint64, bit uint, v uint64) ([]byte, uint64) {
	if v == 0 {
		return b, m
	}
	return binary.AppendUvarint(b, v), m | 1<<(bit&63)
}

func putI(b []byte, m uint64, bit uint, v int64) ([]byte, uint64) {
	if v == 0 {
		return b, m
	}
	return binary.AppendVarint(b, v), m | 1<<(bit&63)
}

func putBytes(b []byte, m uint64, bit uint, v []byte) ([]byte, uint64) {
	if len(v) == 0 {
		return b, m
	}
	return append(binary.AppendUvarint(b, uint64(len(v))), v...), m | 1<<(bit&63)
}

func putHashes(b []byte, m uint64, bit uint, v *[3]uint16) ([]byte, uint64) {
	if *v == [3]uint16{} {
		return b, m
	}
	b = binary.LittleEndian.AppendUint16(b, v[0])
	b = binary.LittleEndian.AppendUint16(b, v[1])
	return binary.LittleEndian.AppendUint16(b, v[2]), m | 1<<(bit&63)
}

// putRel encodes t relative to the session start: small for almost every
// time in a session. Presence is t != 0, so a time equal to the start (a
// zero delta) is still present.
func putRel(b []byte, m uint64, bit uint, t, start int64) ([]byte, uint64) {
	if t == 0 {
		return b, m
	}
	return binary.AppendVarint(b, t-start), m | 1<<(bit&63)
}

// maxMaskBytes is the most bytes a uvarint of a 64-bit mask takes.
const maxMaskBytes = binary.MaxVarintLen64

// AppendBinary appends s in the current encoding version.
func (s *State) AppendBinary(dst []byte) []byte {
	dst = append(dst, StateVersion)
	maskAt := len(dst)
	// Reserve room for the mask, write the fields, then put the mask in
	// front of them: the mask is known only once every field is seen.
	dst = append(dst, make([]byte, maxMaskBytes)...)
	b, m := dst, uint64(0)
	b, m = putU(b, m, bitFlags, uint64(s.Flags))
	b, m = putI(b, m, bitStart, s.Start)
	b, m = putRel(b, m, bitLast, s.Last, s.Start)
	b, m = putRel(b, m, bitActiveAt, s.ActiveAt, s.Start)
	b, m = putU(b, m, bitEvents, uint64(s.Events))
	b, m = putRel(b, m, bitPageSince, s.PageSince, s.Start)
	b, m = putU(b, m, bitKind, uint64(s.Kind))
	b, m = putU(b, m, bitPageViews, uint64(s.PageViews))
	b, m = putU(b, m, bitDistinct, uint64(s.Distinct))
	b, m = putHashes(b, m, bitPages, &s.Pages)
	b, m = putU(b, m, bitBackForth, uint64(s.BackForth))
	b, m = putU(b, m, bitPriceViews, uint64(s.PriceViews))
	b, m = putU(b, m, bitIdleLongest, uint64(s.IdleLongestMs))
	b, m = putU(b, m, bitIdleCart, uint64(s.IdleCartMs))
	b, m = putRel(b, m, bitHiddenSince, s.HiddenSince, s.Start)
	b, m = putU(b, m, bitHiddenCount, uint64(s.HiddenCount))
	b, m = putU(b, m, bitExitD, uint64(s.ExitD))
	b, m = putI(b, m, bitCartValue, s.CartValue)
	b, m = putU(b, m, bitCartItems, uint64(s.CartItems))
	b, m = putU(b, m, bitCheckoutStep, uint64(s.CheckoutStep))
	b, m = putRel(b, m, bitFieldSince, s.FieldSince, s.Start)
	b, m = putHashes(b, m, bitFields, &s.Fields)
	b, m = putU(b, m, bitFocuses, uint64(s.Focuses))
	b, m = putU(b, m, bitChurn, uint64(s.Churn))
	b, m = putU(b, m, bitReedits, uint64(s.Reedits))
	b, m = putU(b, m, bitErrorsD, uint64(s.ErrorsD))
	b, m = putU(b, m, bitRageD, uint64(s.RageD))
	b, m = putU(b, m, bitDeadD, uint64(s.DeadD))
	b, m = putU(b, m, bitMovesD, uint64(s.MovesD))
	b, m = putU(b, m, bitTurnsD, uint64(s.TurnsD))
	b, m = putU(b, m, bitScrolls, uint64(s.Scrolls))
	b, m = putU(b, m, bitSeq, uint64(s.Seq))
	b, m = putU(b, m, bitInvites, uint64(s.Invites))
	b, m = putU(b, m, bitInviteSeq, uint64(s.InviteSeq))
	b, m = putRel(b, m, bitInviteAt, s.InviteAt, s.Start)
	b, m = putU(b, m, bitInviteReason, uint64(s.InviteReason))
	b, m = putRel(b, m, bitDeadline, s.Deadline, s.Start)
	b, m = putBytes(b, m, bitVisitor, s.Visitor)
	b, m = putBytes(b, m, bitSite, s.Site)
	b, m = putBytes(b, m, bitURL, s.URL)
	b, m = putBytes(b, m, bitErrField, s.ErrField)
	// Fields added after the first release of version 1: older states lack
	// them and read as zero, older releases skip them.
	b, m = putBytes(b, m, bitSession, s.Session)
	b, m = putRel(b, m, bitArmed, s.Armed, s.Start)
	b, m = putRel(b, m, bitChecked, s.Checked, s.Start)
	b, m = putU(b, m, bitInviteRoute, uint64(s.InviteRoute))
	b, m = putU(b, m, bitRateMinute, uint64(s.RateMinute))
	b, m = putU(b, m, bitRateCur, uint64(s.RateCur))
	b, m = putU(b, m, bitRatePrev, uint64(s.RatePrev))
	b, m = putU(b, m, bitFeedbackSeen, uint64(s.FeedbackSeen))
	b, m = putU(b, m, bitTallyHour, uint64(s.TallyHour))
	b, m = putU(b, m, bitTallyCauses, uint64(s.TallyCauses))

	var mb [maxMaskBytes]byte
	n := binary.PutUvarint(mb[:], m)
	copy(b[maskAt:], mb[:n])
	copy(b[maskAt+n:], b[maskAt+maxMaskBytes:])
	return b[:len(b)-(maxMaskBytes-n)]
}

// Field bits of encoding version 1, in the order AppendBinary writes them.
// The writer's order is the format; decodeV1 reads by these bits, and
// TestStateRoundTrip holds the two to each other.
const (
	bitFlags = iota
	bitStart
	bitLast
	bitActiveAt
	bitEvents
	bitPageSince
	bitKind
	bitPageViews
	bitDistinct
	bitPages
	bitBackForth
	bitPriceViews
	bitIdleLongest
	bitIdleCart
	bitHiddenSince
	bitHiddenCount
	bitExitD
	bitCartValue
	bitCartItems
	bitCheckoutStep
	bitFieldSince
	bitFields
	bitFocuses
	bitChurn
	bitReedits
	bitErrorsD
	bitRageD
	bitDeadD
	bitMovesD
	bitTurnsD
	bitScrolls
	bitSeq
	bitInvites
	bitInviteSeq
	bitInviteAt
	bitInviteReason
	bitDeadline
	bitVisitor
	bitSite
	bitURL
	bitErrField
	bitSession
	bitArmed
	bitChecked
	bitInviteRoute
	bitRateMinute
	bitRateCur
	bitRatePrev
	bitFeedbackSeen
	bitTallyHour
	bitTallyCauses
	numBitsV1
)

// bitMax is the largest value each field of version 1 holds as read
// (a uvarint, or the zigzag of a varint): a larger one means a corrupt
// state. bitForm says how a field is written: a uvarint (the others), three
// little-endian uint16 hashes, or a length and bytes. Both are indexed by
// bit&63, so a lookup needs no bounds check.
var bitMax, bitForm = func() (max [64]uint64, form [64]uint8) {
	for b := range max {
		max[b] = math.MaxUint64
	}
	for _, b := range [...]uint8{bitEvents, bitPageViews, bitDistinct, bitBackForth, bitPriceViews, bitIdleLongest, bitIdleCart,
		bitHiddenCount, bitExitD, bitCartItems, bitFocuses, bitChurn, bitReedits, bitErrorsD, bitRageD, bitDeadD,
		bitMovesD, bitTurnsD, bitScrolls, bitSeq, bitInvites, bitInviteSeq, bitRateMinute, bitRateCur, bitRatePrev, bitTallyHour, bitTallyCauses} {
		max[b] = math.MaxUint32
	}
	for _, b := range [...]uint8{bitKind, bitCheckoutStep, bitInviteReason, bitInviteRoute} {
		max[b] = math.MaxUint8
	}
	max[bitFeedbackSeen] = math.MaxUint16
	form[bitPages], form[bitFields] = formHashes, formHashes
	for _, b := range [...]uint8{bitVisitor, bitSite, bitURL, bitErrField, bitSession} {
		form[b] = formBytes
	}
	return max, form
}()

// Forms of bitForm.
const (
	formUvarint = iota
	formHashes
	formBytes
)

var errCorrupt = fmt.Errorf("%w: truncated or corrupt", ErrBadState)

// uvarint reads a uvarint from b; most fields take one or two bytes.
func uvarint(b []byte) (uint64, int) {
	if len(b) > 0 && b[0] < 0x80 {
		return uint64(b[0]), 1
	}
	if len(b) > 1 && b[1] < 0x80 {
		return uint64(b[0]&0x7f) | uint64(b[1])<<7, 2
	}
	return binary.Uvarint(b)
}

// uvarint8 reads a uvarint of at most 8 bytes from b, which holds at least
// 8, with one load and no loop over its bytes (a state's times and larger
// counters take two to six). k is 0 for a longer one. It reads what
// binary.Uvarint reads.
func uvarint8(b []byte) (v uint64, k int) {
	x := binary.LittleEndian.Uint64(b)
	stop := ^x & 0x8080808080808080 // the high bit of each last-byte candidate
	if stop == 0 {
		return 0, 0
	}
	k = bits.TrailingZeros64(stop)/8 + 1
	x &= 0x7f7f7f7f7f7f7f7f >> (64 - 8*k) // k bytes, without their high bits
	// Pack the 7-bit groups: pairs into 14 bits, then 28, then 56.
	x = x&0x007f007f007f007f | x&0x7f007f007f007f00>>1
	x = x&0x00003fff00003fff | x&0x3fff00003fff0000>>2
	x = x&0x000000000fffffff | x&0x0fffffff00000000>>4
	return x, k
}

// zigzag undoes binary.AppendVarint's encoding of a signed value.
func zigzag(u uint64) int64 { return int64(u>>1) ^ -int64(u&1) }

// decodeV1 reads version 1: a mask of the fields present, then each present
// field in bit order. It walks the set bits only (a typical state has about
// half its fields), into raw values, then assigns them: one loop with no
// calls per field, as decoding a state is on the per-event path.
func decodeV1(b []byte, s *State) error {
	mask, n := uvarint(b)
	if n <= 0 {
		return fmt.Errorf("%w: bad field mask", ErrBadState)
	}
	b = b[n:]
	var raw [numBitsV1]uint64
	// Every other field is assigned below, present or not: clearing the
	// whole State first (Reset) would write it twice.
	s.Pages, s.Fields = [3]uint16{}, [3]uint16{}
	s.Visitor, s.Site, s.URL, s.ErrField, s.Session = s.Visitor[:0], s.Site[:0], s.URL[:0], s.ErrField[:0], s.Session[:0]
	// Bits beyond the fields this release knows come from a newer release
	// of the same version; their values follow ours and are ignored.
	for m := mask & (1<<numBitsV1 - 1); m != 0; m &= m - 1 {
		bit := bits.TrailingZeros64(m) & 63
		form := bitForm[bit]
		// Most fields are a uvarint of one byte, which no field's limit
		// refuses.
		if len(b) > 0 && b[0] < 0x80 && form == formUvarint {
			raw[bit] = uint64(b[0])
			b = b[1:]
			continue
		}
		if form == formUvarint && len(b) >= 8 {
			if v, k := uvarint8(b); k > 0 {
				if v > bitMax[bit] {
					return errCorrupt
				}
				raw[bit] = v
				b = b[k:]
				continue
			}
		}
		switch form {
		case formHashes:
			if len(b) < 6 {
				return errCorrupt
			}
			h := &s.Pages
			if bit == bitFields {
				h = &s.Fields
			}
			h[0], h[1], h[2] = binary.LittleEndian.Uint16(b), binary.LittleEndian.Uint16(b[2:]), binary.LittleEndian.Uint16(b[4:])
			b = b[6:]
		case formBytes:
			l, k := uvarint(b)
			if k <= 0 || l > uint64(len(b)-k) {
				return errCorrupt
			}
			v := b[k : k+int(l)]
			b = b[k+int(l):]
			switch bit {
			case bitVisitor:
				s.Visitor = append(s.Visitor, v...)
			case bitSite:
				s.Site = append(s.Site, v...)
			case bitURL:
				s.URL = append(s.URL, v...)
			case bitErrField:
				s.ErrField = append(s.ErrField, v...)
			default:
				s.Session = append(s.Session, v...)
			}
		default:
			v, k := uvarint(b)
			if k <= 0 || v > bitMax[bit] {
				return errCorrupt
			}
			raw[bit] = v
			b = b[k:]
		}
	}
	start := zigzag(raw[bitStart])
	rel := func(bit int) int64 {
		if mask&(1<<bit) == 0 {
			return 0
		}
		return start + zigzag(raw[bit])
	}
	s.Flags = Flags(raw[bitFlags])
	s.Start = start
	s.Last = rel(bitLast)
	s.ActiveAt = rel(bitActiveAt)
	s.Events = uint32(raw[bitEvents])
	s.PageSince = rel(bitPageSince)
	s.Kind = uint8(raw[bitKind])
	s.PageViews = uint32(raw[bitPageViews])
	s.Distinct = uint32(raw[bitDistinct])
	s.BackForth = uint32(raw[bitBackForth])
	s.PriceViews = uint32(raw[bitPriceViews])
	s.IdleLongestMs = uint32(raw[bitIdleLongest])
	s.IdleCartMs = uint32(raw[bitIdleCart])
	s.HiddenSince = rel(bitHiddenSince)
	s.HiddenCount = uint32(raw[bitHiddenCount])
	s.ExitD = uint32(raw[bitExitD])
	s.CartValue = zigzag(raw[bitCartValue])
	s.CartItems = uint32(raw[bitCartItems])
	s.CheckoutStep = uint8(raw[bitCheckoutStep])
	s.FieldSince = rel(bitFieldSince)
	s.Focuses = uint32(raw[bitFocuses])
	s.Churn = uint32(raw[bitChurn])
	s.Reedits = uint32(raw[bitReedits])
	s.ErrorsD = uint32(raw[bitErrorsD])
	s.RageD = uint32(raw[bitRageD])
	s.DeadD = uint32(raw[bitDeadD])
	s.MovesD = uint32(raw[bitMovesD])
	s.TurnsD = uint32(raw[bitTurnsD])
	s.Scrolls = uint32(raw[bitScrolls])
	s.Seq = uint32(raw[bitSeq])
	s.Invites = uint32(raw[bitInvites])
	s.InviteSeq = uint32(raw[bitInviteSeq])
	s.InviteAt = rel(bitInviteAt)
	s.InviteReason = uint8(raw[bitInviteReason])
	s.Deadline = rel(bitDeadline)
	s.Armed = rel(bitArmed)
	s.Checked = rel(bitChecked)
	s.InviteRoute = uint8(raw[bitInviteRoute])
	s.RateMinute = uint32(raw[bitRateMinute])
	s.RateCur = uint32(raw[bitRateCur])
	s.RatePrev = uint32(raw[bitRatePrev])
	s.FeedbackSeen = uint16(raw[bitFeedbackSeen])
	s.TallyHour = uint32(raw[bitTallyHour])
	s.TallyCauses = uint32(raw[bitTallyCauses])
	return nil
}

// DecodeState reads b (written by AppendBinary of this or an earlier release)
// into s, reusing s's byte slices. On an error s is reset.
func DecodeState(b []byte, s *State) error {
	var err error
	switch {
	case len(b) == 0:
		err = fmt.Errorf("%w: empty", ErrBadState)
	case b[0] == 1:
		if err = decodeV1(b[1:], s); err == nil {
			return nil
		}
	default:
		err = fmt.Errorf("%w: version %d, this release reads 1 to %d", ErrBadState, b[0], StateVersion)
	}
	s.Reset()
	return err
}

// CopyFrom makes s a copy of o that shares no memory with it, reusing the
// capacity of s's byte slices: a session's state can be kept beside its
// working copy without allocating in steady state.
func (s *State) CopyFrom(o *State) {
	v, site, url, f, id := s.Visitor[:0], s.Site[:0], s.URL[:0], s.ErrField[:0], s.Session[:0]
	*s = *o
	s.Visitor = append(v, o.Visitor...)
	s.Site = append(site, o.Site...)
	s.URL = append(url, o.URL...)
	s.ErrField = append(f, o.ErrField...)
	s.Session = append(id, o.Session...)
}
