package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lingerhq/linger/schemas"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Runner is one linger replica: a member of the consumer group that
// processes its partitions of the events topic.
//
// Each poll is processed as a unit: every partition's records go to that
// partition's worker, all workers run in parallel, then the decisions and
// DLQ records they produced are published, and only once the broker has
// acknowledged all of them are the polled offsets marked for commit
// (at-least-once: a crash re-processes, it never skips). Rebalances are held
// back while a poll is in flight (BlockRebalanceOnPoll), so a partition is
// never revoked with work half done.
type Runner struct {
	cfg   Config
	log   *slog.Logger
	m     *Metrics
	store *Store
	cl    *kgo.Client

	// workers is touched only by the poll loop and the group callbacks,
	// which BlockRebalanceOnPoll runs one at a time.
	workers map[int32]*worker
	busy    []*worker

	ready  atomic.Bool
	failed atomic.Pointer[error]
}

// worker owns one partition's Processor and runs its batches on its own
// goroutine, so partitions are processed in parallel and each in order.
type worker struct {
	p     *Processor
	in    chan *sync.WaitGroup
	done  chan struct{}
	batch kgo.FetchTopicPartition
	out   *Output
}

func (w *worker) run() {
	defer close(w.done)
	for wg := range w.in {
		w.p.Begin()
		for _, rec := range w.batch.Records {
			w.p.Process(rec.Key, rec.Value, rec.Offset)
		}
		w.out = w.p.End()
		wg.Done()
	}
}

func (w *worker) stop() {
	close(w.in)
	<-w.done
	w.p.Close()
}

// NewRunner checks cfg and returns a runner; nothing connects until Run.
func NewRunner(cfg Config) (*Runner, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(prometheus.NewRegistry())
	}
	r := &Runner{
		cfg:     cfg,
		log:     cfg.Logger,
		m:       cfg.Metrics,
		store:   NewStore(cfg.CacheBytes),
		workers: make(map[int32]*worker),
	}
	r.m.CacheMaxBytes.Set(float64(r.store.Stats().MaxBytes))
	return r, nil
}

// Ready reports whether the group is joined and every assigned partition is
// served (a replica with no partitions is ready too).
func (r *Runner) Ready() bool { return r.ready.Load() }

// Healthy returns the error that stopped the runner, or nil.
func (r *Runner) Healthy() error {
	if err := r.failed.Load(); err != nil {
		return *err
	}
	return nil
}

func (r *Runner) setReady(ok bool) {
	r.ready.Store(ok)
	if ok {
		r.m.Ready.Set(1)
	} else {
		r.m.Ready.Set(0)
	}
}

// Run waits for the brokers and topics, joins the group and processes until
// ctx is done, then shuts down gracefully: it finishes the poll in flight,
// publishes what it produced, commits, and leaves the group, within the
// shutdown timeout. It returns nil after a clean shutdown.
func (r *Runner) Run(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			r.failed.Store(&err)
		}
	}()
	if err := r.waitForTopics(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	cl, err := kgo.NewClient(r.clientOpts()...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	r.cl = cl
	r.log.Info("joining consumer group", "group", r.cfg.Group, "topic", r.cfg.EventsTopic, "brokers", r.cfg.Brokers)

	statsCtx, stopStats := context.WithCancel(context.Background())
	statsDone := make(chan struct{})
	go func() {
		defer close(statsDone)
		r.statsLoop(statsCtx)
	}()
	defer func() {
		stopStats()
		<-statsDone
	}()

	// Publishing outlives ctx by the shutdown timeout, so a poll that is in
	// flight when the signal comes still completes.
	pctx, cancelPublish := context.WithCancel(context.Background())
	defer cancelPublish()
	stopTimer := context.AfterFunc(ctx, func() { time.AfterFunc(r.cfg.ShutdownTimeout, cancelPublish) })
	defer stopTimer()

	loopErr := r.loop(ctx, pctx)
	r.shutdown()
	return loopErr
}

func (r *Runner) clientOpts() []kgo.Opt {
	opts := []kgo.Opt{
		kgo.SeedBrokers(r.cfg.Brokers...),
		kgo.ClientID("linger"),
		kgo.WithLogger(newKgoLogger(r.log)),
		kgo.ConsumerGroup(r.cfg.Group),
		kgo.ConsumeTopics(r.cfg.EventsTopic),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.BlockRebalanceOnPoll(),
		kgo.AutoCommitMarks(),
		kgo.AutoCommitInterval(time.Second),
		kgo.OnPartitionsAssigned(r.onAssigned),
		kgo.OnPartitionsRevoked(r.onRevoked),
		kgo.OnPartitionsLost(r.onLost),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		// Decisions are latency-sensitive and few: send them at once.
		kgo.ProducerLinger(0),
	}
	return append(opts, r.cfg.ClientOpts...)
}

// waitForTopics retries, with backoff and a log line each time, until the
// brokers answer and the topics exist: a broker that is down at start is a
// wait, not a crash loop.
func (r *Runner) waitForTopics(ctx context.Context) error {
	opts := append([]kgo.Opt{kgo.SeedBrokers(r.cfg.Brokers...), kgo.WithLogger(newKgoLogger(r.log))}, r.cfg.ClientOpts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	topics := []string{r.cfg.EventsTopic, r.cfg.InvitesTopic, r.cfg.DLQTopic}
	backoff := 250 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := checkTopics(ctx, adm, topics)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r.log.Warn("waiting for Kafka", "brokers", r.cfg.Brokers, "attempt", attempt, "retry_in", backoff, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

func checkTopics(ctx context.Context, adm *kadm.Client, topics []string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	td, err := adm.ListTopics(ctx, topics...)
	if err != nil {
		return fmt.Errorf("cannot reach the brokers: %w", err)
	}
	var missing []string
	for _, t := range topics {
		if !td.Has(t) {
			missing = append(missing, t)
		} else if err := td[t].Err; err != nil {
			return fmt.Errorf("topic %s: %w", t, err)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("topics %v do not exist: create them (see the README), or point --brokers at `linger broker`, which creates every topic", missing)
	}
	return nil
}

func (r *Runner) loop(ctx, pctx context.Context) error {
	for {
		fetches := r.cl.PollRecords(ctx, r.cfg.MaxPollRecords)
		if fetches.IsClientClosed() || ctx.Err() != nil {
			return nil
		}
		fetches.EachError(func(topic string, p int32, err error) {
			r.log.Warn("fetch error", "topic", topic, "partition", p, "err", err)
		})
		if err := r.process(pctx, fetches); err != nil {
			return err
		}
		r.cl.AllowRebalance()
	}
}

// process runs one poll: all partitions in parallel, then publish, then mark.
func (r *Runner) process(ctx context.Context, fetches kgo.Fetches) error {
	var wg sync.WaitGroup
	busy := r.busy[:0]
	records := 0
	fetches.EachPartition(func(p kgo.FetchTopicPartition) {
		if len(p.Records) == 0 {
			return
		}
		w := r.workers[p.Partition]
		if w == nil {
			// Assignment starts a worker before fetching, and the client
			// returns nothing of a partition once it is revoked or lost;
			// should that ever fail, leave the records unmarked for their
			// owner rather than process them here.
			r.log.Error("records for a partition this replica does not own; skipped, not committed", "partition", p.Partition)
			return
		}
		w.batch = p
		records += len(p.Records)
		wg.Add(1)
		w.in <- &wg
		busy = append(busy, w)
	})
	r.busy = busy
	if len(busy) == 0 {
		return nil
	}
	r.m.InFlight.Set(float64(records))
	wg.Wait()

	if err := r.publish(ctx, busy); err != nil {
		return err
	}
	for _, w := range busy {
		recs := w.batch.Records
		last := recs[len(recs)-1]
		r.cl.MarkCommitRecords(last)
		w.p.m.lag.Set(float64(max(0, w.batch.HighWatermark-last.Offset-1)))
		w.batch = kgo.FetchTopicPartition{}
	}
	r.m.InFlight.Set(0)
	return nil
}

// publish produces every decision and DLQ record of the poll and waits for
// the broker to acknowledge them all.
func (r *Runner) publish(ctx context.Context, busy []*worker) error {
	var (
		failed   atomic.Int64
		firstErr atomic.Pointer[error]
		pending  sync.WaitGroup
	)
	promise := func(rec *kgo.Record, err error) {
		defer pending.Done()
		if err != nil {
			failed.Add(1)
			firstErr.CompareAndSwap(nil, &err)
			r.m.ProduceErrors.WithLabelValues(rec.Topic).Inc()
		}
	}
	for _, w := range busy {
		out := w.out
		for i := range out.Decisions() {
			k, v := out.Decision(i)
			pending.Add(1)
			r.cl.Produce(ctx, &kgo.Record{Topic: r.cfg.InvitesTopic, Key: k, Value: v}, promise)
		}
		for _, rj := range out.Rejected() {
			pending.Add(1)
			r.cl.Produce(ctx, r.dlqRecord(w.p.partition, rj), promise)
		}
	}
	pending.Wait()
	if n := failed.Load(); n > 0 {
		return fmt.Errorf("%d records could not be published, so their offsets are not committed and they will be processed again on restart: %w", n, *firstErr.Load())
	}
	return nil
}

func (r *Runner) dlqRecord(partition int32, rj Rejected) *kgo.Record {
	return &kgo.Record{
		Topic: r.cfg.DLQTopic,
		Key:   rj.Key,
		Value: rj.Value,
		Headers: []kgo.RecordHeader{
			{Key: schemas.HeaderDLQReason, Value: []byte(rj.Problem.String())},
			{Key: schemas.HeaderDLQError, Value: []byte(rj.Detail)},
			{Key: schemas.HeaderSourceTopic, Value: []byte(r.cfg.EventsTopic)},
			{Key: schemas.HeaderSourcePartition, Value: strconv.AppendInt(nil, int64(partition), 10)},
			{Key: schemas.HeaderSourceOffset, Value: strconv.AppendInt(nil, rj.Offset, 10)},
		},
	}
}

func (r *Runner) onAssigned(_ context.Context, _ *kgo.Client, assigned map[string][]int32) {
	added := assigned[r.cfg.EventsTopic]
	for _, p := range added {
		if r.workers[p] != nil {
			continue
		}
		w := &worker{
			p:    NewProcessor(p, r.store.nextEpoch(), r.store, r.cfg.Scoring, r.cfg.Now, r.m),
			in:   make(chan *sync.WaitGroup, 1),
			done: make(chan struct{}),
		}
		go w.run()
		r.workers[p] = w
	}
	r.m.Rebalances.WithLabelValues("assigned").Inc()
	r.m.Partitions.Set(float64(len(r.workers)))
	r.setReady(true)
	r.log.Info("partitions assigned", "added", added, "owned", r.owned())
}

func (r *Runner) onRevoked(ctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
	// Everything processed is marked; commit it before another replica
	// takes the partitions over, so it does not repeat our decisions.
	if err := cl.CommitMarkedOffsets(ctx); err != nil {
		r.log.Warn("commit on revoke failed: the next owner will re-process from the last commit", "err", err)
	}
	r.m.Rebalances.WithLabelValues("revoked").Inc()
	r.drop(revoked[r.cfg.EventsTopic])
	if len(revoked[r.cfg.EventsTopic]) > 0 {
		r.log.Info("partitions revoked", "revoked", revoked[r.cfg.EventsTopic], "owned", r.owned())
	}
}

func (r *Runner) onLost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	// The client calls this on any fatal group error, also before a group
	// was ever joined; only a real loss is worth a rebalance count.
	r.setReady(false)
	if parts := lost[r.cfg.EventsTopic]; len(parts) > 0 {
		r.m.Rebalances.WithLabelValues("lost").Inc()
		r.drop(parts)
		r.log.Warn("partitions lost (group membership ended without a clean revoke); rejoining", "lost", parts)
	}
}

func (r *Runner) drop(parts []int32) {
	for _, p := range parts {
		if w := r.workers[p]; w != nil {
			w.stop()
			delete(r.workers, p)
			r.m.Lag.DeleteLabelValues(strconv.Itoa(int(p)))
		}
	}
	r.m.Partitions.Set(float64(len(r.workers)))
}

func (r *Runner) owned() []int32 {
	ps := make([]int32, 0, len(r.workers))
	for p := range r.workers {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	return ps
}

// shutdown commits what was processed and leaves the group, logging how long
// each step took.
func (r *Runner) shutdown() {
	r.setReady(false)
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.ShutdownTimeout)
	defer cancel()
	if err := r.cl.CommitMarkedOffsets(ctx); err != nil {
		r.log.Warn("final commit failed: records since the last commit will be processed again", "err", err)
	}
	committed := time.Since(start)
	// Leaving the group runs the revoke callback, which stops the workers.
	r.cl.CloseAllowingRebalance()
	r.drop(r.owned())
	r.log.Info("left the group", "commit", committed.Round(time.Millisecond), "total", time.Since(start).Round(time.Millisecond))
}

// statsLoop refreshes the cache gauges and the horizon estimate.
func (r *Runner) statsLoop(ctx context.Context) {
	const every = 2 * time.Second
	t := time.NewTicker(every)
	defer t.Stop()
	var (
		prev     = r.store.Stats()
		prevAt   = time.Now()
		rate     float64 // bytes written per second, smoothed over a minute
		evicted  uint64
		rateInit bool
	)
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			st := r.store.Stats()
			r.m.CacheEntries.Set(float64(st.Entries))
			r.m.CacheBytes.Set(float64(st.Bytes))
			r.m.StateWritten.Add(float64(st.BytesWritten - prev.BytesWritten))
			if st.Evictions > evicted {
				r.m.CacheEvictions.Add(float64(st.Evictions - evicted))
				evicted = st.Evictions
			}
			dt := now.Sub(prevAt).Seconds()
			cur := float64(st.BytesWritten-prev.BytesWritten) / dt
			if !rateInit {
				rate, rateInit = cur, true
			} else {
				alpha := 1 - math.Exp(-dt/60)
				rate += alpha * (cur - rate)
			}
			horizon := math.Inf(1)
			if rate > 0 {
				horizon = float64(st.MaxBytes) / rate
			}
			r.m.CacheHorizon.Set(horizon)
			prev, prevAt = st, now
		}
	}
}
