package deploy

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"
)

// targetLabels are added by Prometheus (or the operator) when it scrapes, so
// a replica's /metrics does not have them.
var targetLabels = map[string]bool{
	"job": true, "instance": true, "namespace": true, "pod": true,
	"service": true, "container": true, "endpoint": true,
}

// syntheticSeries are written by Prometheus itself for each target.
var syntheticSeries = map[string]bool{
	"up": true, "scrape_duration_seconds": true, "scrape_samples_scraped": true,
	"scrape_samples_post_metric_relabeling": true, "scrape_series_added": true,
}

// pendingMetrics are metrics the rules or the dashboard use before `linger
// run` exports them (none today): a rule may land before its metric, by
// name and what it will be. TestMetricNamesExist lets them be missing from
// /metrics, and fails once one is there, so the entry goes when the metric
// comes.
var pendingMetrics = map[string]string{}

// scrape is a parsed /metrics page: the labels of each sample, by sample
// name (histograms give name_bucket, name_sum and name_count).
type scrape map[string][]map[string]string

func parseExposition(t *testing.T, r io.Reader) scrape {
	t.Helper()
	s := scrape{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		end := strings.IndexAny(line, "{ ")
		if end < 0 {
			t.Fatalf("/metrics: cannot parse %q", line)
		}
		labels := map[string]string{}
		if line[end] == '{' {
			ms, _ := parseMatchers(line, end)
			for _, m := range ms {
				labels[m.label] = m.value
			}
		}
		s[line[:end]] = append(s[line[:end]], labels)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return s
}

// check returns what is wrong with a selector against the scrape: a name
// that is not there, or a label (or label value) none of its samples has.
func (s scrape) check(sel selector, recorded map[string]bool) string {
	switch {
	case strings.Contains(sel.name, ":"):
		if !recorded[sel.name] {
			return fmt.Sprintf("%s: no recording rule of that name", sel.name)
		}
		return ""
	case syntheticSeries[sel.name]:
		return ""
	}
	samples, ok := s[sel.name]
	if !ok {
		return fmt.Sprintf("%s: linger does not export it", sel.name)
	}
	for _, m := range sel.matchers {
		if targetLabels[m.label] {
			continue
		}
		found := false
		for _, l := range samples {
			if v, ok := l[m.label]; ok && (m.op != "=" || v == m.value) {
				found = true
				break
			}
		}
		if !found {
			return fmt.Sprintf("%s: no sample with %s%s%q", sel.name, m.label, m.op, m.value)
		}
	}
	return ""
}

// TestMetricNamesExist starts the embedded broker and a replica (the real
// binary), scrapes its /metrics once it is ready, and fails for any metric a
// rule or a dashboard query uses that is not there. Every family exists from
// the start with its known label values, so an idle replica shows them all.
func TestMetricNamesExist(t *testing.T) {
	if testing.Short() {
		t.Skip("starts linger processes")
	}
	broker := startLinger(t, "broker", "--addr", "127.0.0.1:0", "--partitions", "2")
	addr := broker.waitFor(t, `listening on (127\.0\.0\.1:\d+)`, 30*time.Second)
	run := startLinger(t, "run", "--brokers", addr, "--http", "127.0.0.1:0", "--cache-bytes", "16MiB")
	base := "http://" + run.waitFor(t, `addr=http://(127\.0\.0\.1:\d+)`, 30*time.Second)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("linger run never became ready")
		}
		time.Sleep(50 * time.Millisecond)
	}
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got := parseExposition(t, resp.Body)
	if len(got["linger_partition_lag"]) == 0 {
		t.Fatal("/metrics has no linger_partition_lag series although the replica is ready")
	}

	uses := map[string]string{} // expression -> where
	recorded := map[string]bool{}
	for _, r := range loadRules(t) {
		if r.Record != "" {
			recorded[r.Record] = true
			uses[r.Expr] = "recording rule " + r.Record
		} else {
			uses[r.Expr] = "alert " + r.Alert
		}
	}
	for where, e := range dashboardQueries(t, loadDashboard(t)) {
		uses[e] = "dashboard " + where
	}
	var problems []string
	n := 0
	for e, where := range uses {
		for _, sel := range promqlSelectors(e) {
			n++
			if _, pending := pendingMetrics[sel.name]; pending {
				if _, exported := got[sel.name]; exported {
					problems = append(problems, fmt.Sprintf("%s: linger exports %s now: take it out of pendingMetrics", where, sel.name))
				}
				continue
			}
			if p := got.check(sel, recorded); p != "" {
				problems = append(problems, where+": "+p)
			}
		}
	}
	sort.Strings(problems)
	for _, p := range problems {
		t.Error(p)
	}
	if n < 50 {
		t.Errorf("only %d metric selectors found in the rules and the dashboard: is the tokenizer broken?", n)
	}
}

func TestScrapeCheck(t *testing.T) {
	s := parseExposition(t, strings.NewReader(`# TYPE linger_score histogram
linger_score_bucket{model="abandonment",le="0.05"} 0
linger_score_count{model="abandonment"} 0
linger_ready 1
`))
	recorded := map[string]bool{"linger:x:rate5m": true}
	for _, tc := range []struct {
		expr string
		ok   bool
	}{
		{`linger_score_bucket{model="abandonment", job=~"$job"}`, true},
		{`linger_score_bucket{model="nope"}`, false},
		{`linger_score_bucket{reason=~".+"}`, false},
		{`linger_score_count + linger_ready`, true},
		{`linger_score`, false},
		{`linger_missing_total`, false},
		{`linger:x:rate5m > 0 and up == 0`, true},
		{`linger:y:rate5m`, false},
	} {
		bad := ""
		for _, sel := range promqlSelectors(tc.expr) {
			if p := s.check(sel, recorded); p != "" {
				bad = p
			}
		}
		if (bad == "") != tc.ok {
			t.Errorf("%s: ok=%v, want %v (%s)", tc.expr, bad == "", tc.ok, bad)
		}
	}
}
