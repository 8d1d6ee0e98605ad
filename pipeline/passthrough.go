package pipeline

import (
	"context"

	"github.com/twmb/franz-go/pkg/kgo"
)

// passthrough copies every fetched record to the passthrough topic with
// the same client, batching and guarantee as a scoring cycle, and commits
// them the same way: what is left is the cost of the transport, the
// yardstick `linger bench --mode passthrough` measures linger against.
func (r *Runner) passthrough(ctx context.Context, fetches kgo.Fetches) error {
	n := fetches.NumRecords()
	if n == 0 {
		return nil
	}
	copies := func(send func(*kgo.Record)) {
		fetches.EachRecord(func(rec *kgo.Record) {
			send(&kgo.Record{Topic: r.cfg.PassthroughTopic, Key: rec.Key, Value: rec.Value})
		})
	}
	r.m.inFlight.Set(float64(n))
	defer r.m.inFlight.Set(0)
	if r.sess != nil {
		committed, err := r.publishTransaction(ctx, copies)
		if committed {
			r.m.passthrough.Add(float64(n))
			r.markPassed(fetches, false)
		}
		return err
	}
	if err := r.publish(ctx, copies); err != nil {
		return err
	}
	r.m.passthrough.Add(float64(n))
	r.markPassed(fetches, true)
	return nil
}

// markPassed sets the lag of the partitions a passthrough cycle copied,
// and marks their records for the next autocommit if mark is set.
func (r *Runner) markPassed(fetches kgo.Fetches, mark bool) {
	fetches.EachPartition(func(p kgo.FetchTopicPartition) {
		if len(p.Records) == 0 {
			return
		}
		last := p.Records[len(p.Records)-1]
		if mark {
			r.cl.MarkCommitRecords(last)
		}
		if w := r.workers[p.Partition]; w != nil {
			w.m.lag.Set(float64(max(0, p.HighWatermark-last.Offset-1)))
		}
	})
}
