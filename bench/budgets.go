package bench

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// The figures the budgets hold at. The processor's defaults among them
// (commit interval, cache size) are pipeline's and partition's; bench does
// not import the engine, so a test in cmd/linger checks that they agree.
const (
	// DefaultSLOP99 is the p99 decision latency budget, and the default of
	// `linger bench --slo-p99`.
	DefaultSLOP99 = 200 * time.Millisecond
	// BudgetCommitInterval is the commit interval the latency budget
	// holds at: the processor's default --commit-interval.
	BudgetCommitInterval = 100 * time.Millisecond
	// BudgetRate is the rate, in events/s, the CPU budget holds at: what
	// a replica takes in production.
	BudgetRate = 20_000
	// BudgetCacheBytes is the --cache-bytes the memory budget holds at:
	// the processor's default.
	BudgetCacheBytes = 256 << 20
	// FastcacheShare is fastcache's share of --cache-bytes; the hot tables
	// in front of it take the rest. The --cache-bytes that would cover the
	// session timeout is worked out with it.
	FastcacheShare = 0.75
)

// Budget is a figure a run of linger is held to, and the conditions it
// holds under. Budgets lists them all, in one place: the verdicts of every
// run, the README's Performance table (a test reads it) and --slo-p99's
// default say the same.
type Budget struct {
	// Name is the budget's key in the JSON verdicts, never renamed.
	Name string
	// Label is the figure in words, as the summary and the README say it.
	Label string
	// Unit of the figure and the limit: ms, µs/event, s, sessions, MiB or
	// × (a ratio).
	Unit string
	// AtLeast says the figure must be at least Limit; otherwise at most.
	AtLeast bool
	// Limit is the budget in Unit, unless LimitText names a limit that
	// each run reports (the session timeout): then it is 0.
	Limit     float64
	LimitText string
	// When says under which conditions the budget holds ("" always); a
	// run outside them gets the verdict n.a., with its figure.
	When string
	// measure reads the figure from a run, and says why the budget does
	// not apply to it, if it does not.
	measure func(r *Result) measurement
}

// measurement is a Budget's figure in a run.
type measurement struct {
	figure   float64
	measured bool
	limit    float64 // the run's limit, for a Budget with a LimitText
	na       string  // why the budget does not apply to this run ("" if it does)
}

// String is the budget as one line: label, comparison, limit and
// conditions ("processor CPU ≤ 5 µs/event at 20k events/s"). The README's
// Performance table says each in these words.
func (b Budget) String() string {
	s := b.Label + " " + b.op() + " " + b.limitText()
	if b.When != "" {
		s += " " + b.When
	}
	return s
}

func (b Budget) op() string {
	switch {
	case b.AtLeast:
		return "≥"
	case b.Limit == 0 && b.LimitText == "":
		return "="
	}
	return "≤"
}

func (b Budget) limitText() string {
	if b.LimitText != "" {
		return b.LimitText
	}
	switch b.Unit {
	case "×", "sessions":
		return trimFloat(b.Limit)
	}
	return trimFloat(b.Limit) + " " + b.Unit
}

// trimFloat writes v without trailing zeros: 0.9, 200, 5.
func trimFloat(v float64) string { return fmt.Sprintf("%g", v) }

// budgets is the table. Each measure says when a run is outside the
// budget's conditions (n.a.) in words a user can act on.
var budgets = []Budget{
	{
		Name: "latency_p99", Label: "p99 decision latency", Unit: "ms",
		Limit: float64(DefaultSLOP99) / float64(time.Millisecond),
		When:  fmt.Sprintf("at the default commit interval (%s)", durationWords(BudgetCommitInterval.Seconds())),
		measure: func(r *Result) measurement {
			m := measurement{figure: r.Latency.P99, measured: r.Latency.Count > 0}
			switch {
			case r.Rate == 0:
				m.na = "at --rate 0 the backlog is the latency: give a rate"
			case !m.measured:
				m.na = "no invite was timed: run longer"
			case r.CommitIntervalMs != nil && *r.CommitIntervalMs != float64(BudgetCommitInterval)/float64(time.Millisecond):
				m.na = fmt.Sprintf("this run's commit interval was %s", durationWords(*r.CommitIntervalMs/1000))
			}
			return m
		},
	},
	{
		Name: "cpu_per_event", Label: "processor CPU", Unit: "µs/event", Limit: 5,
		When: fmt.Sprintf("at %s events/s", FormatRate(BudgetRate)),
		measure: func(r *Result) measurement {
			m := measurement{figure: r.CPUMicrosPerEvent, measured: r.CPUMicrosPerEvent > 0}
			switch {
			case !m.measured:
				m.na = noMetrics
			case r.Rate != BudgetRate:
				m.na = fmt.Sprintf("this run asked for %s", rateWords(r.Rate))
			}
			return m
		},
	},
	{
		Name: "cache_horizon", Label: "cache horizon", Unit: "s", AtLeast: true, LimitText: "the session timeout",
		measure: func(r *Result) measurement {
			m := measurement{figure: r.CacheHorizonSeconds, measured: r.CacheHorizonSeconds > 0, limit: r.SessionTimeoutSeconds}
			switch {
			case !r.hasMetrics():
				m.na = noMetrics
			case r.SessionTimeoutSeconds <= 0:
				m.na = "the processors do not report their session timeout"
			case !m.measured:
				m.na = "no session was written to fastcache: the hot tables held every one"
				if r.CacheQuietSeconds > 0 {
					m.na += fmt.Sprintf(" (a session goes there after %s of quiet): run longer", durationWords(r.CacheQuietSeconds))
				}
			}
			return m
		},
	},
	{
		Name: "sessions_lost_early", Label: "sessions lost early", Unit: "sessions",
		measure: func(r *Result) measurement {
			m := measurement{figure: float64(r.StateLost), measured: r.hasMetrics()}
			if !m.measured {
				m.na = noMetrics
			}
			return m
		},
	},
	{
		Name: "rss", Label: "processor RSS", Unit: "MiB", Limit: 512,
		When: fmt.Sprintf("with the default --cache-bytes (%d MiB)", BudgetCacheBytes>>20),
		measure: func(r *Result) measurement {
			rss := r.RSSMaxReplicaBytes
			if rss == 0 && r.Replicas <= 1 {
				rss = r.RSSMaxBytes // a result from before the field
			}
			m := measurement{figure: float64(rss) / (1 << 20), measured: rss > 0}
			switch {
			case !m.measured:
				m.na = noMetrics
			case r.CacheBytes != 0 && r.CacheBytes != BudgetCacheBytes:
				m.na = fmt.Sprintf("this run's --cache-bytes was %s", mib(r.CacheBytes))
			}
			return m
		},
	},
	{
		Name: "passthrough_ratio", Label: "linger ÷ passthrough", Unit: "×", AtLeast: true, Limit: 0.9,
		When: "at --rate 0 (--mode both)",
		measure: func(r *Result) measurement {
			m := measurement{figure: r.PassthroughRatio, measured: r.Passthrough != nil && r.PassthroughRatio > 0}
			switch {
			case r.Passthrough == nil:
				m.na = "needs --mode both"
			case !m.measured:
				m.na = "the passthrough processed nothing"
			case r.Rate != 0:
				m.na = fmt.Sprintf("this run asked for %s", rateWords(r.Rate))
			}
			return m
		},
	},
}

// noMetrics is why a budget on the processors' figures has no verdict.
const noMetrics = "no figures from the processors' /metrics (give --metrics)"

// Budgets returns the table of budgets, in the order the reports list
// them.
func Budgets() []Budget { return append([]Budget(nil), budgets...) }

// Verdict is how a run fares against one Budget. Its JSON is part of the
// Result's contract.
type Verdict struct {
	// Name and Label are the Budget's.
	Name  string `json:"name"`
	Label string `json:"label"`
	// Figure is the run's, in Unit; null when it was not measured.
	Figure *float64 `json:"figure"`
	Unit   string   `json:"unit"`
	// Budget is the limit in Unit (null when the run cannot say it, as a
	// session timeout the processors did not report); AtLeast says the
	// figure must reach it, otherwise stay at or below it.
	Budget  *float64 `json:"budget"`
	AtLeast bool     `json:"at_least"`
	// Pass is true or false, or null when the budget does not apply to
	// this run (Outcome "n.a."; Why says why).
	Pass    *bool  `json:"pass"`
	Outcome string `json:"verdict"`
	Why     string `json:"why,omitempty"`
}

// Outcomes of a Verdict.
const (
	OutcomePass = "pass"
	OutcomeFail = "fail"
	OutcomeNA   = "n.a."
)

// Judge returns the run's verdict against each of Budgets. A passthrough
// run has none that apply: the budgets are linger's.
func (r *Result) Judge() []Verdict {
	out := make([]Verdict, 0, len(budgets))
	for _, b := range budgets {
		v := Verdict{Name: b.Name, Label: b.Label, Unit: b.Unit, AtLeast: b.AtLeast, Outcome: OutcomeNA}
		if r.Mode == "passthrough" {
			v.Why = "a passthrough run: the budgets are linger's"
			out = append(out, v)
			continue
		}
		m := b.measure(r)
		limit := b.Limit
		if b.LimitText != "" {
			limit = m.limit
		}
		if b.LimitText == "" || limit > 0 {
			v.Budget = &limit
		}
		if m.measured {
			fig := m.figure
			v.Figure = &fig
		}
		if m.na != "" || v.Figure == nil || v.Budget == nil {
			v.Why = m.na
			out = append(out, v)
			continue
		}
		pass := *v.Figure <= limit
		if b.AtLeast {
			pass = *v.Figure >= limit
		}
		v.Pass, v.Outcome = &pass, OutcomeFail
		if pass {
			v.Outcome = OutcomePass
		}
		out = append(out, v)
	}
	return out
}

// verdicts are r's Verdicts, judged now if they were not yet.
func (r *Result) verdicts() []Verdict {
	if r.Verdicts != nil {
		return r.Verdicts
	}
	return r.Judge()
}

// FigureText is the verdict's figure with its unit ("–" if none).
func (v Verdict) FigureText() string {
	if v.Figure == nil {
		return "–"
	}
	return unitText(*v.Figure, v.Unit)
}

// BudgetText is the budget as the verdict holds it: comparison, limit
// (the run's, where the budget names one) and conditions.
func (v Verdict) BudgetText() string {
	i := slices.IndexFunc(budgets, func(b Budget) bool { return b.Name == v.Name })
	if i < 0 { // a budget of another version: the verdict alone
		b := Budget{Unit: v.Unit, AtLeast: v.AtLeast}
		if v.Budget == nil {
			return "–"
		}
		b.Limit = *v.Budget
		return b.op() + " " + b.limitText()
	}
	b := budgets[i]
	s := b.op() + " " + b.limitText()
	if b.LimitText != "" && v.Budget != nil {
		s += " (" + unitText(*v.Budget, v.Unit) + ")"
	}
	if b.When != "" {
		s += " " + b.When
	}
	return s
}

// unitText writes v in unit, the unit always said.
func unitText(v float64, unit string) string {
	switch unit {
	case "ms":
		return msStr(v)
	case "µs/event":
		return fmt.Sprintf("%.2f µs/event", v)
	case "s":
		return durationWords(v)
	case "sessions":
		if v == 1 {
			return "1 session"
		}
		return fmt.Sprintf("%.0f sessions", v)
	case "MiB":
		return fmt.Sprintf("%.1f MiB", v)
	case "×":
		return fmt.Sprintf("%.2f×", v)
	}
	return fmt.Sprintf("%g %s", v, unit)
}

// durationWords writes seconds as people say them: 0.1 s is "100 ms",
// 49 "49 s", 78 "1 min 18 s", 1800 "30 min", 7500 "2 h 5 min".
func durationWords(s float64) string {
	switch {
	case s == 0:
		return "0 s"
	case s < 1:
		return fmt.Sprintf("%s ms", trimFloat(math.Round(s*1e4)/10))
	case s < 60:
		return fmt.Sprintf("%s s", trimFloat(math.Round(s*10)/10))
	}
	total := int64(math.Round(s))
	h, m, sec := total/3600, total/60%60, total%60
	var parts []string
	if h > 0 {
		parts = append(parts, fmt.Sprintf("%d h", h))
	}
	if m > 0 {
		parts = append(parts, fmt.Sprintf("%d min", m))
	}
	if sec > 0 && h == 0 {
		parts = append(parts, fmt.Sprintf("%d s", sec))
	}
	return strings.Join(parts, " ")
}

// rateWords is a rate asked for, in words.
func rateWords(rate float64) string {
	if rate == 0 {
		return "--rate 0 (as fast as possible)"
	}
	return FormatRate(rate) + " events/s"
}

// CacheBytesToCover returns the --cache-bytes under which an untouched
// session outlives timeoutS at the rate of bytesPerS of state written to
// fastcache: the hot tables hold it for quietS, then fastcache for its
// share of the cache ÷ the write rate. So
//
//	--cache-bytes = (timeout − quiet period) × bytes written per second ÷ FastcacheShare
//
// rounded up to a MiB. 0 when the hot tables alone cover the timeout or
// nothing is written.
func CacheBytesToCover(timeoutS, quietS, bytesPerS float64) int64 {
	need := (timeoutS - quietS) * bytesPerS / FastcacheShare
	if !(need > 0) || math.IsInf(need, 0) {
		return 0
	}
	const mebi = 1 << 20
	return int64(math.Ceil(need/mebi)) * mebi
}
