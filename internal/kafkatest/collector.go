package kafkatest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Collector reads a topic from the start, read committed, in the
// background, keeping every record.
type Collector struct {
	cl     *kgo.Client
	cancel context.CancelFunc
	done   chan struct{}

	mu   sync.Mutex
	recs []*kgo.Record
}

// Collect starts reading topic; opts are added to the client's. Close
// stops it.
func Collect(addr, topic string, opts ...kgo.Opt) (*Collector, error) {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, opts...)...)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Collector{cl: cl, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for {
			fs := cl.PollFetches(ctx)
			if ctx.Err() != nil || fs.IsClientClosed() {
				return
			}
			c.mu.Lock()
			c.recs = append(c.recs, fs.Records()...)
			c.mu.Unlock()
		}
	}()
	return c, nil
}

// Records returns the records read so far.
func (c *Collector) Records() []*kgo.Record {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*kgo.Record(nil), c.recs...)
}

// Close stops reading and closes the client.
func (c *Collector) Close() {
	c.cancel()
	<-c.done
	c.cl.Close()
}

// Collecting starts a Collector of topic for the test, and closes it when
// the test ends.
func Collecting(t testing.TB, addr, topic string, opts ...kgo.Opt) *Collector {
	t.Helper()
	c, err := Collect(addr, topic, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// WaitN waits until the collector holds at least n records, and returns
// them; it fails the test after timeout.
func (c *Collector) WaitN(t testing.TB, n int, timeout time.Duration) []*kgo.Record {
	t.Helper()
	WaitFor(t, fmt.Sprintf("%d records", n), timeout, func() bool { return len(c.Records()) >= n })
	return c.Records()
}
