package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/lingerhq/linger/internal/buildinfo"
	"github.com/lingerhq/linger/pipeline"
	"github.com/lingerhq/linger/pipeline/partition"
	"github.com/lingerhq/linger/schemas"
	"github.com/lingerhq/linger/scoring"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// runFlags are the flags of `linger run`; demo shares the processor's part.
type runFlags struct {
	brokers     listFlag
	group       string
	events      string
	invites     string
	dlq         string
	state       string
	capacity    string
	visitors    string
	feedback    string
	tallies     string
	guarantee   string
	interval    time.Duration
	sessionTO   time.Duration
	instance    string
	eventTime   bool
	http        string
	passthrough string
	pprof       bool
	cacheBytes  byteSize
	config      string
	logs        logFlags
	sec         securityFlags
	security    pipeline.Security // from sec, once parsed
	memoryLimit int64             // the Go heap's soft limit run set, 0 if none
}

func (f *runFlags) register(fs *pflag.FlagSet, withKafka bool) {
	if withKafka {
		fs.Var(list(&f.brokers, "brokers"), "brokers", "Kafka seed brokers, host:port[,host:port...] (required)")
		fs.StringVar(&f.group, "group", pipeline.DefaultGroup, "consumer group: replicas with the same group share the partitions")
		fs.StringVar(&f.events, "events-topic", schemas.TopicEvents, "topic to read clickstream events from")
		fs.StringVar(&f.invites, "invites-topic", schemas.TopicInvites, "topic to publish decisions to")
		fs.StringVar(&f.dlq, "dlq-topic", schemas.TopicDLQ, "topic for input that is not a valid event")
		fs.StringVar(&f.state, "state-topic", schemas.TopicState, "compacted changelog of session state (created if missing, as many partitions as the events topic)")
		fs.StringVar(&f.capacity, "capacity-topic", schemas.TopicCapacity, "compacted topic of the chat teams' free slots, read in full by every replica (missing: the static budgets of the scoring config apply)")
		fs.StringVar(&f.visitors, "visitors-topic", schemas.TopicVisitors, "compacted topic of each visitor's recent invites, for the frequency cap across sessions; read in full by every replica (created if missing)")
		fs.StringVar(&f.feedback, "feedback-topic", schemas.TopicFeedback, "what the chat front-ends made of the invites (shown, accepted, ...), consumed with the events: it must have as many partitions as the events topic (missing: no feedback)")
		fs.StringVar(&f.tallies, "tallies-topic", schemas.TopicTallies, "compacted topic of each partition's hourly tallies of would-be invites, invites and suppressions per site and team, read by `linger report` for staffing (created if missing)")
		fs.StringVar(&f.guarantee, "guarantee", string(pipeline.ExactlyOnce), "exactly-once (one Kafka transaction per commit interval) or at-least-once")
		fs.DurationVar(&f.interval, "commit-interval", pipeline.DefaultCommitInterval, "about how long records wait to be committed: the brokers gather this long's records for a fetch, and one transaction commits them; longer costs less CPU per event and delays decisions more; 0 commits every poll as it comes (see the README's Performance)")
		fs.DurationVar(&f.sessionTO, "group-session-timeout", pipeline.DefaultSessionTimeout, "consumer group session timeout, and transaction timeout: a dead replica's partitions move within it")
		fs.StringVar(&f.instance, "instance-id", "", "this replica's name in its transactional id; give each running replica its own, stable across restarts (e.g. the pod name) (default: host name and a random suffix)")
		fs.BoolVar(&f.eventTime, "event-time-only", false, "advance idle partitions' watermarks by event time only, never by the wall clock (strictly deterministic runs)")
		f.sec.register(fs)
	}
	f.cacheBytes = partition.DefaultCacheBytes
	fs.Var(&f.cacheBytes, "cache-bytes", "memory for session state, shared by the active sessions' hot tables (a quarter at least) and the fastcache ring (three quarters at most); size it as described in the README")
	fs.StringVar(&f.config, "config", "", "scoring config file (YAML); see `linger config`")
	f.logs.register(fs)
}

// scoringConfig reads --config, or returns the defaults.
func (f *runFlags) scoringConfig() (*scoring.Config, error) { return loadConfig(f.config) }

func newRunCmd() *cobra.Command {
	var f runFlags
	c := &cobra.Command{
		Use:   "run --brokers host:port",
		Short: "process visitor-events and publish chat invites (one replica of the consumer group)",
		Long:  "Consume visitor events, score every session and publish chat-invite decisions.\nRun N replicas with the same --group to share the partitions.",
		Example: `  linger run --brokers kafka-1:9092,kafka-2:9092 --config scoring.yaml --cache-bytes 1GiB
  LINGER_BROKERS=kafka-1:9092 LINGER_INSTANCE_ID=$POD_NAME linger run`,
		Args: flagsOnly("brokers", "the brokers"),
	}
	fs := c.Flags()
	f.register(fs, true)
	fs.StringVar(&f.http, "http", "127.0.0.1:9464", "address for /metrics, /healthz and /readyz (empty: off)")
	fs.BoolVar(&f.pprof, "pprof", false, "also serve Go's profiles at /debug/pprof/ on the --http address (keep that address private)")
	fs.StringVar(&f.passthrough, "passthrough", "", "benchmark yardstick: copy every event unscored to this topic (created if missing), as `linger bench --mode passthrough` does")
	c.RunE = func(c *cobra.Command, _ []string) error {
		if len(f.brokers) == 0 {
			// Said before anything is logged: one line.
			return errors.New("no brokers: set --brokers host:port (or LINGER_BROKERS)")
		}
		stderr := c.ErrOrStderr()
		log, err := f.logs.logger(stderr)
		if err != nil {
			return err
		}
		if f.security, err = f.sec.security(); err != nil {
			return err
		}
		scfg, err := f.scoringConfig()
		if err != nil {
			return err
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		f.memoryLimit, _ = memoryLimit(int(f.cacheBytes))
		return runProcessor(ctx, log, &f, scfg)
	}
	return c
}

// heapLimitBase is the Go heap's soft limit besides the hot tables: the
// Kafka client's buffers and the batches in flight.
const heapLimitBase = 256 << 20

// memoryLimit sets the Go heap's soft limit, unless GOMEMLIMIT does: the
// hot tables' quarter of cacheBytes plus heapLimitBase, to start with; the
// runner then follows the hot tables, which hold more while fastcache is
// young (pipeline.Config.HeapLimitBase). fastcache's ring lives outside the
// Go heap. Without a limit the heap may grow to twice what a backlog made
// live before the collector runs, so memory would follow traffic.
func memoryLimit(cacheBytes int) (int64, bool) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return 0, false
	}
	limit := int64(max(cacheBytes, partition.MinCacheBytes))/4 + heapLimitBase
	debug.SetMemoryLimit(limit)
	return limit, true
}

// runProcessor runs a replica until ctx ends: the HTTP endpoints first, then
// the runner; it stops them in reverse order and logs how long each took.
func runProcessor(ctx context.Context, log *slog.Logger, f *runFlags, scfg *scoring.Config) error {
	reg := prometheus.NewRegistry()
	var heapBase int64 // the runner keeps the limit run set following the hot tables
	if f.memoryLimit > 0 {
		heapBase = heapLimitBase
	}
	runner, err := pipeline.NewRunner(pipeline.Config{
		Brokers:          f.brokers,
		Group:            f.group,
		EventsTopic:      f.events,
		InvitesTopic:     f.invites,
		DLQTopic:         f.dlq,
		StateTopic:       f.state,
		CapacityTopic:    f.capacity,
		VisitorsTopic:    f.visitors,
		FeedbackTopic:    f.feedback,
		TalliesTopic:     f.tallies,
		Guarantee:        pipeline.Guarantee(f.guarantee),
		CommitInterval:   f.interval,
		SessionTimeout:   f.sessionTO,
		InstanceID:       f.instance,
		EventTimeOnly:    f.eventTime,
		CacheBytes:       int(f.cacheBytes),
		HeapLimitBase:    heapBase,
		Scoring:          scfg,
		PassthroughTopic: f.passthrough,
		Security:         f.security,
		Logger:           log,
		Registerer:       reg,
	})
	if err != nil {
		return err
	}
	if f.memoryLimit > 0 {
		// Logged once the flags are known to be good: a mistake is said
		// in one line.
		log.Info("Go heap soft limit set from --cache-bytes (GOMEMLIMIT overrides it)", "bytes", f.memoryLimit)
	}
	var srv *pipeline.HTTPServer
	if f.http != "" {
		if srv, err = pipeline.ListenHTTP(f.http, reg, runner.Healthy, runner.Ready); err != nil {
			return err
		}
		if f.pprof {
			srv.ServePprof()
		}
		log.Info("serving /metrics, /healthz and /readyz", "addr", "http://"+srv.Addr(), "pprof", f.pprof)
	}
	if f.config != "" {
		wctx, stopWatch := context.WithCancel(ctx)
		defer stopWatch()
		go watchConfig(wctx, log, f.config, scfg, runner.SetScoring, 2*time.Second)
	}
	log.Info("linger run starting", "version", buildinfo.Version, "brokers", f.brokers, "kafka", f.security, "group", f.group, "guarantee", f.guarantee,
		"commit_interval", f.interval, "cache_bytes", int(f.cacheBytes), "model", scfg.Model(), "sites", scfg.SiteNames())
	runErr := runner.Run(ctx)

	if srv != nil {
		start := time.Now()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = srv.Close(sctx)
		cancel()
		log.Info("stopped http", "took", time.Since(start).Round(time.Millisecond))
	}
	return runErr
}
