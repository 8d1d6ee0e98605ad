package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/lingerhq/linger/schemas"
)

// runSplit runs linger to completion and returns its exit code, stdout and
// stderr apart: warnings go to stderr, reports to stdout.
func runSplit(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := contextWithTimeout(2 * 60e9)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, o.String(), e.String()
}

const (
	rees46Path = "/work/shared/data/rees46-2019oct-head/events_2019-10-01_0000-0250_utc.csv"
	uciPath    = "/work/shared/data/online-shoppers/online_shoppers_intention.csv"
)

// rees46CSV writes a small CSV in the REES46 layout: sessions of a few
// product views over an hour, so that outcomes are known.
func rees46CSV(t *testing.T, sessions int) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session\n")
	for i := range sessions {
		for v := range 2 + i%3 {
			sec := i*7 + v*20
			fmt.Fprintf(&b, "2019-10-01 %02d:%02d:%02d UTC,view,%d,2053013552326770905,,acme,%d.99,%d,s-%d\n", sec/3600, sec/60%60, sec%60, 1000+v, 10+i%50, 500+i, i)
		}
	}
	path := filepath.Join(t.TempDir(), "rees46.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// flat joins wrapped lines, and runs of spaces, so that a test can look for
// a sentence wherever the report wraps it.
func flat(s string) string { return strings.Join(strings.Fields(s), " ") }

func readJSON(t *testing.T, path string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// TestReplayWarnsWhenCensored: a few minutes of traffic replays with a
// warning on stderr, and the same in the text, JSON and HTML reports.
func TestReplayWarnsWhenCensored(t *testing.T) {
	input := simulatedJSONL(t, 20000, 5)
	dir := t.TempDir()
	rj, rh := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.html")
	code, stdout, stderr := runSplit(t, "replay", "--input", input, "--report-json", rj, "--report-html", rh)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	re := regexp.MustCompile(`(?m)^warning: (\d+)% of sessions censored \((\d+) of (\d+)\): the input spans (\d+m(\d+s)?|\d+s); an outcome needs 30m of quiet after a session's last event$`)
	m := re.FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("no censoring warning on stderr:\n%s", stderr)
	}
	pct, _ := strconv.Atoi(m[1])
	censored, _ := strconv.Atoi(m[2])
	sessions, _ := strconv.Atoi(m[3])
	if pct <= 50 || math.Abs(float64(pct)-100*float64(censored)/float64(sessions)) > 0.5 {
		t.Errorf("warning says %d%% (%d of %d)", pct, censored, sessions)
	}
	if !strings.Contains(stdout, "warning: "+m[1]+"% of sessions censored") {
		t.Errorf("the text report lacks the warning:\n%s", stdout)
	}
	doc := readJSON(t, rj)
	ws, _ := doc["warnings"].([]any)
	if len(ws) == 0 || ws[0].(map[string]any)["code"] != "mostly_censored" || !strings.HasPrefix(ws[0].(map[string]any)["message"].(string), m[1]+"% of sessions censored") {
		t.Errorf("JSON warnings: %v", doc["warnings"])
	}
	if byOutcome := doc["sessions_by_outcome"].(map[string]any); int(byOutcome["censored"].(float64)) != censored {
		t.Errorf("JSON counts %v censored, the warning %d", byOutcome["censored"], censored)
	}
	html, _ := os.ReadFile(rh)
	if !strings.Contains(string(html), `<p class="warning"><strong>warning:</strong> `+m[1]+`% of sessions censored`) {
		t.Error("the HTML report lacks the warning")
	}

	// Short sessions over 14 minutes, a 1m timeout: most outcomes are
	// known, no censoring warning.
	cfg := filepath.Join(dir, "short.yaml")
	os.WriteFile(cfg, []byte("session_timeout: 1m\n"), 0o644)
	if code, _, stderr := runSplit(t, "replay", "--input", rees46CSV(t, 120), "--config", cfg); code != 0 || strings.Contains(stderr, "censored") {
		t.Errorf("with a 1m timeout: exit %d\n%s", code, stderr)
	}
}

// TestReplayDetectsFormat: a REES46 CSV replays without --format; read as
// JSON lines it is refused with the first reasons and the flag that reads
// it, and no report; the UCI data and an unknown CSV are refused, saying
// what to do.
func TestReplayDetectsFormat(t *testing.T) {
	csv := rees46CSV(t, 120)
	code, stdout, stderr := runSplit(t, "replay", "--input", csv)
	if code != 0 || !strings.Contains(stderr, "format rees46 (detected") || !regexp.MustCompile(`events +\d+ read, 0 rejected`).MatchString(stdout) {
		t.Fatalf("rees46 without --format: exit %d\n%s%s", code, stdout, stderr)
	}

	code, stdout, stderr = runSplit(t, "replay", "--input", csv, "--format", "jsonl")
	if code == 0 || stdout != "" {
		t.Fatalf("a CSV read as JSON lines: exit %d, stdout:\n%s", code, stdout)
	}
	for _, want := range []string{"records rejected as not valid v1 events", "\n  line 1: invalid_json", "\n  line 2: invalid_json", "\n  line 3: invalid_json", "give --format rees46"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, "\n  line 4:") {
		t.Errorf("more than the first few reasons:\n%s", stderr)
	}

	other := filepath.Join(t.TempDir(), "other.csv")
	os.WriteFile(other, []byte("when,what,who\n1,2,3\n"), 0o644)
	if code, _, stderr := runSplit(t, "replay", "--input", other); code != 1 || !strings.Contains(stderr, "cannot tell the input's format") || !strings.Contains(stderr, "give --format") {
		t.Errorf("an unknown CSV: exit %d\n%s", code, stderr)
	}
	if fileExists(uciPath) {
		if code, _, stderr := runSplit(t, "replay", "--input", uciPath); code != 1 || !strings.Contains(stderr, "linger train") {
			t.Errorf("the UCI data: exit %d\n%s", code, stderr)
		}
	}
	if fileExists(rees46Path) {
		code, stdout, stderr := runSplit(t, "replay", "--input", rees46Path)
		if code != 0 || !strings.Contains(stdout, "17434 read, 0 rejected") || !strings.Contains(stderr, "warning: 82% of sessions censored (4177 of 5066): the input spans 2h50m") ||
			!regexp.MustCompile(`warning: no invites: .*abandonment scores reach 0\.0\d+ \(threshold 0\.7\)`).MatchString(stderr) {
			t.Errorf("the REES46 slice: exit %d\n%s%s", code, stdout, stderr)
		}
	}
}

// TestReplayReportReadable: the text fits 100 columns; the invited column
// and the rates say which sessions they count; a baseline's threshold is
// whole seconds; the threshold plot says it holds confusion at its
// threshold and draws the band.
func TestReplayReportReadable(t *testing.T) {
	input := simulatedJSONL(t, 30000, 5)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "short.yaml")
	os.WriteFile(cfg, []byte("session_timeout: 2m\n"), 0o644)
	rj, rh := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.html")
	code, stdout, stderr := runSplit(t, "replay", "--input", input, "--config", cfg, "--report-json", rj, "--report-html", rh)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	for i, line := range strings.Split(stdout, "\n") {
		if n := utf8.RuneCountInString(line); n > 100 {
			t.Errorf("line %d is %d columns: %q", i+1, n, line)
		}
	}
	doc := readJSON(t, rj)
	known := int(doc["sessions"].(float64) - doc["sessions_by_outcome"].(map[string]any)["censored"].(float64))
	invited := int(doc["invited_sessions"].(float64))
	for _, want := range []string{
		fmt.Sprintf("quality over the %d sessions with a known outcome", known),
		fmt.Sprintf("invite rate: invited of the %d", known),
		fmt.Sprintf("decisions, over all %d sessions", int(doc["sessions"].(float64))),
		"of the eligible sessions;",
		"rate_band 3–10%",
	} {
		if !strings.Contains(flat(stdout), flat(want)) {
			t.Errorf("text lacks %q:\n%s", want, stdout)
		}
	}
	if !regexp.MustCompile(fmt.Sprintf(`(?m)^linger +%d +`, invited)).MatchString(stdout) {
		t.Errorf("linger's invited column is not the %d invited sessions with a known outcome:\n%s", invited, stdout)
	}
	if m := regexp.MustCompile(`time on site > (\S+) and`).FindAllStringSubmatch(stdout, -1); len(m) == 0 {
		t.Errorf("no baseline rule:\n%s", stdout)
	} else {
		for _, x := range m {
			if strings.Contains(x[1], ".") {
				t.Errorf("a baseline threshold with fractions of a second: %s", x[0])
			}
		}
	}
	html, _ := os.ReadFile(rh)
	for _, want := range []string{"Invite share and precision against the abandonment threshold", "confusion at its configured threshold", `class="band"`, "rate_band 3–10%"} {
		if !strings.Contains(string(html), want) {
			t.Errorf("the HTML report lacks %q", want)
		}
	}
	share := doc["invite_share"].(map[string]any)
	if share["all"].(map[string]any)["n"].(float64) != doc["eligible_sessions"].(float64) {
		t.Errorf("invite_share %v over %v eligible sessions", share, doc["eligible_sessions"])
	}
}

// TestSweepPerReason: a sweep of the abandonment threshold gives the invite
// share per reason and, with feedback in the input, acceptance per reason
// against the band, and says which reason keeps a figure outside its band.
func TestSweepPerReason(t *testing.T) {
	input := simulatedJSONL(t, 60000, 3)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "short.yaml")
	os.WriteFile(cfg, []byte("session_timeout: 2m\n"), 0o644)
	decisions := filepath.Join(dir, "d.jsonl")
	if code, _, stderr := runSplit(t, "replay", "--input", input, "--config", cfg, "--decisions", decisions); code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	// The chat platform's feedback: every invite shown, one abandonment
	// invite in 100 accepted and one confusion invite in 15.
	f, _ := os.Open(decisions)
	var fb bytes.Buffer
	sc := bufio.NewScanner(f)
	n := map[schemas.Reason]int{}
	for sc.Scan() {
		d, err := schemas.ParseDecision(sc.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		if d.Action != schemas.ActionInvite || d.Holdout {
			continue
		}
		n[d.Reason]++
		fbr := schemas.Feedback{Type: schemas.FeedbackShown, InviteID: d.ID, Session: d.Session, TS: d.EventTS + 500}
		fb.Write(append(schemas.AppendFeedback(nil, &fbr), '\n'))
		if every := map[schemas.Reason]int{schemas.ReasonAbandonment: 100, schemas.ReasonConfusion: 15}[d.Reason]; n[d.Reason]%every == 0 {
			fbr.Type, fbr.TS = schemas.FeedbackAccepted, fbr.TS+1000
			fb.Write(append(schemas.AppendFeedback(nil, &fbr), '\n'))
		}
	}
	f.Close()
	events, _ := os.ReadFile(input)
	withFeedback := filepath.Join(dir, "with-feedback.jsonl")
	os.WriteFile(withFeedback, append(events, fb.Bytes()...), 0o644)

	code, stdout, stderr := runSplit(t, "replay", "--input", withFeedback, "--config", cfg, "--sweep", "thresholds.abandonment=0.6:0.8:0.1")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	for _, want := range []string{
		"3 settings of thresholds.abandonment",
		"invited abandonment confusion precision recall",
		"shown accepted abandonment confusion",
		"against the acceptance band 3–10% (the default: the config sets none)",
		"acceptance against the acceptance band 3–10%",
		"abandonment below it in 3",
		"invite share outside rate_band 3–10% in 3 of 3 settings",
	} {
		if !strings.Contains(flat(stdout), want) {
			t.Errorf("sweep lacks %q:\n%s", want, stdout)
		}
	}
	if !regexp.MustCompile(`where (abandonment|confusion) keeps it there|each reason is above it on its own`).MatchString(flat(stdout)) {
		t.Errorf("the sweep does not say which reason keeps the share above the band:\n%s", stdout)
	}
}

// TestSweepSaysWhyNoInvites: on product views only, no abandonment
// threshold swept invites anyone, and the sweep says how high the scores
// got.
func TestSweepSaysWhyNoInvites(t *testing.T) {
	csv := rees46CSV(t, 200)
	code, stdout, stderr := runSplit(t, "replay", "--input", csv, "--sweep", "thresholds.abandonment=0.05:0.25:0.1")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	re := regexp.MustCompile(`warning: no setting invited anyone: abandonment scores reach 0\.0\d+ \(threshold 0\.05\), confusion 0\.0\d+ \(threshold 0\.7\) at the lowest thresholds swept`)
	if !re.MatchString(stderr) || !strings.Contains(flat(stdout), "no setting invited anyone") {
		t.Errorf("no reason given:\n%s\n%s", stdout, stderr)
	}
}

// TestTrainShowsWhatChanges: train prints invite share, precision and
// recall per reason before and after, the threshold that keeps the invite
// share, and writes thresholds that reach --target-invite-rate, which a
// replay of the config written confirms.
func TestTrainShowsWhatChanges(t *testing.T) {
	input := simulatedJSONL(t, 100000, 2)
	dir := t.TempDir()
	base := filepath.Join(dir, "base.yaml")
	os.WriteFile(base, []byte("session_timeout: 2m\n"), 0o644)
	out := filepath.Join(dir, "trained.yaml")
	code, stdout, stderr := runSplit(t, "train", "--input", input, "--config", base, "--out", out, "--target-invite-rate", "5%")
	if code != 0 || stdout != "" {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	for _, want := range []string{
		"held-out AUC", "starting config (", "learned weights, starting thresholds (", "config written (",
		"invited, all", "invited, held out", "precision", "recall", "  abandonment  ", "  confusion  ", "  all  ",
		"keeps the invite share at",
		"target: 5.0% of eligible sessions (--target-invite-rate)",
	} {
		if !strings.Contains(flat(stderr), flat(want)) {
			t.Errorf("train's summary lacks %q:\n%s", want, stderr)
		}
	}
	m := regexp.MustCompile(`invite ([\d.]+)% of the input's eligible sessions`).FindStringSubmatch(flat(stderr))
	if m == nil {
		t.Fatalf("no share reached:\n%s", stderr)
	}
	said, _ := strconv.ParseFloat(m[1], 64)
	if math.Abs(said-5) > 1 {
		t.Errorf("training reached %.1f%%, want about 5%%", said)
	}
	rj := filepath.Join(dir, "r.json")
	if code, _, stderr := runSplit(t, "replay", "--input", input, "--config", out, "--report-json", rj); code != 0 {
		t.Fatalf("replay of the trained config: exit %d\n%s", code, stderr)
	}
	got := 100 * readJSON(t, rj)["invite_share"].(map[string]any)["all"].(map[string]any)["value"].(float64)
	if math.Abs(got-said) > 0.051 {
		t.Errorf("replayed, the trained config invites %.2f%% of eligible sessions; training said %.1f%%", got, said)
	}
	if code, stdout, stderr := runSplit(t, "train", "--input", input, "--config", base, "--target-invite-rate", "keep"); code != 0 ||
		!strings.Contains(stderr, "thresholds kept as configured") || !strings.Contains(stdout, "abandonment: 0.7") {
		t.Errorf("--target-invite-rate keep: exit %d\n%s", code, stderr)
	}
	if code, _, stderr := runSplit(t, "train", "--input", input, "--target-invite-rate", "150%"); code != 1 || !strings.Contains(stderr, "--target-invite-rate \"150%\": want a percentage") {
		t.Errorf("--target-invite-rate 150%%: exit %d\n%s", code, stderr)
	}
}

// TestTrainREES46Target: on the real marketplace slice the default model
// invites nobody; trained with the default target (the middle of
// rate_band), a replay of the config written invites about 6.5% of the
// eligible sessions.
func TestTrainREES46Target(t *testing.T) {
	if !fileExists(rees46Path) {
		t.Skip("the REES46 slice is not here")
	}
	out := filepath.Join(t.TempDir(), "trained.yaml")
	code, _, stderr := runSplit(t, "train", "--input", rees46Path, "--out", out)
	if code != 0 || !strings.Contains(flat(stderr), "target: 6.5% of eligible sessions (the middle of rate_band 3–10%)") ||
		!strings.Contains(flat(stderr), "invites nobody: no score reached its threshold") {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	rj := filepath.Join(t.TempDir(), "r.json")
	if code, _, stderr := runSplit(t, "replay", "--input", rees46Path, "--config", out, "--report-json", rj); code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	got := readJSON(t, rj)["invite_share"].(map[string]any)["all"].(map[string]any)["value"].(float64)
	if math.Abs(got-0.065) > 0.01 {
		t.Errorf("the trained config invites %.3f of the eligible sessions, want about 0.065", got)
	}
}

// TestTrainUCIRefusesOut: --out with the UCI data, which trains no config,
// is refused rather than ignored.
func TestTrainUCIRefusesOut(t *testing.T) {
	if !fileExists(uciPath) {
		t.Skip("the UCI data is not here")
	}
	out := filepath.Join(t.TempDir(), "x.yaml")
	code, _, stderr := runSplit(t, "train", "--input", uciPath, "--out", out)
	if code != 1 || !strings.Contains(stderr, "--out and --target-invite-rate do not apply to the UCI Online Shoppers data") || fileExists(out) {
		t.Errorf("exit %d\n%s", code, stderr)
	}
	// Without --format: detected, evaluated.
	if code, stdout, stderr := runSplit(t, "train", "--input", uciPath); code != 0 || !strings.Contains(stdout, "(a) linger real-time") || !strings.Contains(stderr, "format uci-online-shoppers (detected") {
		t.Errorf("exit %d\n%s%s", code, stdout, stderr)
	}
}
