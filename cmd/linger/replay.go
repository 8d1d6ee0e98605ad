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
	fs := newFlagSet("replay", "", "Run recorded traffic through the code `linger run` runs, without Kafka, in event-time\norder with timers, and report what the decisions would have achieved: sessions by\noutcome, invites, precision, recall, AUC and lead time, each with n and a 95% CI, next to\nthe trigger rules chat products ship by default.")
	fs.SetOutput(stderr)
	input := fs.String("input", "", "recorded traffic (required)")
	format := fs.String("format", "jsonl", "input format: "+strings.Join(replay.Formats, " or "))
	config := fs.String("config", "", "scoring config file (YAML); default: the built-in defaults")
	decisions := fs.String("decisions", "", "write the decisions, one JSON line each, to this file")
	reportJSON := fs.String("report-json", "", "write the report as JSON to this file")
	reportHTML := fs.String("report-html", "", "write the report as a self-contained HTML page to this file")
	partitions := fs.Int("partitions", 16, "partitions of the events topic the replay stands for (watermarks are per partition)")
	sweep := fs.String("sweep", "", "replay a grid of settings: key=from:to:step[,key=from:to:step] (e.g. thresholds.abandonment=0.5:0.9:0.1,silence=15s:60s:15s)")
	band := fs.String("band", "3:10", "target invite-rate band in percent, marked in a sweep")
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
	lo, hi, err := parseBand(*band)
	if err != nil {
		return err
	}
	recs, err := readInput(*input, *format)
	if err != nil {
		return err
	}
	opts := replay.Options{Config: cfg, Partitions: *partitions, NoDrain: *noDrain, Progress: progress(stderr)}

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
			rep := res.Report(*input)
			rows = append(rows, replay.SweepRow{Values: pt.Values, Model: rep.Model, Invites: rep.Invites.Total, Quality: rep.Quality})
		}
		replay.Frontier(rows, lo, hi)
		fmt.Fprintf(stdout, "%s: %d settings; * marks the invite-rate/precision frontier\n", *input, len(rows))
		return replay.WriteSweep(stdout, keys, rows, lo, hi)
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
	rep := res.Report(*input)
	fmt.Fprintf(stderr, "replayed %d records in %v\n", len(recs), time.Since(start).Round(time.Millisecond))
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

func readInput(path, format string) ([]replay.Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	recs, err := replay.Read(f, format)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("%s: no records", path)
	}
	return recs, nil
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

// progress returns a progress bar on w if w is a terminal, else nil: a log
// file or a pipe gets no carriage returns.
func progress(w io.Writer) func(done, total int) {
	f, ok := w.(*os.File)
	if !ok {
		return nil
	}
	if st, err := f.Stat(); err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return nil
	}
	var last time.Time
	return func(done, total int) {
		if time.Since(last) < 100*time.Millisecond && done < total {
			return
		}
		last = time.Now()
		const width = 30
		n := width * done / max(total, 1)
		fmt.Fprintf(w, "\rreplaying [%s%s] %3d%% %d/%d", strings.Repeat("#", n), strings.Repeat(".", width-n), 100*done/max(total, 1), done, total)
		if done >= total {
			fmt.Fprintln(w)
		}
	}
}
