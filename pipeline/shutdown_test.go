package pipeline

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lingerhq/linger/internal/kafkatest"
	"github.com/lingerhq/linger/schemas"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestShutdownWhileJoinIsHeld: a replica told to stop while its rejoin
// waits at the broker stops cleanly within the shutdown timeout, idle or
// with a batch in flight. The client leaves the group only once its join
// is answered, and the commit of a batch waits for the join too; a broker
// may hold a join for the rebalance timeout (a minute by default) while it
// waits for a member that died, and the embedded broker drops a member
// whose join waits longer than its session timeout without ever answering
// it. The replica goes on without the client, says so, and the client's
// late callbacks touch nothing; the uncommitted batch is its partitions'
// next owner's to process, so nothing is lost.
func TestShutdownWhileJoinIsHeld(t *testing.T) {
	for _, tc := range []struct {
		name     string
		inFlight bool
	}{{"idle", false}, {"batch in flight", true}} {
		t.Run(tc.name, func(t *testing.T) { shutdownWhileJoinIsHeld(t, tc.inFlight) })
	}
}

func shutdownWhileJoinIsHeld(t *testing.T, inFlight bool) {
	b := startBroker(t, 2)
	const session = 7 * time.Second
	logs := new(kafkatest.Logs)
	r := startRunner(t, b.Addr(), func(c *Config) {
		c.SessionTimeout = session
		c.ShutdownTimeout = time.Second
		c.Logger = kafkatest.LoggerTo(t, logs, slog.LevelInfo)
	})
	kafkatest.WaitFor(t, "ready", 10*time.Second, r.Ready)

	// Hold the replica's next join (a member id and its session timeout
	// tell it from the other member's) until the test ends.
	release := make(chan struct{})
	var held atomic.Bool
	b.Cluster().ControlKey(int16(kmsg.JoinGroup), func(req kmsg.Request) (kmsg.Response, error, bool) {
		b.Cluster().KeepControl()
		join := req.(*kmsg.JoinGroupRequest)
		if join.MemberID != "" && join.SessionTimeoutMillis == int32(session.Milliseconds()) {
			held.Store(true)
			b.Cluster().SleepControl(func() { <-release })
		}
		return nil, nil, false
	})
	// A second member starts a rebalance, which the replica rejoins.
	other := newClient(t, b.Addr(), kgo.ConsumerGroup(DefaultGroup), kgo.ConsumeTopics(schemas.TopicEvents),
		kgo.Balancers(kgo.CooperativeStickyBalancer()), kgo.SessionTimeout(8*time.Second))
	polling, stopPolling := context.WithCancel(context.Background())
	go func() {
		for polling.Err() == nil {
			other.PollFetches(polling)
		}
	}()
	t.Cleanup(func() {
		stopPolling()
		// Before the broker closes: it waits for the held join, and the
		// abandoned client, answered, ends its leaving.
		close(release)
		left := make(chan struct{})
		go func() {
			r.leaving.Wait()
			close(left)
		}()
		select {
		case <-left:
		case <-time.After(30 * time.Second):
			t.Error("the abandoned client did not end within 30 s of its join's answer")
		}
	})
	kafkatest.WaitFor(t, "the replica's join held", 20*time.Second, held.Load)
	if inFlight {
		// The replica keeps fetching the partitions it keeps while it
		// rejoins; the commit of what it processes waits for the join.
		produce(t, newClient(t, b.Addr()), schemas.TopicEvents, kafkatest.Hesitators(0, 20))
		kafkatest.WaitFor(t, "a batch in flight", 10*time.Second, func() bool { return testutilValue(r.m.inFlight) > 0 })
	}

	start := time.Now()
	r.cancel()
	select {
	case <-r.done:
	case <-time.After(20 * time.Second):
		t.Fatal("the runner did not stop within 20 s of the signal while its join was held")
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("the runner stopped %v after the signal, want about the shutdown timeout (1 s)", d)
	}
	if r.err != nil {
		t.Fatalf("Run returned %v, want a clean stop", r.err)
	}
	want := []string{"leaving the group did not finish within the shutdown timeout"}
	if inFlight {
		want = append(want, "the shutdown timeout passed before the last batch was committed")
	}
	for _, w := range want {
		if !strings.Contains(logs.String(), w) {
			t.Errorf("no warning %q in the logs:\n%s", w, logs.String())
		}
	}
	if n := testutilValue(r.m.leaveAbandoned); n != 1 {
		t.Errorf("linger_group_leave_abandoned_total = %v, want 1", n)
	}
	if n := len(r.owned()); n != 0 {
		t.Errorf("%d partitions still have workers after the stop", n)
	}
}
