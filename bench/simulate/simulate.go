package simulate

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/lingerhq/linger/bench"
	"github.com/lingerhq/linger/pipeline/partition"
	"github.com/lingerhq/linger/schemas"
	"github.com/lingerhq/linger/scoring"
)

// SimulateConfig is what Simulate writes. Zero fields take the default in
// their comment.
type SimulateConfig struct {
	// Sim chooses the visitors: seed, mix, site, sessions started per
	// second of event time (Rate) and the event time of the start
	// (StartMs).
	Sim bench.Config
	// Duration is the simulated time during which sessions start; the
	// sessions in progress at its end are written to their last event (at
	// most MaxSessionMs later). Required.
	Duration time.Duration
	// Scoring is the config of the engine whose invites the visitors
	// answer. Default: scoring.DefaultConfig().
	Scoring *scoring.Config
	// Partitions is how many partitions the engine runs, each with its own
	// watermark and timers, as `linger replay --partitions`. Default: 16,
	// replay's.
	Partitions int
	// CacheBytes bounds the engine's session state. Default: 512 MiB,
	// replay's.
	CacheBytes int
}

// SimulateStats is what Simulate wrote.
type SimulateStats struct {
	// Events and Feedback are the lines of each kind written; Sessions
	// the sessions the events are of.
	Events, Sessions, Feedback int64
	// Acceptance counts the invites the engine made and how their visitors
	// answered, in all and per persona (every persona has an entry).
	Acceptance          bench.Acceptance
	AcceptanceByPersona map[string]bench.Acceptance
	// Rejected counts events the engine refused: 0 unless the simulator
	// or the engine has a bug.
	Rejected int64
}

// Defaults of SimulateConfig, those of `linger replay`.
const (
	simulatePartitions = 16
	simulateCacheBytes = 512 << 20
	// simulateBatch is the events a partition's engine takes per batch.
	simulateBatch = 2048
)

// Simulate writes the simulator's traffic for cfg.Duration of event time to
// w as v1 JSON lines, the format `linger replay` reads: the sessions'
// events, and the feedback records with which their visitors answer the
// invites the engine decides, all in event-time order. It takes seconds for
// hours of traffic and its output depends on cfg alone, byte for byte.
//
// It makes two passes over the sessions, which the simulator replays at
// will: the first runs the events through the partition engine, as `linger
// replay` does (records split by key as a Kafka producer splits them, one
// engine per partition, every deadline fired at the end), and answers each
// invite with a bench.Responder; the second writes the events merged with the
// answers. The engine never sees the answers, as replay does not: a replay
// of the output decides exactly the invites that were answered.
func Simulate(ctx context.Context, cfg SimulateConfig, w io.Writer) (SimulateStats, error) {
	if cfg.Duration <= 0 {
		return SimulateStats{}, errors.New("simulate: the duration must be positive")
	}
	if cfg.Scoring == nil {
		cfg.Scoring = scoring.DefaultConfig()
	}
	if cfg.Partitions <= 0 {
		cfg.Partitions = simulatePartitions
	}
	if cfg.CacheBytes <= 0 {
		cfg.CacheBytes = simulateCacheBytes
	}
	sim, err := bench.NewSimulator(cfg.Sim)
	if err != nil {
		return SimulateStats{}, err
	}
	until := sim.Config().StartMs + cfg.Duration.Milliseconds()
	stream := func() *bench.Stream { return sim.Stream(0).Until(until) }

	// Pass 1: decisions, answered.
	e := newSimEngine(sim, &cfg, until)
	var rec bench.Record
	st := stream()
	for n := 0; st.NextRecord(&rec); n++ {
		if n&0xffff == 0 && ctx.Err() != nil {
			return SimulateStats{}, ctx.Err()
		}
		e.add(rec.Key, rec.Value)
	}
	e.drain()
	stats := SimulateStats{
		Sessions: int64(st.Started()), Feedback: int64(len(e.answers)), Rejected: e.rejected,
		Acceptance: e.tally.Total(), AcceptanceByPersona: e.tally.ByName(),
	}
	// Records of one millisecond keep the order they were made in.
	slices.SortStableFunc(e.answers, func(a, b answerSpan) int { return cmpInt64(a.ts, b.ts) })

	// Pass 2: the events again, merged with the answers.
	bw := bufio.NewWriterSize(w, 1<<16)
	next := 0
	st = stream()
	for n := 0; st.NextRecord(&rec); n++ {
		if n&0xffff == 0 && ctx.Err() != nil {
			return SimulateStats{}, ctx.Err()
		}
		for ; next < len(e.answers) && e.answers[next].ts < rec.TS; next++ {
			a := e.answers[next]
			bw.Write(e.arena[a.from:a.to])
			bw.WriteByte('\n')
		}
		bw.Write(rec.Value)
		bw.WriteByte('\n')
		stats.Events++
	}
	for _, a := range e.answers[next:] {
		bw.Write(e.arena[a.from:a.to])
		bw.WriteByte('\n')
	}
	if err := bw.Flush(); err != nil {
		return SimulateStats{}, fmt.Errorf("simulate: write: %w", err)
	}
	return stats, nil
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// answerSpan is one feedback record of a Simulate run: its time and where
// its JSON is in the arena.
type answerSpan struct {
	ts       int64
	from, to int
}

// recordSpan is where an event's key and value are in its arena.
type recordSpan struct{ k0, v0, end int }

// simEngine runs a Simulate's events through one partition engine per
// partition and answers the invites they make.
type simEngine struct {
	sim      *bench.Simulator
	procs    []*partition.Processor
	parts    []int // 0..n-1, for the balancer
	balancer kafka.Murmur2Balancer
	spans    [][]recordSpan // the events queued per partition
	arenas   [][]byte       // their keys and values
	batch    []partition.Record

	resp     *bench.Responder
	fbs      []schemas.Feedback
	tally    bench.AcceptanceTally
	arena    []byte // the answers' JSON
	answers  []answerSpan
	rejected int64
}

func newSimEngine(sim *bench.Simulator, cfg *SimulateConfig, until int64) *simEngine {
	store := partition.NewStore(cfg.CacheBytes)
	// The engine's wall clock stands still after the last event: no event
	// is from its future, and nothing the output holds depends on when the
	// simulation ran (a decision's decided_at is never written).
	clock := time.UnixMilli(until + bench.MaxSessionMs + time.Hour.Milliseconds())
	e := &simEngine{
		sim:      sim,
		balancer: kafka.Murmur2Balancer{Consistent: true}, // the partition of a Kafka producer, as replay splits
		spans:    make([][]recordSpan, cfg.Partitions),
		arenas:   make([][]byte, cfg.Partitions),
		resp:     bench.NewResponder(sim.Config().Seed),
	}
	for p := range cfg.Partitions {
		e.parts = append(e.parts, p)
		// As replay: each partition with its own frequency-cap table, so
		// the decisions do not depend on the order partitions run in.
		e.procs = append(e.procs, partition.New(int32(p), partition.Config{
			Epoch: uint32(p + 1), Store: store, Scoring: cfg.Scoring, Now: func() time.Time { return clock },
			Partitions: cfg.Partitions, Visitors: scoring.NewVisitorCaps(0),
		}))
	}
	return e
}

// add queues one event for its partition's engine.
func (e *simEngine) add(key, value []byte) {
	p := e.balancer.Balance(kafka.Message{Key: key}, e.parts...)
	a := e.arenas[p]
	k0 := len(a)
	a = append(a, key...)
	v0 := len(a)
	a = append(a, value...)
	e.arenas[p] = a
	// Spans, not slices: appends may move the arena until the batch goes.
	e.spans[p] = append(e.spans[p], recordSpan{k0, v0, len(a)})
	if len(e.spans[p]) >= simulateBatch {
		e.flush(p)
	}
}

// flush runs partition p's queued events through its engine.
func (e *simEngine) flush(p int) {
	spans, a := e.spans[p], e.arenas[p]
	if len(spans) == 0 {
		return
	}
	b := e.batch[:0]
	for i, s := range spans {
		b = append(b, partition.Record{Key: a[s.k0:s.v0:s.v0], Value: a[s.v0:s.end:s.end], Offset: int64(i)})
	}
	e.collect(e.procs[p].Batch(nil, b))
	e.procs[p].Commit()
	clear(b)
	e.batch, e.spans[p], e.arenas[p] = b[:0], spans[:0], a[:0]
}

// drain runs what is queued, then fires every pending deadline, as a
// replay does at the end of its input.
func (e *simEngine) drain() {
	for p, proc := range e.procs {
		e.flush(p)
		proc.Begin()
		proc.AdvanceTo(math.MaxInt64)
		e.collect(proc.End())
		proc.Commit()
		proc.Close()
	}
}

// collect answers the invites of a batch's output.
func (e *simEngine) collect(out *partition.Output) {
	e.rejected += int64(len(out.Rejected()))
	for i := range out.Decisions() {
		_, v := out.Decision(i)
		d, err := schemas.ParseDecision(v)
		if err != nil {
			panic("BUG: the engine wrote a decision it cannot read: " + err.Error())
		}
		if d.Action != schemas.ActionInvite {
			continue
		}
		idx, ok := e.sim.SessionIndex(d.Session)
		if !ok {
			panic("BUG: a decision for a session the simulator did not play: " + string(d.Session))
		}
		p := e.sim.Persona(idx)
		e.fbs = e.resp.Respond(e.fbs[:0], d, p)
		e.tally.Count(p, e.fbs)
		for j := range e.fbs {
			from := len(e.arena)
			e.arena = schemas.AppendFeedback(e.arena, &e.fbs[j])
			e.answers = append(e.answers, answerSpan{ts: e.fbs[j].TS, from: from, to: len(e.arena)})
		}
	}
}
