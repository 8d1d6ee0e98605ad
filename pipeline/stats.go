package pipeline

import (
	"context"
	"math"
	"time"
)

// statsLoop refreshes the cache gauges, the horizon estimate and the
// watermark delays.
func (r *Runner) statsLoop(ctx context.Context) {
	const every = 2 * time.Second
	t := time.NewTicker(every)
	defer t.Stop()
	var (
		prev     = r.store.Stats()
		prevAt   = time.Now()
		rate     float64 // bytes written per second, smoothed over a minute
		evicted  uint64
		rateInit bool
	)
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			st := r.store.Stats()
			r.m.visitorsCapped.Set(float64(r.tables.visitors.Len()))
			r.m.visitorsDropped.Set(float64(r.tables.visitors.Dropped()))
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
			horizon := math.Inf(1)
			if rate > 0 {
				horizon = float64(st.MaxBytes) / rate
			}
			r.m.cacheHorizon.Set(horizon)
			prev, prevAt = st, now
		}
	}
}
