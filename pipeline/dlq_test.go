package pipeline

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lingerhq/linger/internal/kafkatest"
	"github.com/lingerhq/linger/pipeline/partition"
	"github.com/lingerhq/linger/schemas"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func headers(rec *kgo.Record) map[string]string {
	h := map[string]string{}
	for _, kv := range rec.Headers {
		h[kv.Key] = string(kv.Value)
	}
	return h
}

// TestDLQRecordSizing: a DLQ record keeps its key, headers, source and
// reason, and its value is cut to fit the limit (or dropped on the second
// attempt), with a header giving the original size; a refusal with headers
// only skips it, until its batch commits.
func TestDLQRecordSizing(t *testing.T) {
	d := newDLQWriter()
	d.setTopicMax(64 << 10)
	big := partition.Rejected{Key: []byte("s-big"), Value: bytes.Repeat([]byte("x"), 200<<10), Offset: 7, Problem: schemas.ProblemTooLarge, Detail: "too large"}
	small := partition.Rejected{Key: []byte("s-small"), Value: []byte(`not json`), Offset: 8, Problem: schemas.ProblemInvalidJSON, Detail: "bad"}

	rec := d.record("dlq", "events", 3, big)
	h := headers(rec)
	if h[schemas.HeaderDLQTruncated] != strconv.Itoa(200<<10) || h[schemas.HeaderDLQReason] != "too_large" ||
		h[schemas.HeaderSourceTopic] != "events" || h[schemas.HeaderSourcePartition] != "3" || h[schemas.HeaderSourceOffset] != "7" {
		t.Errorf("headers %v", h)
	}
	size := len(rec.Key) + len(rec.Value)
	for _, kv := range rec.Headers {
		size += len(kv.Key) + len(kv.Value)
	}
	if size+dlqFramingBytes > 64<<10 || len(rec.Value) < 60<<10 || !bytes.Equal(rec.Value, big.Value[:len(rec.Value)]) || string(rec.Key) != "s-big" {
		t.Errorf("sized record: %d bytes in all, value %d bytes, key %q", size, len(rec.Value), rec.Key)
	}
	if rec := d.record("dlq", "events", 3, small); string(rec.Value) != "not json" || headers(rec)[schemas.HeaderDLQTruncated] != "" {
		t.Errorf("a small record must go unchanged: %q %v", rec.Value, headers(rec))
	}

	// The broker refuses the big one: next time headers only, then not
	// at all.
	refuse := func() ([]dlqKey, bool) {
		d.refuse("dlq", d.record("dlq", "events", 3, big), kerr.MessageTooLarge)
		return d.escalate()
	}
	if skipped, ok := refuse(); !ok || len(skipped) != 0 {
		t.Fatalf("first refusal: skipped %v, ok %v", skipped, ok)
	}
	if rec := d.record("dlq", "events", 3, big); len(rec.Value) != 0 || headers(rec)[schemas.HeaderDLQTruncated] != strconv.Itoa(200<<10) {
		t.Errorf("second attempt: value %d bytes, headers %v", len(rec.Value), headers(rec))
	}
	if skipped, ok := refuse(); !ok || len(skipped) != 1 || skipped[0] != (dlqKey{"events", 3, 7}) {
		t.Fatalf("second refusal: skipped %v, ok %v", skipped, ok)
	}
	if rec := d.record("dlq", "events", 3, big); rec != nil {
		t.Error("a record refused with headers only must be skipped")
	}
	// Another partition's record at the same offset is another record.
	if rec := d.record("dlq", "events", 4, big); rec == nil {
		t.Error("skipped a record of another partition")
	}
	d.committed("events", 3, 7)
	if rec := d.record("dlq", "events", 3, big); rec == nil || len(rec.Value) == 0 {
		t.Error("after its batch committed, the record's refusals must be forgotten")
	}
	// A refusal of anything else is not the DLQ's to mend.
	d.refuse("dlq", d.record("dlq", "events", 3, small), kerr.NotLeaderForPartition)
	if _, ok := d.escalate(); ok {
		t.Error("a refusal for another reason must not be retried as a DLQ refusal")
	}
	d.refuse("dlq", d.record("dlq", "events", 3, big), kerr.MessageTooLarge)
	d.refuse("dlq", &kgo.Record{Topic: "invites"}, kerr.MessageTooLarge)
	if _, ok := d.escalate(); ok {
		t.Error("a decision refused with a DLQ record must not be taken for a DLQ refusal alone")
	}
}

// bigEvent is a valid page_view of about n bytes: the decoder refuses it
// as too large, and its copy in the DLQ would not fit a record.
func bigEvent(session string, n int) kafkatest.Record {
	ev := fmt.Sprintf(`{"v":1,"type":"page_view","session":%q,"ts":%d,"page":{"url":"/","kind":"home"},"pad":"`, session, kafkatest.Start.UnixMilli())
	return kafkatest.Record{Key: []byte(session), Value: []byte(ev + strings.Repeat("a", n-len(ev)-2) + `"}`)}
}

func bigClient(t *testing.T, addr string) *kgo.Client {
	return newClient(t, addr, kgo.ProducerBatchMaxBytes(2<<20))
}

// TestOversizedRecordDoesNotStopTheReplica: a 1 MB event goes to the DLQ cut
// to fit, under both guarantees, and the records behind it are served.
func TestOversizedRecordDoesNotStopTheReplica(t *testing.T) {
	for _, g := range []Guarantee{ExactlyOnce, AtLeastOnce} {
		t.Run(string(g), func(t *testing.T) {
			b := startBroker(t, 2)
			dlq := kafkatest.Collecting(t, b.Addr(), schemas.TopicDLQ)
			invites := kafkatest.Collecting(t, b.Addr(), schemas.TopicInvites)
			big := bigEvent("s-huge", 1_000_000)
			produce(t, bigClient(t, b.Addr()), schemas.TopicEvents, append([]kafkatest.Record{big}, kafkatest.Hesitators(0, 5)...))
			r := startRunner(t, b.Addr(), func(c *Config) { c.Guarantee = g })

			got := dlq.WaitN(t, 1, 20*time.Second)
			h := headers(got[0])
			if h[schemas.HeaderDLQReason] != "too_large" || h[schemas.HeaderDLQTruncated] != strconv.Itoa(len(big.Value)) || string(got[0].Key) != "s-huge" {
				t.Errorf("DLQ record key %q, headers %v", got[0].Key, h)
			}
			if n := len(got[0].Value); n == 0 || n >= len(big.Value) || !bytes.Equal(got[0].Value, big.Value[:n]) {
				t.Errorf("DLQ value of %d bytes, want the start of the %d-byte record", n, len(big.Value))
			}
			invites.WaitN(t, 5, 20*time.Second)
			if err := r.Healthy(); err != nil {
				t.Fatalf("the replica stopped: %v", err)
			}
		})
	}
}

// TestDLQRefusedRecordIsSkipped: when the broker refuses a DLQ record even
// with headers only, it is skipped, counted and its offset committed: the
// replica goes on, and a restart does not meet it again.
func TestDLQRefusedRecordIsSkipped(t *testing.T) {
	for _, g := range []Guarantee{ExactlyOnce, AtLeastOnce} {
		t.Run(string(g), func(t *testing.T) {
			b := startBroker(t, 2)
			invites := kafkatest.Collecting(t, b.Addr(), schemas.TopicInvites)
			produce(t, newClient(t, b.Addr()), schemas.TopicEvents, append(
				[]kafkatest.Record{{Key: []byte("s-bad"), Value: []byte(`not json`)}}, kafkatest.Hesitators(0, 5)...))
			b.Cluster().Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: schemas.TopicDLQ, Err: kerr.MessageTooLarge, Count: -1})
			r := startRunner(t, b.Addr(), func(c *Config) { c.Guarantee = g })
			invites.WaitN(t, 5, 20*time.Second)
			kafkatest.WaitFor(t, "the skip to be counted", 10*time.Second, func() bool {
				return testutilValue(r.m.dlqWriteFailures.WithLabelValues("too_large")) == 1
			})
			if err := r.Healthy(); err != nil {
				t.Fatalf("the replica stopped: %v", err)
			}
			if err := r.stop(t); err != nil {
				t.Fatal(err)
			}
			// The bad record's offset was committed with its batch: a new
			// replica does not meet it (nor write it) again.
			produce(t, newClient(t, b.Addr()), schemas.TopicEvents, kafkatest.Hesitators(5, 5))
			r2 := startRunner(t, b.Addr(), func(c *Config) { c.Guarantee = g })
			invites.WaitN(t, 10, 20*time.Second)
			if n := testutilValue(r2.m.dlq.WithLabelValues("invalid_json")); n != 0 {
				t.Errorf("the restarted replica processed the skipped record again (%v)", n)
			}
		})
	}
}
