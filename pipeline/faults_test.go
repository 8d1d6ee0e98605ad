package pipeline

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lingerhq/linger/bench"
	"github.com/lingerhq/linger/internal/kafkatest"
	"github.com/lingerhq/linger/pipeline/broker"
	"github.com/lingerhq/linger/scoring"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// scenarioTopics creates a set of topics for one run, so runs on one broker
// do not see each other's records: the ones a replica would create too, for
// kfake's controller can be lost to a node's removal and return.
func scenarioTopics(t *testing.T, adm *kadm.Client, name string, partitions int32) func(*Config) {
	t.Helper()
	compact := map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}
	for _, topic := range []string{"events-" + name, "invites-" + name, "dlq-" + name, "state-" + name, "visitors-" + name} {
		var configs map[string]*string
		if strings.HasPrefix(topic, "state-") || strings.HasPrefix(topic, "visitors-") {
			configs = compact
		}
		resp, err := adm.CreateTopic(context.Background(), partitions, 1, configs, topic)
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return func(c *Config) {
		c.Group = "g-" + name
		c.EventsTopic, c.InvitesTopic, c.DLQTopic, c.StateTopic = "events-"+name, "invites-"+name, "dlq-"+name, "state-"+name
		c.CapacityTopic, c.VisitorsTopic = "capacity-"+name, "visitors-"+name
		c.EventTimeOnly = true
		c.Scoring = noCapScoring(t)
		c.SessionTimeout = 6 * time.Second
		c.CacheBytes = 64 << 20
	}
}

// noCapScoring is the default scoring config without the frequency cap
// across sessions: the one rule whose decisions depend on the order in
// which partitions run, so runs that must decide alike leave it out.
func noCapScoring(t *testing.T) *scoring.Config {
	t.Helper()
	cfg, err := scoring.ParseConfig([]byte("frequency_cap:\n  invites: 0\n"))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// referenceRun processes recs with one replica, undisturbed, on topics of
// its own, and returns its decisions: what every other run must decide.
func referenceRun(t *testing.T, b *broker.Broker, cl *kgo.Client, name string, partitions int32, recs []bench.Record) *kafkatest.Decisions {
	t.Helper()
	ctx := context.Background()
	adm := kadm.NewClient(cl)
	cfg := scenarioTopics(t, adm, name, partitions)
	produceRecords(t, cl, "events-"+name, recs)
	r := startRunner(t, b.Addr(), cfg)
	if err := kafkatest.WaitCommitted(ctx, adm, "g-"+name, "events-"+name, time.Minute); err != nil {
		t.Fatal(err)
	}
	r.stop(t)
	want, err := kafkatest.ReadDecisions(ctx, b.Addr(), adm, "invites-"+name, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(want.ByID) < 50 || len(want.Twice) > 0 {
		t.Fatalf("reference run: %d decisions, %d read twice", len(want.ByID), len(want.Twice))
	}
	return want
}

func produceRecords(t *testing.T, cl *kgo.Client, topic string, recs []bench.Record) {
	t.Helper()
	krs := make([]*kgo.Record, len(recs))
	for i, r := range recs {
		krs[i] = &kgo.Record{Topic: topic, Key: r.Key, Value: r.Value}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, krs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// TestExactlyOnceUnderBrokerFaults: produce and EndTxn and TxnOffsetCommit
// failures, coordinator moves, leader elections and a broker node removed
// and re-added while two replicas process a stream: the decisions are
// exactly those of a run without faults, none twice, none missing, and the
// aborted transactions are counted.
func TestExactlyOnceUnderBrokerFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about a minute")
	}
	b := startBrokerNodes(t, 4, 3)
	cl := newClient(t, b.Addr())
	recs := bench.GenerateRecords(11, 40000)

	want := referenceRun(t, b, cl, "ref", 4, recs)
	// Every poll its own transaction, and transactions over the polls of
	// 100 ms (the default) and 500 ms: an abort rolls back a whole span.
	// The topics are made before any fault: a removed node may leave the
	// admin client asking a former controller.
	intervals := []time.Duration{0, 100 * time.Millisecond, 500 * time.Millisecond}
	topics := make([]func(*Config), len(intervals))
	for i, interval := range intervals {
		topics[i] = scenarioTopics(t, kadm.NewClient(cl), fmt.Sprint("flt", interval.Milliseconds()), 4)
	}
	for i, interval := range intervals {
		t.Run(fmt.Sprint("commit-interval=", interval), func(t *testing.T) {
			faultScenario(t, b, cl, fmt.Sprint("flt", interval.Milliseconds()), topics[i], interval, recs, want)
		})
	}
}

// faultScenario runs two replicas on topics of their own with a commit
// interval while faults strike, and checks they decide as the reference.
func faultScenario(t *testing.T, b *broker.Broker, cl *kgo.Client, name string, topics func(*Config), interval time.Duration, recs []bench.Record, want *kafkatest.Decisions) {
	c := b.Cluster()
	adm := kadm.NewClient(cl)
	ctx := context.Background()
	flt := func(cfg *Config) {
		topics(cfg)
		cfg.CommitInterval = interval
	}
	r1, r2 := startRunner(t, b.Addr(), flt), startRunner(t, b.Addr(), flt)
	// Each injected fault's handle, to check it struck: a fault the
	// replicas never met would prove nothing.
	var handles []*kfake.FaultHandle
	var aborts *kfake.FaultHandle // the refusal that must abort a span
	fault := func(f kfake.Fault) func() {
		return func() { handles = append(handles, c.Fault(f)) }
	}
	faults := []func(){
		fault(kfake.Fault{Keys: []kmsg.Key{kmsg.EndTxn}, Err: kerr.CoordinatorNotAvailable, Count: 3}),
		fault(kfake.Fault{Keys: []kmsg.Key{kmsg.TxnOffsetCommit}, Err: kerr.CoordinatorLoadInProgress, Count: 3}),
		fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "invites-" + name, Err: kerr.NotLeaderForPartition, Count: 4}),
		fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "state-" + name, Err: kerr.RequestTimedOut, Count: 2}),
		// The client retries the faults above within the transaction, so
		// they may end without an abort; a refusal it does not retry
		// makes the span abort for certain, whatever the interval.
		func() {
			aborts = c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "state-" + name, Err: kerr.PolicyViolation})
			handles = append(handles, aborts)
		},
		c.RehashCoordinators,
		c.ShufflePartitionLeaders,
		func() {
			if err := c.RemoveNode(2); err != nil {
				t.Error(err)
			}
		},
		func() {
			if _, _, err := c.AddNode(2, 0); err != nil {
				t.Error(err)
			}
		},
		c.ShufflePartitionLeaders,
		fault(kfake.Fault{Keys: []kmsg.Key{kmsg.EndTxn}, Err: kerr.NotCoordinator, Count: 2}),
	}
	if only := os.Getenv("LINGER_FAULT"); only != "" {
		i, _ := strconv.Atoi(only)
		faults = faults[i : i+1]
	}
	chunk := len(recs) / len(faults)
	for i, fault := range faults {
		produceRecords(t, cl, "events-"+name, recs[i*chunk:(i+1)*chunk])
		fault()
		time.Sleep(150 * time.Millisecond)
	}
	produceRecords(t, cl, "events-"+name, recs[len(faults)*chunk:])
	if err := kafkatest.WaitCommitted(ctx, adm, "g-"+name, "events-"+name, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	for i, h := range handles {
		if h.Hits() == 0 {
			t.Errorf("injected fault %d never struck a request", i)
		}
		h.Remove()
	}
	aborted := testutilValue(r1.m.transactions.WithLabelValues("aborted")) + testutilValue(r2.m.transactions.WithLabelValues("aborted"))
	restarts := testutilValue(r1.m.clientRestarts) + testutilValue(r2.m.clientRestarts)
	if aborts != nil && aborted+restarts == 0 {
		t.Error("no transaction aborted and no client restarted: a refused record did not abort its span, or it was not counted")
	}
	for i, r := range []*runningRunner{r1, r2} {
		if err := r.stop(t); err != nil {
			t.Errorf("replica %d stopped on a fault: %v", i+1, err)
		}
	}
	got, err := kafkatest.ReadDecisions(ctx, b.Addr(), adm, "invites-"+name, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range kafkatest.Diff(got, want, 10) {
		t.Error(d)
	}
	t.Logf("%d decisions; %v transactions aborted and retried, %v clients restarted", len(want.ByID), aborted, restarts)
}
