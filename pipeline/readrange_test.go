package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lingerhq/linger/schemas"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestReadTopics: records from the start time on, committed ones only, up
// to the end as of the call, from every partition of every topic asked.
func TestReadTopics(t *testing.T) {
	b := startBroker(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	now := time.Now()
	cl := newClient(t, b.Addr())
	var recs []*kgo.Record
	for i := range 6 {
		// Two days old: before the start.
		recs = append(recs, &kgo.Record{Topic: schemas.TopicInvites, Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "old-%d", i), Timestamp: now.Add(-48 * time.Hour)})
	}
	for i := range 6 {
		recs = append(recs, &kgo.Record{Topic: schemas.TopicInvites, Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "new-%d", i)})
		recs = append(recs, &kgo.Record{Topic: schemas.TopicFeedback, Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "fb-%d", i)})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// A committed and an aborted transaction: the end offsets are then
	// transaction markers, and the aborted records are not read.
	tx := newClient(t, b.Addr(), kgo.TransactionalID("read-test"))
	for _, commit := range []bool{true, false} {
		if err := tx.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		what := map[bool]string{true: "committed", false: "aborted"}[commit]
		for i := range 4 {
			if err := tx.ProduceSync(ctx, &kgo.Record{Topic: schemas.TopicInvites, Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "%s-%d", what, i)}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatal(err)
		}
	}

	read := func(from time.Time, topics ...string) []string {
		t.Helper()
		var got []string
		err := ReadTopics(ctx, ReadConfig{Brokers: []string{b.Addr()}, Topics: topics, From: from, Stall: 5 * time.Second}, func(r *kgo.Record) error {
			got = append(got, r.Topic+":"+string(r.Value))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(got)
		return got
	}
	got := read(now.Add(-time.Hour), schemas.TopicInvites, schemas.TopicFeedback)
	var want []string
	for i := range 6 {
		want = append(want, schemas.TopicFeedback+":fb-"+fmt.Sprint(i), schemas.TopicInvites+":new-"+fmt.Sprint(i))
	}
	for i := range 4 {
		want = append(want, schemas.TopicInvites+":committed-"+fmt.Sprint(i))
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("read\n got %v\nwant %v", got, want)
	}
	if got := read(now.Add(-72*time.Hour), schemas.TopicInvites); len(got) != 16 || !strings.Contains(strings.Join(got, " "), "old-0") {
		t.Errorf("from three days back: %d records %v, want the old ones too (16)", len(got), got)
	}
	if got := read(now.Add(time.Hour), schemas.TopicInvites); len(got) != 0 {
		t.Errorf("from an hour ahead: %v, want nothing", got)
	}

	// fn's error ends the read.
	stop := errors.New("enough")
	err := ReadTopics(ctx, ReadConfig{Brokers: []string{b.Addr()}, Topics: []string{schemas.TopicInvites}, From: now.Add(-time.Hour)}, func(*kgo.Record) error { return stop })
	if !errors.Is(err, stop) {
		t.Errorf("fn's error: got %v", err)
	}
}

func TestReadTopicsErrors(t *testing.T) {
	b := startBroker(t, 1)
	ctx := context.Background()
	none := func(*kgo.Record) error { return nil }
	err := ReadTopics(ctx, ReadConfig{Brokers: []string{b.Addr()}, Topics: []string{schemas.TopicInvites, "no-such-topic"}}, none)
	if !errors.Is(err, ErrNoTopic) || !strings.Contains(err.Error(), "no-such-topic") {
		t.Errorf("missing topic: %v", err)
	}
	start := time.Now()
	err = ReadTopics(ctx, ReadConfig{Brokers: []string{"127.0.0.1:1"}, Topics: []string{schemas.TopicInvites}, Timeout: time.Second}, none)
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("unreachable brokers: %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("unreachable brokers took %v to report, with a timeout of 1s", took)
	}
	if err := ReadTopics(ctx, ReadConfig{Topics: []string{schemas.TopicInvites}}, none); err == nil {
		t.Error("no brokers: no error")
	}
}
