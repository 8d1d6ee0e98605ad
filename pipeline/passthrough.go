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
	if err := r.joinSpan(fetches, n, false); err != nil {
		return err
	}
	r.producer.send(ctx, func(send func(*kgo.Record)) {
		fetches.EachRecord(func(rec *kgo.Record) {
			send(r.producer.record(r.cfg.PassthroughTopic, 0, rec.Key, rec.Value))
		})
	})
	return nil
}
