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

// siteBand is a site's invite-rate band in one partition: eligible and
// invited sessions counted in slots of event time, and the controller's
// threshold offset.
type siteBand struct {
	site   string
	offset float64 // added to the thresholds by the controller
	step   int64   // event time of the last controller step, in units of every
	min    float64 // the band of the last update, for metrics
	max    float64
	slots  [bandSlots]bandSlot
	at     int64 // newest event time counted, for eviction and metrics
}

type bandSlot struct {
	idx               int64 // event time / slot length
	eligible, invited uint32
}

func (bs *bandSettings) slotMs() int64 { return max(bs.windowMs/bandSlots, 1) }

// band returns site's band, creating it.
func (b *Budget) band(site []byte) *siteBand {
	if s := b.sites[string(site)]; s != nil {
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
	s := &siteBand{site: string(site)}
	b.sites[s.site] = s
	b.siteList = append(b.siteList, s)
	return s
}

// note counts an eligible or an invited session at event time at.
func (b *Budget) note(site []byte, at int64, bs *bandSettings, eligible, invited uint32) {
	s := b.band(site)
	idx := at / bs.slotMs()
	sl := &s.slots[idx%bandSlots]
	if sl.idx < idx {
		*sl = bandSlot{idx: idx}
	}
	// A late session whose slot was reused for a newer one counts there:
	// still within the window.
	sl.eligible += eligible
	sl.invited += invited
	s.at = max(s.at, at)
	s.min, s.max = bs.min, bs.max
	b.dirty = true
}

// counts returns the eligible and invited sessions of the window that ends
// with event time at's slot.
func (s *siteBand) counts(at int64, bs *bandSettings) (eligible, invited uint32) {
	idx := at / bs.slotMs()
	for i := range s.slots {
		if sl := &s.slots[i]; sl.idx <= idx && sl.idx > idx-bandSlots {
			eligible += sl.eligible
			invited += sl.invited
		}
	}
	return eligible, invited
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
				s.offset = max(s.offset-bs.step, bs.minOffset)
			case share > bs.max:
				s.offset = min(s.offset+bs.step, bs.maxOffset)
			}
			// Steps are exact multiples of step: keep them so, not
			// 0.020000000000000004.
			s.offset = math.Round(s.offset*1e9) / 1e9
		}
	}
	return s.offset
}

// effThreshold is a threshold moved by the controller's offset, kept in
// (0, 1].
func effThreshold(base, offset float64) float64 {
	if offset == 0 {
		return base
	}
	return min(max(base+offset, min(base, 0.01)), 1)
}

// BandStatus is a site's invite-rate band in one partition, for metrics:
// the sessions of the window that ends with the newest event time counted.
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
	newest := int64(math.MinInt64)
	for _, sl := range s.slots {
		newest = max(newest, sl.idx)
	}
	for _, sl := range s.slots {
		if sl.idx > newest-bandSlots {
			st.Eligible += sl.eligible
			st.Invited += sl.invited
		}
	}
	if st.Eligible > 0 {
		st.Share = float64(st.Invited) / float64(st.Eligible)
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
	n := 0
	for _, sl := range s.slots {
		if sl != (bandSlot{}) {
			n++
		}
	}
	dst = binary.AppendUvarint(dst, uint64(n))
	for i, sl := range s.slots {
		if sl != (bandSlot{}) {
			dst = binary.AppendUvarint(dst, uint64(i))
			dst = binary.AppendVarint(dst, sl.idx)
			dst = binary.AppendUvarint(dst, uint64(sl.eligible))
			dst = binary.AppendUvarint(dst, uint64(sl.invited))
		}
	}
	return dst
}

func (s *siteBand) decode(r *reader) error {
	s.site = r.string()
	s.offset = r.float()
	s.step = r.varint()
	s.min, s.max = r.float(), r.float()
	s.at = r.varint()
	n := r.count(bandSlots)
	for range n {
		i := r.uvarint()
		if i >= bandSlots {
			return errors.New("bad band slot")
		}
		sl := &s.slots[i]
		sl.idx = r.varint()
		e, v := r.uvarint(), r.uvarint()
		if e > math.MaxUint32 || v > math.MaxUint32 {
			return errors.New("bad band count")
		}
		sl.eligible, sl.invited = uint32(e), uint32(v)
	}
	return r.err
}
