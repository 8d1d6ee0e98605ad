package scoring

import (
	"strings"
	"testing"
	"time"
)

func TestDefaultConfigValidates(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := c.Model(); !strings.HasPrefix(got, "m1-") || len(got) != 11 {
		t.Fatalf("model name %q, want m1-<8 hex>", got)
	}
	for _, sig := range Signals() {
		if c.Models.Abandonment.Weights[sig.Name] != sig.Weights[Abandonment] {
			t.Errorf("default abandonment weight of %s is not the signal's", sig.Name)
		}
	}
}

func TestParseConfig(t *testing.T) {
	c, err := ParseConfig([]byte(`
breathing_space: 30s
thresholds: {abandonment: 0.8}
eligible_pages: [checkout]
models:
  confusion:
    weights: {rage_clicks: 4}
sites:
  eu-shop:
    thresholds: {confusion: 0.9}
    teams: {abandonment: eu-sales}
    models:
      abandonment:
        weights: {exit_intent: 0}
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.BreathingSpace != 30*time.Second || c.Thresholds.Abandonment != 0.8 || c.Thresholds.Confusion != 0.7 {
		t.Fatalf("file values and defaults not merged: %+v %+v", c.BreathingSpace, c.Thresholds)
	}
	base := c.For(nil)
	rage := SignalByName("rage_clicks").index
	exit := SignalByName("exit_intent").index
	dwell := SignalByName("dwell_s").index
	if base.Weight[Confusion][rage] != 4 || base.Weight[Confusion][dwell] != SignalByName("dwell_s").Weights[Confusion] {
		t.Fatalf("weights: a named weight is overridden, the others keep their defaults")
	}
	if !base.Eligible[6] || base.Eligible[3] {
		t.Fatalf("eligible pages replaced, not merged: %v", base.Eligible)
	}

	eu := c.For([]byte("eu-shop"))
	if eu == base {
		t.Fatal("site override not found")
	}
	if eu.Threshold[Confusion] != 0.9 || eu.Threshold[Abandonment] != 0.8 {
		t.Fatalf("site thresholds %v: want the override over the file's values", eu.Threshold)
	}
	if string(eu.Team[Abandonment]) != "eu-sales" || string(eu.Team[Confusion]) != "service" {
		t.Fatalf("site teams %q", eu.Team)
	}
	if eu.Weight[Abandonment][exit] != 0 || eu.Weight[Confusion][rage] != 4 {
		t.Fatal("site weights must start from the file's weights")
	}
	if base.Weight[Abandonment][exit] == 0 {
		t.Fatal("a site override leaked into the defaults")
	}
	if string(eu.Model) == string(base.Model) {
		t.Fatal("different settings must have different model names")
	}
	if c.For([]byte("other-site")) != base {
		t.Fatal("an unknown site must get the defaults")
	}
}

func TestParseConfigEmptyIsDefault(t *testing.T) {
	c, err := ParseConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Model() != DefaultConfig().Model() {
		t.Fatal("an empty file must give the default config")
	}
}

func TestConfigMarshalRoundTrip(t *testing.T) {
	want := DefaultConfig()
	b, err := want.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseConfig(b)
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if got.Model() != want.Model() {
		t.Fatalf("marshal→parse changed the config:\n%s", b)
	}
	if !strings.Contains(string(b), "breathing_space: 15s") {
		t.Fatalf("durations should read as durations:\n%s", b)
	}
}

// TestConfigErrors: each mistake is named, and all of them are reported at
// once so a data engineer fixes a file in one go.
func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		yaml string
		want []string
	}{
		{"unknown key", "breathing: 10s", []string{"field breathing not found"}},
		{"bad duration", "window: soon", []string{"line 1", "soon", "time.Duration"}},
		{"everything at once", `
session_timeout: -1s
thresholds: {abandonment: 1.5, confusion: 0}
eligible_pages: [checkout, basket]
holdout_percent: 101
max_invites_per_session: -1
teams: {confusion: ""}
models:
  abandonment:
    weights: {idle_chekout_s: 2}
scales: {dwell_s: 0}
`, []string{"session_timeout", "thresholds.abandonment", "thresholds.confusion", `"basket"`, "holdout_percent",
			"max_invites_per_session", "teams.confusion", `"idle_chekout_s" is not a signal`, "scales.dwell_s"}},
		{"bad site", `
sites:
  shop-a:
    thresholds: {abandonment: 2}
  shop-b:
    windw: 1m
`, []string{"sites.shop-a: thresholds.abandonment", "sites.shop-b", "windw"}},
		{"nested sites", `
sites:
  a:
    sites:
      b: {}
`, []string{"sites.a: a site cannot have sites"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tc.yaml))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestSignalsRegistry(t *testing.T) {
	sigs := Signals()
	if len(sigs) < 19 {
		t.Fatalf("%d signals registered, DESIGN.md lists 19 features", len(sigs))
	}
	for i, s := range sigs {
		if i > 0 && sigs[i-1].Name >= s.Name {
			t.Errorf("registry not sorted at %s", s.Name)
		}
		if s.Doc == "" {
			t.Errorf("signal %s has no Doc", s.Name)
		}
		if SignalByName(s.Name) != s || s.index != i {
			t.Errorf("signal %s: lookup or index broken", s.Name)
		}
	}
	if SignalByName("no_such_signal") != nil {
		t.Error("unknown name found")
	}
}
