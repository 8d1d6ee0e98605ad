package schemas

import (
	"bytes"
	"fmt"
)

// Capacity is one v1 record of chat-capacity: how many chats a site's team
// can take on now. The chat platform writes one whenever a team's free
// slots change (and periodically), keyed by "site/team" (CapacityKey); the
// topic is compacted, and every linger replica reads all of it.
//
// Byte-slice fields point into the CapacityDecoder that filled the record,
// or into the value it decoded, and are valid until its next Decode.
type Capacity struct {
	// Site is the site the team serves; empty for sessions without a site.
	Site []byte
	// Team is the chat team (sales, service, retention): 1 to 128 bytes,
	// without '/'.
	Team []byte
	// Agents is how many agents of the team are on shift.
	Agents int64
	// FreeSlots is how many chats the team can start now (an agent may
	// take several chats at once, so it can exceed Agents).
	FreeSlots int64
	// AvgHandleS is the average length of a chat, in seconds (1 to 86400):
	// each agent frees a slot about every AvgHandleS.
	AvgHandleS float64
	// TS is when the platform measured this, Unix ms. linger applies a
	// record to decisions whose event time is at or after TS.
	TS int64
}

// CapacityType is the "type" of a capacity record; any other type is
// skipped (ErrUnknownType), for forward compatibility.
const CapacityType = "capacity"

// MaxAvgHandleS bounds avg_handle_s: a day.
const MaxAvgHandleS = 86400

// AppendCapacityKey appends the record key of a capacity record: site, '/',
// team. Team holds no '/', so the key splits at its last '/'.
func AppendCapacityKey(dst, site, team []byte) []byte {
	dst = append(dst, site...)
	dst = append(dst, '/')
	return append(dst, team...)
}

// AppendCapacity appends c as a v1 capacity JSON object.
func AppendCapacity(dst []byte, c *Capacity) []byte {
	w := objWriter{b: dst}
	w.open()
	w.int("v", Version)
	w.strs("type", CapacityType)
	w.str("site", c.Site)
	w.str("team", c.Team)
	w.int("agents", c.Agents)
	w.int("free_slots", c.FreeSlots)
	// Shortest exact form: a rounded handle time would not decode back to
	// the record it came from.
	w.float("avg_handle_s", c.AvgHandleS, -1)
	w.int("ts", c.TS)
	w.close()
	return w.b
}

// Field slots of the capacity decoder.
const (
	cV = iota
	cType
	cSite
	cTeam
	cAgents
	cFreeSlots
	cAvgHandle
	cTS
)

func capacityField(key []byte) int {
	switch string(key) {
	case "v":
		return cV
	case "type":
		return cType
	case "site":
		return cSite
	case "team":
		return cTeam
	case "agents":
		return cAgents
	case "free_slots":
		return cFreeSlots
	case "avg_handle_s":
		return cAvgHandle
	case "ts":
		return cTS
	}
	return -1
}

// CapacityDecoder decodes v1 capacity records. It keeps its scratch space
// between calls, so decoding allocates nothing once warm. It is not safe
// for concurrent use.
type CapacityDecoder struct{ r recordDecoder }

// Decode validates value, a chat-capacity record value, against contract
// v1 and fills c. key is the record key, which must be site/team. nowMs is
// the processor's clock in Unix ms, for the future-ts check; 0 skips it.
//
// It returns nil for a valid record, ErrUnknownType (with site, team and
// ts of c set) for a valid envelope of another type, and a *DecodeError
// (its Problem is the DLQ reason) for anything else. Byte slices in c point
// into value or into the decoder: they are valid while value is unchanged
// and until the next call.
func (d *CapacityDecoder) Decode(key, value []byte, nowMs int64, c *Capacity) error {
	*c = Capacity{}
	if d.r.index == nil {
		d.r.index = capacityField
	}
	r := &d.r
	if err := r.scan(value); err != nil {
		return err
	}
	if err := r.version(cV); err != nil {
		return err
	}
	if r.val(cSite).kind == jAbsent {
		return missing("site")
	}
	var err error
	if c.Site, err = ruleStrOf(r.val(cSite), "site", MaxIDBytes, ruleName); err != nil {
		return err
	}
	if c.Team, err = r.required(cTeam, "team", MaxIDBytes, ruleName); err != nil {
		return err
	}
	if bytes.IndexByte(c.Team, '/') >= 0 {
		return invalid("team", "must not contain '/' (the record key is site/team)")
	}
	if !keyIsSiteTeam(key, c.Site, c.Team) {
		return &DecodeError{Problem: ProblemKeyMismatch, Field: "team", Detail: fmt.Sprintf("record key %s differs from site/team %s", excerpt(key), excerpt(AppendCapacityKey(nil, c.Site, c.Team)))}
	}
	if c.TS, err = r.ts(cTS, nowMs); err != nil {
		return err
	}
	if r.val(cType).kind == jAbsent {
		return missing("type")
	}
	typ, err := strOf(r.val(cType), "type", -1)
	if err != nil {
		return err
	}
	if string(typ) != CapacityType {
		return ErrUnknownType
	}
	for _, f := range [...]struct {
		slot int
		name string
		dst  *int64
	}{{cAgents, "agents", &c.Agents}, {cFreeSlots, "free_slots", &c.FreeSlots}} {
		if r.val(f.slot).kind == jAbsent {
			return missing(f.name)
		}
		if *f.dst, err = countOf(r.val(f.slot), f.name); err != nil {
			return err
		}
	}
	h := r.val(cAvgHandle)
	switch h.kind {
	case jAbsent:
		return missing("avg_handle_s")
	case jNumber:
	default:
		return wrongType("avg_handle_s", "a number", jkindNames[h.kind])
	}
	if c.AvgHandleS, err = floatInText(h.b, "avg_handle_s", 1, MaxAvgHandleS); err != nil {
		return err
	}
	return nil
}

// keyIsSiteTeam reports whether key is site + "/" + team, without building
// it.
func keyIsSiteTeam(key, site, team []byte) bool {
	return len(key) == len(site)+1+len(team) &&
		string(key[:len(site)]) == string(site) && key[len(site)] == '/' && string(key[len(site)+1:]) == string(team)
}
