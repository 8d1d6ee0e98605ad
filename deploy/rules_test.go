package deploy

import (
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

const (
	rulesFile     = "prometheus/linger.rules.yaml"
	rulesTestFile = "prometheus/linger.rules_test.yaml"
	runbookBase   = "https://github.com/lingerhq/linger/blob/main/README.md#"
)

type rule struct {
	Record      string            `yaml:"record"`
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

// loadRules reads every rule of deploy/prometheus/linger.rules.yaml.
func loadRules(t *testing.T) []rule {
	t.Helper()
	var f struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []rule `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(readFile(t, rulesFile), &f); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	var rules []rule
	for _, g := range f.Groups {
		rules = append(rules, g.Rules...)
	}
	if len(rules) == 0 {
		t.Fatalf("%s: no rules", rulesFile)
	}
	return rules
}

// githubAnchors returns the anchors GitHub gives a Markdown file's headings.
func githubAnchors(markdown string) map[string]bool {
	anchors := map[string]bool{}
	inCode := false
	drop := regexp.MustCompile(`[^\p{L}\p{N} _-]`)
	for _, line := range strings.Split(markdown, "\n") {
		if strings.HasPrefix(line, "```") {
			inCode = !inCode
		}
		if inCode || !strings.HasPrefix(line, "#") {
			continue
		}
		h := strings.TrimSpace(strings.TrimLeft(line, "#"))
		a := strings.ReplaceAll(drop.ReplaceAllString(strings.ToLower(h), ""), " ", "-")
		anchors[a] = true
	}
	return anchors
}

// TestAlerts checks what promtool does not: each alert links its runbook
// section in the README, which exists, and has a severity and a summary.
func TestAlerts(t *testing.T) {
	anchors := githubAnchors(string(readFile(t, "../README.md")))
	alerts := 0
	for _, r := range loadRules(t) {
		if r.Alert == "" {
			if !regexp.MustCompile(`^linger:[a-z0-9_]+:[a-z0-9_]+$`).MatchString(r.Record) {
				t.Errorf("recording rule %q: name it linger:<what>:<operation>", r.Record)
			}
			continue
		}
		alerts++
		if !strings.HasPrefix(r.Alert, "Linger") {
			t.Errorf("alert %s: alert names start with Linger", r.Alert)
		}
		want := runbookBase + "alert-" + strings.ToLower(r.Alert)
		if got := r.Annotations["runbook_url"]; got != want {
			t.Errorf("alert %s: runbook_url %q, want %q", r.Alert, got, want)
		}
		if !anchors["alert-"+strings.ToLower(r.Alert)] {
			t.Errorf("alert %s: README.md has no section \"### Alert: %s\" (under \"## Runbook\")", r.Alert, r.Alert)
		}
		if s := r.Labels["severity"]; s != "warning" && s != "critical" {
			t.Errorf("alert %s: severity %q, want warning or critical", r.Alert, s)
		}
		for _, a := range []string{"summary", "description"} {
			if r.Annotations[a] == "" {
				t.Errorf("alert %s: no %s annotation", r.Alert, a)
			}
		}
	}
	if alerts < 6 {
		t.Errorf("%d alerts, want at least the 6 of the issue", alerts)
	}
	if !anchors["runbook"] {
		t.Error(`README.md has no "## Runbook" section`)
	}
}

// TestAlertsHaveUnitTests checks that linger.rules_test.yaml has, for each
// alert, a case where it fires and one where it does not.
func TestAlertsHaveUnitTests(t *testing.T) {
	var f struct {
		RuleFiles []string `yaml:"rule_files"`
		Tests     []struct {
			Name      string `yaml:"name"`
			AlertRule []struct {
				Alertname string `yaml:"alertname"`
				ExpAlerts []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	if err := yaml.Unmarshal(readFile(t, rulesTestFile), &f); err != nil {
		t.Fatalf("%s: %v", rulesTestFile, err)
	}
	if len(f.RuleFiles) != 1 || f.RuleFiles[0] != "linger.rules.yaml" {
		t.Errorf("%s: rule_files %v, want [linger.rules.yaml]", rulesTestFile, f.RuleFiles)
	}
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range f.Tests {
		for _, a := range tc.AlertRule {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				quiet[a.Alertname] = true
			}
		}
	}
	for _, r := range loadRules(t) {
		if r.Alert == "" {
			continue
		}
		if !fires[r.Alert] {
			t.Errorf("%s: no case where %s fires", rulesTestFile, r.Alert)
		}
		if !quiet[r.Alert] {
			t.Errorf("%s: no case where %s does not fire", rulesTestFile, r.Alert)
		}
	}
}
