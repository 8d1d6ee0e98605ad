package scoring

import (
	"encoding/binary"
	"errors"
	"math"
)

// The acceptance band of a site in one partition (AcceptanceBandConfig):
// invites shown and accepted, counted by the feedback's event time in
// slots of a twelfth of the window, and the controller's threshold offset.
//
// Feedback comes from another topic than the events, so where a record
// falls among the events depends on how the two were fetched. To decide
// alike whatever the fetching, a record counts by its ts, and only once
// the partition's watermark has passed that ts: until then it waits in the
// Budget (pending). The controller steps on the watermark too: when it
// passes the end of a step (every window/4), the window that ends there is
// weighed, and every record with a ts in it has arrived by then unless it
// came later than the allowed lateness, like a late event.

const (
	// acceptSlots is the window in slots; acceptStepSlots the slots
	// between two steps (a quarter of the window).
	acceptSlots     = 12
	acceptStepSlots = 3
	// acceptRing holds the window that ends at the last step's end and
	// the slots the watermark has entered since (fewer than a step's),
	// with room to spare.
	acceptRing = windowSlots
	// maxPending bounds the feedback waiting for the watermark, per
	// partition. When it is full, the record with the earliest ts is
	// counted at once, as if the watermark had passed it: its count is
	// kept, only the moment it weighs may differ from a run in which it
	// waited.
	maxPending = 1024
)

// acceptSettings are AcceptanceBandConfig resolved: shares in 0..1, times
// in ms.
type acceptSettings struct {
	min, max   float64
	windowMs   int64
	minShown   uint32
	controller bool
}

// AcceptanceBand returns the acceptance band of the settings' site, as
// shares of the invites shown (0..1).
func (s *Settings) AcceptanceBand() (lo, hi float64) { return s.Accept.min, s.Accept.max }

func (as *acceptSettings) slotMs() int64 { return max(as.windowMs/acceptSlots, 1) }

// acceptBand is a site's acceptance band in one partition.
type acceptBand struct {
	offset float64 // added to the thresholds by the controller
	// step is the last step weighed: the watermark's slot divided by
	// acceptStepSlots.
	step     int64
	min, max float64 // the band of the last step, for metrics
	slots    window  // k of n: accepted of shown invites
	// since is the slot the offset last moved at: a step weighs only the
	// slots from there on, the invites of the thresholds as they are.
	since int64
	// shown and accepted are the window weighed at the last step.
	shown, accepted uint32
}

// pendingFeedback is feedback waiting for the watermark to pass its ts.
type pendingFeedback struct {
	ts              int64
	site            string
	shown, accepted bool
}

// before orders pending feedback: by ts, then site, then kind.
func (f *pendingFeedback) before(g *pendingFeedback) bool {
	if f.ts != g.ts {
		return f.ts < g.ts
	}
	if f.site != g.site {
		return f.site < g.site
	}
	return f.bits() < g.bits()
}

func (f *pendingFeedback) bits() byte { return byte(b2u(f.shown) | b2u(f.accepted)<<1) }

// acceptFeedback counts an invite of site shown, accepted or both at event
// time ts in the site's acceptance band: now if the watermark has passed
// ts (the record came late), else once it does.
func (b *Budget) acceptFeedback(site []byte, ts int64, shown, accepted bool, cfg *Config) {
	if !shown && !accepted {
		return
	}
	b.dirty = true
	if ts <= b.acceptWM {
		b.countFeedback(b.band(site).site, ts, shown, accepted, cfg)
		return
	}
	if len(b.pending) >= maxPending {
		f := b.pending[0]
		b.countFeedback(f.site, f.ts, f.shown, f.accepted, cfg)
		b.pending = b.pending[:copy(b.pending, b.pending[1:])]
	}
	// The site's name, held by its band: no allocation per record.
	s := b.band(site)
	f := pendingFeedback{ts: ts, site: s.site, shown: shown, accepted: accepted}
	// In order of ts, then site and kind, so that the list does not
	// depend on the order records came in: feedback mostly comes in ts
	// order, so this is an append.
	i := len(b.pending)
	for i > 0 && f.before(&b.pending[i-1]) {
		i--
	}
	b.pending = append(b.pending, pendingFeedback{})
	copy(b.pending[i+1:], b.pending[i:])
	b.pending[i] = f
}

// countFeedback adds feedback to its site's window. A record older than
// any window still to be weighed (it came more than a window late) is not
// counted; neither is one of a site whose controller is off.
func (b *Budget) countFeedback(site string, ts int64, shown, accepted bool, cfg *Config) {
	as := &cfg.forSite(site).Accept
	if !as.controller {
		return
	}
	slot := as.slotMs()
	idx := ts / slot
	if idx < b.acceptWM/slot-(acceptRing-2) {
		return
	}
	s := b.bandNamed(site)
	if s.acc == nil {
		s.acc = &acceptBand{}
	}
	a := s.acc
	a.slots.add(idx, acceptRing, b2u(shown), b2u(accepted))
	s.at = max(s.at, ts)
}

func b2u(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

// advanceAcceptance moves the acceptance bands' watermark to wm, if later,
// and counts the feedback it has passed, in ts order.
func (b *Budget) advanceAcceptance(wm int64, cfg *Config) {
	if wm <= b.acceptWM {
		return
	}
	b.acceptWM = wm
	b.dirty = true
	n := 0
	for n < len(b.pending) && b.pending[n].ts <= wm {
		f := &b.pending[n]
		b.countFeedback(f.site, f.ts, f.shown, f.accepted, cfg)
		n++
	}
	if n > 0 {
		b.pending = b.pending[:copy(b.pending, b.pending[n:])]
	}
}

// acceptOffset returns the acceptance controller's threshold offset for
// site, first taking a step if one is due: when the watermark has entered
// a step it had not, the window of acceptSlots that ends at the step's
// start is weighed (from the slot the offset last moved at, if later: the
// invites of the thresholds as they are, not of the ones before, which
// would keep it moving long after it had done enough), and with at least
// as.minShown invites shown in it, the offset moves by AcceptanceStep up
// when the 95% Wilson interval of their acceptance lies wholly below the
// band, down when wholly above it, within ±AcceptanceMaxOffset.
func (b *Budget) acceptOffset(site []byte, as *acceptSettings) float64 {
	s := b.band(site)
	if s.acc == nil {
		s.acc = &acceptBand{}
	}
	a := s.acc
	slot := as.slotMs()
	step := floorDiv(floorDiv(b.acceptWM, slot), acceptStepSlots)
	if step <= a.step {
		return a.offset
	}
	a.step = step
	a.min, a.max = as.min, as.max
	b.dirty = true
	end := step * acceptStepSlots
	shown, accepted := a.slots.sum(max(end-acceptSlots, a.since), end)
	// An acceptance whose shown fell before the window counts its own
	// shown at its ts, and an invite shown before the window may be
	// accepted in it: never more accepted than shown.
	accepted = min(accepted, shown)
	a.shown, a.accepted = shown, accepted
	if shown == 0 || shown < as.minShown {
		return a.offset
	}
	was := a.offset
	switch lo, hi := Wilson(int(accepted), int(shown)); {
	case hi < as.min:
		// Below the band: invite fewer, better-chosen visitors.
		a.offset = moveOffset(a.offset, AcceptanceStep, -AcceptanceMaxOffset, AcceptanceMaxOffset)
	case lo > as.max:
		// Above it: more visitors would welcome an invite.
		a.offset = moveOffset(a.offset, -AcceptanceStep, -AcceptanceMaxOffset, AcceptanceMaxOffset)
	}
	if a.offset != was {
		a.since = end
	}
	return a.offset
}

// floorDiv is a/b rounded down, for b > 0.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// AcceptanceStatus is a site's acceptance band in one partition: what its
// controller weighed at its last step.
type AcceptanceStatus struct {
	// Shown and Accepted are the invites of the window weighed at the
	// last step; Rate is Accepted/Shown (0 without shown).
	Shown, Accepted uint32
	Rate            float64
	// Min and Max are the band (shares, 0..1) of the last step.
	Min, Max float64
	// Offset is the controller's threshold offset: positive when it raised
	// the thresholds (acceptance below the band), negative when it lowered
	// them.
	Offset float64
}

func (a *acceptBand) status() *AcceptanceStatus {
	st := &AcceptanceStatus{Shown: a.shown, Accepted: a.accepted, Min: a.min, Max: a.max, Offset: a.offset}
	if a.shown > 0 {
		st.Rate = float64(a.accepted) / float64(a.shown)
	}
	return st
}

func (a *acceptBand) appendBinary(dst []byte) []byte {
	dst = appendFloat(dst, a.offset)
	dst = binary.AppendVarint(dst, a.step)
	dst = appendFloat(dst, a.min)
	dst = appendFloat(dst, a.max)
	dst = binary.AppendVarint(dst, a.since)
	dst = binary.AppendUvarint(dst, uint64(a.shown))
	dst = binary.AppendUvarint(dst, uint64(a.accepted))
	return a.slots.appendBinary(dst)
}

func (a *acceptBand) decode(r *reader) error {
	a.offset = r.float()
	a.step = r.varint()
	a.min, a.max = r.float(), r.float()
	a.since = r.varint()
	shown, accepted := r.uvarint(), r.uvarint()
	if shown > math.MaxUint32 || accepted > shown {
		return errors.New("bad acceptance count")
	}
	a.shown, a.accepted = uint32(shown), uint32(accepted)
	if math.Abs(a.offset) > AcceptanceMaxOffset {
		return errors.New("acceptance offset out of bounds")
	}
	return a.slots.decode(r, acceptRing)
}

// appendPending appends the acceptance bands' watermark and the feedback
// waiting for it.
func (b *Budget) appendPending(dst []byte) []byte {
	dst = binary.AppendVarint(dst, b.acceptWM)
	dst = binary.AppendUvarint(dst, uint64(len(b.pending)))
	prev := b.acceptWM
	for _, f := range b.pending {
		// Pending ts are after the watermark and in order: small deltas.
		dst = binary.AppendVarint(dst, f.ts-prev)
		prev = f.ts
		dst = appendString(dst, f.site)
		dst = append(dst, f.bits())
	}
	return dst
}

func (b *Budget) decodePending(r *reader) error {
	b.acceptWM = r.varint()
	n := r.count(maxPending)
	prev := b.acceptWM
	for range n {
		f := pendingFeedback{ts: prev + r.varint()}
		f.site = r.string()
		bits := r.byte()
		if r.err != nil {
			return r.err
		}
		if f.ts < prev || bits == 0 || bits > 3 {
			return errors.New("bad pending feedback")
		}
		f.shown, f.accepted = bits&1 != 0, bits&2 != 0
		prev = f.ts
		b.pending = append(b.pending, f)
	}
	return r.err
}
