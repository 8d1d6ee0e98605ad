package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/segmentio/kafka-go"

	"github.com/lingerhq/linger/schemas"
)

// LoadConfig is what a load run does. Zero fields take the default in
// their comment.
type LoadConfig struct {
	// Brokers to produce to and read from. Required.
	Brokers []string
	// EventsTopic is where events go. Default: visitor-events.
	EventsTopic string
	// OutputTopic is what the processor writes: chat-invites, or the copy
	// topic of a passthrough. Default: chat-invites.
	OutputTopic string
	// Group is the processor's consumer group, whose committed offsets
	// say how far it got. Default: "linger".
	Group string
	// FeedbackTopic is where the visitors' answers to the invites go, as
	// a chat widget and platform write them (chat-feedback records keyed
	// by session id, due at their event time). Default: chat-feedback. A
	// cluster without the topic gets none: the answers are counted only.
	FeedbackTopic string
	// NoFeedback counts the answers without writing them.
	NoFeedback bool
	// Passthrough says the processor copies events instead of deciding:
	// there are no invites to read, only offsets to follow.
	Passthrough bool
	// Rate is the events per second offered, on schedule whether or not
	// earlier ones were answered; 0 sends as fast as the producer can.
	Rate float64
	// Duration is the measured window. Required.
	Duration time.Duration
	// Warmup runs before the window and is left out of every figure.
	// Default: 5s (the first seconds see connections made and the group
	// settle).
	Warmup time.Duration
	// History starts the run with this much simulated traffic already
	// under way, sent at once (stamped with its past times) before events
	// go out in real time: visitors hesitate minutes into a visit, so a
	// run from an empty site would see no invites for minutes. The
	// warm-up lasts until the processor has caught up with it. It is
	// capped at MaxHistoryEvents events. Default: 3m; negative: none.
	// Not used at rate 0.
	History time.Duration
	// Drain bounds the wait after the window for the processor to catch
	// up and the last invites to arrive. Default: 30s.
	Drain time.Duration
	// Sessions ends the run once this many sessions have been sent in
	// full, if that comes before the window's end; 0: no limit.
	Sessions int
	// Sim chooses the visitors: seed and mix (its Rate and StartMs are
	// set by the run, to pace them in real time).
	Sim Config
	// Metrics are the processors' /metrics URLs, for CPU and memory; none:
	// those figures are left out.
	Metrics []string
	// Progress, if set, gets a line a second while the run goes.
	Progress io.Writer
	// Security is the TLS and SASL of every connection to the brokers.
	Security Security
	// CacheQuiet is how long the processors' hot tables hold an untouched
	// session before writing it to fastcache (pipeline/partition's
	// HotQuiet), for the --cache-bytes that would cover the session
	// timeout. 0: none, which asks for more than the processors need.
	CacheQuiet time.Duration
	// MaxInFlight bounds events handed to the producer and not yet
	// acknowledged. At --rate 0 it is the backpressure; at a fixed rate
	// a run that hits it is over capacity and is reported as such, rather
	// than buffering without limit. Default: 200 000.
	MaxInFlight int
}

// Errors of a load run a caller may test for.
var (
	// ErrSaturated: the producer had MaxInFlight events unacknowledged at
	// a fixed rate: the brokers do not take the rate, so the run stopped.
	ErrSaturated = errors.New("the brokers do not keep up with the offered rate")
)

func (c *LoadConfig) withDefaults() (LoadConfig, error) {
	cc := *c
	if len(cc.Brokers) == 0 {
		return cc, errors.New("no brokers")
	}
	if cc.Duration <= 0 {
		return cc, errors.New("the duration must be positive")
	}
	if cc.Rate < 0 {
		return cc, fmt.Errorf("the rate must be 0 (as fast as possible) or positive, got %v", cc.Rate)
	}
	if cc.EventsTopic == "" {
		cc.EventsTopic = schemas.TopicEvents
	}
	if cc.OutputTopic == "" {
		cc.OutputTopic = schemas.TopicInvites
	}
	if cc.FeedbackTopic == "" {
		cc.FeedbackTopic = schemas.TopicFeedback
	}
	if cc.Group == "" {
		cc.Group = "linger"
	}
	if cc.Warmup == 0 {
		cc.Warmup = 5 * time.Second
	}
	if cc.History == 0 {
		cc.History = 3 * time.Minute
	}
	if cc.Drain == 0 {
		cc.Drain = 30 * time.Second
	}
	if cc.MaxInFlight == 0 {
		cc.MaxInFlight = 200_000
	}
	if _, err := cc.Security.mechanism(); err != nil {
		return cc, err
	}
	return cc, nil
}

// MaxHistoryEvents caps LoadConfig.History: at high rates, minutes of
// history would take longer to send than the run.
const MaxHistoryEvents = 4_000_000

// nominalRate paces the simulated visitors of a run at --rate 0: events
// are stamped with the time they are sent, and sessions made at this rate
// keep their pauses roughly real at the rates this machine reaches.
const nominalRate = 300_000

// load is one run in progress.
type load struct {
	cfg       LoadConfig
	sim       *Simulator
	client    *kafka.Client
	transport *kafka.Transport // the run's own (Security.transport), closed by close
	dialer    *kafka.Dialer    // the readers'; nil: kafka-go's default
	http      *http.Client

	start   time.Time // t=0: the first event is due then
	startNs int64     // start, Unix ns
	parts   []int     // partitions of the events topic
	base    []int64   // its end offsets at the start

	sessions sessionTable

	// Producer side.
	queued   atomic.Int64 // events handed to the writer
	acked    atomic.Int64 // events the brokers took
	failed   atomic.Int64
	firstErr atomic.Pointer[error]
	done     atomic.Bool // every event is sent (Sessions reached)
	caughtUp atomic.Bool // the history is sent: events go out in real time
	sentAt   []int64     // events sent by each second, for the series
	histAt   []int64     // of them, events of the history
	sentMu   sync.Mutex

	// The visitors' answers: played by the readers, written when due by
	// deliverAnswers to fbTopic ("" when not written).
	answers   *Answers
	fbTopic   string
	fbWritten atomic.Int64
	fbFailed  atomic.Int64
	fbErr     atomic.Pointer[error]

	// Reader side.
	histMu     sync.Mutex
	lat, timer *hdrhistogram.Histogram
	second     *hdrhistogram.Histogram // this second's latencies, for the series
	warmNs     atomic.Int64            // the window's start, ns after start; until then, MaxInt64
	invites    atomic.Int64
	timers     atomic.Int64
	unmatched  atomic.Int64
	secInvites int64
}

// Run drives the brokers with simulated visitors at cfg.Rate for
// cfg.Warmup plus cfg.Duration, reads what the processor publishes, and
// returns the measurements of the window. The processor must be running
// (and ready) already: Run does not start it.
func Run(ctx context.Context, cfg LoadConfig) (*Result, error) {
	l, err := newLoad(cfg)
	if err != nil {
		return nil, err
	}
	defer l.close()
	return l.run(ctx)
}

// newLoad checks cfg and makes the run's Kafka clients; close lets go of
// their connections.
func newLoad(cfg LoadConfig) (*load, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	l := &load{
		cfg:    cfg,
		http:   &http.Client{Timeout: 5 * time.Second},
		lat:    newHistogram(),
		timer:  newHistogram(),
		second: newHistogram(),
	}
	if l.transport, err = cfg.Security.transport(); err != nil {
		return nil, err
	}
	if l.dialer, err = cfg.Security.dialer(); err != nil {
		return nil, err
	}
	l.client = &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Timeout: 10 * time.Second}
	l.client.Transport = l.transport
	return l, nil
}

func (l *load) close() {
	l.transport.CloseIdleConnections()
}

func (l *load) run(ctx context.Context) (*Result, error) {
	cfg := l.cfg
	parts, err := l.partitions(ctx, cfg.EventsTopic)
	if err != nil {
		return nil, err
	}
	l.parts = parts
	if l.base, err = l.endOffsets(ctx, cfg.EventsTopic, parts); err != nil {
		return nil, err
	}
	var readers []*kafka.Reader
	// A passthrough's copies are read to time the transport alone, but not
	// at rate 0: reading every event back would take the CPU the run
	// measures.
	if !cfg.Passthrough || cfg.Rate > 0 {
		if readers, err = l.openReaders(ctx); err != nil {
			return nil, err
		}
	}
	if !cfg.Passthrough && !cfg.NoFeedback {
		if _, err := l.partitions(ctx, cfg.FeedbackTopic); err != nil {
			if cfg.Progress != nil {
				fmt.Fprintf(cfg.Progress, "bench: the visitors' answers are counted, not written: %v\n", withoutGoNames(err))
			}
		} else {
			l.fbTopic = cfg.FeedbackTopic
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	rate := cfg.Rate
	history := time.Duration(0)
	if rate == 0 {
		rate = nominalRate
	} else if cfg.History > 0 {
		history = min(cfg.History, time.Duration(MaxHistoryEvents/rate*float64(time.Second)))
	}
	probe, err := NewSimulator(cfg.Sim)
	if err != nil {
		return nil, err
	}
	l.start = time.Now()
	l.startNs = l.start.UnixNano()
	simCfg := cfg.Sim
	simCfg.Rate = probe.SessionRate(rate)
	simCfg.Regular = true // an even rate of arrivals: the offered rate is steady
	joinMs := l.start.Add(-history).UnixMilli()
	var stream *Stream
	if cfg.Rate > 0 {
		// The site is in full swing when the history begins.
		simCfg.StartMs = joinMs - MaxSessionMs
		if l.sim, err = NewSimulator(simCfg); err != nil {
			return nil, err
		}
		stream = l.sim.StreamFrom(cfg.Sessions, joinMs)
	} else {
		simCfg.StartMs = joinMs
		if l.sim, err = NewSimulator(simCfg); err != nil {
			return nil, err
		}
		stream = l.sim.Stream(cfg.Sessions)
	}
	// The first event starts every session in progress at the join: a
	// second or more of work at high rates, done before the producer's
	// clock matters. What falls due meanwhile goes with the history.
	first := new(Record)
	if !stream.NextRecordAt(first, -1) {
		return nil, errors.New("the simulator made no events")
	}
	l.caughtUp.Store(cfg.Rate == 0)
	l.warmNs.Store(math.MaxInt64)

	var wg sync.WaitGroup
	if !cfg.Passthrough {
		l.answers = NewAnswers(l.sim)
		if l.fbTopic != "" {
			wg.Go(func() { l.deliverAnswers(ctx) })
		}
	}
	for _, r := range readers {
		wg.Go(func() { l.read(ctx, r) })
	}
	prodCtx, stopProducing := context.WithCancel(ctx)
	defer stopProducing()
	prodErr := make(chan error, 1)
	producing := make(chan struct{})
	go func() {
		defer close(producing)
		l.produce(prodCtx, stream, first, prodErr)
	}()

	res, err := l.measure(ctx, prodErr, stopProducing)
	cancel()
	for _, r := range readers {
		r.Close()
	}
	wg.Wait()
	// The writer's goroutines end with its Close, once the events in
	// flight are acknowledged or given up: waited for, so that none
	// outlives the run, but not for long, as brokers that stopped
	// answering hold them through every retry.
	select {
	case <-producing:
	case <-time.After(producerCloseWait):
	}
	if res != nil {
		l.finish(res)
	}
	return res, err
}

// producerCloseWait bounds Run's wait for the producer to close after the
// measurement ended.
const producerCloseWait = 10 * time.Second

// partitions returns the partitions of topic, sorted.
func (l *load) partitions(ctx context.Context, topic string) ([]int, error) {
	md, err := l.client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("metadata of %s from %s: %w", topic, strings.Join(l.cfg.Brokers, ", "), withoutGoNames(l.cfg.Security.explain(err)))
	}
	for _, t := range md.Topics {
		if t.Name != topic {
			continue
		}
		if t.Error != nil {
			return nil, fmt.Errorf("topic %s: %w", topic, t.Error)
		}
		parts := make([]int, len(t.Partitions))
		for _, p := range t.Partitions {
			if p.ID < 0 || p.ID >= len(parts) {
				return nil, fmt.Errorf("topic %s: partition %d of %d", topic, p.ID, len(parts))
			}
			parts[p.ID] = p.ID
		}
		return parts, nil
	}
	return nil, fmt.Errorf("topic %s does not exist", topic)
}

// endOffsets returns the high watermarks of topic's partitions.
func (l *load) endOffsets(ctx context.Context, topic string, parts []int) ([]int64, error) {
	reqs := make([]kafka.OffsetRequest, len(parts))
	for i, p := range parts {
		reqs[i] = kafka.LastOffsetOf(p)
	}
	resp, err := l.client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return nil, fmt.Errorf("end offsets of %s: %w", topic, withoutGoNames(err))
	}
	out := make([]int64, len(parts))
	for _, po := range resp.Topics[topic] {
		if po.Error != nil {
			return nil, fmt.Errorf("end offset of %s/%d: %w", topic, po.Partition, po.Error)
		}
		if po.Partition >= 0 && po.Partition < len(out) {
			out[po.Partition] = po.LastOffset
		}
	}
	return out, nil
}

// offsetsPatience is how long the committed offsets may stay unreadable
// before a run gives up.
const offsetsPatience = 30 * time.Second

// committed returns the sum over the events topic's partitions of the
// processor group's committed offsets less the offsets at the start: the
// events of this run it has processed and committed.
func (l *load) committed(ctx context.Context) (int64, error) {
	resp, err := l.client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: l.cfg.Group, Topics: map[string][]int{l.cfg.EventsTopic: l.parts}})
	if err == nil {
		err = resp.Error
	}
	if err != nil {
		return 0, fmt.Errorf("offsets of group %s: %w", l.cfg.Group, withoutGoNames(err))
	}
	var sum int64
	for _, p := range resp.Topics[l.cfg.EventsTopic] {
		if p.Partition < 0 || p.Partition >= len(l.base) {
			continue
		}
		sum += max(0, p.CommittedOffset-l.base[p.Partition])
	}
	return sum, nil
}

// writer returns the run's producer: asynchronous, each batch acknowledged
// to completed.
func (l *load) writer() *kafka.Writer {
	w := &kafka.Writer{
		Addr:     kafka.TCP(l.cfg.Brokers...),
		Topic:    l.cfg.EventsTopic,
		Balancer: &kafka.Murmur2Balancer{}, // the partitions franz-go and Java clients choose
		// Send what is due at once: latency is the point, and batches form
		// anyway when the rate is high.
		BatchTimeout: time.Millisecond,
		BatchSize:    2000,
		BatchBytes:   4 << 20,
		RequiredAcks: kafka.RequireAll,
		Async:        true,
		Completion:   l.completed,
	}
	w.Transport = l.transport
	return w
}

// produce sends events until ctx ends or the sessions are all sent. At a
// fixed rate an event is due at its simulated time, which follows the wall
// clock (the history is due at once): it is sent then, and its latency
// counts from then even if the producer is late. At rate 0 events go as
// fast as MaxInFlight lets, stamped when sent.
func (l *load) produce(ctx context.Context, stream *Stream, first *Record, errc chan<- error) {
	w := l.writer()
	err := l.send(ctx, w, stream, first)
	if err != nil {
		// The run stops at once: closing waits for the events in flight,
		// which brokers that do not keep up may hold for long.
		errc <- err
		w.Close()
		return
	}
	// A finished run counts the last acknowledgements: closed first.
	w.Close()
	errc <- nil
}

// send is produce's loop, over the writer w.
func (l *load) send(ctx context.Context, w *kafka.Writer, stream *Stream, first *Record) error {
	asFast := l.cfg.Rate == 0
	const maxBatch = 4096
	msgs := make([]kafka.Message, 0, maxBatch)
	var (
		arena   []byte
		rec     = *first
		pending = true // rec holds the next event, not yet sent
	)
	for ctx.Err() == nil {
		now := time.Now()
		nowMs := now.UnixMilli()
		room := min(maxBatch, l.cfg.MaxInFlight-int(l.queued.Load()-l.acked.Load()-l.failed.Load()))
		if room <= 0 && l.caughtUp.Load() && !asFast {
			// Say how far behind: a stall of seconds on a busy machine
			// reads differently from a rate the brokers never took.
			return fmt.Errorf("%w: %d events sent and not acknowledged, %v of the offered rate (a lower --rate, or a less busy machine)",
				ErrSaturated, l.cfg.MaxInFlight, (time.Duration(float64(l.cfg.MaxInFlight) / l.cfg.Rate * float64(time.Second))).Round(time.Millisecond))
		}
		msgs = msgs[:0]
		history := 0 // events in msgs due before the start
		l.sessions.mu.Lock()
		for len(msgs) < room {
			if !pending {
				ok := false
				if asFast {
					ok = stream.NextRecordAt(&rec, nowMs)
				} else {
					ok = stream.NextRecord(&rec)
				}
				if !ok {
					l.done.Store(true)
					break
				}
				pending = true
			}
			if rec.TS > nowMs {
				break
			}
			pending = false
			due := rec.TS*1e6 - l.startNs
			if asFast {
				due = int64(now.Sub(l.start))
			}
			if due < 0 {
				history++
			}
			l.sessions.sent(rec.Session, rec.Persona, due, rec.Last, rec.Partial)
			if cap(arena)-len(arena) < len(rec.Key)+len(rec.Value) {
				arena = make([]byte, 0, 1<<20) // the writer holds the old one until sent
			}
			arena = append(arena, rec.Key...)
			key := arena[len(arena)-len(rec.Key):]
			arena = append(arena, rec.Value...)
			value := arena[len(arena)-len(rec.Value):]
			msgs = append(msgs, kafka.Message{Key: key, Value: value})
		}
		l.sessions.mu.Unlock()
		if len(msgs) > 0 {
			// Counted first: the writer may call completed before it
			// returns.
			l.queued.Add(int64(len(msgs)))
			if err := w.WriteMessages(ctx, msgs...); err != nil {
				l.queued.Add(-int64(len(msgs))) // never handed over
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("produce: %w", withoutGoNames(err))
			}
			l.countSent(len(msgs), history)
		}
		switch {
		case l.done.Load():
			return nil
		case pending && rec.TS > nowMs:
			// Caught up: wait for the next event's millisecond. Events of
			// one millisecond go out together.
			l.caughtUp.Store(true)
			time.Sleep(time.Until(time.UnixMilli(rec.TS)))
		case len(msgs) == 0:
			time.Sleep(100 * time.Microsecond) // MaxInFlight reached
		}
	}
	return nil
}

// completed is the writer's callback: every batch, sent or failed.
func (l *load) completed(msgs []kafka.Message, err error) {
	if err != nil {
		l.failed.Add(int64(len(msgs)))
		l.firstErr.CompareAndSwap(nil, &err)
		return
	}
	l.acked.Add(int64(len(msgs)))
}

// countSent adds n events, history of them from the history, to those
// sent in the current second.
func (l *load) countSent(n, history int) {
	sec := int(time.Since(l.start) / time.Second)
	l.sentMu.Lock()
	for len(l.sentAt) <= sec {
		l.sentAt = append(l.sentAt, 0)
		l.histAt = append(l.histAt, 0)
	}
	l.sentAt[sec] += int64(n)
	l.histAt[sec] += int64(history)
	l.sentMu.Unlock()
}

// sentIn returns the events sent in second sec, and how many of them were
// of the history.
func (l *load) sentIn(sec int) (all, history int64) {
	l.sentMu.Lock()
	defer l.sentMu.Unlock()
	if sec < 0 || sec >= len(l.sentAt) {
		return 0, 0
	}
	return l.sentAt[sec], l.histAt[sec]
}

// sentBy returns the events sent in second sec and before it.
func (l *load) sentBy(sec int) int64 {
	l.sentMu.Lock()
	defer l.sentMu.Unlock()
	var n int64
	for i := 0; i <= sec && i < len(l.sentAt); i++ {
		n += l.sentAt[i]
	}
	return n
}

// kafkaGoNames are the Go names kafka-go puts in front of its errors
// ("kafka.(*Client).Metadata: "): no help to a user, who reads what
// follows.
var kafkaGoNames = regexp.MustCompile(`kafka\.\(\*[A-Za-z]+\)\.[A-Za-z]+: `)

// plainError is an error with kafka-go's Go names taken out of its text;
// it still unwraps to the error it was made from.
type plainError struct {
	msg string
	err error
}

func (e plainError) Error() string { return e.msg }
func (e plainError) Unwrap() error { return e.err }

// withoutGoNames returns err without the Go names in its text.
func withoutGoNames(err error) error {
	if err == nil {
		return nil
	}
	msg := kafkaGoNames.ReplaceAllString(err.Error(), "")
	if msg == err.Error() {
		return err
	}
	return plainError{msg, err}
}
