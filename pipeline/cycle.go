package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/lingerhq/linger/pipeline/partition"
	"github.com/lingerhq/linger/scoring"
	"github.com/twmb/franz-go/pkg/kgo"
)

// worker owns one partition's Processor and runs its jobs on its own
// goroutine, so partitions are processed in parallel and each in order.
type worker struct {
	p    *partition.Processor
	m    *partitionMetrics
	in   chan job
	done chan struct{}

	batch    kgo.FetchTopicPartition
	feedback kgo.FetchTopicPartition // of the feedback topic, applied first
	out      *partition.Output

	// recs and fb are the batch's records as the engine takes them,
	// reused from batch to batch.
	recs, fb []partition.Record

	// member: the worker began a batch in the open span, which it must
	// commit or abort; ranAt: when it last ran (an idle worker runs only
	// every Tick, for the timers the wall clock makes due).
	member bool
	ranAt  time.Time
}

type jobKind uint8

const (
	jobProcess jobKind = iota // the batch's records, then a Tick
	jobCommit
	jobAbort
)

type job struct {
	kind jobKind
	wg   *sync.WaitGroup
}

func newWorker(p *partition.Processor, m *partitionMetrics) *worker {
	w := &worker{p: p, m: m, in: make(chan job, 1), done: make(chan struct{})}
	go w.run()
	return w
}

func (w *worker) run() {
	defer close(w.done)
	for j := range w.in {
		switch j.kind {
		case jobProcess:
			w.fb = engineRecords(w.fb[:0], w.feedback.Records)
			w.recs = engineRecords(w.recs[:0], w.batch.Records)
			w.out = w.p.Batch(w.fb, w.recs)
			// Records alias their fetch's whole response: a stale one
			// would keep it in memory long after its batch.
			clear(w.fb)
			clear(w.recs)
		case jobCommit:
			w.m.add(w.p.Commit(), w.p)
		case jobAbort:
			w.p.Abort()
		}
		j.wg.Done()
	}
}

// engineRecords appends the key, value and offset of each record to dst.
func engineRecords(dst []partition.Record, recs []*kgo.Record) []partition.Record {
	for _, r := range recs {
		dst = append(dst, partition.Record{Key: r.Key, Value: r.Value, Offset: r.Offset})
	}
	return dst
}

func (w *worker) stop() {
	close(w.in)
	<-w.done
	w.p.Close()
	w.m.forget()
}

// span is the work since the last commit: the polls processed into one
// Kafka transaction (exactly-once), or into one wait for the broker's
// acknowledgements (at-least-once). It ends once it took records and the
// client holds no more, when the commit interval has passed since it began
// (a backlog), when a rebalance is waiting, at shutdown, or when it grows
// large; with a commit interval of 0 every poll is a span.
//
// With an interval, the brokers hold a fetch for up to the interval
// (clientOpts): a poll brings what came in since the previous one, and
// the span that took it ends at once. Its oldest record has then waited
// about the interval, where a span of a fixed length added its own length
// to the fetch's wait; and the span is one poll cycle (its fetch
// request, wake-ups and worker round), where a span of a fixed length took
// two or three. With several brokers, whose fetches may come back apart, a
// span may end before every broker's fetch is in: at most one transaction
// per broker and interval, while a fetch brings less than fetchMinBytes.
type span struct {
	open    bool // records were produced (and a transaction begun)
	start   time.Time
	records int
	fetches []kgo.Fetches // its polls, for offsets, lag and a retry
	scored  bool          // the workers processed its polls (not the passthrough)
}

// maxSpanPolls and maxSpanRecords bound a span (its memory: every output
// and every record it read stay until the commit) whatever the commit
// interval: a backlog is committed in spans of a few polls.
const (
	maxSpanPolls   = 64
	maxSpanRecords = 20_000
)

func (r *Runner) poll(ctx context.Context) kgo.Fetches {
	// A poll returns at least every Tick, so idle partitions fire timers,
	// and by the end of the span's commit interval.
	wait := r.cfg.Tick
	if r.span.open {
		wait = min(wait, max(time.Until(r.span.start.Add(r.cfg.CommitInterval)), time.Millisecond))
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	r.pollCancel.Store(&cancel)
	defer r.pollCancel.Store(nil)
	if r.rebalanceWaiting.Load() && r.span.open {
		cancel() // end the span first
	}
	if r.sess != nil {
		return r.sess.PollRecords(ctx, r.cfg.MaxPollRecords)
	}
	return r.cl.PollRecords(ctx, r.cfg.MaxPollRecords)
}

func (r *Runner) allowRebalance() {
	r.rebalanceWaiting.Store(false)
	if r.sess != nil {
		r.sess.AllowRebalance()
	} else {
		r.cl.AllowRebalance()
	}
}

// onBlocked is told that a rebalance waits for the poll loop to allow it:
// the open span ends early.
func (r *Runner) onBlocked(context.Context, *kgo.Client) {
	r.rebalanceWaiting.Store(true)
	if cancel := r.pollCancel.Load(); cancel != nil {
		(*cancel)()
	}
}

func (r *Runner) loop(ctx, pctx context.Context) error {
	for {
		fetches := r.poll(ctx)
		if fetches.IsClientClosed() || ctx.Err() != nil {
			// Shutdown: what the open span processed is published and
			// committed; the records of this last poll come again.
			if r.span.open {
				return r.endSpan(pctx)
			}
			return nil
		}
		var lost []*kgo.ErrDataLoss
		fetches.EachError(func(topic string, p int32, err error) {
			if dl, ok := errors.AsType[*kgo.ErrDataLoss](err); ok {
				lost = append(lost, dl)
			}
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				r.log.Warn("fetch error", "topic", topic, "partition", p, "err", err)
			}
		})
		if len(lost) > 0 && r.sess != nil {
			// The client moved a partition's position after a leader's
			// log diverged (reset to the start, or past records): what
			// it fetches now may repeat records the state has applied.
			// Under exactly-once, start over from the committed offsets
			// instead: the open span is aborted, and the session rewinds.
			if err := r.rewind(pctx, lost); err != nil {
				return err
			}
			continue
		}
		if r.revoked.Swap(false) && fetches.NumRecords() == 0 && !r.span.open {
			// franz-go's transactional session calls our revoke callback
			// once, then ignores revokes until its next End: an idle
			// replica would keep the workers (and fire the timers) of
			// partitions it gave up in a second rebalance. End resets
			// it; no transaction is open, so it only rewinds to the
			// committed offsets, which an idle replica has reached. (A
			// poll with records publishes a transaction, which ends it.)
			// The callback cancelled the poll, so this runs before the
			// next rebalance's callbacks: the poll's return blocks them.
			if _, err := r.sess.End(pctx, kgo.TryAbort); err != nil {
				return fmt.Errorf("end the transaction session after a revoke: %w", err)
			}
		}
		if err := r.cycle(pctx, fetches); err != nil {
			return err
		}
		if r.span.open && !r.spanDue() {
			continue // the next poll joins the span: rebalances stay blocked
		}
		if r.span.open {
			if err := r.endSpan(pctx); err != nil {
				return err
			}
		}
		r.allowRebalance()
	}
}

// spanDue reports whether the open span ends now: it took records and
// nothing more is fetched (the next poll would wait for the brokers), or
// it has lasted the interval, or it must end early (see span). A span of
// timer decisions alone waits for records to join it: a transaction
// without offsets to commit holds franz-go's session for half a second
// at its end (the wait it keeps for brokers older than KIP-447, which it
// assumes when no offset commit answered), and the poll loop with it.
func (r *Runner) spanDue() bool {
	return r.cfg.CommitInterval == 0 || (r.span.records > 0 && r.cl.BufferedFetchRecords() == 0) || time.Since(r.span.start) >= r.cfg.CommitInterval ||
		r.rebalanceWaiting.Load() || len(r.span.fetches) >= maxSpanPolls || r.span.records >= maxSpanRecords
}

// SetScoring swaps the scoring config: the workers take it up between
// spans (between events, never within one), and partitions assigned later
// start with it. Decisions then carry the new config's model name.
func (r *Runner) SetScoring(cfg *scoring.Config) { r.reload.Store(cfg) }

// assign hands each worker its records of one poll (the events, and the
// feedback of the same partition number) and returns how many there are.
func (r *Runner) assign(fetches kgo.Fetches) int {
	for _, w := range r.workers {
		w.batch, w.feedback = kgo.FetchTopicPartition{}, kgo.FetchTopicPartition{}
	}
	records := 0
	fetches.EachPartition(func(p kgo.FetchTopicPartition) {
		if len(p.Records) == 0 {
			return
		}
		w := r.workers[p.Partition]
		if p.Topic == r.cfg.FeedbackTopic && w != nil {
			w.feedback = p
			records += len(p.Records)
			return
		}
		if w == nil {
			// Assignment starts a worker before fetching, and the client
			// returns nothing of a partition once it is revoked or lost;
			// should that ever fail, leave the records for their owner.
			r.log.Error("records for a partition this replica does not own; skipped, not committed", "partition", p.Partition)
			return
		}
		w.batch = p
		records += len(p.Records)
	})
	for _, w := range r.workers {
		if len(w.batch.Records) > 0 && w.batch.Topic == r.cfg.EventsTopic {
			last := w.batch.Records[len(w.batch.Records)-1]
			w.p.SetCaughtUp(w.batch.HighWatermark <= last.Offset+1)
		}
	}
	return records
}

// scoreCycle processes one poll: every partition's worker in parallel
// (those without records may have timers due), then hands their output to
// the producer, in the open span.
func (r *Runner) scoreCycle(ctx context.Context, fetches kgo.Fetches) error {
	if cfg := r.reload.Load(); cfg != nil && !r.span.open {
		// The workers are idle between cycles: the channel sends of the
		// next jobs order this before their use.
		r.reload.CompareAndSwap(cfg, nil)
		r.cfg.Scoring = cfg
		r.m.sessionTimeout.Set(cfg.LongestSessionTimeout().Seconds())
		r.m.setBands(cfg)
		for _, w := range r.workers {
			w.p.SetConfig(cfg)
		}
	}
	records := r.assign(fetches)
	// The workers with records run, and the idle ones every Tick: their
	// watermark may follow the wall clock and fire timers. Waking every
	// worker at every poll would cost more than the work at a modest
	// rate, where polls are many and small.
	now := time.Now()
	r.busy = r.busy[:0]
	for _, w := range r.workers {
		if len(w.batch.Records) > 0 || len(w.feedback.Records) > 0 || now.Sub(w.ranAt) >= r.cfg.Tick {
			w.ranAt = now
			r.busy = append(r.busy, w)
		}
	}
	if len(r.busy) == 0 {
		return nil
	}
	r.run(r.busy, jobProcess)
	for _, w := range r.busy {
		if !w.member {
			w.member = true
			r.members = append(r.members, w)
		}
	}
	empty := true
	for _, w := range r.busy {
		empty = empty && w.out.Empty()
	}
	if empty && records == 0 && !r.span.open {
		r.endMembers(jobCommit) // nothing to publish: the (empty) batch stands
		return nil
	}
	if err := r.joinSpan(fetches, records, true); err != nil {
		return err
	}
	r.producer.send(ctx, r.workerOutputs(r.busy))
	return nil
}

// joinSpan adds a poll to the span, opening it (and its transaction) if
// none is open.
func (r *Runner) joinSpan(fetches kgo.Fetches, records int, scored bool) error {
	if !r.span.open {
		if r.sess != nil {
			if err := r.sess.Begin(); err != nil {
				return fmt.Errorf("begin transaction: %w", err)
			}
		}
		r.span = span{open: true, start: time.Now(), fetches: r.span.fetches[:0], scored: scored}
	}
	r.span.records += records
	r.span.fetches = append(r.span.fetches, fetches)
	r.m.inFlight.Set(float64(r.span.records))
	return nil
}

// endSpan publishes the open span and commits it, or aborts it: under
// exactly-once its transaction is committed with the offsets of its polls;
// under at-least-once the broker's acknowledgements are awaited and the
// offsets marked. The workers then Commit their span to the cache, or Abort
// it. A span whose only failure is DLQ records the broker refused for their
// size is processed again at once under at-least-once (under exactly-once
// the aborted records come again from the broker): each attempt writes
// those records with less, so the third one succeeds.
func (r *Runner) endSpan(ctx context.Context) error {
	sp := &r.span
	defer func() {
		sp.open = false
		clear(sp.fetches)
		sp.fetches = sp.fetches[:0]
		r.m.inFlight.Set(0)
	}()
	committed, err := r.publish(ctx)
	for attempt := 2; !committed && errors.Is(err, errDLQRefused) && attempt <= 3; attempt++ {
		members := slices.Clone(r.members)
		r.abortSpan()
		for _, f := range sp.fetches {
			r.assign(f)
			r.busy = append(r.busy[:0], members...)
			r.run(r.busy, jobProcess)
			r.producer.send(ctx, r.workerOutputs(r.busy))
		}
		for _, w := range members {
			w.member = true
		}
		r.members = append(r.members, members...)
		committed, err = r.publish(ctx)
	}
	if !committed {
		r.abortSpan()
		return err
	}
	if sp.scored {
		r.endMembers(jobCommit)
	} else {
		r.m.passthrough.Add(float64(sp.records))
	}
	r.m.transactions.WithLabelValues("committed").Inc()
	for _, f := range sp.fetches {
		f.EachPartition(func(p kgo.FetchTopicPartition) {
			if len(p.Records) == 0 {
				return
			}
			last := p.Records[len(p.Records)-1]
			if r.sess == nil {
				r.cl.MarkCommitRecords(last)
			}
			if w := r.workers[p.Partition]; w != nil && p.Topic != r.cfg.FeedbackTopic {
				w.m.lag.Set(float64(max(0, p.HighWatermark-last.Offset-1)))
			}
			r.dlq.committed(p.Topic, p.Partition, last.Offset)
		})
	}
	return nil
}

// rewind aborts the open span, if any, and ends the transactional
// session's state with an abort, which sets every partition's position to
// its committed offset; then it sets the partitions of lost, where the
// client moved the position itself, back to theirs too.
func (r *Runner) rewind(ctx context.Context, lost []*kgo.ErrDataLoss) error {
	if r.span.open {
		r.abortSpan()
		r.span.open = false
		clear(r.span.fetches)
		r.span.fetches = r.span.fetches[:0]
		r.m.inFlight.Set(0)
	}
	if _, err := r.sess.End(ctx, kgo.TryAbort); err != nil {
		return fmt.Errorf("end the transaction session after data loss: %w", err)
	}
	if err := r.rewindLost(lost); err != nil {
		return err
	}
	// The aborted records' promises have answered: none of it counts.
	_ = r.producer.wait()
	r.dlq.clearRefusals()
	r.log.Warn("records may repeat after a leader's log diverged; the open span is aborted and every partition goes back to its committed offset")
	return nil
}

// rewindLost sets each partition of lost back to its committed offset.
// The End of rewind does not, when nothing of the partition was polled
// since its last commit: the client skips a position it believes it
// already has (the one consumed to), though its data-loss reset moved the
// fetch elsewhere; the records the state has applied would come again.
// The offsets go without their epoch: unlike the recorded position, which
// has one, that makes the client apply them, and it does not check the
// epoch again against the log that diverged. A partition the client holds
// no commit of (nothing polled since it was assigned) needs the group's
// offset: a new client gets it when it rejoins, and restores the
// partition to match.
func (r *Runner) rewindLost(lost []*kgo.ErrDataLoss) error {
	committed := r.cl.CommittedOffsets()
	set := make(map[string]map[int32]kgo.EpochOffset, 2)
	for _, dl := range lost {
		c, ok := committed[dl.Topic][dl.Partition]
		if !ok {
			return fmt.Errorf("topic %s partition %d lost records before any was processed since its assignment: the client starts over from the group's offsets", dl.Topic, dl.Partition)
		}
		if set[dl.Topic] == nil {
			set[dl.Topic] = make(map[int32]kgo.EpochOffset)
		}
		set[dl.Topic][dl.Partition] = kgo.EpochOffset{Epoch: -1, Offset: c.Offset}
	}
	r.cl.SetOffsets(set)
	return nil
}

// abortSpan makes the workers forget the open span.
func (r *Runner) abortSpan() {
	r.endMembers(jobAbort)
	r.m.transactions.WithLabelValues("aborted").Inc()
}

// endMembers commits (or aborts) the span of every worker that began a
// batch in it, and ends their membership.
func (r *Runner) endMembers(kind jobKind) {
	r.run(r.members, kind)
	for _, w := range r.members {
		w.member = false
	}
	clear(r.members)
	r.members = r.members[:0]
}

// run gives every worker in ws the same job and waits for all of them.
func (r *Runner) run(ws []*worker, kind jobKind) {
	var wg sync.WaitGroup
	wg.Add(len(ws))
	for _, w := range ws {
		w.in <- job{kind: kind, wg: &wg}
	}
	wg.Wait()
}
