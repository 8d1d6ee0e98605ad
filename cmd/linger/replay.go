package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/lingerhq/linger/pipeline/replay"
	"github.com/lingerhq/linger/scoring"
	"github.com/spf13/cobra"
)

func newReplayCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "replay --input FILE",
		Short: "backtest: run recorded traffic through the scoring, report what the decisions would have achieved",
		Long: `Run recorded traffic through the code ` + "`linger run`" + ` runs, without Kafka, in event-time
order with timers, and report what the decisions would have achieved: sessions by
outcome, invites, precision, recall, AUC and lead time, each with n and a 95% CI, next to
the trigger rules chat products ship by default. Warns on stderr (and in the report)
when most outcomes are unknown, or nobody abandoned or was invited.`,
		Example: `  linger replay --input events.jsonl
  linger replay --input events.jsonl --config tuned.yaml --report-html report.html
  linger replay --input events.jsonl --sweep thresholds.abandonment=0.5:0.9:0.1`,
		Args: flagsOnly("input", "the input"),
	}
	var a replayArgs
	fs := c.Flags()
	fs.StringVar(&a.input, "input", "", "recorded traffic (required)")
	fs.StringVar(&a.format, "format", "", "input format: "+strings.Join(replay.Formats, " or ")+"; default: detected from the content")
	fs.StringVar(&a.config, "config", "", "scoring config file (YAML); default: the built-in defaults")
	fs.StringVar(&a.decisions, "decisions", "", "write the decisions, one JSON line each, to this file")
	fs.StringVar(&a.reportJSON, "report-json", "", "write the report as JSON to this file")
	fs.StringVar(&a.reportHTML, "report-html", "", "write the report as a self-contained HTML page to this file")
	fs.IntVar(&a.partitions, "partitions", 16, "partitions of the events topic the replay stands for (watermarks are per partition)")
	fs.StringVar(&a.sweep, "sweep", "", "replay a grid of settings: key=from:to:step[,key=from:to:step] (e.g. thresholds.abandonment=0.5:0.9:0.1,silence=15s:60s:15s)")
	fs.StringVar(&a.band, "band", "", "target band of the invite share of eligible sessions, low:high in percent, marked in a sweep; default: the config's rate_band")
	fs.BoolVar(&a.noDrain, "no-drain", false, "leave deadlines pending at the end of the input unfired, as a live run does until more events come")
	c.RunE = func(c *cobra.Command, _ []string) error {
		if a.input == "" {
			return required("input", "the recorded traffic to replay, such as --input events.jsonl (linger simulate writes some)")
		}
		return runReplay(c.OutOrStdout(), c.ErrOrStderr(), a)
	}
	return c
}

// replayArgs are the flags of `linger replay`.
type replayArgs struct {
	input, format, config, decisions, reportJSON, reportHTML, sweep, band string
	partitions                                                            int
	noDrain                                                               bool
}

// runReplay replays the input once, or once per setting of a sweep, and
// writes the report.
func runReplay(stdout, stderr io.Writer, a replayArgs) error {
	cfg, err := loadConfig(a.config)
	if err != nil {
		return err
	}
	lo, hi := cfg.RateBand.MinPercent/100, cfg.RateBand.MaxPercent/100
	if a.band != "" {
		if lo, hi, err = parseBand(a.band); err != nil {
			return usagef("%v", err)
		}
	}
	in, err := readInput(a.input, a.format, stderr)
	if err != nil {
		return err
	}
	recs := in.Records
	opts := replay.Options{Config: cfg, Partitions: a.partitions, NoDrain: a.noDrain, Progress: replay.ProgressBar(stderr, "replaying")}

	if a.sweep != "" {
		keys, err := replay.ParseSweep(a.sweep)
		if err != nil {
			return err
		}
		grid, err := replay.Grid(cfg, keys)
		if err != nil {
			return err
		}
		rows := make([]replay.SweepRow, 0, len(grid))
		for i, pt := range grid {
			fmt.Fprintf(stderr, "setting %d of %d\n", i+1, len(grid))
			o := opts
			o.Config = pt.Config
			res, err := replay.Run(recs, o)
			if err != nil {
				return err
			}
			if err := res.CheckRejected(in); err != nil {
				return fmt.Errorf("%s: %w", a.input, err)
			}
			rows = append(rows, replay.NewSweepRow(pt, res.Report(a.input)))
		}
		sw := replay.NewSweep(a.input, keys, rows, replay.Band{Low: lo, High: hi}, cfg)
		for _, w := range sw.Warnings() {
			fmt.Fprintln(stderr, "warning: "+w)
		}
		return sw.WriteText(stdout)
	}

	var decOut io.Writer
	if a.decisions != "" {
		f, err := os.Create(a.decisions)
		if err != nil {
			return err
		}
		defer f.Close()
		decOut = f
		opts.Decisions = f
	}
	start := time.Now()
	res, err := replay.Run(recs, opts)
	if err != nil {
		return err
	}
	if f, ok := decOut.(*os.File); ok {
		if err := f.Close(); err != nil {
			return err
		}
	}
	if err := res.CheckRejected(in); err != nil {
		return fmt.Errorf("%s: %w", a.input, err)
	}
	rep := res.Report(a.input)
	fmt.Fprintf(stderr, "replayed %d records in %v\n", len(recs), time.Since(start).Round(time.Millisecond))
	for _, w := range rep.Warnings {
		fmt.Fprintln(stderr, "warning: "+w.Message)
	}
	if err := rep.WriteText(stdout); err != nil {
		return err
	}
	for _, out := range []struct {
		path  string
		write func(io.Writer) error
	}{{a.reportJSON, rep.WriteJSON}, {a.reportHTML, rep.WriteHTML}} {
		if out.path == "" {
			continue
		}
		if err := writeFile(out.path, out.write); err != nil {
			return err
		}
	}
	return nil
}

func loadConfig(path string) (*scoring.Config, error) {
	if path == "" {
		return scoring.DefaultConfig(), nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	cfg, err := scoring.ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// readInput reads a replay's input, its format detected when format is
// "", and says on stderr which format it detected.
func readInput(path, format string, stderr io.Writer) (*replay.Input, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	in, err := replay.ReadInput(f, format)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(in.Records) == 0 {
		return nil, fmt.Errorf("%s: no records", path)
	}
	if in.Detected {
		fmt.Fprintf(stderr, "%s: format %s (detected; --format sets it)\n", path, in.Format)
	}
	return in, nil
}

func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func parseBand(s string) (lo, hi float64, err error) {
	a, b, ok := strings.Cut(s, ":")
	l, err1 := strconv.ParseFloat(a, 64)
	h, err2 := strconv.ParseFloat(b, 64)
	if !ok || err1 != nil || err2 != nil || l < 0 || h > 100 || l > h {
		return 0, 0, errors.New("--band: want low:high in percent, e.g. 3:10")
	}
	return l / 100, h / 100, nil
}
