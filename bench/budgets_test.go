package bench

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"
)

// judged is a Result at 20k events/s under the budgets' conditions, from
// the embedded processor at its defaults, that meets every budget but the
// passthrough ratio (n.a. without --mode both).
func judged() *Result {
	interval := 100.0
	return &Result{
		Mode: "linger", Rate: 20000, Embedded: true, CommitIntervalMs: &interval, CacheBytes: 256 << 20, Replicas: 1,
		Latency:           Percentiles{Count: 500, P50: 40, P90: 90, P99: 150, P999: 190, Max: 210},
		CPUMicrosPerEvent: 4.2, RSSBytes: 400 << 20, RSSMaxBytes: 480 << 20, RSSMaxReplicaBytes: 480 << 20,
		CacheHorizonSeconds: 2400, SessionTimeoutSeconds: 1800,
	}
}

// verdictOf returns r's verdict on the budget name.
func verdictOf(t *testing.T, r *Result, name string) Verdict {
	t.Helper()
	for _, v := range r.Judge() {
		if v.Name == name {
			return v
		}
	}
	t.Fatalf("no verdict %s", name)
	return Verdict{}
}

func TestJudge(t *testing.T) {
	// f checks the verdict on budget name of the Result that change makes
	// of judged(): its outcome, figure (NaN: none) and, for n.a., words of
	// its reason.
	f := func(name string, change func(r *Result), outcome string, figure float64, why string) {
		t.Helper()
		r := judged()
		if change != nil {
			change(r)
		}
		v := verdictOf(t, r, name)
		if v.Outcome != outcome {
			t.Errorf("%s: %s (%s), want %s", name, v.Outcome, v.Why, outcome)
		}
		switch {
		case math.IsNaN(figure) && v.Figure != nil:
			t.Errorf("%s: figure %v, want none", name, *v.Figure)
		case !math.IsNaN(figure) && (v.Figure == nil || *v.Figure != figure):
			t.Errorf("%s: figure %v, want %v", name, v.Figure, figure)
		}
		if (v.Pass == nil) != (outcome == OutcomeNA) || v.Pass != nil && *v.Pass != (outcome == OutcomePass) {
			t.Errorf("%s: pass %v with outcome %s", name, v.Pass, v.Outcome)
		}
		if !strings.Contains(v.Why, why) || (why == "") != (v.Why == "") {
			t.Errorf("%s: why %q, want %q", name, v.Why, why)
		}
	}
	nan := math.NaN()

	// p99 decision latency ≤ 200 ms at the default commit interval.
	f("latency_p99", nil, OutcomePass, 150, "")
	f("latency_p99", func(r *Result) { r.Latency.P99 = 200 }, OutcomePass, 200, "") // at the budget
	f("latency_p99", func(r *Result) { r.Latency.P99 = 200.5 }, OutcomeFail, 200.5, "")
	f("latency_p99", func(r *Result) { r.Rate = 0 }, OutcomeNA, 150, "backlog is the latency")
	f("latency_p99", func(r *Result) { r.Latency = Percentiles{} }, OutcomeNA, nan, "no invite was timed")
	f("latency_p99", func(r *Result) { v := 500.0; r.CommitIntervalMs = &v }, OutcomeNA, 150, "commit interval was 500 ms")
	f("latency_p99", func(r *Result) { v := 0.0; r.CommitIntervalMs = &v }, OutcomeNA, 150, "commit interval was 0 s")
	f("latency_p99", func(r *Result) { r.CommitIntervalMs = nil }, OutcomePass, 150, "") // --brokers: not known, judged

	// Processor CPU ≤ 5 µs/event at 20k events/s.
	f("cpu_per_event", nil, OutcomePass, 4.2, "")
	f("cpu_per_event", func(r *Result) { r.CPUMicrosPerEvent = 27.5 }, OutcomeFail, 27.5, "")
	f("cpu_per_event", func(r *Result) { r.Rate = 5000 }, OutcomeNA, 4.2, "asked for 5k events/s")
	f("cpu_per_event", func(r *Result) { r.Rate = 0 }, OutcomeNA, 4.2, "--rate 0")
	f("cpu_per_event", func(r *Result) { r.CPUMicrosPerEvent = 0 }, OutcomeNA, nan, "--metrics")

	// Cache horizon ≥ the session timeout the processors report.
	f("cache_horizon", nil, OutcomePass, 2400, "")
	f("cache_horizon", func(r *Result) { r.CacheHorizonSeconds = 1800 }, OutcomePass, 1800, "")
	f("cache_horizon", func(r *Result) { r.CacheHorizonSeconds = 61 }, OutcomeFail, 61, "")
	f("cache_horizon", func(r *Result) { r.SessionTimeoutSeconds = 0 }, OutcomeNA, 2400, "do not report their session timeout")
	f("cache_horizon", func(r *Result) { r.CacheHorizonSeconds, r.CacheQuietSeconds = 0, 180 }, OutcomeNA, nan, "after 3 min of quiet")
	f("cache_horizon", func(r *Result) { r.RSSBytes, r.CacheHorizonSeconds = 0, 0 }, OutcomeNA, nan, "--metrics")

	// No session lost early.
	f("sessions_lost_early", nil, OutcomePass, 0, "")
	f("sessions_lost_early", func(r *Result) { r.StateLost = 11 }, OutcomeFail, 11, "")
	f("sessions_lost_early", func(r *Result) { r.RSSBytes = 0 }, OutcomeNA, nan, "--metrics")

	// Processor RSS ≤ 512 MiB with the default --cache-bytes: the largest
	// replica's most.
	f("rss", nil, OutcomePass, 480, "")
	f("rss", func(r *Result) { r.RSSMaxReplicaBytes = 513 << 20 }, OutcomeFail, 513, "")
	f("rss", func(r *Result) { r.RSSMaxBytes, r.Replicas = 900<<20, 2 }, OutcomePass, 480, "") // two replicas of 450 at most
	f("rss", func(r *Result) { r.CacheBytes = 1 << 30 }, OutcomeNA, 480, "--cache-bytes was 1024.0 MiB")
	f("rss", func(r *Result) { r.CacheBytes = 0 }, OutcomePass, 480, "")         // --brokers: not known, judged
	f("rss", func(r *Result) { r.RSSMaxReplicaBytes = 0 }, OutcomePass, 480, "") // a result from before the field, one replica
	f("rss", func(r *Result) { r.RSSMaxReplicaBytes, r.RSSMaxBytes = 0, 0 }, OutcomeNA, nan, "--metrics")

	// linger ÷ passthrough ≥ 0.9 at --rate 0 with --mode both.
	both := func(ratio, rate float64) func(r *Result) {
		return func(r *Result) {
			r.Passthrough, r.PassthroughRatio, r.Rate = &Result{Mode: "passthrough", AchievedEPS: 240000}, ratio, rate
		}
	}
	f("passthrough_ratio", nil, OutcomeNA, nan, "needs --mode both")
	f("passthrough_ratio", both(0.98, 0), OutcomePass, 0.98, "")
	f("passthrough_ratio", both(0.9, 0), OutcomePass, 0.9, "")
	f("passthrough_ratio", both(0.85, 0), OutcomeFail, 0.85, "")
	f("passthrough_ratio", both(0.97, 20000), OutcomeNA, 0.97, "asked for 20k events/s")
	f("passthrough_ratio", both(0, 0), OutcomeNA, nan, "processed nothing")

	// A passthrough run: the budgets are linger's.
	pt := judged()
	pt.Mode = "passthrough"
	for _, v := range pt.Judge() {
		if v.Outcome != OutcomeNA || v.Figure != nil || !strings.Contains(v.Why, "passthrough run") {
			t.Errorf("passthrough run: %+v", v)
		}
	}
	// One verdict per budget, in the table's order, with its limit.
	vs, bs := judged().Judge(), Budgets()
	if len(vs) != len(bs) {
		t.Fatalf("%d verdicts for %d budgets", len(vs), len(bs))
	}
	for i, v := range vs {
		if v.Name != bs[i].Name || v.Label != bs[i].Label || v.Unit != bs[i].Unit || v.Budget == nil {
			t.Errorf("verdict %d: %+v for budget %+v", i, v, bs[i])
		}
	}
	if v := vs[2]; *v.Budget != 1800 || v.BudgetText() != "≥ the session timeout (30 min)" {
		t.Errorf("horizon's budget %v, %q: want the session timeout", *v.Budget, v.BudgetText())
	}
	if v := verdictOf(t, &Result{Mode: "linger"}, "cache_horizon"); v.Budget != nil || v.BudgetText() != "≥ the session timeout" {
		t.Errorf("horizon with no timeout known: %v, %q", v.Budget, v.BudgetText())
	}
}

// TestBudgetsTable: the table's figures are the ones the project has set,
// and said in the words the README uses.
func TestBudgetsTable(t *testing.T) {
	want := []string{
		"p99 decision latency ≤ 200 ms at the default commit interval (100 ms)",
		"processor CPU ≤ 5 µs/event at 20k events/s",
		"cache horizon ≥ the session timeout",
		"sessions lost early = 0",
		"processor RSS ≤ 512 MiB with the default --cache-bytes (256 MiB)",
		"linger ÷ passthrough ≥ 0.9 at --rate 0 (--mode both)",
	}
	bs := Budgets()
	if len(bs) != len(want) {
		t.Fatalf("%d budgets, want %d", len(bs), len(want))
	}
	names := map[string]bool{}
	for i, b := range bs {
		if got := b.String(); got != want[i] {
			t.Errorf("budget %d reads %q, want %q", i, got, want[i])
		}
		if names[b.Name] || b.measure == nil {
			t.Errorf("budget %q: a name used twice, or nothing to measure", b.Name)
		}
		names[b.Name] = true
	}
	if DefaultSLOP99.Milliseconds() != int64(bs[0].Limit) {
		t.Errorf("--slo-p99's default %v is not the latency budget %v ms", DefaultSLOP99, bs[0].Limit)
	}
	// Budgets hands out a copy: changing it changes no verdict.
	bs[0].Limit = 1
	if v := verdictOf(t, judged(), "latency_p99"); *v.Budget != 200 {
		t.Errorf("the table changed through Budgets(): %v", *v.Budget)
	}
}

// performanceTable returns the first cells, backticks taken out, of the
// rows of the first table under the heading in the markdown file at path.
func performanceTable(t *testing.T, path, heading string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	i := strings.Index(text, "\n"+heading+"\n")
	if i < 0 {
		t.Fatalf("%s has no %q", path, heading)
	}
	text = text[i+len(heading)+2:]
	if j := strings.Index(text, "\n## "); j >= 0 {
		text = text[:j]
	}
	var rows []string
	inTable := false
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			if inTable {
				break
			}
			continue
		}
		inTable = true
		cells := strings.Split(strings.Trim(line, "|"), "|")
		first := strings.TrimSpace(strings.ReplaceAll(cells[0], "`", ""))
		if first == "budget" || strings.Trim(first, "-: ") == "" {
			continue // the header and its rule
		}
		rows = append(rows, first)
	}
	return rows
}

// TestBudgetsInREADMEs keeps the READMEs' tables of the bench's budgets in
// step with Budgets: each says every budget, in order, in the table's
// words, and nothing else; a figure changed on either side fails here.
func TestBudgetsInREADMEs(t *testing.T) {
	for _, c := range []struct{ path, heading string }{
		{"../README.md", "## Performance"},
		{"README.md", "## Budgets"},
	} {
		rows := performanceTable(t, c.path, c.heading)
		var want []string
		for _, b := range Budgets() {
			want = append(want, b.String())
		}
		if strings.Join(rows, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s, %s: the first table's budgets are\n\t%s\nwant (bench/budgets.go)\n\t%s",
				c.path, c.heading, strings.Join(rows, "\n\t"), strings.Join(want, "\n\t"))
		}
	}
}

func TestWriteVerdicts(t *testing.T) {
	r := judged()
	r.CPUMicrosPerEvent, r.StateLost = 27.5, 1
	var b bytes.Buffer
	if err := r.WriteVerdicts(&b); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	for i := range lines {
		lines[i] = strings.Join(strings.Fields(lines[i]), " ")
	}
	want := []string{
		"budgets: 3 met, 2 missed, 1 not applicable to this run",
		"pass p99 decision latency 150ms ≤ 200 ms at the default commit interval (100 ms)",
		"FAIL processor CPU 27.50 µs/event ≤ 5 µs/event at 20k events/s",
		"pass cache horizon 40 min ≥ the session timeout (30 min)",
		"FAIL sessions lost early 1 session = 0",
		"pass processor RSS 480.0 MiB ≤ 512 MiB with the default --cache-bytes (256 MiB)",
		"n.a. linger ÷ passthrough – ≥ 0.9 at --rate 0 (--mode both): needs --mode both",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("WriteVerdicts:\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	// No Go names in what a user reads.
	for _, s := range []string{"Result", "Verdict", "Budget{", "0x", "%!", "<nil>", "NaN"} {
		if strings.Contains(b.String(), s) {
			t.Errorf("verdicts hold %q:\n%s", s, b.String())
		}
	}
}

// TestVerdictsJSON: the verdicts' JSON, as CI reads it; a verdict read
// back from it writes the same words.
func TestVerdictsJSON(t *testing.T) {
	r := judged()
	r.CacheHorizonSeconds = 61
	var b bytes.Buffer
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Verdicts []map[string]any `json:"verdicts"`
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Verdicts) != len(budgets) {
		t.Fatalf("%d verdicts in the JSON", len(doc.Verdicts))
	}
	h := doc.Verdicts[2]
	for k, want := range map[string]any{"name": "cache_horizon", "label": "cache horizon", "figure": 61.0, "unit": "s", "budget": 1800.0, "at_least": true, "pass": false, "verdict": "fail"} {
		if h[k] != want {
			t.Errorf("horizon verdict %s = %v, want %v", k, h[k], want)
		}
	}
	ratio := doc.Verdicts[5]
	if ratio["pass"] != nil || ratio["figure"] != nil || ratio["verdict"] != "n.a." || ratio["why"] != "needs --mode both" {
		t.Errorf("ratio verdict %v, want n.a. with pass and figure null", ratio)
	}
	var back Result
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	if err := back.WriteVerdicts(&again); err != nil {
		t.Fatal(err)
	}
	var first bytes.Buffer
	_ = r.WriteVerdicts(&first)
	if again.String() != first.String() {
		t.Errorf("read back:\n%s\nwant\n%s", again.String(), first.String())
	}
}

func TestParseRate(t *testing.T) {
	for in, want := range map[string]float64{
		"20000": 20000, "20k": 20000, "20K": 20000, "1.5k": 1500, "2M": 2e6, "0": 0, "0.5": 0.5,
		" 20k ": 20000, "20k/s": 20000, "1.234k": 1234, "2.5M": 2.5e6, ".5k": 500, "7.": 7,
	} {
		got, err := ParseRate(in)
		if err != nil || got != want {
			t.Errorf("ParseRate(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for in, words := range map[string]string{
		"": "not a rate", "k": "not a rate", "20q": "not a rate", "1e3": "not a rate", "0x10": "not a rate",
		"Inf": "not a rate", "NaN": "not a rate", "1.2.3k": "not a rate", "2m": "not a rate", "20 000": "not a rate",
		"-1": "must not be negative", "-20k": "must not be negative", ".": "not a rate",
	} {
		_, err := ParseRate(in)
		if err == nil || !strings.Contains(err.Error(), words) || !strings.Contains(err.Error(), `"`+in+`"`) {
			t.Errorf("ParseRate(%q): %v, want an error naming it, %q", in, err, words)
		}
	}
	if _, err := ParseRate("2m"); err == nil || !strings.Contains(err.Error(), "M for millions") {
		t.Errorf("the error says how to write a rate: %v", err)
	}
	for v, want := range map[float64]string{20000: "20k", 1500: "1.5k", 2e6: "2M", 250: "250", 0: "0", 1234: "1.234k", 1.5e6: "1.5M", 1234567: "1234.567k"} {
		got := FormatRate(v)
		if got != want {
			t.Errorf("FormatRate(%v) = %q, want %q", v, got, want)
		}
		if back, err := ParseRate(got); err != nil || back != v {
			t.Errorf("FormatRate(%v) = %q reads back as %v, %v", v, got, back, err)
		}
	}
}

func TestCacheBytesToCover(t *testing.T) {
	const mebi = 1 << 20
	for _, c := range []struct {
		timeout, quiet, rate float64
		want                 int64
	}{
		// 30 min, 3 min in the hot tables, 3 MiB/s: 1620 s × 3 MiB ÷ 0.75.
		{1800, 180, 3 * mebi, 6480 * mebi},
		// Rounded up to a MiB.
		{1800, 180, 1000, 3 * mebi}, // 2.16e6 B
		{1800, 0, 0.75 * mebi / 1800, 1 * mebi},
		{1800, 0, 0.75*mebi/1800 + 0.001, 2 * mebi},
		// The hot tables alone cover it, or nothing is written.
		{120, 180, 3 * mebi, 0},
		{1800, 180, 0, 0},
		{1800, 180, math.Inf(1), 0},
	} {
		if got := CacheBytesToCover(c.timeout, c.quiet, c.rate); got != c.want {
			t.Errorf("CacheBytesToCover(%v, %v, %v) = %d, want %d", c.timeout, c.quiet, c.rate, got, c.want)
		}
	}
}

func TestCacheWarning(t *testing.T) {
	r := judged()
	if w := r.CacheWarning(); w != "" {
		t.Errorf("a horizon over the timeout warns: %q", w)
	}
	r.CacheHorizonSeconds, r.CacheQuietSeconds, r.StateBytesPerSecond = 78, 180, 3<<20
	r.CacheBytesNeeded = CacheBytesToCover(r.SessionTimeoutSeconds, r.CacheQuietSeconds, r.StateBytesPerSecond)
	want := "By the processors' estimate, a session quiet for longer than 1 min 18 s loses its state before the session timeout of 30 min. " +
		"At the write rate measured in the window, 3.0 MiB/s of state to fastcache (by the replica that wrote most), --cache-bytes 6480MiB per replica would cover it: (30 min timeout − 3 min in the hot tables) × 3.0 MiB/s ÷ 0.75 (fastcache's share of --cache-bytes), rounded up to a MiB."
	if w := r.CacheWarning(); w != want {
		t.Errorf("warning:\n%s\nwant\n%s", w, want)
	}
	var b bytes.Buffer
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "cache warning  "+want) {
		t.Errorf("the summary lacks the warning:\n%s", b.String())
	}
}

func TestDurationWords(t *testing.T) {
	for s, want := range map[float64]string{
		0: "0 s", 0.1: "100 ms", 0.0125: "12.5 ms", 1: "1 s", 49: "49 s", 59.96: "60 s", 60: "1 min", 78: "1 min 18 s",
		1800: "30 min", 3600: "1 h", 7500: "2 h 5 min", 7530: "2 h 5 min",
	} {
		if got := durationWords(s); got != want {
			t.Errorf("durationWords(%v) = %q, want %q", s, got, want)
		}
	}
}

// TestAgainstPassthrough: --mode both's comparison gives the throughput
// ratio and, when both runs measured their CPU, each one's CPU an event
// and the difference; at a rate both kept up with, it says that the CPU
// is the figure to read. Nothing without a passthrough run.
func TestAgainstPassthrough(t *testing.T) {
	pt := &Result{Mode: "passthrough", AchievedEPS: 20000, CPUMicrosPerEvent: 2.5}
	cases := []struct {
		name string
		r    Result
		want string
	}{
		{"no passthrough", Result{Mode: "linger", CPUMicrosPerEvent: 5.7}, ""},
		{"fixed rate", Result{Mode: "linger", Rate: 20000, Passthrough: pt, PassthroughRatio: 1, CPUMicrosPerEvent: 5.75},
			"linger carries 1.00× the passthrough's throughput and spends 5.75 µs of CPU an event to its 2.50 (2.30×): 3.25 µs an event beyond the transport. At 20k events/s asked, both carried what was offered: the CPU is what tells them apart."},
		{"fell behind", Result{Mode: "linger", Rate: 20000, Passthrough: pt, PassthroughRatio: 0.8, CPUMicrosPerEvent: 5},
			"linger carries 0.80× the passthrough's throughput and spends 5.00 µs of CPU an event to its 2.50 (2.00×): 2.50 µs an event beyond the transport."},
		{"full speed", Result{Mode: "linger", Passthrough: pt, PassthroughRatio: 0.93, CPUMicrosPerEvent: 3.4},
			"linger carries 0.93× the passthrough's throughput and spends 3.40 µs of CPU an event to its 2.50 (1.36×): 0.90 µs an event beyond the transport."},
		{"no CPU figure", Result{Mode: "linger", Passthrough: &Result{Mode: "passthrough"}, PassthroughRatio: 0.93, CPUMicrosPerEvent: 3.4},
			"linger carries 0.93× the passthrough's throughput."},
	}
	for _, c := range cases {
		if got := c.r.AgainstPassthrough(); got != c.want {
			t.Errorf("%s:\n got %q\nwant %q", c.name, got, c.want)
		}
	}
}
