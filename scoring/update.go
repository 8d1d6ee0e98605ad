package scoring

import (
	"bytes"
	"math"

	"github.com/lingerhq/linger/schemas"
)

// Update applies ev to s, with the window and session timeout of set. It
// does not set s.Deadline, which depends on the policy's decision too: the
// Engine sets it (NextDeadline) after deciding.
//
// Events are applied on arrival, in offset order, but every duration is
// computed from event times, so modest reordering does not change the
// result: an event older than s.Last still counts, decayed by its age, and
// does not move "current" fields (page, field focus) back in time.
//
// An event more than the session timeout after s.Last starts the session
// over (the old one ended by inactivity); the decision sequence is kept so
// decision ids stay unique.
func Update(s *State, ev *schemas.Event, set *Settings) {
	ts := ev.TS
	if s.Events > 0 && ts-s.Last > set.SessionTimeoutMs {
		seq := s.Seq
		s.Reset()
		s.Seq = seq
	}
	if s.Events == 0 {
		s.Start, s.Last = ts, ts
	}
	s.Events++

	// gain is this event's weight in the decayed counters, which are kept
	// as of s.Last.
	gain := 1.0
	if ts > s.Last {
		if s.ExitD|s.ErrorsD|s.RageD|s.DeadD|s.MovesD|s.TurnsD != 0 {
			s.decay(math.Exp(-float64(ts-s.Last) / float64(set.WindowMs)))
		}
		s.Last = ts
	} else if ts < s.Last {
		gain = math.Exp(-float64(s.Last-ts) / float64(set.WindowMs))
	}

	if !bytes.Equal(ev.Session, s.Session) {
		s.Session = append(s.Session[:0], ev.Session...)
	}
	if len(ev.Visitor) > 0 && !bytes.Equal(ev.Visitor, s.Visitor) {
		s.Visitor = append(s.Visitor[:0], ev.Visitor...)
	}
	if len(ev.Site) > 0 && !bytes.Equal(ev.Site, s.Site) {
		s.Site = append(s.Site[:0], ev.Site...)
	}
	if ev.Bot {
		s.Flags |= FlagBot
	}
	// A session first seen mid-way (or whose state was lost) takes its
	// page from whatever event carries one.
	if s.Kind == 0 && ev.Page.Kind != schemas.KindNone && ev.Type != schemas.TypePageView {
		s.enterPage(ev.Page, ts)
	}

	switch ev.Type {
	case schemas.TypePageView:
		s.active(ts)
		s.pageView(ev.Page, ts)
		if set.MaxViewsPerMinute > 0 {
			s.countView(ts, set.MaxViewsPerMinute)
		}
	case schemas.TypeIdle:
		ms := clampU32(ev.MS)
		if ms > s.IdleLongestMs {
			s.IdleLongestMs = ms
		}
		kind := s.Kind
		if ev.Page.Kind != schemas.KindNone {
			kind = uint8(ev.Page.Kind)
		}
		if isCartOrCheckout(kind) && ms > s.IdleCartMs {
			s.IdleCartMs = ms
		}
		// The client saw input we did not (typing without form events, a
		// pointer move inside its aggregation window): trust its gap.
		if from := ts - ev.MS; from > s.ActiveAt {
			s.ActiveAt = from
		}
	case schemas.TypeVisibility:
		if ev.Visibility == schemas.VisibilityHidden {
			if s.Flags&FlagHidden == 0 {
				s.Flags |= FlagHidden
				s.HiddenCount++
				s.HiddenSince = ts
			}
		} else {
			s.Flags &^= FlagHidden
			s.HiddenSince = 0
			s.active(ts)
		}
	case schemas.TypeExitIntent:
		addDecayed(&s.ExitD, 1, gain)
	case schemas.TypeMouse:
		addDecayed(&s.MovesD, float64(ev.Moves), gain)
		addDecayed(&s.TurnsD, float64(ev.DirChanges), gain)
		addDecayed(&s.RageD, float64(ev.RageClicks), gain)
		addDecayed(&s.DeadD, float64(ev.DeadClicks), gain)
		if ev.Moves > 0 || ev.Clicks > 0 {
			s.active(ts)
		}
	case schemas.TypeScroll:
		if ev.ScrollDir == schemas.ScrollUp {
			s.Scrolls++
		}
		s.active(ts)
	case schemas.TypeForm:
		s.active(ts)
		s.form(ev, ts, gain)
	case schemas.TypeCart:
		s.active(ts)
		items := clampU32(ev.Items)
		if items == 0 {
			items = 1
		}
		if ev.CartAction == schemas.CartAdd {
			s.CartValue += ev.Value
			s.CartItems += items
		} else {
			s.CartValue = max(0, s.CartValue-ev.Value)
			s.CartItems -= min(items, s.CartItems)
		}
	case schemas.TypeCheckout:
		s.active(ts)
		if step := uint8(min(ev.Step, 255)); step > s.CheckoutStep {
			s.CheckoutStep = step
		}
	case schemas.TypePurchase:
		s.active(ts)
		s.Flags |= FlagPurchased
	case schemas.TypeChat:
		s.active(ts)
		if ev.ChatAction == schemas.ChatOpen {
			s.Flags |= FlagChatOpen
		}
	}
}

// rateSpanMs is the span max_page_views_per_minute counts over.
const rateSpanMs = 60_000

// countView counts a page view at ts in the page-view rate and marks the
// session inhuman when more than limit views fall within a minute. The
// rate is a sliding minute estimated from two fixed ones, the session's
// current minute and the one before it (minutes count from Start), the
// previous one weighted by how much of it the sliding minute still covers.
// A late view counts in the current minute.
func (s *State) countView(ts int64, limit uint32) {
	minute := uint32(min(max(ts-s.Start, 0)/rateSpanMs, math.MaxUint32-1)) + 1
	switch {
	case minute == s.RateMinute+1:
		s.RateMinute, s.RatePrev, s.RateCur = minute, s.RateCur, 0
	case minute > s.RateMinute:
		s.RateMinute, s.RatePrev, s.RateCur = minute, 0, 0
	}
	if s.RateCur < math.MaxUint32 {
		s.RateCur++
	}
	if s.Flags&FlagInhuman != 0 {
		return
	}
	into := ts - s.Start - int64(s.RateMinute-1)*rateSpanMs // ms into the current minute
	covered := 1 - float64(min(max(into, 0), rateSpanMs))/rateSpanMs
	if float64(s.RateCur)+float64(s.RatePrev)*covered > float64(limit) {
		s.Flags |= FlagInhuman
	}
}

// active records that the visitor did something at ts, closing an idle gap.
func (s *State) active(ts int64) {
	if ts <= s.ActiveAt {
		return
	}
	if s.ActiveAt != 0 {
		gap := clampU32(ts - s.ActiveAt)
		if gap > s.IdleLongestMs {
			s.IdleLongestMs = gap
		}
		if isCartOrCheckout(s.Kind) && gap > s.IdleCartMs {
			s.IdleCartMs = gap
		}
	}
	s.ActiveAt = ts
}

func (s *State) pageView(p schemas.Page, ts int64) {
	s.PageViews++
	h := hash16(p.URL)
	if p.Kind == schemas.KindPricing || isShippingURL(p.URL) {
		s.PriceViews++
	}
	if ts < s.PageSince {
		// A late view of an earlier page: it counts, but is not where the
		// visitor is now.
		if h != s.Pages[0] && h != s.Pages[1] && h != s.Pages[2] {
			s.Distinct++
		}
		return
	}
	if h != s.Pages[0] {
		if h == s.Pages[1] {
			s.BackForth++
		} else if h != s.Pages[2] {
			s.Distinct++
		}
		s.Pages = [3]uint16{h, s.Pages[0], s.Pages[1]}
	}
	s.enterPage(p, ts)
	// A new page ends the focus of the previous page's form field.
	s.Flags &^= FlagInFieldFocus | FlagFieldProgress
	s.FieldSince = 0
}

func (s *State) enterPage(p schemas.Page, ts int64) {
	s.PageSince = ts
	s.Kind = uint8(p.Kind)
	s.URL = append(s.URL[:0], p.URL[:min(len(p.URL), MaxStateURL)]...)
	if s.Pages[0] == 0 {
		s.Pages[0] = hash16(p.URL)
	}
}

func (s *State) form(ev *schemas.Event, ts int64, gain float64) {
	switch ev.FormAction {
	case schemas.FormFocus:
		s.Focuses++
		h := hash16(ev.Field)
		if h != s.Fields[0] {
			if h == s.Fields[1] || h == s.Fields[2] {
				s.Reedits++
			}
			s.Fields = [3]uint16{h, s.Fields[0], s.Fields[1]}
		}
		if ts >= s.FieldSince {
			s.FieldSince = ts
			s.Flags = s.Flags&^FlagFieldProgress | FlagInFieldFocus
		}
	case schemas.FormBlur:
		if s.Flags&FlagInFieldFocus != 0 && s.Flags&FlagFieldProgress == 0 {
			s.Churn++
		}
		s.Flags &^= FlagInFieldFocus | FlagFieldProgress
		s.FieldSince = 0
	case schemas.FormInput:
		s.Flags |= FlagFieldProgress
	case schemas.FormError:
		addDecayed(&s.ErrorsD, 1, gain)
		f := ev.Field
		if len(f) == 0 {
			f = ev.Form
		}
		s.ErrField = append(s.ErrField[:0], f[:min(len(f), MaxStateField)]...)
		// An error undoes the progress of the field: the visitor is stuck
		// again from now.
		if s.Flags&FlagInFieldFocus != 0 && ts >= s.FieldSince {
			s.Flags &^= FlagFieldProgress
			s.FieldSince = ts
		}
	case schemas.FormClear:
		s.Reedits++
	}
}

// decay ages every decayed counter by factor f (0 < f ≤ 1).
func (s *State) decay(f float64) {
	for _, c := range [...]*uint32{&s.ExitD, &s.ErrorsD, &s.RageD, &s.DeadD, &s.MovesD, &s.TurnsD} {
		if *c != 0 {
			*c = uint32(math.Round(float64(*c) * f))
		}
	}
}

func addDecayed(c *uint32, n, gain float64) {
	if n <= 0 {
		return
	}
	add := math.Round(n * gain * decayUnit)
	*c = uint32(min(float64(*c)+add, math.MaxUint32))
}

// decayed returns counter c (kept as of s.Last) as of at, in events.
func (s *State) decayed(c uint32, at int64, set *Settings) float64 {
	v := float64(c) / decayUnit
	if at > s.Last {
		v *= math.Exp(-float64(at-s.Last) / float64(set.WindowMs))
	}
	return v
}

func isCartOrCheckout(kind uint8) bool {
	return kind == uint8(schemas.KindCart) || kind == uint8(schemas.KindCheckout)
}

func isShippingURL(u []byte) bool {
	return bytes.Contains(u, []byte("shipping")) || bytes.Contains(u, []byte("delivery"))
}

// hash16 is FNV-1a folded to 16 bits, never 0 (0 means "no page").
func hash16(b []byte) uint16 {
	h := uint32(2166136261)
	for _, c := range b {
		h ^= uint32(c)
		h *= 16777619
	}
	r := uint16(h>>16) ^ uint16(h)
	if r == 0 {
		r = 1
	}
	return r
}

// NextDeadline returns the event time at which s next needs attention with
// no event: its expiry (Last + session timeout), or earlier a silence check
// while the visitor is quiet on a silence page (cart, checkout, pricing by
// default) and could still be invited. Silence checks fall every
// set.SilenceMs after the last activity, up to set.SilenceMaxMs of silence,
// each after the last event and the last check.
func NextDeadline(s *State, set *Settings) int64 {
	d := s.Last + set.SessionTimeoutMs
	if set.SilenceMs <= 0 || !set.SilencePage[s.Kind&15] || s.ActiveAt == 0 ||
		s.Flags&(FlagBot|FlagInhuman|FlagPurchased|FlagChatOpen) != 0 || s.Invites >= set.MaxInvites {
		return d
	}
	ref := max(s.Last, s.Checked)
	next := s.ActiveAt + ((ref-s.ActiveAt)/set.SilenceMs+1)*set.SilenceMs
	if next-s.ActiveAt <= set.SilenceMaxMs && next < d {
		d = next
	}
	return d
}

func clampU32(v int64) uint32 {
	if v <= 0 {
		return 0
	}
	if v > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(v)
}
