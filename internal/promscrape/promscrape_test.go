package promscrape

import (
	"context"
	"fmt"
	"math"
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

// histogramExposition is linger_decision_publish_latency_seconds as a
// replica writes it: buckets of 1, 2, 4 and 8 ms, by trigger.
func histogramExposition(event [4]int, eventCount int, timer int) string {
	var b strings.Builder
	b.WriteString("# HELP lat Latency.\n# TYPE lat histogram\n")
	for i, le := range []string{"0.001", "0.002", "0.004", "0.008"} {
		fmt.Fprintf(&b, "lat_bucket{trigger=\"event\",le=%q} %d\n", le, event[i])
	}
	fmt.Fprintf(&b, "lat_bucket{trigger=\"event\",le=\"+Inf\"} %d\nlat_sum{trigger=\"event\"} 1\nlat_count{trigger=\"event\"} %d\n", eventCount, eventCount)
	for _, le := range []string{"0.001", "0.002", "0.004", "0.008", "+Inf"} {
		fmt.Fprintf(&b, "lat_bucket{trigger=\"timer\",le=%q} %d\n", le, timer)
	}
	fmt.Fprintf(&b, "lat_sum{trigger=\"timer\"} 1\nlat_count{trigger=\"timer\"} %d\n", timer)
	return b.String()
}

func TestHistogramQuantile(t *testing.T) {
	parse := func(s string) Families {
		t.Helper()
		f, err := Parse(strings.NewReader(s))
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	event := map[string]string{"trigger": "event"}
	// Two replicas: 100 observations, 50 up to 1 ms, 90 up to 2 ms, 99 up
	// to 4 ms, all up to 8 ms; the timer's 1000 are left out.
	var h Histogram
	parse(histogramExposition([4]int{30, 50, 59, 60}, 60, 1000)).AddHistogram(&h, "lat", event)
	parse(histogramExposition([4]int{20, 40, 40, 40}, 40, 1000)).AddHistogram(&h, "lat", event)
	if h.Count != 100 || h.Mismatch || fmt.Sprint(h.Counts) != "[50 90 99 100]" {
		t.Fatalf("sum %+v", h)
	}
	for _, tc := range []struct{ q, want float64 }{
		{0.5, 0.001},   // the 50th is the last of the first bucket
		{0.25, 0.0005}, // halfway into 0..1 ms
		{0.7, 0.0015},  // halfway into 1..2 ms
		{0.99, 0.004},  // the top of 2..4 ms
		{0.995, 0.006}, // halfway into 4..8 ms
		{1, 0.008},     // the last bound
	} {
		if got := h.Quantile(tc.q); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("q%v = %v, want %v", tc.q, got, tc.want)
		}
	}

	// Observations above the last bound: the quantile is that bound.
	var over Histogram
	parse(histogramExposition([4]int{0, 0, 0, 1}, 10, 0)).AddHistogram(&over, "lat", event)
	if got := over.Quantile(0.5); got != 0.008 {
		t.Errorf("beyond the buckets: %v, want 0.008", got)
	}

	// A window: the later scrape less the earlier one.
	var before, after Histogram
	parse(histogramExposition([4]int{10, 10, 10, 10}, 10, 0)).AddHistogram(&before, "lat", event)
	parse(histogramExposition([4]int{10, 30, 30, 30}, 30, 0)).AddHistogram(&after, "lat", event)
	w := after.Sub(before)
	if w.Count != 20 || w.Mismatch || w.Quantile(0.5) != 0.0015 {
		t.Errorf("window %+v, median %v, want 20 observations and 1.5 ms", w, w.Quantile(0.5))
	}
	if d := before.Sub(after); !d.Mismatch || !math.IsNaN(d.Quantile(0.5)) {
		t.Errorf("a reset counter: %+v", d)
	}
	if d := after.Sub(Histogram{}); d.Count != 30 || math.Abs(d.Quantile(0.5)-0.00125) > 1e-12 { // 15th of 30: a quarter into 1..2 ms
		t.Errorf("from nothing: %+v", d)
	}

	// Buckets that differ cannot be added; nothing observed has no quantile.
	odd := parse("# TYPE lat histogram\nlat_bucket{trigger=\"event\",le=\"0.5\"} 1\nlat_bucket{trigger=\"event\",le=\"+Inf\"} 1\nlat_count{trigger=\"event\"} 1\nlat_sum{trigger=\"event\"} 0.1\n")
	odd.AddHistogram(&h, "lat", event)
	if !h.Mismatch || !math.IsNaN(h.Quantile(0.5)) {
		t.Errorf("mismatched buckets: %+v", h)
	}
	var none Histogram
	parse("x 1\n").AddHistogram(&none, "lat", event)
	if !math.IsNaN(none.Quantile(0.5)) {
		t.Errorf("no observations: %v", none.Quantile(0.5))
	}
}
