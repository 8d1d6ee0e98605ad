package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/lingerhq/linger/schemas"
)

// ---- sessionTable ----

// Guards sessionTable growth across the 65536-slot chunk boundary, stable slots, and nil lookups outside 0..n-1.
func TestSessionTableGrowth(t *testing.T) {
	const chunk = 1 << chunkBits
	if chunk != 65536 {
		t.Fatalf("chunk is %d slots, the test assumes 65536", chunk)
	}
	var tb sessionTable
	if s := tb.lookup(0); s != nil {
		t.Fatal("lookup(0) of an empty table is not nil")
	}
	early := tb.slot(5) // a pointer held across growth, as a reader holds one
	tb.sent(chunk-1, Buyer, 11, false, false)
	if len(tb.chunks) != 1 || tb.n != chunk {
		t.Fatalf("after session %d: %d chunks, n %d; want 1, %d", chunk-1, len(tb.chunks), tb.n, chunk)
	}
	if s := tb.lookup(chunk); s != nil {
		t.Errorf("lookup(%d) before it was sent is not nil", chunk)
	}
	tb.sent(chunk, Hesitator, 22, true, false)
	if len(tb.chunks) != 2 || tb.n != chunk+1 {
		t.Fatalf("after session %d: %d chunks, n %d; want 2, %d", chunk, len(tb.chunks), tb.n, chunk+1)
	}
	tb.sent(3*chunk+7, Bot, 33, true, true)
	if len(tb.chunks) != 4 || tb.n != 3*chunk+8 {
		t.Fatalf("after session %d: %d chunks, n %d; want 4, %d", 3*chunk+7, len(tb.chunks), tb.n, 3*chunk+8)
	}
	// A lower index does not shrink n.
	tb.sent(1, Confused, 44, false, false)
	if tb.n != 3*chunk+8 {
		t.Errorf("sending session 1 moved n to %d", tb.n)
	}

	for _, c := range []struct {
		i       int
		persona Persona
		off     int64
		last    bool
	}{
		{chunk - 1, Buyer, 11, false},
		{chunk, Hesitator, 22, true},
		{3*chunk + 7, Bot, 33, true},
		{1, Confused, 44, false},
	} {
		s := tb.lookup(c.i)
		if s == nil {
			t.Errorf("lookup(%d) = nil", c.i)
			continue
		}
		if s.persona != c.persona || s.n != 1 || s.sent[0] != c.off || s.finished != c.last {
			t.Errorf("slot %d = {persona %v, n %d, sent[0] %d, finished %v}, want {%v, 1, %d, %v}",
				c.i, s.persona, s.n, s.sent[0], s.finished, c.persona, c.off, c.last)
		}
		if s != tb.slot(c.i) {
			t.Errorf("lookup(%d) and slot(%d) are different slots", c.i, c.i)
		}
	}
	if tb.lookup(chunk-1) == tb.lookup(chunk) {
		t.Error("the last slot of chunk 0 and the first of chunk 1 are the same")
	}
	if early != tb.lookup(5) {
		t.Error("growing the table moved slot 5")
	}
	for _, i := range []int{-1, -chunk, math.MinInt, 3*chunk + 8, 4 * chunk, math.MaxInt} {
		if s := tb.lookup(i); s != nil {
			t.Errorf("lookup(%d) of a table of %d sessions is not nil", i, tb.n)
		}
	}
}

// Guards sent(): a ring of the latest 3 due offsets, newest at (n-1)%3, and the latest persona/last/partial flags.
func TestSessionTableSentRing(t *testing.T) {
	var tb sessionTable
	offs := []int64{-5_000_000, 10, 20, 30, 40, 50, 60}
	for k, off := range offs {
		last := k == len(offs)-1
		tb.sent(9, Abandoner, off, last, k == 0)
		s := tb.lookup(9)
		if int(s.n) != k+1 {
			t.Fatalf("after %d sends n = %d", k+1, s.n)
		}
		// The ring holds the latest min(n, 3) offsets, newest first.
		var got []int64
		for j := range min(int(s.n), recentSends) {
			got = append(got, s.sent[(int(s.n)-1-j)%recentSends])
		}
		var want []int64
		for j := k; j >= 0 && j > k-recentSends; j-- {
			want = append(want, offs[j])
		}
		if !slices.Equal(got, want) {
			t.Errorf("after %d sends the ring holds %v newest first, want %v", k+1, got, want)
		}
		if s.finished != last || s.partial != (k == 0) || s.persona != Abandoner {
			t.Errorf("after %d sends: finished %v partial %v persona %v", k+1, s.finished, s.partial, s.persona)
		}
	}
}

// Guards match(): newest-first search of the latest 3 offsets for the one whose (startNs+off)/1e6 is the event ms.
func TestSessionTableMatch(t *testing.T) {
	// The run starts 0.4 ms into a millisecond.
	const startNs = int64(1_767_225_600_000_400_000)
	ms := func(off int64) int64 { return (startNs + off) / 1e6 }
	offs := []int64{
		-60_000_000_000,       // history, before the run's start
		1_000_000_000,         // 1s
		2_000_100_000,         // 2.0001s
		3_000_000_000,         // 3s
		3_000_500_000,         // 3.0005s: the same ms as 3s
		4_000_599_999,         // 4.0006s less 1ns: the last ns of its ms
		4_000_600_000 + 1_000, // the next ms
	}
	var tb sessionTable
	s := tb.slot(2)
	if _, ok := s.match(startNs, ms(0)); ok {
		t.Fatal("a slot with nothing sent matched")
	}
	tb.sent(2, Hesitator, offs[0], false, false)
	if off, ok := s.match(startNs, ms(offs[0])); !ok || off != offs[0] {
		t.Errorf("one send before the start: match = %d, %v; want %d, true", off, ok, offs[0])
	}
	if ms(offs[4]) != ms(offs[3]) || ms(offs[5]) == ms(offs[6]) {
		t.Fatal("the test's offsets are not in the milliseconds it assumes")
	}
	for _, off := range offs[1:5] {
		tb.sent(2, Hesitator, off, false, false)
	}
	// Latest 3: 2.0001s, 3s, 3.0005s.
	cases := []struct {
		name string
		tsMs int64
		want int64 // -1: no match
	}{
		{"newest", ms(offs[4]), offs[4]}, // 3s and 3.0005s share the ms: the newer wins
		{"third newest", ms(offs[2]), offs[2]},
		{"fourth newest is forgotten", ms(offs[1]), -1},
		{"history is forgotten", ms(offs[0]), -1},
		{"a ms later", ms(offs[4]) + 1, -1},
		{"a ms earlier", ms(offs[3]) - 1, -1},
		{"the offset in ms instead of the time", offs[4] / 1e6, -1},
	}
	for _, c := range cases {
		off, ok := s.match(startNs, c.tsMs)
		if c.want < 0 {
			if ok {
				t.Errorf("%s: matched %d", c.name, off)
			}
		} else if !ok || off != c.want {
			t.Errorf("%s: match = %d, %v; want %d, true", c.name, off, ok, c.want)
		}
	}
	// The last ns of a ms is still that ms.
	tb.sent(2, Hesitator, offs[5], false, false)
	tb.sent(2, Hesitator, offs[6], true, false)
	for _, off := range offs[5:] {
		if got, ok := s.match(startNs, ms(off)); !ok || got != off {
			t.Errorf("offset %d (ms %d): match = %d, %v", off, ms(off), got, ok)
		}
	}
	if off, ok := s.match(startNs, ms(offs[2])); ok {
		t.Errorf("2.0001s matched %d after 4 newer sends", off)
	}
	// 3s is forgotten, but 3.0005s of the same ms is not.
	if off, ok := s.match(startNs, ms(offs[3])); !ok || off != offs[4] {
		t.Errorf("the ms of 3s: match = %d, %v; want %d (3.0005s), true", off, ok, offs[4])
	}
}

// Guards personaCounts(): only finished, non-partial sessions count, invited among them, unsent slots ignored.
func TestSessionTablePersonaCounts(t *testing.T) {
	var tb sessionTable
	type send struct {
		i       int
		p       Persona
		last    bool
		partial bool
	}
	for _, s := range []send{
		{0, Buyer, false, false}, {0, Buyer, true, false}, // full
		{1, Hesitator, true, false},                   // full, invited below
		{2, Hesitator, true, true},                    // joined partial, invited: not counted
		{3, Confused, false, false},                   // unfinished, invited: not counted
		{4, Abandoner, true, false},                   // full, invited
		{5, Abandoner, true, false},                   // full, not invited
		{6, Bot, true, false}, {6, Bot, false, false}, // "last" then more: unfinished
		{9, Confused, true, false},    // full; 7 and 8 never sent
		{70_000, Buyer, true, false},  // full, in the second chunk
		{70_001, Browser, true, true}, // partial
	} {
		tb.sent(s.i, s.p, 1, s.last, s.partial)
	}
	for _, i := range []int{1, 2, 3, 4, 70_000} {
		tb.lookup(i).invited = true
	}
	sessions, invited := tb.personaCounts()
	var wantS, wantI [numPersonas]int
	wantS[Buyer], wantS[Hesitator], wantS[Abandoner], wantS[Confused] = 2, 1, 2, 1
	wantI[Buyer], wantI[Hesitator], wantI[Abandoner] = 1, 1, 1
	if sessions != wantS || invited != wantI {
		t.Errorf("personaCounts = %v, %v; want %v, %v", sessions, invited, wantS, wantI)
	}
	var empty sessionTable
	if s, i := empty.personaCounts(); s != ([numPersonas]int{}) || i != ([numPersonas]int{}) {
		t.Errorf("empty table counted %v, %v", s, i)
	}
}

// ---- scrape ----

// exposition is what a linger processor's /metrics could serve: HELP and
// TYPE lines, labelled series, a timestamp, a NaN, look-alike names.
const exposition = `# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 12.5
# HELP process_cpu_seconds_total_x Not the CPU time.
# TYPE process_cpu_seconds_total_x counter
process_cpu_seconds_total_x 1000
xprocess_cpu_seconds_total 1000
# HELP process_resident_memory_bytes Resident memory size in bytes.
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 1.048576e+08
process_virtual_memory_bytes 9e+09
# TYPE linger_cache_entries gauge
linger_cache_entries 5000
linger_cache_evictions_total 3
linger_cache_max_bytes 6.7108864e+07
linger_cache_bytes 4e+07
linger_state_lost_total 2
# HELP linger_cache_horizon_seconds Cache bytes ÷ bytes written per second.
# TYPE linger_cache_horizon_seconds gauge
linger_cache_horizon_seconds 1234.5
# HELP linger_session_timeout_seconds The scoring config's longest session timeout.
# TYPE linger_session_timeout_seconds gauge
linger_session_timeout_seconds 1800
linger_cache_horizon_seconds_x 1
# HELP linger_dlq_total Records sent to the DLQ, by problem.
# TYPE linger_dlq_total counter
linger_dlq_total{reason="invalid_json"} 4
linger_dlq_total{reason="missing_ts"} 0
linger_dlq_total{reason="future_ts"} NaN
linger_dlq_total{reason="odd } value, with spaces"} 1
# HELP linger_partition_lag Records behind the high watermark, per assigned partition.
# TYPE linger_partition_lag gauge
linger_partition_lag{partition="0"} 10
linger_partition_lag{partition="1"} 32 1767225600000
linger_partition_lag_sum 500
linger_partition_lag_bucket{le="+Inf"} 999
linger_events_total{type="page_view"} 20
go_goroutines 42
`

// wantExposition is the figures of exposition, ok aside.
var wantExposition = procFigures{
	cpuSeconds: 12.5, rssBytes: 104857600, entries: 5000, evictions: 3,
	maxBytes: 67108864, lost: 2, dlq: 5, lag: 42, horizon: 1234.5, timeout: 1800,
}

// Guards parseMetrics on a realistic exposition: label sets summed, timestamps, NaN, comments and look-alikes skipped.
// (An exposition that does not parse is refused whole: TestParseMetricsRefusesMalformed.)
func TestParseMetrics(t *testing.T) {
	var s procStats
	if err := parseMetrics(strings.NewReader(exposition), &s); err != nil {
		t.Fatal(err)
	}
	if s.procFigures != wantExposition {
		t.Errorf("parseMetrics =\n%+v\nwant\n%+v", s, wantExposition)
	}
	// It adds to what s holds: a second replica's figures sum, but for
	// the horizon (the least) and the timeout (the most).
	if err := parseMetrics(strings.NewReader(exposition), &s); err != nil {
		t.Fatal(err)
	}
	if s.cpuSeconds != 25 || s.lag != 84 || s.dlq != 10 || s.horizon != 1234.5 || s.timeout != 1800 {
		t.Errorf("two parses: cpu %v lag %v dlq %v horizon %v timeout %v, want 25 84 10 1234.5 1800",
			s.cpuSeconds, s.lag, s.dlq, s.horizon, s.timeout)
	}
}

// Guards that each scraped family lands in its own procStats field.
func TestParseMetricsFamilies(t *testing.T) {
	cases := []struct {
		in   string
		want procFigures
	}{
		{"process_cpu_seconds_total 1.5\n", procFigures{cpuSeconds: 1.5}},
		{"process_resident_memory_bytes 7\n", procFigures{rssBytes: 7}},
		{"linger_cache_entries 3\n", procFigures{entries: 3}},
		{"linger_cache_evictions_total 4\n", procFigures{evictions: 4}},
		{"linger_cache_max_bytes 5\n", procFigures{maxBytes: 5}},
		{"linger_state_lost_total 6\n", procFigures{lost: 6}},
		{`linger_dlq_total{reason="too_large"} 8` + "\n", procFigures{dlq: 8}},
		{`linger_partition_lag{partition="3"} 9 1767225600000` + "\n", procFigures{lag: 9}},
		{"linger_cache_horizon_seconds 900\n", procFigures{horizon: 900}},
		{"linger_cache_horizon_seconds +Inf\n", procFigures{horizon: math.Inf(1)}},
		{"linger_session_timeout_seconds 1800\n", procFigures{timeout: 1800}},
		{"process_cpu_seconds_total_x 1\n", procFigures{}},
		{"process_cpu_seconds_total{} 2\n", procFigures{cpuSeconds: 2}},
		{"process_cpu_seconds_total NaN\n", procFigures{}},
		{"# process_cpu_seconds_total 1\n", procFigures{}},
		{"", procFigures{}},
		{"process_cpu_seconds_total 1", procFigures{cpuSeconds: 1}}, // no final newline
	}
	for _, c := range cases {
		var s procStats
		if err := parseMetrics(strings.NewReader(c.in), &s); err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if s.procFigures != c.want {
			t.Errorf("%q: %+v, want %+v", c.in, s, c.want)
		}
	}
}

// Guards that an exposition that does not parse is refused as a whole (the
// replica then counts as not answering), not read line by line into wrong
// figures: a sample without a value, a value that is not a number, CRLF
// line ends (no Prometheus client writes them).
func TestParseMetricsRefusesMalformed(t *testing.T) {
	for _, in := range []string{
		"process_cpu_seconds_total abc\n",
		"process_cpu_seconds_total 1\r\n",
		"process_cpu_seconds_total 1\nlinger_partition_lag\n",
	} {
		var s procStats
		if err := parseMetrics(strings.NewReader(in), &s); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}

// replicaStats parses one exposition per replica into one procStats, as
// scrape does.
func replicaStats(t *testing.T, replicas ...string) procStats {
	t.Helper()
	var s procStats
	for _, r := range replicas {
		if err := parseMetrics(strings.NewReader(r), &s); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// Guards the horizon as the least over replicas (+Inf for none written) and the timeout as the most, in any order.
func TestParseMetricsHorizonTimeout(t *testing.T) {
	h := func(v string) string { return "linger_cache_horizon_seconds " + v + "\n" }
	to := func(v string) string { return "linger_session_timeout_seconds " + v + "\n" }
	cases := []struct {
		replicas []string
		horizon  float64
		timeout  float64
	}{
		{[]string{h("900") + to("1800"), h("300") + to("3600"), h("+Inf") + to("600")}, 300, 3600},
		{[]string{h("+Inf") + to("600"), h("300") + to("3600"), h("900") + to("1800")}, 300, 3600},
		{[]string{h("300"), h("900")}, 300, 0},
		{[]string{h("+Inf"), h("+Inf")}, math.Inf(1), 0},
		{[]string{h("+Inf"), h("450.5")}, 450.5, 0},
		{[]string{h("NaN"), h("450.5")}, 450.5, 0},
		{[]string{to("600"), to("NaN"), to("60")}, 0, 600},
	}
	for _, c := range cases {
		s := replicaStats(t, c.replicas...)
		if s.horizon != c.horizon || s.timeout != c.timeout {
			t.Errorf("%q: horizon %v timeout %v, want %v %v", c.replicas, s.horizon, s.timeout, c.horizon, c.timeout)
		}
	}
}

// Guards that a replica whose horizon gauge still reads 0 weighs the same wherever it is in --metrics.
func TestParseMetricsHorizonZeroOrder(t *testing.T) {
	a := replicaStats(t, "linger_cache_horizon_seconds 0\n", "linger_cache_horizon_seconds 300\n")
	b := replicaStats(t, "linger_cache_horizon_seconds 300\n", "linger_cache_horizon_seconds 0\n")
	if a.horizon != b.horizon {
		t.Errorf("horizons {0, 300}: %v; {300, 0}: %v", a.horizon, b.horizon)
	}
}

// Guards scrape(): sums over replicas, ok only if every URL answered 200 (500, unreachable, bad URL, none, cancelled).
func TestScrape(t *testing.T) {
	serve := func(status int, body string) *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; version=0.0.4")
			w.WriteHeader(status)
			fmt.Fprint(w, body)
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	a := serve(http.StatusOK, exposition)
	b := serve(http.StatusOK, "process_cpu_seconds_total 0.5\nlinger_partition_lag{partition=\"2\"} 8\n"+
		"linger_cache_horizon_seconds 600\nlinger_session_timeout_seconds 3600\n")
	broken := serve(http.StatusInternalServerError, exposition)
	gone := httptest.NewServer(http.NotFoundHandler())
	goneURL := gone.URL
	gone.Close()
	client := &http.Client{Timeout: 2 * time.Second}
	ctx := context.Background()

	s := scrape(ctx, client, []string{a.URL})
	want := wantExposition
	want.ok = true
	if s.procFigures != want {
		t.Errorf("one replica:\n%+v\nwant\n%+v", s, want)
	}

	s = scrape(ctx, client, []string{a.URL, b.URL})
	if !s.ok || s.cpuSeconds != 13 || s.lag != 50 || s.rssBytes != wantExposition.rssBytes || s.horizon != 600 || s.timeout != 3600 {
		t.Errorf("two replicas: %+v; want ok, cpu 13, lag 50, rss %v, horizon 600, timeout 3600", s, wantExposition.rssBytes)
	}

	for _, c := range []struct {
		name string
		urls []string
	}{
		{"none", nil},
		{"500", []string{broken.URL}},
		{"500 and a good one", []string{a.URL, broken.URL}},
		{"unreachable", []string{goneURL}},
		{"good and unreachable", []string{goneURL, a.URL}},
		{"not a URL", []string{"://metrics"}},
	} {
		if s := scrape(ctx, client, c.urls); s.ok {
			t.Errorf("%s: ok", c.name)
		}
	}

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if s := scrape(cancelled, client, []string{a.URL}); s.ok {
		t.Error("a cancelled scrape is ok")
	}
}

// Guards scrape() against client_golang's own handler, configured as the processor's (OpenMetrics, gzip).
func TestScrapePromhttp(t *testing.T) {
	reg := prometheus.NewRegistry()
	lag := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "linger_partition_lag", Help: "Records behind."}, []string{"partition"})
	dlq := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "linger_dlq_total", Help: "To the DLQ."}, []string{"reason"})
	entries := prometheus.NewGauge(prometheus.GaugeOpts{Name: "linger_cache_entries", Help: "Cached."})
	lost := prometheus.NewCounter(prometheus.CounterOpts{Name: "linger_state_lost_total", Help: "Lost."})
	hist := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "linger_partition_lag_seconds", Help: "Look-alike."})
	horizon := prometheus.NewGauge(prometheus.GaugeOpts{Name: "linger_cache_horizon_seconds", Help: "Horizon."})
	timeout := prometheus.NewGauge(prometheus.GaugeOpts{Name: "linger_session_timeout_seconds", Help: "Timeout."})
	reg.MustRegister(lag, dlq, entries, lost, hist, horizon, timeout)
	horizon.Set(math.Inf(1)) // nothing written yet
	timeout.Set(1800)
	lag.WithLabelValues("0").Set(10)
	lag.WithLabelValues("1").Set(32)
	lag.WithLabelValues("11").Set(100)
	dlq.WithLabelValues("invalid_json").Add(4)
	dlq.WithLabelValues("too_large").Add(1)
	entries.Set(5000)
	lost.Add(2)
	hist.Observe(3)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{EnableOpenMetrics: true}))
	defer srv.Close()

	s := scrape(context.Background(), srv.Client(), []string{srv.URL, srv.URL})
	want := procFigures{lag: 284, dlq: 10, entries: 10000, lost: 4, horizon: math.Inf(1), timeout: 1800, ok: true}
	if s.procFigures != want {
		t.Errorf("scrape of promhttp twice = %+v, want %+v", s, want)
	}
}

// ---- Simulator ----

// Guards SessionIndex: round-trips Session(i).ID, rejects other seeds, prefixes, uppercase, leading zeros, garbage.
func TestSessionIndex(t *testing.T) {
	for _, seed := range []uint64{0, 1, 35, 36*36 + 1, math.MaxUint64} {
		sim := newSim(t, Config{Seed: seed})
		indexes := []int{1 << 20, 36*36*36 - 1, 1<<40 + 3, math.MaxInt}
		for i := range 1000 {
			indexes = append(indexes, i)
		}
		for _, i := range indexes {
			id := sim.Session(i).ID
			if got, ok := sim.SessionIndex(id); !ok || got != i {
				t.Fatalf("seed %d: SessionIndex(%q) = %d, %v; want %d, true", seed, id, got, ok, i)
			}
		}

		other := newSim(t, Config{Seed: seed + 1}) // wraps to 0 for MaxUint64
		prefix := "s-" + strconv.FormatUint(seed, 36) + "-"
		bad := []string{
			string(other.Session(0).ID),
			string(other.Session(123).ID),
			string(sim.Session(5).Visitor), // a visitor id: v-<seed>-<n>
			"v-" + strconv.FormatUint(seed, 36) + "-5",
			"S-" + strconv.FormatUint(seed, 36) + "-5",
			prefix + "Z",
			prefix + "1A",
			prefix + "00",
			prefix + "01",
			prefix + "0z",
			"",
			"s",
			"s-",
			prefix,
			prefix[:len(prefix)-1],
			prefix + "-1",
			prefix + "+1",
			prefix + " 1",
			prefix + "1 ",
			prefix + "1-2",
			prefix + "_1",
			prefix + "1_0",
			prefix + "1.0",
			prefix + "ä",
			prefix + "1y2p0ij32e8e8",  // MaxInt64+1
			prefix + "3w5e11264sgsg",  // MaxUint64
			prefix + "zzzzzzzzzzzzzz", // far over
			"garbage",
			"\x00\xff",
			"x" + prefix + "1",
		}
		if upper := strings.ToUpper(prefix[1:]); upper != prefix[1:] {
			bad = append(bad, "s"+upper+"5") // the seed in uppercase
		}
		for _, id := range bad {
			if got, ok := sim.SessionIndex([]byte(id)); ok {
				t.Errorf("seed %d: SessionIndex(%q) = %d, true; want false", seed, id, got)
			}
		}
		if got, ok := sim.SessionIndex([]byte(prefix + "0")); !ok || got != 0 {
			t.Errorf("seed %d: SessionIndex(%q) = %d, %v", seed, prefix+"0", got, ok)
		}
		if got, ok := sim.SessionIndex([]byte(prefix + "1y2p0ij32e8e7")); !ok || got != math.MaxInt64 {
			t.Errorf("seed %d: the id of session MaxInt64: %d, %v", seed, got, ok)
		}
	}
}

// Guards MeanEvents: the mean Len of the first n (≥1) sessions, positive, deterministic, seed- and mix-dependent.
func TestMeanEvents(t *testing.T) {
	sim := newSim(t, Config{Seed: 8})
	const n = 400
	total := 0
	for i := range n {
		s := sim.Session(i)
		total += s.Len()
	}
	want := float64(total) / n
	got := sim.MeanEvents(n)
	if got != want || got <= 1 {
		t.Errorf("MeanEvents(%d) = %v, want %v (and more than one event)", n, got, want)
	}
	if again := newSim(t, Config{Seed: 8}).MeanEvents(n); again != got {
		t.Errorf("MeanEvents(%d) is %v then %v", n, got, again)
	}
	s0 := sim.Session(0)
	for _, k := range []int{1, 0, -3} {
		if m := sim.MeanEvents(k); m != float64(s0.Len()) {
			t.Errorf("MeanEvents(%d) = %v, want session 0's %d events", k, m, s0.Len())
		}
	}
	if other := newSim(t, Config{Seed: 9}).MeanEvents(n); other == got {
		t.Errorf("seeds 8 and 9 have the same mean %v", got)
	}
	// Bots walk many pages; browsers few: the mix moves the mean.
	bots := newSim(t, Config{Seed: 8, Mix: Mix{Bot: 1}}).MeanEvents(200)
	browsers := newSim(t, Config{Seed: 8, Mix: Mix{Browser: 1}}).MeanEvents(200)
	if bots == browsers || bots <= 0 || browsers <= 0 {
		t.Errorf("bots %v and browsers %v events per session", bots, browsers)
	}
	// SessionRate divides an event rate by the mean the load driver uses.
	if got, want := sim.SessionRate(20000), 20000/sim.MeanEvents(20000); got != want {
		t.Errorf("SessionRate(20000) = %v sessions/s, want %v", got, want)
	}
}

// ---- Stream ----

// Guards NextRecordAt stamping ts into rec.TS and the JSON only, and NextRecord keeping simulated times.
func TestNextRecordAt(t *testing.T) {
	cfg := Config{Seed: 4, Rate: 50}
	simA, simB := newSim(t, cfg), newSim(t, cfg)
	a, b, c := simA.Stream(25), simB.Stream(25), newSim(t, cfg).Stream(25)
	var ra, rb, rc Record
	var dec schemas.Decoder
	var ev schemas.Event
	first := map[int]int64{} // session → its first event's time
	k := map[int]int{}       // session → its next event
	prevTS := int64(0)
	n := 0
	for ; a.NextRecord(&ra); n++ {
		ts := int64(1_900_000_000_000) + int64(n)*7 - int64(n%3)*1000 // not monotonic, on purpose
		if !b.NextRecordAt(&rb, ts) {
			t.Fatalf("record %d: NextRecordAt ended first", n)
		}
		if !c.NextRecordAt(&rc, -1) {
			t.Fatalf("record %d: NextRecordAt(-1) ended first", n)
		}

		// NextRecord: simulated time, in order, the same in the value.
		if err := dec.Decode(ra.Key, ra.Value, 0, &ev); err != nil {
			t.Fatalf("record %d: %v", n, err)
		}
		if ev.TS != ra.TS || ra.TS < simA.Config().StartMs || ra.TS < prevTS {
			t.Fatalf("record %d: TS %d, value ts %d, previous %d", n, ra.TS, ev.TS, prevTS)
		}
		prevTS = ra.TS
		sess := simA.Session(ra.Session)
		if _, ok := first[ra.Session]; !ok {
			first[ra.Session] = ra.TS
		}
		if got, want := ra.TS-first[ra.Session], sess.TS(k[ra.Session])-sess.TS(0); got != want {
			t.Fatalf("record %d: event %d of session %d is %d ms into it, want %d", n, k[ra.Session], ra.Session, got, want)
		}
		k[ra.Session]++

		// NextRecordAt(ts): ts everywhere, the rest unchanged.
		if rb.TS != ts {
			t.Fatalf("record %d: NextRecordAt(%d) set TS %d", n, ts, rb.TS)
		}
		if err := dec.Decode(rb.Key, rb.Value, 0, &ev); err != nil {
			t.Fatalf("record %d stamped: %v", n, err)
		}
		if ev.TS != ts {
			t.Fatalf("record %d: value ts %d, want %d: %s", n, ev.TS, ts, rb.Value)
		}
		var ma, mb map[string]any
		if err := json.Unmarshal(ra.Value, &ma); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(rb.Value, &mb); err != nil {
			t.Fatal(err)
		}
		if mb["ts"] != float64(ts) {
			t.Fatalf("record %d: JSON ts %v, want %d", n, mb["ts"], ts)
		}
		delete(ma, "ts")
		delete(mb, "ts")
		if !reflect.DeepEqual(ma, mb) {
			t.Fatalf("record %d: stamping changed more than ts:\n%s\n%s", n, ra.Value, rb.Value)
		}
		if !bytes.Equal(ra.Key, rb.Key) || ra.Session != rb.Session || ra.Persona != rb.Persona || ra.Last != rb.Last || ra.Partial != rb.Partial {
			t.Fatalf("record %d: %+v and stamped %+v differ", n, ra, rb)
		}

		// NextRecordAt(-1) is NextRecord.
		if !bytes.Equal(ra.Value, rc.Value) || !bytes.Equal(ra.Key, rc.Key) || ra.TS != rc.TS || ra.Last != rc.Last {
			t.Fatalf("record %d: NextRecordAt(-1) differs from NextRecord", n)
		}
	}
	if b.NextRecordAt(&rb, 1) || c.NextRecordAt(&rc, -1) {
		t.Error("NextRecordAt went on after NextRecord ended")
	}
	if len(first) != 25 || n < 25 {
		t.Errorf("%d records of %d sessions, want 25 sessions", n, len(first))
	}
}

// Guards StreamFrom(n, from) as Stream(n) minus events before from: Partial, skipped sessions, Last once each.
func TestStreamFrom(t *testing.T) {
	for _, regular := range []bool{false, true} {
		cfg := Config{Seed: 21, Rate: 20, Regular: regular}
		const n = 500 // 25 s of arrivals
		full := newSim(t, cfg).Stream(n)
		from := newSim(t, cfg).Config().StartMs + 18_000
		joined := newSim(t, cfg).StreamFrom(n, from)

		begun := map[int]bool{}   // sessions with an event before from
		present := map[int]bool{} // sessions with an event from from on
		lasts := map[int]int{}
		var rf, rj Record
		count := 0
		for full.NextRecord(&rf) {
			if rf.TS < from {
				begun[rf.Session] = true
				continue
			}
			present[rf.Session] = true
			if !joined.NextRecord(&rj) {
				t.Fatalf("regular=%v: the joined stream ended at record %d", regular, count)
			}
			count++
			if rj.TS < from {
				t.Fatalf("regular=%v: a record at %d, before from %d", regular, rj.TS, from)
			}
			if rj.Session != rf.Session || rj.TS != rf.TS || !bytes.Equal(rj.Value, rf.Value) || rj.Last != rf.Last {
				t.Fatalf("regular=%v: joined record %d is session %d at %d (last %v), want session %d at %d (last %v)",
					regular, count, rj.Session, rj.TS, rj.Last, rf.Session, rf.TS, rf.Last)
			}
			if rj.Partial != begun[rj.Session] {
				t.Fatalf("regular=%v: session %d: Partial %v, but began before from: %v", regular, rj.Session, rj.Partial, begun[rj.Session])
			}
			if rf.Partial {
				t.Fatalf("regular=%v: Stream (not joined) marked session %d partial", regular, rf.Session)
			}
			if rj.Last {
				lasts[rj.Session]++
			}
		}
		if joined.NextRecord(&rj) {
			t.Fatalf("regular=%v: the joined stream has more records than the full one after from", regular)
		}
		if joined.Started() != n {
			t.Errorf("regular=%v: the joined stream started %d sessions, want %d", regular, joined.Started(), n)
		}
		over, partial := 0, 0
		for i := range begun {
			if !present[i] {
				over++
			} else {
				partial++
			}
		}
		// The test means something: sessions of every kind.
		if over == 0 || partial == 0 || len(present)-partial == 0 {
			t.Fatalf("regular=%v: %d sessions over before from, %d partial, %d fresh: pick another from", regular, over, partial, len(present)-partial)
		}
		if len(lasts) != len(present) {
			t.Errorf("regular=%v: %d sessions ended, %d appeared", regular, len(lasts), len(present))
		}
		for i, c := range lasts {
			if c != 1 {
				t.Errorf("regular=%v: session %d has %d last events", regular, i, c)
			}
		}
		t.Logf("regular=%v: %d records; %d sessions over before from, %d partial, %d fresh", regular, count, over, partial, len(present)-partial)
	}
}

// Guards MaxSessionMs as a bound on every session's length, which StreamFrom's steady state relies on.
func TestStreamFromMaxSessionMs(t *testing.T) {
	sim := newSim(t, Config{Seed: 21})
	longest := int64(0)
	for i := range 3000 {
		s := sim.Session(i)
		if s.TS(0) != s.Start {
			t.Fatalf("session %d begins %d ms after its start", i, s.TS(0)-s.Start)
		}
		longest = max(longest, s.TS(s.Len()-1)-s.TS(0))
	}
	if longest > MaxSessionMs {
		t.Errorf("a session lasts %d ms, over MaxSessionMs %d", longest, MaxSessionMs)
	}
}

// eventsPerSecond counts the events of st with times in [from, from+secs s)
// per second of event time.
func eventsPerSecond(t *testing.T, st *Stream, from int64, secs int) []int {
	t.Helper()
	counts := make([]int, secs)
	var ev schemas.Event
	for st.Next(&ev) {
		if ev.TS < from {
			t.Fatalf("an event at %d, before %d", ev.TS, from)
		}
		s := int((ev.TS - from) / 1000)
		if s >= secs {
			return counts
		}
		counts[s]++
	}
	t.Fatal("the stream ended")
	return nil
}

// Guards StreamFrom starting in full swing (≈ Rate × MeanEvents events/s at once), unlike a cold Stream.
func TestStreamFromSteadyRate(t *testing.T) {
	const from = int64(1_800_000_000_000)
	const secs, chunk = 24, 6
	base := Config{Seed: 9, Rate: 10, Regular: true}
	steady := base.Rate * newSim(t, base).MeanEvents(5000)

	joinedCfg := base
	joinedCfg.StartMs = from - MaxSessionMs
	joined := eventsPerSecond(t, newSim(t, joinedCfg).StreamFrom(0, from), from, secs)
	coldCfg := base
	coldCfg.StartMs = from
	cold := eventsPerSecond(t, newSim(t, coldCfg).Stream(0), from, secs)

	sum := func(c []int) float64 {
		s := 0
		for _, v := range c {
			s += v
		}
		return float64(s)
	}
	for i := 0; i < secs; i += chunk {
		rate := sum(joined[i:i+chunk]) / chunk
		if math.Abs(rate-steady) > 0.15*steady {
			t.Errorf("joined: %.0f events/s in seconds %d-%d after from, want %.0f ± 15%%", rate, i, i+chunk, steady)
		}
	}
	if first := float64(joined[0]); math.Abs(first-steady) > 0.25*steady {
		t.Errorf("joined: %.0f events in the first second, want about %.0f", first, steady)
	}
	if rate := sum(cold[:chunk]) / chunk; rate > 0.3*steady {
		t.Errorf("cold: %.0f events/s in the first %d s, want far below the steady %.0f", rate, chunk, steady)
	}
	t.Logf("steady %.0f/s; joined first seconds %v; cold %v", steady, joined[:8], cold[:8])
}

// ---- Result ----

// okResult is a run that sustained 1000 events/s within a 250 ms SLO.
func okResult() Result {
	return Result{
		Mode: "linger", OfferedEPS: 1000, AchievedEPS: 990, LagEnd: 100,
		Latency: Percentiles{Count: 50, P50: 5, P90: 9, P99: 20, P999: 30, Max: 40},
	}
}

// Guards Sustained's checks in order (throughput, end lag, invites, p99 vs SLO) and their messages.
func TestSustained(t *testing.T) {
	cases := []struct {
		name   string
		slo    time.Duration
		change func(*Result)
		ok     bool
		why    string
	}{
		{"ok", 250 * time.Millisecond, func(*Result) {}, true, ""},
		{"95% exactly", 250 * time.Millisecond, func(r *Result) { r.AchievedEPS = 950 }, true, ""},
		{"more achieved than offered", 250 * time.Millisecond, func(r *Result) { r.AchievedEPS = 1200 }, true, ""},
		{"under 95%", 250 * time.Millisecond, func(r *Result) { r.AchievedEPS = 940 }, false, "processed 940/s of 1.0k/s offered"},
		{"lag of a second exactly", 250 * time.Millisecond, func(r *Result) { r.LagEnd = 1000 }, true, ""},
		{"lag over a second", 250 * time.Millisecond, func(r *Result) { r.LagEnd = 1001 }, false, "1001 events behind at the end"},
		{"no invites", 250 * time.Millisecond, func(r *Result) { r.Latency = Percentiles{} }, false, "no invites to time: run longer"},
		{"no invites, passthrough", 250 * time.Millisecond, func(r *Result) { r.Latency = Percentiles{}; r.Mode = "passthrough" }, true, ""},
		{"p99 at the SLO", 250 * time.Millisecond, func(r *Result) { r.Latency.P99 = 250 }, true, ""},
		{"p99 over the SLO", 250 * time.Millisecond, func(r *Result) { r.Latency.P99 = 251 }, false, "p99 251ms over the SLO of 250ms"},
		{"sub-ms SLO met", 1500 * time.Microsecond, func(r *Result) { r.Latency.P99 = 1.4 }, true, ""},
		{"sub-ms SLO missed", 1500 * time.Microsecond, func(r *Result) { r.Latency.P99 = 1.6 }, false, "p99 1.60ms over the SLO of 1.50ms"},
		{"throughput first", 250 * time.Millisecond, func(r *Result) { r.AchievedEPS, r.LagEnd, r.Latency.P99 = 10, 5000, 999 }, false, "processed 10/s of 1.0k/s offered"},
		{"then lag", 250 * time.Millisecond, func(r *Result) { r.LagEnd, r.Latency = 5000, Percentiles{} }, false, "5000 events behind at the end"},
	}
	for _, c := range cases {
		r := okResult()
		c.change(&r)
		ok, why := r.Sustained(c.slo)
		if ok != c.ok || why != c.why {
			t.Errorf("%s: Sustained = %v, %q; want %v, %q", c.name, ok, why, c.ok, c.why)
		}
	}
}

// Guards percentiles() of known microseconds read back in ms, and recordMicros' clamping.
func TestPercentiles(t *testing.T) {
	if p := percentiles(newHistogram()); p != (Percentiles{}) {
		t.Errorf("empty histogram: %+v", p)
	}

	// 10, 20, ..., 1000 µs: exact in the histogram (under 2048).
	h := newHistogram()
	for i := 1; i <= 100; i++ {
		recordMicros(h, time.Duration(10*i)*time.Microsecond)
	}
	want := Percentiles{Count: 100, P50: 0.5, P90: 0.9, P99: 0.99, P999: 1, Max: 1}
	if p := percentiles(h); p != want {
		t.Errorf("10..1000 µs: %+v, want %+v", p, want)
	}

	// Larger values within the histogram's 0.1%.
	h = newHistogram()
	for i := 1; i <= 1000; i++ {
		recordMicros(h, time.Duration(i)*time.Millisecond)
	}
	p := percentiles(h)
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"p50", p.P50, 500}, {"p90", p.P90, 900}, {"p99", p.P99, 990}, {"p99.9", p.P999, 999}, {"max", p.Max, 1000}} {
		if math.Abs(c.got-c.want) > 0.001*c.want {
			t.Errorf("1..1000 ms: %s = %v, want %v ± 0.1%%", c.name, c.got, c.want)
		}
	}
	if p.Count != 1000 {
		t.Errorf("1..1000 ms: count %d", p.Count)
	}

	// Clamped: nothing is lost, zero and negative count as 1 µs, two
	// hours as one.
	h = newHistogram()
	recordMicros(h, 0)
	recordMicros(h, -5*time.Second)
	recordMicros(h, 300*time.Nanosecond)
	p = percentiles(h)
	if p.Count != 3 || p.Max != 0.001 || p.P50 != 0.001 {
		t.Errorf("0, -5s and 300ns: %+v, want 3 at 0.001 ms", p)
	}
	recordMicros(h, 2*time.Hour)
	p = percentiles(h)
	if hour := float64(time.Hour / time.Millisecond); p.Count != 4 || math.Abs(p.Max-hour) > 0.001*hour {
		t.Errorf("two hours: max %v ms of %d, want an hour (%v ms)", p.Max, p.Count, hour)
	}
}

// textLines runs WriteText and returns its lines with runs of blanks made
// one space.
func textLines(t *testing.T, r *Result) []string {
	t.Helper()
	var buf bytes.Buffer
	if err := r.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for l := range strings.Lines(buf.String()) {
		lines = append(lines, strings.Join(strings.Fields(l), " "))
	}
	return lines
}

// fullResult is a linger run with every figure WriteText prints.
func fullResult() *Result {
	return &Result{
		Mode: "linger", Brokers: "k0:9092,k1:9092", Partitions: 6, Rate: 2000, Seed: 7, Mix: "browser=1",
		WarmupSeconds: 5, DurationSeconds: 30,
		Sent: 60000, Processed: 59700, OfferedEPS: 2000, AchievedEPS: 1990, LagEnd: 12, DrainSeconds: 1.5,
		Latency:    Percentiles{Count: 900, P50: 3.2, P90: 8.1, P99: 24, P999: 61, Max: 1400},
		TimerDelay: Percentiles{Count: 40, P50: 12, P90: 30, P99: 55, P999: 70, Max: 70},
		Invites:    950, TimerInvites: 40, Unmatched: 10,
		CPUMicrosPerEvent: 21.5, RSSBytes: 96 << 20, RSSMaxBytes: 100 << 20, BytesPerSession: 412,
		CacheEntries: 5000, HotSessions: 700, CacheMaxBytes: 64 << 20, CacheEvictions: 3, StateLost: 2, DLQ: 1,
		CacheHorizonSeconds: 2400, SessionTimeoutSeconds: 1800,
		Sessions: 130,
		InvitesByPersona: map[string]PersonaInvites{
			"browser": {Sessions: 60, Invited: 3}, "abandoner": {Sessions: 40, Invited: 31},
			"hesitator": {Sessions: 30, Invited: 12}, "bot": {}, "buyer": {},
		},
		Acceptance: Acceptance{Invites: 60, Shown: 58, Accepted: 5, Rate: 5.0 / 58},
		AcceptanceByPersona: map[string]Acceptance{
			"browser": {Invites: 3, Shown: 3}, "abandoner": {Invites: 40, Shown: 39, Accepted: 2, Rate: 2.0 / 39},
			"hesitator": {Invites: 17, Shown: 16, Accepted: 3, Rate: 3.0 / 16}, "bot": {}, "buyer": {},
		},
		FeedbackTopic: "chat-feedback", FeedbackWritten: 190,
		Series: []Point{{T: 1, Offered: 2000, Achieved: 1990, P50: 3, P99: 20, Invites: 30, Lag: 5, RSS: 1 << 20}},
	}
}

// Guards WriteText's lines for a full, passthrough, horizon and zero Result.
func TestWriteText(t *testing.T) {
	lines := textLines(t, fullResult())
	want := []string{
		"mode linger (k0:9092,k1:9092, 6 partitions)",
		"asked 2.0k/s for 30 s after 5 s of warm-up",
		"offered 2.0k/s (60000 events)",
		"achieved 2.0k/s (59700 events; lag at the end 12 events, drained in 1.5 s)",
		"latency p50 3.20ms p90 8.10ms p99 24ms p99.9 61ms max 1.40s (900 invites), event due to invite read",
		"timer invites 40 invites, delay past the deadline p50 12ms p90 30ms p99 55ms p99.9 70ms max 70ms (40 invites)",
		"invites 950 (10 not matched to an event)",
		"processor CPU 21.50 µs/event",
		"processor RSS 96.0 MiB at the end, 100.0 MiB at most",
		"sessions held 5700 (700 active in the hot tables, 5000 in fastcache), 412 B of RSS each; fastcache 64.0 MiB, 3 sessions evicted, 2 sessions lost early",
		"cache horizon 40 min, covers the session timeout of 30 min",
		"invited browser 3 of 60 sessions (5.0%), hesitator 12 of 30 sessions (40.0%), abandoner 31 of 40 sessions (77.5%)",
		"acceptance 8.6% of 58 invites shown (5 accepted, 60 invites read): browser 0.0% (0 of 3), hesitator 18.8% (3 of 16), abandoner 5.1% (2 of 39)",
		"answers 190 records written to chat-feedback",
	}
	if !slices.Equal(lines, want) {
		t.Errorf("WriteText:\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}

	// Passthrough: no invites to speak of; the copies' latency if it was
	// timed.
	for _, timed := range []bool{false, true} {
		r := fullResult()
		r.Mode = "passthrough"
		r.Rate = 0
		if !timed {
			r.Latency = Percentiles{}
		}
		latency := ""
		for _, l := range textLines(t, r) {
			for _, p := range []string{"timer invites", "invites", "invited", "acceptance", "answers"} {
				if strings.HasPrefix(l, p+" ") {
					t.Errorf("passthrough: line %q", l)
				}
			}
			if strings.HasPrefix(l, "latency ") {
				latency = l
			}
			if strings.HasPrefix(l, "asked") && l != "asked as fast as possible for 30 s after 5 s of warm-up" {
				t.Errorf("passthrough at rate 0: %q", l)
			}
		}
		want := ""
		if timed {
			want = "latency p50 3.20ms p90 8.10ms p99 24ms p99.9 61ms max 1.40s (900 copies), event due to its copy read"
		}
		if latency != want {
			t.Errorf("passthrough, latency timed %v: latency line %q, want %q", timed, latency, want)
		}
	}

	// Answers not written, or some refused.
	for _, c := range []struct {
		topic  string
		errors int64
		err    string
		want   string
	}{
		{"", 0, "", "answers not written (no feedback topic)"},
		{"fb", 3, "boom", "answers 190 records written to fb, 3 refused (boom)"},
	} {
		r := fullResult()
		r.FeedbackTopic, r.FeedbackErrors, r.FeedbackError = c.topic, c.errors, c.err
		if lines := textLines(t, r); lines[len(lines)-1] != c.want {
			t.Errorf("feedback topic %q: %q, want %q", c.topic, lines[len(lines)-1], c.want)
		}
	}

	// The horizon's verdict; no line without a horizon.
	for _, c := range []struct {
		horizon, timeout float64
		want             string // "": no line
	}{
		{1800, 1800, "cache horizon 30 min, covers the session timeout of 30 min"},
		{1200, 1800, "cache horizon 20 min, does NOT cover the session timeout of 30 min"},
		{90, 0, "cache horizon 1 min 30 s"}, // a processor that does not report its timeout
		{0, 1800, ""},
	} {
		r := fullResult()
		r.CacheHorizonSeconds, r.SessionTimeoutSeconds = c.horizon, c.timeout
		got := ""
		for _, l := range textLines(t, r) {
			if strings.HasPrefix(l, "cache horizon") {
				got = l
			}
		}
		if got != c.want {
			t.Errorf("horizon %v, timeout %v: %q, want %q", c.horizon, c.timeout, got, c.want)
		}
	}

	// A zero Result: the lines that need no figure, none of the others.
	wantZero := []string{
		"mode (, 0 partitions)",
		"asked as fast as possible for 0 s after 0 s of warm-up",
		"offered 0/s (0 events)",
		"achieved 0/s (0 events; lag at the end 0 events, drained in 0 s)",
		"latency none, event due to invite read",
		"timer invites 0 invites, delay past the deadline none",
		"invites 0 (0 not matched to an event)",
	}
	if got := textLines(t, &Result{}); !slices.Equal(got, wantZero) {
		t.Errorf("zero Result:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantZero, "\n"))
	}
}

// Guards WriteJSON's snake_case contract (offered_eps, latency_ms.p99, invites_by_persona, ...) and round-trip.
func TestWriteJSON(t *testing.T) {
	r := fullResult()
	var buf bytes.Buffer
	if err := r.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatalf("%v:\n%s", err, buf.Bytes())
	}
	for key, want := range map[string]any{
		"mode": "linger", "offered_eps": 2000.0, "achieved_eps": 1990.0, "cpu_us_per_event": 21.5,
		"rss_bytes": float64(96 << 20), "bytes_per_session": 412.0, "sent": 60000.0, "processed": 59700.0,
		"lag_end": 12.0, "drain_s": 1.5, "warmup_s": 5.0, "duration_s": 30.0, "invites": 950.0,
		"timer_invites": 40.0, "unmatched_invites": 10.0, "sessions": 130.0, "seed": 7.0,
		"cache_horizon_s": 2400.0, "session_timeout_s": 1800.0, "feedback_topic": "chat-feedback",
		"feedback_written": 190.0, "feedback_errors": 0.0,
	} {
		if got, ok := m[key]; !ok || got != want {
			t.Errorf("%q = %v (present %v), want %v", key, got, ok, want)
		}
	}
	lat, ok := m["latency_ms"].(map[string]any)
	if !ok {
		t.Fatalf("latency_ms is %T", m["latency_ms"])
	}
	for key, want := range map[string]float64{"count": 900, "p50": 3.2, "p90": 8.1, "p99": 24, "p999": 61, "max": 1400} {
		if lat[key] != want {
			t.Errorf("latency_ms.%s = %v, want %v", key, lat[key], want)
		}
	}
	byPersona, ok := m["invites_by_persona"].(map[string]any)
	if !ok {
		t.Fatalf("invites_by_persona is %T", m["invites_by_persona"])
	}
	if ab, _ := byPersona["abandoner"].(map[string]any); ab["sessions"] != 40.0 || ab["invited"] != 31.0 {
		t.Errorf("invites_by_persona.abandoner = %v", byPersona["abandoner"])
	}
	acc, _ := m["acceptance"].(map[string]any)
	if acc["invites"] != 60.0 || acc["shown"] != 58.0 || acc["accepted"] != 5.0 || acc["rate"] != 5.0/58 {
		t.Errorf("acceptance = %v", m["acceptance"])
	}
	accBy, _ := m["acceptance_by_persona"].(map[string]any)
	if h, _ := accBy["hesitator"].(map[string]any); h["shown"] != 16.0 || h["accepted"] != 3.0 || h["rate"] != 3.0/16 {
		t.Errorf("acceptance_by_persona.hesitator = %v", accBy["hesitator"])
	}
	// Optional parts are left out when absent.
	for _, key := range []string{"guarantee", "passthrough", "steps", "max_sustainable_eps", "slo_p99_ms", "passthrough_ratio"} {
		if _, ok := m[key]; ok {
			t.Errorf("%q is present in a run without it", key)
		}
	}
	var back Result
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	r.Verdicts = r.Judge() // written with the JSON
	if !reflect.DeepEqual(&back, r) {
		t.Errorf("the JSON does not round-trip:\n%+v\n%+v", back, *r)
	}

	// Every field of the contract has a snake_case name of its own.
	snake := regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)
	for _, typ := range []reflect.Type{reflect.TypeFor[Result](), reflect.TypeFor[Percentiles](), reflect.TypeFor[PersonaInvites](), reflect.TypeFor[Acceptance](), reflect.TypeFor[Step](), reflect.TypeFor[Point](), reflect.TypeFor[BucketPercentiles](), reflect.TypeFor[Verdict]()} {
		seen := map[string]string{}
		for f := range typ.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if !snake.MatchString(name) {
				t.Errorf("%s.%s has JSON name %q", typ.Name(), f.Name, name)
			}
			if other, dup := seen[name]; dup {
				t.Errorf("%s.%s and %s share JSON name %q", typ.Name(), f.Name, other, name)
			}
			seen[name] = f.Name
		}
	}

	// A zero Result encodes too.
	buf.Reset()
	if err := (&Result{}).WriteJSON(&buf); err != nil || !json.Valid(buf.Bytes()) {
		t.Errorf("zero Result: %v: %s", err, buf.Bytes())
	}
}

// Guards that a run that did not drain (DrainSeconds -1) says so in the text summary, as the HTML report does.
func TestWriteTextDidNotDrain(t *testing.T) {
	r := fullResult()
	r.DrainSeconds = -1
	for _, l := range textLines(t, r) {
		if strings.HasPrefix(l, "achieved ") && (strings.Contains(l, "-1.0s") || !strings.Contains(l, "did not drain")) {
			t.Errorf("a run that did not drain: %q", l)
		}
	}
}

// Guards that kafka-go's Go names leave the text of an error a user reads,
// and that the error still unwraps to what kafka-go returned.
func TestWithoutGoNames(t *testing.T) {
	refused := errors.New("dial tcp 127.0.0.1:1: connect: connection refused")
	err := withoutGoNames(fmt.Errorf("kafka.(*Client).Metadata: %w", refused))
	if err.Error() != refused.Error() || !errors.Is(err, refused) {
		t.Errorf("%q (unwraps to the cause: %v)", err, errors.Is(err, refused))
	}
	if err := withoutGoNames(refused); err != refused {
		t.Errorf("an error without Go names was changed: %v", err)
	}
	if withoutGoNames(nil) != nil {
		t.Error("nil is not nil")
	}
}
