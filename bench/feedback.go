package bench

import (
	"context"
	"time"

	"github.com/segmentio/kafka-go"
)

// deliverAnswers writes the visitors' answers to the feedback topic as they
// fall due, until ctx ends: the chat front-end's side of the run, which the
// processor consumes with the events. Its writer is synchronous: answers
// are a few records per invite, and a record a few milliseconds late is
// still in its second. A record the brokers refuse is counted, not
// retried: the answers are not what the run measures.
func (l *load) deliverAnswers(ctx context.Context) {
	w := &kafka.Writer{
		Addr:     kafka.TCP(l.cfg.Brokers...),
		Topic:    l.fbTopic,
		Balancer: &kafka.Murmur2Balancer{}, // a session's feedback on its events' partition
		// What is due goes at once; the history's answers come in a burst.
		BatchTimeout: time.Millisecond,
		BatchSize:    1000,
		RequiredAcks: kafka.RequireAll,
	}
	w.Transport = l.transport
	defer w.Close()
	var msgs []kafka.Message
	_ = l.answers.Deliver(ctx, func(recs []FeedbackRecord) error {
		msgs = msgs[:0]
		for _, r := range recs {
			msgs = append(msgs, kafka.Message{Key: r.Key, Value: r.Value})
		}
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			if ctx.Err() != nil {
				return nil // the run is over
			}
			l.fbFailed.Add(int64(len(msgs)))
			l.fbErr.CompareAndSwap(nil, &err)
			return nil
		}
		l.fbWritten.Add(int64(len(msgs)))
		return nil
	})
}
