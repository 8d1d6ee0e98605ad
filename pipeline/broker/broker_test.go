package broker_test

import (
	"context"
	"testing"
	"time"

	"github.com/lingerhq/linger/internal/kafkatest"
	"github.com/lingerhq/linger/pipeline/broker"
	"github.com/lingerhq/linger/schemas"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func newClient(t *testing.T, addr string) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// TestBrokerDataDirPersists: with --data-dir, topics and records survive a
// restart of the embedded broker.
func TestBrokerDataDirPersists(t *testing.T) {
	dir := t.TempDir()
	b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", Partitions: 2, DataDir: dir, Logger: kafkatest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	cl := newClient(t, b.Addr())
	var recs []*kgo.Record
	for _, r := range kafkatest.Hesitators(0, 3) {
		recs = append(recs, &kgo.Record{Topic: schemas.TopicEvents, Key: r.Key, Value: r.Value})
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	b.Close()

	b, err = broker.Start(broker.Config{Addr: "127.0.0.1:0", Partitions: 2, DataDir: dir, Logger: kafkatest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	c, err := kafkatest.Collect(b.Addr(), schemas.TopicEvents)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	kafkatest.WaitFor(t, "18 records", 10*time.Second, func() bool { return len(c.Records()) >= 18 })
	if got := c.Records(); len(got) != 18 {
		t.Fatalf("%d records after a restart, want the 18 produced before", len(got))
	}
	adm := kadm.NewClient(newClient(t, b.Addr()))
	td, err := adm.ListTopics(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, spec := range schemas.Topics {
		if !td.Has(spec.Name) {
			t.Errorf("topic %s missing after a restart", spec.Name)
		}
	}
}

// TestBrokerCreatesEveryTopic: the embedded broker creates schemas.Topics,
// the compacted ones with cleanup.policy=compact.
func TestBrokerCreatesEveryTopic(t *testing.T) {
	b := kafkatest.StartBroker(t, broker.Config{Partitions: 3})
	adm := kadm.NewClient(newClient(t, b.Addr()))
	ctx := context.Background()
	td, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, spec := range schemas.Topics {
		names = append(names, spec.Name)
		if !td.Has(spec.Name) || len(td[spec.Name].Partitions) != 3 {
			t.Errorf("topic %s: missing or not 3 partitions", spec.Name)
		}
	}
	cfgs, err := adm.DescribeTopicConfigs(ctx, names...)
	if err != nil {
		t.Fatal(err)
	}
	for _, spec := range schemas.Topics {
		rc, err := cfgs.On(spec.Name, nil)
		if err != nil {
			t.Fatal(err)
		}
		policy := ""
		for _, c := range rc.Configs {
			if c.Key == "cleanup.policy" {
				policy = c.MaybeValue()
			}
		}
		if (policy == "compact") != spec.Compacted {
			t.Errorf("topic %s: cleanup.policy %q, compacted %v", spec.Name, policy, spec.Compacted)
		}
	}
}
