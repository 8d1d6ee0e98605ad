package replay_test

import (
	"bytes"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/lingerhq/linger/bench"
	"github.com/lingerhq/linger/pipeline/replay"
	"github.com/lingerhq/linger/scoring"
)

// TestTrain: training on simulated traffic, whose personas abandon or buy,
// gives a config that parses and replays, a held-out AUC for the learned and
// the starting weights, and the same result twice.
func TestTrain(t *testing.T) {
	// A short session timeout, so most of a few minutes of traffic have a
	// known outcome.
	base, err := scoring.ParseConfig([]byte("session_timeout: 2m\n"))
	if err != nil {
		t.Fatal(err)
	}
	recs := simulate(t, 3, 2, 100000)
	a, err := replay.Train(recs, replay.TrainOptions{Config: base, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if a.TrainSessions == 0 || a.TestSessions == 0 || a.TrainRows < a.TrainSessions {
		t.Fatalf("train %d sessions (%d rows), test %d", a.TrainSessions, a.TrainRows, a.TestSessions)
	}
	for _, e := range []struct {
		name string
		v    float64
		n    int
	}{{"learned", a.AUCLearned.Value, a.AUCLearned.N}, {"before", a.AUCBefore.Value, a.AUCBefore.N}} {
		if !(e.v > 0.5 && e.v <= 1) || e.n != a.TestSessions {
			t.Fatalf("%s AUC %v over %d sessions: want better than chance over the %d held out", e.name, e.v, e.n, a.TestSessions)
		}
	}
	t.Logf("held-out AUC: learned %.3f [%.3f–%.3f], default %.3f [%.3f–%.3f], n=%d",
		a.AUCLearned.Value, a.AUCLearned.Lo, a.AUCLearned.Hi, a.AUCBefore.Value, a.AUCBefore.Lo, a.AUCBefore.Hi, a.TestSessions)
	cfg, err := scoring.ParseConfig(a.YAML)
	if err != nil {
		t.Fatalf("the trained config does not parse: %v", err)
	}
	if cfg.Model() == base.Model() {
		t.Fatal("the trained config is the one it started from")
	}
	if cfg.Model() != a.Config.Model() {
		t.Fatal("the YAML and the config differ")
	}
	if _, err := replay.Run(recs[:1000], replay.Options{Config: cfg}); err != nil {
		t.Fatal(err)
	}
	b, err := replay.Train(recs, replay.TrainOptions{Config: base, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.YAML, b.YAML) {
		t.Fatal("two trainings on the same input differ")
	}
}

// simulate plays n events of the simulator at rate new sessions per second:
// a low rate spreads them over more event time.
func simulate(t *testing.T, seed uint64, rate float64, n int) []replay.Record {
	t.Helper()
	sim, err := bench.NewSimulator(bench.Config{Seed: seed, Rate: rate})
	if err != nil {
		t.Fatal(err)
	}
	st := sim.Stream(0)
	out := make([]replay.Record, 0, n)
	var r bench.Record
	for len(out) < n && st.NextRecord(&r) {
		out = append(out, replay.Record{Key: append([]byte(nil), r.Key...), Value: append([]byte(nil), r.Value...), TS: r.TS})
	}
	return out
}

// TestTrainTarget: the config written invites the target share of eligible
// sessions when replayed on the input, as training says it does; the
// figures before and after are per reason; --target-invite-rate keep keeps
// the thresholds; each stage reports its progress.
func TestTrainTarget(t *testing.T) {
	base, err := scoring.ParseConfig([]byte("session_timeout: 2m\n"))
	if err != nil {
		t.Fatal(err)
	}
	recs := simulate(t, 3, 2, 100000)
	var stages []string
	progress := func(stage string) func(done, total int) {
		stages = append(stages, stage)
		return func(done, total int) {}
	}
	res, err := replay.Train(recs, replay.TrainOptions{Config: base, Seed: 1, TargetRate: 0.05, Progress: progress})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Written.AllShare.All.Value; math.Abs(got-0.05) > 0.01 {
		t.Errorf("the config written invites %.3f of eligible sessions, want about 0.05", got)
	}
	if res.Config.Thresholds.Abandonment != res.Thresholds.Abandonment || res.Config.Thresholds.Confusion != res.Thresholds.Confusion {
		t.Errorf("config thresholds %+v, result's %+v", res.Config.Thresholds, res.Thresholds)
	}
	// A replay of the config written, as `linger replay --config` would,
	// measures what training said.
	rr, err := replay.Run(recs, replay.Options{Config: res.Config})
	if err != nil {
		t.Fatal(err)
	}
	if got, said := rr.Report("").InviteShare.All, res.Written.AllShare.All; got.Value != said.Value || got.N != said.N {
		t.Errorf("replayed, the config invites %v of %d eligible sessions; training said %v of %d", got.Value, got.N, said.Value, said.N)
	}
	for name, f := range map[string]replay.TrainFigures{"before": res.Before, "after": res.After, "written": res.Written} {
		if f.Precision.All.N == 0 || f.Share.All.N == 0 || f.AllShare.All.N < f.Share.All.N || f.Model == "" {
			t.Errorf("%s: %+v", name, f)
		}
		if f.AllShare.Abandonment.Value+f.AllShare.Confusion.Value < f.AllShare.All.Value-1e-9 {
			t.Errorf("%s: the reasons' shares %v + %v add up to less than the whole %v", name, f.AllShare.Abandonment.Value, f.AllShare.Confusion.Value, f.AllShare.All.Value)
		}
	}
	if res.Before.Thresholds.Abandonment != 0.7 || res.After.Thresholds != res.Before.Thresholds || res.After.Model == res.Before.Model {
		t.Errorf("before %+v, after %+v", res.Before, res.After)
	}
	if !(res.KeepThreshold > 0 && res.KeepThreshold <= 1) || math.Abs(res.KeepShare-res.Before.AllShare.All.Value) > 1e-9 {
		t.Errorf("keep threshold %v for share %v (before: %v)", res.KeepThreshold, res.KeepShare, res.Before.AllShare.All.Value)
	}
	if len(stages) < 4 || stages[0] != "replaying the starting config" || stages[1] != "fitting" {
		t.Errorf("stages %q", stages)
	}
	var b bytes.Buffer
	if err := res.WriteSummary(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"starting config (", "learned weights, starting thresholds (", "config written (", "  confusion  ", "precision", "recall",
		"keeps the invite share at", "target: 5.0% of eligible sessions (--target-invite-rate)"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, b.String())
		}
	}
	t.Logf("\n%s", b.String())

	kept, err := replay.Train(recs, replay.TrainOptions{Config: base, Seed: 1, KeepThresholds: true})
	if err != nil {
		t.Fatal(err)
	}
	if kept.Config.Thresholds != base.Thresholds || !math.IsNaN(kept.Target) {
		t.Errorf("kept thresholds %+v, target %v", kept.Config.Thresholds, kept.Target)
	}
}

// TestTrainREES46: on the real marketplace slice, where the default model
// invites nobody, training writes thresholds that invite the target share,
// and a replay of the config written does.
func TestTrainREES46(t *testing.T) {
	const path = "/work/shared/data/rees46-2019oct-head/events_2019-10-01_0000-0250_utc.csv"
	f, err := os.Open(path)
	if err != nil {
		t.Skipf("the REES46 slice is not here: %v", err)
	}
	defer f.Close()
	in, err := replay.ReadInput(f, "")
	if err != nil {
		t.Fatal(err)
	}
	res, err := replay.Train(in.Records, replay.TrainOptions{TargetRate: 0.05, Source: in})
	if err != nil {
		t.Fatal(err)
	}
	if res.Before.NoInvites == "" || !strings.Contains(res.Before.NoInvites, "abandonment scores reach") {
		t.Errorf("the default config should invite nobody, and say why: %q", res.Before.NoInvites)
	}
	rr, err := replay.Run(in.Records, replay.Options{Config: res.Config})
	if err != nil {
		t.Fatal(err)
	}
	got := rr.Report(path).InviteShare.All
	if math.Abs(got.Value-0.05) > 0.01 {
		t.Errorf("replayed, the trained config invites %.3f of %d eligible sessions, want about 0.05", got.Value, got.N)
	}
	t.Logf("thresholds %+v invite %.3f of %d eligible sessions", res.Thresholds, got.Value, got.N)
}
