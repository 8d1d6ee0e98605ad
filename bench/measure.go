package bench

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"
)

// measure samples the run once a second: offsets, the processors' metrics
// and this second's latencies, for the progress line and the series. The
// warm-up lasts cfg.Warmup and until the processor has caught up with the
// history; the window then lasts cfg.Duration (or until the sessions run
// out), after which the producer stops and the processor drains.
func (l *load) measure(ctx context.Context, prodErr <-chan error, stopProducing func()) (*Result, error) {
	cfg := l.cfg
	res := &Result{
		Mode: "linger", Brokers: strings.Join(cfg.Brokers, ","), Rate: cfg.Rate, Seed: l.sim.cfg.Seed,
		Mix: l.sim.cfg.Mix.String(), Partitions: len(l.parts),
	}
	if cfg.Passthrough {
		res.Mode = "passthrough"
	}
	idle := scrape(ctx, l.http, cfg.Metrics)
	minWarm := int((cfg.Warmup + time.Second - 1) / time.Second)
	window := int((cfg.Duration + time.Second - 1) / time.Second)
	// A processor that never catches up is measured anyway, after this
	// long: its lag then shows why.
	maxWarm := minWarm + 120
	var failing time.Time // since when the committed offsets cannot be read
	// Caught up: behind by less than 1.5 s of events by the committed
	// offsets (at-least-once commits once a second), no longer processing
	// much faster than the rate (a processor still working off a backlog
	// would count it in the window), and, with metrics, behind by less
	// than 50 ms by the processors' own count. Their count alone is not
	// enough: it is the lag of the records they have fetched, which may be
	// far ahead of what they have processed and committed.
	caughtUpLag := func(stats procStats, lag int64, achieved float64) bool {
		if stats.ok && stats.lag > max(100, cfg.Rate/20) {
			return false
		}
		return float64(lag) <= max(1000, 1.5*cfg.Rate) && achieved <= 1.2*cfg.Rate+1000
	}
	// cpuEvery keeps each second's CPU seconds and events processed, for
	// the CPU per event over the last cpuSpan seconds.
	const cpuSpan = 5
	type cpuMark struct {
		cpu  float64
		done int64
		ok   bool
	}
	var cpuEvery []cpuMark
	var (
		warm, windowEnd   = -1, -1
		atWarm, atEnd     int64
		statsWarm, stats1 procStats
		prev              int64
		produced          bool // the producer returned
		drainStart        time.Time
		drained           bool
	)
	for sec := 1; ; sec++ {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Until(l.start.Add(time.Duration(sec) * time.Second))):
		case err := <-prodErr:
			if err != nil {
				return nil, err
			}
			produced, prodErr = true, nil
			if windowEnd < 0 || sec < windowEnd {
				// The sessions ran out: the window ends with them, at the
				// coming sample.
				windowEnd = sec
				if warm < 0 || warm >= sec {
					return nil, fmt.Errorf("the sessions ran out during the warm-up: ask for more than %d", cfg.Sessions)
				}
			}
			sec--
			continue
		}
		done, err := l.committed(ctx)
		if err != nil {
			// A broker swamped by the load may not answer within the
			// second: the sample repeats the last one, and only a broker
			// silent for offsetsPatience ends the run.
			if failing.IsZero() {
				failing = time.Now()
			}
			if time.Since(failing) > offsetsPatience {
				return nil, fmt.Errorf("%w (for %v)", err, offsetsPatience)
			}
			done = prev
		} else {
			failing = time.Time{}
		}
		stats := scrape(ctx, l.http, cfg.Metrics)
		lag := max(0, l.acked.Load()-done)
		l.histMu.Lock()
		p := Point{T: float64(sec), Achieved: float64(done - prev), Invites: l.secInvites, Lag: lag, RSS: int64(stats.rssBytes)}
		if stats.ok && !math.IsInf(stats.horizon, 0) {
			p.Horizon = math.Round(stats.horizon)
		}
		cpuEvery = append(cpuEvery, cpuMark{stats.cpuSeconds, done, stats.ok})
		if back := len(cpuEvery) - 1 - cpuSpan; back >= 0 {
			if a, b := cpuEvery[back], cpuEvery[len(cpuEvery)-1]; a.ok && b.ok && b.done > a.done {
				p.CPU = (b.cpu - a.cpu) / float64(b.done-a.done) * 1e6
			}
		}
		if l.second.TotalCount() > 0 {
			p.P50 = float64(l.second.ValueAtQuantile(50)) / 1000
			p.P99 = float64(l.second.ValueAtQuantile(99)) / 1000
		}
		l.second.Reset()
		l.secInvites = 0
		l.histMu.Unlock()
		sent, history := l.sentIn(sec - 1)
		p.Offered, p.History = float64(sent-history), history
		prev = done
		res.Series = append(res.Series, p)
		res.RSSMaxBytes = max(res.RSSMaxBytes, int64(stats.rssBytes))
		if stats.ok {
			for _, rss := range stats.rss {
				res.RSSMaxReplicaBytes = max(res.RSSMaxReplicaBytes, int64(rss))
			}
		}
		if failed := l.failed.Load(); failed > 0 {
			return nil, fmt.Errorf("%d events were not accepted by the brokers: %w", failed, withoutGoNames(*l.firstErr.Load()))
		}
		if warm < 0 && sec >= minWarm && (l.caughtUp.Load() && (cfg.Rate == 0 || caughtUpLag(stats, lag, p.Achieved)) || sec >= maxWarm) {
			warm, windowEnd = sec, sec+window
			atWarm, statsWarm = done, stats
			l.warmNs.Store(int64(l.start.Add(time.Duration(sec) * time.Second).Sub(l.start)))
		}
		if cfg.Progress != nil {
			l.progress(sec, p, warm < 0 || sec == warm, windowEnd >= 0 && sec > windowEnd)
		}
		if windowEnd < 0 || sec < windowEnd {
			continue
		}
		if sec == windowEnd {
			stopProducing()
			atEnd, stats1 = done, stats
			res.LagEnd = lag
			drainStart = time.Now()
		}
		// Drained once the processor has committed every event sent; one
		// more second lets the last invites be read.
		if produced && lag == 0 && done >= l.queued.Load() {
			if drained {
				break
			}
			drained = true
			res.DrainSeconds = time.Since(drainStart).Seconds()
			continue
		}
		if time.Since(drainStart) > cfg.Drain {
			res.DrainSeconds = -1 // did not drain
			break
		}
	}
	res.WarmupSeconds = float64(warm)
	res.DurationSeconds = float64(windowEnd - warm)
	res.Sent = l.sentBy(windowEnd-1) - l.sentBy(warm-1)
	res.Processed = atEnd - atWarm
	res.OfferedEPS = float64(res.Sent) / res.DurationSeconds
	res.AchievedEPS = float64(res.Processed) / res.DurationSeconds
	res.Replicas = len(cfg.Metrics)
	res.CacheQuietSeconds = cfg.CacheQuiet.Seconds()
	if statsWarm.ok && stats1.ok {
		res.processorFigures(idle, statsWarm, stats1)
	}
	return res, nil
}

// processorFigures fills in the processors' figures of the window, from
// their metrics before the run (idle), when the window opened (warm) and
// when it closed (end).
func (res *Result) processorFigures(idle, warm, end procStats) {
	if res.Processed > 0 {
		res.CPUMicrosPerEvent = (end.cpuSeconds - warm.cpuSeconds) / float64(res.Processed) * 1e6
	}
	res.RSSBytes = int64(end.rssBytes)
	res.CacheEntries = int64(end.entries)
	res.HotSessions = int64(end.hot)
	res.CacheMaxBytes = int64(end.maxBytes)
	res.SessionTimeoutSeconds = end.timeout
	if !math.IsInf(end.horizon, 0) { // +Inf: nothing written to fastcache yet, as in a passthrough
		res.CacheHorizonSeconds = math.Round(end.horizon)
	}
	if pub := end.publish.Sub(warm.publish); pub.Count > 0 && !pub.Mismatch {
		res.PublishLatency = BucketPercentiles{
			Count: int64(pub.Count),
			P50:   math.Round(pub.Quantile(0.5)*1e6) / 1e3,
			P99:   math.Round(pub.Quantile(0.99)*1e6) / 1e3,
		}
	}
	if len(end.written) == len(warm.written) && res.DurationSeconds > 0 {
		for i := range end.written {
			res.StateBytesPerSecond = max(res.StateBytesPerSecond, (end.written[i]-warm.written[i])/res.DurationSeconds)
		}
	}
	if res.CacheHorizonSeconds > 0 && res.CacheHorizonSeconds < res.SessionTimeoutSeconds {
		res.CacheBytesNeeded = CacheBytesToCover(res.SessionTimeoutSeconds, res.CacheQuietSeconds, res.StateBytesPerSecond)
	}
	if idle.ok {
		if held := end.entries + end.hot; held > 0 {
			res.BytesPerSession = (end.rssBytes - idle.rssBytes) / held
		}
		res.CacheEvictions = int64(end.evictions - idle.evictions)
		res.StateLost = int64(end.lost - idle.lost)
		res.DLQ = int64(end.dlq - idle.dlq)
	}
}

// finish fills in what the readers counted.
func (l *load) finish(res *Result) {
	l.histMu.Lock()
	res.Latency = percentiles(l.lat)
	res.TimerDelay = percentiles(l.timer)
	l.histMu.Unlock()
	res.Invites = l.invites.Load()
	res.TimerInvites = l.timers.Load()
	res.Unmatched = l.unmatched.Load()
	l.sessions.mu.Lock()
	sessions, invited := l.sessions.personaCounts()
	l.sessions.mu.Unlock()
	res.InvitesByPersona = make(map[string]PersonaInvites, numPersonas)
	for _, p := range Personas() {
		res.InvitesByPersona[p.String()] = PersonaInvites{Sessions: sessions[p], Invited: invited[p]}
		res.Sessions += sessions[p]
	}
	if l.answers != nil {
		res.Acceptance, res.AcceptanceByPersona = l.answers.Acceptance()
		res.FeedbackTopic = l.fbTopic
		res.FeedbackWritten, res.FeedbackErrors = l.fbWritten.Load(), l.fbFailed.Load()
		if err := l.fbErr.Load(); err != nil {
			res.FeedbackError = (*err).Error()
		}
	}
}

// progress writes the live line of second sec.
func (l *load) progress(sec int, p Point, warming, draining bool) {
	phase := ""
	switch {
	case warming:
		phase = " (warm-up)"
	case draining:
		phase = " (draining)"
	}
	if p.History > 0 {
		phase = fmt.Sprintf(" (warm-up; %d events of history sent at once)", p.History)
	}
	p99 := "-"
	if p.Invites > 0 {
		p99 = msStr(p.P99)
	}
	fmt.Fprintf(l.cfg.Progress, "%4ds  offered %-9s achieved %-9s p99 %-7s lag %-15s invites %-6s%s\n",
		sec, eps(p.Offered), eps(p.Achieved), p99, fmt.Sprintf("%d events", p.Lag), fmt.Sprintf("%d/s", p.Invites), phase)
}
