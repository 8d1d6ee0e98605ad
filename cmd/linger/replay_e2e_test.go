package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lingerhq/linger/bench"
	"github.com/lingerhq/linger/schemas"
	"github.com/lingerhq/linger/scoring"
	"github.com/twmb/franz-go/pkg/kgo"
)

// simulatedJSONL writes n simulator events (rate new sessions per second)
// as v1 JSON lines, as kcat would record them from visitor-events.
func simulatedJSONL(t *testing.T, n int, rate float64) string {
	t.Helper()
	sim, err := bench.NewSimulator(bench.Config{Seed: 17, Rate: rate})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "events.jsonl")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	st := sim.Stream(0)
	var r bench.Record
	for i := 0; i < n && st.NextRecord(&r); i++ {
		w.Write(r.Value)
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return path
}

func TestReplayCommand(t *testing.T) {
	input := simulatedJSONL(t, 30000, 5)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "short.yaml")
	os.WriteFile(cfg, []byte("session_timeout: 2m\n"), 0o644)
	rj, rh, dj := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.html"), filepath.Join(dir, "d.jsonl")
	code, out := run(t, "replay", "--input", input, "--config", cfg, "--report-json", rj, "--report-html", rh, "--decisions", dj)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	for _, want := range []string{"sessions", "abandoned", "invite rate", "precision", "time on cart page"} {
		if !strings.Contains(out, want) {
			t.Errorf("the text report lacks %q:\n%s", want, out)
		}
	}
	var rep map[string]any
	data, _ := os.ReadFile(rj)
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"sessions_by_outcome", "invites", "invite_rate", "precision", "recall", "auc", "lead_time_s", "baselines"} {
		if _, ok := rep[k]; !ok {
			t.Errorf("report JSON lacks %s", k)
		}
	}
	html, _ := os.ReadFile(rh)
	if !strings.Contains(string(html), "<svg") || strings.Contains(string(html), "<script src") {
		t.Error("the HTML report is not a self-contained page with plots")
	}
	lines := 0
	f, _ := os.Open(dj)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if _, err := schemas.ParseDecision(sc.Bytes()); err != nil {
			t.Fatalf("decision line %d: %v", lines+1, err)
		}
		lines++
	}
	f.Close()
	if inv := rep["invites"].(map[string]any)["total"].(float64) + rep["invites"].(map[string]any)["withdrawn"].(float64); float64(lines) != inv {
		t.Errorf("%d decision lines, the report counts %v", lines, inv)
	}

	code, out = run(t, "replay", "--input", input, "--config", cfg, "--sweep", "thresholds.abandonment=0.6:0.8:0.1")
	if code != 0 || !strings.Contains(out, "3 settings") || !strings.Contains(out, "frontier") {
		t.Fatalf("sweep: exit %d\n%s", code, out)
	}
	if code, out := run(t, "replay", "--input", input, "--sweep", "nothing=1:2:1"); code != 1 || !strings.Contains(out, "no such key") {
		t.Fatalf("a sweep of an unknown key: exit %d\n%s", code, out)
	}
}

func TestTrainCommand(t *testing.T) {
	input := simulatedJSONL(t, 60000, 2)
	dir := t.TempDir()
	base := filepath.Join(dir, "base.yaml")
	os.WriteFile(base, []byte("session_timeout: 2m\n"), 0o644)
	out := filepath.Join(dir, "trained.yaml")
	code, log := run(t, "train", "--input", input, "--config", base, "--out", out, "--seed", "3")
	if code != 0 || !strings.Contains(log, "held-out AUC") {
		t.Fatalf("exit %d\n%s", code, log)
	}
	if code, log := run(t, "config", "check", out); code != 0 {
		t.Fatalf("the trained config does not check: %s", log)
	}
	data, _ := os.ReadFile(out)
	if _, err := scoring.ParseConfig(data); err != nil {
		t.Fatal(err)
	}
	if uci := "/work/shared/data/online-shoppers/online_shoppers_intention.csv"; fileExists(uci) {
		code, log := run(t, "train", "--input", uci, "--format", "uci-online-shoppers")
		if code != 0 || !strings.Contains(log, "(a) linger real-time") {
			t.Fatalf("uci: exit %d\n%s", code, log)
		}
	}
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// TestRunReloadsConfig: `linger run` takes up a changed config file between
// events, logs what changed and decides with the new model; it refuses an
// invalid file, naming the key, and keeps the running config; SIGHUP
// reloads too.
func TestRunReloadsConfig(t *testing.T) {
	addr := startBroker(t, 2)
	cfg := filepath.Join(t.TempDir(), "scoring.yaml")
	os.WriteFile(cfg, []byte("thresholds: {abandonment: 0.7}\n"), 0o644)
	runner := start(t, nil, "run", "--brokers", addr, "--config", cfg, "--http", "", "--group", "reload")
	runner.waitOutput(t, `partitions gained`, 20*time.Second)

	os.WriteFile(cfg, []byte("thresholds: {abandonment: 0.75}\n"), 0o644)
	m := runner.waitOutput(t, `msg="config reloaded" file=\S+ trigger="file changed" model="(m1-\w+) → (m1-\w+)" changed="\[thresholds.abandonment: 0.7 → 0.75\]"`, 10*time.Second)
	newModel := m[2]

	os.WriteFile(cfg, []byte("thresholds: {abandonment: 7}\n"), 0o644)
	runner.waitOutput(t, `config reload refused.*thresholds.abandonment: must be more than 0 and at most 1, got 7`, 10*time.Second)

	// Events now are decided by the reloaded config.
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	keys, values := hesitatingSessions(5, time.Now().Add(-2*time.Minute).UnixMilli())
	var recs []*kgo.Record
	for i := range keys {
		recs = append(recs, &kgo.Record{Topic: schemas.TopicEvents, Key: keys[i], Value: values[i]})
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	for _, d := range readInvites(t, addr, 5) {
		if string(d.Model) != newModel {
			t.Fatalf("decision by model %s, want the reloaded %s", d.Model, newModel)
		}
	}

	os.WriteFile(cfg, []byte("thresholds: {abandonment: 0.75}\n"), 0o644)
	runner.cmd.Process.Signal(syscall.SIGHUP)
	runner.waitOutput(t, `trigger=SIGHUP`, 10*time.Second)
	runner.stop(t, 10*time.Second)
}
