package bench_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lingerhq/linger/bench"
	"github.com/lingerhq/linger/internal/kafkatest"
	"github.com/lingerhq/linger/schemas"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestRunSaturated: brokers that stop acknowledging end a fixed-rate run
// with ErrSaturated, once MaxInFlight events wait, and the error says how
// far behind that is, so a stall of seconds reads as one.
func TestRunSaturated(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, schemas.TopicEvents, schemas.TopicInvites))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// The brokers take the sessions already under way at the start (about
	// 6,000 events, sent at once) and what falls due after them, up to
	// 12,000 events. Then, for two seconds, they answer every produce
	// request with a retriable error, so the producer keeps its events in
	// flight while the schedule goes on; then they take the retries, so
	// the producer can close. Control functions run on the broker's one
	// goroutine: the counts need no lock.
	var (
		taken    int
		refusing time.Time
	)
	c.ControlKey(int16(kmsg.Produce), func(r kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		req := r.(*kmsg.ProduceRequest)
		if taken < 12_000 {
			for _, tp := range req.Topics {
				for _, p := range tp.Partitions {
					var rb kmsg.RecordBatch
					if err := rb.ReadFrom(p.Records); err == nil {
						taken += int(rb.NumRecords)
					}
				}
			}
			return nil, nil, false
		}
		if refusing.IsZero() {
			refusing = time.Now()
		}
		if time.Since(refusing) > 2*time.Second {
			return nil, nil, false
		}
		return kafkatest.RefuseProduce(req, kerr.RequestTimedOut.Code), nil, true
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = bench.Run(ctx, bench.LoadConfig{
		Brokers:     c.ListenAddrs(),
		Passthrough: true,
		Rate:        2000,
		Duration:    10 * time.Second,
		History:     -1,
		MaxInFlight: 500,
		Sim:         bench.Config{Seed: 1},
	})
	if !errors.Is(err, bench.ErrSaturated) {
		t.Fatalf("Run: %v, want ErrSaturated", err)
	}
	for _, want := range []string{"500 events sent and not acknowledged", "250ms of the offered rate", "--rate"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error %q does not say %q", err, want)
		}
	}
}
