package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/lingerhq/linger/pipeline/replay"
	"github.com/spf13/cobra"
)

func newTrainCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "train --input FILE",
		Short: "fit the abandonment model's weights to recorded sessions, or evaluate on the UCI Online Shoppers data",
		Long:  "Fit the abandonment model's weights to recorded sessions: an L2-regularised logistic\nregression on the signals as they were at each scored moment, labelled by the\nsession's outcome, on the earliest sessions; the latest are held out to compare the\nlearned weights with the starting ones. Sets the thresholds that invite the target share\nof eligible sessions, prints invite share, precision and recall per reason before and\nafter, and writes a config file `linger run --config` reads. With the UCI Online\nShoppers data, evaluates instead how well the features linger computes live predict\npurchase.",
		Example: `  linger train --input events.jsonl --out trained.yaml
  linger train --input events.jsonl --config scoring.yaml --target-invite-rate 5% --out trained.yaml
  linger train --input online_shoppers_intention.csv`,
		Args: flagsOnly("input", "the input"),
	}
	var a trainArgs
	fs := c.Flags()
	fs.StringVar(&a.input, "input", "", "recorded traffic (required)")
	fs.StringVar(&a.format, "format", "", "input format: "+strings.Join(replay.Formats, ", ")+" or "+replay.FormatUCI+"; default: detected from the content")
	fs.StringVar(&a.config, "config", "", "config to start from (its settings stay, its abandonment model is replaced); default: the built-in defaults")
	fs.StringVar(&a.out, "out", "", "write the trained config to this file (default: stdout); not with the UCI data, which trains no config")
	fs.Float64Var(&a.test, "test-fraction", 0.3, "share of the sessions, the latest by start time, held out")
	fs.Float64Var(&a.l2, "l2", 1, "L2 regularisation strength")
	fs.Uint64Var(&a.seed, "seed", 1, "seed: training is deterministic for a seed")
	fs.IntVar(&a.partitions, "partitions", 16, "partitions of the events topic the replay stands for")
	fs.StringVar(&a.target, "target-invite-rate", "", "share of eligible sessions the written thresholds invite on the input, e.g. 5%, or keep (the config's thresholds); default: the middle of the config's rate_band")
	c.RunE = func(c *cobra.Command, _ []string) error {
		if a.input == "" {
			return required("input", "the recorded traffic to train on, such as --input events.jsonl (linger simulate writes some)")
		}
		return runTrain(c.OutOrStdout(), c.ErrOrStderr(), a)
	}
	return c
}

// trainArgs are the flags of `linger train`.
type trainArgs struct {
	input, format, config, out, target string
	test, l2                           float64
	seed                               uint64
	partitions                         int
}

// runTrain trains a config, or evaluates the UCI data.
func runTrain(stdout, stderr io.Writer, a trainArgs) error {
	opts := replay.TrainOptions{Partitions: a.partitions, TestFraction: a.test, L2: a.l2, Seed: a.seed,
		Progress: func(stage string) func(done, total int) { return replay.ProgressBar(stderr, stage) }}
	switch a.target {
	case "":
	case "keep":
		opts.KeepThresholds = true
	default:
		var err error
		if opts.TargetRate, err = replay.ParsePercent(a.target); err != nil {
			return fmt.Errorf("--target-invite-rate %w", err)
		}
	}
	f, err := os.Open(a.input)
	if err != nil {
		return err
	}
	defer f.Close()
	if a.format == "" {
		head := make([]byte, 64<<10)
		n, _ := io.ReadFull(f, head)
		if a.format, err = replay.DetectFormat(head[:n]); err != nil {
			return fmt.Errorf("%s: %w", a.input, err)
		}
		fmt.Fprintf(stderr, "%s: format %s (detected; --format sets it)\n", a.input, a.format)
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
	}
	if a.format == replay.FormatUCI {
		// The UCI rows are aggregated sessions: there is no model of
		// linger's to fit on them, only feature sets to compare.
		if a.out != "" || a.target != "" {
			return errors.New("--out and --target-invite-rate do not apply to the UCI Online Shoppers data: it has no events to score, so it trains no config; its table goes to stdout")
		}
		d, err := replay.ReadUCI(f)
		if err != nil {
			return fmt.Errorf("%s: %w", a.input, err)
		}
		rs, err := replay.EvaluateUCI(d, 5, a.seed)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: %d sessions, %d purchases; 5-fold cross-validated ROC AUC of predicting purchase\n\n", a.input, d.Sessions(), d.Purchases())
		return replay.WriteUCITable(stdout, rs)
	}
	if opts.Config, err = loadConfig(a.config); err != nil {
		return err
	}
	in, err := replay.ReadInput(f, a.format)
	if err != nil {
		return fmt.Errorf("%s: %w", a.input, err)
	}
	if len(in.Records) == 0 {
		return fmt.Errorf("%s: no records", a.input)
	}
	opts.Source = in
	res, err := replay.Train(in.Records, opts)
	if err != nil {
		return fmt.Errorf("%s: %w", a.input, err)
	}
	if err := res.WriteSummary(stderr); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "model %s → %s\n", opts.Config.Model(), res.Config.Model())
	header := fmt.Sprintf("# trained by `linger train` on %s: %d sessions (%d rows), %d held out\n# held-out AUC: learned %s, before %s\n",
		a.input, res.TrainSessions, res.TrainRows, res.TestSessions, replay.AUCText(res.AUCLearned), replay.AUCText(res.AUCBefore))
	if t := res.Target; t == t {
		header += fmt.Sprintf("# thresholds for %.1f%% of eligible sessions (%s)\n", 100*t, res.TargetFrom)
	}
	if a.out == "" {
		_, err := io.WriteString(stdout, header+string(res.YAML))
		return err
	}
	return os.WriteFile(a.out, []byte(header+string(res.YAML)), 0o644)
}
