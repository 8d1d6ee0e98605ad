package pipeline

import (
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/lingerhq/linger/pipeline/partition"
	"github.com/lingerhq/linger/schemas"
	"github.com/lingerhq/linger/scoring"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics holds every metric the pipeline exports (listed in the package
// doc), built once per Runner on the Registerer of its Config. Label values that are
// known up front (event types, DLQ reasons, invite reasons) are initialised
// to zero, so dashboards and alerts never query a series that does not exist
// yet.
type metrics struct {
	events      *prometheus.CounterVec
	dlq         *prometheus.CounterVec
	invites     *prometheus.CounterVec
	holdout     *prometheus.CounterVec
	withdrawals *prometheus.CounterVec
	suppressed  *prometheus.CounterVec
	// Score is filled per batch by the workers (see batchHistogram).
	score   *batchHistogram
	latency *prometheus.HistogramVec
	// publishLatency is from event time to the commit that made the
	// decision readable (read_committed), the commit interval included.
	publishLatency *prometheus.HistogramVec

	lag           *prometheus.GaugeVec
	partitions    prometheus.Gauge
	rebalances    *prometheus.CounterVec
	inFlight      prometheus.Gauge
	produceErrors *prometheus.CounterVec
	ready         prometheus.Gauge

	cacheEntries   prometheus.Gauge
	hotSessions    prometheus.Gauge
	cacheBytes     prometheus.Gauge
	cacheMaxBytes  prometheus.Gauge
	cacheEvictions prometheus.Counter
	cacheHorizon   prometheus.Gauge
	sessionTimeout prometheus.Gauge
	stateWritten   prometheus.Counter
	stateLost      prometheus.Counter
	stateCorrupt   prometheus.Counter
	indexDropped   prometheus.Counter
	collisions     prometheus.Counter

	lateEvents     prometheus.Counter
	timersFired    *prometheus.CounterVec
	timersDropped  prometheus.Counter
	timerErrors    prometheus.Counter
	timerEntries   prometheus.Gauge
	expired        prometheus.Counter
	watermarkDelay *prometheus.GaugeVec

	transactions     *prometheus.CounterVec
	clientRestarts   prometheus.Counter
	leaveAbandoned   prometheus.Counter
	stateRecords     prometheus.Counter
	restoring        prometheus.Gauge
	restoreTime      prometheus.Histogram
	restoreRecord    prometheus.Counter
	passthrough      prometheus.Counter
	dlqWriteFailures *prometheus.CounterVec

	// The closed loop with the chat team: the broadcast tables, each
	// site's invite-share band and each team's budget, summed over this
	// replica's partitions.
	feedback        *prometheus.CounterVec
	acceptBand      *prometheus.GaugeVec
	feedbackOrphans prometheus.Counter
	feedbackIgnored *prometheus.CounterVec
	invitesShown    *prometheus.CounterVec
	invitesAccepted *prometheus.CounterVec
	tableRecords    *prometheus.CounterVec
	visitorsCapped  prometheus.Gauge
	visitorsDropped prometheus.Counter
	capacityKeys    prometheus.Gauge
	bandShare       *prometheus.GaugeVec
	bandBound       *prometheus.GaugeVec
	bandOffset      *prometheus.GaugeVec
	budgetTokens    *prometheus.GaugeVec
	budgetSize      *prometheus.GaugeVec
	loop            loopStats
}

// newMetrics creates the metrics and registers them, with the Go and process
// collectors, on reg. Registering twice on one registry is an error: one
// Runner per registry.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
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
	m := &metrics{
		events:      counterVec("linger_events_total", "Events read from the events topic, by type (unknown: types this release skips).", "type", schemas.Types()),
		dlq:         counterVec("linger_dlq_total", "Records sent to the DLQ, by problem.", "reason", schemas.Problems()),
		invites:     counterVec("linger_invites_total", "Invites decided, by reason (holdout included).", "reason", reasons),
		holdout:     counterVec("linger_holdout_invites_total", "Invites decided for sessions in the holdout group, by reason.", "reason", reasons),
		withdrawals: counterVec("linger_withdrawals_total", "Invites taken back because the visitor bought or opened chat, by reason of the invite.", "reason", reasons),
		suppressed:  counterVec("linger_suppressed_total", "Would-be invites (a score over its threshold) the policy held back, by rule.", "reason", scoring.SuppressedReasons()),
		score: newBatchHistogram("linger_score", "Scores computed, one per event and model.", "model",
			reasons, partition.ScoreBuckets),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "linger_decision_latency_seconds", Help: "Time from a decision's event time to the decision, by trigger: event (the event that came in), or timer (a silence timer, which fires once the watermark, the newest event time less the allowed lateness, passes its deadline: about the allowed lateness by design).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 17),
		}, []string{"trigger"}),
		publishLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "linger_decision_publish_latency_seconds", Help: "Time from a decision's event time to the commit that made it readable to read_committed consumers (the transaction under exactly-once, the broker's acknowledgement under at-least-once), by trigger: the decision latency plus the wait for the commit interval.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 17),
		}, []string{"trigger"}),
		lag:           prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "linger_partition_lag", Help: "Records behind the high watermark, per assigned partition."}, []string{"partition"}),
		partitions:    gauge("linger_partitions_assigned", "Partitions of the events topic this replica owns."),
		rebalances:    counterVec("linger_rebalances_total", "Group rebalance callbacks, by kind.", "kind", []string{"assigned", "revoked", "lost"}),
		inFlight:      gauge("linger_in_flight_records", "Records fetched and not yet committed."),
		produceErrors: counterVec("linger_produce_errors_total", "Records the broker refused, by topic.", "topic", nil),
		ready:         gauge("linger_ready", "1 once the group is joined and every assigned partition is served."),

		cacheEntries:   gauge("linger_cache_entries", "Session states in fastcache (quiet sessions; active ones are in the hot tables)."),
		hotSessions:    gauge("linger_hot_sessions", "Active sessions held in the partitions' hot tables, in front of fastcache (what of --cache-bytes fastcache does not use, a quarter at least)."),
		cacheBytes:     gauge("linger_cache_bytes", "Bytes the cache holds."),
		cacheMaxBytes:  gauge("linger_cache_max_bytes", "fastcache's capacity in bytes: three quarters of --cache-bytes (at least 32 MiB); the hot tables hold the rest, and what fastcache has not used yet."),
		cacheEvictions: counter("linger_cache_evictions_total", "Sessions pushed out of the cache ring (estimated from inserts minus entries)."),
		cacheHorizon:   gauge("linger_cache_horizon_seconds", "How long an untouched session survives: the hot tables' quiet period plus fastcache's bytes ÷ bytes written per second. Keep it above the session timeout."),
		sessionTimeout: gauge("linger_session_timeout_seconds", "The scoring config's longest session timeout: keep linger_cache_horizon_seconds above it."),
		stateWritten:   counter("linger_state_bytes_written_total", "Bytes of session state written to the cache."),
		stateLost:      counter("linger_state_lost_total", "Sessions whose state was missing before their timeout (evicted: the cache is too small)."),
		stateCorrupt:   counter("linger_state_corrupt_total", "Session states that could not be decoded and were started over, in the cache or in the changelog at a restore (changelog records that do not decode are skipped)."),
		indexDropped:   counter("linger_session_index_dropped_total", "Sessions not tracked for loss detection because the index was full."),
		collisions:     counter("linger_session_hash_collisions_total", "Sessions started over because another session id had the same 64-bit key hash."),

		lateEvents:     counter("linger_late_events_total", "Events older than their partition's newest event time less the allowed lateness: applied, but after timers they could have cancelled."),
		timersFired:    counterVec("linger_timers_fired_total", "Timers that came due, by kind: silence (a check on a quiet visitor), expiry, rearm (the deadline had moved later).", "kind", []string{"silence", "expiry", "rearm"}),
		timersDropped:  counter("linger_timer_dropped_total", "Timers not armed because the timer index was full (bounded by --cache-bytes)."),
		timerErrors:    counter("linger_timer_errors_total", "Timers dropped because handling them failed with an internal error (a bug: please report it). Records that fail so go to the DLQ with reason internal_error."),
		timerEntries:   gauge("linger_timer_entries", "Entries in the timer indexes of this replica's partitions."),
		expired:        counter("linger_sessions_expired_total", "Sessions ended by inactivity, their state deleted and tombstoned."),
		watermarkDelay: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "linger_watermark_delay_seconds", Help: "Wall clock minus the partition's event-time watermark: how late its timers fire."}, []string{"partition"}),

		transactions:     counterVec("linger_transactions_total", "Batches ended, by result: committed, or aborted (a rebalance or a failed commit; the batch is processed again).", "result", []string{"committed", "aborted"}),
		clientRestarts:   counter("linger_client_restarts_total", "Kafka clients replaced after a fatal client error (a fenced producer, a transaction that could not end); the partitions are restored."),
		leaveAbandoned:   counter("linger_group_leave_abandoned_total", "Kafka clients closed without waiting any longer to leave the group: a join in flight outlasted the shutdown timeout. The group gives their partitions to others once their session times out."),
		stateRecords:     counter("linger_state_records_total", "Records written to the state changelog (states, tombstones, partition records)."),
		restoring:        gauge("linger_restoring_partitions", "Partitions whose state is being restored from the changelog."),
		restoreTime:      prometheus.NewHistogram(prometheus.HistogramOpts{Name: "linger_restore_seconds", Help: "Time to restore one partition's state from the changelog.", Buckets: prometheus.ExponentialBuckets(0.01, 2, 14)}),
		dlqWriteFailures: counterVec("linger_dlq_write_failures_total", "DLQ records the broker refused even with their value dropped (headers only), by cause: skipped, their offsets committed with their batch, and logged once a minute.", "reason", []string{"too_large"}),
		passthrough:      counter("linger_passthrough_records_total", "Events copied unscored to the passthrough topic (linger run --passthrough, for benchmarks)."),
		restoreRecord:    counter("linger_restore_records_total", "Changelog records read while restoring."),

		feedback:        counterVec("linger_feedback_total", "Feedback records from the chat front-ends (chat-feedback), by type (unknown: types this release skips).", "type", schemas.FeedbackTypes()),
		acceptBand:      prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "linger_acceptance_band", Help: "The configured acceptance band of a site (acceptance_band; shares 0..1 of the invites shown), by bound: min, max. Sites the config does not name share the default's, under site \"other\"."}, []string{"site", "bound"}),
		feedbackIgnored: counterVec("linger_feedback_ignored_total", "Feedback records ignored, by reason: unknown_invite (an invite id the session was never sent: forged, or another session's), repeat (a type already applied to the invite). Neither changes or counts anything.", "reason", []string{"unknown_invite", "repeat"}),
		feedbackOrphans: counter("linger_feedback_unknown_session_total", "Feedback about a session this replica does not hold (expired, or never seen): counted, nothing changed."),
		invitesShown: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "linger_invites_shown_total",
			Help: "Invites the chat front-ends reported shown (invite_shown, or an answer that implies it), once per invite, holdout left out, per site and team (sites and teams the scoring config does not name: other)."}, []string{"site", "team"}),
		invitesAccepted: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "linger_invites_accepted_total",
			Help: "Invites the chat front-ends reported accepted (invite_accepted or chat_started), once per invite, holdout left out, per site and team (sites and teams the scoring config does not name: other). Acceptance is its rate over linger_invites_shown_total's."}, []string{"site", "team"}),
		tableRecords:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "linger_table_records_total", Help: "Records read into the broadcast tables (capacity: chat-capacity, visitors: linger-visitors), by result: ok, bad (undecodable, skipped), refused (beyond the table's bounds)."}, []string{"table", "result"}),
		visitorsCapped:  gauge("linger_visitor_caps_entries", "Visitors in the frequency-cap table."),
		visitorsDropped: counter("linger_visitor_caps_dropped_total", "Visitors dropped from the full frequency-cap table (their cap is forgotten)."),
		capacityKeys:    gauge("linger_capacity_teams", "Site/team keys in the chat-capacity table."),
		bandShare:       prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "linger_invite_share", Help: "Share of eligible sessions invited over the band's window, per site, over this replica's partitions."}, []string{"site"}),
		bandBound:       prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "linger_invite_band", Help: "The configured invite-share band of a site (rate_band: shares 0..1 of its eligible sessions invited), by bound: min, max."}, []string{"site", "bound"}),
		bandOffset:      prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "linger_invite_threshold_offset", Help: "The threshold offset of a site's controller (rate_band's or acceptance_band's, 0 with neither on), averaged over this replica's partitions."}, []string{"site"}),
		budgetTokens:    prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "linger_budget_tokens", Help: "Invites a chat team may still receive from this replica's partitions (its capacity share), per site and team."}, []string{"site", "team"}),
		budgetSize:      prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "linger_budget_size", Help: "The most invites a team's budget holds over this replica's partitions, per site and team."}, []string{"site", "team"}),
	}
	m.loop.m = m
	for _, trigger := range []string{"event", "timer"} {
		m.latency.WithLabelValues(trigger)
		m.publishLatency.WithLabelValues(trigger)
	}
	// The band families exist from the start, for dashboards and alerts:
	// with the sessions without a site, whose band reads 0–1 (nothing to
	// alert on) until their first eligible session.
	m.bandShare.WithLabelValues("")
	m.bandOffset.WithLabelValues("")
	m.bandBound.WithLabelValues("", "min")
	m.bandBound.WithLabelValues("", "max").Set(1)
	// The acceptance counters exist from the start too: the metrics know
	// no config, so with the pair every config has.
	m.invitesShown.WithLabelValues(scoring.LabelOther, scoring.LabelOther)
	m.invitesAccepted.WithLabelValues(scoring.LabelOther, scoring.LabelOther)
	for _, t := range []string{"capacity", "visitors"} {
		for _, r := range []string{"ok", "bad", "refused"} {
			m.tableRecords.WithLabelValues(t, r)
		}
	}
	if err := RegisterProcessMetrics(reg); err != nil {
		return nil, err
	}
	for _, c := range []prometheus.Collector{m.events, m.dlq, m.invites, m.holdout, m.withdrawals, m.suppressed, m.score, m.latency, m.publishLatency,
		m.lag, m.partitions, m.rebalances, m.inFlight, m.produceErrors, m.ready,
		m.cacheEntries, m.hotSessions, m.cacheBytes, m.cacheMaxBytes, m.cacheEvictions, m.cacheHorizon, m.sessionTimeout,
		m.stateWritten, m.stateLost, m.stateCorrupt, m.indexDropped, m.collisions,
		m.lateEvents, m.timersFired, m.timersDropped, m.timerErrors, m.timerEntries, m.expired, m.watermarkDelay,
		m.transactions, m.clientRestarts, m.leaveAbandoned, m.stateRecords, m.restoring, m.restoreTime, m.restoreRecord, m.passthrough, m.dlqWriteFailures,
		m.feedback, m.acceptBand, m.feedbackOrphans, m.feedbackIgnored, m.invitesShown, m.invitesAccepted, m.tableRecords, m.visitorsCapped, m.visitorsDropped, m.capacityKeys, m.bandShare, m.bandBound, m.bandOffset, m.budgetTokens, m.budgetSize} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return m, nil
}

// partitionMetrics are a worker's handles on the metrics, resolved once so
// the hot path does no label lookups. A batch's counts (partition.Counts)
// are added once the batch commits; an aborted batch's are dropped with it
// by the engine, since its records are processed again.
type partitionMetrics struct {
	m           *metrics
	partition   string
	events      [16]prometheus.Counter // by schemas.Type
	dlq         [16]prometheus.Counter // by schemas.Problem
	invites     [3]prometheus.Counter  // by schemas.Reason
	holdout     [3]prometheus.Counter
	withdrawals [3]prometheus.Counter
	suppressed  [16]prometheus.Counter // by scoring.Outcome
	feedback    [16]prometheus.Counter // by schemas.FeedbackType
	latency     [2]prometheus.Observer // event, timer
	published   [2]prometheus.Observer // event, timer
	// feedbackIgnored: unknown_invite, repeat
	feedbackIgnored [2]prometheus.Counter
	score           [2]*histSeries // abandonment, confusion
	lag             prometheus.Gauge
	watermark       prometheus.Gauge
	// teams holds the shown and accepted counters of each site and team
	// label pair seen: few, since the config bounds the labels.
	teams map[[2]string][2]prometheus.Counter

	budgetStale bool  // the budget changed since the gauges last took it
	budgetShown int64 // the batch clock when they did, ms
}

func (m *metrics) forPartition(p int32) *partitionMetrics {
	label := strconv.Itoa(int(p))
	pm := &partitionMetrics{
		m:         m,
		partition: label,
		lag:       m.lag.WithLabelValues(label),
		watermark: m.watermarkDelay.WithLabelValues(label),
		teams:     map[[2]string][2]prometheus.Counter{},
	}
	for i, t := range schemas.Types() {
		pm.events[i] = m.events.WithLabelValues(t)
	}
	for i := schemas.ProblemNone + 1; i.String() != "unknown"; i++ {
		pm.dlq[i] = m.dlq.WithLabelValues(i.String())
	}
	for r := schemas.ReasonAbandonment; r <= schemas.ReasonConfusion; r++ {
		pm.invites[r] = m.invites.WithLabelValues(r.String())
		pm.holdout[r] = m.holdout.WithLabelValues(r.String())
		pm.withdrawals[r] = m.withdrawals.WithLabelValues(r.String())
	}
	for o := scoring.SuppressedBot; o.Suppressed(); o++ {
		pm.suppressed[o] = m.suppressed.WithLabelValues(o.String())
	}
	for i, t := range schemas.FeedbackTypes() {
		pm.feedback[i] = m.feedback.WithLabelValues(t)
	}
	pm.latency[0], pm.latency[1] = m.latency.WithLabelValues("event"), m.latency.WithLabelValues("timer")
	pm.published[0], pm.published[1] = m.publishLatency.WithLabelValues("event"), m.publishLatency.WithLabelValues("timer")
	pm.feedbackIgnored[0], pm.feedbackIgnored[1] = m.feedbackIgnored.WithLabelValues("unknown_invite"), m.feedbackIgnored.WithLabelValues("repeat")
	pm.score[0] = m.score.series[0] // abandonment, the order of schemas.Reasons
	pm.score[1] = m.score.series[1]
	return pm
}

// add adds a committed batch's counts to the shared metrics, and takes the
// partition's watermark delay and, at most once a second, its budget.
func (pm *partitionMetrics) add(n *partition.Counts, p *partition.Processor) {
	m := pm.m
	add := func(c prometheus.Counter, v uint64) {
		if v > 0 {
			c.Add(float64(v))
		}
	}
	for i := range n.Events {
		if pm.events[i] != nil {
			add(pm.events[i], n.Events[i])
		}
		if pm.dlq[i] != nil {
			add(pm.dlq[i], n.DLQ[i])
		}
		if pm.suppressed[i] != nil {
			add(pm.suppressed[i], n.Suppressed[i])
		}
		if pm.feedback[i] != nil {
			add(pm.feedback[i], n.Feedback[i])
		}
	}
	for r := 1; r < 3; r++ {
		add(pm.invites[r], n.Invites[r])
		add(pm.holdout[r], n.Holdout[r])
		add(pm.withdrawals[r], n.Withdrawals[r])
	}
	for _, l := range n.Latencies {
		pm.latency[0].Observe(l)
	}
	for _, l := range n.TimerLatencies {
		pm.latency[1].Observe(l)
	}
	// The span is committed as this runs: its decisions are readable now.
	now := time.Now().UnixMilli()
	for _, at := range n.EventTimes {
		pm.published[0].Observe(float64(now-at) / 1000)
	}
	for _, at := range n.TimerEventTimes {
		pm.published[1].Observe(float64(now-at) / 1000)
	}
	add(m.feedbackOrphans, n.FeedbackUnknown)
	add(pm.feedbackIgnored[0], n.FeedbackForeign)
	add(pm.feedbackIgnored[1], n.FeedbackRepeat)
	for _, r := range n.Teams.Rows() {
		k := [2]string{r.Site, r.Team}
		c, ok := pm.teams[k]
		if !ok {
			c = [2]prometheus.Counter{m.invitesShown.WithLabelValues(r.Site, r.Team), m.invitesAccepted.WithLabelValues(r.Site, r.Team)}
			pm.teams[k] = c
		}
		add(c[0], r.Shown)
		add(c[1], r.Accepted)
	}
	add(m.lateEvents, n.Late)
	add(m.stateLost, n.Lost)
	add(m.stateCorrupt, n.Corrupt)
	add(m.collisions, n.Collisions)
	add(m.indexDropped, n.IndexDropped)
	add(m.timersDropped, n.TimersDropped)
	add(m.expired, n.Expired)
	add(m.timersFired.WithLabelValues("expiry"), n.Expired)
	add(m.timersFired.WithLabelValues("silence"), n.Silence)
	add(m.timersFired.WithLabelValues("rearm"), n.Rearmed)
	add(m.timerErrors, n.TimerErrors)
	pm.score[0].add(&n.Scores[0])
	pm.score[1].add(&n.Scores[1])
	if wm := p.Watermark(); wm > 0 {
		pm.watermark.Set(float64(n.Now-wm) / 1000)
	}
	pm.budgetStale = pm.budgetStale || n.BudgetChanged
	if pm.budgetStale && n.Now-pm.budgetShown >= 1000 {
		// The gauges take a second's changes at once: their update
		// allocates, which once a batch would show on the hot path.
		m.loop.update(pm.partition, p.Budget())
		pm.budgetStale, pm.budgetShown = false, n.Now
	}
}

// forget removes the partition's own series, when it leaves this replica.
func (pm *partitionMetrics) forget() {
	pm.m.lag.DeleteLabelValues(pm.partition)
	pm.m.watermarkDelay.DeleteLabelValues(pm.partition)
	pm.m.loop.forget(pm.partition)
}

// loopStats sums the partitions' budgets (bands and team buckets) into the
// replica's gauges. Each worker hands in its budget's figures after a
// commit that changed it; the sums are over the latest figures of each
// partition this replica owns.
type loopStats struct {
	m     *metrics
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
		if s.Acceptance != nil {
			// A site has one controller on at most: the sum is its offset.
			offset += s.Acceptance.Offset
		}
		lo, hi = s.Min, s.Max
	}
	share := 0.0
	if eligible > 0 {
		share = float64(invited) / float64(eligible)
	}
	if n := len(l.bands[site]); n > 0 {
		offset /= float64(n)
	}
	l.m.bandShare.WithLabelValues(site).Set(share)
	l.m.bandOffset.WithLabelValues(site).Set(offset)
	l.m.bandBound.WithLabelValues(site, "min").Set(lo)
	l.m.bandBound.WithLabelValues(site, "max").Set(hi)
}

func (l *loopStats) setTeam(k [2]string) {
	var tokens, size float64
	for _, t := range l.teams[k] {
		tokens += max(t.Tokens, 0)
		size += t.Size
	}
	l.m.budgetTokens.WithLabelValues(k[0], k[1]).Set(tokens)
	l.m.budgetSize.WithLabelValues(k[0], k[1]).Set(size)
}

// setBands takes each site's acceptance band from the scoring config: its
// sites by name, the default under "" (sessions without a site) and
// "other" (sites the config does not name).
func (m *metrics) setBands(cfg *scoring.Config) {
	m.acceptBand.Reset()
	set := func(label string, s *scoring.Settings) {
		lo, hi := s.AcceptanceBand()
		m.acceptBand.WithLabelValues(label, "min").Set(lo)
		m.acceptBand.WithLabelValues(label, "max").Set(hi)
	}
	set("", cfg.For(nil))
	set("other", cfg.For(nil))
	for _, site := range cfg.SiteNames() {
		set(site, cfg.For([]byte(site)))
	}
}
