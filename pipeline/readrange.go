package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ReadConfig says what ReadTopics reads, and where from.
type ReadConfig struct {
	// Brokers are the seed brokers; Security is how to reach them.
	Brokers  []string
	Security Security
	// Topics are the topics to read, every partition of each; they must
	// exist.
	Topics []string
	// From is where each partition is read from: its first record whose
	// timestamp is at or after From (ListOffsets by time).
	From time.Time
	// Timeout bounds reaching the brokers and listing offsets.
	// Default: 10 s.
	Timeout time.Duration
	// Stall bounds a wait for records while a partition is not read to
	// its end (an open transaction holds read_committed readers back
	// until it ends). Default: 30 s.
	Stall time.Duration
}

// Errors of ReadTopics.
var (
	// ErrUnreachable: no broker answered within ReadConfig.Timeout.
	ErrUnreachable = errors.New("cannot reach the Kafka brokers")
	// ErrNoTopic: a topic to read does not exist.
	ErrNoTopic = errors.New("topic does not exist")
)

// ReadTopics reads every partition of cfg.Topics, read_committed, from the
// first record at or after cfg.From to the partition's end as of the call
// (its last stable offset: records produced meanwhile are not read), and
// calls fn with each record, in offset order within a partition; the
// partitions of all topics are read at once, so their records interleave.
// It stops at fn's first error and returns it. Credentials or certificates
// the brokers reject give ErrAuthentication or ErrTLS.
func ReadTopics(ctx context.Context, cfg ReadConfig, fn func(*kgo.Record) error) error {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Stall <= 0 {
		cfg.Stall = 30 * time.Second
	}
	if len(cfg.Brokers) == 0 {
		return errors.New("no brokers")
	}
	sec, err := cfg.Security.Opts()
	if err != nil {
		return err
	}
	watch := new(saslWatch)
	opts := append([]kgo.Opt{kgo.SeedBrokers(cfg.Brokers...), kgo.ClientID("linger-report"), kgo.WithHooks(watch)}, sec...)

	ends, err := readBounds(ctx, cfg, opts, watch)
	if err != nil || len(ends) == 0 {
		return err
	}
	starts := map[string]map[int32]kgo.Offset{}
	for tp, b := range ends {
		if starts[tp.topic] == nil {
			starts[tp.topic] = map[int32]kgo.Offset{}
		}
		starts[tp.topic][tp.partition] = kgo.NewOffset().At(b.start)
	}
	cl, err := kgo.NewClient(append(slices.Clip(opts),
		kgo.ConsumePartitions(starts),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// Transaction markers take offsets too, and the last offset
		// before a partition's end is often one: with them, the read
		// sees its way to the end offset.
		kgo.KeepControlRecords(),
	)...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()

	for len(ends) > 0 {
		pctx, cancel := context.WithTimeout(ctx, cfg.Stall)
		fs := cl.PollFetches(pctx)
		stalled := pctx.Err() != nil
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			if ferr == nil && !errors.Is(err, context.DeadlineExceeded) {
				ferr = fmt.Errorf("fetch %s/%d: %w", t, p, err)
			}
		})
		if ferr != nil {
			if serr := cfg.Security.explain(ferr, watch.cut.Load() > 0); serr != nil {
				return serr
			}
			return ferr
		}
		done := map[string][]int32{}
		var rerr error
		fs.EachRecord(func(r *kgo.Record) {
			tp := topicPartition{r.Topic, r.Partition}
			b, ok := ends[tp]
			if !ok || rerr != nil {
				return
			}
			if r.Offset < b.end && !r.Attrs.IsControl() {
				rerr = fn(r)
			}
			if r.Offset+1 >= b.end {
				delete(ends, tp)
				done[r.Topic] = append(done[r.Topic], r.Partition)
			}
		})
		if rerr != nil {
			return rerr
		}
		if len(done) > 0 {
			// Nothing more is wanted from them: stop fetching what
			// producers add meanwhile.
			cl.PauseFetchPartitions(done)
		}
		if stalled && fs.NumRecords() == 0 && len(ends) > 0 {
			return fmt.Errorf("no records for %v with %d partitions not read to their end (%s): a transaction left open, or a broker gone?", cfg.Stall, len(ends), someOf(ends))
		}
	}
	return nil
}

type topicPartition struct {
	topic     string
	partition int32
}

type offsetBounds struct{ start, end int64 }

// readBounds lists the offsets to read: per partition, the first at or
// after cfg.From, and the last stable offset. Partitions with nothing to
// read are left out.
func readBounds(ctx context.Context, cfg ReadConfig, opts []kgo.Opt, watch *saslWatch) (map[topicPartition]offsetBounds, error) {
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	lctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	fail := func(what string, err error) error {
		if serr := cfg.Security.explain(err, watch.cut.Load() > 0); serr != nil {
			return serr
		}
		if lctx.Err() != nil && ctx.Err() == nil {
			return fmt.Errorf("%w %v within %v (%s): %w", ErrUnreachable, cfg.Brokers, cfg.Timeout, what, err)
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	td, err := adm.ListTopics(lctx, cfg.Topics...)
	if err != nil && lctx.Err() == nil && ctx.Err() == nil && cfg.Security.explain(err, watch.cut.Load() > 0) == nil {
		// The first request: a refused connection ends it before the
		// timeout.
		return nil, fmt.Errorf("%w %v: %w", ErrUnreachable, cfg.Brokers, err)
	}
	if err != nil {
		return nil, fail("list topics", err)
	}
	for _, t := range cfg.Topics {
		if !td.Has(t) {
			return nil, fmt.Errorf("%w: %s (on brokers %v)", ErrNoTopic, t, cfg.Brokers)
		}
		if err := td[t].Err; err != nil {
			return nil, fail("topic "+t, err)
		}
	}
	starts, err := adm.ListOffsetsAfterMilli(lctx, cfg.From.UnixMilli(), cfg.Topics...)
	if err != nil {
		return nil, fail("list offsets by time", err)
	}
	lsos, err := adm.ListCommittedOffsets(lctx, cfg.Topics...)
	if err != nil {
		return nil, fail("list end offsets", err)
	}
	bounds := map[topicPartition]offsetBounds{}
	var lerr error
	lsos.Each(func(e kadm.ListedOffset) {
		s, ok := starts.Lookup(e.Topic, e.Partition)
		switch {
		case lerr != nil:
		case e.Err != nil:
			lerr = fail(fmt.Sprintf("end offset of %s/%d", e.Topic, e.Partition), e.Err)
		case !ok:
			lerr = fmt.Errorf("no offset by time of %s/%d in the brokers' answer", e.Topic, e.Partition)
		case s.Err != nil:
			lerr = fail(fmt.Sprintf("offset by time of %s/%d", e.Topic, e.Partition), s.Err)
		case s.Offset < e.Offset:
			bounds[topicPartition{e.Topic, e.Partition}] = offsetBounds{start: s.Offset, end: e.Offset}
		}
	})
	return bounds, lerr
}

// someOf names up to three of the partitions, for an error message.
func someOf(m map[topicPartition]offsetBounds) string {
	var names []string
	for tp := range m {
		names = append(names, fmt.Sprintf("%s/%d", tp.topic, tp.partition))
	}
	slices.Sort(names)
	if len(names) > 3 {
		names = append(names[:3], "…")
	}
	return fmt.Sprint(names)
}
