package pipeline

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/lingerhq/linger/pipeline/partition"
	"github.com/twmb/franz-go/pkg/kgo"
)

// onAssigned restores the new partitions' state from the changelog, in
// parallel, before their first record is fetched; the replica is not ready
// meanwhile.
func (r *Runner) onAssigned(ctx context.Context, _ *kgo.Client, assigned map[string][]int32) {
	var added []int32
	for _, p := range assigned[r.cfg.EventsTopic] {
		if r.workers[p] != nil {
			// The client reports only partitions new to this replica: a
			// worker still here was revoked without our being told (see
			// loop), and another replica may have changed its sessions
			// since. Start again from the changelog.
			r.log.Warn("assigned a partition this replica still held; restoring it again", "partition", p)
			r.drop([]int32{p})
		}
		added = append(added, p)
	}
	r.m.rebalances.WithLabelValues("assigned").Inc()
	if len(added) > 0 {
		r.setReady(false)
		r.m.restoring.Add(float64(len(added)))
		caughtUp := r.caughtUp(ctx, added)
		var wg sync.WaitGroup
		var mu sync.Mutex
		for _, p := range added {
			proc := r.newProcessor(p)
			wg.Add(1)
			go func() {
				defer wg.Done()
				start := time.Now()
				r.restoreUntilDone(ctx, proc)
				took := time.Since(start)
				r.m.restoreTime.Observe(took.Seconds())
				r.m.restoring.Dec()
				r.log.Info("partition restored", "partition", p, "records", proc.Restored(), "took", took.Round(time.Millisecond))
				proc.SetCaughtUp(caughtUp[p])
				w := newWorker(proc, r.m.forPartition(p))
				mu.Lock()
				r.workers[p] = w
				mu.Unlock()
			}()
		}
		wg.Wait()
	}
	r.m.partitions.Set(float64(len(r.workers)))
	r.setReady(true)
	if len(added) > 0 {
		r.log.Info("partitions gained", "gained", added, "owned", r.owned())
	}
}

// newProcessor returns a processor for a partition this replica was just
// assigned, under a fresh key prefix.
func (r *Runner) newProcessor(p int32) *partition.Processor {
	return partition.New(p, partition.Config{
		Epoch: r.store.NextEpoch(), Store: r.store, Scoring: r.cfg.Scoring, Now: r.cfg.Now,
		WallClockAdvance: !r.cfg.EventTimeOnly,
		Partitions:       r.partitions, Capacity: r.tables.capacity, Visitors: r.tables.visitors,
	})
}

// caughtUp reports, per partition, whether the group's committed offset is
// at the end of the events topic: such a partition's watermark may follow
// the wall clock from the start.
func (r *Runner) caughtUp(ctx context.Context, parts []int32) map[int32]bool {
	out := map[int32]bool{}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ends, err := r.adm.ListEndOffsets(ctx, r.cfg.EventsTopic)
	if err != nil {
		return out
	}
	committed, err := r.adm.FetchOffsets(ctx, r.cfg.Group)
	if err != nil {
		return out
	}
	for _, p := range parts {
		// A partition listed with an error (a leader moving) has the end
		// offset -1, which any position would pass: it is not caught up
		// until its first fetch says so.
		end, ok := ends.Lookup(r.cfg.EventsTopic, p)
		if !ok || end.Err != nil {
			continue
		}
		at := int64(0)
		if c, ok := committed.Lookup(r.cfg.EventsTopic, p); ok && c.Err == nil {
			at = c.At
		}
		out[p] = at >= end.Offset
	}
	return out
}

// restoreUntilDone restores a partition, retrying with backoff: a partition
// cannot be served without its state.
func (r *Runner) restoreUntilDone(ctx context.Context, p *partition.Processor) {
	b := backoff{next: 250 * time.Millisecond, max: 10 * time.Second}
	for {
		err := r.restore(ctx, p)
		if err == nil || ctx.Err() != nil {
			return
		}
		r.log.Warn("restore failed; retrying", "partition", p.Partition(), "retry_in", b.next, "err", err)
		if !b.wait(ctx) {
			return
		}
		// Start over: the restore may have stopped half way.
		p.Close()
		*p = *r.newProcessor(p.Partition())
	}
}

// restore reads the partition's changelog, read committed, from its start
// to its last stable offset as of now, into p.
func (r *Runner) restore(ctx context.Context, p *partition.Processor) error {
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	starts, err := r.adm.ListStartOffsets(lctx, r.cfg.StateTopic)
	if err != nil {
		return err
	}
	ends, err := r.adm.ListCommittedOffsets(lctx, r.cfg.StateTopic)
	if err != nil {
		return err
	}
	start, ok1 := starts.Lookup(r.cfg.StateTopic, p.Partition())
	end, ok2 := ends.Lookup(r.cfg.StateTopic, p.Partition())
	if !ok1 || !ok2 || start.Err != nil || end.Err != nil {
		return fmt.Errorf("offsets of %s/%d unavailable", r.cfg.StateTopic, p.Partition())
	}
	if start.Offset < end.Offset {
		cl, err := kgo.NewClient(r.withOpts(
			kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{r.cfg.StateTopic: {p.Partition(): kgo.NewOffset().At(start.Offset)}}),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()),
			// Control records (transaction markers) take offsets too: with
			// them, the restore sees its way to the end offset.
			kgo.KeepControlRecords(),
			kgo.FetchMaxBytes(64<<20),
			kgo.FetchMaxPartitionBytes(32<<20),
		)...)
		if err != nil {
			return err
		}
		defer cl.Close()
		next := start.Offset
		for next < end.Offset {
			fs := cl.PollFetches(ctx)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err := fs.Err(); err != nil {
				return err
			}
			fs.EachRecord(func(rec *kgo.Record) {
				if rec.Offset >= end.Offset {
					return
				}
				next = rec.Offset + 1
				if rec.Attrs.IsControl() {
					return
				}
				r.m.restoreRecord.Inc()
				if err := p.Restore(rec.Key, rec.Value); err != nil {
					// Skipped, never a reason to stop: a partition whose
					// restore failed for good would not be served.
					r.m.stateCorrupt.Inc()
				}
			})
		}
	}
	p.FinishRestore()
	return nil
}

func (r *Runner) onRevoked(ctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
	if r.sess == nil {
		// Everything processed is marked; commit it before another
		// replica takes the partitions over, so it does not repeat our
		// decisions. (With transactions, every cycle committed already.)
		if err := cl.CommitMarkedOffsets(ctx); err != nil {
			r.log.Warn("commit on revoke failed: the next owner will re-process from the last commit", "err", err)
		}
	}
	r.m.rebalances.WithLabelValues("revoked").Inc()
	if r.sess != nil && len(revoked[r.cfg.EventsTopic]) > 0 {
		r.revoked.Store(true)
		if cancel := r.pollCancel.Load(); cancel != nil {
			(*cancel)()
		}
	}
	r.drop(revoked[r.cfg.EventsTopic])
	if len(revoked[r.cfg.EventsTopic]) > 0 {
		r.log.Info("partitions lost to a rebalance", "lost", revoked[r.cfg.EventsTopic], "owned", r.owned())
	}
}

func (r *Runner) onLost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	// The client calls this on any fatal group error, also before a group
	// was ever joined; only a real loss is worth a rebalance count.
	r.setReady(false)
	if parts := lost[r.cfg.EventsTopic]; len(parts) > 0 {
		r.m.rebalances.WithLabelValues("lost").Inc()
		r.drop(parts)
		r.log.Warn("partitions lost (group membership ended without a clean revoke); rejoining", "lost", parts)
	}
}

func (r *Runner) drop(parts []int32) {
	for _, p := range parts {
		if w := r.workers[p]; w != nil {
			w.stop()
			delete(r.workers, p)
			// A span is never open across a rebalance, but one a fatal
			// error left open must not keep the worker.
			r.members = slices.DeleteFunc(r.members, func(m *worker) bool { return m == w })
		}
	}
	r.m.partitions.Set(float64(len(r.workers)))
}

func (r *Runner) owned() []int32 {
	ps := make([]int32, 0, len(r.workers))
	for p := range r.workers {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	return ps
}

// shutdown commits what was processed (at-least-once) and leaves the group,
// logging how long each step took. Leaving waits at most until pctx ends or
// the shutdown timeout passes: a join in flight is answered before the
// client leaves, and a broker can hold one for the group's rebalance
// timeout (a minute by default) while it waits for a member that died.
// Past that, the replica goes on without the client; the group gives its
// partitions to others once its session times out.
func (r *Runner) shutdown(pctx context.Context) {
	r.setReady(false)
	start := time.Now()
	if r.sess == nil {
		ctx, cancel := context.WithTimeout(context.Background(), r.cfg.ShutdownTimeout)
		if err := r.cl.CommitMarkedOffsets(ctx); err != nil {
			r.log.Warn("final commit failed: records since the last commit will be processed again", "err", err)
		}
		cancel()
	}
	committed := time.Since(start)
	// A restore in a callback stops: its partitions are being given up.
	r.callbacks.closing()
	left := make(chan struct{})
	r.leaving.Add(1)
	go func() {
		defer r.leaving.Done()
		defer close(left)
		// Leaving the group runs the revoke callback, which stops the
		// workers.
		r.cl.CloseAllowingRebalance()
	}()
	wait := time.NewTimer(r.cfg.ShutdownTimeout)
	defer wait.Stop()
	select {
	case <-left:
	case <-wait.C:
		r.abandon(start)
	case <-pctx.Done():
		r.abandon(start)
	}
	r.drop(r.owned())
	// A join answered while leaving may have run the assign callback,
	// which sets the replica ready.
	r.setReady(false)
	r.log.Info("left the group", "commit", committed.Round(time.Millisecond), "total", time.Since(start).Round(time.Millisecond))
}

// abandon gives up waiting for the client to leave the group: its callbacks
// do nothing from now on, so a late one cannot touch the workers.
func (r *Runner) abandon(since time.Time) {
	r.callbacks.abandon()
	r.m.leaveAbandoned.Inc()
	r.log.Warn("leaving the group did not finish within the shutdown timeout (a join in flight waits for the broker); going on without it: the group gives this replica's partitions to others once its session times out",
		"waited", time.Since(since).Round(time.Millisecond), "session_timeout", r.cfg.SessionTimeout)
}

// callbackGuard runs one client's group callbacks one at a time with its
// abandonment, and none once the client is abandoned: such a client may
// still call them when its last join comes back, after the runner has
// moved on to a new client or returned.
type callbackGuard struct {
	mu   sync.Mutex
	gone bool
	// stop is done once the client is being closed: a callback's restore
	// stops then, so leaving is not held up by it.
	stop   context.Context
	cancel context.CancelFunc
}

func newCallbackGuard() *callbackGuard {
	g := &callbackGuard{}
	g.stop, g.cancel = context.WithCancel(context.Background())
	return g
}

// run runs fn unless the client is abandoned.
func (g *callbackGuard) run(fn func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.gone {
		fn()
	}
}

// untilClosing returns ctx, also done once the client is being closed, and
// its cancel.
func (g *callbackGuard) untilClosing(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(g.stop, cancel)
	return ctx, func() { stop(); cancel() }
}

func (g *callbackGuard) closing() { g.cancel() }

// abandon waits for a callback in flight (a restore stops once closing was
// called), then makes every later one a no-op.
func (g *callbackGuard) abandon() {
	g.mu.Lock()
	g.gone = true
	g.mu.Unlock()
}
