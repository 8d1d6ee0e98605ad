package pipeline

import (
	"strconv"
	"sync"

	"github.com/lingerhq/linger/schemas"
	"github.com/lingerhq/linger/scoring"
	"github.com/prometheus/client_golang/prometheus"
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
	Latency *prometheus.HistogramVec

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
	SessionTimeout prometheus.Gauge
	StateWritten   prometheus.Counter
	StateLost      prometheus.Counter
	StateCorrupt   prometheus.Counter
	IndexDropped   prometheus.Counter
	Collisions     prometheus.Counter

	LateEvents     prometheus.Counter
	TimersFired    *prometheus.CounterVec
	TimersDropped  prometheus.Counter
	TimerEntries   prometheus.Gauge
	Expired        prometheus.Counter
	WatermarkDelay *prometheus.GaugeVec

	Transactions   *prometheus.CounterVec
	ClientRestarts prometheus.Counter
	StateRecords   prometheus.Counter
	Restoring      prometheus.Gauge
	RestoreTime    prometheus.Histogram
	RestoreRecord  prometheus.Counter
	Passthrough    prometheus.Counter

	// The closed loop with the chat team: the broadcast tables, each
	// site's invite-rate band and each team's budget, summed over this
	// replica's partitions.
	Feedback        *prometheus.CounterVec
	FeedbackOrphans prometheus.Counter
	TableRecords    *prometheus.CounterVec
	VisitorsCapped  prometheus.Gauge
	VisitorsDropped prometheus.Gauge
	CapacityKeys    prometheus.Gauge
	BandShare       *prometheus.GaugeVec
	BandBound       *prometheus.GaugeVec
	BandOffset      *prometheus.GaugeVec
	BudgetTokens    *prometheus.GaugeVec
	BudgetSize      *prometheus.GaugeVec
	loop            loopStats
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
		Latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "linger_decision_latency_seconds", Help: "Time from a decision's event time to the decision, by trigger: event (the event that came in), or timer (a silence timer, which fires once the watermark, the newest event time less the allowed lateness, passes its deadline: about the allowed lateness by design).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 17),
		}, []string{"trigger"}),
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
		SessionTimeout: gauge("linger_session_timeout_seconds", "The scoring config's longest session timeout: keep linger_cache_horizon_seconds above it."),
		StateWritten:   counter("linger_state_bytes_written_total", "Bytes of session state written to the cache."),
		StateLost:      counter("linger_state_lost_total", "Sessions whose state was missing before their timeout (evicted: the cache is too small)."),
		StateCorrupt:   counter("linger_state_corrupt_total", "Session states that could not be decoded and were started over, in the cache or in the changelog at a restore (changelog records that do not decode are skipped)."),
		IndexDropped:   counter("linger_session_index_dropped_total", "Sessions not tracked for loss detection because the index was full."),
		Collisions:     counter("linger_session_hash_collisions_total", "Sessions started over because another session id had the same 64-bit key hash."),

		LateEvents:     counter("linger_late_events_total", "Events older than their partition's newest event time less the allowed lateness: applied, but after timers they could have cancelled."),
		TimersFired:    counterVec("linger_timers_fired_total", "Timers that came due, by kind: silence (a check on a quiet visitor), expiry, rearm (the deadline had moved later).", "kind", []string{"silence", "expiry", "rearm"}),
		TimersDropped:  counter("linger_timer_dropped_total", "Timers not armed because the timer index was full (bounded by --cache-bytes)."),
		TimerEntries:   gauge("linger_timer_entries", "Entries in the timer indexes of this replica's partitions."),
		Expired:        counter("linger_sessions_expired_total", "Sessions ended by inactivity, their state deleted and tombstoned."),
		WatermarkDelay: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "linger_watermark_delay_seconds", Help: "Wall clock minus the partition's event-time watermark: how late its timers fire."}, []string{"partition"}),

		Transactions:   counterVec("linger_transactions_total", "Batches ended, by result: committed, or aborted (a rebalance or a failed commit; the batch is processed again).", "result", []string{"committed", "aborted"}),
		ClientRestarts: counter("linger_client_restarts_total", "Kafka clients replaced after a fatal client error (a fenced producer, a transaction that could not end); the partitions are restored."),
		StateRecords:   counter("linger_state_records_total", "Records written to the state changelog (states, tombstones, partition records)."),
		Restoring:      gauge("linger_restoring_partitions", "Partitions whose state is being restored from the changelog."),
		RestoreTime:    prometheus.NewHistogram(prometheus.HistogramOpts{Name: "linger_restore_seconds", Help: "Time to restore one partition's state from the changelog.", Buckets: prometheus.ExponentialBuckets(0.01, 2, 14)}),
		Passthrough:    counter("linger_passthrough_records_total", "Events copied unscored to the passthrough topic (linger run --passthrough, for benchmarks)."),
		RestoreRecord:  counter("linger_restore_records_total", "Changelog records read while restoring."),

		Feedback:        counterVec("linger_feedback_total", "Feedback records from the chat front-ends (chat-feedback), by type (unknown: types this release skips).", "type", schemas.FeedbackTypes()),
		FeedbackOrphans: counter("linger_feedback_unknown_session_total", "Feedback about a session this replica does not hold (expired, or never seen): counted, nothing changed."),
		TableRecords:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "linger_table_records_total", Help: "Records read into the broadcast tables (capacity: chat-capacity, visitors: linger-visitors), by result: ok, bad (undecodable, skipped), refused (beyond the table's bounds)."}, []string{"table", "result"}),
		VisitorsCapped:  gauge("linger_visitor_caps_entries", "Visitors in the frequency-cap table."),
		VisitorsDropped: gauge("linger_visitor_caps_dropped", "Visitors dropped from the full frequency-cap table since start (their cap is forgotten)."),
		CapacityKeys:    gauge("linger_capacity_teams", "Site/team keys in the chat-capacity table."),
		BandShare:       prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "linger_invite_share", Help: "Share of eligible sessions invited over the band's window, per site, over this replica's partitions."}, []string{"site"}),
		BandBound:       prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "linger_invite_band", Help: "The configured invite-rate band of a site (shares 0..1), by bound: min, max."}, []string{"site", "bound"}),
		BandOffset:      prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "linger_invite_threshold_offset", Help: "The band controller's threshold offset per site (0 with the controller off), averaged over this replica's partitions."}, []string{"site"}),
		BudgetTokens:    prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "linger_budget_tokens", Help: "Invites a chat team may still receive from this replica's partitions (its capacity share), per site and team."}, []string{"site", "team"}),
		BudgetSize:      prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "linger_budget_size", Help: "The most invites a team's budget holds over this replica's partitions, per site and team."}, []string{"site", "team"}),
	}
	m.loop.m = m
	m.Latency.WithLabelValues("event")
	m.Latency.WithLabelValues("timer")
	// The band families exist from the start, for dashboards and alerts:
	// with the sessions without a site, whose band reads 0–1 (nothing to
	// alert on) until their first eligible session.
	m.BandShare.WithLabelValues("")
	m.BandOffset.WithLabelValues("")
	m.BandBound.WithLabelValues("", "min")
	m.BandBound.WithLabelValues("", "max").Set(1)
	for _, t := range []string{"capacity", "visitors"} {
		for _, r := range []string{"ok", "bad", "refused"} {
			m.TableRecords.WithLabelValues(t, r)
		}
	}
	RegisterProcessMetrics(reg)
	reg.MustRegister(m.Events, m.DLQ, m.Invites, m.Holdout, m.Withdrawals, m.Suppressed, m.Score, m.Latency,
		m.Lag, m.Partitions, m.Rebalances, m.InFlight, m.ProduceErrors, m.Ready,
		m.CacheEntries, m.CacheBytes, m.CacheMaxBytes, m.CacheEvictions, m.CacheHorizon, m.SessionTimeout,
		m.StateWritten, m.StateLost, m.StateCorrupt, m.IndexDropped, m.Collisions,
		m.LateEvents, m.TimersFired, m.TimersDropped, m.TimerEntries, m.Expired, m.WatermarkDelay,
		m.Transactions, m.ClientRestarts, m.StateRecords, m.Restoring, m.RestoreTime, m.RestoreRecord, m.Passthrough,
		m.Feedback, m.FeedbackOrphans, m.TableRecords, m.VisitorsCapped, m.VisitorsDropped, m.CapacityKeys, m.BandShare, m.BandBound, m.BandOffset, m.BudgetTokens, m.BudgetSize)
	return m
}

// partitionMetrics are a worker's handles on the metrics, resolved once so the
// hot path does no label lookups. What a batch counts is kept in n and added
// by flush when the batch commits, or dropped when it aborts (its records
// are processed again): an atomic add per event on a counter every worker
// shares would also cost more than the rest of the bookkeeping.
type partitionMetrics struct {
	m           *Metrics
	partition   string
	events      [16]prometheus.Counter // by schemas.Type
	dlq         [16]prometheus.Counter // by schemas.Problem
	invites     [3]prometheus.Counter  // by schemas.Reason
	holdout     [3]prometheus.Counter
	withdrawals [3]prometheus.Counter
	suppressed  [16]prometheus.Counter // by scoring.Outcome
	feedback    [8]prometheus.Counter  // by schemas.FeedbackType
	latency     [2]prometheus.Observer // event, timer
	score       [2]*localHist
	lag         prometheus.Gauge
	watermark   prometheus.Gauge

	n pendingCounts
}

// pendingCounts are one batch's counts.
type pendingCounts struct {
	events, dlq, suppressed         [16]uint64
	invites, holdout, withdrawals   [3]uint64
	late, lost, corrupt, collisions uint64
	indexDropped, timersDropped     uint64
	expired, silence, rearmed       uint64
	feedback                        [8]uint64
	feedbackUnknown                 uint64
	latencies, timerLatencies       []float64
}

func (m *Metrics) forPartition(p int32) *partitionMetrics {
	label := strconv.Itoa(int(p))
	pm := &partitionMetrics{
		m:         m,
		partition: label,
		lag:       m.Lag.WithLabelValues(label),
		watermark: m.WatermarkDelay.WithLabelValues(label),
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
	for i, t := range schemas.FeedbackTypes() {
		pm.feedback[i] = m.Feedback.WithLabelValues(t)
	}
	pm.latency[0], pm.latency[1] = m.Latency.WithLabelValues("event"), m.Latency.WithLabelValues("timer")
	pm.score[0] = m.Score.local(0) // abandonment, the order of schemas.Reasons
	pm.score[1] = m.Score.local(1)
	return pm
}

// flush adds the batch's counts to the shared metrics if the batch
// committed, and forgets them either way.
func (pm *partitionMetrics) flush(commit bool, timers int) {
	n := &pm.n
	if !commit {
		lat, tlat := n.latencies[:0], n.timerLatencies[:0]
		*n = pendingCounts{latencies: lat, timerLatencies: tlat}
		pm.score[0].discard()
		pm.score[1].discard()
		return
	}
	m := pm.m
	add := func(c prometheus.Counter, v uint64) {
		if v > 0 {
			c.Add(float64(v))
		}
	}
	for i := range n.events {
		if pm.events[i] != nil {
			add(pm.events[i], n.events[i])
		}
		if pm.dlq[i] != nil {
			add(pm.dlq[i], n.dlq[i])
		}
		if pm.suppressed[i] != nil {
			add(pm.suppressed[i], n.suppressed[i])
		}
	}
	for r := 1; r < 3; r++ {
		add(pm.invites[r], n.invites[r])
		add(pm.holdout[r], n.holdout[r])
		add(pm.withdrawals[r], n.withdrawals[r])
	}
	for _, l := range n.latencies {
		pm.latency[0].Observe(l)
	}
	for _, l := range n.timerLatencies {
		pm.latency[1].Observe(l)
	}
	for i, c := range pm.feedback {
		if c != nil {
			add(c, n.feedback[i])
		}
	}
	add(m.FeedbackOrphans, n.feedbackUnknown)
	add(m.LateEvents, n.late)
	add(m.StateLost, n.lost)
	add(m.StateCorrupt, n.corrupt)
	add(m.Collisions, n.collisions)
	add(m.IndexDropped, n.indexDropped)
	add(m.TimersDropped, n.timersDropped)
	add(m.Expired, n.expired)
	add(m.TimersFired.WithLabelValues("expiry"), n.expired)
	add(m.TimersFired.WithLabelValues("silence"), n.silence)
	add(m.TimersFired.WithLabelValues("rearm"), n.rearmed)
	pm.score[0].flush()
	pm.score[1].flush()
	lat, tlat := n.latencies[:0], n.timerLatencies[:0]
	*n = pendingCounts{latencies: lat, timerLatencies: tlat}
}

// forget removes the partition's own series, when it leaves this replica.
func (pm *partitionMetrics) forget() {
	pm.m.Lag.DeleteLabelValues(pm.partition)
	pm.m.WatermarkDelay.DeleteLabelValues(pm.partition)
	pm.m.loop.forget(pm.partition)
}

// loopStats sums the partitions' budgets (bands and team buckets) into the
// replica's gauges. Each worker hands in its budget's figures after a
// commit that changed it; the sums are over the latest figures of each
// partition this replica owns.
type loopStats struct {
	m     *Metrics
	mu    sync.Mutex
	bands map[string]map[string]scoring.BandStatus // site → partition → status
	teams map[[2]string]map[string]scoring.TeamBudget
}

// update takes in partition's budget figures.
func (l *loopStats) update(partition string, b *scoring.Budget) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.bands == nil {
		l.bands = map[string]map[string]scoring.BandStatus{}
		l.teams = map[[2]string]map[string]scoring.TeamBudget{}
	}
	b.Bands(func(s scoring.BandStatus) {
		byPart := l.bands[s.Site]
		if byPart == nil {
			byPart = map[string]scoring.BandStatus{}
			l.bands[s.Site] = byPart
		}
		byPart[partition] = s
		l.setBand(s.Site)
	})
	b.Teams(func(t scoring.TeamBudget) {
		k := [2]string{t.Site, t.Team}
		byPart := l.teams[k]
		if byPart == nil {
			byPart = map[string]scoring.TeamBudget{}
			l.teams[k] = byPart
		}
		byPart[partition] = t
		l.setTeam(k)
	})
}

// forget drops a partition this replica no longer owns from the sums.
func (l *loopStats) forget(partition string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for site, byPart := range l.bands {
		if _, ok := byPart[partition]; ok {
			delete(byPart, partition)
			l.setBand(site)
		}
	}
	for k, byPart := range l.teams {
		if _, ok := byPart[partition]; ok {
			delete(byPart, partition)
			l.setTeam(k)
		}
	}
}

func (l *loopStats) setBand(site string) {
	var eligible, invited uint32
	var offset, lo, hi float64
	for _, s := range l.bands[site] {
		eligible += s.Eligible
		invited += s.Invited
		offset += s.Offset
		lo, hi = s.Min, s.Max
	}
	share := 0.0
	if eligible > 0 {
		share = float64(invited) / float64(eligible)
	}
	if n := len(l.bands[site]); n > 0 {
		offset /= float64(n)
	}
	l.m.BandShare.WithLabelValues(site).Set(share)
	l.m.BandOffset.WithLabelValues(site).Set(offset)
	l.m.BandBound.WithLabelValues(site, "min").Set(lo)
	l.m.BandBound.WithLabelValues(site, "max").Set(hi)
}

func (l *loopStats) setTeam(k [2]string) {
	var tokens, size float64
	for _, t := range l.teams[k] {
		tokens += max(t.Tokens, 0)
		size += t.Size
	}
	l.m.BudgetTokens.WithLabelValues(k[0], k[1]).Set(tokens)
	l.m.BudgetSize.WithLabelValues(k[0], k[1]).Set(size)
}

// unregisteredMetrics returns handles on a registry nobody scrapes, for a
// Processor run without one (replay, tests): the hot path stays the same.
func unregisteredMetrics() *partitionMetrics {
	return NewMetrics(prometheus.NewRegistry()).forPartition(0)
}
