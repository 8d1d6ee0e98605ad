package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/lingerhq/linger/pipeline/replay"
)

func trainCmd(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("train", "", "Fit the abandonment model's weights to recorded sessions: an L2-regularised logistic\nregression on the signals as they were at each scored moment, labelled by the\nsession's outcome, on the earliest sessions; the latest are held out to compare the\nlearned weights with the starting ones. Sets the thresholds that invite the target share\nof eligible sessions, prints invite share, precision and recall per reason before and\nafter, and writes a config file `linger run --config` reads. With the UCI Online\nShoppers data, evaluates instead how well the features linger computes live predict\npurchase.")
	fs.SetOutput(stderr)
	input := fs.String("input", "", "recorded traffic (required)")
	format := fs.String("format", "", "input format: "+strings.Join(replay.Formats, ", ")+" or "+replay.FormatUCI+"; default: detected from the content")
	config := fs.String("config", "", "config to start from (its settings stay, its abandonment model is replaced); default: the built-in defaults")
	out := fs.String("out", "", "write the trained config to this file (default: stdout); not with the UCI data, which trains no config")
	test := fs.Float64("test-fraction", 0.3, "share of the sessions, the latest by start time, held out")
	l2 := fs.Float64("l2", 1, "L2 regularisation strength")
	seed := fs.Uint64("seed", 1, "seed: training is deterministic for a seed")
	partitions := fs.Int("partitions", 16, "partitions of the events topic the replay stands for")
	target := fs.String("target-invite-rate", "", "share of eligible sessions the written thresholds invite on the input, e.g. 5%, or keep (the config's thresholds); default: the middle of the config's rate_band")
	if err := fs.parse(args); err != nil {
		return err
	}
	if *input == "" {
		fs.Usage()
		return fmt.Errorf("%w: --input is required", errUsage)
	}
	opts := replay.TrainOptions{Partitions: *partitions, TestFraction: *test, L2: *l2, Seed: *seed,
		Progress: func(stage string) func(done, total int) { return replay.ProgressBar(stderr, stage) }}
	switch *target {
	case "":
	case "keep":
		opts.KeepThresholds = true
	default:
		var err error
		if opts.TargetRate, err = replay.ParsePercent(*target); err != nil {
			return fmt.Errorf("--target-invite-rate %w", err)
		}
	}
	f, err := os.Open(*input)
	if err != nil {
		return err
	}
	defer f.Close()
	if *format == "" {
		head := make([]byte, 64<<10)
		n, _ := io.ReadFull(f, head)
		if *format, err = replay.DetectFormat(head[:n]); err != nil {
			return fmt.Errorf("%s: %w", *input, err)
		}
		fmt.Fprintf(stderr, "%s: format %s (detected; --format sets it)\n", *input, *format)
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
	}
	if *format == replay.FormatUCI {
		// The UCI rows are aggregated sessions: there is no model of
		// linger's to fit on them, only feature sets to compare.
		if *out != "" || *target != "" {
			return errors.New("--out and --target-invite-rate do not apply to the UCI Online Shoppers data: it has no events to score, so it trains no config; its table goes to stdout")
		}
		d, err := replay.ReadUCI(f)
		if err != nil {
			return fmt.Errorf("%s: %w", *input, err)
		}
		rs, err := replay.EvaluateUCI(d, 5, *seed)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: %d sessions, %d purchases; 5-fold cross-validated ROC AUC of predicting purchase\n\n", *input, d.Sessions(), d.Purchases())
		return replay.WriteUCITable(stdout, rs)
	}
	if opts.Config, err = loadConfig(*config); err != nil {
		return err
	}
	in, err := replay.ReadInput(f, *format)
	if err != nil {
		return fmt.Errorf("%s: %w", *input, err)
	}
	if len(in.Records) == 0 {
		return fmt.Errorf("%s: no records", *input)
	}
	opts.Source = in
	res, err := replay.Train(in.Records, opts)
	if err != nil {
		return fmt.Errorf("%s: %w", *input, err)
	}
	if err := res.WriteSummary(stderr); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "model %s → %s\n", opts.Config.Model(), res.Config.Model())
	header := fmt.Sprintf("# trained by `linger train` on %s: %d sessions (%d rows), %d held out\n# held-out AUC: learned %s, before %s\n",
		*input, res.TrainSessions, res.TrainRows, res.TestSessions, replay.AUCText(res.AUCLearned), replay.AUCText(res.AUCBefore))
	if t := res.Target; t == t {
		header += fmt.Sprintf("# thresholds for %.1f%% of eligible sessions (%s)\n", 100*t, res.TargetFrom)
	}
	if *out == "" {
		_, err := io.WriteString(stdout, header+string(res.YAML))
		return err
	}
	return os.WriteFile(*out, []byte(header+string(res.YAML)), 0o644)
}
