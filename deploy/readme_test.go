package deploy

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The README's alert table says what the rules file does, in words; these
// tests keep the two from drifting apart: the same alerts, severities and
// `for`, and in the threshold column every number an alert's expression
// compares with, and no number the rules do not hold.

// readmeAlert is a row of the README's alert table.
type readmeAlert struct {
	name, severity, threshold, forText string
}

// readmeAlertTable parses the table under "### Prometheus and Grafana"
// whose header is | alert | severity | fires when | threshold | for |.
func readmeAlertTable(t *testing.T, readme string) []readmeAlert {
	t.Helper()
	const header = "| alert | severity | fires when | threshold | for |"
	i := strings.Index(readme, "\n"+header+"\n")
	if i < 0 {
		t.Fatalf("README.md has no alert table with the header %q", header)
	}
	var rows []readmeAlert
	for _, line := range strings.Split(readme[i+1:], "\n")[2:] {
		if !strings.HasPrefix(line, "|") {
			break
		}
		cells := splitRow(line)
		if len(cells) != 5 {
			t.Fatalf("README alert table: %d cells, want 5: %q", len(cells), line)
		}
		rows = append(rows, readmeAlert{name: strings.Trim(cells[0], "`"), severity: cells[1], threshold: cells[3], forText: cells[4]})
	}
	return rows
}

// splitRow splits a Markdown table row at its pipes outside backticks (a
// cell may quote a selector with |).
func splitRow(line string) []string {
	var cells []string
	var cur strings.Builder
	code := false
	for _, r := range strings.TrimSpace(line) {
		switch {
		case r == '`':
			code = !code
			cur.WriteRune(r)
		case r == '|' && !code:
			cells = append(cells, strings.TrimSpace(cur.String()))
			cur.Reset()
		default:
			cur.WriteRune(r)
		}
	}
	// The row starts and ends with a pipe: drop the empty ends.
	return cells[1:]
}

var (
	// comparedNumber is a number a PromQL expression compares with.
	comparedNumber = regexp.MustCompile(`(?:>=|<=|==|!=|>|<)\s*(?:bool\s+)?(-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)\b`)
	// rangeNumber is the number of a range selector or subquery, [15m].
	rangeNumber = regexp.MustCompile(`\[([0-9]+(?:\.[0-9]+)?)[smhdwy]`)
	// matcherNumber is a label matcher's numeric value, le="10.24".
	matcherNumber = regexp.MustCompile(`[a-zA-Z_]\w*\s*=~?\s*"(-?[0-9]+(?:\.[0-9]+)?)"`)
	// recordedName is a recording rule's name in an expression.
	recordedName = regexp.MustCompile(`linger:[a-z0-9_]+:[a-z0-9_]+`)
	// proseNumber is a number in the README's threshold cell: standalone
	// (not the 99 of p99), with thousands separators, or a percentage.
	proseNumber = regexp.MustCompile(`(?:^|[^\w.])([0-9][0-9,]*(?:\.[0-9]+)?)(\s*%)?`)
)

// ruleNumbers returns, for an alert's expression, the numbers it compares
// with, and every number it holds (those, its ranges and numeric label
// matchers), following the recording rules it uses.
func ruleNumbers(expr string, records map[string]string) (compared, all []float64) {
	parse := func(s string) float64 { f, _ := strconv.ParseFloat(s, 64); return f }
	seen := map[string]bool{}
	var walk func(e string, top bool)
	walk = func(e string, top bool) {
		for _, m := range comparedNumber.FindAllStringSubmatch(e, -1) {
			if top {
				compared = append(compared, parse(m[1]))
			}
			all = append(all, parse(m[1]))
		}
		for _, re := range []*regexp.Regexp{rangeNumber, matcherNumber} {
			for _, m := range re.FindAllStringSubmatch(e, -1) {
				all = append(all, parse(m[1]))
			}
		}
		for _, name := range recordedName.FindAllString(e, -1) {
			if r, ok := records[name]; ok && !seen[name] {
				seen[name] = true
				walk(r, false)
			}
		}
	}
	walk(expr, true)
	return compared, all
}

// proseNumbers returns the numbers of a README cell, a percentage as a
// share (1% is 0.01).
func proseNumbers(cell string) []float64 {
	var out []float64
	for _, m := range proseNumber.FindAllStringSubmatch(cell, -1) {
		f, err := strconv.ParseFloat(strings.ReplaceAll(m[1], ",", ""), 64)
		if err != nil {
			continue
		}
		if m[2] != "" {
			f /= 100
		}
		out = append(out, f)
	}
	return out
}

// proseDuration reads the README's "for" cell: "15 min", "30 s", "1 h";
// "–" is none.
func proseDuration(cell string) (time.Duration, bool) {
	if cell == "–" || cell == "-" || cell == "" {
		return 0, true
	}
	r := strings.NewReplacer(" min", "m", " s", "s", " h", "h").Replace(cell)
	d, err := time.ParseDuration(r)
	return d, err == nil
}

func containsNumber(xs []float64, x float64) bool {
	return slices.ContainsFunc(xs, func(y float64) bool { return y == x || (y != 0 && (x-y)/y < 1e-9 && (y-x)/y < 1e-9) })
}

// TestREADMEAlertTable: the README's alert table and the rules file name
// the same alerts, in the same order, with the same severity and `for`;
// the threshold cell gives every non-zero number the alert compares with,
// and each number it gives is one the rules hold (a threshold, a range, a
// numeric label matcher, here or in a recording rule the alert uses).
func TestREADMEAlertTable(t *testing.T) {
	rules := loadRules(t)
	records := map[string]string{}
	var alerts []rule
	for _, r := range rules {
		if r.Record != "" {
			records[r.Record] = r.Expr
		} else {
			alerts = append(alerts, r)
		}
	}
	rows := readmeAlertTable(t, string(readFile(t, "../README.md")))
	var ruleNames, rowNames []string
	for _, a := range alerts {
		ruleNames = append(ruleNames, a.Alert)
	}
	for _, r := range rows {
		rowNames = append(rowNames, r.name)
	}
	if !slices.Equal(ruleNames, rowNames) {
		t.Errorf("README alert table lists\n  %v\nthe rules file\n  %v", rowNames, ruleNames)
	}
	byName := map[string]readmeAlert{}
	for _, r := range rows {
		byName[r.name] = r
	}
	for _, a := range alerts {
		row, ok := byName[a.Alert]
		if !ok {
			continue
		}
		if row.severity != a.Labels["severity"] {
			t.Errorf("%s: README says severity %q, the rule %q", a.Alert, row.severity, a.Labels["severity"])
		}
		want := time.Duration(0)
		if a.For != "" {
			var err error
			if want, err = time.ParseDuration(a.For); err != nil {
				t.Errorf("%s: for %q: %v", a.Alert, a.For, err)
			}
		}
		if got, ok := proseDuration(row.forText); !ok || got != want {
			t.Errorf("%s: README says for %q, the rule %q", a.Alert, row.forText, a.For)
		}
		compared, all := ruleNumbers(a.Expr, records)
		prose := proseNumbers(row.threshold)
		for _, x := range compared {
			if x != 0 && !containsNumber(prose, x) {
				t.Errorf("%s: the rule compares with %v, which the README's threshold %q does not give", a.Alert, x, row.threshold)
			}
		}
		for _, x := range prose {
			if !containsNumber(all, x) {
				t.Errorf("%s: the README's threshold %q gives %v, which is nowhere in the rule %q", a.Alert, row.threshold, x, strings.TrimSpace(a.Expr))
			}
		}
	}
}

// TestAlertTableCheck: the table check catches what issue 15 found, a
// threshold of 10 s in the README for a rule of 1 s, and a band of 1 to
// 120 per minute that no rule holds.
func TestAlertTableCheck(t *testing.T) {
	compared, all := ruleNumbers(`linger:p99 > 1 and x{le="10.24"} and deriv(y[15m]) > 0`, map[string]string{"linger:p99:x": "rate(z[5m])"})
	if !slices.Equal(compared, []float64{1, 0}) || !containsNumber(all, 10.24) || !containsNumber(all, 15) {
		t.Errorf("ruleNumbers: compared %v, all %v", compared, all)
	}
	_, all = ruleNumbers(`linger:lat:p99_5m > 1`, map[string]string{"linger:lat:p99_5m": "histogram_quantile(0.99, rate(z[5m]))"})
	if !containsNumber(all, 5) {
		t.Errorf("the recording rule's range is not followed: %v", all)
	}
	for cell, want := range map[string][]float64{
		"p99 > 10 s":                  {10},
		"> 1% of the records and > 1": {0.01, 1},
		"lag > 10,000 records":        {10000},
		"1 to 120 per minute":         {1, 120},
		"`linger_cache_horizon_seconds` < `linger_session_timeout_seconds`": nil,
	} {
		if got := proseNumbers(cell); !slices.Equal(got, want) {
			t.Errorf("proseNumbers(%q) = %v, want %v", cell, got, want)
		}
	}
	if !containsNumber([]float64{10.24}, 10.24) || containsNumber([]float64{1}, 10) {
		t.Error("containsNumber")
	}
	if d, ok := proseDuration("15 min"); !ok || d != 15*time.Minute {
		t.Errorf("proseDuration(15 min) = %v, %v", d, ok)
	}
}

// TestDashboardLatencySLO: the dashboard's latency_slo, the line its
// latency panels draw, is the threshold of LingerDecisionLatencyHigh.
func TestDashboardLatencySLO(t *testing.T) {
	var threshold []float64
	for _, r := range loadRules(t) {
		if r.Alert == "LingerDecisionLatencyHigh" {
			threshold, _ = ruleNumbers(r.Expr, nil)
		}
	}
	if len(threshold) != 1 {
		t.Fatalf("LingerDecisionLatencyHigh compares with %v, want one number", threshold)
	}
	d := loadDashboard(t)
	for _, v := range list(d, "templating", "list") {
		if str(v, "name") != "latency_slo" {
			continue
		}
		for _, got := range []string{str(v, "query"), str(v, "current", "value")} {
			if f, err := strconv.ParseFloat(got, 64); err != nil || f != threshold[0] {
				t.Errorf("the dashboard's latency_slo is %q, the rule's threshold %v s", got, threshold[0])
			}
		}
		return
	}
	t.Error("the dashboard has no latency_slo variable")
}
