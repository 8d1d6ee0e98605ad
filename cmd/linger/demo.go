package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/lingerhq/linger/bench"
	"github.com/lingerhq/linger/pipeline"
	"github.com/lingerhq/linger/pipeline/broker"
	"github.com/lingerhq/linger/pipeline/gateway"
	"github.com/lingerhq/linger/schemas"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
)

func demoCmd(args []string, stdout, stderr io.Writer) error {
	var f runFlags
	fs := newFlagSet("demo", "", "Start the embedded broker, the visitor simulator and the processor in one process,\nand print each invite as it is decided, with a running invite rate. The simulated visitors\nanswer their invites on chat-feedback; the status line shows the share accepted. Ctrl-C stops it.")
	fs.SetOutput(stderr)
	f.register(fs, false)
	duration := fs.Duration("duration", 0, "stop by itself after this long (0: run until Ctrl-C)")
	rate := fs.Float64("rate", 3, "new visitor sessions per second")
	seed := fs.Uint64("seed", 1, "simulator seed: the same seed plays the same visitors")
	mix := fs.String("mix", bench.DefaultMix().String(), "persona mix: browser, buyer, hesitator, confused, abandoner, bot weights")
	warmup := fs.Duration("warmup", 5*time.Minute, "start with this much traffic already under way, replayed at once, so invites show from the first seconds (hesitators are invited 2 to 5 minutes into their visit)")
	partitions := fs.Int("partitions", 4, "partitions of each topic of the embedded broker")
	fs.StringVar(&f.http, "http", "", "address for /metrics, /healthz and /readyz (empty: off)")
	listen := fs.String("listen", "127.0.0.1:8080", "address of the demo shop and the gateway, for a real visitor beside the simulated ones (empty: off; if taken, a free port)")
	if err := fs.parse(args); err != nil {
		return err
	}
	if f.logs.level == "info" && !flagGiven(fs, "log-level") {
		// Invite lines are the demo's output; logs only when something is wrong.
		f.logs.level = "warn"
	}
	log, err := f.logs.logger(stderr)
	if err != nil {
		return err
	}
	m, err := bench.ParseMix(*mix)
	if err != nil {
		return err
	}
	scfg, err := f.scoringConfig()
	if err != nil {
		return err
	}
	if *rate <= 0 || *warmup < 0 {
		return fmt.Errorf("--rate must be positive and --warmup not negative")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}

	broker, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", Partitions: *partitions, Retention: 10 * time.Minute, Logger: log})
	if err != nil {
		return err
	}
	defer broker.Close()
	f.brokers = []string{broker.Addr()}
	f.group, f.events, f.invites, f.dlq, f.state = pipeline.DefaultGroup, schemas.TopicEvents, schemas.TopicInvites, schemas.TopicDLQ, schemas.TopicState
	f.guarantee, f.sessionTO = string(pipeline.ExactlyOnce), pipeline.DefaultSessionTimeout

	sim, err := bench.NewSimulator(bench.Config{Seed: *seed, Mix: m, Rate: *rate, StartMs: time.Now().Add(-*warmup).UnixMilli()})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "linger demo: embedded broker %s, %d partitions; %g new sessions/s (seed %d, mix %s); model %s\n",
		broker.Addr(), *partitions, *rate, *seed, m, scfg.Model())
	if *warmup > 0 {
		fmt.Fprintf(stdout, "replaying the last %v of traffic at once, then live. Ctrl-C stops.\n", *warmup)
	}

	if *listen != "" {
		gw, err := startDemoGateway(log, broker.Addr(), *listen)
		if err != nil {
			return err
		}
		defer gw.stop(log)
		fmt.Fprintf(stdout, "demo shop and gateway: open %s and shop beside the simulated visitors (your session's decisions print here too, as w-...)\n", gw.url())
	}

	// The processor runs until the demo ends; the simulator and the invite
	// printer stop first, so the processor can finish what is in flight.
	procCtx, stopProc := context.WithCancel(context.Background())
	defer stopProc()
	procDone := make(chan error, 1)
	go func() { procDone <- runProcessor(procCtx, log, &f, scfg) }()

	d := &demo{out: stdout, answers: bench.NewAnswers(sim), holdMs: scfg.For(nil).AllowedLatenessMs + 1000}
	var wg sync.WaitGroup
	printerCtx, stopPrinter := context.WithCancel(context.Background())
	wg.Add(3)
	go func() { defer wg.Done(); d.produce(ctx, broker.Addr(), sim) }()
	go func() { defer wg.Done(); d.printInvites(printerCtx, broker.Addr()) }()
	go func() { defer wg.Done(); d.answer(printerCtx, broker.Addr()) }()

	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case err := <-procDone:
			stopPrinter()
			wg.Wait()
			return fmt.Errorf("processor stopped: %w", err)
		case <-tick.C:
			d.status()
		}
	}
	// Let the last decisions reach the printer before stopping it.
	time.Sleep(500 * time.Millisecond)
	stopPrinter()
	wg.Wait()
	d.flush(true)
	stopProc()
	if err := <-procDone; err != nil {
		return err
	}
	d.status()
	fmt.Fprintln(stdout, "demo stopped")
	return nil
}

func flagGiven(fs *flagSet, name string) bool {
	given := false
	fs.Visit(func(fl *flag.Flag) {
		if fl.Name == name {
			given = true
		}
	})
	_, env := os.LookupEnv(envName(name))
	return given || env
}

// demo holds the demo's counters and output.
type demo struct {
	out io.Writer
	mu  sync.Mutex // serializes lines on out

	// answers plays the simulated visitors' answers to their invites, as
	// the chat widget writes them to chat-feedback.
	answers *bench.Answers

	events    atomic.Int64
	sessions  atomic.Int64
	invites   atomic.Int64
	withdraws atomic.Int64
	holdouts  atomic.Int64

	// live is set when the simulator has caught up with the clock after
	// the warm-up replay: rates count from then, not from the burst.
	liveOnce    sync.Once
	liveAt      atomic.Int64 // Unix ms
	liveEvents  atomic.Int64
	liveInvites atomic.Int64 // invites for events after liveAt

	// Decision lines wait in pending (under mu) and print in event-time
	// order, a second behind the newest: partitions deliver them
	// interleaved. The warm-up's decisions are summed up instead of
	// printed: latest keeps its last few, warmup counts them.
	pending    []demoLine
	newest     int64
	latest     []demoLine
	warmup     map[string]int
	summarized bool
	// holdMs is how far behind the newest event time a line waits: a
	// timer decides once the watermark, the newest event time less the
	// allowed lateness, passes its deadline, and prints in its place.
	holdMs int64
}

// demoLine is one decision's line and its event time.
type demoLine struct {
	at   int64
	text string
}

// warmupShown is how many of the warm-up's latest invites the summary
// shows, so a first look sees what an invite says.
const warmupShown = 3

func (d *demo) printf(format string, args ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintf(d.out, format, args...)
}

// produce writes the simulator's events to visitor-events as their event
// time comes, like a collector in front of live browsers.
func (d *demo) produce(ctx context.Context, addr string, sim *bench.Simulator) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		d.printf("simulator: %v\n", err)
		return
	}
	defer cl.Close()
	stream := sim.Stream(0)
	var rec bench.Record
	for ctx.Err() == nil && stream.NextRecord(&rec) {
		if wait := time.Until(time.UnixMilli(rec.TS)); wait > 0 {
			d.liveOnce.Do(func() {
				d.liveEvents.Store(d.events.Load())
				d.liveAt.Store(time.Now().UnixMilli())
			})
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
		// NextRecord reuses its buffers; the producer keeps the record
		// until the broker acknowledges it.
		r := &kgo.Record{Topic: schemas.TopicEvents, Key: append([]byte(nil), rec.Key...), Value: append([]byte(nil), rec.Value...)}
		cl.Produce(context.Background(), r, nil)
		d.events.Add(1)
		d.sessions.Store(int64(stream.Started()))
	}
	fctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = cl.Flush(fctx)
}

// answer writes the visitors' answers to chat-feedback as they fall due,
// like the chat widget and platform of a live site; the processor reads
// them with the events.
func (d *demo) answer(ctx context.Context, addr string) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		d.printf("answers: %v\n", err)
		return
	}
	defer cl.Close()
	var recs []*kgo.Record
	err = d.answers.Deliver(ctx, func(due []bench.FeedbackRecord) error {
		recs = recs[:0]
		for _, f := range due {
			recs = append(recs, &kgo.Record{Topic: schemas.TopicFeedback, Key: f.Key, Value: f.Value})
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil && ctx.Err() == nil {
			return err
		}
		return nil
	})
	if err != nil {
		d.printf("answers: %v\n", err)
	}
}

// printInvites reads chat-invites as a chat front-end would, prints each
// decision on one line, and has its simulated visitor answer it.
func (d *demo) printInvites(ctx context.Context, addr string) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(schemas.TopicInvites),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		d.printf("invites: %v\n", err)
		return
	}
	defer cl.Close()
	for {
		// At least twice a second, so lines wait about a second.
		pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		fetches := cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil || fetches.IsClientClosed() {
			return
		}
		fetches.EachRecord(func(r *kgo.Record) {
			dec, err := schemas.ParseDecision(r.Value)
			if err != nil {
				d.printf("bad decision on %s: %v\n", schemas.TopicInvites, err)
				return
			}
			d.add(dec)
			d.answers.Add(dec)
		})
		d.flush(false)
	}
}

// add takes in one decision: a warm-up one is counted for the summary, a
// live one waits in pending for its turn.
//
// Partitions deliver decisions interleaved, and a timer's decision comes
// about the allowed lateness after its event time: pending holds them that
// long, so they print in event-time order.
func (d *demo) add(dec *schemas.Decision) {
	text := d.line(dec)
	d.mu.Lock()
	defer d.mu.Unlock()
	live := d.liveAt.Load()
	if live == 0 || dec.EventTS < live {
		if d.warmup == nil {
			d.warmup = map[string]int{}
		}
		d.warmup[dec.Action.String()+" "+dec.Reason.String()]++
		if dec.Action == schemas.ActionInvite && !d.summarized {
			d.latest = append(d.latest, demoLine{dec.EventTS, text})
			slices.SortStableFunc(d.latest, func(a, b demoLine) int { return cmp.Compare(a.at, b.at) })
			if len(d.latest) > warmupShown {
				d.latest = d.latest[len(d.latest)-warmupShown:]
			}
		}
		return
	}
	d.pending = append(d.pending, demoLine{dec.EventTS, text})
	d.newest = max(d.newest, dec.EventTS)
}

// flush prints the warm-up's summary once it is over, then the pending
// lines holdMs or more older than the newest (or than the clock, which
// live event time follows), in event-time order; all of them if final.
func (d *demo) flush(final bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.summarized && (final || len(d.pending) > 0) {
		d.summarized = true
		if len(d.warmup) > 0 {
			fmt.Fprintf(d.out, "warm-up replayed: %s; the latest:\n", d.warmupText())
			for _, l := range d.latest {
				fmt.Fprintln(d.out, l.text)
			}
			fmt.Fprintln(d.out, "live:")
		}
	}
	if !d.summarized {
		return
	}
	slices.SortStableFunc(d.pending, func(a, b demoLine) int { return cmp.Compare(a.at, b.at) })
	n, cut := 0, max(d.newest, time.Now().UnixMilli())-d.holdMs
	for _, l := range d.pending {
		if !final && l.at > cut {
			break
		}
		fmt.Fprintln(d.out, l.text)
		n++
	}
	d.pending = append(d.pending[:0], d.pending[n:]...)
}

// warmupText says what the warm-up decided, by action and reason.
func (d *demo) warmupText() string {
	keys := slices.Sorted(maps.Keys(d.warmup))
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		action, reason, _ := strings.Cut(k, " ")
		parts = append(parts, fmt.Sprintf("%s (%s)", plural(d.warmup[k], action, action+"s"), reason))
	}
	return strings.Join(parts, ", ")
}

// plural is "1 invite", "2 invites".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func (d *demo) line(dec *schemas.Decision) string {
	var b strings.Builder
	// The event time: lines print in its order.
	at := time.UnixMilli(dec.EventTS).Format("15:04:05.000")
	switch dec.Action {
	case schemas.ActionWithdraw:
		d.withdraws.Add(1)
		fmt.Fprintf(&b, "%s  withdraw  %-11s        %-12s invite %s taken back: the visitor bought or opened chat", at, dec.Reason, dec.Session, dec.InviteID)
		return b.String()
	default:
		d.invites.Add(1)
		if at := d.liveAt.Load(); at != 0 && dec.EventTS >= at {
			d.liveInvites.Add(1)
		}
	}
	fmt.Fprintf(&b, "%s  invite    %-11s %.2f  %-12s %-9s %-22s", at, dec.Reason, dec.Score, dec.Session, dec.Page.Kind, dec.Page.URL)
	for i, s := range dec.Signals {
		if i > 0 {
			b.WriteString(" ·")
		}
		fmt.Fprintf(&b, " %s=%s", s.Name, trimFloat(s.Value))
		if len(s.Detail) > 0 {
			fmt.Fprintf(&b, " (%s)", s.Detail)
		}
	}
	fmt.Fprintf(&b, "  → %s", dec.Team)
	if dec.Holdout {
		d.holdouts.Add(1)
		b.WriteString("  [holdout: not shown]")
	}
	return b.String()
}

func trimFloat(v float64) string {
	s := fmt.Sprintf("%.1f", v)
	return strings.TrimSuffix(s, ".0")
}

func (d *demo) status() {
	ev, ss, inv := d.events.Load(), d.sessions.Load(), d.invites.Load()
	pct := 0.0
	if ss > 0 {
		pct = 100 * float64(inv) / float64(ss)
	}
	rates := "replaying the warm-up"
	if at := d.liveAt.Load(); at != 0 {
		secs := max(time.Since(time.UnixMilli(at)).Seconds(), 1)
		rates = fmt.Sprintf("live: %.0f events/s, %.1f invites/min", float64(ev-d.liveEvents.Load())/secs, float64(d.liveInvites.Load())/secs*60)
	}
	acc, _ := d.answers.Acceptance()
	accepted := "acceptance – (none shown yet)"
	if acc.Shown > 0 {
		accepted = fmt.Sprintf("acceptance %.1f%% (%d/%d)", 100*acc.Rate, acc.Accepted, acc.Shown)
	}
	d.printf("── %s  %s · %s · %s (%.1f%% of sessions) · %s · %d withdrawn · %s\n",
		time.Now().Format("15:04:05"), plural(int(ev), "event", "events"), plural(int(ss), "session", "sessions"),
		plural(int(inv), "invite", "invites"), pct, accepted, d.withdraws.Load(), rates)
}

// startDemoGateway serves the demo shop and the gateway on listen, or on a
// free port if listen is taken (another demo runs), with a secret of its
// own.
func startDemoGateway(log *slog.Logger, broker, listen string) (*runningGateway, error) {
	// The one site the simulator plays, and the shop's pages name.
	cfg := gateway.Config{Brokers: []string{broker}, Secret: randomSecret(), Sites: []string{bench.DefaultSite}, Shop: true, Logger: log, Registerer: prometheus.NewRegistry()}
	gw, err := startGateway(cfg, listen)
	if errors.Is(err, syscall.EADDRINUSE) {
		host, _, _ := net.SplitHostPort(listen)
		log.Warn("demo shop: address in use, taking a free port", "listen", listen)
		gw, err = startGateway(cfg, net.JoinHostPort(host, "0"))
	}
	return gw, err
}
