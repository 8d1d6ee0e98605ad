package pipeline

import (
	"errors"
	"strings"
	"testing"

	"github.com/lingerhq/linger/internal/kafkatest"
	"github.com/lingerhq/linger/pipeline/partition"
	"github.com/lingerhq/linger/schemas"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestPromiseCountsRefusalsWithoutAllocating: every record of a span gets
// the producer's promise; an acknowledged record costs no allocation (at
// 20k events/s one a record was tens of thousands a second), and a refused
// one is counted, by topic, and its error kept for wait.
func TestPromiseCountsRefusalsWithoutAllocating(t *testing.T) {
	r, err := NewRunner(Config{Brokers: []string{"127.0.0.1:1"}, Logger: kafkatest.Logger(t), CacheBytes: partition.MinCacheBytes})
	if err != nil {
		t.Fatal(err)
	}
	p := &r.producer
	rec := &kgo.Record{Topic: schemas.TopicState}
	if n := testing.AllocsPerRun(1000, func() {
		p.pending.Add(1)
		p.answered(rec, nil)
	}); n != 0 {
		t.Errorf("the promise of an acknowledged record allocates %v times", n)
	}
	if err := p.wait(); err != nil {
		t.Fatalf("no record refused, wait says %v", err)
	}

	refused := errors.New("refused")
	for range 2 {
		p.pending.Add(1)
		p.answered(rec, refused)
	}
	p.pending.Add(1)
	p.answered(rec, nil)
	err = p.wait()
	if !errors.Is(err, refused) || !strings.HasPrefix(err.Error(), "2 records could not be published") {
		t.Errorf("two records refused, wait says %v", err)
	}
	if n := testutilValue(r.m.produceErrors.WithLabelValues(schemas.TopicState)); n != 2 {
		t.Errorf("%v produce errors counted for %s, want 2", n, schemas.TopicState)
	}
	if err := p.wait(); err != nil {
		t.Errorf("a new span starts clean, wait says %v", err)
	}
}
