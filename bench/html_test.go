package bench

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"
)

// sampleResult is a --mode both --step run as one could end: a passthrough
// run before it, three steps, a mix and brokers that need escaping, and 12
// seconds of series of which seconds 1, 2 and 7 read no invite.
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
		CacheEntries: 5000, CacheMaxBytes: 64 << 20, CacheEvictions: 3,
		Sessions: 130,
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
	checkWellFormed(t, page)

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
		"2.0k/s", "11940 events processed", "drained in 1.5s",
		"<td>900</td><td>3.20ms</td><td>8.10ms</td><td>24ms</td><td>61ms</td><td>140ms</td>", // latency
		"<td>40</td><td>12ms</td><td>30ms</td><td>55ms</td><td>70ms</td><td>70ms</td>",       // timer delay
		"21.50 µs/event", "96.0 MiB", "412 B", "5000 entries",
		"<td>abandoner</td><td>40</td><td>31</td><td>77.5%</td>",
		"<td>hesitator</td><td>20</td><td>19</td><td>3</td><td>15.8%</td>", // acceptance
		"<th>all</th><th>60</th><th>58</th><th>5</th><th>8.6%</th>",
		"190 records went to <code>chat-feedback</code>",
		"<td>passthrough</td><td>2.0k/s</td><td>2.0k/s</td>", "0.99×",
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

	// Four plots, each with its lines.
	svgs := regexp.MustCompile(`<svg [^>]*id="([a-z]+)"`).FindAllStringSubmatch(page, -1)
	var ids []string
	for _, m := range svgs {
		ids = append(ids, m[1])
	}
	if got := strings.Join(ids, " "); got != "latency throughput lag rss" {
		t.Errorf("plots %q, want latency throughput lag rss", got)
	}
	if n, m := strings.Count(page, "<svg "), strings.Count(page, "</svg>"); n != 4 || m != 4 {
		t.Errorf("%d <svg> and %d </svg>, want 4 each", n, m)
	}
	for _, s := range []string{"p50", "p99", "offered", "achieved", "lag", "RSS"} {
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
	if n := strings.Count(page, `class="band"`); n != 4 {
		t.Errorf("%d plots mark the measured window, want 4", n)
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
		checkWellFormed(t, page)
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

// checkWellFormed parses the page as strict XML, with HTML's entities:
// WriteHTML closes every element (void ones too, as <meta/>) and quotes
// every attribute, so a tag left open or a stray "<" fails here.
func checkWellFormed(t *testing.T, page string) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(page))
	d.Strict, d.Entity = true, xml.HTMLEntity
	var root struct{ XMLName xml.Name }
	err := d.Decode(&root) // the whole <html> element, nesting checked
	for err == nil {
		var tok xml.Token
		if tok, err = d.Token(); err == nil {
			if text, ok := tok.(xml.CharData); !ok || len(bytes.TrimSpace(text)) > 0 {
				err = fmt.Errorf("%T after </html>", tok)
			}
		}
	}
	if !errors.Is(err, io.EOF) || root.XMLName.Local != "html" {
		line, col := d.InputPos()
		t.Fatalf("not well formed at %d:%d (root <%s>): %v", line, col, root.XMLName.Local, err)
	}
}
