package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigCheckErrors runs `linger config check` on a file with a
// mistake of each kind, as a data engineer would: exit code 1, and every
// problem at once, on the file's lines, in words (no Go type reaches them).
func TestConfigCheckErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "tuned.yaml")
	os.WriteFile(file, []byte(`breathing_space: 20s
thresholds: {abandonment: 0.75}
silence: 45
silense: 10s
eligible_pages: [cart, basket]
sites:
  shop-eu:
    holdout_percent: 10%
    windw: 1m
    thresholds: {confusion: 1.5}
`), 0o644)
	want := "linger config: " + file + `: 6 problems:
  line 3: silence: want a duration such as 45s
  line 4: unknown key "silense" (did you mean "silence"?)
  line 5: eligible_pages: "basket" is not a page kind (home, category, product, search, cart, checkout, pricing, help, account, other)
  line 8: sites.shop-eu.holdout_percent: want a plain number such as 10 (the key is in percent), got "10%"
  line 9: sites.shop-eu: unknown key "windw" (did you mean "window"?)
  line 10: sites.shop-eu.thresholds.confusion: must be more than 0 and at most 1, got 1.5
`
	for _, args := range [][]string{{"config", "check", file}, {"config", "--check", file}} {
		code, out := run(t, args...)
		if code != 1 || out != want {
			t.Errorf("linger %s: exit %d, output:\n%s\nwant exit 1 and:\n%s", strings.Join(args, " "), code, out, want)
		}
		for _, goName := range []string{"scoring.", "time.Duration", "!!", "unmarshal", "config: config:"} {
			if strings.Contains(out, goName) {
				t.Errorf("%q reaches the user:\n%s", goName, out)
			}
		}
	}

	// The README shows this very output.
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if shown := "$ linger config check tuned.yaml\n" + strings.ReplaceAll(want, file, "tuned.yaml"); !strings.Contains(string(readme), shown) {
		t.Errorf("README.md's `linger config` section does not show the output:\n%s", shown)
	}

	// A sweep's variants are generated from the file: an error names the
	// key and the value given, not a line of a document the user never saw.
	input := filepath.Join(dir, "events.jsonl")
	os.WriteFile(input, []byte(`{"v":1,"type":"page_view","session":"s1","ts":1700000000000,"page":{"url":"/","kind":"home"}}`+"\n"), 0o644)
	for sweep, msg := range map[string]string{
		"thresholds.abandonment=0.8:1.2:0.2": "linger replay: sweep setting thresholds.abandonment=1.2: thresholds.abandonment: must be more than 0 and at most 1, got 1.2\n",
		"silence=15:45:15":                   "linger replay: sweep setting silence=15: silence: want a duration such as 15s\n",
	} {
		code, out := run(t, "replay", "--input", input, "--sweep", sweep)
		if code != 1 || !strings.HasSuffix(out, msg) || strings.Contains(out, "line ") {
			t.Errorf("--sweep %s: exit %d, output:\n%s\nwant exit 1, ending:\n%s", sweep, code, out, msg)
		}
	}
}
