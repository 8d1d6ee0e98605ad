package pipeline

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/lingerhq/linger/schemas"
)

// TestTablesWaitForListedEnds: the broadcast tables count as loaded only
// once every partition of chat-capacity is read up to its end offset at
// start, even when the first listings of that offset fail. The broker
// answers the first listings with OFFSET_NOT_AVAILABLE (a leader being
// elected) for partition 1, the only one holding records, and the answer
// passes through the client's own retries: taken as an absent topic or a
// partition with nothing to read, the tables would load at once, with
// nothing read.
func TestTablesWaitForListedEnds(t *testing.T) {
	b := startBroker(t, 2)
	cl := newClient(t, b.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	const records = 5
	for i := range records {
		// Not capacity records: read and counted as bad, which is all
		// loading needs.
		rec := &kgo.Record{Topic: schemas.TopicCapacity, Partition: 1, Key: []byte{'k', byte('0' + i)}, Value: []byte("{}")}
		if err := cl.ProduceSync(context.Background(), rec).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	var refused atomic.Int32
	b.Cluster().ControlKey(int16(kmsg.ListOffsets), func(req kmsg.Request) (kmsg.Response, error, bool) {
		if refused.Add(1) > 3 {
			return nil, nil, false // the broker's own answer from now on
		}
		b.Cluster().KeepControl()
		return listOffsetsAnswer(req, func(topic string, p int32) (int16, int64) {
			if topic == schemas.TopicCapacity && p == 1 {
				return kerr.OffsetNotAvailable.Code, -1
			}
			return 0, 0
		}), nil, true
	})

	m, err := newMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	tb := newTables(m, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- tb.read(ctx, kadm.NewClient(cl), []kgo.Opt{kgo.SeedBrokers(b.Addr())}, schemas.TopicCapacity, schemas.TopicVisitors)
	}()
	select {
	case <-tb.loaded:
	case <-time.After(30 * time.Second):
		t.Fatal("the tables did not load within 30 s")
	}
	if got := testutilValue(m.tableRecords.WithLabelValues("capacity", "bad")); got != records {
		t.Errorf("loaded with %v of the %d capacity records read", got, records)
	}
	if n := refused.Load(); n < 4 {
		t.Errorf("%d listings, want the 3 refused and one more", n)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("read: %v", err)
	}
}

// TestTablesGiveUpOnRefusal: a listing the broker refuses for good (not
// authorised) is not asked again: read returns the error at once, and the
// tables count as loaded (given up), so the replica goes on with its
// static budgets without waiting for the load timeout.
func TestTablesGiveUpOnRefusal(t *testing.T) {
	b := startBroker(t, 1)
	cl := newClient(t, b.Addr())
	var listings atomic.Int32
	b.Cluster().ControlKey(int16(kmsg.ListOffsets), func(req kmsg.Request) (kmsg.Response, error, bool) {
		b.Cluster().KeepControl()
		listings.Add(1)
		return listOffsetsAnswer(req, func(string, int32) (int16, int64) {
			return kerr.TopicAuthorizationFailed.Code, -1
		}), nil, true
	})
	m, err := newMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	tb := newTables(m, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = tb.read(ctx, kadm.NewClient(cl), []kgo.Opt{kgo.SeedBrokers(b.Addr())}, schemas.TopicCapacity, schemas.TopicVisitors)
	if err == nil || ctx.Err() != nil {
		t.Fatalf("read returned %v after %d listings, want the refusal at once", err, listings.Load())
	}
	if n := listings.Load(); n != 1 {
		t.Errorf("%d listings, want 1", n)
	}
	select {
	case <-tb.loaded:
	default:
		t.Error("the tables are not marked loaded (given up)")
	}
}
