package bench

import (
	"bytes"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/lingerhq/linger/internal/htmltest"
)

// sampleResult is a --mode both --step run as one could end: a passthrough
// run before it, three steps, a mix and brokers that need escaping, a cache
// too small for the session timeout, and 12 seconds of series of which
// seconds 1, 2 and 7 read no invite, seconds 1 to 3 are the warm-up (with
// a burst of history and catch-up in second 2), and the processors' CPU
// and horizon are known from second 3.
func sampleResult() *Result {
	r := &Result{
		Mode: "linger", Brokers: `kafka-0:9092,<b>"evil"</b>`, Rate: 2000, Seed: 7,
		Mix: `browser=0.5,<script>alert("x")</script>`, Partitions: 6, Guarantee: "at-least-once",
		WarmupSeconds: 3, DurationSeconds: 6,
		Sent: 12000, Processed: 11940, OfferedEPS: 2000, AchievedEPS: 1990, LagEnd: 60, DrainSeconds: 1.5,
		Latency:    Percentiles{Count: 900, P50: 3.2, P90: 8.1, P99: 24, P999: 61, Max: 140},
		TimerDelay: Percentiles{Count: 40, P50: 12, P90: 30, P99: 55, P999: 70, Max: 70},
		Invites:    950, TimerInvites: 40, Unmatched: 10,
		CPUMicrosPerEvent: 21.5, RSSBytes: 96 << 20, RSSMaxBytes: 100 << 20, BytesPerSession: 412,
		CacheEntries: 5000, HotSessions: 800, CacheMaxBytes: 64 << 20, CacheEvictions: 3, Replicas: 1,
		CacheHorizonSeconds: 95, SessionTimeoutSeconds: 1800, StateBytesPerSecond: 3 << 20, CacheQuietSeconds: 180,
		CacheBytesNeeded: CacheBytesToCover(1800, 180, 3<<20),
		PublishLatency:   BucketPercentiles{Count: 880, P50: 1.5, P99: 7.9},
		Sessions:         130,
		InvitesByPersona: map[string]PersonaInvites{
			"browser": {Sessions: 60, Invited: 3}, "abandoner": {Sessions: 40, Invited: 31},
			"hesitator": {Sessions: 30, Invited: 12}, "bot": {}, "<martian>": {Sessions: 2},
		},
		Acceptance: Acceptance{Invites: 60, Shown: 58, Accepted: 5, Rate: 5.0 / 58},
		AcceptanceByPersona: map[string]Acceptance{
			"abandoner": {Invites: 40, Shown: 39, Accepted: 2, Rate: 2.0 / 39},
			"hesitator": {Invites: 20, Shown: 19, Accepted: 3, Rate: 3.0 / 19}, "bot": {},
		},
		FeedbackTopic: "chat-feedback", FeedbackWritten: 190,
		Passthrough:      &Result{Mode: "passthrough", OfferedEPS: 2000, AchievedEPS: 2000, CPUMicrosPerEvent: 4.1, RSSBytes: 30 << 20},
		PassthroughRatio: 0.995,
		Steps: []Step{
			{Rate: 1000, OfferedEPS: 1000, AchievedEPS: 1000, P99: 12, OK: true},
			{Rate: 2000, OfferedEPS: 2000, AchievedEPS: 1990, P99: 24, LagEnd: 60, OK: true},
			{Rate: 4000, OfferedEPS: 4000, AchievedEPS: 2500, P99: 900, LagEnd: 9000, Why: `p99 900ms over the SLO of <250ms> & more`},
		},
		MaxSustainableEPS: 2000, SLOP99Ms: 250,
	}
	for s := 1; s <= 12; s++ {
		p := Point{T: float64(s), Offered: 2000, Achieved: 1900 + float64(s*10), Lag: int64(100 * s), RSS: int64(80+s) << 20}
		if s != 1 && s != 2 && s != 7 {
			p.P50, p.P99, p.Invites = float64(s), float64(10*s), 80
		}
		if s == 2 {
			p.History, p.Achieved, p.Lag = 400_000, 90_000, 300_000
		}
		if s >= 3 {
			p.CPU, p.Horizon = 20+float64(s)/10, 90+float64(s)
		}
		r.Series = append(r.Series, p)
	}
	return r
}

func TestWriteHTML(t *testing.T) {
	var b bytes.Buffer
	if err := sampleResult().WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	if path := os.Getenv("BENCH_HTML_OUT"); path != "" {
		// For a look in a browser: BENCH_HTML_OUT=/tmp/r.html go test -run HTML
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	htmltest.WellFormed(t, page)

	// Self-contained: nothing to fetch, no script of ours or anyone's.
	rest := strings.ReplaceAll(page, `xmlns="http://www.w3.org/2000/svg"`, "")
	for _, s := range []string{"http://", "https://", "<script", "<link", "@import", "url(", "src="} {
		if strings.Contains(strings.ToLower(rest), s) {
			t.Errorf("page holds %q", s)
		}
	}
	// User and log strings are escaped.
	for _, s := range []string{
		`browser=0.5,&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;`,
		`kafka-0:9092,&lt;b&gt;&#34;evil&#34;&lt;/b&gt;`,
		`p99 900ms over the SLO of &lt;250ms&gt; &amp; more`,
		`&lt;martian&gt;`,
	} {
		if !strings.Contains(page, s) {
			t.Errorf("page lacks the escaped %q", s)
		}
	}
	for _, s := range []string{"NaN", "Inf", "%!", "<no value>"} {
		if strings.Contains(page, s) {
			t.Errorf("page holds %q", s)
		}
	}

	// The settings, figures and tables are there.
	for _, s := range []string{
		"<title>linger load test · linger · 2.0k/s</title>",
		"at-least-once", "6 partitions", ">7<", // guarantee, partitions, seed
		"2.0k/s", "11940 events processed", "lag at the end 60 events, drained in 1.5 s",
		"<td>900</td><td>3.20ms</td><td>8.10ms</td><td>24ms</td><td>61ms</td><td>140ms</td>", // latency
		"<td>40</td><td>12ms</td><td>30ms</td><td>55ms</td><td>70ms</td><td>70ms</td>",       // timer delay
		"21.50 µs/event", "96.0 MiB", "412 B", "800 + 5000",
		"<td>publish latency</td><td>880</td><td>1.50ms</td><td>–</td><td>7.90ms</td>",
		"1 min 35 s", "session timeout 30 min; 3.0 MiB/s of state written to fastcache",
		"<td>abandoner</td><td>40</td><td>31</td><td>77.5%</td>",
		"<td>hesitator</td><td>20</td><td>19</td><td>3</td><td>15.8%</td>", // acceptance
		"<th>all</th><th>60</th><th>58</th><th>5</th><th>8.6%</th>",
		"190 records went to <code>chat-feedback</code>",
		"<td>passthrough</td><td>2.0k/s</td><td>2.0k/s</td>",
		"linger carries 0.99× the passthrough&#39;s throughput and spends 21.50 µs of CPU an event to its 4.10 (5.24×): 17.40 µs an event beyond the transport.",
		"<td>4.0k/s</td><td>4.0k/s</td><td>2.5k/s</td><td>900ms</td><td>9000</td>",
		"Highest sustainable rate: <strong>2.0k/s</strong> (p99 within 250ms",
		"measured window",
	} {
		if !strings.Contains(page, s) {
			t.Errorf("page lacks %q", s)
		}
	}
	if i, j, k := strings.Index(page, "<td>browser<"), strings.Index(page, "<td>abandoner<"), strings.Index(page, "<td>&lt;martian&gt;<"); i < 0 || j < i || k < j {
		t.Error("personas not in the order of Personas(), then the unknown ones")
	}
	if strings.Contains(page, "<td>bot<") {
		t.Error("a persona with no session has a row")
	}

	// Six plots, each with its lines.
	svgs := regexp.MustCompile(`<svg [^>]*id="([a-z]+)"`).FindAllStringSubmatch(page, -1)
	var ids []string
	for _, m := range svgs {
		ids = append(ids, m[1])
	}
	if got := strings.Join(ids, " "); got != "latency throughput lag cpu horizon rss" {
		t.Errorf("plots %q, want latency throughput lag cpu horizon rss", got)
	}
	if n, m := strings.Count(page, "<svg "), strings.Count(page, "</svg>"); n != 6 || m != 6 {
		t.Errorf("%d <svg> and %d </svg>, want 6 each", n, m)
	}
	for _, s := range []string{"p50", "p99", "offered", "achieved", "lag", "CPU", "horizon", "RSS"} {
		if !strings.Contains(page, `data-series="`+s+`"`) {
			t.Errorf("no %s line", s)
		}
	}
	if strings.Contains(page, "no data") {
		t.Error(`a plot with data says "no data"`)
	}
	// Seconds without invites are gaps: p99 has points at 3..6 and 8..12,
	// two runs, not a dip to 0.
	m := regexp.MustCompile(`data-series="p99" d="([^"]*)"`).FindStringSubmatch(page)
	if m == nil || strings.Count(m[1], "M") != 2 || strings.Count(m[1], "L") != 7 {
		t.Errorf("p99 line = %v, want 2 runs of 9 points", m)
	}
	if n := strings.Count(page, `class="band"`); n != 6 {
		t.Errorf("%d plots mark the measured window, want 6", n)
	}
}

// svgOf returns the SVG element of the plot id in page.
func svgOf(t *testing.T, page, id string) string {
	t.Helper()
	i := strings.Index(page, `id="`+id+`"`)
	if i < 0 {
		t.Fatalf("no plot %s", id)
	}
	i = strings.LastIndex(page[:i], "<svg ")
	return page[i : i+strings.Index(page[i:], "</svg>")]
}

// TestWriteHTMLBudgets: the verdicts' table, the cache warning, the budget
// lines on the plots, and scales that leave the warm-up out.
func TestWriteHTMLBudgets(t *testing.T) {
	var b bytes.Buffer
	if err := sampleResult().WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, s := range []string{
		// The verdicts: latency met, CPU not at its rate, horizon missed,
		// none lost, RSS met, the ratio not at --rate 0.
		`<td class="text">pass</td><td class="text">p99 decision latency</td><td>24ms</td><td class="text">≤ 200 ms at the default commit interval (100 ms)</td>`,
		`<tr class="na"><td class="text">n.a.</td><td class="text">processor CPU</td><td>21.50 µs/event</td><td class="text">≤ 5 µs/event at 20k events/s <span class="note">(this run asked for 2k events/s)</span></td>`,
		`<tr class="bad"><td class="text fail">FAIL</td><td class="text">cache horizon</td><td>1 min 35 s</td><td class="text">≥ the session timeout (30 min)</td>`,
		`<td class="text">pass</td><td class="text">sessions lost early</td><td>0 sessions</td><td class="text">= 0</td>`,
		`<td class="text">pass</td><td class="text">processor RSS</td><td>100.0 MiB</td>`,
		`<td class="text">n.a.</td><td class="text">linger ÷ passthrough</td><td>0.99×</td><td class="text">≥ 0.9 at --rate 0 (--mode both) <span class="note">(this run asked for 2k events/s)</span>`,
		// The warning, with the size that would do and how it is worked out.
		`id="cache-warning"`, "--cache-bytes 6480MiB per replica would cover it: (30 min timeout − 3 min in the hot tables) × 3.0 MiB/s ÷ 0.75",
		// The lines.
		`data-ref="p99 budget 200 ms"`, `data-ref="--slo-p99 250ms"`, `data-ref="budget 5 µs/event at 20k events/s"`,
		`data-ref="session timeout 30 min"`, `data-ref="budget 512 MiB"`,
	} {
		if !strings.Contains(page, s) {
			t.Errorf("page lacks %q", s)
		}
	}
	// Each budget line is on its own plot.
	for id, ref := range map[string]string{"latency": "p99 budget", "cpu": "µs/event", "horizon": "session timeout", "rss": "512 MiB"} {
		if !strings.Contains(svgOf(t, page, id), `class="ref" data-ref="`) || !strings.Contains(svgOf(t, page, id), ref) {
			t.Errorf("plot %s has no line %q", id, ref)
		}
	}
	// The warm-up's burst (90k/s achieved, 300k behind, in second 2) is
	// not in the scales: throughput tops out at 2.5k/s, the lag at 1.25k.
	tops := map[string]string{"throughput": "2.5k", "lag": "1.25k", "horizon": "30"} // the horizon's scale reaches the 30 min line
	for id, want := range tops {
		ticks := regexp.MustCompile(`text-anchor="end" class="tick">([^<]*)<`).FindAllStringSubmatch(svgOf(t, page, id), -1)
		if len(ticks) == 0 || ticks[len(ticks)-1][1] != want {
			t.Errorf("plot %s: y ticks %v, want the top at %s", id, ticks, want)
		}
	}

	// A cache that covers the session timeout: no warning.
	r := sampleResult()
	r.CacheHorizonSeconds, r.CacheBytesNeeded = 2400, 0
	b.Reset()
	if err := r.WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "cache-warning") || !strings.Contains(b.String(), `<td class="text">pass</td><td class="text">cache horizon</td><td>40 min</td>`) {
		t.Error("a horizon over the timeout: a warning, or no pass")
	}
}

// TestWriteHTMLEmpty: a result with no series, steps, passthrough or
// personas still renders, its plots saying "no data" and without the
// sections it has nothing for.
func TestWriteHTMLEmpty(t *testing.T) {
	for _, r := range []*Result{{}, {Mode: "passthrough", Series: []Point{{T: 1}}}} {
		var b bytes.Buffer
		if err := r.WriteHTML(&b); err != nil {
			t.Fatal(err)
		}
		page := b.String()
		htmltest.WellFormed(t, page)
		for _, s := range []string{`id="personas"`, `id="acceptance"`, `id="passthrough"`, `id="steps"`, `id="rss"`, "NaN", "<no value>"} {
			if strings.Contains(page, s) {
				t.Errorf("%s run: page holds %q", r.Mode, s)
			}
		}
		for _, s := range []string{"as fast as possible", `id="latency"`, `id="throughput"`, `id="lag"`} {
			if !strings.Contains(page, s) {
				t.Errorf("%s run: page lacks %q", r.Mode, s)
			}
		}
	}
	var b bytes.Buffer
	if err := new(Result).WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(b.String(), ">no data<"); n != 3 {
		t.Errorf(`%d plots say "no data", want 3`, n)
	}
}
