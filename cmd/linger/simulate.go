package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/lingerhq/linger/bench"
	"github.com/lingerhq/linger/bench/simulate"
	"github.com/spf13/cobra"
)

func newSimulateCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "simulate --out FILE",
		Short: "write hours of simulated traffic (events and the visitors' answers to invites) as JSONL for replay, in seconds",
		Long: `Write the visitor simulator's traffic as v1 JSON lines, the input of ` + "`linger replay`" + `:
--duration of simulated time (not wall time: hours take seconds) of sessions arriving at
--sessions-per-second, and the simulated visitors' answers to the invites the scoring
engine (with --config) decides on them, as chat-feedback records, all in event-time order.
The same flags give the same file, byte for byte.`,
		Example: `  linger simulate --duration 2h --out events.jsonl && linger replay --input events.jsonl
  linger simulate --duration 30m --sessions-per-second 10 --seed 7 --out - | head`,
		Args: flagsOnly("out", "the file to write"),
	}
	var a simulateArgs
	fs := c.Flags()
	fs.DurationVar(&a.duration, "duration", 2*time.Hour, "simulated time during which sessions start (those in progress at the end are written to their end)")
	fs.StringVar(&a.out, "out", "", "file to write (- for stdout) (required)")
	fs.Float64Var(&a.rate, "sessions-per-second", 3, "new sessions per second of simulated time (3: the demo's rate)")
	fs.StringVar(&a.mix, "mix", bench.DefaultMix().String(), "persona mix: browser, buyer, hesitator, confused, abandoner, bot weights")
	fs.Uint64Var(&a.seed, "seed", 1, "simulator seed: the same seed writes the same traffic")
	fs.StringVar(&a.config, "config", "", "scoring config file (YAML) of the engine whose invites the visitors answer; default: the built-in defaults")
	fs.IntVar(&a.partitions, "partitions", 16, "partitions the engine runs, as `linger replay --partitions` (watermarks and timers are per partition)")
	c.RunE = func(c *cobra.Command, _ []string) error {
		if a.out == "" {
			return required("out", "the file to write (- for stdout), such as --out events.jsonl")
		}
		return runSimulate(c.OutOrStdout(), c.ErrOrStderr(), a)
	}
	return c
}

// simulateArgs are the flags of `linger simulate`.
type simulateArgs struct {
	duration   time.Duration
	out, mix   string
	config     string
	rate       float64
	seed       uint64
	partitions int
}

// runSimulate writes the simulated traffic.
func runSimulate(stdout, stderr io.Writer, a simulateArgs) error {
	var errs []error
	if a.duration <= 0 {
		errs = append(errs, fmt.Errorf("--duration %v: must be positive", a.duration))
	}
	if !(a.rate > 0) {
		errs = append(errs, fmt.Errorf("--sessions-per-second %v: must be positive", a.rate))
	}
	if a.partitions < 1 {
		errs = append(errs, errors.New("--partitions must be at least 1"))
	}
	m, err := bench.ParseMix(a.mix)
	if err != nil {
		errs = append(errs, fmt.Errorf("--mix: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return usagef("%v", err)
	}
	scfg, err := loadConfig(a.config)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	w, closeOut := stdout, func() error { return nil }
	if a.out != "-" {
		f, err := os.Create(a.out)
		if err != nil {
			return err
		}
		w, closeOut = f, f.Close
	}
	start := time.Now()
	cfg := simulate.SimulateConfig{Sim: bench.Config{Seed: a.seed, Mix: m, Rate: a.rate}, Duration: a.duration, Scoring: scfg, Partitions: a.partitions}
	stats, err := simulate.Simulate(ctx, cfg, w) // it buffers its writes
	if cerr := closeOut(); err == nil {
		err = cerr
	}
	if err != nil {
		if a.out != "-" {
			os.Remove(a.out) // half a file would replay as a short one
		}
		return err
	}
	acc := stats.Acceptance
	fmt.Fprintf(stderr, "simulated %v: %d events, %d sessions, %d feedback records (%d invites, %d shown, %d accepted: %.1f%%) in %.1fs\n",
		a.duration, stats.Events, stats.Sessions, stats.Feedback, acc.Invites, acc.Shown, acc.Accepted, 100*acc.Rate, time.Since(start).Seconds())
	if stats.Rejected > 0 {
		// The simulator writes only valid events: this is a bug to report.
		fmt.Fprintf(stderr, "warning: the engine rejected %d of the simulated events\n", stats.Rejected)
	}
	return nil
}
