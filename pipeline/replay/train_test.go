package replay_test

import (
	"bytes"
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
