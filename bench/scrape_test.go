package bench

import (
	"context"
	"math"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// replicaMetrics is what a replica's /metrics serves of what the window's
// figures come from, on a registry of its own.
type replicaMetrics struct {
	rss, hot, entries, horizon, timeout, maxBytes prometheus.Gauge
	written, lost                                 prometheus.Counter
	publish                                       *prometheus.HistogramVec
	srv                                           *httptest.Server
}

func newReplicaMetrics(t *testing.T) *replicaMetrics {
	t.Helper()
	reg := prometheus.NewRegistry()
	g := func(name string) prometheus.Gauge {
		m := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: name})
		reg.MustRegister(m)
		return m
	}
	c := func(name string) prometheus.Counter {
		m := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: name})
		reg.MustRegister(m)
		return m
	}
	r := &replicaMetrics{
		rss: g("process_resident_memory_bytes"), hot: g("linger_hot_sessions"), entries: g("linger_cache_entries"),
		horizon: g("linger_cache_horizon_seconds"), timeout: g("linger_session_timeout_seconds"), maxBytes: g("linger_cache_max_bytes"),
		written: c("linger_state_bytes_written_total"), lost: c("linger_state_lost_total"),
		// The processor's buckets: 1 ms to 65 s, each twice the last.
		publish: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: publishMetric, Help: "publish",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 17)}, []string{"trigger"}),
	}
	reg.MustRegister(r.publish)
	r.srv = httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{EnableOpenMetrics: true}))
	t.Cleanup(r.srv.Close)
	return r
}

// observe records n publish latencies of d seconds with trigger.
func (r *replicaMetrics) observe(trigger string, n int, d float64) {
	for range n {
		r.publish.WithLabelValues(trigger).Observe(d)
	}
}

// TestProcessorFigures: the window's figures from three scrapes of two
// replicas (before the run, at the window's start and end): publish
// latency from the event trigger's buckets in the window alone, the
// write rate of the replica that wrote most, RSS per replica, the
// sessions held, and the --cache-bytes that would cover the timeout.
func TestProcessorFigures(t *testing.T) {
	a, b := newReplicaMetrics(t), newReplicaMetrics(t)
	for _, r := range []*replicaMetrics{a, b} {
		r.timeout.Set(1800)
		r.maxBytes.Set(192 << 20)
		r.rss.Set(100 << 20)
	}
	urls := []string{a.srv.URL, b.srv.URL}
	ctx, client := context.Background(), a.srv.Client()
	idle := scrape(ctx, client, urls)

	// The warm-up: slow decisions of the history, which must not count.
	a.observe("event", 1000, 30)
	a.written.Add(1 << 30)
	a.lost.Add(5)
	warm := scrape(ctx, client, urls)

	// The window, 10 s: 99 decisions of 3 ms and one of 100 ms on a, the
	// same on b; timer decisions, which are not the bench's; a writes
	// 20 MiB, b 30 MiB; 2 sessions lost.
	for _, r := range []*replicaMetrics{a, b} {
		r.observe("event", 99, 0.003)
		r.observe("event", 1, 0.1)
		r.observe("timer", 500, 5)
	}
	a.written.Add(20 << 20)
	b.written.Add(30 << 20)
	a.lost.Add(2)
	a.rss.Set(300 << 20)
	b.rss.Set(200 << 20)
	a.hot.Set(700)
	b.hot.Set(300)
	a.entries.Set(4000)
	a.horizon.Set(400)
	b.horizon.Set(math.Inf(1)) // b wrote nothing yet, by its own estimate
	end := scrape(ctx, client, urls)
	if !idle.ok || !warm.ok || !end.ok {
		t.Fatal("a replica did not answer")
	}
	if len(end.rss) != 2 || end.rss[0] != 300<<20 || end.rss[1] != 200<<20 {
		t.Errorf("RSS per replica %v", end.rss)
	}

	res := &Result{Mode: "linger", DurationSeconds: 10, Processed: 1000, CacheQuietSeconds: 180}
	res.processorFigures(idle, warm, end)
	// 200 decisions: the median in the 2–4 ms bucket, the 99th percentile
	// its top (198 of them are 3 ms), not the warm-up's 30 s.
	if pl := res.PublishLatency; pl.Count != 200 || pl.P50 < 2 || pl.P50 > 4 || pl.P99 != 4 {
		t.Errorf("publish latency %+v, want 200 decisions, p50 in 2..4 ms, p99 4 ms", pl)
	}
	if want := float64(3 << 20); res.StateBytesPerSecond != want {
		t.Errorf("state written %v B/s, want b's %v", res.StateBytesPerSecond, want)
	}
	if res.HotSessions != 1000 || res.CacheEntries != 4000 || res.BytesPerSession != float64(300<<20)/5000 {
		t.Errorf("held %d hot + %d, %v B each", res.HotSessions, res.CacheEntries, res.BytesPerSession)
	}
	if res.StateLost != 7 || res.CacheHorizonSeconds != 400 || res.SessionTimeoutSeconds != 1800 {
		t.Errorf("lost %d (want every loss since before the run), horizon %v, timeout %v", res.StateLost, res.CacheHorizonSeconds, res.SessionTimeoutSeconds)
	}
	if want := CacheBytesToCover(1800, 180, 3<<20); res.CacheBytesNeeded != want || want != 6480<<20 {
		t.Errorf("cache bytes needed %d, want %d", res.CacheBytesNeeded, want)
	}

	// A horizon that covers the timeout needs no bigger cache.
	a.horizon.Set(2000)
	end = scrape(ctx, client, urls)
	res = &Result{Mode: "linger", DurationSeconds: 10, Processed: 1000, CacheQuietSeconds: 180}
	res.processorFigures(idle, warm, end)
	if res.CacheBytesNeeded != 0 || res.CacheHorizonSeconds != 2000 {
		t.Errorf("horizon %v: %d bytes needed", res.CacheHorizonSeconds, res.CacheBytesNeeded)
	}
}

// TestProgressLine: the offered rate is of the events sent in real time,
// the history is said apart, and every figure has its unit.
func TestProgressLine(t *testing.T) {
	var b strings.Builder
	l := &load{cfg: LoadConfig{Progress: &b}}
	l.progress(2, Point{Offered: 20000, Achieved: 95000, Lag: 300000, History: 400000}, true, false)
	l.progress(9, Point{Offered: 19900, Achieved: 20100, Lag: 120, Invites: 71, P99: 23.5}, false, false)
	l.progress(40, Point{Achieved: 300}, false, true)
	want := []string{
		"2s offered 20.0k/s achieved 95.0k/s p99 - lag 300000 events invites 0/s (warm-up; 400000 events of history sent at once)",
		"9s offered 19.9k/s achieved 20.1k/s p99 24ms lag 120 events invites 71/s",
		"40s offered 0/s achieved 300/s p99 - lag 0 events invites 0/s (draining)",
	}
	for i, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if got := strings.Join(strings.Fields(line), " "); i >= len(want) || got != want[i] {
			t.Errorf("line %d: %q", i, got)
		}
	}
}
