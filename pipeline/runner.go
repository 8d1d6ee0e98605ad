package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lingerhq/linger/schemas"
	"github.com/lingerhq/linger/scoring"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Runner is one linger replica: a member of the consumer group that
// processes its partitions of the events topic.
//
// Each poll is one cycle: every partition's records go to that partition's
// worker, all workers run in parallel (idle partitions fire the timers the
// wall clock made due), then the decisions, DLQ records and state changes
// they produced are published. With ExactlyOnce, publishing and the offset
// commit are one Kafka transaction; with AtLeastOnce, offsets are marked for
// commit only once the broker acknowledged everything. Only then does each
// worker Commit its batch to the cache; a failed or aborted cycle Aborts
// instead, and its records are processed again. Rebalances are held back
// while a cycle is in flight (BlockRebalanceOnPoll), and a partition's state
// is restored from the changelog before its first record is processed.
type Runner struct {
	cfg   Config
	log   *slog.Logger
	m     *Metrics
	store *Store

	cl   *kgo.Client
	sess *kgo.GroupTransactSession // ExactlyOnce only
	adm  *kadm.Client              // the admin client of waitForTopics

	// opts are the options every client starts with: the seed brokers,
	// the logger, TLS and SASL. Then come each client's own, then
	// cfg.ClientOpts.
	opts []kgo.Opt

	// workers is touched only by the poll loop and the group callbacks,
	// which BlockRebalanceOnPoll runs one at a time.
	workers map[int32]*worker
	busy    []*worker

	ready  atomic.Bool
	failed atomic.Pointer[error]
	// reload holds a scoring config waiting to be taken up between cycles.
	reload atomic.Pointer[scoring.Config]

	// tables are the broadcast tables (chat capacity, visitor caps) every
	// partition's engine shares; partitions is the events topic's count.
	tables     *tables
	partitions int
	feedback   bool // the feedback topic is consumed with the events

	// revoked is set by the revoke callback of a transactional session,
	// and pollCancel ends the poll in flight, so that the loop ends the
	// session's transaction state before the next rebalance: see loop.
	revoked    atomic.Bool
	pollCancel atomic.Pointer[context.CancelFunc]
}

// worker owns one partition's Processor and runs its jobs on its own
// goroutine, so partitions are processed in parallel and each in order.
type worker struct {
	p    *Processor
	in   chan job
	done chan struct{}

	batch    kgo.FetchTopicPartition
	feedback kgo.FetchTopicPartition // of the feedback topic, applied first
	out      *Output
}

type jobKind uint8

const (
	jobProcess jobKind = iota // the batch's records, then a Tick
	jobCommit
	jobAbort
)

type job struct {
	kind jobKind
	wg   *sync.WaitGroup
}

func (w *worker) run() {
	defer close(w.done)
	for j := range w.in {
		switch j.kind {
		case jobProcess:
			w.p.Begin()
			for _, rec := range w.feedback.Records {
				w.p.Feedback(rec.Key, rec.Value, rec.Offset)
			}
			for _, rec := range w.batch.Records {
				w.p.Process(rec.Key, rec.Value, rec.Offset)
			}
			w.p.Tick()
			w.out = w.p.End()
		case jobCommit:
			w.p.Commit()
		case jobAbort:
			w.p.Abort()
		}
		j.wg.Done()
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
	sec, err := cfg.Security.Opts()
	if err != nil {
		return nil, err
	}
	r := &Runner{
		cfg:     cfg,
		log:     cfg.Logger,
		m:       cfg.Metrics,
		store:   NewStore(cfg.CacheBytes),
		workers: make(map[int32]*worker),
		opts:    append([]kgo.Opt{kgo.SeedBrokers(cfg.Brokers...), kgo.WithLogger(newKgoLogger(cfg.Logger))}, sec...),
	}
	r.tables = newTables(r.m, r.log)
	// The topics this replica produces to, at zero from the start.
	for _, t := range []string{cfg.InvitesTopic, cfg.DLQTopic, cfg.StateTopic, cfg.VisitorsTopic, cfg.PassthroughTopic} {
		if t != "" {
			r.m.ProduceErrors.WithLabelValues(t)
		}
	}
	r.m.CacheMaxBytes.Set(float64(r.store.Stats().MaxBytes))
	r.m.SessionTimeout.Set(cfg.Scoring.LongestSessionTimeout().Seconds())
	return r, nil
}

// Ready reports whether the group is joined and every assigned partition is
// served, its state restored (a replica with no partitions is ready too).
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
// ctx is done, then shuts down gracefully: it finishes the cycle in flight,
// publishes and commits it, and leaves the group, within the shutdown
// timeout. It returns nil after a clean shutdown.
func (r *Runner) Run(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			r.failed.Store(&err)
		}
	}()
	admin, err := r.waitForTopics(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer admin.Close()
	r.adm = kadm.NewClient(admin)

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

	if r.cfg.PassthroughTopic == "" {
		tablesCtx, stopTables := context.WithCancel(context.Background())
		tablesDone := make(chan struct{})
		go func() {
			defer close(tablesDone)
			if err := r.tables.read(tablesCtx, r.adm, r.opts, r.cfg.CapacityTopic, r.cfg.VisitorsTopic); err != nil {
				r.log.Warn("cannot read the broadcast tables (chat capacity, visitor caps): static budgets, no cap across replicas", "err", err)
			}
		}()
		defer func() {
			stopTables()
			<-tablesDone
		}()
		// Decisions use the chat teams' capacity as of their event time:
		// read what the topics hold before the first event.
		select {
		case <-r.tables.loaded:
		case <-ctx.Done():
			return nil
		case <-time.After(r.cfg.TablesLoadTimeout):
			r.log.Warn("the broadcast tables are not loaded yet; going on, decisions meanwhile may miss capacity records and visitor caps", "waited", r.cfg.TablesLoadTimeout)
		}
	}

	// Publishing outlives ctx by the shutdown timeout, so a cycle that is
	// in flight when the signal comes still completes.
	pctx, cancelPublish := context.WithCancel(context.Background())
	defer cancelPublish()
	stopTimer := context.AfterFunc(ctx, func() { time.AfterFunc(r.cfg.ShutdownTimeout, cancelPublish) })
	defer stopTimer()

	backoff := time.Second
	for {
		start := time.Now()
		err := r.session(ctx, pctx)
		if err != nil && ctx.Err() != nil && pctx.Err() != nil {
			return fmt.Errorf("the shutdown timeout (%v) passed before the last batch was published and committed; it was not, and the partitions' next owner processes it again: %w", r.cfg.ShutdownTimeout, err)
		}
		if err == nil || ctx.Err() != nil || !isRetryable(err) {
			return err
		}
		// The client is unusable (a fenced transactional producer, a
		// transaction that could not be ended): a new one rejoins the
		// group, and its partitions are restored from the changelog.
		if time.Since(start) > time.Minute {
			backoff = time.Second
		}
		r.m.ClientRestarts.Inc()
		r.log.Warn("the Kafka client failed; starting a new one", "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// session runs one Kafka client: it joins the group, processes until ctx is
// done or an error, then leaves the group.
func (r *Runner) session(ctx, pctx context.Context) error {
	var err error
	if r.cfg.Guarantee == ExactlyOnce {
		r.sess, err = kgo.NewGroupTransactSession(r.clientOpts()...)
		if err == nil {
			r.cl = r.sess.Client()
		}
	} else {
		r.cl, err = kgo.NewClient(r.clientOpts()...)
	}
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	r.log.Info("joining consumer group", "group", r.cfg.Group, "topic", r.cfg.EventsTopic,
		"guarantee", r.cfg.Guarantee, "brokers", r.cfg.Brokers)
	err = r.loop(ctx, pctx)
	r.shutdown()
	return err
}

// isRetryable reports whether a new Kafka client could get past err: not
// for problems of configuration or permissions, which only an operator can
// fix, nor for records the broker will never accept.
func isRetryable(err error) bool {
	for _, fatal := range []error{
		kerr.TopicAuthorizationFailed, kerr.GroupAuthorizationFailed, kerr.ClusterAuthorizationFailed,
		kerr.TransactionalIDAuthorizationFailed, kerr.SaslAuthenticationFailed,
		kerr.MessageTooLarge, kerr.RecordListTooLarge, kerr.InvalidRecord, kerr.InvalidTopicException,
	} {
		if errors.Is(err, fatal) {
			return false
		}
	}
	var fe fatalError
	return !errors.As(err, &fe)
}

// withOpts returns the options of a client: the runner's, the client's
// own, then cfg.ClientOpts.
func (r *Runner) withOpts(own ...kgo.Opt) []kgo.Opt {
	opts := append(slices.Clip(r.opts), own...)
	return append(opts, r.cfg.ClientOpts...)
}

// consumed are the topics the group consumes: the events, and the
// feedback when there is a feedback topic to go with them.
func (r *Runner) consumed() []string {
	if r.feedback {
		return []string{r.cfg.EventsTopic, r.cfg.FeedbackTopic}
	}
	return []string{r.cfg.EventsTopic}
}

func (r *Runner) clientOpts() []kgo.Opt {
	opts := []kgo.Opt{
		kgo.ClientID("linger"),
		kgo.ConsumerGroup(r.cfg.Group),
		kgo.ConsumeTopics(r.consumed()...),
		kgo.Balancers(coPartitioned{GroupBalancer: kgo.CooperativeStickyBalancer(), lead: r.cfg.EventsTopic, follow: r.cfg.FeedbackTopic}),
		kgo.SessionTimeout(r.cfg.SessionTimeout),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(r.onAssigned),
		kgo.OnPartitionsRevoked(r.onRevoked),
		kgo.OnPartitionsLost(r.onLost),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		// Decisions are latency-sensitive and few: send them at once.
		kgo.ProducerLinger(0),
		kgo.RecordPartitioner(changelogPartitioner{state: r.cfg.StateTopic, other: kgo.StickyKeyPartitioner(nil)}),
	}
	if r.cfg.Guarantee == ExactlyOnce {
		opts = append(opts,
			kgo.TransactionalID("linger-"+r.cfg.Group+"-"+r.cfg.InstanceID),
			// A killed replica's open transaction holds read_committed
			// consumers back until it times out: no longer than the
			// group takes to notice the replica is gone.
			kgo.TransactionTimeout(r.cfg.SessionTimeout),
		)
	} else {
		opts = append(opts, kgo.AutoCommitMarks(), kgo.AutoCommitInterval(time.Second))
	}
	return r.withOpts(opts...)
}

// changelogPartitioner writes state records to the partition number of the
// event that changed them (set on the record), not by hashing the key: a
// restore then finds every session of a partition in the same partition of
// the changelog, whatever partitioner the event producers used. Other
// topics are partitioned by key, as Java and franz-go clients do.
type changelogPartitioner struct {
	state string
	other kgo.Partitioner
}

func (p changelogPartitioner) ForTopic(topic string) kgo.TopicPartitioner {
	if topic == p.state {
		return kgo.ManualPartitioner().ForTopic(topic)
	}
	return p.other.ForTopic(topic)
}

// waitForTopics retries, with backoff and a log line each time, until the
// brokers answer and the topics exist, creating the state changelog if it
// is missing: a broker that is down at start is a wait, not a crash loop.
// Credentials or certificates the brokers reject are not worth a wait: it
// returns ErrAuthentication or ErrTLS at once. It returns the admin client
// it used, for restores.
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
	backoff := 250 * time.Millisecond
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
		r.log.Warn("waiting for Kafka", "brokers", r.cfg.Brokers, "attempt", attempt, "retry_in", backoff, "err", err)
		select {
		case <-ctx.Done():
			cl.Close()
			return nil, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// fatalError is a startup problem that waiting does not fix.
type fatalError struct{ error }

func (r *Runner) checkTopics(ctx context.Context, adm *kadm.Client) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	topics := []string{r.cfg.EventsTopic, r.cfg.InvitesTopic, r.cfg.DLQTopic, r.cfg.StateTopic, r.cfg.VisitorsTopic, r.cfg.FeedbackTopic}
	if r.cfg.PassthroughTopic != "" {
		topics = append(topics, r.cfg.PassthroughTopic)
	}
	td, err := adm.ListTopics(ctx, topics...)
	if err != nil {
		return fmt.Errorf("cannot reach the brokers: %w", err)
	}
	var missing []string
	for _, t := range topics[:3] {
		if !td.Has(t) {
			missing = append(missing, t)
		} else if err := td[t].Err; err != nil {
			return fmt.Errorf("topic %s: %w", t, err)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("topics %v do not exist: create them (see the README), or point --brokers at `linger broker`, which creates every topic", missing)
	}
	events := len(td[r.cfg.EventsTopic].Partitions)
	r.partitions = events
	created := false
	if !td.Has(r.cfg.StateTopic) {
		if err := createTopic(ctx, adm, r.cfg.StateTopic, events, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}); err != nil {
			return err
		}
		r.log.Info("created the state changelog", "topic", r.cfg.StateTopic, "partitions", events)
		created = true
	}
	r.feedback = false
	if t := r.cfg.FeedbackTopic; r.cfg.PassthroughTopic == "" && td.Has(t) && td[t].Err == nil {
		if n := len(td[t].Partitions); n == events {
			r.feedback = true
		} else {
			r.log.Warn("the feedback topic's partition count differs from the events topic's; going on without feedback", "topic", t, "partitions", n, "events_partitions", events)
		}
	} else if r.cfg.PassthroughTopic == "" {
		r.log.Info("no feedback topic; going on without feedback", "topic", t)
	}
	if t := r.cfg.VisitorsTopic; !td.Has(t) && r.cfg.PassthroughTopic == "" {
		// Compacted, and deleted after the longest cap window would be
		// better still; compaction alone keeps one record per visitor.
		if err := createTopic(ctx, adm, t, events, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}); err != nil {
			return err
		}
		r.log.Info("created the visitors topic", "topic", t, "partitions", events)
	}
	if t := r.cfg.PassthroughTopic; t != "" && !td.Has(t) {
		if err := createTopic(ctx, adm, t, events, nil); err != nil {
			return err
		}
		r.log.Info("created the passthrough topic", "topic", t, "partitions", events)
		created = true
	}
	if created {
		return nil // made here with the events topic's partition count
	}
	if n := len(td[r.cfg.StateTopic].Partitions); n != events {
		return fatalError{fmt.Errorf("the state changelog %s has %d partitions and the events topic %s has %d: they must match, because a session's state lives in the partition number of its events", r.cfg.StateTopic, n, r.cfg.EventsTopic, events)}
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

func (r *Runner) poll(ctx context.Context) kgo.Fetches {
	// A poll returns at least every Tick, so idle partitions fire timers.
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Tick)
	defer cancel()
	if r.sess != nil {
		r.pollCancel.Store(&cancel)
		defer r.pollCancel.Store(nil)
		return r.sess.PollRecords(ctx, r.cfg.MaxPollRecords)
	}
	return r.cl.PollRecords(ctx, r.cfg.MaxPollRecords)
}

func (r *Runner) allowRebalance() {
	if r.sess != nil {
		r.sess.AllowRebalance()
	} else {
		r.cl.AllowRebalance()
	}
}

func (r *Runner) loop(ctx, pctx context.Context) error {
	for {
		fetches := r.poll(ctx)
		if fetches.IsClientClosed() || ctx.Err() != nil {
			return nil
		}
		fetches.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				r.log.Warn("fetch error", "topic", topic, "partition", p, "err", err)
			}
		})
		if r.revoked.Swap(false) && fetches.NumRecords() == 0 {
			// franz-go's transactional session calls our revoke callback
			// once, then ignores revokes until its next End: an idle
			// replica would keep the workers (and fire the timers) of
			// partitions it gave up in a second rebalance. End resets
			// it; no transaction is open, so it only rewinds to the
			// committed offsets, which an idle replica has reached. (A
			// poll with records publishes a transaction, which ends it.)
			// The callback cancelled the poll, so this runs before the
			// next rebalance's callbacks: the poll's return blocks them.
			if _, err := r.sess.End(pctx, kgo.TryAbort); err != nil {
				return fmt.Errorf("end the transaction session after a revoke: %w", err)
			}
		}
		if err := r.cycle(pctx, fetches); err != nil {
			return err
		}
		r.allowRebalance()
	}
}

// SetScoring swaps the scoring config: the workers take it up between
// batches (between events, never within one), and partitions assigned later
// start with it. Decisions then carry the new config's model name.
func (r *Runner) SetScoring(cfg *scoring.Config) { r.reload.Store(cfg) }

// cycle processes one poll: all partitions in parallel, then publishes
// their output, then commits or aborts every worker's batch.
func (r *Runner) cycle(ctx context.Context, fetches kgo.Fetches) error {
	if r.cfg.PassthroughTopic != "" {
		return r.passthrough(ctx, fetches)
	}
	if cfg := r.reload.Swap(nil); cfg != nil {
		// The workers are idle between cycles: the channel sends of the
		// next jobs order this before their use.
		r.cfg.Scoring = cfg
		r.m.SessionTimeout.Set(cfg.LongestSessionTimeout().Seconds())
		for _, w := range r.workers {
			w.p.SetConfig(cfg)
		}
	}
	for _, w := range r.workers {
		w.batch, w.feedback = kgo.FetchTopicPartition{}, kgo.FetchTopicPartition{}
	}
	records := 0
	fetches.EachPartition(func(p kgo.FetchTopicPartition) {
		if len(p.Records) == 0 {
			return
		}
		w := r.workers[p.Partition]
		if p.Topic == r.cfg.FeedbackTopic && w != nil {
			w.feedback = p
			records += len(p.Records)
			return
		}
		if w == nil {
			// Assignment starts a worker before fetching, and the client
			// returns nothing of a partition once it is revoked or lost;
			// should that ever fail, leave the records for their owner.
			r.log.Error("records for a partition this replica does not own; skipped, not committed", "partition", p.Partition)
			return
		}
		w.batch = p
		records += len(p.Records)
	})
	// Every worker runs: those without records may have timers due.
	busy := r.busy[:0]
	for _, w := range r.workers {
		if len(w.batch.Records) > 0 && w.batch.Topic == r.cfg.EventsTopic {
			last := w.batch.Records[len(w.batch.Records)-1]
			w.p.SetCaughtUp(w.batch.HighWatermark <= last.Offset+1)
		}
		busy = append(busy, w)
	}
	r.busy = busy
	if len(busy) == 0 {
		return nil
	}
	r.m.InFlight.Set(float64(records))
	defer r.m.InFlight.Set(0)
	r.run(busy, jobProcess)

	empty := true
	for _, w := range busy {
		empty = empty && w.out.Empty()
	}
	if empty && records == 0 {
		r.run(busy, jobCommit) // nothing to publish: the (empty) batch stands
		return nil
	}

	var err error
	committed := false
	if r.sess != nil {
		committed, err = r.publishTransaction(ctx, r.workerOutputs(busy))
	} else {
		err = r.publish(ctx, r.workerOutputs(busy))
		committed = err == nil
	}
	if !committed {
		r.run(busy, jobAbort)
		r.m.Transactions.WithLabelValues("aborted").Inc()
		return err
	}
	r.run(busy, jobCommit)
	r.m.Transactions.WithLabelValues("committed").Inc()
	for _, w := range busy {
		if recs := w.batch.Records; len(recs) > 0 {
			last := recs[len(recs)-1]
			if r.sess == nil {
				r.cl.MarkCommitRecords(last)
			}
			w.p.m.lag.Set(float64(max(0, w.batch.HighWatermark-last.Offset-1)))
		}
		if recs := w.feedback.Records; len(recs) > 0 && r.sess == nil {
			r.cl.MarkCommitRecords(recs[len(recs)-1])
		}
	}
	return nil
}

// passthrough copies every fetched record to the passthrough topic with
// the same client, batching and guarantee as a scoring cycle, and commits
// them the same way: what is left is the cost of the transport, the
// yardstick `linger bench --mode passthrough` measures linger against.
func (r *Runner) passthrough(ctx context.Context, fetches kgo.Fetches) error {
	n := fetches.NumRecords()
	if n == 0 {
		return nil
	}
	copies := func(send func(*kgo.Record)) {
		fetches.EachRecord(func(rec *kgo.Record) {
			send(&kgo.Record{Topic: r.cfg.PassthroughTopic, Key: rec.Key, Value: rec.Value})
		})
	}
	r.m.InFlight.Set(float64(n))
	defer r.m.InFlight.Set(0)
	if r.sess != nil {
		committed, err := r.publishTransaction(ctx, copies)
		if committed {
			r.m.Passthrough.Add(float64(n))
			r.markPassed(fetches, false)
		}
		return err
	}
	if err := r.publish(ctx, copies); err != nil {
		return err
	}
	r.m.Passthrough.Add(float64(n))
	r.markPassed(fetches, true)
	return nil
}

// markPassed sets the lag of the partitions a passthrough cycle copied,
// and marks their records for the next autocommit if mark is set.
func (r *Runner) markPassed(fetches kgo.Fetches, mark bool) {
	fetches.EachPartition(func(p kgo.FetchTopicPartition) {
		if len(p.Records) == 0 {
			return
		}
		last := p.Records[len(p.Records)-1]
		if mark {
			r.cl.MarkCommitRecords(last)
		}
		if w := r.workers[p.Partition]; w != nil {
			w.p.m.lag.Set(float64(max(0, p.HighWatermark-last.Offset-1)))
		}
	})
}

// run gives every worker in ws the same job and waits for all of them.
func (r *Runner) run(ws []*worker, kind jobKind) {
	var wg sync.WaitGroup
	wg.Add(len(ws))
	for _, w := range ws {
		w.in <- job{kind: kind, wg: &wg}
	}
	wg.Wait()
}

// outputs calls send for every record a cycle publishes.
type outputs func(send func(*kgo.Record))

// workerOutputs are the workers' decisions, rejects and state records.
func (r *Runner) workerOutputs(busy []*worker) outputs {
	return func(send func(*kgo.Record)) {
		states := 0
		for _, w := range busy {
			out := w.out
			for i := range out.Decisions() {
				k, v := out.Decision(i)
				send(&kgo.Record{Topic: r.cfg.InvitesTopic, Key: k, Value: v})
			}
			for _, rj := range out.Rejected() {
				send(r.dlqRecord(w.p.partition, rj))
			}
			for i := range out.StateRecords() {
				k, v := out.StateRecord(i)
				send(&kgo.Record{Topic: r.cfg.StateTopic, Partition: w.p.partition, Key: k, Value: v})
			}
			for i := range out.VisitorRecords() {
				k, v := out.VisitorRecord(i)
				send(&kgo.Record{Topic: r.cfg.VisitorsTopic, Key: k, Value: v})
			}
			states += out.StateRecords()
		}
		r.m.StateRecords.Add(float64(states))
	}
}

// produceAll hands every record of out to the client and returns a wait
// for their acknowledgements.
func (r *Runner) produceAll(ctx context.Context, out outputs, produce func(context.Context, *kgo.Record, func(*kgo.Record, error))) func() error {
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
	out(func(rec *kgo.Record) {
		pending.Add(1)
		produce(ctx, rec, promise)
	})
	return func() error {
		pending.Wait()
		if n := failed.Load(); n > 0 {
			return fmt.Errorf("%d records could not be published: %w", n, *firstErr.Load())
		}
		return nil
	}
}

// publish (AtLeastOnce) produces the cycle's output and waits for the
// broker to acknowledge all of it.
func (r *Runner) publish(ctx context.Context, out outputs) error {
	if err := r.produceAll(ctx, out, r.cl.Produce)(); err != nil {
		return fmt.Errorf("%w; their offsets are not committed, so they will be processed again on restart", err)
	}
	return nil
}

// publishTransaction (ExactlyOnce) produces the cycle's output and commits
// it with the consumed offsets in one transaction. It reports whether the
// transaction committed; an aborted one (a rebalance, a failed request) is
// not an error: the client rewinds to the committed offsets and the records
// come again. An error is fatal.
func (r *Runner) publishTransaction(ctx context.Context, out outputs) (bool, error) {
	if err := r.sess.Begin(); err != nil {
		return false, fmt.Errorf("begin transaction: %w", err)
	}
	wait := r.produceAll(ctx, out, r.sess.Produce)
	// A record the broker refused after the client's retries would be
	// lost by a committed transaction: wait for every record, and abort if
	// one failed. The aborted batch is processed again, like one a
	// rebalance aborted; only a failure to abort is fatal.
	if err := r.cl.Flush(ctx); err != nil {
		return false, fmt.Errorf("flush: %w", err)
	}
	if perr := wait(); perr != nil {
		if _, err := r.sess.End(ctx, kgo.TryAbort); err != nil {
			return false, fmt.Errorf("%w; aborting the transaction failed too: %w", perr, err)
		}
		if !isRetryable(perr) {
			return false, fmt.Errorf("%w; the transaction is aborted, so they will be processed again on restart", perr)
		}
		r.log.Warn("records refused; transaction aborted, its records will be processed again", "err", perr)
		return false, nil
	}
	committed, err := r.sess.End(ctx, kgo.TryCommit)
	if err != nil {
		return false, fmt.Errorf("end transaction: %w", err)
	}
	if !committed {
		r.log.Info("transaction aborted; its records will be processed again")
	}
	return committed, nil
}

func (r *Runner) dlqRecord(partition int32, rj Rejected) *kgo.Record {
	source := r.cfg.EventsTopic
	if rj.Feedback {
		source = r.cfg.FeedbackTopic
	}
	return &kgo.Record{
		Topic: r.cfg.DLQTopic,
		Key:   rj.Key,
		Value: rj.Value,
		Headers: []kgo.RecordHeader{
			{Key: schemas.HeaderDLQReason, Value: []byte(rj.Problem.String())},
			{Key: schemas.HeaderDLQError, Value: []byte(rj.Detail)},
			{Key: schemas.HeaderSourceTopic, Value: []byte(source)},
			{Key: schemas.HeaderSourcePartition, Value: strconv.AppendInt(nil, int64(partition), 10)},
			{Key: schemas.HeaderSourceOffset, Value: strconv.AppendInt(nil, rj.Offset, 10)},
		},
	}
}

// onAssigned restores the new partitions' state from the changelog, in
// parallel, before their first record is fetched; the replica is not ready
// meanwhile.
func (r *Runner) onAssigned(ctx context.Context, _ *kgo.Client, assigned map[string][]int32) {
	var added []int32
	for _, p := range assigned[r.cfg.EventsTopic] {
		if r.workers[p] != nil {
			// The client reports only partitions new to this replica: a
			// worker still here was revoked without our being told (see
			// loop), and another replica may have changed its sessions
			// since. Start again from the changelog.
			r.log.Warn("assigned a partition this replica still held; restoring it again", "partition", p)
			r.drop([]int32{p})
		}
		added = append(added, p)
	}
	r.m.Rebalances.WithLabelValues("assigned").Inc()
	if len(added) > 0 {
		r.setReady(false)
		r.m.Restoring.Add(float64(len(added)))
		caughtUp := r.caughtUp(ctx, added)
		var wg sync.WaitGroup
		var mu sync.Mutex
		for _, p := range added {
			proc := r.newProcessor(p)
			wg.Add(1)
			go func() {
				defer wg.Done()
				start := time.Now()
				r.restoreUntilDone(ctx, proc)
				took := time.Since(start)
				r.m.RestoreTime.Observe(took.Seconds())
				r.m.Restoring.Dec()
				r.log.Info("partition restored", "partition", p, "records", proc.Restored(), "took", took.Round(time.Millisecond))
				proc.SetCaughtUp(caughtUp[p])
				w := &worker{p: proc, in: make(chan job, 1), done: make(chan struct{})}
				go w.run()
				mu.Lock()
				r.workers[p] = w
				mu.Unlock()
			}()
		}
		wg.Wait()
	}
	r.m.Partitions.Set(float64(len(r.workers)))
	r.setReady(true)
	if len(added) > 0 {
		r.log.Info("partitions gained", "gained", added, "owned", r.owned())
	}
}

// newProcessor returns a processor for a partition this replica was just
// assigned, under a fresh key prefix.
func (r *Runner) newProcessor(partition int32) *Processor {
	return NewProcessor(partition, ProcessorConfig{
		Epoch: r.store.nextEpoch(), Store: r.store, Scoring: r.cfg.Scoring, Now: r.cfg.Now,
		Metrics: r.m, WallClockAdvance: !r.cfg.EventTimeOnly,
		Partitions: r.partitions, Capacity: r.tables.capacity, Visitors: r.tables.visitors,
	})
}

// caughtUp reports, per partition, whether the group's committed offset is
// at the end of the events topic: such a partition's watermark may follow
// the wall clock from the start.
func (r *Runner) caughtUp(ctx context.Context, parts []int32) map[int32]bool {
	out := map[int32]bool{}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ends, err := r.adm.ListEndOffsets(ctx, r.cfg.EventsTopic)
	if err != nil {
		return out
	}
	committed, err := r.adm.FetchOffsets(ctx, r.cfg.Group)
	if err != nil {
		return out
	}
	for _, p := range parts {
		end, ok := ends.Lookup(r.cfg.EventsTopic, p)
		if !ok {
			continue
		}
		at := int64(0)
		if c, ok := committed.Lookup(r.cfg.EventsTopic, p); ok {
			at = c.At
		}
		out[p] = at >= end.Offset
	}
	return out
}

// restoreUntilDone restores a partition, retrying with backoff: a partition
// cannot be served without its state.
func (r *Runner) restoreUntilDone(ctx context.Context, p *Processor) {
	backoff := 250 * time.Millisecond
	for {
		err := r.restore(ctx, p)
		if err == nil || ctx.Err() != nil {
			return
		}
		r.log.Warn("restore failed; retrying", "partition", p.Partition(), "retry_in", backoff, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
		// Start over: the restore may have stopped half way.
		p.Close()
		*p = *r.newProcessor(p.partition)
	}
}

// restore reads the partition's changelog, read committed, from its start
// to its last stable offset as of now, into p.
func (r *Runner) restore(ctx context.Context, p *Processor) error {
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	starts, err := r.adm.ListStartOffsets(lctx, r.cfg.StateTopic)
	if err != nil {
		return err
	}
	ends, err := r.adm.ListCommittedOffsets(lctx, r.cfg.StateTopic)
	if err != nil {
		return err
	}
	start, ok1 := starts.Lookup(r.cfg.StateTopic, p.partition)
	end, ok2 := ends.Lookup(r.cfg.StateTopic, p.partition)
	if !ok1 || !ok2 || start.Err != nil || end.Err != nil {
		return fmt.Errorf("offsets of %s/%d unavailable", r.cfg.StateTopic, p.partition)
	}
	if start.Offset < end.Offset {
		cl, err := kgo.NewClient(r.withOpts(
			kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{r.cfg.StateTopic: {p.partition: kgo.NewOffset().At(start.Offset)}}),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()),
			// Control records (transaction markers) take offsets too: with
			// them, the restore sees its way to the end offset.
			kgo.KeepControlRecords(),
			kgo.FetchMaxBytes(64<<20),
			kgo.FetchMaxPartitionBytes(32<<20),
		)...)
		if err != nil {
			return err
		}
		defer cl.Close()
		next := start.Offset
		for next < end.Offset {
			fs := cl.PollFetches(ctx)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err := fs.Err(); err != nil {
				return err
			}
			var rerr error
			fs.EachRecord(func(rec *kgo.Record) {
				if rec.Offset >= end.Offset || rerr != nil {
					return
				}
				next = rec.Offset + 1
				if rec.Attrs.IsControl() {
					return
				}
				r.m.RestoreRecord.Inc()
				rerr = p.Restore(rec.Key, rec.Value)
			})
			if rerr != nil {
				return rerr
			}
		}
	}
	p.FinishRestore()
	return nil
}

func (r *Runner) onRevoked(ctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
	if r.sess == nil {
		// Everything processed is marked; commit it before another
		// replica takes the partitions over, so it does not repeat our
		// decisions. (With transactions, every cycle committed already.)
		if err := cl.CommitMarkedOffsets(ctx); err != nil {
			r.log.Warn("commit on revoke failed: the next owner will re-process from the last commit", "err", err)
		}
	}
	r.m.Rebalances.WithLabelValues("revoked").Inc()
	if r.sess != nil && len(revoked[r.cfg.EventsTopic]) > 0 {
		r.revoked.Store(true)
		if cancel := r.pollCancel.Load(); cancel != nil {
			(*cancel)()
		}
	}
	r.drop(revoked[r.cfg.EventsTopic])
	if len(revoked[r.cfg.EventsTopic]) > 0 {
		r.log.Info("partitions lost to a rebalance", "lost", revoked[r.cfg.EventsTopic], "owned", r.owned())
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

// shutdown commits what was processed (at-least-once) and leaves the group,
// logging how long each step took.
func (r *Runner) shutdown() {
	r.setReady(false)
	start := time.Now()
	if r.sess == nil {
		ctx, cancel := context.WithTimeout(context.Background(), r.cfg.ShutdownTimeout)
		if err := r.cl.CommitMarkedOffsets(ctx); err != nil {
			r.log.Warn("final commit failed: records since the last commit will be processed again", "err", err)
		}
		cancel()
	}
	committed := time.Since(start)
	// Leaving the group runs the revoke callback, which stops the workers.
	r.cl.CloseAllowingRebalance()
	r.drop(r.owned())
	r.log.Info("left the group", "commit", committed.Round(time.Millisecond), "total", time.Since(start).Round(time.Millisecond))
}

// statsLoop refreshes the cache gauges, the horizon estimate and the
// watermark delays.
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
			r.m.VisitorsCapped.Set(float64(r.tables.visitors.Len()))
			r.m.VisitorsDropped.Set(float64(r.tables.visitors.Dropped()))
			r.m.CapacityKeys.Set(float64(r.tables.capacity.Stats().Keys))
			r.m.CacheEntries.Set(float64(st.Entries))
			r.m.CacheBytes.Set(float64(st.Bytes))
			r.m.TimerEntries.Set(float64(r.store.Timers()))
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
