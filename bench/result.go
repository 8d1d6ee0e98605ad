package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Result is what one load run measured. Its JSON is the contract for CI
// and dashboards: names are snake_case and only ever added to.
type Result struct {
	// Mode is "linger", or "passthrough" for the bare copy loop.
	Mode string `json:"mode"`
	// Brokers the run drove, and whether it started them itself.
	Brokers  string `json:"brokers"`
	Embedded bool   `json:"embedded"`
	// Rate asked for, events/s; 0: as fast as possible.
	Rate       float64 `json:"rate"`
	Seed       uint64  `json:"seed"`
	Mix        string  `json:"mix"`
	Partitions int     `json:"partitions"`
	// Replicas is how many processors' /metrics the run read.
	Replicas int `json:"replicas"`
	// WarmupSeconds are left out of every figure; DurationSeconds is the
	// measured window after them.
	WarmupSeconds   float64 `json:"warmup_s"`
	DurationSeconds float64 `json:"duration_s"`

	// Sent is the events sent in the window, Processed those the
	// processor committed in it (its consumer group's offsets).
	Sent        int64   `json:"sent"`
	Processed   int64   `json:"processed"`
	OfferedEPS  float64 `json:"offered_eps"`
	AchievedEPS float64 `json:"achieved_eps"`
	// ProduceErrors are events the broker did not take; the run fails on
	// any.
	ProduceErrors int64 `json:"produce_errors"`
	// LagEnd is the processor's lag, in events, when the window closed;
	// DrainSeconds how long it then took to reach 0.
	LagEnd       int64   `json:"lag_end"`
	DrainSeconds float64 `json:"drain_s"`

	// Latency is from the moment an event was due to be sent to the
	// moment its invite was read, for invites an event triggered.
	Latency Percentiles `json:"latency_ms"`
	// PublishLatency is the processors' own account of the same path, up
	// to the commit that made each decision readable: the p50 and p99 of
	// linger_decision_publish_latency_seconds{trigger="event"} in the
	// window, summed over replicas and read from its buckets.
	PublishLatency BucketPercentiles `json:"publish_latency_ms"`
	// TimerDelay is, for invites a silence timer triggered, how long
	// after the timer's deadline the invite was read.
	TimerDelay Percentiles `json:"timer_delay_ms"`
	Invites    int64       `json:"invites"`
	// TimerInvites are the invites a silence timer triggered, Unmatched
	// those whose event this run had forgotten or never sent (they count
	// in neither histogram).
	TimerInvites int64 `json:"timer_invites"`
	Unmatched    int64 `json:"unmatched_invites"`

	// CPUMicrosPerEvent is the processors' CPU time in the window per
	// event processed, Kafka I/O included; RSSBytes their resident
	// memory at the end (the sum over replicas); BytesPerSession the
	// growth of RSS over the run per session in their caches.
	CPUMicrosPerEvent float64 `json:"cpu_us_per_event"`
	RSSBytes          int64   `json:"rss_bytes"`
	RSSMaxBytes       int64   `json:"rss_max_bytes"`
	// RSSMaxReplicaBytes is the most any one replica held at a time: what
	// the memory budget, per processor, is about.
	RSSMaxReplicaBytes int64   `json:"rss_max_replica_bytes"`
	BytesPerSession    float64 `json:"bytes_per_session"`
	// CacheEntries are the sessions in fastcache, HotSessions those in the
	// hot tables in front of it (the active ones); CacheMaxBytes is
	// fastcache's share of the cache.
	CacheEntries   int64 `json:"cache_entries"`
	HotSessions    int64 `json:"hot_sessions"`
	CacheMaxBytes  int64 `json:"cache_max_bytes"`
	CacheEvictions int64 `json:"cache_evictions"`
	// CacheHorizonSeconds is how long an untouched session survives in the
	// cache at this run's write rate (the processors' estimate, smoothed
	// over a minute, at the window's end); it must exceed
	// SessionTimeoutSeconds, the scoring config's, or sessions lose their
	// state while still in progress.
	CacheHorizonSeconds   float64 `json:"cache_horizon_s"`
	SessionTimeoutSeconds float64 `json:"session_timeout_s"`
	// StateBytesPerSecond is the state written to fastcache per second in
	// the window (linger_state_bytes_written_total), by the replica that
	// wrote the most; CacheQuietSeconds how long the hot tables hold an
	// untouched session before it goes there. When the horizon falls short
	// of the session timeout, CacheBytesNeeded is the --cache-bytes that
	// would cover it at this write rate (CacheBytesToCover).
	StateBytesPerSecond float64 `json:"state_bytes_per_s"`
	CacheQuietSeconds   float64 `json:"cache_quiet_s,omitempty"`
	CacheBytesNeeded    int64   `json:"cache_bytes_needed,omitempty"`
	StateLost           int64   `json:"state_lost"`
	DLQ                 int64   `json:"dlq"`

	// Sessions is how many sessions the run started; InvitesByPersona
	// how many of each persona were invited at least once.
	Sessions         int                       `json:"sessions"`
	InvitesByPersona map[string]PersonaInvites `json:"invites_by_persona"`

	// Acceptance counts the invites the run read (the history's included)
	// and how the simulated visitors answered them: shown, and accepted,
	// in all and per persona. An answer is counted when its invite is
	// read; its records go to FeedbackTopic as they fall due.
	Acceptance          Acceptance            `json:"acceptance"`
	AcceptanceByPersona map[string]Acceptance `json:"acceptance_by_persona,omitempty"`
	// FeedbackTopic is where the answers were written ("" if they were
	// not), FeedbackWritten the records the brokers took by the end of the
	// run and FeedbackErrors those they refused, the first for
	// FeedbackError.
	FeedbackTopic   string `json:"feedback_topic,omitempty"`
	FeedbackWritten int64  `json:"feedback_written"`
	FeedbackErrors  int64  `json:"feedback_errors"`
	FeedbackError   string `json:"feedback_error,omitempty"`

	// Guarantee, CommitIntervalMs and CacheBytes are the processor's
	// settings, when the run started it (unknown otherwise).
	Guarantee        string   `json:"guarantee,omitempty"`
	CommitIntervalMs *float64 `json:"commit_interval_ms,omitempty"`
	CacheBytes       int64    `json:"cache_bytes,omitempty"`
	// Passthrough is the run of the bare copy loop that --mode both made
	// before this one, and PassthroughRatio this run's achieved rate over
	// its.
	Passthrough      *Result `json:"passthrough,omitempty"`
	PassthroughRatio float64 `json:"passthrough_ratio,omitempty"`
	// Steps are the rates a --step run tried, and MaxSustainableEPS the
	// highest whose p99 met SLOP99Ms with the processor keeping up; the
	// rest of the Result is that step's.
	Steps             []Step  `json:"steps,omitempty"`
	MaxSustainableEPS float64 `json:"max_sustainable_eps,omitempty"`
	SLOP99Ms          float64 `json:"slo_p99_ms,omitempty"`

	// Verdicts are the run against each of Budgets (Judge).
	Verdicts []Verdict `json:"verdicts,omitempty"`

	// Series has one point a second over the whole run, warm-up and drain
	// included, for plots.
	Series []Point `json:"series"`
}

// Percentiles of a latency distribution, in milliseconds.
type Percentiles struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p999"`
	Max   float64 `json:"max"`
}

// BucketPercentiles are percentiles read from a Prometheus histogram's
// buckets, in milliseconds: interpolated within a bucket, so no finer than
// its buckets (each twice the one before).
type BucketPercentiles struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50"`
	P99   float64 `json:"p99"`
}

// String is the one-line form of p.
func (p BucketPercentiles) String() string {
	if p.Count == 0 {
		return "none"
	}
	return fmt.Sprintf("p50 %s  p99 %s  (%d decisions)", msStr(p.P50), msStr(p.P99), p.Count)
}

// hasMetrics says the run read the processors' figures.
func (r *Result) hasMetrics() bool { return r.RSSBytes > 0 }

// PersonaInvites is a persona's row of InvitesByPersona.
type PersonaInvites struct {
	Sessions int `json:"sessions"`
	Invited  int `json:"invited"`
}

// Step is one rate of a --step run.
type Step struct {
	Rate        float64 `json:"rate"`
	OfferedEPS  float64 `json:"offered_eps"`
	AchievedEPS float64 `json:"achieved_eps"`
	P99         float64 `json:"p99_ms"`
	LagEnd      int64   `json:"lag_end"`
	OK          bool    `json:"ok"`
	// Why says what broke, if it did.
	Why string `json:"why,omitempty"`
}

// Sustained reports whether r kept up with its rate within the p99 SLO:
// it processed at least 95% of what was offered, ended the window at most
// a second of events behind, and its invites' p99 was within slo. It
// says why not.
func (r *Result) Sustained(slo time.Duration) (bool, string) {
	sloMs := float64(slo) / float64(time.Millisecond)
	switch {
	case r.AchievedEPS < 0.95*r.OfferedEPS:
		return false, fmt.Sprintf("processed %s of %s offered", eps(r.AchievedEPS), eps(r.OfferedEPS))
	case float64(r.LagEnd) > r.OfferedEPS:
		return false, fmt.Sprintf("%d events behind at the end", r.LagEnd)
	case r.Latency.Count == 0 && r.Mode != "passthrough":
		return false, "no invites to time: run longer"
	case r.Latency.P99 > sloMs:
		return false, fmt.Sprintf("p99 %s over the SLO of %s", msStr(r.Latency.P99), msStr(sloMs))
	}
	return true, ""
}

// Point is one second of a run.
type Point struct {
	// T is the end of the second, seconds after the run's start.
	T float64 `json:"t"`
	// Offered and Achieved are events/s sent in real time and processed
	// in it; History the events of the history sent in it (at once, in
	// the warm-up).
	Offered  float64 `json:"offered_eps"`
	Achieved float64 `json:"achieved_eps"`
	History  int64   `json:"history_events,omitempty"`
	// P50 and P99 are of the invites read in it (ms), 0 if none.
	P50     float64 `json:"p50_ms"`
	P99     float64 `json:"p99_ms"`
	Invites int64   `json:"invites"`
	Lag     int64   `json:"lag"`
	RSS     int64   `json:"rss_bytes"`
	// CPU is the processors' CPU per event over the last 5 seconds, µs;
	// Horizon their cache horizon, s (the shortest replica's). 0: not
	// known.
	CPU     float64 `json:"cpu_us_per_event,omitempty"`
	Horizon float64 `json:"cache_horizon_s,omitempty"`
}

// Latency histograms record microseconds from 1 µs to an hour with three
// significant digits: 0.1% error at any value.
const (
	histMin     = 1
	histMax     = int64(time.Hour / time.Microsecond)
	histFigures = 3
)

func newHistogram() *hdrhistogram.Histogram { return hdrhistogram.New(histMin, histMax, histFigures) }

// recordMicros records d, clamped into the histogram's range.
func recordMicros(h *hdrhistogram.Histogram, d time.Duration) {
	us := min(max(d.Microseconds(), histMin), histMax)
	_ = h.RecordValue(us) // in range: cannot fail
}

func percentiles(h *hdrhistogram.Histogram) Percentiles {
	if h.TotalCount() == 0 {
		return Percentiles{}
	}
	ms := func(us int64) float64 { return math.Round(float64(us)) / 1000 }
	return Percentiles{
		Count: h.TotalCount(),
		P50:   ms(h.ValueAtQuantile(50)),
		P90:   ms(h.ValueAtQuantile(90)),
		P99:   ms(h.ValueAtQuantile(99)),
		P999:  ms(h.ValueAtQuantile(99.9)),
		Max:   ms(h.Max()),
	}
}

// WriteJSON writes r as indented JSON, with its verdicts.
func (r *Result) WriteJSON(w io.Writer) error {
	out := *r
	out.Verdicts = r.verdicts()
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(&out)
}

// WriteText writes the summary table a person reads after a run. Every
// figure has its unit. The verdicts against the budgets are apart, in
// WriteVerdicts: a --mode both run writes two summaries and one verdict.
func (r *Result) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	rate := "as fast as possible"
	if r.Rate > 0 {
		rate = eps(r.Rate)
	}
	fmt.Fprintf(tw, "mode\t%s (%s, %d partitions)\n", r.Mode, r.Brokers, r.Partitions)
	fmt.Fprintf(tw, "asked\t%s for %s after %s of warm-up\n", rate, durationWords(r.DurationSeconds), durationWords(r.WarmupSeconds))
	fmt.Fprintf(tw, "offered\t%s (%d events)\n", eps(r.OfferedEPS), r.Sent)
	drained := "drained in " + durationWords(r.DrainSeconds)
	if r.DrainSeconds < 0 {
		drained = "did not drain in time"
	}
	fmt.Fprintf(tw, "achieved\t%s (%d events; lag at the end %s, %s)\n", eps(r.AchievedEPS), r.Processed, count(r.LagEnd, "event"), drained)
	if r.Mode == "passthrough" && r.Latency.Count > 0 {
		fmt.Fprintf(tw, "latency\t%s, event due to its copy read\n", r.Latency.withUnit("copies"))
	}
	if r.Mode != "passthrough" {
		fmt.Fprintf(tw, "latency\t%s, event due to invite read\n", r.Latency.withUnit("invites"))
		if r.PublishLatency.Count > 0 {
			fmt.Fprintf(tw, "publish latency\t%s, event to commit, by the processors' histogram\n", r.PublishLatency)
		}
		fmt.Fprintf(tw, "timer invites\t%s, delay past the deadline %s\n", count(r.TimerInvites, "invite"), r.TimerDelay.withUnit("invites"))
		fmt.Fprintf(tw, "invites\t%d (%d not matched to an event)\n", r.Invites, r.Unmatched)
	}
	if r.CPUMicrosPerEvent > 0 {
		fmt.Fprintf(tw, "processor CPU\t%.2f µs/event\n", r.CPUMicrosPerEvent)
	}
	if r.RSSBytes > 0 {
		most := mib(r.RSSMaxBytes) + " at most"
		if r.Replicas > 1 {
			most += fmt.Sprintf(" (over %d replicas; %s for the largest)", r.Replicas, mib(r.RSSMaxReplicaBytes))
		}
		fmt.Fprintf(tw, "processor RSS\t%s at the end, %s\n", mib(r.RSSBytes), most)
	}
	if held := r.CacheEntries + r.HotSessions; held > 0 {
		fmt.Fprintf(tw, "sessions held\t%d (%d active in the hot tables, %d in fastcache), %.0f B of RSS each; fastcache %s, %s evicted, %s lost early\n",
			held, r.HotSessions, r.CacheEntries, r.BytesPerSession, mib(r.CacheMaxBytes), count(r.CacheEvictions, "session"), count(r.StateLost, "session"))
	}
	if r.CacheHorizonSeconds > 0 {
		verdict := ""
		switch {
		case r.SessionTimeoutSeconds == 0: // a processor that does not say
		case r.CacheHorizonSeconds < r.SessionTimeoutSeconds:
			verdict = ", does NOT cover the session timeout of " + durationWords(r.SessionTimeoutSeconds)
		default:
			verdict = ", covers the session timeout of " + durationWords(r.SessionTimeoutSeconds)
		}
		fmt.Fprintf(tw, "cache horizon\t%s%s\n", durationWords(r.CacheHorizonSeconds), verdict)
	}
	if warn := r.CacheWarning(); warn != "" {
		fmt.Fprintf(tw, "cache warning\t%s\n", warn)
	}
	if r.Mode != "passthrough" && r.Sessions > 0 {
		var rows []string
		for _, p := range Personas() {
			c := r.InvitesByPersona[p.String()]
			if c.Sessions == 0 {
				continue
			}
			rows = append(rows, fmt.Sprintf("%s %d of %d sessions (%.1f%%)", p, c.Invited, c.Sessions, 100*float64(c.Invited)/float64(c.Sessions)))
		}
		fmt.Fprintf(tw, "invited\t%s\n", strings.Join(rows, ", "))
	}
	if r.Mode != "passthrough" && r.Acceptance.Invites > 0 {
		fmt.Fprintf(tw, "acceptance\t%s\n", r.acceptanceText())
		written := "not written (no feedback topic)"
		if r.FeedbackTopic != "" {
			written = fmt.Sprintf("%d records written to %s", r.FeedbackWritten, r.FeedbackTopic)
			if r.FeedbackErrors > 0 {
				written += fmt.Sprintf(", %d refused (%s)", r.FeedbackErrors, r.FeedbackError)
			}
		}
		fmt.Fprintf(tw, "answers\t%s\n", written)
	}
	return tw.Flush()
}

// AgainstPassthrough compares a run with the passthrough of --mode both
// before it: the throughput ratio, and the CPU each spent an event with
// the difference, linger's own work beyond the transport. At a rate both
// keep up with, the throughputs are equal by construction and the CPU is
// the figure that tells them apart. "" without a passthrough run.
func (r *Result) AgainstPassthrough() string {
	pt := r.Passthrough
	if pt == nil {
		return ""
	}
	s := fmt.Sprintf("%s carries %.2f× the passthrough's throughput", r.Mode, r.PassthroughRatio)
	if r.CPUMicrosPerEvent <= 0 || pt.CPUMicrosPerEvent <= 0 {
		return s + "."
	}
	s += fmt.Sprintf(" and spends %.2f µs of CPU an event to its %.2f (%.2f×): %.2f µs an event beyond the transport.",
		r.CPUMicrosPerEvent, pt.CPUMicrosPerEvent, r.CPUMicrosPerEvent/pt.CPUMicrosPerEvent, r.CPUMicrosPerEvent-pt.CPUMicrosPerEvent)
	if r.Rate > 0 && r.PassthroughRatio >= 0.98 {
		s += fmt.Sprintf(" At %s asked, both carried what was offered: the CPU is what tells them apart.", RateText(r.Rate))
	}
	return s
}

// CacheWarning says, when the cache horizon falls short of the session
// timeout, what that costs and the --cache-bytes that would cover it at
// this run's write rate, with the sum that gives it; "" otherwise.
func (r *Result) CacheWarning() string {
	if r.CacheHorizonSeconds <= 0 || r.CacheHorizonSeconds >= r.SessionTimeoutSeconds {
		return ""
	}
	s := fmt.Sprintf("By the processors' estimate, a session quiet for longer than %s loses its state before the session timeout of %s.",
		durationWords(r.CacheHorizonSeconds), durationWords(r.SessionTimeoutSeconds))
	if r.CacheBytesNeeded <= 0 {
		return s
	}
	return s + fmt.Sprintf(" At the write rate measured in the window, %s of state to fastcache (by the replica that wrote most), --cache-bytes %dMiB per replica would cover it: (%s timeout − %s in the hot tables) × %s ÷ %.2f (fastcache's share of --cache-bytes), rounded up to a MiB.",
		bytesRate(r.StateBytesPerSecond), r.CacheBytesNeeded>>20, durationWords(r.SessionTimeoutSeconds), durationWords(r.CacheQuietSeconds), bytesRate(r.StateBytesPerSecond), FastcacheShare)
}

// WriteVerdicts writes the run's verdict against each budget: pass, FAIL
// or n.a. (and why), the figure and the budget, and a count of each.
func (r *Result) WriteVerdicts(w io.Writer) error {
	vs := r.verdicts()
	counts := map[string]int{}
	for _, v := range vs {
		counts[v.Outcome]++
	}
	fmt.Fprintf(w, "budgets: %d met, %d missed, %d not applicable to this run\n", counts[OutcomePass], counts[OutcomeFail], counts[OutcomeNA])
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, v := range vs {
		outcome := v.Outcome
		if outcome == OutcomeFail {
			outcome = "FAIL"
		}
		why := ""
		if v.Why != "" {
			why = ": " + v.Why
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s%s\n", outcome, v.Label, v.FigureText(), v.BudgetText(), why)
	}
	return tw.Flush()
}

// count writes n things, with the noun in the plural but for one.
func count(n int64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// bytesRate writes bytes per second in the largest unit under a thousand.
func bytesRate(v float64) string {
	switch {
	case v >= 1<<20:
		return fmt.Sprintf("%.1f MiB/s", v/(1<<20))
	case v >= 1<<10:
		return fmt.Sprintf("%.1f KiB/s", v/(1<<10))
	}
	return fmt.Sprintf("%.0f B/s", v)
}

// acceptanceText is the acceptance line of the summary: in all, then per
// persona shown an invite.
func (r *Result) acceptanceText() string {
	a := r.Acceptance
	s := fmt.Sprintf("%s of %d invites shown (%d accepted, %d invites read)", pct(a.Rate), a.Shown, a.Accepted, a.Invites)
	var rows []string
	for _, p := range Personas() {
		if c := r.AcceptanceByPersona[p.String()]; c.Shown > 0 {
			rows = append(rows, fmt.Sprintf("%s %s (%d of %d)", p, pct(c.Rate), c.Accepted, c.Shown))
		}
	}
	if len(rows) > 0 {
		s += ": " + strings.Join(rows, ", ")
	}
	return s
}

// pct writes a share (0 to 1) in percent.
func pct(share float64) string { return fmt.Sprintf("%.1f%%", 100*share) }

// String is the one-line form of p.
func (p Percentiles) String() string { return p.withUnit("samples") }

// withUnit is the one-line form of p, its count of the things named.
func (p Percentiles) withUnit(things string) string {
	if p.Count == 0 {
		return "none"
	}
	return fmt.Sprintf("p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  (%d %s)", msStr(p.P50), msStr(p.P90), msStr(p.P99), msStr(p.P999), msStr(p.Max), p.Count, things)
}

func msStr(ms float64) string {
	switch {
	case ms >= 1000:
		return fmt.Sprintf("%.2fs", ms/1000)
	case ms >= 10:
		return fmt.Sprintf("%.0fms", ms)
	default:
		return fmt.Sprintf("%.2fms", ms)
	}
}

func eps(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM/s", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk/s", v/1e3)
	default:
		return fmt.Sprintf("%.0f/s", v)
	}
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
