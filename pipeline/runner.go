package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lingerhq/linger/pipeline/partition"
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
	m     *metrics
	store *partition.Store

	cl   *kgo.Client
	sess *kgo.GroupTransactSession // ExactlyOnce only
	adm  *kadm.Client              // the admin client of waitForTopics

	// opts are the options every client starts with: the seed brokers,
	// the logger, TLS and SASL. Then come each client's own, then
	// cfg.ClientOpts.
	opts []kgo.Opt

	// workers is touched only by the poll loop and the group callbacks,
	// which BlockRebalanceOnPoll runs one at a time, and by shutdown once
	// the client has left the group or its callbacks are abandoned.
	workers map[int32]*worker
	busy    []*worker // the workers of this poll
	members []*worker // the workers of the open span

	ready  atomic.Bool
	failed atomic.Pointer[error]
	// reload holds a scoring config waiting to be taken up between cycles.
	reload atomic.Pointer[scoring.Config]

	// topics are the topics the replica reads and writes (Config's
	// topicSpecs); cycle processes one poll: scoring, or the passthrough
	// copy of `linger bench --mode passthrough`. Both are chosen once, in
	// NewRunner.
	topics []topicSpec
	cycle  func(ctx context.Context, fetches kgo.Fetches) error

	// tables are the broadcast tables (chat capacity, visitor caps) every
	// partition's engine shares, read from their topics if readTables (not
	// by the passthrough); partitions is the events topic's count.
	tables     *tables
	readTables bool
	dlq        *dlqWriter // sizes DLQ records; the poll loop's

	// span is the work since the last commit, producer its records in
	// flight: the poll loop's. rebalanceWaiting is set when a rebalance
	// waits for the loop (BlockRebalanceOnPoll), which ends the span.
	span             span
	producer         producer
	rebalanceWaiting atomic.Bool
	partitions       int
	feedback         bool // the feedback topic is consumed with the events

	// revoked is set by the revoke callback of a transactional session,
	// and pollCancel ends the poll in flight, so that the loop ends the
	// session's transaction state before the next rebalance: see loop.
	revoked    atomic.Bool
	pollCancel atomic.Pointer[context.CancelFunc]

	// callbacks guards the group callbacks of the current client, which
	// shutdown may abandon while it still waits to leave the group.
	callbacks *callbackGuard
	// leaving counts the clients still leaving the group, shutdown's
	// wait for them given up or not: a test waits for them to end.
	leaving sync.WaitGroup
}

// NewRunner checks cfg and returns a runner; nothing connects until Run.
func NewRunner(cfg Config) (*Runner, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Registerer == nil {
		cfg.Registerer = prometheus.NewRegistry()
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	sec, err := cfg.Security.Opts()
	if err != nil {
		return nil, err
	}
	r := &Runner{
		cfg:     cfg,
		log:     cfg.Logger,
		m:       m,
		store:   partition.NewStore(cfg.CacheBytes),
		workers: make(map[int32]*worker),
		dlq:     newDLQWriter(),
		opts:    append([]kgo.Opt{kgo.SeedBrokers(cfg.Brokers...), kgo.WithLogger(newKgoLogger(cfg.Logger))}, sec...),
	}
	r.producer.r = r
	r.tables = newTables(r.m, r.log)
	r.topics = cfg.topicSpecs()
	r.cycle, r.readTables = r.scoreCycle, true
	if cfg.PassthroughTopic != "" {
		r.cycle, r.readTables = r.passthrough, false
	}
	// The topics this replica produces to, at zero from the start.
	for _, t := range r.topics {
		if t.written {
			r.m.produceErrors.WithLabelValues(t.name)
		}
	}
	r.m.cacheMaxBytes.Set(float64(r.store.Stats().MaxBytes))
	r.m.sessionTimeout.Set(cfg.Scoring.LongestSessionTimeout().Seconds())
	r.m.setBands(cfg.Scoring)
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
		r.m.ready.Set(1)
	} else {
		r.m.ready.Set(0)
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

	if r.readTables {
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

	b := backoff{next: time.Second, max: 30 * time.Second}
	for {
		start := time.Now()
		err := r.session(ctx, pctx)
		if err == nil || !isRetryable(err) {
			return err
		}
		if ctx.Err() != nil {
			// The client failed in the last cycle before the shutdown,
			// fenced by a replica that took the partitions over, say,
			// or the shutdown timeout passed first (a broker that does
			// not answer; a commit that waits for a join the broker
			// holds). What it had not committed is aborted, and the
			// partitions' next owner processes it again: nothing is
			// lost, so this is still a clean shutdown.
			msg := "stopped with the last cycle not committed; the partitions' next owner processes it again"
			if pctx.Err() != nil {
				msg = "the shutdown timeout passed before the last batch was committed; " + msg
			}
			r.log.Warn(msg, "shutdown_timeout", r.cfg.ShutdownTimeout, "err", err)
			return nil
		}
		// The client is unusable (a fenced transactional producer, a
		// transaction that could not be ended): a new one rejoins the
		// group, and its partitions are restored from the changelog.
		if time.Since(start) > time.Minute {
			b.next = time.Second
		}
		r.m.clientRestarts.Inc()
		r.log.Warn("the Kafka client failed; starting a new one", "err", err, "retry_in", b.next)
		if !b.wait(ctx) {
			return nil
		}
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
	r.shutdown(pctx)
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
	// Each client's callbacks have a guard of their own: see shutdown.
	g := newCallbackGuard()
	r.callbacks = g
	opts := []kgo.Opt{
		kgo.ClientID("linger"),
		kgo.ConsumerGroup(r.cfg.Group),
		kgo.ConsumeTopics(r.consumed()...),
		kgo.Balancers(coPartitioned{GroupBalancer: kgo.CooperativeStickyBalancer(), lead: r.cfg.EventsTopic, follow: r.cfg.FeedbackTopic}),
		kgo.SessionTimeout(r.cfg.SessionTimeout),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(func(ctx context.Context, cl *kgo.Client, m map[string][]int32) {
			g.run(func() {
				ctx, cancel := g.untilClosing(ctx)
				defer cancel()
				r.onAssigned(ctx, cl, m)
			})
		}),
		kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, m map[string][]int32) {
			g.run(func() { r.onRevoked(ctx, cl, m) })
		}),
		kgo.OnPartitionsLost(func(ctx context.Context, cl *kgo.Client, m map[string][]int32) {
			g.run(func() { r.onLost(ctx, cl, m) })
		}),
		kgo.OnPartitionsCallbackBlocked(func(ctx context.Context, cl *kgo.Client) {
			g.run(func() { r.onBlocked(ctx, cl) })
		}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		// Decisions are latency-sensitive and few: send them at once.
		kgo.ProducerLinger(0),
		// Named here, so the DLQ's records are sized to fit it.
		kgo.ProducerBatchMaxBytes(producerBatchMaxBytes),
		// Uncompressed, as Kafka's producers send by default: decisions
		// and state records are small and many, and compressing them
		// cost a tenth of a replica's CPU at 20k events/s.
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		// Fetched records wait in the client until polled: bound them, so
		// memory follows the configuration, not a backlog's size.
		kgo.FetchMaxBytes(fetchMaxBytes),
		kgo.RecordPartitioner(changelogPartitioner{state: r.cfg.StateTopic, other: kgo.StickyKeyPartitioner(nil)}),
	}
	if r.cfg.CommitInterval > 0 {
		// Decisions wait for a commit anyway: let the brokers gather an
		// interval's records for each fetch, and end the span that polls
		// them at once (spanDue). A modest rate then makes one poll cycle,
		// with its fetch request, wake-ups and worker round, and one
		// transaction an interval; a backlog (fetchMinBytes reached) is
		// fetched without a wait.
		opts = append(opts, kgo.FetchMinBytes(fetchMinBytes), kgo.FetchMaxWait(r.cfg.CommitInterval))
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

// fetchMaxBytes bounds one fetch response of the consumer (the client holds
// one per broker until it is polled); with a commit interval, a broker
// answers a fetch once it has fetchMinBytes for it, or after the interval:
// at 20k events/s an interval of 100 ms brings about 600 KB, so the
// interval, not the bytes, sets the pace up to some 100k events/s.
const (
	fetchMaxBytes = 16 << 20
	fetchMinBytes = fetchMaxBytes / 4
)

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
