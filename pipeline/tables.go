package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/lingerhq/linger/schemas"
	"github.com/lingerhq/linger/scoring"
)

// tables are a replica's broadcast tables: the chat teams' capacity
// (chat-capacity) and the visitors' recent invites (linger-visitors). Every
// replica reads both topics in full, from the start, outside the consumer
// group, like a Kafka Streams global table: each replica then knows every
// site's capacity and every visitor's invites, whichever partitions it owns.
type tables struct {
	capacity *scoring.CapacityTable
	visitors *scoring.VisitorCaps

	log *slog.Logger
	m   *metrics

	loadedOnce sync.Once
	loaded     chan struct{} // closed once the topics were read up to their end at start
}

func newTables(m *metrics, log *slog.Logger) *tables {
	return &tables{
		capacity: scoring.NewCapacityTable(scoring.CapacityTableOptions{}),
		visitors: scoring.NewVisitorCaps(0),
		log:      log,
		m:        m,
		loaded:   make(chan struct{}),
	}
}

// markLoaded records that the start-up read is done (or given up).
func (t *tables) markLoaded() { t.loadedOnce.Do(func() { close(t.loaded) }) }

// read consumes the capacity and visitors topics until ctx ends. adm is
// the replica's admin client, for the end offsets at start; opts are the
// client options (brokers, TLS, SASL, logger). Topics that do not exist are
// skipped: without chat-capacity the static budgets apply.
func (t *tables) read(ctx context.Context, adm *kadm.Client, opts []kgo.Opt, capacityTopic, visitorsTopic string) error {
	ends, err := t.endOffsets(ctx, adm, capacityTopic, visitorsTopic)
	if err != nil {
		t.markLoaded()
		if ctx.Err() != nil {
			return nil // stopped before the listing worked
		}
		return err
	}
	var topics []string
	for _, topic := range []string{capacityTopic, visitorsTopic} {
		if _, ok := ends[topic]; ok {
			topics = append(topics, topic)
		} else {
			t.log.Warn("broadcast table topic missing; going on without it", "topic", topic)
		}
	}
	if len(topics) == 0 {
		t.markLoaded()
		<-ctx.Done()
		return nil
	}
	cl, err := kgo.NewClient(append(opts,
		kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// The transaction markers come too, so the last offset read
		// reaches the end offset of a topic written in transactions.
		kgo.KeepControlRecords(),
	)...)
	if err != nil {
		t.markLoaded()
		return err
	}
	defer cl.Close()
	pending := 0 // partitions not yet read up to their end at start
	for _, parts := range ends {
		for _, end := range parts {
			if end > 0 {
				pending++
			}
		}
	}
	if pending == 0 {
		t.markLoaded()
	}
	start := time.Now()
	var (
		dec schemas.CapacityDecoder
		c   schemas.Capacity
	)
	for {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil || fetches.IsClientClosed() {
			return nil
		}
		fetches.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.Canceled) {
				t.log.Warn("broadcast table fetch error", "topic", topic, "partition", p, "err", err)
			}
		})
		fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
			for _, rec := range fp.Records {
				if rec.Attrs.IsControl() {
					continue
				}
				switch rec.Topic {
				case capacityTopic:
					if err := dec.Decode(rec.Key, rec.Value, time.Now().UnixMilli(), &c); err != nil {
						t.m.tableRecords.WithLabelValues("capacity", "bad").Inc()
						t.log.Warn("bad chat-capacity record skipped", "partition", rec.Partition, "offset", rec.Offset, "err", err)
						continue
					}
					if !t.capacity.Put(&c) {
						t.m.tableRecords.WithLabelValues("capacity", "refused").Inc()
						continue
					}
					t.m.tableRecords.WithLabelValues("capacity", "ok").Inc()
				case visitorsTopic:
					if rec.Value == nil {
						continue // a tombstone: the cap forgets by time anyway
					}
					if err := t.visitors.Merge(rec.Key, rec.Value); err != nil {
						t.m.tableRecords.WithLabelValues("visitors", "bad").Inc()
						continue
					}
					t.m.tableRecords.WithLabelValues("visitors", "ok").Inc()
				}
			}
			if pending > 0 && len(fp.Records) > 0 {
				end := ends[fp.Topic][fp.Partition]
				last := fp.Records[len(fp.Records)-1].Offset
				if end > 0 && last+1 >= end {
					ends[fp.Topic][fp.Partition] = 0 // done
					if pending--; pending == 0 {
						t.log.Info("broadcast tables loaded", "took", time.Since(start).Round(time.Millisecond))
						t.markLoaded()
					}
				}
			}
		})
	}
}

// endOffsets returns the end offsets at start of the topics that exist, by
// topic and partition; a topic the metadata lists with an error (one that
// does not exist) is skipped. A listing that fails, or that lists a
// partition of an existing topic with an error (its leader moving, say), is
// asked again until ctx ends, or at once ends with an error Kafka calls not
// retriable: a transient error at start must neither leave the tables
// unread for the replica's life nor let a partition count as read before it
// is (the broker lists its end as -1, which any offset passes).
func (t *tables) endOffsets(ctx context.Context, adm *kadm.Client, topics ...string) (map[string]map[int32]int64, error) {
	b := backoff{next: 100 * time.Millisecond, max: 2 * time.Second}
	warned := false
	for {
		out, err := listEnds(ctx, adm, topics...)
		if err == nil {
			if warned {
				t.log.Info("broadcast table end offsets listed")
			}
			return out, nil
		}
		if ke := (*kerr.Error)(nil); errors.As(err, &ke) && !ke.Retriable {
			return nil, err // asking again will not change a refusal (not authorised, say)
		}
		if !warned && b.next >= b.max {
			// A leader moves within a second or so; say so only when the
			// listing fails for longer.
			t.log.Warn("cannot list the broadcast tables' end offsets yet; asking again until it works", "err", err)
			warned = true
		}
		if !b.wait(ctx) {
			return nil, err
		}
	}
}

// listEnds lists the end offsets of topics once (within 10 s), skipping
// topics that do not exist; a partition listed with an error is an error.
func listEnds(ctx context.Context, adm *kadm.Client, topics ...string) (map[string]map[int32]int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	listed, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return nil, err
	}
	out := map[string]map[int32]int64{}
	var bad error
	listed.Each(func(o kadm.ListedOffset) {
		switch {
		case o.Err != nil && o.Partition < 0:
			// kadm lists a topic the metadata does not have under
			// partition -1: the topic does not exist.
			return
		case o.Err != nil:
			if bad == nil {
				bad = fmt.Errorf("the end offset of %s partition %d: %w", o.Topic, o.Partition, o.Err)
			}
			return
		}
		if out[o.Topic] == nil {
			out[o.Topic] = map[int32]int64{}
		}
		out[o.Topic][o.Partition] = o.Offset
	})
	if bad != nil {
		return nil, bad
	}
	return out, nil
}
