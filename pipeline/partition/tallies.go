package partition

import (
	"encoding/binary"
	"fmt"

	"github.com/lingerhq/linger/schemas"
	"github.com/lingerhq/linger/scoring"
)

// The partition's hourly tallies, for linger-tallies: per site, team and
// hour of event time, the sessions with a would-be invite (a score over its
// threshold on an eligible page, invited or held back), the invites, and
// the sessions held back by each cause. A session counts once an hour as a
// would-be invite and once an hour per cause (its state remembers which):
// a report adds held-back sessions as chats at the team's acceptance rate,
// so counting one at every event it was held back at would staff for it many
// times over. The rows of the current and the previous hour are kept in the
// partition record, so a restore resumes them, and roll back on Abort.

// maxTallyRows bounds the rows kept (sites × teams × two hours): labels are
// the config's sites and teams or other, so they are few.
const maxTallyRows = 256

type tallyRow struct {
	site, team []byte
	hour       int64 // start, Unix ms
	wouldBe    int64
	invites    int64
	suppressed [32]int64 // sessions, by scoring.Outcome
	changed    bool      // since the last End: its record goes out
}

// tallyTable is the partition's rows, and their copy as of the last
// Commit for an Abort.
type tallyTable struct {
	rows  []tallyRow
	saved []tallyRow
	dirty bool // a row changed since the partition record was written
}

// row returns the row of a site, team and hour, adding it if there is room;
// nil when the table is full (the counts are dropped, never the partition).
func (t *tallyTable) row(site, team string, hour int64) *tallyRow {
	for i := range t.rows {
		r := &t.rows[i]
		if r.hour == hour && string(r.site) == site && string(r.team) == team {
			return r
		}
	}
	if len(t.rows) >= maxTallyRows {
		return nil
	}
	t.rows = append(t.rows, tallyRow{site: []byte(site), team: []byte(team), hour: hour})
	return &t.rows[len(t.rows)-1]
}

// tallyWouldBe is the bit of State.TallyCauses saying the session counted
// as a would-be invite this hour; the other bits are scoring.Outcome's.
const tallyWouldBe = 1

// tally counts the moment just decided, at event time at, if it was a
// would-be invite: an invite, or one the policy held back, with a team.
func (p *Processor) tally(st *scoring.State, at int64) {
	o := p.engine.Outcome()
	team := p.engine.Team()
	if len(team) == 0 || o != scoring.OutcomeInvite && !o.Suppressed() {
		return
	}
	hour := at - at%schemas.HourMs
	site, teamLabel := p.cfg.Labels(st.Site, team)
	r := p.tallies.row(site, teamLabel, hour)
	if r == nil {
		p.counts.TalliesDropped++
		return
	}
	if h := uint32(hour / schemas.HourMs); st.TallyHour != h {
		st.TallyHour, st.TallyCauses = h, 0
	}
	if st.TallyCauses&tallyWouldBe == 0 {
		st.TallyCauses |= tallyWouldBe
		r.wouldBe++
	}
	if o == scoring.OutcomeInvite {
		r.invites++
	} else if bit := uint32(1) << o; st.TallyCauses&bit == 0 {
		st.TallyCauses |= bit
		r.suppressed[o]++
	}
	r.changed, p.tallies.dirty = true, true
}

// causeNames are the suppressed outcomes' names, the causes of a tally.
var causeNames = func() [32][]byte {
	var n [32][]byte
	for o := scoring.SuppressedBot; o.Suppressed(); o++ {
		n[o] = []byte(o.String())
	}
	return n
}()

// appendTallies adds a record for every row changed since the last End to
// the output, for linger-tallies.
func (p *Processor) appendTallies() {
	a := p.out.arena
	for i := range p.tallies.rows {
		r := &p.tallies.rows[i]
		if !r.changed {
			continue
		}
		r.changed = false
		k0 := len(a)
		a = schemas.AppendHourTallyKey(a, p.partition, r.site, r.team, r.hour)
		v0 := len(a)
		p.tally1 = schemas.HourTally{Partition: p.partition, Site: r.site, Team: r.team, HourStart: r.hour,
			WouldBe: r.wouldBe, Invites: r.invites, Suppressed: p.tally1.Suppressed[:0]}
		for o, n := range r.suppressed {
			if n > 0 {
				p.tally1.Suppressed = append(p.tally1.Suppressed, schemas.CauseCount{Cause: causeNames[o], Count: n})
			}
		}
		a = schemas.AppendHourTally(a, &p.tally1)
		p.out.tallies = append(p.out.tallies, span{k0, v0, v0, len(a)})
	}
	p.out.arena = a
}

// commitTallies keeps the rows of the current and the previous hour (the
// older ones are final: their last record is out) and saves them for an
// Abort.
func (t *tallyTable) commit(maxTS int64) {
	keep := maxTS - maxTS%schemas.HourMs - schemas.HourMs
	rows := t.rows[:0]
	for _, r := range t.rows {
		if r.hour >= keep {
			rows = append(rows, r)
		}
	}
	clear(t.rows[len(rows):])
	t.rows = rows
	t.saved = append(t.saved[:0], t.rows...)
}

// abort goes back to the rows of the last Commit.
func (t *tallyTable) abort() {
	t.rows = append(t.rows[:0], t.saved...)
	t.dirty = false
}

// appendBinary encodes the rows for the partition record.
func (t *tallyTable) appendBinary(dst []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(t.rows)))
	for i := range t.rows {
		r := &t.rows[i]
		dst = binary.AppendUvarint(dst, uint64(len(r.site)))
		dst = append(dst, r.site...)
		dst = binary.AppendUvarint(dst, uint64(len(r.team)))
		dst = append(dst, r.team...)
		dst = binary.AppendVarint(dst, r.hour)
		dst = binary.AppendUvarint(dst, uint64(r.wouldBe))
		dst = binary.AppendUvarint(dst, uint64(r.invites))
		n := 0
		for _, c := range r.suppressed {
			if c > 0 {
				n++
			}
		}
		dst = binary.AppendUvarint(dst, uint64(n))
		for o, c := range r.suppressed {
			if c > 0 {
				dst = append(dst, byte(o))
				dst = binary.AppendUvarint(dst, uint64(c))
			}
		}
	}
	return dst
}

var errBadTallies = fmt.Errorf("%w: partition record's tallies", scoring.ErrBadState)

// decode reads rows written by appendBinary, replacing t's.
func (t *tallyTable) decode(b []byte) error {
	uv := func() (uint64, bool) {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return 0, false
		}
		b = b[n:]
		return v, true
	}
	bytesOf := func() ([]byte, bool) {
		l, ok := uv()
		if !ok || l > uint64(len(b)) || l > schemas.MaxIDBytes {
			return nil, false
		}
		v := append([]byte(nil), b[:l]...)
		b = b[l:]
		return v, true
	}
	n, ok := uv()
	if !ok || n > maxTallyRows {
		return errBadTallies
	}
	rows := make([]tallyRow, 0, n)
	for range n {
		var r tallyRow
		var ok1, ok2 bool
		if r.site, ok1 = bytesOf(); !ok1 {
			return errBadTallies
		}
		if r.team, ok2 = bytesOf(); !ok2 {
			return errBadTallies
		}
		h, k := binary.Varint(b)
		if k <= 0 {
			return errBadTallies
		}
		b, r.hour = b[k:], h
		w, ok3 := uv()
		inv, ok4 := uv()
		causes, ok5 := uv()
		if !ok3 || !ok4 || !ok5 || causes > 32 {
			return errBadTallies
		}
		r.wouldBe, r.invites = int64(w), int64(inv)
		for range causes {
			if len(b) == 0 || b[0] >= 32 {
				return errBadTallies
			}
			o := b[0]
			b = b[1:]
			c, ok := uv()
			if !ok {
				return errBadTallies
			}
			r.suppressed[o] = int64(c)
		}
		rows = append(rows, r)
	}
	if len(b) != 0 {
		return errBadTallies
	}
	t.rows = rows
	t.saved = append(t.saved[:0], rows...)
	return nil
}
