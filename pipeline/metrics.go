package pipeline

import (
	"runtime"
	"strconv"

	"github.com/lingerhq/linger/schemas"
	"github.com/lingerhq/linger/scoring"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics holds every metric the pipeline exports. Label values that are
// known up front (event types, DLQ reasons, invite reasons) are initialised
// to zero, so dashboards and alerts never query a series that does not exist
// yet.
type Metrics struct {
	Events      *prometheus.CounterVec
	DLQ         *prometheus.CounterVec
	Invites     *prometheus.CounterVec
	Holdout     *prometheus.CounterVec
	Withdrawals *prometheus.CounterVec
	Suppressed  *prometheus.CounterVec
	// Score is filled per batch by the workers (see batchHistogram).
	Score   *batchHistogram
	Latency prometheus.Histogram

	Lag           *prometheus.GaugeVec
	Partitions    prometheus.Gauge
	Rebalances    *prometheus.CounterVec
	InFlight      prometheus.Gauge
	ProduceErrors *prometheus.CounterVec
	Ready         prometheus.Gauge

	CacheEntries   prometheus.Gauge
	CacheBytes     prometheus.Gauge
	CacheMaxBytes  prometheus.Gauge
	CacheEvictions prometheus.Counter
	CacheHorizon   prometheus.Gauge
	StateWritten   prometheus.Counter
	StateLost      prometheus.Counter
	StateCorrupt   prometheus.Counter
	IndexDropped   prometheus.Counter
}

// Version is the release, set at build time with
// -ldflags "-X github.com/lingerhq/linger/pipeline.Version=v1.2.3".
var Version = "dev"

// NewMetrics creates the metrics and registers them, with the Go and process
// collectors, on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	counterVec := func(name, help, label string, values []string) *prometheus.CounterVec {
		v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{label})
		for _, l := range values {
			v.WithLabelValues(l)
		}
		return v
	}
	gauge := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	}
	reasons := schemas.Reasons()
	m := &Metrics{
		Events:      counterVec("linger_events_total", "Events read from the events topic, by type (unknown: types this release skips).", "type", schemas.Types()),
		DLQ:         counterVec("linger_dlq_total", "Records sent to the DLQ, by problem.", "reason", schemas.Problems()),
		Invites:     counterVec("linger_invites_total", "Invites decided, by reason (holdout included).", "reason", reasons),
		Holdout:     counterVec("linger_holdout_invites_total", "Invites decided for sessions in the holdout group, by reason.", "reason", reasons),
		Withdrawals: counterVec("linger_withdrawals_total", "Invites taken back because the visitor bought or opened chat, by reason of the invite.", "reason", reasons),
		Suppressed:  counterVec("linger_suppressed_total", "Would-be invites (a score over its threshold) the policy held back, by rule.", "reason", scoring.SuppressedReasons()),
		Score: newBatchHistogram("linger_score", "Scores computed, one per event and model.", "model",
			reasons, prometheus.LinearBuckets(0.05, 0.05, 20)),
		Latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "linger_decision_latency_seconds", Help: "Time from a decision's event time to the decision.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 17),
		}),
		Lag:           prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "linger_partition_lag", Help: "Records behind the high watermark, per assigned partition."}, []string{"partition"}),
		Partitions:    gauge("linger_partitions_assigned", "Partitions of the events topic this replica owns."),
		Rebalances:    counterVec("linger_rebalances_total", "Group rebalance callbacks, by kind.", "kind", []string{"assigned", "revoked", "lost"}),
		InFlight:      gauge("linger_in_flight_records", "Records fetched and not yet committed."),
		ProduceErrors: counterVec("linger_produce_errors_total", "Records the broker refused, by topic.", "topic", nil),
		Ready:         gauge("linger_ready", "1 once the group is joined and every assigned partition is served."),

		CacheEntries:   gauge("linger_cache_entries", "Session states in the cache."),
		CacheBytes:     gauge("linger_cache_bytes", "Bytes the cache holds."),
		CacheMaxBytes:  gauge("linger_cache_max_bytes", "The cache's capacity in bytes (--cache-bytes)."),
		CacheEvictions: counter("linger_cache_evictions_total", "Sessions pushed out of the cache ring (estimated from inserts minus entries)."),
		CacheHorizon:   gauge("linger_cache_horizon_seconds", "Cache bytes ÷ bytes written per second: how long an untouched session survives. Keep it above the session timeout."),
		StateWritten:   counter("linger_state_bytes_written_total", "Bytes of session state written to the cache."),
		StateLost:      counter("linger_state_lost_total", "Sessions whose state was missing before their timeout (evicted: the cache is too small)."),
		StateCorrupt:   counter("linger_state_corrupt_total", "Session states that could not be decoded and were started over."),
		IndexDropped:   counter("linger_session_index_dropped_total", "Sessions not tracked for loss detection because the index was full."),
	}
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "linger_build_info", Help: "Always 1; labels name the build."}, []string{"version", "goversion"})
	build.WithLabelValues(Version, runtime.Version()).Set(1)
	reg.MustRegister(m.Events, m.DLQ, m.Invites, m.Holdout, m.Withdrawals, m.Suppressed, m.Score, m.Latency,
		m.Lag, m.Partitions, m.Rebalances, m.InFlight, m.ProduceErrors, m.Ready,
		m.CacheEntries, m.CacheBytes, m.CacheMaxBytes, m.CacheEvictions, m.CacheHorizon,
		m.StateWritten, m.StateLost, m.StateCorrupt, m.IndexDropped, build,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// partitionMetrics are a worker's handles on the metrics, resolved once so the
// hot path does no label lookups. Per-event counts (events by type, scores,
// suppressed invites) are kept locally and added once per batch by flush:
// an atomic add per event on a counter every worker shares costs more than
// the rest of the bookkeeping.
type partitionMetrics struct {
	events      [16]prometheus.Counter // by schemas.Type
	dlq         [16]prometheus.Counter // by schemas.Problem
	invites     [3]prometheus.Counter  // by schemas.Reason
	holdout     [3]prometheus.Counter
	withdrawals [3]prometheus.Counter
	suppressed  [16]prometheus.Counter // by scoring.Outcome
	score       [2]*localHist
	latency     prometheus.Observer

	nEvents     [16]uint64
	nSuppressed [16]uint64
	lag         prometheus.Gauge
	lost        prometheus.Counter
	corrupt     prometheus.Counter
	dropped     prometheus.Counter
}

func (m *Metrics) forPartition(p int32) *partitionMetrics {
	pm := &partitionMetrics{
		latency: m.Latency,
		lag:     m.Lag.WithLabelValues(strconv.Itoa(int(p))),
		lost:    m.StateLost,
		corrupt: m.StateCorrupt,
		dropped: m.IndexDropped,
	}
	for i, t := range schemas.Types() {
		pm.events[i] = m.Events.WithLabelValues(t)
	}
	for i := schemas.ProblemNone + 1; i.String() != "unknown"; i++ {
		pm.dlq[i] = m.DLQ.WithLabelValues(i.String())
	}
	for r := schemas.ReasonAbandonment; r <= schemas.ReasonConfusion; r++ {
		pm.invites[r] = m.Invites.WithLabelValues(r.String())
		pm.holdout[r] = m.Holdout.WithLabelValues(r.String())
		pm.withdrawals[r] = m.Withdrawals.WithLabelValues(r.String())
	}
	for o := scoring.SuppressedBot; o.Suppressed(); o++ {
		pm.suppressed[o] = m.Suppressed.WithLabelValues(o.String())
	}
	pm.score[0] = m.Score.local(0) // abandonment, the order of schemas.Reasons
	pm.score[1] = m.Score.local(1)
	return pm
}

// flush adds the batch's local counts to the shared metrics.
func (pm *partitionMetrics) flush() {
	for i, n := range pm.nEvents {
		if n > 0 {
			pm.events[i].Add(float64(n))
			pm.nEvents[i] = 0
		}
	}
	for i, n := range pm.nSuppressed {
		if n > 0 {
			pm.suppressed[i].Add(float64(n))
			pm.nSuppressed[i] = 0
		}
	}
	pm.score[0].flush()
	pm.score[1].flush()
}

// unregisteredMetrics returns handles on a registry nobody scrapes, for a
// Processor run without one (replay, tests): the hot path stays the same.
func unregisteredMetrics() *partitionMetrics {
	return NewMetrics(prometheus.NewRegistry()).forPartition(0)
}
