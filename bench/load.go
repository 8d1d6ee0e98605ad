package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
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
	transport *kafka.Transport // nil: kafka-go's default
	dialer    *kafka.Dialer    // the readers'; nil: kafka-go's default
	http      *http.Client

	start   time.Time // t=0: the first event is due then
	startNs int64     // start, Unix ns
	parts   []int     // partitions of the events topic
	base    []int64   // its end offsets at the start

	sessions sessionTable

	// Producer side.
	queued    atomic.Int64 // events handed to the writer
	acked     atomic.Int64 // events the brokers took
	failed    atomic.Int64
	firstErr  atomic.Pointer[error]
	saturated atomic.Bool
	done      atomic.Bool // every event is sent (Sessions reached)
	caughtUp  atomic.Bool // the history is sent: events go out in real time
	sentAt    []int64     // events sent by each second, for the series
	sentMu    sync.Mutex

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
		return nil, fmt.Errorf("bench: %w", err)
	}
	l := &load{
		cfg:    cfg,
		http:   &http.Client{Timeout: 5 * time.Second},
		lat:    newHistogram(),
		timer:  newHistogram(),
		second: newHistogram(),
	}
	if l.transport, err = cfg.Security.transport(); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	if l.dialer, err = cfg.Security.dialer(); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	l.client = &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Timeout: 10 * time.Second}
	if l.transport != nil {
		l.client.Transport = l.transport
	}
	return l, nil
}

func (l *load) close() {
	if l.transport != nil {
		l.transport.CloseIdleConnections()
	}
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
	simCfg.Rate = rate / probe.MeanEvents(20000)
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
		return nil, errors.New("bench: the simulator made no events")
	}
	l.caughtUp.Store(cfg.Rate == 0)
	l.warmNs.Store(math.MaxInt64)

	var wg sync.WaitGroup
	for _, r := range readers {
		wg.Go(func() { l.read(ctx, r) })
	}
	prodCtx, stopProducing := context.WithCancel(ctx)
	defer stopProducing()
	prodErr := make(chan error, 1)
	go func() { prodErr <- l.produce(prodCtx, stream, first) }()

	res, err := l.measure(ctx, prodErr, stopProducing)
	cancel()
	for _, r := range readers {
		r.Close()
	}
	wg.Wait()
	if res != nil {
		l.finish(res)
	}
	return res, err
}

// partitions returns the partitions of topic, sorted.
func (l *load) partitions(ctx context.Context, topic string) ([]int, error) {
	md, err := l.client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("bench: metadata of %s from %v: %w", topic, l.cfg.Brokers, l.cfg.Security.explain(err))
	}
	for _, t := range md.Topics {
		if t.Name != topic {
			continue
		}
		if t.Error != nil {
			return nil, fmt.Errorf("bench: topic %s: %w", topic, t.Error)
		}
		parts := make([]int, len(t.Partitions))
		for _, p := range t.Partitions {
			if p.ID < 0 || p.ID >= len(parts) {
				return nil, fmt.Errorf("bench: topic %s: partition %d of %d", topic, p.ID, len(parts))
			}
			parts[p.ID] = p.ID
		}
		return parts, nil
	}
	return nil, fmt.Errorf("bench: topic %s does not exist", topic)
}

// endOffsets returns the high watermarks of topic's partitions.
func (l *load) endOffsets(ctx context.Context, topic string, parts []int) ([]int64, error) {
	reqs := make([]kafka.OffsetRequest, len(parts))
	for i, p := range parts {
		reqs[i] = kafka.LastOffsetOf(p)
	}
	resp, err := l.client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return nil, fmt.Errorf("bench: end offsets of %s: %w", topic, err)
	}
	out := make([]int64, len(parts))
	for _, po := range resp.Topics[topic] {
		if po.Error != nil {
			return nil, fmt.Errorf("bench: end offset of %s/%d: %w", topic, po.Partition, po.Error)
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
		return 0, fmt.Errorf("bench: offsets of group %s: %w", l.cfg.Group, err)
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
	if l.transport != nil {
		w.Transport = l.transport
	}
	return w
}

// produce sends events until ctx ends or the sessions are all sent. At a
// fixed rate an event is due at its simulated time, which follows the wall
// clock (the history is due at once): it is sent then, and its latency
// counts from then even if the producer is late. At rate 0 events go as
// fast as MaxInFlight lets, stamped when sent.
func (l *load) produce(ctx context.Context, stream *Stream, first *Record) error {
	w := l.writer()
	defer w.Close()
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
			l.saturated.Store(true)
			return ErrSaturated
		}
		msgs = msgs[:0]
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
				return fmt.Errorf("bench: produce: %w", err)
			}
			l.countSent(len(msgs))
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

// countSent adds n to the events sent in the current second.
func (l *load) countSent(n int) {
	sec := int(time.Since(l.start) / time.Second)
	l.sentMu.Lock()
	for len(l.sentAt) <= sec {
		l.sentAt = append(l.sentAt, 0)
	}
	l.sentAt[sec] += int64(n)
	l.sentMu.Unlock()
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

// openReaders opens a reader on every partition of the output topic at its
// end, so the run reads what is published from now on.
func (l *load) openReaders(ctx context.Context) ([]*kafka.Reader, error) {
	parts, err := l.partitions(ctx, l.cfg.OutputTopic)
	if err != nil {
		return nil, err
	}
	ends, err := l.endOffsets(ctx, l.cfg.OutputTopic, parts)
	if err != nil {
		return nil, err
	}
	// kafka-go backs off after an empty fetch, 100 ms at first: a
	// read_committed fetch that records of a transaction not yet committed
	// woke up comes back empty, so every invite would wait that long
	// behind one (it was the bench's ~100 ms stall every few seconds with
	// exactly-once). Invites are sparse: poll again at once. A
	// passthrough's copies are dense, and polling at once would only add
	// fetches to a busy broker.
	backoffMin, backoffMax := time.Millisecond, 5*time.Millisecond
	if l.cfg.Passthrough {
		backoffMin, backoffMax = 0, 0 // kafka-go's defaults
	}
	readers := make([]*kafka.Reader, len(parts))
	for i, p := range parts {
		r := kafka.NewReader(kafka.ReaderConfig{
			Brokers:   l.cfg.Brokers,
			Topic:     l.cfg.OutputTopic,
			Partition: p,
			MinBytes:  1,
			MaxBytes:  8 << 20,
			// With MinBytes 1 a fetch returns as soon as there is a
			// record; MaxWait only bounds an idle one.
			MaxWait:        200 * time.Millisecond,
			ReadBackoffMin: backoffMin,
			ReadBackoffMax: backoffMax,
			// Chat front-ends read committed: invites of an aborted
			// transaction were never decided.
			IsolationLevel: kafka.ReadCommitted,
			Dialer:         l.dialer,
		})
		if err := r.SetOffset(ends[i]); err != nil {
			return nil, fmt.Errorf("bench: reader of %s/%d: %w", l.cfg.OutputTopic, p, err)
		}
		readers[i] = r
	}
	return readers, nil
}

// read reads decisions until ctx ends, and times every invite.
func (l *load) read(ctx context.Context, r *kafka.Reader) {
	for {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			return // ctx ended or the reader was closed
		}
		if l.cfg.Passthrough {
			l.copied(m.Key, m.Value, time.Now())
		} else {
			l.decision(m.Value, time.Now())
		}
	}
}

// copied times one event a passthrough copied, read at readAt: the
// transport's own latency, for comparison with linger's.
func (l *load) copied(key, value []byte, readAt time.Time) {
	ts, ok := eventTS(value)
	if !ok {
		return
	}
	idx, ok := l.sim.SessionIndex(key)
	if !ok {
		return
	}
	l.sessions.mu.Lock()
	var due int64
	matched := false
	if slot := l.sessions.lookup(idx); slot != nil {
		due, matched = slot.match(l.startNs, ts)
	}
	l.sessions.mu.Unlock()
	if !matched || due < l.warmNs.Load() {
		return
	}
	lat := readAt.Sub(l.start) - time.Duration(due)
	l.histMu.Lock()
	recordMicros(l.lat, lat)
	recordMicros(l.second, lat)
	l.secInvites++
	l.histMu.Unlock()
}

// eventTS returns the "ts" of a v1 event as the simulator writes it,
// without decoding the rest.
func eventTS(value []byte) (int64, bool) {
	i := bytes.Index(value, []byte(`"ts":`))
	if i < 0 {
		return 0, false
	}
	var ts int64
	n := 0
	for _, c := range value[i+5:] {
		if c < '0' || c > '9' {
			break
		}
		ts = ts*10 + int64(c-'0')
		n++
	}
	return ts, n > 0
}

// decision times one decision read at readAt.
func (l *load) decision(value []byte, readAt time.Time) {
	d, err := schemas.ParseDecision(value)
	if err != nil || d.Action != schemas.ActionInvite {
		return // withdrawals are not timed; a bad one is the processor's bug, not load
	}
	// Only decisions on events (or deadlines) of the window count: the
	// warm-up's history comes in a burst, minutes of it in a second.
	warm := l.warmNs.Load()
	if warm == math.MaxInt64 || d.EventTS*1e6-l.startNs < warm {
		l.markInvited(d.Session, d.EventTS)
		return
	}
	l.invites.Add(1)
	slot, due, matched := l.markInvited(d.Session, d.EventTS)
	switch {
	case slot == nil:
		l.unmatched.Add(1)
	case timerDecision(d):
		l.timers.Add(1)
		l.histMu.Lock()
		recordMicros(l.timer, readAt.Sub(time.UnixMilli(d.EventTS)))
		l.histMu.Unlock()
	case matched:
		lat := readAt.Sub(l.start) - time.Duration(due)
		l.histMu.Lock()
		if due >= warm {
			recordMicros(l.lat, lat)
		}
		recordMicros(l.second, lat)
		l.secInvites++
		l.histMu.Unlock()
	default:
		l.unmatched.Add(1)
	}
}

// markInvited notes that session id was invited and returns its slot (nil
// if this run did not send it) and the due time of its event whose time
// in ms is eventTS, if it was one of the latest sent.
func (l *load) markInvited(id []byte, eventTS int64) (slot *sessionSlot, due int64, matched bool) {
	idx, ok := l.sim.SessionIndex(id)
	if !ok {
		return nil, 0, false
	}
	l.sessions.mu.Lock()
	defer l.sessions.mu.Unlock()
	if slot = l.sessions.lookup(idx); slot == nil {
		return nil, 0, false
	}
	slot.invited = true
	due, matched = slot.match(l.startNs, eventTS)
	return slot, due, matched
}

// timerDecision reports whether a silence timer, not an event, triggered d.
func timerDecision(d *schemas.Decision) bool { return d.Trigger == schemas.TriggerTimer }

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
	// Caught up: behind by less than 50 ms of events, by the processors'
	// own count; by committed offsets (without metrics), less than 1.5s,
	// as at-least-once commits once a second.
	caughtUpLag := func(stats procStats, lag int64) bool {
		if stats.ok {
			return stats.lag <= max(100, cfg.Rate/20)
		}
		return float64(lag) <= max(1000, 1.5*cfg.Rate)
	}
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
					return nil, fmt.Errorf("bench: the sessions ran out during the warm-up: ask for more than %d", cfg.Sessions)
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
		if l.second.TotalCount() > 0 {
			p.P50 = float64(l.second.ValueAtQuantile(50)) / 1000
			p.P99 = float64(l.second.ValueAtQuantile(99)) / 1000
		}
		l.second.Reset()
		l.secInvites = 0
		l.histMu.Unlock()
		p.Offered = float64(l.sentBy(sec-1) - l.sentBy(sec-2))
		prev = done
		res.Series = append(res.Series, p)
		res.RSSMaxBytes = max(res.RSSMaxBytes, int64(stats.rssBytes))
		if failed := l.failed.Load(); failed > 0 {
			return nil, fmt.Errorf("bench: %d events were not accepted by the brokers: %w", failed, *l.firstErr.Load())
		}
		if warm < 0 && sec >= minWarm && (l.caughtUp.Load() && (cfg.Rate == 0 || caughtUpLag(stats, lag)) || sec >= maxWarm) {
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
	if statsWarm.ok && stats1.ok {
		if res.Processed > 0 {
			res.CPUMicrosPerEvent = (stats1.cpuSeconds - statsWarm.cpuSeconds) / float64(res.Processed) * 1e6
		}
		res.RSSBytes = int64(stats1.rssBytes)
		res.CacheEntries = int64(stats1.entries)
		res.CacheMaxBytes = int64(stats1.maxBytes)
		res.SessionTimeoutSeconds = stats1.timeout
		if !math.IsInf(stats1.horizon, 0) { // +Inf: nothing written, as in a passthrough
			res.CacheHorizonSeconds = math.Round(stats1.horizon)
		}
		if idle.ok && stats1.entries > 0 {
			res.BytesPerSession = (stats1.rssBytes - idle.rssBytes) / stats1.entries
			res.CacheEvictions = int64(stats1.evictions - idle.evictions)
			res.StateLost = int64(stats1.lost - idle.lost)
			res.DLQ = int64(stats1.dlq - idle.dlq)
		}
	}
	return res, nil
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
	p99 := "-"
	if p.Invites > 0 {
		p99 = msStr(p.P99)
	}
	fmt.Fprintf(l.cfg.Progress, "%4ds  offered %-9s achieved %-9s p99 %-7s lag %-8d invites %-6d%s\n",
		sec, eps(p.Offered), eps(p.Achieved), p99, p.Lag, p.Invites, phase)
}
