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
)

func simulateCmd(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("simulate", "", `Write the visitor simulator's traffic as v1 JSON lines, the input of `+"`linger replay`"+`:
--duration of simulated time (not wall time: hours take seconds) of sessions arriving at
--sessions-per-second, and the simulated visitors' answers to the invites the scoring
engine (with --config) decides on them, as chat-feedback records, all in event-time order.
The same flags give the same file, byte for byte.

Example: linger simulate --duration 2h --out events.jsonl && linger replay --input events.jsonl`)
	fs.SetOutput(stderr)
	duration := fs.Duration("duration", 2*time.Hour, "simulated time during which sessions start (those in progress at the end are written to their end)")
	out := fs.String("out", "", "file to write (- for stdout) (required)")
	rate := fs.Float64("sessions-per-second", 3, "new sessions per second of simulated time (3: the demo's rate)")
	mix := fs.String("mix", bench.DefaultMix().String(), "persona mix: browser, buyer, hesitator, confused, abandoner, bot weights")
	seed := fs.Uint64("seed", 1, "simulator seed: the same seed writes the same traffic")
	config := fs.String("config", "", "scoring config file (YAML) of the engine whose invites the visitors answer; default: the built-in defaults")
	partitions := fs.Int("partitions", 16, "partitions the engine runs, as `linger replay --partitions` (watermarks and timers are per partition)")
	if err := fs.parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("%w: unexpected arguments %v", errUsage, fs.Args())
	}
	if *out == "" {
		// One line, not the whole usage: what is missing and where help is.
		fmt.Fprintln(stderr, "linger simulate: --out is required: the file to write (- for stdout); see linger simulate --help")
		return fmt.Errorf("%w: --out is required", errUsage)
	}
	var errs []error
	if *duration <= 0 {
		errs = append(errs, fmt.Errorf("--duration %v: must be positive", *duration))
	}
	if !(*rate > 0) {
		errs = append(errs, fmt.Errorf("--sessions-per-second %v: must be positive", *rate))
	}
	if *partitions < 1 {
		errs = append(errs, errors.New("--partitions must be at least 1"))
	}
	m, err := bench.ParseMix(*mix)
	if err != nil {
		errs = append(errs, fmt.Errorf("--mix: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	scfg, err := loadConfig(*config)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	w, closeOut := stdout, func() error { return nil }
	if *out != "-" {
		f, err := os.Create(*out)
		if err != nil {
			return err
		}
		w, closeOut = f, f.Close
	}
	start := time.Now()
	cfg := simulate.SimulateConfig{Sim: bench.Config{Seed: *seed, Mix: m, Rate: *rate}, Duration: *duration, Scoring: scfg, Partitions: *partitions}
	stats, err := simulate.Simulate(ctx, cfg, w) // it buffers its writes
	if cerr := closeOut(); err == nil {
		err = cerr
	}
	if err != nil {
		if *out != "-" {
			os.Remove(*out) // half a file would replay as a short one
		}
		return err
	}
	a := stats.Acceptance
	fmt.Fprintf(stderr, "simulated %v: %d events, %d sessions, %d feedback records (%d invites, %d shown, %d accepted: %.1f%%) in %.1fs\n",
		*duration, stats.Events, stats.Sessions, stats.Feedback, a.Invites, a.Shown, a.Accepted, 100*a.Rate, time.Since(start).Seconds())
	if stats.Rejected > 0 {
		// The simulator writes only valid events: this is a bug to report.
		fmt.Fprintf(stderr, "warning: the engine rejected %d of the simulated events\n", stats.Rejected)
	}
	return nil
}
