package pipeline

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/lingerhq/linger/bench"
	"github.com/lingerhq/linger/internal/kafkatest"
	"github.com/lingerhq/linger/pipeline/broker"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkGuarantees runs a replica over the same 300,000 simulator events
// with each guarantee, in the same benchmark run, and reports both rates and
// their ratio: exactly-once must keep at least 80% of at-least-once's
// throughput. One replica, the embedded broker (8 partitions) in the same
// process, from the group's join to its last commit.
func BenchmarkGuarantees(b *testing.B) {
	const events = 300_000
	br, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", Partitions: 8, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	defer br.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(br.Addr()), kgo.ProducerBatchMaxBytes(1<<20))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx := context.Background()
	recs := bench.GenerateRecords(31, events)
	for _, topic := range []string{"events-bench", "invites-bench", "dlq-bench"} {
		if _, err := adm.CreateTopic(ctx, 8, 1, nil, topic); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; i < len(recs); i += 10000 {
		krs := make([]*kgo.Record, 0, 10000)
		for _, r := range recs[i:min(i+10000, len(recs))] {
			krs = append(krs, &kgo.Record{Topic: "events-bench", Key: r.Key, Value: r.Value})
		}
		if err := cl.ProduceSync(ctx, krs...).FirstErr(); err != nil {
			b.Fatal(err)
		}
	}

	rate := func(g Guarantee, run int) float64 {
		group := fmt.Sprintf("bench-%s-%d", g, run)
		r, err := NewRunner(Config{
			Brokers: []string{br.Addr()}, Group: group, Guarantee: g, EventTimeOnly: true,
			EventsTopic: "events-bench", InvitesTopic: "invites-bench", DLQTopic: "dlq-bench", StateTopic: "state-" + group,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Registerer: prometheus.NewRegistry(),
		})
		if err != nil {
			b.Fatal(err)
		}
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		start := time.Now()
		go func() { done <- r.Run(rctx) }()
		if err := kafkatest.WaitCommitted(ctx, adm, group, "events-bench", 5*time.Minute); err != nil {
			b.Fatal(err)
		}
		took := time.Since(start)
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		return events / took.Seconds()
	}
	var alo, eos float64
	run := 0
	for b.Loop() {
		// Alternate which goes first, so neither gets a warmer machine.
		if run%2 == 0 {
			alo += rate(AtLeastOnce, run)
			eos += rate(ExactlyOnce, run)
		} else {
			eos += rate(ExactlyOnce, run)
			alo += rate(AtLeastOnce, run)
		}
		run++
	}
	b.ReportMetric(alo/float64(run), "alo-events/s")
	b.ReportMetric(eos/float64(run), "eos-events/s")
	b.ReportMetric(eos/alo, "eos/alo")
}
