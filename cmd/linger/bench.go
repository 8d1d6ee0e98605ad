package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/lingerhq/linger/bench"
	"github.com/lingerhq/linger/pipeline"
	"github.com/lingerhq/linger/pipeline/broker"
	"github.com/lingerhq/linger/pipeline/partition"
	"github.com/lingerhq/linger/schemas"
	"github.com/spf13/cobra"
)

// benchFlags are the flags of `linger bench`.
type benchFlags struct {
	brokers     listFlag
	embedded    bool
	rate        rateFlag
	duration    time.Duration
	warmup      time.Duration
	history     time.Duration
	sessions    int
	mix         string
	seed        uint64
	jsonOut     string
	htmlOut     string
	mode        string
	step        rateFlag
	maxRate     rateFlag
	slo         time.Duration
	metrics     listFlag
	group       string
	events      string
	invites     string
	feedback    string
	passthrough string
	partitions  int
	cacheBytes  byteSize
	guarantee   string
	interval    time.Duration
	quiet       bool
	cpuProfile  string
	sec         securityFlags
	security    pipeline.Security // from sec, with --brokers
}

// memTotal returns the machine's memory in bytes (MemTotal of
// /proc/meminfo), or 0 where it cannot tell.
func memTotal() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}

// maxSessionsRun bounds a run that --sessions alone ends.
const maxSessionsRun = 24 * time.Hour

const (
	modeLinger      = "linger"
	modePassthrough = "passthrough"
	modeBoth        = "both"
)

func newBenchCmd() *cobra.Command {
	var f benchFlags
	c := &cobra.Command{
		Use:   "bench",
		Short: "load-test: drive the processor with simulated visitors at a fixed rate, report throughput, latency, CPU and memory",
		Long: `Load-test: drive the processor with simulated visitors at a constant open-loop
rate (events are sent when due, answered or not), read the invites it publishes,
and report throughput, end-to-end latency (HdrHistogram), lag, the processor's
CPU per event and memory, and invites per persona. Events are produced and
invites read with segmentio/kafka-go, a client other than the processor's.

With --embedded (the default without --brokers) it starts the embedded broker
and a ` + "`linger run`" + ` child process for the run; with --brokers it drives a cluster
where the replicas run on their own (give --metrics for their CPU and memory).`,
		Example: `  linger bench
  linger bench --rate 20k --duration 1m --html bench.html
  linger bench --rate 10k --step 10k --max-rate 100k
  linger bench --brokers kafka-1:9092 --metrics replica-1:9464,replica-2:9464 --rate 5k`,
		Args: flagsOnly("", ""),
	}
	fs := c.Flags()
	fs.Var(list(&f.brokers, "brokers"), "brokers", "drive this cluster (host:port, comma-separated) instead of an embedded one")
	fs.BoolVar(&f.embedded, "embedded", false, "start the embedded broker and a `linger run` child process (the default without --brokers)")
	f.rate = bench.BudgetRate
	fs.Var(&f.rate, "rate", "events per second offered (20000, 20k, 1.5k, 2M); 0: as fast as the producer can")
	fs.DurationVar(&f.duration, "duration", 30*time.Second, "the measured window (per step with --step)")
	fs.DurationVar(&f.warmup, "warmup", 5*time.Second, "left out of the figures; lasts at least until the processor has caught up with the history")
	fs.DurationVar(&f.history, "history", 3*time.Minute, "start with this much simulated traffic already under way, sent at once, so hesitating visitors are invited from the start (at most 4M events; not at --rate 0)")
	fs.IntVar(&f.sessions, "sessions", 0, "stop once this many sessions have been sent in full, or at the end of --duration if given first (0: run for --duration)")
	fs.StringVar(&f.mix, "mix", bench.DefaultMix().String(), "persona mix: browser, buyer, hesitator, confused, abandoner, bot weights")
	fs.Uint64Var(&f.seed, "seed", 1, "simulator seed: the same seed sends the same visitors")
	fs.StringVar(&f.jsonOut, "json", "", "write the result as JSON to this file (- for stdout)")
	fs.StringVar(&f.htmlOut, "html", "", "write a self-contained HTML report to this file")
	fs.StringVar(&f.mode, "mode", modeLinger, "linger, passthrough (a bare consume→copy→produce loop with the same client settings in place of linger), or both (passthrough, then linger, and their ratio)")
	fs.Var(&f.step, "step", "ramp: after each window raise the rate by this many events/s (as --rate) until p99 breaks --slo-p99 or the processor falls behind; report the highest sustained rate")
	fs.Var(&f.maxRate, "max-rate", "with --step: stop the ramp after this rate (as --rate) even if it is sustained (0: no limit)")
	fs.DurationVar(&f.slo, "slo-p99", bench.DefaultSLOP99, "the p99 end-to-end latency a rate must meet to count as sustained (the budget of the README's Performance table)")
	fs.Var(list(&f.metrics, "urls"), "metrics", "with --brokers: the replicas' /metrics URLs, for CPU per event and memory")
	fs.StringVar(&f.group, "group", pipeline.DefaultGroup, "with --brokers: the processor's consumer group, whose offsets show its progress")
	fs.StringVar(&f.events, "events-topic", schemas.TopicEvents, "topic to send events to")
	fs.StringVar(&f.invites, "invites-topic", schemas.TopicInvites, "topic to read decisions from")
	fs.StringVar(&f.feedback, "feedback-topic", schemas.TopicFeedback, "topic the simulated visitors' answers to the invites go to, as a chat widget writes them (empty: counted, not written)")
	fs.StringVar(&f.passthrough, "passthrough-topic", "linger-passthrough", "topic the passthrough loop copies events to")
	fs.IntVar(&f.partitions, "partitions", 16, "with --embedded: partitions of each topic")
	f.cacheBytes = partition.DefaultCacheBytes
	fs.Var(&f.cacheBytes, "cache-bytes", "with --embedded: the processor's --cache-bytes")
	fs.StringVar(&f.guarantee, "guarantee", string(pipeline.ExactlyOnce), "with --embedded: the processor's --guarantee")
	fs.DurationVar(&f.interval, "commit-interval", pipeline.DefaultCommitInterval, "with --embedded: the processor's --commit-interval (the passthrough of --mode both uses it too)")
	fs.BoolVar(&f.quiet, "quiet", false, "no progress line every second")
	fs.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of the bench process itself (load generator and embedded broker) to this file; the processor's profiles are at its /debug/pprof/ with LINGER_PPROF=true")
	f.sec.register(fs)
	c.RunE = func(c *cobra.Command, _ []string) error {
		if f.sessions > 0 && !given(c, "duration") {
			// --sessions alone (a flood) runs until the sessions are sent.
			f.duration = maxSessionsRun
		}
		return f.run(c.OutOrStdout(), c.ErrOrStderr())
	}
	return c
}

// run validates the flags and runs the bench.
func (f *benchFlags) run(stdout, stderr io.Writer) error {
	if err := f.validate(); err != nil {
		return err
	}
	mix, err := bench.ParseMix(f.mix)
	if err != nil {
		return fmt.Errorf("--mix: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if f.embedded {
		// This process holds the embedded broker, which keeps a minute of
		// records in memory and allocates as it serves them: at the
		// default GOGC its collector runs twice a second and takes one of
		// the two cores for tens of ms each time, delaying every client.
		// Collecting less often costs memory, which the machine has; the
		// processor, a child process, keeps its own setting. But at full
		// speed the broker holds gigabytes, and five times that would not
		// fit: a soft limit of a third of the machine's memory makes the
		// collector work harder as the heap nears it.
		debug.SetGCPercent(400)
		if total := memTotal(); total > 0 {
			debug.SetMemoryLimit(total / 3)
		}
	}
	if f.cpuProfile != "" {
		pf, err := os.Create(f.cpuProfile)
		if err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}

	var res *bench.Result
	switch f.mode {
	case modeBoth:
		pt, err := f.runMode(ctx, stderr, mix, true)
		if err != nil {
			return fmt.Errorf("passthrough: %w", err)
		}
		if res, err = f.runMode(ctx, stderr, mix, false); err != nil {
			return err
		}
		res.Passthrough = pt
		if pt.AchievedEPS > 0 {
			res.PassthroughRatio = res.AchievedEPS / pt.AchievedEPS
		}
	default:
		if res, err = f.runMode(ctx, stderr, mix, f.mode == modePassthrough); err != nil {
			return err
		}
	}
	res.Verdicts = res.Judge()
	return f.report(stdout, res)
}

func (f *benchFlags) validate() error {
	var errs []error
	if len(f.brokers) > 0 && f.embedded {
		errs = append(errs, errors.New("--brokers and --embedded exclude each other"))
	}
	f.embedded = len(f.brokers) == 0
	if f.rate < 0 || f.step < 0 || f.maxRate < 0 {
		errs = append(errs, errors.New("--rate, --step and --max-rate must not be negative"))
	}
	if f.step > 0 && f.rate == 0 {
		errs = append(errs, errors.New("--step ramps from --rate: give a starting rate above 0"))
	}
	if f.duration < time.Second {
		errs = append(errs, fmt.Errorf("--duration %v: at least 1s", f.duration))
	}
	if f.sessions < 0 {
		errs = append(errs, errors.New("--sessions must not be negative"))
	}
	switch f.mode {
	case modeLinger, modePassthrough, modeBoth:
	default:
		errs = append(errs, fmt.Errorf("--mode %q: want linger, passthrough or both", f.mode))
	}
	if f.mode == modeBoth && !f.embedded {
		errs = append(errs, errors.New("--mode both needs --embedded: with --brokers, run each mode against its own replicas"))
	}
	if f.partitions < 1 {
		errs = append(errs, errors.New("--partitions must be at least 1"))
	}
	if f.embedded && f.sec.set() {
		errs = append(errs, fmt.Errorf("the --tls-* and --sasl-* flags (and %s) are for --brokers: the embedded broker speaks plaintext", envSASLPassword))
	} else if !f.embedded {
		var err error
		if f.security, err = f.sec.security(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// runMode runs the bench against linger or the passthrough loop: a single
// window, or a ramp with --step.
func (f *benchFlags) runMode(ctx context.Context, stderr io.Writer, mix bench.Mix, passthrough bool) (*bench.Result, error) {
	cfg := bench.LoadConfig{
		Brokers:       f.brokers,
		EventsTopic:   f.events,
		OutputTopic:   f.invites,
		FeedbackTopic: f.feedback,
		NoFeedback:    f.feedback == "",
		Group:         f.group,
		Passthrough:   passthrough,
		Duration:      f.duration,
		Warmup:        f.warmup,
		History:       f.history,
		Sessions:      f.sessions,
		Sim:           bench.Config{Seed: f.seed, Mix: mix},
		Metrics:       f.metrics,
		// With --brokers, the replicas are taken to run this build.
		CacheQuiet: partition.HotQuiet,
	}
	if f.history == 0 {
		cfg.History = -1
	}
	if passthrough {
		cfg.OutputTopic = f.passthrough
	}
	if !f.quiet {
		cfg.Progress = stderr
	}
	if !f.embedded {
		tlsCfg, err := f.security.TLSConfig()
		if err != nil {
			return nil, err
		}
		cfg.Security = bench.Security{TLS: tlsCfg, SASLMechanism: f.security.SASLMechanism, User: f.security.User, Password: string(f.security.Password)}
	}
	if f.embedded {
		proc, err := startEmbedded(ctx, f, passthrough, stderr)
		if err != nil {
			return nil, err
		}
		defer proc.stop(stderr)
		cfg.Brokers = []string{proc.broker.Addr()}
		cfg.Group = proc.group
		cfg.Metrics = []string{proc.child.MetricsURL()}
	}
	what := "linger"
	if passthrough {
		what = "passthrough"
	}
	if f.step == 0 {
		cfg.Rate = float64(f.rate)
		until := fmt.Sprint("for ", f.duration)
		if f.sessions > 0 {
			until = fmt.Sprintf("until %d sessions are sent", f.sessions)
			if f.duration != maxSessionsRun {
				until += fmt.Sprint(" (at most ", f.duration, ")")
			}
		}
		fmt.Fprintf(stderr, "bench: %s at %s %s\n", what, bench.RateText(float64(f.rate)), until)
		res, err := bench.Run(ctx, cfg)
		if err != nil {
			return nil, err
		}
		f.describe(res)
		return res, nil
	}
	res, err := bench.Ramp(ctx, cfg, bench.RampConfig{
		Start: float64(f.rate), Step: float64(f.step), Max: float64(f.maxRate), SLOP99: f.slo, Log: stderr, What: what,
	})
	if err != nil {
		return nil, err
	}
	f.describe(res)
	return res, nil
}

// describe adds what the flags know and the run does not: the processor's
// settings when the run started it, which some budgets hold at.
func (f *benchFlags) describe(res *bench.Result) {
	res.Embedded = f.embedded
	res.SLOP99Ms = float64(f.slo) / float64(time.Millisecond)
	if f.embedded {
		res.Guarantee = f.guarantee
		interval := float64(f.interval) / float64(time.Millisecond)
		res.CommitIntervalMs = &interval
		res.CacheBytes = int64(f.cacheBytes)
	}
}

// rateFlag is a flag of events per second that reads 20000, 20k, 1.5k or
// 2M (bench.ParseRate).
type rateFlag float64

func (r *rateFlag) String() string { return bench.FormatRate(float64(*r)) }
func (r *rateFlag) Type() string   { return "rate" }
func (r *rateFlag) worded()        {}

func (r *rateFlag) Set(s string) error {
	v, err := bench.ParseRate(s)
	if err != nil {
		return err
	}
	*r = rateFlag(v)
	return nil
}

// report writes the summary to stdout and the JSON and HTML files asked for.
func (f *benchFlags) report(stdout io.Writer, res *bench.Result) error {
	if f.jsonOut != "-" {
		if res.Passthrough != nil {
			fmt.Fprintf(stdout, "passthrough (the transport alone):\n")
			if err := res.Passthrough.WriteText(stdout); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "\nlinger:\n")
		}
		if err := res.WriteText(stdout); err != nil {
			return err
		}
		if res.Passthrough != nil {
			fmt.Fprintf(stdout, "\n%s\n", res.AgainstPassthrough())
		}
		if res.Steps != nil {
			fmt.Fprintf(stdout, "highest sustained rate: %s (p99 ≤ %v)\n", bench.RateText(res.MaxSustainableEPS), f.slo)
		}
		fmt.Fprintln(stdout)
		if err := res.WriteVerdicts(stdout); err != nil {
			return err
		}
	}
	write := func(path string, w func(io.Writer) error) error {
		if path == "" {
			return nil
		}
		if path == "-" {
			return w(stdout)
		}
		var buf bytes.Buffer
		if err := w(&buf); err != nil {
			return err
		}
		return os.WriteFile(path, buf.Bytes(), 0o644)
	}
	if err := write(f.jsonOut, res.WriteJSON); err != nil {
		return fmt.Errorf("--json: %w", err)
	}
	if err := write(f.htmlOut, res.WriteHTML); err != nil {
		return fmt.Errorf("--html: %w", err)
	}
	return nil
}

// embedded is the embedded broker and the `linger run` child process of a
// bench run.
type embedded struct {
	broker *broker.Broker
	child  *bench.Child
	group  string
}

// startEmbedded starts the broker in this process and the processor as a
// child process, so its CPU and memory are its own, and waits until it is
// ready.
func startEmbedded(ctx context.Context, f *benchFlags, passthrough bool, stderr io.Writer) (*embedded, error) {
	broker, err := broker.Start(broker.Config{
		Addr: "127.0.0.1:0", Partitions: f.partitions,
		// The broker keeps records in memory: a minute of them, at up to
		// hundreds of thousands a second, is gigabytes already. The run
		// reads only what is new, and never restores the processor.
		Retention: time.Minute, CleanInterval: 10 * time.Second, NoCompaction: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		return nil, err
	}
	exe, err := os.Executable()
	if err != nil {
		broker.Close()
		return nil, fmt.Errorf("find the linger binary for the processor: %w", err)
	}
	e := &embedded{broker: broker, group: pipeline.DefaultGroup}
	args := []string{"run", "--brokers", broker.Addr(),
		"--cache-bytes", strconv.Itoa(int(f.cacheBytes)), "--guarantee", f.guarantee, "--commit-interval", f.interval.String(),
		"--events-topic", f.events, "--invites-topic", f.invites, "--log-level", "warn"}
	if f.feedback != "" {
		args = append(args, "--feedback-topic", f.feedback)
	}
	if passthrough {
		e.group = "linger-passthrough"
		args = append(args, "--passthrough", f.passthrough)
	}
	// Named on its command line: a LINGER_GROUP the child inherits would
	// put it in a group whose offsets the bench does not follow.
	args = append(args, "--group", e.group)
	if e.child, err = bench.StartChild(ctx, bench.ChildConfig{Path: exe, Args: args}); err != nil {
		broker.Close()
		return nil, err
	}
	fmt.Fprintf(stderr, "bench: broker at %s, processor (pid %d) ready, metrics at %s\n", broker.Addr(), e.child.Pid(), e.child.MetricsURL())
	return e, nil
}

// stop stops the child, saying so if it did not exit cleanly, then the
// broker.
func (e *embedded) stop(stderr io.Writer) {
	if err := e.child.Stop(); err != nil {
		fmt.Fprintf(stderr, "bench: %v", err)
	}
	e.broker.Close()
}
