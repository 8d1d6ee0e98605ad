package pipeline

import (
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/lingerhq/linger/pipeline/partition"
	"github.com/lingerhq/linger/schemas"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// A DLQ write must never stop a replica: the record that went to the DLQ
// comes back at every restart, so a DLQ record the broker refuses would
// stop its partition for good. Every DLQ record is sized to fit before it
// is produced; one the broker still refuses is written again with its value
// dropped (headers only), and one refused even so is skipped, counted and
// logged, and its offset committed with its batch.

// producerBatchMaxBytes is the producer's batch limit, set on every client
// that produces (franz-go's default, Kafka's max.message.bytes default).
const producerBatchMaxBytes = 1_000_012

// dlqFramingBytes is room left in a DLQ record's limit for the batch and
// record framing around its key, value and headers, and for a compression
// codec that expands incompressible bytes.
const dlqFramingBytes = 1024

// dlqKey names the record a DLQ record copies: where it was read.
type dlqKey struct {
	topic     string
	partition int32
	offset    int64
}

// dlqAttempt is how a DLQ record is written after the broker refused it.
type dlqAttempt uint8

const (
	dlqFull        dlqAttempt = iota // sized to fit the limit
	dlqHeadersOnly                   // the value dropped: refused once
	dlqSkip                          // not written: refused with headers only
)

// dlqWriter sizes DLQ records and remembers the ones the broker refused
// until their batch commits. It is used by the poll loop only, but for
// refused, which the producer's promises fill.
type dlqWriter struct {
	limit    int // bytes a DLQ record may take, framing included
	attempts map[dlqKey]dlqAttempt
	lastLog  time.Time

	mu      sync.Mutex
	refused []dlqKey // DLQ records refused as too large this cycle
	other   int      // records refused for any other reason this cycle
}

func newDLQWriter() *dlqWriter {
	return &dlqWriter{limit: producerBatchMaxBytes, attempts: map[dlqKey]dlqAttempt{}}
}

// setTopicMax lowers the limit to the DLQ topic's max.message.bytes.
func (d *dlqWriter) setTopicMax(n int) {
	if n > 0 {
		d.limit = min(producerBatchMaxBytes, n)
	}
}

// record returns the DLQ record of rj, read from partition part of source,
// or nil when it is to be skipped.
func (d *dlqWriter) record(topic, source string, part int32, rj partition.Rejected) *kgo.Record {
	key := dlqKey{source, part, rj.Offset}
	attempt := d.attempts[key]
	if attempt == dlqSkip {
		return nil
	}
	rec := &kgo.Record{
		Topic: topic,
		Key:   rj.Key,
		Value: rj.Value,
		Headers: []kgo.RecordHeader{
			{Key: schemas.HeaderDLQReason, Value: []byte(rj.Problem.String())},
			{Key: schemas.HeaderDLQError, Value: []byte(rj.Detail)},
			{Key: schemas.HeaderSourceTopic, Value: []byte(source)},
			{Key: schemas.HeaderSourcePartition, Value: strconv.AppendInt(nil, int64(part), 10)},
			{Key: schemas.HeaderSourceOffset, Value: strconv.AppendInt(nil, rj.Offset, 10)},
		},
	}
	room := d.limit - dlqFramingBytes - len(rec.Key) - len(schemas.HeaderDLQTruncated) - 20
	for _, h := range rec.Headers {
		room -= len(h.Key) + len(h.Value)
	}
	keep := len(rec.Value)
	if attempt == dlqHeadersOnly {
		keep = 0
	} else if keep > room {
		keep = max(room, 0)
	}
	if keep < len(rec.Value) {
		rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: schemas.HeaderDLQTruncated, Value: strconv.AppendInt(nil, int64(len(rec.Value)), 10)})
		rec.Value = rec.Value[:keep]
	}
	return rec
}

// tooLarge reports whether the broker (or the client) refused a record
// for its size or its form: writing it again unchanged cannot succeed.
func tooLarge(err error) bool {
	return errors.Is(err, kerr.MessageTooLarge) || errors.Is(err, kerr.RecordListTooLarge) || errors.Is(err, kerr.InvalidRecord)
}

// refuse notes, from a produce promise, a record the broker refused.
func (d *dlqWriter) refuse(dlqTopic string, rec *kgo.Record, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if rec.Topic != dlqTopic || !tooLarge(err) {
		d.other++
		return
	}
	key := dlqKey{offset: -1, partition: -1}
	for _, h := range rec.Headers {
		switch h.Key {
		case schemas.HeaderSourceTopic:
			key.topic = string(h.Value)
		case schemas.HeaderSourcePartition:
			p, _ := strconv.ParseInt(string(h.Value), 10, 32)
			key.partition = int32(p)
		case schemas.HeaderSourceOffset:
			key.offset, _ = strconv.ParseInt(string(h.Value), 10, 64)
		}
	}
	d.refused = append(d.refused, key)
}

// escalate takes the cycle's refusals: if the broker refused DLQ records
// for their size and nothing else, each is written with less next time
// (headers only, then not at all) and escalate returns the records to
// skip from now on, counted by the caller; ok reports whether retrying the
// cycle can succeed. It clears the cycle's refusals either way.
func (d *dlqWriter) escalate() (skipped []dlqKey, ok bool) {
	d.mu.Lock()
	refused, other := d.refused, d.other
	d.refused, d.other = nil, 0
	d.mu.Unlock()
	if other > 0 || len(refused) == 0 {
		return nil, false
	}
	for _, k := range refused {
		switch d.attempts[k] {
		case dlqFull:
			d.attempts[k] = dlqHeadersOnly
		default:
			d.attempts[k] = dlqSkip
			skipped = append(skipped, k)
		}
	}
	return skipped, true
}

// clearRefusals forgets the refusals of an attempt that was aborted for
// another reason.
func (d *dlqWriter) clearRefusals() {
	d.mu.Lock()
	d.refused, d.other = nil, 0
	d.mu.Unlock()
}

// committed forgets the refusals of records up to offset of a committed
// batch of topic's partition.
func (d *dlqWriter) committed(topic string, part int32, offset int64) {
	for k := range d.attempts {
		if k.topic == topic && k.partition == part && k.offset <= offset {
			delete(d.attempts, k)
		}
	}
}

// logNow reports whether a skip is worth a log line: at most one a minute.
func (d *dlqWriter) logNow(now time.Time) bool {
	if now.Sub(d.lastLog) < time.Minute {
		return false
	}
	d.lastLog = now
	return true
}
