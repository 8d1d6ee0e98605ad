package pipeline

import (
	"context"
	"math"
	"runtime/debug"
	"time"

	"github.com/lingerhq/linger/pipeline/partition"
)

// statsLoop refreshes the cache gauges and the horizon estimate.
func (r *Runner) statsLoop(ctx context.Context) {
	const every = 2 * time.Second
	t := time.NewTicker(every)
	defer t.Stop()
	var (
		prev     = r.store.Stats()
		prevAt   = time.Now()
		rate     float64 // bytes written per second, smoothed over a minute
		evicted  uint64
		dropped  uint64 // visitors dropped from the cap table, as counted
		rateInit bool
	)
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			st := r.store.Stats()
			r.m.visitorsCapped.Set(float64(r.tables.visitors.Len()))
			if d := r.tables.visitors.Dropped(); d > dropped {
				r.m.visitorsDropped.Add(float64(d - dropped))
				dropped = d
			}
			r.m.capacityKeys.Set(float64(r.tables.capacity.Stats().Keys))
			r.m.cacheEntries.Set(float64(st.Entries))
			r.m.cacheBytes.Set(float64(st.Bytes))
			r.m.timerEntries.Set(float64(r.store.Timers()))
			r.m.stateWritten.Add(float64(st.BytesWritten - prev.BytesWritten))
			if st.Evictions > evicted {
				r.m.cacheEvictions.Add(float64(st.Evictions - evicted))
				evicted = st.Evictions
			}
			dt := now.Sub(prevAt).Seconds()
			cur := float64(st.BytesWritten-prev.BytesWritten) / dt
			if !rateInit {
				rate, rateInit = cur, true
			} else {
				alpha := 1 - math.Exp(-dt/60)
				rate += alpha * (cur - rate)
			}
			// An untouched session stays in its hot table for the quiet
			// period (unless the table is nearly full, when it may be
			// written out sooner), then in fastcache until the ring wraps:
			// fastcache's bytes ÷ bytes written per second.
			horizon := math.Inf(1)
			if rate > 0 {
				horizon = float64(st.MaxBytes) / rate
				if st.HotSessions < st.HotCap*9/10 {
					horizon += partition.HotQuiet.Seconds()
				}
			}
			r.m.hotSessions.Set(float64(st.HotSessions))
			if r.cfg.HeapLimitBase > 0 {
				debug.SetMemoryLimit(r.cfg.HeapLimitBase + st.HotBytes)
			}
			r.m.cacheHorizon.Set(horizon)
			prev, prevAt = st, now
		}
	}
}
