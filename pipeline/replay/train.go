package replay

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/lingerhq/linger/pipeline/outcomes"

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
	// TargetRate is the share of eligible sessions (as rate_band counts
	// them) the written thresholds invite on the input, all its eligible
	// sessions counted. Default: the middle of the config's rate_band.
	TargetRate float64
	// KeepThresholds writes the config's thresholds unchanged, whatever
	// TargetRate.
	KeepThresholds bool
	// Source is the input recs were read from, if known: when most of
	// them are refused, its error says what would read them.
	Source *Input
	// Progress, if set, is called at the start of each stage (a replay,
	// the fit) and returns the stage's progress callback, or nil.
	Progress func(stage string) func(done, total int)
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
	// Before, After and Written are replays of the starting config, of the
	// learned weights at the starting thresholds, and of Config (the
	// learned weights at the thresholds written), measured per reason.
	Before, After, Written TrainFigures
	// KeepThreshold is the abandonment threshold at which the learned
	// weights keep the invite share of eligible sessions where the
	// starting config had it (KeepShare), the confusion threshold as it
	// was; NaN when no threshold does (no eligible session).
	KeepThreshold, KeepShare float64
	// Target is the invite share of eligible sessions the thresholds were
	// chosen for, TargetFrom where it comes from ("rate_band 3–10%", "the
	// flag"); NaN when the thresholds were kept. Thresholds are those
	// written; TargetNote says what was done to reach the target (a
	// confusion threshold raised, a target out of reach), "" when nothing
	// needs saying.
	Target     float64
	TargetFrom string
	Thresholds Scores
	TargetNote string
}

// TrainFigures are the figures of one config in Train's comparison: per
// reason and in all, on the training sessions' share and the held-out
// sessions' quality.
type TrainFigures struct {
	// Thresholds and Model of the config.
	Thresholds Scores
	Model      string
	// AllShare is the invite share of all eligible sessions of the input
	// (what the target is reached on); Share the same over the held-out
	// sessions.
	AllShare ReasonFigures
	Share    ReasonFigures
	// Precision and Recall over the held-out sessions with a known
	// outcome: of the sessions invited for a reason, the share that
	// abandoned; of the abandoned ones, the share invited for it.
	Precision, Recall ReasonFigures
	// NoInvites says why the config invited nobody, "" when it invited.
	NoInvites string
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
// with the starting ones. It then chooses the thresholds that invite the
// target share of the input's eligible sessions (see chooseThresholds),
// and replays the starting config, the learned weights
// at the starting thresholds and the config it writes, to measure each per
// reason. It is deterministic for a seed.
func Train(recs []Record, o TrainOptions) (*TrainResult, error) {
	if o.Config == nil {
		o.Config = scoring.DefaultConfig()
	}
	if o.TestFraction <= 0 || o.TestFraction >= 1 {
		o.TestFraction = 0.3
	}
	stage := func(name string) func(done, total int) {
		if o.Progress == nil {
			return nil
		}
		return o.Progress(name)
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
		eligible := eligibleMoment(ob) == scoring.OutcomeInvite
		id := string(ob.State.Session)
		mu.Lock()
		moments[id] = append(moments[id], moment{x: x, eligible: eligible})
		mu.Unlock()
	}
	res, err := Run(recs, Options{Config: o.Config, Partitions: o.Partitions, observe: observe, Progress: stage("replaying the starting config")})
	if err != nil {
		return nil, err
	}
	if err := res.CheckRejected(o.Source); err != nil {
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
	heldOut := make(map[string]bool, len(test))
	for _, s := range test {
		heldOut[s.ID] = true
	}

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
	fitting := stage("fitting")
	if fitting != nil {
		fitting(0, 1)
	}
	model, err := learn.Fit(d, learn.Options{L2: o.L2})
	if err != nil {
		return nil, fmt.Errorf("train on %d sessions (%d rows): %w", len(train), len(d.X), err)
	}
	if fitting != nil {
		fitting(1, 1)
	}

	set := o.Config.For(nil)
	before := learn.Model{Bias: set.Bias[scoring.Abandonment], Weights: set.Weight[scoring.Abandonment][:nsig]}
	score := func(m learn.Model, id string) float64 {
		best := math.NaN()
		for _, mo := range moments[id] {
			if mo.eligible && !(m.Score(mo.x) <= best) {
				best = m.Score(mo.x)
			}
		}
		return best
	}
	auc := func(m learn.Model) learn.Estimate {
		scores := make([]float64, len(test))
		positive := make([]bool, len(test))
		for i, s := range test {
			scores[i], positive[i] = score(m, s.ID), s.Outcome(res.end) == "abandoned"
			if math.IsNaN(scores[i]) {
				scores[i] = 0
			}
		}
		return learn.AUC(scores, positive)
	}
	out := &TrainResult{
		TrainSessions: len(train), TestSessions: len(test), TrainRows: len(d.X),
		AUCLearned: auc(model), AUCBefore: auc(before),
		Target: math.NaN(), KeepThreshold: math.NaN(), KeepShare: math.NaN(),
	}

	// The sessions the thresholds are chosen on: every eligible session of
	// the input, censored and held-out ones included (a rate needs no
	// outcome, and no label is looked at: precision on the held-out
	// sessions stays a fair test), each with its highest learned
	// abandonment score and its confusion score at an eligible moment.
	var pool []sessionScores
	for _, s := range res.sessions {
		if s.Eligible {
			pool = append(pool, sessionScores{abandonment: score(model, s.ID), confusion: s.ConfScore, invited: s.invitedFor != 0})
		}
	}
	slices.SortFunc(pool, func(a, b sessionScores) int {
		return cmp.Or(cmp.Compare(b.abandonment, a.abandonment), cmp.Compare(b.confusion, a.confusion))
	})
	th := Scores{Abandonment: o.Config.Thresholds.Abandonment, Confusion: o.Config.Thresholds.Confusion}
	if len(pool) > 0 {
		invited := 0
		for _, p := range pool {
			if p.invited {
				invited++
			}
		}
		out.KeepShare = float64(invited) / float64(len(pool))
		out.KeepThreshold, _ = abandonmentThreshold(pool, th.Confusion, out.KeepShare)
	}
	out.Thresholds = th
	if !o.KeepThresholds {
		out.Target, out.TargetFrom = o.TargetRate, "--target-invite-rate"
		if !(o.TargetRate > 0) {
			band := Band{Low: o.Config.RateBand.MinPercent / 100, High: o.Config.RateBand.MaxPercent / 100}
			out.Target, out.TargetFrom = (band.Low+band.High)/2, "the middle of rate_band "+band.String()
		}
		out.Thresholds, out.TargetNote = chooseThresholds(pool, th, out.Target)
	}

	after, _, err := withModel(o.Config, model, th)
	if err != nil {
		return nil, err
	}
	figures := func(r *Result) TrainFigures {
		f := trainFigures(r, heldOut)
		f.Thresholds = Scores{Abandonment: r.config.Thresholds.Abandonment, Confusion: r.config.Thresholds.Confusion}
		f.Model = r.config.Model()
		return f
	}
	out.Before = figures(res)
	resAfter, err := Run(recs, Options{Config: after, Partitions: o.Partitions, Progress: stage("replaying the learned weights")})
	if err != nil {
		return nil, err
	}
	out.After = figures(resAfter)
	out.Written = out.After
	if out.Config, out.YAML, err = withModel(o.Config, model, out.Thresholds); err != nil {
		return nil, err
	}
	if out.Thresholds != th {
		// The thresholds come from each session's highest scores, which
		// cannot foresee every rule (one invite a session, caps across
		// sessions): the replay says what they invite. When it misses the
		// target by more than a tenth, aim off by the miss, and keep the
		// nearer of the tries.
		aim := out.Target
		for try := 0; ; try++ {
			cfg, data, err := withModel(o.Config, model, out.Thresholds)
			if err != nil {
				return nil, err
			}
			r, err := Run(recs, Options{Config: cfg, Partitions: o.Partitions, Progress: stage("replaying the config written")})
			if err != nil {
				return nil, err
			}
			f := figures(r)
			got := f.AllShare.All.Value
			if try == 0 || math.Abs(got-out.Target) < math.Abs(out.Written.AllShare.All.Value-out.Target) {
				out.Config, out.YAML, out.Written = cfg, data, f
			}
			if try == maxTargetTries-1 || !(math.Abs(got-out.Target) > 0.1*out.Target) {
				break
			}
			aim = min(max(aim+out.Target-got, 0), 1)
			next := out.Thresholds
			next.Abandonment, _ = abandonmentThreshold(pool, next.Confusion, aim)
			if next == out.Thresholds {
				break // the scores allow no nearer threshold
			}
			out.Thresholds = next
		}
		out.Thresholds = out.Written.Thresholds
	}
	return out, nil
}

// maxTargetTries bounds the replays Train spends reaching its target.
const maxTargetTries = 3

// sessionScores is a session's highest scores at an eligible moment, as
// thresholds are chosen on them, and whether the starting config invited
// it.
type sessionScores struct {
	abandonment, confusion float64 // NaN: no eligible moment before buying
	invited                bool
}

// abandonmentThreshold returns the abandonment threshold at which the
// share of pool invited (abandonment score at or above it, or confusion at
// or above confusion) comes nearest target, and that share. pool is sorted
// by abandonment score, highest first. A threshold sits halfway between
// two distinct scores, so that ties do not blur which sessions it invites.
func abandonmentThreshold(pool []sessionScores, confusion, target float64) (threshold, share float64) {
	n := float64(len(pool))
	byConf := 0
	for _, p := range pool {
		if p.confusion >= confusion {
			byConf++
		}
	}
	// Walk the thresholds down through the distinct scores: at each,
	// the sessions invited are those above it, or by confusion.
	best, bestShare := 1.0, float64(byConf)/n
	invited := byConf
	for i := 0; i < len(pool); {
		v := pool[i].abandonment
		if math.IsNaN(v) {
			break
		}
		j := i
		for ; j < len(pool) && pool[j].abandonment == v; j++ {
			if pool[j].confusion < confusion || math.IsNaN(pool[j].confusion) {
				invited++
			}
		}
		// A threshold between v and the next lower score invites pool[:j].
		next := 0.0
		if j < len(pool) && !math.IsNaN(pool[j].abandonment) {
			next = pool[j].abandonment
		}
		t := between(v, next)
		if sh := float64(invited) / n; math.Abs(sh-target) < math.Abs(bestShare-target) {
			best, bestShare = t, sh
		}
		i = j
	}
	return best, bestShare
}

// between returns a threshold in (lo, hi] (a score of hi reaches it, lo
// does not), with as few significant digits as that takes, so that it
// reads well in the config; within (0, 1].
func between(hi, lo float64) float64 {
	mid := (hi + lo) / 2
	for digits := 2; digits < 17; digits++ {
		r, _ := strconv.ParseFloat(strconv.FormatFloat(mid, 'g', digits, 64), 64)
		if r > lo && r <= hi && r > 0 && r <= 1 {
			return r
		}
	}
	return min(max(hi, math.SmallestNonzeroFloat64), 1)
}

// chooseThresholds returns the thresholds that invite the target share of
// pool's eligible sessions, and a note on what it took. Confusion keeps
// its threshold unless confusion alone would invite the target or more;
// then its threshold is set to invite half of it. The abandonment
// threshold then takes the share up to the target, as near as ties allow.
func chooseThresholds(pool []sessionScores, th Scores, target float64) (Scores, string) {
	if len(pool) == 0 {
		return th, "no session was ever eligible for an invite, so no threshold reaches the target: the thresholds stay"
	}
	var conf []float64
	for _, p := range pool {
		if !math.IsNaN(p.confusion) {
			conf = append(conf, p.confusion)
		}
	}
	slices.Sort(conf)
	slices.Reverse(conf)
	n := float64(len(pool))
	byConf := 0
	for _, c := range conf {
		if c >= th.Confusion {
			byConf++
		}
	}
	note := ""
	if float64(byConf)/n >= target {
		// Half the target to confusion: the k-th highest score, halfway
		// to the next one below it.
		k := max(int(math.Round(target/2*n)), 1)
		if k <= len(conf) {
			next := 0.0
			if k < len(conf) {
				next = conf[k]
			}
			old := th.Confusion
			th.Confusion = between(conf[k-1], next)
			note = fmt.Sprintf("confusion alone invited %s of eligible sessions at its threshold %s: raised to %s for half the target",
				outcomes.Percent(float64(byConf)/n)+"%", strconv.FormatFloat(old, 'g', -1, 64), strconv.FormatFloat(th.Confusion, 'g', -1, 64))
		}
	}
	t, share := abandonmentThreshold(pool, th.Confusion, target)
	th.Abandonment = t
	if math.Abs(share-target) > max(0.1*target, 0.5/n) {
		if note != "" {
			note += "; "
		}
		note += fmt.Sprintf("the nearest share the scores allow is %s", outcomes.Percent(share)+"%")
		if share < target {
			note += " (too few eligible sessions score above 0)"
		}
	}
	return th, note
}

// trainFigures measures a replay for Train: the invite share per reason of
// all eligible sessions and of the held-out ones, and
// precision and recall per reason over the held-out sessions with a known
// outcome.
func trainFigures(r *Result, heldOut map[string]bool) TrainFigures {
	var f TrainFigures
	// Counts by [all, abandonment, confusion].
	var allElig, testElig int
	var allInv, testInv, invKnown, invAb [3]int
	abandoned := 0
	for id, s := range r.sessions {
		var by [3]bool
		by[0] = s.invitedFor != 0
		by[1] = s.invitedFor&(1<<schemas.ReasonAbandonment) != 0
		by[2] = s.invitedFor&(1<<schemas.ReasonConfusion) != 0
		if s.Eligible {
			allElig++
			if heldOut[id] {
				testElig++
			}
		}
		for i, b := range by {
			if !b {
				continue
			}
			allInv[i]++
			if heldOut[id] {
				testInv[i]++
			}
		}
		if !heldOut[id] {
			continue
		}
		ab := s.Outcome(r.end) == "abandoned"
		if ab {
			abandoned++
		}
		for i, b := range by {
			if b {
				invKnown[i]++
				if ab {
					invAb[i]++
				}
			}
		}
	}
	figs := func(k [3]int, n func(i int) int) ReasonFigures {
		return ReasonFigures{All: outcomes.Proportion(k[0], n(0)), Abandonment: outcomes.Proportion(k[1], n(1)), Confusion: outcomes.Proportion(k[2], n(2))}
	}
	f.AllShare = figs(allInv, func(int) int { return allElig })
	f.Share = figs(testInv, func(int) int { return testElig })
	f.Precision = figs(invAb, func(i int) int { return invKnown[i] })
	f.Recall = figs(invAb, func(int) int { return abandoned })
	if len(r.Decisions) == 0 || allInv[0] == 0 {
		rep := r.Report("")
		for _, w := range rep.Warnings {
			if w.Code == WarnNoInvites {
				f.NoInvites = strings.TrimPrefix(w.Message, "no invites: ")
			}
		}
	}
	return f
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

// withModel returns base with its abandonment model replaced by m and its
// thresholds by th, and the config file that says so.
func withModel(base *scoring.Config, m learn.Model, th Scores) (*scoring.Config, []byte, error) {
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
	doc["thresholds"] = map[string]any{"abandonment": th.Abandonment, "confusion": th.Confusion}
	if data, err = yaml.Marshal(doc); err != nil {
		return nil, nil, err
	}
	cfg, err := scoring.ParseConfig(data)
	if err != nil {
		return nil, nil, fmt.Errorf("BUG: the trained config does not parse: %w", err)
	}
	return cfg, data, nil
}

// WriteSummary writes what training did, for the terminal: the held-out
// AUC, then for the starting config, the learned weights at its thresholds
// and the config written, the invite share per reason (of all eligible
// sessions, and of the held-out ones) and precision and recall per reason
// over the held-out sessions; the abandonment threshold that keeps the
// invite share where it was; and the target reached.
func (t *TrainResult) WriteSummary(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "trained on %d sessions (%d rows); held out the latest %d\n", t.TrainSessions, t.TrainRows, t.TestSessions)
	fmt.Fprintf(&b, "held-out AUC of the abandonment score: learned %s, starting weights %s\n\n", AUCText(t.AUCLearned), AUCText(t.AUCBefore))
	b.WriteString(wrap("invited: share of the eligible sessions invited (as rate_band counts), of all the input's "+
		"and of the held-out ones; precision and recall over the "+strconv.Itoa(t.TestSessions)+
		" held-out sessions with a known outcome", textWidth, ""))
	for _, c := range []struct {
		title string
		f     *TrainFigures
	}{
		{"starting config", &t.Before},
		{"learned weights, starting thresholds", &t.After},
		{"config written", &t.Written},
	} {
		fmt.Fprintf(&b, "\n%s (%s): thresholds abandonment %s, confusion %s\n", c.title, c.f.Model,
			thresholdText(c.f.Thresholds.Abandonment), thresholdText(c.f.Thresholds.Confusion))
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "\tinvited, all\tinvited, held out\tprecision\trecall")
		cols := [4][]string{}
		for i, of := range []func(*TrainFigures) *ReasonFigures{
			func(f *TrainFigures) *ReasonFigures { return &f.AllShare },
			func(f *TrainFigures) *ReasonFigures { return &f.Share },
			func(f *TrainFigures) *ReasonFigures { return &f.Precision },
			func(f *TrainFigures) *ReasonFigures { return &f.Recall },
		} {
			rf := of(c.f)
			cols[i] = outcomes.FigureCells([]outcomes.Figure{ciOnly(rf.Abandonment), ciOnly(rf.Confusion), ciOnly(rf.All)})
		}
		for j, name := range []string{"abandonment", "confusion", "all"} {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", name, cols[0][j], cols[1][j], cols[2][j], cols[3][j])
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if c.f.NoInvites != "" {
			b.WriteString(wrap("  invites nobody: "+c.f.NoInvites, textWidth, "    "))
		}
	}
	b.WriteByte('\n')
	if t.KeepShare == 0 {
		b.WriteString("the starting config invited no eligible session: no threshold keeps that share but 1\n")
	} else if outcomes.IsFinite(t.KeepThreshold) {
		b.WriteString(wrap(fmt.Sprintf("thresholds.abandonment %s keeps the invite share at %s of eligible sessions with the learned weights, where the starting config had it",
			thresholdText(t.KeepThreshold), outcomes.Percent(t.KeepShare)+"%"), textWidth, "  "))
	}
	if outcomes.IsFinite(t.Target) {
		line := fmt.Sprintf("target: %s of eligible sessions (%s): thresholds abandonment %s, confusion %s invite %s of the input's eligible sessions; held-out precision there %s",
			outcomes.Percent(t.Target)+"%", t.TargetFrom, thresholdText(t.Thresholds.Abandonment), thresholdText(t.Thresholds.Confusion),
			ciOnly(t.Written.AllShare.All).Value, ciOnly(t.Written.Precision.All))
		b.WriteString(wrap(line, textWidth, "  "))
		if t.TargetNote != "" {
			b.WriteString(wrap("  "+t.TargetNote, textWidth, "    "))
		}
	} else {
		b.WriteString("thresholds kept as configured\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// AUCText shows a held-out AUC with its interval, or why there is none.
func AUCText(e learn.Estimate) string {
	if math.IsNaN(e.Value) {
		return "– (one class only)"
	}
	return fmt.Sprintf("%.3f [%.3f–%.3f]", e.Value, e.Lo, e.Hi)
}

// thresholdText shows a threshold as the config file holds it.
func thresholdText(t float64) string { return strconv.FormatFloat(t, 'g', -1, 64) }

// ParsePercent reads a share given as "5%", "5" (percent) or "0.5%", for
// flags such as --target-invite-rate: more than 0, at most 100%.
func ParsePercent(s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), "%")), 64)
	if err != nil || !(v > 0) || v > 100 {
		return 0, fmt.Errorf("%q: want a percentage more than 0 and at most 100, such as 5%%", s)
	}
	return v / 100, nil
}
