package pipeline

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/lingerhq/linger/bench"
	"github.com/lingerhq/linger/internal/kafkatest"
	"github.com/twmb/franz-go/pkg/kadm"
)

// TestScaleOutMovesStateAndTimers: on 16 partitions, a replica that joins
// takes partitions with their sessions' state and timers (restored from the
// changelog), and a replica that leaves (graceful stop) hands its partitions
// over within the group session timeout; the decisions are those of one
// replica alone, and the replicas log what they gained, lost and restored.
func TestScaleOutMovesStateAndTimers(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about 20 s")
	}
	b := startBroker(t, 16)
	cl := newClient(t, b.Addr())
	adm := kadm.NewClient(cl)
	ctx := context.Background()
	recs := bench.GenerateRecords(21, 60000)

	want := referenceRun(t, b, cl, "one", 16, recs)

	grow := scenarioTopics(t, adm, "grow", 16)
	var logs []*kafkatest.Logs
	replica := func() *runningRunner {
		sb := new(kafkatest.Logs)
		logs = append(logs, sb)
		return startRunner(t, b.Addr(), func(c *Config) {
			grow(c)
			c.Logger = kafkatest.LoggerTo(t, sb, slog.LevelInfo)
		})
	}
	a := replica()
	third := len(recs) / 3
	produceRecords(t, cl, "events-grow", recs[:third])
	if err := kafkatest.WaitCommitted(ctx, adm, "g-grow", "events-grow", time.Minute); err != nil {
		t.Fatal(err)
	}
	// Two more replicas: partitions move to them with their sessions
	// part-way.
	bb, c := replica(), replica()
	kafkatest.WaitFor(t, "three replicas sharing the 16 partitions", 30*time.Second, func() bool {
		return testutilValue(bb.m.partitions) > 0 && testutilValue(c.m.partitions) > 0 &&
			testutilValue(a.m.partitions)+testutilValue(bb.m.partitions)+testutilValue(c.m.partitions) == 16 &&
			a.Ready() && bb.Ready() && c.Ready()
	})
	if testutilValue(bb.m.restoreRecord)+testutilValue(c.m.restoreRecord) == 0 {
		t.Error("the new replicas restored nothing from the changelog")
	}
	produceRecords(t, cl, "events-grow", recs[third:2*third])
	if err := kafkatest.WaitCommitted(ctx, adm, "g-grow", "events-grow", time.Minute); err != nil {
		t.Fatal(err)
	}
	// One leaves: its partitions are served again within the session
	// timeout.
	left := time.Now()
	if err := a.stop(t); err != nil {
		t.Fatal(err)
	}
	kafkatest.WaitFor(t, "two replicas owning all 16 partitions", 10*time.Second, func() bool {
		return testutilValue(bb.m.partitions)+testutilValue(c.m.partitions) == 16 && bb.Ready() && c.Ready()
	})
	if d := time.Since(left); d > 6*time.Second {
		t.Errorf("hand-over took %v, more than the group session timeout", d)
	}
	produceRecords(t, cl, "events-grow", recs[2*third:])
	if err := kafkatest.WaitCommitted(ctx, adm, "g-grow", "events-grow", time.Minute); err != nil {
		t.Fatal(err)
	}
	bb.stop(t)
	c.stop(t)
	got, err := kafkatest.ReadDecisions(ctx, b.Addr(), adm, "invites-grow", 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range kafkatest.Diff(got, want, 10) {
		t.Error(d)
	}
	all := ""
	for _, l := range logs {
		all += l.String()
	}
	for _, want := range []string{`msg="partitions gained"`, `msg="partitions lost to a rebalance"`, `msg="partition restored"`, "took="} {
		if !strings.Contains(all, want) {
			t.Errorf("the replicas' logs lack %s", want)
		}
	}
	t.Logf("%d decisions; hand-over in %v", len(want.ByID), time.Since(left).Round(time.Millisecond))
}

// TestRevokesWhileIdle: a replica that gives partitions up twice with no
// traffic in between must drop them both times. franz-go's transactional
// session calls the revoke callback only once between two transaction
// ends, so an idle replica once kept workers (and fired timers) for
// partitions another replica owned.
func TestRevokesWhileIdle(t *testing.T) {
	b := startBroker(t, 16)
	cl := newClient(t, b.Addr())
	adm := kadm.NewClient(cl)
	topics := scenarioTopics(t, adm, "idle-revokes", 16)
	replica := func() *runningRunner { return startRunner(t, b.Addr(), topics) }
	owned := func(rs ...*runningRunner) (sum float64, each []float64) {
		for _, r := range rs {
			v := testutilValue(r.m.partitions)
			sum += v
			each = append(each, v)
		}
		return sum, each
	}
	a := replica()
	kafkatest.WaitFor(t, "the first replica owning all 16 partitions", 20*time.Second, func() bool {
		return testutilValue(a.m.partitions) == 16 && a.Ready()
	})
	bb := replica()
	kafkatest.WaitFor(t, "two replicas sharing the 16 partitions", 20*time.Second, func() bool {
		sum, each := owned(a, bb)
		return sum == 16 && each[1] > 0 && a.Ready() && bb.Ready()
	})
	c := replica()
	deadline := time.Now().Add(20 * time.Second)
	for {
		sum, each := owned(a, bb, c)
		if sum == 16 && each[2] > 0 && a.Ready() && bb.Ready() && c.Ready() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("partitions owned per replica %v: sum %v, want 16 (a replica kept workers of partitions it gave up)", each, sum)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
