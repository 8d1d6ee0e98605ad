package schemas

import (
	"fmt"
	"strconv"
)

// HourTally is one v1 record of linger-tallies: what one partition of the
// processor decided for one site and team in one hour of event time —
// would-be invites, invites, and the would-be invites its policy held back,
// by cause. A replica writes it in each batch's transaction, keyed by
// partition/site/team/hour (AppendHourTallyKey), and writes it again as the
// hour fills; the topic is compacted, so the latest record of each key is
// the hour's tally. Reports read it by hour, after any restart, to say
// when invites were held back for want of agents.
//
// Byte-slice fields point into the HourTallyDecoder that filled the record,
// or into the value it decoded, and are valid until its next Decode.
type HourTally struct {
	// Partition is the events topic's partition the counts are of.
	Partition int32
	// Site is the sessions' site, empty for sessions without one; Team
	// the chat team the (would-be) invites were routed to: 1 to
	// MaxIDBytes, without '/'.
	Site []byte
	Team []byte
	// HourStart is the hour of event time counted, Unix ms: a positive
	// multiple of HourMs (hours of UTC).
	HourStart int64
	// WouldBe counts the sessions with a would-be invite in the hour (a
	// score over its threshold on an eligible page, invited or held back),
	// each session once: a report adds held-back sessions as chats at the
	// team's acceptance rate, which is per invite, so counting a session
	// at every event it was held back at would staff for visitors many
	// times over (linger_suppressed_total counts those moments).
	WouldBe int64
	// Invites counts the invites published in the hour, the holdout's
	// included.
	Invites int64
	// Suppressed counts the sessions held back in the hour, by cause (the
	// reason label of linger_suppressed_total: no_capacity, cooldown, …),
	// each session once per cause; each cause once in the list, in the
	// order the record gives them.
	Suppressed []CauseCount
}

// CauseCount is the would-be invites one cause held back.
type CauseCount struct {
	// Cause is 1 to MaxCauseBytes of a-z, 0-9 and '_', starting with a
	// letter.
	Cause []byte
	// Count is the sessions it held back, 0 to 2^32-1.
	Count int64
}

// SuppressedBy returns the would-be invites held back by cause, 0 when the
// record names no such cause.
func (t *HourTally) SuppressedBy(cause string) int64 {
	for _, c := range t.Suppressed {
		if string(c.Cause) == cause {
			return c.Count
		}
	}
	return 0
}

// HourMs is an hour in milliseconds: a tally's HourStart is a multiple of
// it.
const HourMs = 3_600_000

// Bounds of a tally's suppressed causes: a cause is a metric label value,
// and a record names at most MaxTallyCauses of them, so a hostile record
// cannot make a report's table or a decoder's scratch grow without bound.
const (
	MaxCauseBytes  = 64
	MaxTallyCauses = 32
)

// AppendHourTallyKey appends the record key of a tally: the partition in
// decimal, '/', site, '/', team, '/', the hour's start in Unix ms in
// decimal. The partition and hour hold no '/' and neither does a team, so
// the key splits at its first and its last two slashes whatever the site.
func AppendHourTallyKey(dst []byte, partition int32, site, team []byte, hourStart int64) []byte {
	dst = strconv.AppendInt(dst, int64(partition), 10)
	dst = append(dst, '/')
	dst = append(dst, site...)
	dst = append(dst, '/')
	dst = append(dst, team...)
	dst = append(dst, '/')
	return strconv.AppendInt(dst, hourStart, 10)
}

// AppendHourTally appends t as a v1 tally JSON object, its causes in the
// order given (each once: a cause given twice would be read back as its
// last count).
func AppendHourTally(dst []byte, t *HourTally) []byte {
	w := objWriter{b: dst}
	w.open()
	w.int("v", Version)
	w.int("partition", int64(t.Partition))
	w.str("site", t.Site)
	w.str("team", t.Team)
	w.int("hour_start", t.HourStart)
	w.int("would_be", t.WouldBe)
	w.int("invites", t.Invites)
	w.key("suppressed")
	w.b = append(w.b, '{')
	for i, c := range t.Suppressed {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.b = AppendString(w.b, c.Cause)
		w.b = append(w.b, ':')
		w.b = strconv.AppendInt(w.b, c.Count, 10)
	}
	w.b = append(w.b, '}')
	w.close()
	return w.b
}

// Field slots of the tally decoder.
const (
	tV = iota
	tPartition
	tSite
	tTeam
	tHourStart
	tWouldBe
	tInvites
	tSuppressed
)

func tallyField(key []byte) int {
	switch string(key) {
	case "v":
		return tV
	case "partition":
		return tPartition
	case "site":
		return tSite
	case "team":
		return tTeam
	case "hour_start":
		return tHourStart
	case "would_be":
		return tWouldBe
	case "invites":
		return tInvites
	case "suppressed":
		return tSuppressed
	}
	return -1
}

// rawCause is a member of a tally's suppressed object as scanned.
type rawCause struct {
	key []byte
	val jval
}

// HourTallyDecoder decodes v1 tally records. It keeps its scratch space
// between calls, so decoding allocates nothing once warm. It is not safe
// for concurrent use.
type HourTallyDecoder struct {
	r       recordDecoder
	raw     []rawCause // the suppressed object's members, each key once
	tooMany bool       // the suppressed object has more than MaxTallyCauses keys
	causes  []CauseCount
	key     []byte
	cause   func(key []byte) // d.causeMember, bound once
}

// Decode validates value, a linger-tallies record value, against contract
// v1 and fills t. key is the record key, which must be
// AppendHourTallyKey's of the record's fields. nowMs is the reader's clock
// in Unix ms: an hour starting more than MaxFutureMs after it is refused;
// 0 skips that check.
//
// It returns nil for a valid record and a *DecodeError (its Problem says
// what is wrong, as for the other contracts) for anything else. Byte
// slices in t point into value or into the decoder: they are valid while
// value is unchanged and until the next call.
func (d *HourTallyDecoder) Decode(key, value []byte, nowMs int64, t *HourTally) error {
	*t = HourTally{}
	r := &d.r
	if r.index == nil {
		r.index = tallyField
		r.member = d.topMember
		d.cause = d.causeMember
	}
	if err := r.scan(value); err != nil {
		return err
	}
	if err := r.version(tV); err != nil {
		return err
	}
	if r.val(tPartition).kind == jAbsent {
		return missing("partition")
	}
	p, err := intOf(r.val(tPartition), "partition")
	if err != nil {
		return err
	}
	if p < 0 || p > 1<<31-1 {
		return invalid("partition", "must be between 0 and 2147483647")
	}
	t.Partition = int32(p)
	if r.val(tSite).kind == jAbsent {
		return missing("site")
	}
	if t.Site, err = ruleStrOf(r.val(tSite), "site", MaxIDBytes, ruleName); err != nil {
		return err
	}
	if t.Team, err = r.required(tTeam, "team", MaxIDBytes, ruleName); err != nil {
		return err
	}
	for _, c := range t.Team {
		if c == '/' {
			return invalid("team", "must not contain '/' (the record key is partition/site/team/hour)")
		}
	}
	if r.val(tHourStart).kind == jAbsent {
		return missing("hour_start")
	}
	if t.HourStart, err = intOf(r.val(tHourStart), "hour_start"); err != nil {
		return err
	}
	if t.HourStart <= 0 || t.HourStart%HourMs != 0 {
		return invalid("hour_start", "must be a positive Unix time in milliseconds at the start of an hour (a multiple of 3600000)")
	}
	if nowMs > 0 && t.HourStart > nowMs+MaxFutureMs {
		return &DecodeError{Problem: ProblemFutureTS, Field: "hour_start", Detail: fmt.Sprintf("%d ms ahead of the reader's clock (limit %d)", t.HourStart-nowMs, MaxFutureMs)}
	}
	d.key = AppendHourTallyKey(d.key[:0], t.Partition, t.Site, t.Team, t.HourStart)
	if string(key) != string(d.key) {
		return &DecodeError{Problem: ProblemKeyMismatch, Field: "hour_start", Detail: fmt.Sprintf("record key %s differs from partition/site/team/hour %s", excerpt(key), excerpt(d.key))}
	}
	for _, f := range [...]struct {
		slot int
		name string
		dst  *int64
	}{{tWouldBe, "would_be", &t.WouldBe}, {tInvites, "invites", &t.Invites}} {
		if r.val(f.slot).kind == jAbsent {
			return missing(f.name)
		}
		if *f.dst, err = countOf(r.val(f.slot), f.name); err != nil {
			return err
		}
	}
	switch s := r.val(tSuppressed); s.kind {
	case jAbsent:
		return missing("suppressed")
	case jObject:
	default:
		return wrongType("suppressed", "an object", jkindNames[s.kind])
	}
	if d.tooMany {
		return invalid("suppressed", fmt.Sprintf("more than %d causes", MaxTallyCauses))
	}
	d.causes = d.causes[:0]
	for _, rc := range d.raw {
		if !validCause(rc.key) {
			return invalid("suppressed", fmt.Sprintf("cause %s: want 1 to %d of a-z, 0-9 and _, starting with a letter", excerpt(rc.key), MaxCauseBytes))
		}
		n, err := countOf(rc.val, "suppressed")
		if err != nil {
			// The cause is checked: it can name the field.
			err.(*DecodeError).Field = "suppressed." + string(rc.key)
			return err
		}
		d.causes = append(d.causes, CauseCount{Cause: rc.key, Count: n})
	}
	if len(d.causes) > 0 {
		t.Suppressed = d.causes
	}
	return nil
}

// topMember stores a known key's value in its slot, and scans the members
// of a suppressed object into raw; a key given twice keeps its last value,
// as in encoding/json and JSON.parse.
func (d *HourTallyDecoder) topMember(key []byte) {
	r := &d.r
	s := &r.s
	i := tallyField(key)
	if i == tSuppressed && s.peek() == '{' {
		d.raw, d.tooMany = d.raw[:0], false
		s.object(2, d.cause)
		r.vals[i] = jval{kind: jObject}
		r.present |= 1 << i
		return
	}
	v := s.value(1)
	if i >= 0 {
		r.vals[i] = v
		r.present |= 1 << i
	}
}

func (d *HourTallyDecoder) causeMember(key []byte) {
	v := d.r.s.value(2)
	for i := range d.raw {
		if string(d.raw[i].key) == string(key) {
			d.raw[i].val = v
			return
		}
	}
	if len(d.raw) == MaxTallyCauses {
		// Counted, not kept: the record is refused once scanned.
		d.tooMany = true
		return
	}
	d.raw = append(d.raw, rawCause{key: key, val: v})
}

// validCause reports whether b is a cause name: 1 to MaxCauseBytes of
// a-z, 0-9 and '_', starting with a letter (a Prometheus label value as
// linger writes them).
func validCause(b []byte) bool {
	if len(b) == 0 || len(b) > MaxCauseBytes || b[0] < 'a' || b[0] > 'z' {
		return false
	}
	for _, c := range b {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}
