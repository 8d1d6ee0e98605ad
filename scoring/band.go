package scoring

import (
	"encoding/binary"
	"errors"
	"math"
)

// bandSlots is how many slots the band's sliding window is cut into: the
// window slides by a twelfth of its length.
const bandSlots = 12

// bandSettings are RateBandConfig resolved: shares in 0..1, times in ms.
type bandSettings struct {
	min, max             float64
	windowMs             int64
	controller           bool
	step                 float64
	everyMs              int64
	minOffset, maxOffset float64
	minSessions          uint32
}

// siteBand is a site's bands in one partition: the invite-share band
// (eligible and invited sessions counted in slots of event time, and its
// controller's threshold offset) and the acceptance band (acceptBand).
type siteBand struct {
	site   string
	offset float64 // added to the thresholds by the controller
	step   int64   // event time of the last controller step, in units of every
	min    float64 // the band of the last update, for metrics
	max    float64
	slots  window // k of n: invited of eligible sessions
	at     int64  // newest event time counted, for eviction and metrics
	acc    *acceptBand
}

// windowSlots is the most slots a window holds: the rate band uses
// bandSlots of them, the acceptance band acceptRing.
const windowSlots = 16

// window counts a proportion, k of n, in slots of event time: a ring in
// which slot idx sits at idx modulo the ring's size. The rate band counts
// invited (k) of eligible (n) sessions in it, the acceptance band
// accepted (k) of shown (n) invites.
type window [windowSlots]bandSlot

type bandSlot struct {
	idx  int64 // event time / slot length
	n, k uint32
}

// add counts n and k in slot idx of a ring of size slots. A slot that held
// an older idx starts over; one that holds a newer idx (a late count, its
// place reused) takes the count: still within the window.
func (w *window) add(idx int64, size int, n, k uint32) {
	sl := &w[int(idx%int64(size))]
	if sl.idx < idx {
		*sl = bandSlot{idx: idx}
	}
	sl.n += n
	sl.k += k
}

// sum returns the counts of the slots from idx lo to hi, hi excluded.
func (w *window) sum(lo, hi int64) (n, k uint32) {
	for i := range w {
		if sl := &w[i]; sl.idx >= lo && sl.idx < hi {
			n += sl.n
			k += sl.k
		}
	}
	return n, k
}

// newest returns the newest slot's idx (MinInt64 when all are empty).
func (w *window) newest() int64 {
	newest := int64(math.MinInt64)
	for _, sl := range w {
		if sl != (bandSlot{}) {
			newest = max(newest, sl.idx)
		}
	}
	return newest
}

func (w *window) appendBinary(dst []byte) []byte {
	n := 0
	for _, sl := range w {
		if sl != (bandSlot{}) {
			n++
		}
	}
	dst = binary.AppendUvarint(dst, uint64(n))
	for i, sl := range w {
		if sl != (bandSlot{}) {
			dst = binary.AppendUvarint(dst, uint64(i))
			dst = binary.AppendVarint(dst, sl.idx)
			dst = binary.AppendUvarint(dst, uint64(sl.n))
			dst = binary.AppendUvarint(dst, uint64(sl.k))
		}
	}
	return dst
}

// decode reads what appendBinary wrote for a ring of size slots.
func (w *window) decode(r *reader, size int) error {
	count := r.count(size)
	for range count {
		i := r.uvarint()
		if i >= uint64(size) {
			return errors.New("bad band slot")
		}
		sl := &w[i]
		if *sl != (bandSlot{}) {
			return errors.New("band slot twice")
		}
		sl.idx = r.varint()
		n, k := r.uvarint(), r.uvarint()
		if n > math.MaxUint32 || k > math.MaxUint32 {
			return errors.New("bad band count")
		}
		sl.n, sl.k = uint32(n), uint32(k)
		if *sl == (bandSlot{}) && r.err == nil {
			// appendBinary leaves empty slots out.
			return errors.New("empty band slot")
		}
	}
	return r.err
}

func (bs *bandSettings) slotMs() int64 { return max(bs.windowMs/bandSlots, 1) }

// band returns site's band, creating it.
func (b *Budget) band(site []byte) *siteBand {
	if s := b.sites[string(site)]; s != nil {
		return s
	}
	return b.bandNamed(string(site))
}

// bandNamed is band for a site name held as a string.
func (b *Budget) bandNamed(site string) *siteBand {
	if s := b.sites[site]; s != nil {
		return s
	}
	if len(b.siteList) >= MaxBudgetKeys {
		oldest := 0
		for i, s := range b.siteList {
			if s.at < b.siteList[oldest].at {
				oldest = i
			}
		}
		delete(b.sites, b.siteList[oldest].site)
		b.siteList = append(b.siteList[:oldest], b.siteList[oldest+1:]...)
	}
	s := &siteBand{site: site}
	b.sites[s.site] = s
	b.siteList = append(b.siteList, s)
	return s
}

// note counts an eligible or an invited session at event time at.
func (b *Budget) note(site []byte, at int64, bs *bandSettings, eligible, invited uint32) {
	s := b.band(site)
	s.slots.add(at/bs.slotMs(), bandSlots, eligible, invited)
	s.at = max(s.at, at)
	s.min, s.max = bs.min, bs.max
	b.dirty = true
}

// counts returns the eligible and invited sessions of the window that ends
// with event time at's slot.
func (s *siteBand) counts(at int64, bs *bandSettings) (eligible, invited uint32) {
	idx := at / bs.slotMs()
	return s.slots.sum(idx-bandSlots+1, idx+1)
}

// offset returns the controller's threshold offset for site at event time
// at, first taking a step if one is due: every bs.every of event time, with
// at least bs.minSessions eligible sessions in the window, the offset moves
// by bs.step towards the band (down when the share is under it, up when
// over), within [bs.minOffset, bs.maxOffset].
func (b *Budget) offset(site []byte, at int64, bs *bandSettings) float64 {
	s := b.band(site)
	if step := at / bs.everyMs; step > s.step {
		s.step = step
		b.dirty = true
		if e, i := s.counts(at, bs); e > 0 && e >= bs.minSessions {
			switch share := float64(i) / float64(e); {
			case share < bs.min:
				s.offset = moveOffset(s.offset, -bs.step, bs.minOffset, bs.maxOffset)
			case share > bs.max:
				s.offset = moveOffset(s.offset, bs.step, bs.minOffset, bs.maxOffset)
			}
		}
	}
	return s.offset
}

// moveOffset returns a controller's offset moved by step, kept within
// [lo, hi].
func moveOffset(offset, step, lo, hi float64) float64 {
	offset = min(max(offset+step, lo), hi)
	// Steps are exact multiples of step: keep them so, not
	// 0.020000000000000004.
	return math.Round(offset*1e9) / 1e9
}

// effThreshold is a threshold moved by the controller's offset, kept in
// (0, 1].
func effThreshold(base, offset float64) float64 {
	if offset == 0 {
		return base
	}
	return min(max(base+offset, min(base, 0.01)), 1)
}

// BandStatus is a site's invite-share band in one partition, for metrics:
// the sessions of the window that ends with the newest event time counted;
// and its acceptance band, if it has one.
type BandStatus struct {
	Site string
	// Eligible sessions reached a moment where the policy would invite
	// them (whatever their score); Invited of them were invited (holdout
	// included). Share is Invited/Eligible, 0 without eligible sessions.
	Eligible, Invited uint32
	Share             float64
	// Min and Max are the band (shares, 0..1) the site had at its last
	// count.
	Min, Max float64
	// Offset is the controller's threshold offset: negative when it
	// lowered the thresholds, positive when it raised them.
	Offset float64
	// At is the newest event time counted.
	At int64
	// Acceptance is the site's acceptance band, nil when its controller
	// never weighed one in this partition.
	Acceptance *AcceptanceStatus
}

// Bands calls fn for the band of each site the partition has seen.
func (b *Budget) Bands(fn func(BandStatus)) {
	for _, s := range b.siteList {
		fn(s.status())
	}
}

// Band returns site's band, if the partition has seen the site.
func (b *Budget) Band(site []byte) (BandStatus, bool) {
	s := b.sites[string(site)]
	if s == nil {
		return BandStatus{}, false
	}
	return s.status(), true
}

func (s *siteBand) status() BandStatus {
	st := BandStatus{Site: s.site, Min: s.min, Max: s.max, Offset: s.offset, At: s.at}
	// The window ends with the newest slot counted.
	if newest := s.slots.newest(); newest != math.MinInt64 {
		st.Eligible, st.Invited = s.slots.sum(newest-bandSlots+1, newest+1)
	}
	if st.Eligible > 0 {
		st.Share = float64(st.Invited) / float64(st.Eligible)
	}
	if a := s.acc; a != nil {
		st.Acceptance = a.status()
	}
	return st
}

func (s *siteBand) appendBinary(dst []byte) []byte {
	dst = appendString(dst, s.site)
	dst = appendFloat(dst, s.offset)
	dst = binary.AppendVarint(dst, s.step)
	dst = appendFloat(dst, s.min)
	dst = appendFloat(dst, s.max)
	dst = binary.AppendVarint(dst, s.at)
	dst = s.slots.appendBinary(dst)
	// Version 2 on: the acceptance band, after a byte that says whether
	// the site has one.
	if s.acc == nil {
		return append(dst, 0)
	}
	return s.acc.appendBinary(append(dst, 1))
}

// decode reads what appendBinary wrote, in the encoding of version
// (budgetVersion or an earlier one).
func (s *siteBand) decode(r *reader, version byte) error {
	s.site = r.string()
	s.offset = r.float()
	s.step = r.varint()
	s.min, s.max = r.float(), r.float()
	s.at = r.varint()
	if err := s.slots.decode(r, bandSlots); err != nil || version < 2 {
		return err
	}
	switch r.byte() {
	case 0:
		return r.err
	case 1:
		s.acc = &acceptBand{}
		return s.acc.decode(r)
	}
	if r.err != nil {
		return r.err
	}
	return errors.New("bad acceptance band")
}
