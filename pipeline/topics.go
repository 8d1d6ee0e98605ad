package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// topicSpec is one topic a replica reads or writes, and what it does when
// the topic is missing at start.
type topicSpec struct {
	name string
	use  string // what it is for, in log lines
	// need says what a missing topic means: the replica waits for it
	// (needRequired), creates it with the events topic's partition count
	// (needCreate, with configs), or goes on without it (needOptional).
	need    topicNeed
	configs map[string]*string
	// copartitioned topics must have the events topic's partition count:
	// a session's records live in the partition number of its events.
	copartitioned bool
	// written: the replica produces to it (its produce errors are
	// counted from the start).
	written bool
}

type topicNeed uint8

const (
	needRequired topicNeed = iota
	needCreate
	needOptional
)

var compacted = map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}

// topicSpecs returns the topics of a replica, the events topic first. The
// passthrough yardstick reads the events and writes its copies; it keeps
// the changelog, which its partitions' assignment restores from, but reads
// no feedback and no broadcast tables.
func (c *Config) topicSpecs() []topicSpec {
	specs := []topicSpec{
		{name: c.EventsTopic, use: "events", need: needRequired},
		{name: c.InvitesTopic, use: "invites", need: needRequired, written: true},
		{name: c.DLQTopic, use: "dead letters", need: needRequired, written: true},
		{name: c.StateTopic, use: "state changelog", need: needCreate, configs: compacted, copartitioned: true, written: true},
	}
	if c.PassthroughTopic != "" {
		return append(specs, topicSpec{name: c.PassthroughTopic, use: "passthrough copies", need: needCreate, written: true})
	}
	return append(specs,
		// Compacted, and deleted after the longest cap window would be
		// better still; compaction alone keeps one record per visitor.
		topicSpec{name: c.VisitorsTopic, use: "visitor caps", need: needCreate, configs: compacted, written: true},
		topicSpec{name: c.TalliesTopic, use: "hourly tallies", need: needCreate, configs: compacted, written: true},
		topicSpec{name: c.FeedbackTopic, use: "feedback", need: needOptional, copartitioned: true},
	)
}

// waitForTopics retries, with backoff and a log line each time, until the
// brokers answer and the topics exist, creating those a replica may make:
// a broker that is down at start is a wait, not a crash loop. Credentials
// or certificates the brokers reject are not worth a wait: it returns
// ErrAuthentication or ErrTLS at once. It returns the admin client it used,
// for restores.
func (r *Runner) waitForTopics(ctx context.Context) (*kgo.Client, error) {
	watch := new(saslWatch)
	cl, err := kgo.NewClient(r.withOpts(
		// The client answers metadata requests from a cache younger than
		// this: keep it short, so topics created meanwhile show soon.
		kgo.MetadataMinAge(250*time.Millisecond),
		kgo.WithHooks(watch),
	)...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	adm := kadm.NewClient(cl)
	b := backoff{next: 250 * time.Millisecond, max: 30 * time.Second}
	for attempt := 1; ; attempt++ {
		watch.cut.Store(0)
		err := r.checkTopics(ctx, adm)
		if err == nil {
			return cl, nil
		}
		if serr := r.cfg.Security.explain(err, watch.cut.Load() > 0); serr != nil {
			cl.Close()
			return nil, serr
		}
		var fatal fatalError
		if errors.As(err, &fatal) {
			cl.Close()
			return nil, err
		}
		if ctx.Err() != nil {
			cl.Close()
			return nil, ctx.Err()
		}
		r.log.Warn("waiting for Kafka", "brokers", r.cfg.Brokers, "attempt", attempt, "retry_in", b.next, "err", err)
		if !b.wait(ctx) {
			cl.Close()
			return nil, ctx.Err()
		}
	}
}

// fatalError is a startup problem that waiting does not fix.
type fatalError struct{ error }

// checkTopics checks the replica's topics once: it fails while a required
// one is missing, creates the missing ones it may make, and decides whether
// the optional ones (the feedback) are used.
func (r *Runner) checkTopics(ctx context.Context, adm *kadm.Client) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	names := make([]string, len(r.topics))
	for i, t := range r.topics {
		names[i] = t.name
	}
	td, err := adm.ListTopics(ctx, names...)
	if err != nil {
		return fmt.Errorf("cannot reach the brokers: %w", err)
	}
	var missing []string
	for _, t := range r.topics {
		if t.need != needRequired {
			continue
		}
		if !td.Has(t.name) {
			missing = append(missing, t.name)
		} else if err := td[t.name].Err; err != nil {
			return fmt.Errorf("topic %s: %w", t.name, err)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("topics %v do not exist: create them (see the README), or point --brokers at `linger broker`, which creates every topic", missing)
	}
	events := len(td[r.cfg.EventsTopic].Partitions)
	r.partitions = events
	r.dlq.setTopicMax(topicMaxMessageBytes(ctx, adm, r.cfg.DLQTopic))
	r.feedback = false
	var mismatched []string
	for _, t := range r.topics[1:] {
		exists := td.Has(t.name) && td[t.name].Err == nil
		switch {
		case !exists && t.need == needCreate:
			if err := createTopic(ctx, adm, t.name, events, t.configs); err != nil {
				return err
			}
			r.log.Info("created the "+t.use+" topic", "topic", t.name, "partitions", events)
			continue // made here with the events topic's partition count
		case !exists && t.need == needOptional:
			r.log.Info("no "+t.use+" topic; going on without "+t.use, "topic", t.name)
			continue
		}
		n := len(td[t.name].Partitions)
		if !t.copartitioned || n == events {
			r.feedback = r.feedback || t.name == r.cfg.FeedbackTopic
			continue
		}
		if t.need == needOptional {
			r.log.Warn("the "+t.use+" topic's partition count differs from the events topic's; going on without "+t.use, "topic", t.name, "partitions", n, "events_partitions", events)
			continue
		}
		mismatched = append(mismatched, fmt.Sprintf("the %s topic %s has %d partitions and the events topic %s has %d", t.use, t.name, n, r.cfg.EventsTopic, events))
	}
	if len(mismatched) > 0 {
		return fatalError{fmt.Errorf("%s: they must match, because a session's state lives in the partition number of its events", strings.Join(mismatched, "; "))}
	}
	return nil
}

// createTopic creates a topic this replica needs and may make itself.
func createTopic(ctx context.Context, adm *kadm.Client, name string, partitions int, configs map[string]*string) error {
	resp, err := adm.CreateTopic(ctx, int32(partitions), -1, configs, name)
	if err == nil {
		err = resp.Err
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, kerr.TopicAlreadyExists):
		// Another replica created it a moment ago: check it on the next
		// round, once the metadata shows it.
		return fmt.Errorf("topic %s was just created by another replica", name)
	default:
		return fmt.Errorf("create topic %s: %w", name, err)
	}
}

// topicMaxMessageBytes returns a topic's max.message.bytes, or 0 when the
// brokers do not say (the producer's own limit then applies).
func topicMaxMessageBytes(ctx context.Context, adm *kadm.Client, topic string) int {
	cfgs, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		return 0
	}
	rc, err := cfgs.On(topic, nil)
	if err != nil {
		return 0
	}
	for _, c := range rc.Configs {
		if c.Key == "max.message.bytes" {
			n, _ := strconv.Atoi(c.MaybeValue())
			return n
		}
	}
	return 0
}
