// Package kafkatest holds the helpers every test of linger that needs Kafka
// shares: StartBroker (the embedded kfake broker on a free loopback port,
// every topic created, closed when the test ends), a background Collector
// of a topic, waiting for a consumer group to commit every record of a
// topic, reading every decision of an invites topic read committed,
// certificates for TLS tests, WaitFor, RefuseProduce for brokers that
// fail writes, and a fixture of hesitating
// sessions. It is for tests only.
package kafkatest

import (
	"context"
	"fmt"
	"time"

	"github.com/lingerhq/linger/schemas"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// WaitCommitted waits until group has committed the end offset of every
// partition of topic (an empty partition needs none), or timeout passes. A
// listing with a partition's error (a leader moving) is asked again: its
// offset, -1, would pass for any commit.
func WaitCommitted(ctx context.Context, adm *kadm.Client, group, topic string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		ends, err1 := adm.ListEndOffsets(ctx, topic)
		committed, err2 := adm.FetchOffsets(ctx, group)
		if err1 == nil && err2 == nil && ends.Error() == nil {
			done := true
			ends.Each(func(o kadm.ListedOffset) {
				c, ok := committed.Lookup(o.Topic, o.Partition)
				done = done && (o.Offset == 0 || ok && c.At >= o.Offset)
			})
			if done {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("group %s has not committed all of %s within %v", group, topic, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Decisions is every decision of a topic by id, with decided_at (the wall
// clock, the one field allowed to differ between runs) blanked, and the ids
// read more than once.
type Decisions struct {
	ByID  map[string]string
	Twice []string
}

// ReadDecisions reads a whole invites topic, read committed, once no
// transaction is open on it (a killed replica's stays open until it times
// out), up to its end offsets.
func ReadDecisions(ctx context.Context, addr string, adm *kadm.Client, topic string, timeout time.Duration) (*Decisions, error) {
	recs, err := ReadCommitted(ctx, addr, adm, topic, timeout)
	if err != nil {
		return nil, err
	}
	out := &Decisions{ByID: map[string]string{}}
	for _, r := range recs {
		d, err := schemas.ParseDecision(r.Value)
		if err != nil {
			return nil, fmt.Errorf("%s: bad decision: %w", topic, err)
		}
		if _, dup := out.ByID[string(d.ID)]; dup {
			out.Twice = append(out.Twice, string(d.ID))
		}
		d.DecidedAt = 0
		out.ByID[string(d.ID)] = string(schemas.AppendDecision(nil, d))
	}
	return out, nil
}

// ReadCommitted reads every record of a topic, read committed, once no
// transaction is open on it, up to its end offsets: in offset order within
// each partition, without the transaction markers.
func ReadCommitted(ctx context.Context, addr string, adm *kadm.Client, topic string, timeout time.Duration) ([]*kgo.Record, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var ends kadm.ListedOffsets
	for {
		var err error
		if ends, err = adm.ListEndOffsets(ctx, topic); err != nil {
			return nil, err
		}
		stable, err := adm.ListCommittedOffsets(ctx, topic)
		if err != nil {
			return nil, err
		}
		// A partition's error (a leader moving) lists -1 in both.
		same := ends.Error() == nil && stable.Error() == nil
		ends.Each(func(o kadm.ListedOffset) {
			s, _ := stable.Lookup(o.Topic, o.Partition)
			same = same && s.Offset == o.Offset
		})
		if same {
			break
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%s: transactions still open: %w", topic, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		// Transaction markers take offsets: with them the reader sees its
		// way to the end offsets.
		kgo.KeepControlRecords())
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	next := map[int32]int64{}
	remaining := func() bool {
		left := false
		ends.Each(func(o kadm.ListedOffset) { left = left || next[o.Partition] < o.Offset })
		return left
	}
	var out []*kgo.Record
	for remaining() {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: reading: %w", topic, ctx.Err())
		}
		fs.EachRecord(func(r *kgo.Record) {
			next[r.Partition] = r.Offset + 1
			if !r.Attrs.IsControl() {
				out = append(out, r)
			}
		})
	}
	return out, nil
}

// Diff lists how got differs from want: decisions missing, extra or
// different, and decisions read twice; at most max lines.
func Diff(got, want *Decisions, max int) []string {
	var out []string
	add := func(format string, args ...any) {
		if len(out) < max {
			out = append(out, fmt.Sprintf(format, args...))
		}
	}
	for _, id := range got.Twice {
		add("decision %s read twice", id)
	}
	for id, w := range want.ByID {
		if g, ok := got.ByID[id]; !ok {
			add("decision %s missing", id)
		} else if g != w {
			add("decision %s differs:\n got %s\nwant %s", id, g, w)
		}
	}
	for id := range got.ByID {
		if _, ok := want.ByID[id]; !ok {
			add("extra decision %s", id)
		}
	}
	return out
}
