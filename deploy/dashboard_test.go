package deploy

import (
	"encoding/json"
	"fmt"
	"regexp"
	"testing"
)

const dashboardFile = "grafana/linger.json"

// loadDashboard parses deploy/grafana/linger.json.
func loadDashboard(t *testing.T) map[string]any {
	t.Helper()
	var d map[string]any
	if err := json.Unmarshal(readFile(t, dashboardFile), &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

var labelValues = regexp.MustCompile(`^\s*label_values\((.*),\s*[a-zA-Z_]\w*\s*\)\s*$`)

// dashboardQueries returns every PromQL expression of the dashboard, each
// with where it is: the panels' targets and the template variables' queries
// (label_values(SELECTOR, label): the selector).
func dashboardQueries(t *testing.T, d map[string]any) map[string]string {
	t.Helper()
	q := map[string]string{}
	for _, p := range list(d, "panels") {
		for i, tg := range list(p, "targets") {
			if e := str(tg, "expr"); e != "" {
				q[fmt.Sprintf("panel %q target %d", str(p, "title"), i)] = e
			}
		}
	}
	for _, v := range list(d, "templating", "list") {
		if str(v, "type") != "query" {
			continue
		}
		e := str(v, "query", "query")
		if e == "" {
			e = str(v, "query")
		}
		if m := labelValues.FindStringSubmatch(e); m != nil {
			e = m[1]
		}
		q[fmt.Sprintf("variable %q", str(v, "name"))] = e
	}
	return q
}

func TestDashboard(t *testing.T) {
	d := loadDashboard(t)
	if str(d, "uid") == "" || str(d, "title") == "" {
		t.Error("the dashboard needs a uid and a title")
	}
	ids, titles := map[float64]bool{}, map[string]bool{}
	for _, p := range list(d, "panels") {
		title := str(p, "title")
		if titles[title] {
			t.Errorf("panel %q: title used twice", title)
		}
		titles[title] = true
		id, _ := get(p, "id").(float64)
		if ids[id] {
			t.Errorf("panel %q: id %v used twice", title, id)
		}
		ids[id] = true
		x, _ := get(p, "gridPos", "x").(float64)
		w, _ := get(p, "gridPos", "w").(float64)
		if w <= 0 || x+w > 24 {
			t.Errorf("panel %q: gridPos x=%v w=%v is outside the 24 columns", title, x, w)
		}
		if str(p, "type") == "row" {
			continue
		}
		if str(p, "datasource", "uid") != "${datasource}" {
			t.Errorf("panel %q: datasource should be the ${datasource} variable", title)
		}
		if len(list(p, "targets")) == 0 {
			t.Errorf("panel %q: no query", title)
		}
		for _, tg := range list(p, "targets") {
			if str(tg, "expr") == "" {
				t.Errorf("panel %q: a target without expr", title)
			}
		}
	}

	// What the issue asks the dashboard to show.
	used := map[string]bool{}
	for _, e := range dashboardQueries(t, d) {
		for _, s := range promqlSelectors(e) {
			used[s.name] = true
		}
	}
	for _, m := range []string{
		"linger_events_total", "linger_invites_total", "linger_score_bucket",
		"linger_decision_latency_seconds_bucket", "linger_partition_lag",
		"linger_cache_entries", "linger_cache_bytes", "linger_cache_evictions_total",
		"linger_rebalances_total", "linger_restore_seconds_bucket", "linger_dlq_total",
	} {
		if !used[m] {
			t.Errorf("no panel shows %s", m)
		}
	}

	// The provisioned data source is the one the dashboard defaults to.
	ds := yamlDocs(t, "grafana/provisioning/datasources/prometheus.yaml")
	uid := str(ds[0], "datasources", 0, "uid")
	for _, v := range list(d, "templating", "list") {
		if str(v, "name") == "datasource" && str(v, "current", "value") != uid {
			t.Errorf("the datasource variable defaults to %q, the provisioned data source is %q", str(v, "current", "value"), uid)
		}
	}
}
