package pipeline

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/lingerhq/linger/pipeline/broker"
	"github.com/lingerhq/linger/pipeline/partition"
	"github.com/lingerhq/linger/schemas"
	"github.com/lingerhq/linger/scoring"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkRestore measures what a replica does when a partition is
// assigned to it: read the partition's changelog from the broker (read
// committed) and load every session into the cache and the timer index.
// The changelog holds 1M sessions of a typical encoded state (about 100
// bytes) in one partition. Budget: 1M sessions in under 5 s.
func BenchmarkRestore(b *testing.B) {
	const sessions = 1_000_000
	br, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", Partitions: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer br.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(br.Addr()), kgo.ProducerBatchMaxBytes(1<<20), kgo.MaxBufferedRecords(100_000))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()

	// A checkout session part-way, with its timer armed.
	st := scoring.State{
		Flags: scoring.FlagInFieldFocus, Start: 1767225600000, Last: 1767225692000, ActiveAt: 1767225685000,
		Events: 23, PageSince: 1767225631000, Kind: uint8(schemas.KindCheckout), PageViews: 5, Distinct: 4,
		Pages: [3]uint16{0x2b5e, 0x9d1c, 0x4f11}, IdleLongestMs: 15000, CartValue: 34900, CartItems: 1,
		CheckoutStep: 2, Focuses: 3, MovesD: 2100, TurnsD: 140, Deadline: 1767225715000, Armed: 1767225715000,
		Visitor: []byte("v-3f9a1c2b"), Site: []byte("demo-shop"), URL: []byte("/checkout/payment"),
	}
	ctx := context.Background()
	var valueBytes int
	for i := range sessions {
		st.Session = fmt.Appendf(st.Session[:0], "%08x-4b1c-4e2a-9f3d-%012x", i, i*7919)
		v := st.AppendBinary(nil)
		valueBytes += len(v)
		cl.Produce(ctx, &kgo.Record{Topic: schemas.TopicState, Key: append([]byte(nil), st.Session...), Value: v}, func(_ *kgo.Record, err error) {
			if err != nil {
				b.Error(err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		b.Fatal(err)
	}

	r, err := NewRunner(Config{Brokers: []string{br.Addr()}, CacheBytes: 512 << 20})
	if err != nil {
		b.Fatal(err)
	}
	r.adm = kadm.NewClient(cl)
	b.ReportAllocs()
	b.ResetTimer()
	var took time.Duration
	for b.Loop() {
		r.store.Reset()
		p := partition.New(0, partition.Config{Epoch: r.store.NextEpoch(), Store: r.store})
		start := time.Now()
		if err := r.restore(ctx, p); err != nil {
			b.Fatal(err)
		}
		took = time.Since(start)
		if p.Restored() != sessions {
			b.Fatalf("restored %d records, want %d", p.Restored(), sessions)
		}
		p.Close()
	}
	b.ReportMetric(took.Seconds(), "s/1M-sessions")
	b.ReportMetric(float64(sessions)/took.Seconds(), "sessions/s")
	b.ReportMetric(float64(valueBytes)/sessions, "B/state")
}
