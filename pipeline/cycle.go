package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"

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

func (r *Runner) poll(ctx context.Context) kgo.Fetches {
	// A poll returns at least every Tick, so idle partitions fire timers.
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Tick)
	defer cancel()
	if r.sess != nil {
		r.pollCancel.Store(&cancel)
		defer r.pollCancel.Store(nil)
		return r.sess.PollRecords(ctx, r.cfg.MaxPollRecords)
	}
	return r.cl.PollRecords(ctx, r.cfg.MaxPollRecords)
}

func (r *Runner) allowRebalance() {
	if r.sess != nil {
		r.sess.AllowRebalance()
	} else {
		r.cl.AllowRebalance()
	}
}

func (r *Runner) loop(ctx, pctx context.Context) error {
	for {
		fetches := r.poll(ctx)
		if fetches.IsClientClosed() || ctx.Err() != nil {
			return nil
		}
		fetches.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				r.log.Warn("fetch error", "topic", topic, "partition", p, "err", err)
			}
		})
		if r.revoked.Swap(false) && fetches.NumRecords() == 0 {
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
		r.allowRebalance()
	}
}

// SetScoring swaps the scoring config: the workers take it up between
// batches (between events, never within one), and partitions assigned later
// start with it. Decisions then carry the new config's model name.
func (r *Runner) SetScoring(cfg *scoring.Config) { r.reload.Store(cfg) }

// scoreCycle processes one poll: all partitions in parallel, then publishes
// their output, then commits or aborts every worker's batch.
func (r *Runner) scoreCycle(ctx context.Context, fetches kgo.Fetches) error {
	if cfg := r.reload.Swap(nil); cfg != nil {
		// The workers are idle between cycles: the channel sends of the
		// next jobs order this before their use.
		r.cfg.Scoring = cfg
		r.m.sessionTimeout.Set(cfg.LongestSessionTimeout().Seconds())
		for _, w := range r.workers {
			w.p.SetConfig(cfg)
		}
	}
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
	// Every worker runs: those without records may have timers due.
	busy := r.busy[:0]
	for _, w := range r.workers {
		if len(w.batch.Records) > 0 && w.batch.Topic == r.cfg.EventsTopic {
			last := w.batch.Records[len(w.batch.Records)-1]
			w.p.SetCaughtUp(w.batch.HighWatermark <= last.Offset+1)
		}
		busy = append(busy, w)
	}
	r.busy = busy
	if len(busy) == 0 {
		return nil
	}
	r.m.inFlight.Set(float64(records))
	defer r.m.inFlight.Set(0)
	// A cycle whose only failure is DLQ records the broker refused for
	// their size is processed again at once under at-least-once (under
	// exactly-once the aborted records come again from the broker): each
	// attempt writes those records with less, so the third one succeeds.
	for attempt := 1; ; attempt++ {
		committed, idle, err := r.attempt(ctx, busy, records)
		if idle {
			r.run(busy, jobCommit) // nothing to publish: the (empty) batch stands
			return nil
		}
		if committed {
			break
		}
		r.run(busy, jobAbort)
		r.m.transactions.WithLabelValues("aborted").Inc()
		if !errors.Is(err, errDLQRefused) || attempt == 3 {
			return err
		}
	}
	r.run(busy, jobCommit)
	r.m.transactions.WithLabelValues("committed").Inc()
	for _, w := range busy {
		if recs := w.batch.Records; len(recs) > 0 {
			last := recs[len(recs)-1]
			if r.sess == nil {
				r.cl.MarkCommitRecords(last)
			}
			w.m.lag.Set(float64(max(0, w.batch.HighWatermark-last.Offset-1)))
			r.dlq.committed(w.batch.Topic, w.batch.Partition, last.Offset)
		}
		if recs := w.feedback.Records; len(recs) > 0 {
			if r.sess == nil {
				r.cl.MarkCommitRecords(recs[len(recs)-1])
			}
			r.dlq.committed(w.feedback.Topic, w.feedback.Partition, recs[len(recs)-1].Offset)
		}
	}
	return nil
}

// attempt processes the workers' batches and publishes their output; it
// reports whether the output was published and (under exactly-once)
// committed with the offsets, or that there was nothing to publish (idle).
func (r *Runner) attempt(ctx context.Context, busy []*worker, records int) (committed, idle bool, err error) {
	r.run(busy, jobProcess)
	empty := true
	for _, w := range busy {
		empty = empty && w.out.Empty()
	}
	if empty && records == 0 {
		return false, true, nil
	}
	if r.sess != nil {
		committed, err = r.publishTransaction(ctx, r.workerOutputs(busy))
		return committed, false, err
	}
	err = r.publish(ctx, r.workerOutputs(busy))
	return err == nil, false, err
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
