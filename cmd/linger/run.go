package main

import (
	"context"
	"fmt"
	"io"
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
}

func (f *runFlags) register(fs *flagSet, withKafka bool) {
	if withKafka {
		fs.Var(&f.brokers, "brokers", "Kafka seed brokers, host:port[,host:port...] (required)")
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
		fs.DurationVar(&f.interval, "commit-interval", pipeline.DefaultCommitInterval, "how long a transaction spans polls before it commits: longer costs less CPU per event and delays decisions more; 0 commits every poll (see the README's Performance)")
		fs.DurationVar(&f.sessionTO, "group-session-timeout", pipeline.DefaultSessionTimeout, "consumer group session timeout, and transaction timeout: a dead replica's partitions move within it")
		fs.StringVar(&f.instance, "instance-id", "", "this replica's name in its transactional id; give each running replica its own, stable across restarts (e.g. the pod name) (default: host name and a random suffix)")
		fs.BoolVar(&f.eventTime, "event-time-only", false, "advance idle partitions' watermarks by event time only, never by the wall clock (strictly deterministic runs)")
		f.sec.register(fs)
	}
	f.cacheBytes = partition.DefaultCacheBytes
	fs.Var(&f.cacheBytes, "cache-bytes", "memory for session state: a quarter for the active sessions' hot tables, the rest for the fastcache ring; size it as described in the README")
	fs.StringVar(&f.config, "config", "", "scoring config file (YAML); see `linger config`")
	f.logs.register(fs)
}

// scoringConfig reads --config, or returns the defaults.
func (f *runFlags) scoringConfig() (*scoring.Config, error) { return loadConfig(f.config) }

func runCmd(args []string, _, stderr io.Writer) error {
	var f runFlags
	fs := newFlagSet("run", "", "Consume visitor events, score every session and publish chat-invite decisions.\nRun N replicas with the same --group to share the partitions.")
	fs.SetOutput(stderr)
	f.register(fs, true)
	fs.StringVar(&f.http, "http", "127.0.0.1:9464", "address for /metrics, /healthz and /readyz (empty: off)")
	fs.BoolVar(&f.pprof, "pprof", false, "also serve Go's profiles at /debug/pprof/ on the --http address (keep that address private)")
	fs.StringVar(&f.passthrough, "passthrough", "", "benchmark yardstick: copy every event unscored to this topic (created if missing), as `linger bench --mode passthrough` does")
	if err := fs.parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("%w: unexpected arguments %v", errUsage, fs.Args())
	}
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
	if limit, set := memoryLimit(int(f.cacheBytes)); set {
		log.Info("Go heap soft limit set from --cache-bytes (GOMEMLIMIT overrides it)", "bytes", limit)
	}
	return runProcessor(ctx, log, &f, scfg)
}

// memoryLimit sets the Go heap's soft limit, unless GOMEMLIMIT does: the
// hot tables' quarter of cacheBytes plus 256 MiB for the Kafka client's
// buffers and the batches in flight. fastcache's ring lives outside the Go
// heap. Without a limit the heap may grow to twice what a backlog made live
// before the collector runs, so memory would follow traffic.
func memoryLimit(cacheBytes int) (int64, bool) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return 0, false
	}
	limit := int64(max(cacheBytes, partition.MinCacheBytes))/4 + 256<<20
	debug.SetMemoryLimit(limit)
	return limit, true
}

// runProcessor runs a replica until ctx ends: the HTTP endpoints first, then
// the runner; it stops them in reverse order and logs how long each took.
func runProcessor(ctx context.Context, log *slog.Logger, f *runFlags, scfg *scoring.Config) error {
	reg := prometheus.NewRegistry()
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
		Scoring:          scfg,
		PassthroughTopic: f.passthrough,
		Security:         f.security,
		Logger:           log,
		Registerer:       reg,
	})
	if err != nil {
		return err
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
