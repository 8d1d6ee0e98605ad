package partition

import (
	"github.com/lingerhq/linger/schemas"
)

// Output is what one batch produced. Its slices are valid until the next
// Begin of the same Processor.
type Output struct {
	arena    []byte
	inv      []span
	dlq      []Rejected
	state    []stateRecord
	visitors []span // visitor id → its invite record, for linger-visitors
	tallies  []span // partition/site/team/hour → its tally, for linger-tallies
}

type span struct{ k0, k1, v0, v1 int }

type stateRecord struct {
	span
	tombstone bool
}

// Rejected is a record bound for the DLQ.
type Rejected struct {
	Key, Value []byte // the record, unchanged
	Offset     int64
	Feedback   bool // from the feedback topic, not the events topic
	Problem    schemas.Problem
	Detail     string
}

// Decisions returns the number of decisions in the batch.
func (o *Output) Decisions() int { return len(o.inv) }

// Decision returns the key (session id) and value (decision JSON) of the
// i-th decision.
func (o *Output) Decision(i int) (key, value []byte) {
	s := o.inv[i]
	return o.arena[s.k0:s.k1:s.k1], o.arena[s.v0:s.v1:s.v1]
}

// Rejected returns the records of the batch bound for the DLQ.
func (o *Output) Rejected() []Rejected { return o.dlq }

// StateRecords returns the number of changelog records of the batch.
func (o *Output) StateRecords() int { return len(o.state) }

// StateRecord returns the i-th changelog record: the session id, or an empty
// key for the partition's own record (its event time); the encoded state,
// or nil for a tombstone.
func (o *Output) StateRecord(i int) (key, value []byte) {
	s := o.state[i]
	key = o.arena[s.k0:s.k1:s.k1]
	if !s.tombstone {
		value = o.arena[s.v0:s.v1:s.v1]
	}
	return key, value
}

// VisitorRecords returns the number of visitor records of the batch: one
// per visitor the batch invited, for the linger-visitors topic.
func (o *Output) VisitorRecords() int { return len(o.visitors) }

// VisitorRecord returns the i-th visitor record: the visitor id and the
// visitor's recent invites (scoring.VisitorCaps.AppendRecord).
func (o *Output) VisitorRecord(i int) (key, value []byte) {
	s := o.visitors[i]
	return o.arena[s.k0:s.k1:s.k1], o.arena[s.v0:s.v1:s.v1]
}

// Empty reports whether the batch produced nothing to publish.
func (o *Output) Empty() bool {
	return len(o.inv) == 0 && len(o.dlq) == 0 && len(o.state) == 0 && len(o.visitors) == 0 && len(o.tallies) == 0
}

// TallyRecords returns the number of hourly tally records of the batch: one
// per site, team and hour whose counts changed, for the linger-tallies
// topic (compacted: the latest record of a key is the hour's tally).
func (o *Output) TallyRecords() int { return len(o.tallies) }

// TallyRecord returns the i-th tally record: its key
// (schemas.AppendHourTallyKey) and value (schemas.AppendHourTally).
func (o *Output) TallyRecord(i int) (key, value []byte) {
	s := o.tallies[i]
	return o.arena[s.k0:s.k1:s.k1], o.arena[s.v0:s.v1:s.v1]
}
