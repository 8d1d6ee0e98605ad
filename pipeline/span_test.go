package pipeline

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/lingerhq/linger/internal/kafkatest"
	"github.com/lingerhq/linger/schemas"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestSpanEndsWithItsFetch: with a commit interval, a record waits at most
// the interval to be committed: the broker holds the fetch for up to the
// interval, and the span that polls it commits at once. (A span of a fixed
// length would add its own length: every record would wait the interval
// after it was polled.) One event at a time, at varied moments of the
// fetch's wait, each the first of its session: its changelog record is
// readable to a read_committed consumer within the interval, for most.
// (Under the fixed-length span, none was: 530–565 ms at 500.)
func TestSpanEndsWithItsFetch(t *testing.T) {
	const interval = 500 * time.Millisecond
	b := startBroker(t, 4)
	state := kafkatest.Collecting(t, b.Addr(), schemas.TopicState)
	r := startRunner(t, b.Addr(), func(cfg *Config) { cfg.CommitInterval = interval })
	kafkatest.WaitFor(t, "ready", 10*time.Second, r.Ready)
	cl := newClient(t, b.Addr())

	var waits []time.Duration
	for i := range 7 {
		// Each one lands at another moment of the broker's wait.
		time.Sleep(time.Duration(i) * 130 * time.Millisecond % interval)
		ev := kafkatest.Hesitators(i, 1)[0]
		sent := time.Now()
		produce(t, cl, schemas.TopicEvents, []kafkatest.Record{ev})
		kafkatest.WaitFor(t, "the session's changelog record", 15*time.Second, func() bool {
			return slices.ContainsFunc(state.Records(), func(rec *kgo.Record) bool { return bytes.Equal(rec.Key, ev.Key) })
		})
		waits = append(waits, time.Since(sent))
	}
	slices.Sort(waits)
	t.Logf("waits to be committed: %v", waits)
	// A span of a fixed length commits every record the interval or more
	// after it was sent; here the middle one waits about half of it.
	if med := waits[len(waits)/2]; med >= interval {
		t.Errorf("an event waits %v to be committed (median of %v) at a commit interval of %v: the span does not end with its fetch", med, waits, interval)
	}
	// The counter moves once EndTxn has returned, which may be after the
	// consumer read what the transaction committed: wait for it.
	kafkatest.WaitFor(t, "a transaction counted for each event", 10*time.Second, func() bool {
		return testutilValue(r.m.transactions.WithLabelValues("committed")) >= float64(len(waits))
	})
}
