package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/lingerhq/linger/schemas"
)

// TestSimulateCommand runs the newcomer's path: simulate ten minutes of
// traffic, then replay it. The file holds events and feedback of every
// type in event-time order, the summary line counts them, and the replay
// reads it all and reports acceptance from the answers.
func TestSimulateCommand(t *testing.T) {
	dir := t.TempDir()
	events := filepath.Join(dir, "events.jsonl")
	code, out := run(t, "simulate", "--duration", "10m", "--out", events, "--seed", "4")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	summary := regexp.MustCompile(`simulated 10m0s: (\d+) events, (\d+) sessions, (\d+) feedback records \((\d+) invites, (\d+) shown, (\d+) accepted: \d+\.\d%\) in \d+\.\ds`).FindStringSubmatch(out)
	if summary == nil {
		t.Fatalf("no summary line:\n%s", out)
	}
	f, err := os.Open(events)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	types := map[string]int{}
	lines, last := 0, int64(0)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var head struct {
			Type string `json:"type"`
			TS   int64  `json:"ts"`
		}
		if err := json.Unmarshal(sc.Bytes(), &head); err != nil {
			t.Fatalf("line %d: %v", lines+1, err)
		}
		if head.TS < last {
			t.Fatalf("line %d at %d after %d: not in event-time order", lines+1, head.TS, last)
		}
		last = head.TS
		types[head.Type]++
		lines++
	}
	feedback := 0
	for _, typ := range schemas.FeedbackTypes()[1:] {
		if types[typ] == 0 {
			t.Errorf("no %s record: %v", typ, types)
		}
		feedback += types[typ]
	}
	if n, _ := strconv.Atoi(summary[1]); n != lines-feedback || n < 50000 {
		t.Errorf("summary says %s events; the file holds %d lines, %d of them feedback", summary[1], lines, feedback)
	}
	if n, _ := strconv.Atoi(summary[3]); n != feedback {
		t.Errorf("summary says %s feedback records; the file holds %d", summary[3], feedback)
	}
	if summary[6] != strconv.Itoa(types["invite_accepted"]) {
		t.Errorf("summary says %s accepted; the file holds %d", summary[6], types["invite_accepted"])
	}

	report := filepath.Join(dir, "report.json")
	code, out = run(t, "replay", "--input", events, "--report-json", report)
	if code != 0 {
		t.Fatalf("replay: exit %d:\n%s", code, out)
	}
	if !strings.Contains(out, summary[1]+" read, 0 rejected") || !strings.Contains(out, strconv.Itoa(feedback)+" feedback records") {
		t.Errorf("replay did not read every event and feedback record (%s events, %d feedback):\n%s", summary[1], feedback, out)
	}
	if !regexp.MustCompile(`(?m)^all +\d+ +0 +\d+ +` + summary[5] + ` +` + summary[6] + ` `).MatchString(out) {
		t.Errorf("replay's outcomes do not show the %s shown and %s accepted invites:\n%s", summary[5], summary[6], out)
	}
}

// TestSimulateFlagErrors checks that a bad or missing flag fails before
// anything is written, naming the flag.
func TestSimulateFlagErrors(t *testing.T) {
	out := filepath.Join(t.TempDir(), "x.jsonl")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--duration", "10m"}, "--out is required"},
		{[]string{"--out", out, "--duration", "0s"}, "--duration"},
		{[]string{"--out", out, "--sessions-per-second", "0"}, "--sessions-per-second"},
		{[]string{"--out", out, "--mix", "bot=x"}, "--mix"},
		{[]string{"--out", out, "--partitions", "0"}, "--partitions"},
		{[]string{"--out", out, "--config", filepath.Join(t.TempDir(), "missing.yaml")}, "missing.yaml"},
	} {
		code, got := run(t, append([]string{"simulate"}, tc.args...)...)
		if code == 0 || !strings.Contains(got, tc.want) {
			t.Errorf("simulate %v: exit %d, want an error naming %q:\n%s", tc.args, code, tc.want, got)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a failed simulate left %s: %v", out, err)
	}
}
