package promscrape

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestSumBy(t *testing.T) {
	const exposition = `# HELP linger_suppressed_total Would-be invites the policy held back, by rule.
# TYPE linger_suppressed_total counter
linger_suppressed_total{reason="no_capacity"} 12
linger_suppressed_total{reason="cooldown"} 3
linger_suppressed_total{site="a,b}",reason="cooldown"} 2 1732530040000
linger_suppressed_total{reason="odd \"name\"\\x"} 1
linger_suppressed_total_other{reason="cooldown"} 100
linger_suppressed_totals 7
linger_suppressed_total 5
`
	sums := map[string]float64{}
	fams, err := Parse(strings.NewReader(exposition))
	if err != nil {
		t.Fatal(err)
	}
	fams.SumBy("linger_suppressed_total", "reason", sums)
	want := map[string]float64{"no_capacity": 12, "cooldown": 5, `odd "name"\x`: 1, "": 5}
	if fmt.Sprint(sums) != fmt.Sprint(want) {
		t.Errorf("sums %v, want %v", sums, want)
	}
	for _, bad := range []string{`linger_suppressed_total{reason="x} 1`, `linger_suppressed_total{reason="x"} many`} {
		if _, err := Parse(strings.NewReader(bad)); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

func TestURL(t *testing.T) {
	for in, want := range map[string]string{
		"replica-1:9464":                 "http://replica-1:9464/metrics",
		"http://replica-1:9464":          "http://replica-1:9464/metrics",
		"http://replica-1:9464/":         "http://replica-1:9464/metrics",
		"https://r:9464/custom/metrics":  "https://r:9464/custom/metrics",
		"http://127.0.0.1:9464/metrics":  "http://127.0.0.1:9464/metrics",
		"http://127.0.0.1:9464/x?debug=": "http://127.0.0.1:9464/x?debug=",
	} {
		if got := URL(in); got != want {
			t.Errorf("URL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSumCounter(t *testing.T) {
	replica := func(n int) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/metrics" {
				http.NotFound(w, r)
				return
			}
			fmt.Fprintf(w, "linger_suppressed_total{reason=\"no_capacity\"} %d\nlinger_suppressed_total{reason=\"bot\"} 1\n", n)
		}))
	}
	a, b := replica(4), replica(6)
	defer a.Close()
	defer b.Close()
	got, err := SumCounter(context.Background(), []string{a.URL, b.URL + "/metrics"}, "linger_suppressed_total", "reason", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got["no_capacity"] != 10 || got["bot"] != 2 {
		t.Errorf("sums %v, want no_capacity 10 and bot 2", got)
	}
	_, err = SumCounter(context.Background(), []string{a.URL, a.URL + "/nothing"}, "linger_suppressed_total", "reason", time.Second)
	if err == nil || !strings.Contains(err.Error(), "/nothing") || !strings.Contains(err.Error(), "404") {
		t.Errorf("a replica that does not answer: %v", err)
	}
}
