package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lingerhq/linger/pipeline/partition"
	"github.com/twmb/franz-go/pkg/kgo"
)

// outputs calls send for every record a cycle publishes.
type outputs func(send func(*kgo.Record))

// workerOutputs are the workers' decisions, rejects and state records.
func (r *Runner) workerOutputs(busy []*worker) outputs {
	return func(send func(*kgo.Record)) {
		states := 0
		for _, w := range busy {
			out := w.out
			for i := range out.Decisions() {
				k, v := out.Decision(i)
				send(r.producer.record(r.cfg.InvitesTopic, 0, k, v))
			}
			for _, rj := range out.Rejected() {
				if rec := r.dlqRecord(w.p.Partition(), rj); rec != nil {
					send(rec)
				}
			}
			for i := range out.StateRecords() {
				k, v := out.StateRecord(i)
				send(r.producer.record(r.cfg.StateTopic, w.p.Partition(), k, v))
			}
			for i := range out.VisitorRecords() {
				k, v := out.VisitorRecord(i)
				send(r.producer.record(r.cfg.VisitorsTopic, 0, k, v))
			}
			for i := range out.TallyRecords() {
				k, v := out.TallyRecord(i)
				send(r.producer.record(r.cfg.TalliesTopic, 0, k, v))
			}
			states += out.StateRecords()
		}
		r.m.stateRecords.Add(float64(states))
	}
}

// producer hands a span's records to the client and keeps count of their
// acknowledgements until the span ends.
type producer struct {
	r       *Runner
	pending sync.WaitGroup
	failed  atomic.Int64
	first   atomic.Pointer[error]

	// recs are records handed out by record, reused once their promises
	// have all answered (wait): the client reads a record no more after
	// its promise, and a span's state records, one per session it touched,
	// would otherwise each cost an allocation. Used by the Runner's
	// goroutine only.
	recs []*kgo.Record
	used int
	// stamp is the records' timestamp, read once per send: the client
	// reads the clock for every record without one, and reading it is a
	// system call on machines without a fast clock source.
	stamp time.Time
}

// record returns a record of topic with key and value, for send; partition
// counts only for the topics whose partitioner honours it (the changelog).
// It stays valid until the next wait.
func (p *producer) record(topic string, partition int32, key, value []byte) *kgo.Record {
	if p.used == len(p.recs) {
		p.recs = append(p.recs, new(kgo.Record))
	}
	rec := p.recs[p.used]
	p.used++
	*rec = kgo.Record{Topic: topic, Partition: partition, Key: key, Value: value, Timestamp: p.stamp}
	return rec
}

// send hands every record of out to the client.
func (p *producer) send(ctx context.Context, out outputs) {
	r := p.r
	produce := r.cl.Produce
	if r.sess != nil {
		produce = r.sess.Produce
	}
	promise := p.answered
	p.stamp = time.Now()
	out(func(rec *kgo.Record) {
		p.pending.Add(1)
		produce(ctx, rec, promise)
	})
}

// answered is the promise of every record send hands out: it counts a
// refusal and keeps the first error for wait. It allocates nothing for a
// record the broker took, the promise of every record of a span.
func (p *producer) answered(rec *kgo.Record, err error) {
	defer p.pending.Done()
	if err == nil {
		return
	}
	p.failed.Add(1)
	// A copy: taking the parameter's address would move it to the heap
	// at every call, error or not.
	first := err
	p.first.CompareAndSwap(nil, &first)
	r := p.r
	r.m.produceErrors.WithLabelValues(rec.Topic).Inc()
	r.dlq.refuse(r.cfg.DLQTopic, rec, err)
}

// wait waits for the acknowledgement of every record sent since the last
// wait, and returns an error if the broker refused any.
func (p *producer) wait() error {
	p.pending.Wait()
	// A passthrough record aliases its fetch's whole response: a stale one
	// would keep it in memory until the record is reused.
	for _, rec := range p.recs[:p.used] {
		rec.Key, rec.Value = nil, nil
	}
	p.used = 0
	n := p.failed.Swap(0)
	first := p.first.Swap(nil)
	if n > 0 {
		return fmt.Errorf("%d records could not be published: %w", n, *first)
	}
	return nil
}

// publish ends the open span's publishing: under exactly-once it flushes,
// waits for every record and commits the transaction with the offsets of
// the span's polls; under at-least-once it waits for the broker to
// acknowledge every record. It reports whether the span is committed. An
// aborted transaction (a rebalance, a failed request) is not an error: the
// client rewinds to the committed offsets and the records come again; nor
// are DLQ records refused for their size (errDLQRefused, retried). Other
// errors are fatal.
func (r *Runner) publish(ctx context.Context) (bool, error) {
	if r.sess == nil {
		if err := r.producer.wait(); err != nil {
			if r.dlqRefused() {
				return false, fmt.Errorf("%w: %w", errDLQRefused, err)
			}
			return false, fmt.Errorf("%w; their offsets are not committed, so they will be processed again on restart", err)
		}
		return true, nil
	}
	// A record the broker refused after the client's retries would be
	// lost by a committed transaction: wait for every record, and abort if
	// one failed. The aborted span is processed again, like one a
	// rebalance aborted; only a failure to abort is fatal.
	if err := r.cl.Flush(ctx); err != nil {
		return false, fmt.Errorf("flush: %w", err)
	}
	if perr := r.producer.wait(); perr != nil {
		if _, err := r.sess.End(ctx, kgo.TryAbort); err != nil {
			return false, fmt.Errorf("%w; aborting the transaction failed too: %w", perr, err)
		}
		if r.dlqRefused() {
			r.log.Warn("DLQ records refused for their size; transaction aborted, its records will be processed again with less of them", "err", perr)
			return false, nil
		}
		if !isRetryable(perr) {
			return false, fmt.Errorf("%w; the transaction is aborted, so they will be processed again on restart", perr)
		}
		r.log.Warn("records refused; transaction aborted, its records will be processed again", "err", perr)
		return false, nil
	}
	committed, err := r.sess.End(ctx, kgo.TryCommit)
	if err != nil {
		return false, fmt.Errorf("end transaction: %w", err)
	}
	if !committed {
		r.log.Info("transaction aborted; its records will be processed again")
	}
	return committed, nil
}

// errDLQRefused is a span that failed only because the broker refused DLQ
// records for their size: processed again, it writes them with less (see
// dlqWriter), so it is retried rather than fatal.
var errDLQRefused = errors.New("DLQ records refused for their size; the span is processed again with less of them")

// dlqRefused reports whether the broker refused DLQ records for their size
// and nothing else this span; if so, the next attempt writes them with
// less, and records refused even with headers only are skipped, counted
// and logged.
func (r *Runner) dlqRefused() bool {
	skipped, ok := r.dlq.escalate()
	if !ok {
		return false
	}
	for _, k := range skipped {
		r.m.dlqWriteFailures.WithLabelValues("too_large").Inc()
		if r.dlq.logNow(time.Now()) {
			r.log.Error("the broker refused a DLQ record even without its value; it is skipped and its offset committed (logged once a minute)",
				"topic", r.cfg.DLQTopic, "source_topic", k.topic, "partition", k.partition, "offset", k.offset)
		}
	}
	return true
}

// dlqRecord returns the DLQ record of rj, read from partition part, sized
// to fit; nil if it is to be skipped.
func (r *Runner) dlqRecord(part int32, rj partition.Rejected) *kgo.Record {
	source := r.cfg.EventsTopic
	if rj.Feedback {
		source = r.cfg.FeedbackTopic
	}
	return r.dlq.record(r.cfg.DLQTopic, source, part, rj)
}
