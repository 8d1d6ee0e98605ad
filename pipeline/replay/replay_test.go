package replay_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/lingerhq/linger/bench"
	"github.com/lingerhq/linger/internal/kafkatest"
	"github.com/lingerhq/linger/pipeline"
	"github.com/lingerhq/linger/pipeline/broker"
	"github.com/lingerhq/linger/pipeline/replay"
	"github.com/lingerhq/linger/schemas"
	"github.com/lingerhq/linger/scoring"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestReplayDecidesAsRun: on the same input, replay and run (a replica
// through a kfake broker, timers on event time) make the same decisions:
// the same ids with the same contents, decided_at aside.
func TestReplayDecidesAsRun(t *testing.T) {
	const partitions = 6
	recs := toReplay(bench.GenerateRecords(5, 40000))

	// Without the frequency cap across sessions: live, it is shared by the
	// replica's partitions in the order they run; a replay keeps one per
	// partition.
	cfg, err := scoring.ParseConfig([]byte("frequency_cap:\n  invites: 0\n"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := replay.Run(recs, replay.Options{Partitions: partitions, NoDrain: true, Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	want := &kafkatest.Decisions{ByID: map[string]string{}}
	for _, d := range res.Decisions {
		d.DecidedAt = 0
		want.ByID[string(d.ID)] = string(schemas.AppendDecision(nil, d))
	}
	if len(want.ByID) < 20 {
		t.Fatalf("only %d decisions: the input does not exercise the scoring", len(want.ByID))
	}

	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", Partitions: partitions, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	krs := make([]*kgo.Record, len(recs))
	for i, r := range recs {
		krs[i] = &kgo.Record{Topic: schemas.TopicEvents, Key: r.Key, Value: r.Value}
	}
	if err := cl.ProduceSync(ctx, krs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	r, err := pipeline.NewRunner(pipeline.Config{Brokers: []string{b.Addr()}, EventTimeOnly: true, Logger: quiet, CacheBytes: 64 << 20, Scoring: cfg})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(rctx) }()
	adm := kadm.NewClient(cl)
	if err := kafkatest.WaitCommitted(ctx, adm, pipeline.DefaultGroup, schemas.TopicEvents, time.Minute); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got, err := kafkatest.ReadDecisions(ctx, b.Addr(), adm, schemas.TopicInvites, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range kafkatest.Diff(got, want, 10) {
		t.Error(d)
	}
	t.Logf("%d decisions, the same in replay and run", len(want.ByID))
}

func toReplay(in []bench.Record) []replay.Record {
	out := make([]replay.Record, len(in))
	for i, r := range in {
		out[i] = replay.Record{Key: r.Key, Value: r.Value, TS: r.TS}
	}
	return out
}

// TestDrainFiresPendingDeadlines: at the end of the input, every session
// still open is checked on and expired, as a live run would in the end.
func TestDrainFiresPendingDeadlines(t *testing.T) {
	recs := toReplay(bench.GenerateRecords(6, 20000))
	kept, err := replay.Run(recs, replay.Options{NoDrain: true})
	if err != nil {
		t.Fatal(err)
	}
	drained, err := replay.Run(recs, replay.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(drained.Decisions) <= len(kept.Decisions) {
		t.Fatalf("draining added no decision (%d → %d): the sessions left silent at the end should be checked on", len(kept.Decisions), len(drained.Decisions))
	}
	ids := map[string]bool{}
	for _, d := range drained.Decisions {
		ids[string(d.ID)] = true
	}
	for _, d := range kept.Decisions {
		if !ids[string(d.ID)] {
			t.Fatalf("decision %s made without draining is missing with it", d.ID)
		}
	}
}

func TestReadREES46(t *testing.T) {
	in := `event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session
2019-10-01 00:00:00 UTC,view,44600062,2103807459595387724,,shiseido,35.79,541312140,72d76fde-8bb3-4e00-8c23-a032dfed738c
2019-10-01 00:00:05 UTC,cart,44600062,2103807459595387724,,shiseido,35.79,541312140,72d76fde-8bb3-4e00-8c23-a032dfed738c
2019-10-01 00:00:03 UTC,view,3900821,2053013552326770905,appliances.environment.water_heater,aqua,33.20,554748717,9333dfbd-b87a-4708-9857-6336556b0fcc
2019-10-01 00:00:09 UTC,purchase,44600062,2103807459595387724,,shiseido,35.79,541312140,72d76fde-8bb3-4e00-8c23-a032dfed738c
2019-10-01 00:00:10 UTC,view,17200506,2053013559792632471,furniture.living_room.sofa,,543.10,519107250,566511c2-e2e3-422b-b695-cf8e6e792ca8,extra
2019-10-01 00:00:11 UTC,view,17200506,2053013559792632471,furniture.living_room.sofa,,543.10,5191072`
	recs, err := replay.Read(strings.NewReader(in), "rees46")
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 4 {
		t.Fatalf("%d records, want 4 (rows without 9 fields skipped)", len(recs))
	}
	var dec schemas.Decoder
	var ev schemas.Event
	var types []string
	for i, r := range recs {
		if i > 0 && r.TS < recs[i-1].TS {
			t.Fatal("records not in event-time order")
		}
		if err := dec.Decode(r.Key, r.Value, 0, &ev); err != nil {
			t.Fatalf("record %d is not a valid event: %v", i, err)
		}
		types = append(types, ev.Type.String())
		if ev.Type == schemas.TypeCart && (ev.Value != 3579 || ev.CartAction != schemas.CartAdd) {
			t.Fatalf("cart event %+v: want an addition of 3579 minor units", ev)
		}
	}
	if got := strings.Join(types, ","); got != "page_view,page_view,cart,purchase" {
		t.Fatalf("types %s", got)
	}
	if _, err := replay.Read(strings.NewReader("a,b\n1,2\n"), "rees46"); err == nil || !strings.Contains(err.Error(), "no column") {
		t.Fatalf("a CSV without the columns: %v", err)
	}
	if _, err := replay.Read(strings.NewReader(""), "parquet"); err == nil {
		t.Fatal("unknown format accepted")
	}
}
