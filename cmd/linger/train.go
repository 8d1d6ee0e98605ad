package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/lingerhq/linger/pipeline/replay"
)

func trainCmd(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("train", "", "Fit the abandonment model's weights to recorded sessions: an L2-regularised logistic\nregression on the signals as they were at each scored moment, labelled by the\nsession's outcome, on the earliest sessions; the latest are held out to compare the\nlearned weights with the starting ones. Writes a config file `linger run --config`\nreads. With --format uci-online-shoppers, evaluates instead how well the features\nlinger computes live predict purchase in the UCI Online Shoppers data.")
	fs.SetOutput(stderr)
	input := fs.String("input", "", "recorded traffic (required)")
	format := fs.String("format", "jsonl", "input format: "+strings.Join(replay.Formats, ", ")+" or uci-online-shoppers")
	config := fs.String("config", "", "config to start from (its settings stay, its abandonment model is replaced); default: the built-in defaults")
	out := fs.String("out", "", "write the trained config to this file (default: stdout)")
	test := fs.Float64("test-fraction", 0.3, "share of the sessions, the latest by start time, held out")
	l2 := fs.Float64("l2", 1, "L2 regularisation strength")
	seed := fs.Uint64("seed", 1, "seed: training is deterministic for a seed")
	partitions := fs.Int("partitions", 16, "partitions of the events topic the replay stands for")
	if err := fs.parse(args); err != nil {
		return err
	}
	if *input == "" {
		fs.Usage()
		return fmt.Errorf("%w: --input is required", errUsage)
	}
	if *format == "uci-online-shoppers" {
		f, err := os.Open(*input)
		if err != nil {
			return err
		}
		defer f.Close()
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
	base, err := loadConfig(*config)
	if err != nil {
		return err
	}
	recs, err := readInput(*input, *format)
	if err != nil {
		return err
	}
	res, err := replay.Train(recs, replay.TrainOptions{Config: base, Partitions: *partitions, TestFraction: *test, L2: *l2, Seed: *seed})
	if err != nil {
		return err
	}
	header := fmt.Sprintf("# trained by `linger train` on %s: %d sessions (%d rows), %d held out\n# held-out AUC: learned %s, before %s\n",
		*input, res.TrainSessions, res.TrainRows, res.TestSessions, aucText(res.AUCLearned.Value, res.AUCLearned.Lo, res.AUCLearned.Hi), aucText(res.AUCBefore.Value, res.AUCBefore.Lo, res.AUCBefore.Hi))
	fmt.Fprintf(stderr, "trained on %d sessions (%d rows); held out %d\nheld-out AUC of the abandonment score: learned %s, starting weights %s\nmodel %s → %s\n",
		res.TrainSessions, res.TrainRows, res.TestSessions,
		aucText(res.AUCLearned.Value, res.AUCLearned.Lo, res.AUCLearned.Hi), aucText(res.AUCBefore.Value, res.AUCBefore.Lo, res.AUCBefore.Hi),
		base.Model(), res.Config.Model())
	if *out == "" {
		_, err := io.WriteString(stdout, header+string(res.YAML))
		return err
	}
	return os.WriteFile(*out, []byte(header+string(res.YAML)), 0o644)
}

func aucText(v, lo, hi float64) string {
	if v != v {
		return "– (one class only)"
	}
	return fmt.Sprintf("%.3f [%.3f–%.3f]", v, lo, hi)
}
