package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lingerhq/linger/internal/kafkatest"
	"github.com/lingerhq/linger/pipeline/broker"
	"github.com/lingerhq/linger/pipeline/partition"
	"github.com/lingerhq/linger/schemas"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// startBroker starts the embedded broker on a free loopback port with every
// topic created, and closes it when the test ends.
func startBroker(t *testing.T, partitions int, opts ...kfake.Opt) *broker.Broker {
	t.Helper()
	return kafkatest.StartBroker(t, broker.Config{Partitions: partitions, Opts: opts})
}

func startBrokerNodes(t *testing.T, partitions, nodes int, opts ...kfake.Opt) *broker.Broker {
	t.Helper()
	return kafkatest.StartBroker(t, broker.Config{Partitions: partitions, Nodes: nodes, Opts: opts})
}

type runningRunner struct {
	*Runner
	reg    *prometheus.Registry
	cancel context.CancelFunc
	done   chan struct{} // closed when Run returns
	err    error         // Run's result, once done
}

// stop shuts the runner down gracefully and returns Run's error. It may be
// called more than once.
func (r *runningRunner) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case <-r.done:
		return r.err
	case <-time.After(15 * time.Second):
		t.Fatal("runner did not stop within 15 s")
		return nil
	}
}

func startRunner(t *testing.T, addr string, mutate func(*Config)) *runningRunner {
	t.Helper()
	reg := prometheus.NewRegistry()
	cfg := Config{
		Brokers:    []string{addr},
		Logger:     kafkatest.Logger(t),
		Registerer: reg,
		CacheBytes: partition.MinCacheBytes,
		ClientOpts: []kgo.Opt{
			// Fast heartbeats: rebalances are noticed within 100 ms.
			kgo.HeartbeatInterval(100 * time.Millisecond),
		},
	}
	if mutate != nil {
		mutate(&cfg)
	}
	r, err := NewRunner(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rr := &runningRunner{Runner: r, reg: reg, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(rr.done)
		rr.err = r.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-rr.done
	})
	return rr
}

func newClient(t *testing.T, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func produce(t *testing.T, cl *kgo.Client, topic string, recs []kafkatest.Record) {
	t.Helper()
	krs := make([]*kgo.Record, len(recs))
	for i, r := range recs {
		krs[i] = &kgo.Record{Topic: topic, Key: r.Key, Value: r.Value}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, krs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func decisions(t *testing.T, recs []*kgo.Record) []*schemas.Decision {
	t.Helper()
	var out []*schemas.Decision
	for _, r := range recs {
		d, err := schemas.ParseDecision(r.Value)
		if err != nil {
			t.Fatalf("bad decision on the topic: %v\n%s", err, r.Value)
		}
		if string(r.Key) != string(d.Session) {
			t.Fatalf("decision key %q is not its session %q", r.Key, d.Session)
		}
		out = append(out, d)
	}
	return out
}

// offline runs the same records through a Processor without Kafka: what
// linger run must publish.
func offline(recs []kafkatest.Record) map[string]string {
	p := partition.New(0, partition.Config{Epoch: 1, Store: partition.NewStore(0), Now: time.Now})
	want := map[string]string{}
	p.Begin()
	for i, r := range recs {
		p.Process(r.Key, r.Value, int64(i))
	}
	out := p.End()
	p.Commit()
	for i := range out.Decisions() {
		_, v := out.Decision(i)
		d, _ := schemas.ParseDecision(v)
		want[string(d.ID)] = fmt.Sprintf("%s %s %.4f", d.Action, d.Reason, d.Score)
	}
	return want
}

func TestRunPublishesDecisions(t *testing.T) {
	b := startBroker(t, 4)
	invites := kafkatest.Collecting(t, b.Addr(), schemas.TopicInvites)
	tallies := kafkatest.Collecting(t, b.Addr(), schemas.TopicTallies)
	r := startRunner(t, b.Addr(), nil)
	kafkatest.WaitFor(t, "ready", 10*time.Second, r.Ready)

	recs := kafkatest.Hesitators(0, 40)
	produce(t, newClient(t, b.Addr()), schemas.TopicEvents, recs)
	want := offline(recs)
	got := decisions(t, invites.WaitN(t, len(want), 15*time.Second))
	if len(got) != len(want) {
		t.Fatalf("%d decisions, want %d", len(got), len(want))
	}
	for _, d := range got {
		if w := want[string(d.ID)]; w != fmt.Sprintf("%s %s %.4f", d.Action, d.Reason, d.Score) {
			t.Errorf("decision %s: got %s %s %.4f, the same events offline give %q", d.ID, d.Action, d.Reason, d.Score, w)
		}
		if d.DecidedAt < d.EventTS || d.DecidedAt > time.Now().UnixMilli() {
			t.Errorf("decided_at %d is not a wall-clock time after the event", d.DecidedAt)
		}
	}
	// The hour's tallies went out in the same transactions: the last
	// record of a key counts every invite of its partition.
	kafkatest.WaitFor(t, "the tallies of every invite", 15*time.Second, func() bool {
		last := map[string]int64{}
		var dec schemas.HourTallyDecoder
		var h schemas.HourTally
		for _, rec := range tallies.Records() {
			if err := dec.Decode(rec.Key, rec.Value, 0, &h); err != nil {
				t.Fatalf("tally %s: %v", rec.Value, err)
			}
			last[string(rec.Key)] = h.Invites
		}
		var n int64
		for _, v := range last {
			n += v
		}
		return n == int64(len(want))
	})
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	// Everything processed was committed on the way out.
	adm := kadm.NewClient(newClient(t, b.Addr()))
	offs, err := adm.FetchOffsets(context.Background(), "linger")
	if err != nil {
		t.Fatal(err)
	}
	var committed int64
	offs.Each(func(o kadm.OffsetResponse) { committed += o.At })
	if committed != int64(len(recs)) {
		t.Fatalf("committed %d offsets in all, want %d", committed, len(recs))
	}
}

func TestDLQRecordsCarryReasonAndSource(t *testing.T) {
	b := startBroker(t, 2)
	dlq := kafkatest.Collecting(t, b.Addr(), schemas.TopicDLQ)
	invites := kafkatest.Collecting(t, b.Addr(), schemas.TopicInvites)
	r := startRunner(t, b.Addr(), nil)
	kafkatest.WaitFor(t, "ready", 10*time.Second, r.Ready)

	cl := newClient(t, b.Addr())
	bad := []kafkatest.Record{
		{Key: []byte("s-bad"), Value: []byte(`not json`)},
		{Key: []byte("s-bad"), Value: []byte(`{"v":1,"type":"idle","session":"s-bad","ts":"yesterday","ms":1}`)},
		{Key: []byte("s-bad"), Value: []byte(strings.Repeat(" ", schemas.MaxEventBytes+1))},
	}
	// Bad input first, then good input behind it on the same partitions:
	// bad records must not stall anything.
	produce(t, cl, schemas.TopicEvents, append(bad, kafkatest.Hesitators(0, 5)...))
	got := dlq.WaitN(t, len(bad), 15*time.Second)
	wantReasons := []string{"invalid_json", "wrong_type", "too_large"}
	for i, rec := range got {
		h := map[string]string{}
		for _, kv := range rec.Headers {
			h[kv.Key] = string(kv.Value)
		}
		if h[schemas.HeaderDLQReason] != wantReasons[i] || h[schemas.HeaderSourceTopic] != schemas.TopicEvents || h[schemas.HeaderDLQError] == "" {
			t.Errorf("DLQ record %d headers %v, want reason %s", i, h, wantReasons[i])
		}
		if string(rec.Value) != string(bad[i].Value) || string(rec.Key) != string(bad[i].Key) {
			t.Errorf("DLQ record %d changed the input", i)
		}
		if h[schemas.HeaderSourceOffset] != fmt.Sprint(i) {
			t.Errorf("DLQ record %d says offset %s", i, h[schemas.HeaderSourceOffset])
		}
	}
	invites.WaitN(t, 5, 15*time.Second)
	if v := testutilValue(r.m.dlq.WithLabelValues("too_large")); v != 1 {
		t.Fatalf("linger_dlq_total{reason=too_large} = %v", v)
	}
}

// TestNoDecisionLostWhenPublishFails: when the broker refuses decisions, the
// runner stops without committing, and a restart publishes them.
func TestNoDecisionLostWhenPublishFails(t *testing.T) {
	b := startBroker(t, 2)
	recs := kafkatest.Hesitators(0, 20)
	produce(t, newClient(t, b.Addr()), schemas.TopicEvents, recs)
	var refuse sync.Mutex
	refusing := true
	b.Cluster().ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		b.Cluster().KeepControl()
		refuse.Lock()
		defer refuse.Unlock()
		// Events are produced before the runner starts, so every produce
		// request from here on is the runner's.
		pr := req.(*kmsg.ProduceRequest)
		if !refusing {
			return nil, nil, false
		}
		return kafkatest.RefuseProduce(pr, kerr.TopicAuthorizationFailed.Code), nil, true
	})

	r := startRunner(t, b.Addr(), nil)
	select {
	case <-r.done:
		if err := r.err; err == nil || !strings.Contains(err.Error(), "processed again") {
			t.Fatalf("runner ended with %v, want a publish error", err)
		}
		if r.Healthy() == nil {
			t.Fatal("a failed runner must report unhealthy")
		}
	case <-time.After(15 * time.Second):
		t.Fatal("runner kept going although its decisions were refused")
	}

	refuse.Lock()
	refusing = false
	refuse.Unlock()
	invites := kafkatest.Collecting(t, b.Addr(), schemas.TopicInvites)
	startRunner(t, b.Addr(), nil)
	want := offline(recs)
	noneLost(t, want, decisions(t, invites.WaitN(t, len(want), 15*time.Second)))
}

// noneLost reports each decision of want missing from got.
func noneLost(t *testing.T, want map[string]string, got []*schemas.Decision) {
	t.Helper()
	seen := map[string]bool{}
	for _, d := range got {
		seen[string(d.ID)] = true
	}
	for id := range want {
		if !seen[id] {
			t.Errorf("decision %s lost", id)
		}
	}
}

// TestRebalanceLosesNothing: two replicas share the partitions; when one
// leaves, it commits what it processed and the other takes its partitions
// over from there: nothing is processed twice, nothing is skipped. (Session
// state does not move with a partition yet: the sessions used here start
// and end on one side of the handoff.)
func TestRebalanceLosesNothing(t *testing.T) {
	b := startBroker(t, 8)
	invites := kafkatest.Collecting(t, b.Addr(), schemas.TopicInvites)
	a := startRunner(t, b.Addr(), nil)
	c := startRunner(t, b.Addr(), nil)
	kafkatest.WaitFor(t, "both replicas to own partitions", 15*time.Second, func() bool {
		return a.Ready() && c.Ready() && testutilValue(a.m.partitions) > 0 && testutilValue(c.m.partitions) > 0 &&
			testutilValue(a.m.partitions)+testutilValue(c.m.partitions) == 8
	})

	cl := newClient(t, b.Addr())
	before, after := kafkatest.Hesitators(0, 30), kafkatest.Hesitators(30, 30)
	produce(t, cl, schemas.TopicEvents, before)
	invites.WaitN(t, 30, 15*time.Second)
	if testutilValue(a.m.invites.WithLabelValues("abandonment")) == 0 || testutilValue(c.m.invites.WithLabelValues("abandonment")) == 0 {
		t.Fatal("both replicas should have decided for their own partitions")
	}
	if err := a.stop(t); err != nil {
		t.Fatal(err)
	}
	kafkatest.WaitFor(t, "the survivor to own every partition", 15*time.Second, func() bool { return testutilValue(c.m.partitions) == 8 })
	produce(t, cl, schemas.TopicEvents, after)

	want := offline(append(before, after...))
	invites.WaitN(t, len(want), 15*time.Second)
	time.Sleep(300 * time.Millisecond) // let a duplicate arrive, if there is one
	got := decisions(t, invites.Records())
	count := map[string]int{}
	for _, d := range got {
		count[string(d.ID)]++
	}
	for id := range want {
		if count[id] != 1 {
			t.Errorf("decision %s published %d times, want once", id, count[id])
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d decisions published, want %d", len(got), len(want))
	}
}

func TestBrokerDownAtStart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	r := startRunner(t, addr, nil)
	time.Sleep(1500 * time.Millisecond)
	select {
	case <-r.done:
		t.Fatalf("runner gave up on a broker that is down: %v", r.err)
	default:
	}
	if r.Ready() {
		t.Fatal("ready without a broker")
	}
	b, err := broker.Start(broker.Config{Addr: addr, Partitions: 2, Logger: kafkatest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	kafkatest.WaitFor(t, "ready once the broker is up", 40*time.Second, r.Ready)
}

func TestGracefulShutdownIsQuick(t *testing.T) {
	b := startBroker(t, 4)
	r := startRunner(t, b.Addr(), nil)
	kafkatest.WaitFor(t, "ready", 10*time.Second, r.Ready)
	produce(t, newClient(t, b.Addr()), schemas.TopicEvents, kafkatest.Hesitators(0, 10))
	start := time.Now()
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("shutdown took %v, the budget is 10 s", d)
	}
	if r.Ready() {
		t.Fatal("still ready after shutdown")
	}
}

// TestShutdownWhenFencedIsClean: a replica told to stop whose last
// transaction is refused as fenced (another replica took its partitions
// over at that moment) loses nothing, so it stops cleanly rather than
// reporting a failure; a replica with its id then publishes every decision.
func TestShutdownWhenFencedIsClean(t *testing.T) {
	b := startBroker(t, 2)
	sameID := func(c *Config) {
		c.InstanceID = "fenced"
		// The refused transaction stays open on the broker until it
		// times out, and read_committed readers wait for it.
		c.SessionTimeout = 6 * time.Second
	}
	logs := new(kafkatest.Logs)
	r := startRunner(t, b.Addr(), func(c *Config) {
		sameID(c)
		c.Logger = kafkatest.LoggerTo(t, logs, slog.LevelInfo)
	})
	kafkatest.WaitFor(t, "ready", 10*time.Second, r.Ready)
	var fenced atomic.Bool
	b.Cluster().ControlKey(int16(kmsg.EndTxn), func(req kmsg.Request) (kmsg.Response, error, bool) {
		b.Cluster().KeepControl()
		end := req.(*kmsg.EndTxnRequest)
		if !end.Commit || fenced.Swap(true) {
			return nil, nil, false
		}
		// The signal comes first, then the refusal: the order in
		// which a replica meets them at a rebalance during shutdown.
		r.cancel()
		resp := end.ResponseKind().(*kmsg.EndTxnResponse)
		resp.ErrorCode = kerr.ProducerFenced.Code
		return resp, nil, true
	})
	invites := kafkatest.Collecting(t, b.Addr(), schemas.TopicInvites)
	recs := kafkatest.Hesitators(0, 20)
	produce(t, newClient(t, b.Addr()), schemas.TopicEvents, recs)
	select {
	case <-r.done:
	case <-time.After(20 * time.Second):
		t.Fatal("the runner did not stop")
	}
	if !fenced.Load() {
		t.Fatal("no transaction was refused: the test proved nothing")
	}
	if r.err != nil {
		t.Fatalf("a shutdown whose last transaction was fenced ended with %v, want a clean stop", r.err)
	}
	// Clean, but not silent: the operator learns that the last cycle is
	// someone else's to process.
	if want := "stopped with the last cycle not committed"; !strings.Contains(logs.String(), want) {
		t.Fatalf("no warning %q in the logs:\n%s", want, logs.String())
	}

	startRunner(t, b.Addr(), sameID)
	want := offline(recs)
	noneLost(t, want, decisions(t, invites.WaitN(t, len(want), 20*time.Second)))
}

func TestHTTPEndpoints(t *testing.T) {
	b := startBroker(t, 2)
	r := startRunner(t, b.Addr(), nil)
	srv, err := ListenHTTP("127.0.0.1:0", r.reg, r.Healthy, r.Ready)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close(context.Background()) })
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + srv.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Fatalf("/healthz %d", code)
	}
	kafkatest.WaitFor(t, "ready", 10*time.Second, r.Ready)
	if code, _ := get("/readyz"); code != 200 {
		t.Fatalf("/readyz %d once ready", code)
	}
	code, body := get("/metrics")
	if code != 200 {
		t.Fatalf("/metrics %d", code)
	}
	// Every family, and the known label values, exist before the first event.
	for _, want := range []string{
		`linger_events_total{type="page_view"} 0`, `linger_events_total{type="unknown"} 0`,
		`linger_dlq_total{reason="invalid_json"} 0`, `linger_invites_total{reason="confusion"} 0`,
		`linger_suppressed_total{reason="breathing_space"} 0`, `linger_score_bucket{model="abandonment"`,
		"linger_decision_latency_seconds_bucket", "linger_partitions_assigned 2", "linger_ready 1",
		"linger_cache_max_bytes", "linger_cache_horizon_seconds", "linger_state_lost_total 0",
		"linger_rebalances_total{kind=\"assigned\"} 1", "process_resident_memory_bytes", "go_goroutines", "linger_build_info",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	r.stop(t)
	if code, _ := get("/readyz"); code != 503 {
		t.Fatalf("/readyz %d after shutdown, want 503", code)
	}
}

var _ = errors.New

// TestNotReadyWhileRestoring: a replica does not report ready, nor process,
// until the state of its partitions is restored from the changelog.
func TestNotReadyWhileRestoring(t *testing.T) {
	b := startBroker(t, 2)
	cl := newClient(t, b.Addr())
	// Something to restore.
	produce(t, cl, schemas.TopicEvents, kafkatest.Hesitators(0, 5))
	first := startRunner(t, b.Addr(), nil)
	kafkatest.WaitFor(t, "the first replica to process", 10*time.Second, func() bool {
		return testutilValue(first.m.stateRecords) > 0
	})
	if err := first.stop(t); err != nil {
		t.Fatal(err)
	}

	// Hold the restore's fetches of the changelog until released. Fetch
	// requests name topics by id.
	td, err := kadm.NewClient(cl).ListTopics(context.Background(), schemas.TopicState)
	if err != nil {
		t.Fatal(err)
	}
	stateID := td[schemas.TopicState].ID
	release := make(chan struct{})
	c := b.Cluster()
	c.ControlKey(int16(kmsg.Fetch), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		for _, tp := range req.(*kmsg.FetchRequest).Topics {
			if tp.Topic == schemas.TopicState || tp.TopicID == stateID {
				c.SleepControl(func() { <-release })
				c.DropControl()
				break
			}
		}
		return nil, nil, false
	})
	second := startRunner(t, b.Addr(), nil)
	kafkatest.WaitFor(t, "the restore to start", 10*time.Second, func() bool { return testutilValue(second.m.restoring) > 0 })
	time.Sleep(200 * time.Millisecond)
	if second.Ready() {
		t.Fatal("ready while restoring")
	}
	close(release)
	kafkatest.WaitFor(t, "ready once restored", 10*time.Second, second.Ready)
	if testutilValue(second.m.restoring) != 0 || testutilValue(second.m.restoreRecord) == 0 {
		t.Fatalf("restoring %v partitions, %v records restored", testutilValue(second.m.restoring), testutilValue(second.m.restoreRecord))
	}
}
