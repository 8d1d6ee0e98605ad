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
)

func replayCmd(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("replay", "", "Run recorded traffic through the code `linger run` runs, without Kafka, in event-time\norder with timers, and report what the decisions would have achieved: sessions by\noutcome, invites, precision, recall, AUC and lead time, each with n and a 95% CI, next to\nthe trigger rules chat products ship by default. Warns on stderr (and in the report)\nwhen most outcomes are unknown, or nobody abandoned or was invited.")
	fs.SetOutput(stderr)
	input := fs.String("input", "", "recorded traffic (required)")
	format := fs.String("format", "", "input format: "+strings.Join(replay.Formats, " or ")+"; default: detected from the content")
	config := fs.String("config", "", "scoring config file (YAML); default: the built-in defaults")
	decisions := fs.String("decisions", "", "write the decisions, one JSON line each, to this file")
	reportJSON := fs.String("report-json", "", "write the report as JSON to this file")
	reportHTML := fs.String("report-html", "", "write the report as a self-contained HTML page to this file")
	partitions := fs.Int("partitions", 16, "partitions of the events topic the replay stands for (watermarks are per partition)")
	sweep := fs.String("sweep", "", "replay a grid of settings: key=from:to:step[,key=from:to:step] (e.g. thresholds.abandonment=0.5:0.9:0.1,silence=15s:60s:15s)")
	band := fs.String("band", "", "target band of the invite share of eligible sessions, low:high in percent, marked in a sweep; default: the config's rate_band")
	noDrain := fs.Bool("no-drain", false, "leave deadlines pending at the end of the input unfired, as a live run does until more events come")
	if err := fs.parse(args); err != nil {
		return err
	}
	if *input == "" {
		fs.Usage()
		return fmt.Errorf("%w: --input is required", errUsage)
	}
	cfg, err := loadConfig(*config)
	if err != nil {
		return err
	}
	lo, hi := cfg.RateBand.MinPercent/100, cfg.RateBand.MaxPercent/100
	if *band != "" {
		if lo, hi, err = parseBand(*band); err != nil {
			return err
		}
	}
	in, err := readInput(*input, *format, stderr)
	if err != nil {
		return err
	}
	recs := in.Records
	opts := replay.Options{Config: cfg, Partitions: *partitions, NoDrain: *noDrain, Progress: replay.ProgressBar(stderr, "replaying")}

	if *sweep != "" {
		keys, err := replay.ParseSweep(*sweep)
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
				return fmt.Errorf("%s: %w", *input, err)
			}
			rows = append(rows, replay.NewSweepRow(pt, res.Report(*input)))
		}
		sw := replay.NewSweep(*input, keys, rows, replay.Band{Low: lo, High: hi}, cfg)
		for _, w := range sw.Warnings() {
			fmt.Fprintln(stderr, "warning: "+w)
		}
		return sw.WriteText(stdout)
	}

	var decOut io.Writer
	if *decisions != "" {
		f, err := os.Create(*decisions)
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
		return fmt.Errorf("%s: %w", *input, err)
	}
	rep := res.Report(*input)
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
	}{{*reportJSON, rep.WriteJSON}, {*reportHTML, rep.WriteHTML}} {
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
