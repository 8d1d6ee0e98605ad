package schemas

import "fmt"

// recordDecoder is what the capacity and feedback decoders share: the
// scanner and a table of the top-level fields their contract knows, filled
// in one pass over the value. Checks then run in a fixed order whatever the
// key order in the input, so the reported problem is stable, as with
// events. Its zero value is ready once index is set.
type recordDecoder struct {
	s       scanner
	vals    [maxRecordFields]jval
	present uint32           // bit f set: vals[f] holds this record's value
	index   func([]byte) int // the slot of a known key, or -1
	member  func(key []byte) // d.topMember, bound once so decoding does not allocate a closure
}

// maxRecordFields bounds the fields of a record contract other than the
// event's.
const maxRecordFields = 16

func (d *recordDecoder) val(f int) jval {
	if d.present&(1<<f) == 0 {
		return jval{}
	}
	return d.vals[f]
}

// scan reads value into the field table: it returns a *DecodeError for a
// value that is too large, not JSON or not an object.
func (d *recordDecoder) scan(value []byte) error {
	if d.member == nil {
		d.member = d.topMember
	}
	d.present = 0
	return scanObject(&d.s, value, d.member, 256)
}

// scanObject scans value, a record's whole value, with s, calling member
// for each top-level member; it returns a *DecodeError for a value that is
// too large, not JSON or not an object. s keeps its scratch space between
// calls (at least scratchMin bytes once it grows): unescaped strings are
// never longer than their input, so scratch never grows during a scan and
// earlier strings stay put.
func scanObject(s *scanner, value []byte, member func([]byte), scratchMin int) error {
	if len(value) > MaxEventBytes {
		return &DecodeError{Problem: ProblemTooLarge, Detail: fmt.Sprintf("value is %d bytes, the limit is %d", len(value), MaxEventBytes)}
	}
	if cap(s.scratch) < len(value) {
		s.scratch = make([]byte, 0, max(len(value), scratchMin))
	}
	*s = scanner{b: value, scratch: s.scratch[:0], guess: s.guess} // the caller's guess of the first key
	kind := s.top(member)
	if s.err != "" {
		return &DecodeError{Problem: ProblemInvalidJSON, Detail: jsonError{s.err, s.i}.Error()}
	}
	if kind != jObject {
		return &DecodeError{Problem: ProblemNotObject, Detail: "value is a JSON " + jkindNames[kind] + ", not an object"}
	}
	return nil
}

// topMember stores the value of a known key in its slot; the last one wins
// if a key repeats, as in encoding/json and JSON.parse.
func (d *recordDecoder) topMember(key []byte) {
	v := d.s.value(1)
	if i := d.index(key); i >= 0 {
		d.vals[i] = v
		d.present |= 1 << i
	}
}

// version checks the "v" field in slot f.
func (d *recordDecoder) version(f int) error {
	if d.val(f).kind == jAbsent {
		return missing("v")
	}
	v, err := intOf(d.val(f), "v")
	if err != nil {
		return err
	}
	if v != Version {
		return &DecodeError{Problem: ProblemUnsupportedVersion, Field: "v", Detail: fmt.Sprintf("version %d, this release reads %d", v, Version)}
	}
	return nil
}

// ts reads the "ts" field in slot f: required, a positive Unix time in ms,
// and at most MaxFutureMs ahead of nowMs (0 skips that check).
func (d *recordDecoder) ts(f int, nowMs int64) (int64, error) {
	if d.val(f).kind == jAbsent {
		return 0, &DecodeError{Problem: ProblemMissingTS, Field: "ts", Detail: "absent"}
	}
	ts, err := intOf(d.val(f), "ts")
	if err != nil {
		return 0, err
	}
	if ts <= 0 {
		return 0, invalid("ts", "must be a positive Unix time in milliseconds")
	}
	if nowMs > 0 && ts > nowMs+MaxFutureMs {
		return 0, &DecodeError{Problem: ProblemFutureTS, Field: "ts", Detail: fmt.Sprintf("%d ms ahead of the processor's clock (limit %d)", ts-nowMs, MaxFutureMs)}
	}
	return ts, nil
}

// str reads an optional string field (nil if absent) of at most max bytes
// that follows rule.
func (d *recordDecoder) str(f int, name string, max int, rule fieldRule) ([]byte, error) {
	if d.val(f).kind == jAbsent {
		return nil, nil
	}
	return ruleStrOf(d.val(f), name, max, rule)
}

// required reads a required, non-empty string field of at most max bytes
// that follows rule.
func (d *recordDecoder) required(f int, name string, max int, rule fieldRule) ([]byte, error) {
	if d.val(f).kind == jAbsent {
		return nil, missing(name)
	}
	b, err := strOf(d.val(f), name, max)
	if err == nil && len(b) == 0 {
		err = invalid(name, "empty")
	}
	if err != nil {
		return nil, err
	}
	return b, checkClasses(b, d.val(f).cls, name, rule)
}
