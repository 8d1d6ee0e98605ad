package replay

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"

	"github.com/lingerhq/linger/pipeline/partition"
	"github.com/lingerhq/linger/schemas"
	"github.com/lingerhq/linger/scoring"
	"github.com/lingerhq/linger/scoring/learn"
	"go.yaml.in/yaml/v3"
)

// TrainOptions configures Train.
type TrainOptions struct {
	// Config is the config to start from: its settings stay, its
	// abandonment model is replaced. Default: scoring.DefaultConfig().
	Config *scoring.Config
	// Partitions, as for Run. Default: 16.
	Partitions int
	// TestFraction of the sessions, the latest by start time, is held out
	// to measure the models. Default: 0.3.
	TestFraction float64
	// L2 is the regularisation strength (see learn.Options). Default: 1.
	L2 float64
	// Seed picks the rows kept when the training set is larger than
	// maxTrainRows.
	Seed uint64
}

// maxTrainRows bounds the training rows; a larger training set is
// subsampled with TrainOptions.Seed.
const maxTrainRows = 2_000_000

// TrainResult is a trained abandonment model and how it compares with the
// config it started from on held-out sessions.
type TrainResult struct {
	Config *scoring.Config
	// YAML is Config as a file `linger run --config` reads.
	YAML []byte
	// Sessions and rows used; sessions whose outcome is unknown
	// (censored) are left out.
	TrainSessions, TestSessions, TrainRows int
	// Held-out AUC of the session score (the highest abandonment score at
	// a moment the policy would invite) with the learned weights and with
	// the starting ones.
	AUCLearned, AUCBefore learn.Estimate
}

// moment is one scored moment of a session, as training sees it.
type moment struct {
	x        []float64 // scaled signals: what the model multiplies by its weights
	eligible bool      // the policy would have let the session be invited
}

// Train fits the abandonment model's bias and weights to the sessions of
// recs: an L2-regularised logistic regression on the signals as they were
// at every scored moment before a purchase (each session weighing one in
// all), labelled by the session's outcome (abandoned or not), on the
// earliest sessions; the latest are held out to compare the learned weights
// with the starting ones. It is deterministic for a seed.
func Train(recs []Record, o TrainOptions) (*TrainResult, error) {
	if o.Config == nil {
		o.Config = scoring.DefaultConfig()
	}
	if o.TestFraction <= 0 || o.TestFraction >= 1 {
		o.TestFraction = 0.3
	}
	nsig := len(scoring.Signals())
	moments := map[string][]moment{}
	var mu sync.Mutex // partitions replay side by side
	observe := func(ob *partition.Observation) {
		if ob.State.Flags&scoring.FlagPurchased != 0 {
			return // what happens after buying says nothing of abandoning
		}
		x := make([]float64, nsig)
		for i := range nsig {
			x[i] = min(max(ob.Features[i], 0)/ob.Settings.Scale[i], 1)
		}
		eligible := ob.Outcome == scoring.OutcomeInvite ||
			(ob.Decision != nil && ob.Decision.Action == schemas.ActionInvite) ||
			scoring.Policy(ob.State, ob.At, ob.Settings) == scoring.OutcomeInvite
		id := string(ob.State.Session)
		mu.Lock()
		moments[id] = append(moments[id], moment{x: x, eligible: eligible})
		mu.Unlock()
	}
	res, err := Run(recs, Options{Config: o.Config, Partitions: o.Partitions, observe: observe})
	if err != nil {
		return nil, err
	}

	// Sessions with a known outcome, oldest first; the newest are held out.
	var known []*session
	for _, s := range res.sessions {
		if s.Outcome(res.end) != "censored" && len(moments[s.ID]) > 0 {
			known = append(known, s)
		}
	}
	slices.SortFunc(known, func(a, b *session) int { return cmp.Or(cmp.Compare(a.Start, b.Start), cmp.Compare(a.ID, b.ID)) })
	cut := int(math.Round(float64(len(known)) * (1 - o.TestFraction)))
	train, test := known[:cut], known[cut:]

	var d learn.Dataset
	for _, s := range train {
		ms := moments[s.ID]
		label := s.Outcome(res.end) == "abandoned"
		for _, m := range ms {
			d.X = append(d.X, m.x)
			d.Y = append(d.Y, label)
			d.Weight = append(d.Weight, 1/float64(len(ms)))
		}
	}
	if len(d.X) > maxTrainRows {
		d = subsample(d, maxTrainRows, o.Seed)
	}
	model, err := learn.Fit(d, learn.Options{L2: o.L2})
	if err != nil {
		return nil, fmt.Errorf("train on %d sessions (%d rows): %w", len(train), len(d.X), err)
	}

	set := o.Config.For(nil)
	before := learn.Model{Bias: set.Bias[scoring.Abandonment], Weights: set.Weight[scoring.Abandonment][:nsig]}
	score := func(m learn.Model, s *session) float64 {
		best := 0.0
		for _, mo := range moments[s.ID] {
			if mo.eligible {
				best = max(best, m.Score(mo.x))
			}
		}
		return best
	}
	auc := func(m learn.Model) learn.Estimate {
		scores := make([]float64, len(test))
		positive := make([]bool, len(test))
		for i, s := range test {
			scores[i], positive[i] = score(m, s), s.Outcome(res.end) == "abandoned"
		}
		return learn.AUC(scores, positive)
	}
	cfg, data, err := withModel(o.Config, model)
	if err != nil {
		return nil, err
	}
	return &TrainResult{
		Config: cfg, YAML: data,
		TrainSessions: len(train), TestSessions: len(test), TrainRows: len(d.X),
		AUCLearned: auc(model), AUCBefore: auc(before),
	}, nil
}

// subsample keeps n rows chosen with seed, scaling weights so the total
// stays the same.
func subsample(d learn.Dataset, n int, seed uint64) learn.Dataset {
	r := rand.New(rand.NewPCG(seed, 0x6c696e676572))
	idx := r.Perm(len(d.X))[:n]
	slices.Sort(idx)
	scale := float64(len(d.X)) / float64(n)
	var out learn.Dataset
	for _, i := range idx {
		out.X = append(out.X, d.X[i])
		out.Y = append(out.Y, d.Y[i])
		out.Weight = append(out.Weight, d.Weight[i]*scale)
	}
	return out
}

// withModel returns base with its abandonment model replaced by m, and the
// config file that says so.
func withModel(base *scoring.Config, m learn.Model) (*scoring.Config, []byte, error) {
	data, err := base.Marshal()
	if err != nil {
		return nil, nil, err
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, nil, err
	}
	weights := map[string]any{}
	for i, sig := range scoring.Signals() {
		weights[sig.Name] = math.Round(m.Weights[i]*1e4) / 1e4
	}
	models, _ := doc["models"].(map[string]any)
	if models == nil {
		models = map[string]any{}
		doc["models"] = models
	}
	models["abandonment"] = map[string]any{"bias": math.Round(m.Bias*1e4) / 1e4, "weights": weights}
	if data, err = yaml.Marshal(doc); err != nil {
		return nil, nil, err
	}
	cfg, err := scoring.ParseConfig(data)
	if err != nil {
		return nil, nil, fmt.Errorf("BUG: the trained config does not parse: %w", err)
	}
	return cfg, data, nil
}
