package pipeline

import (
	"math/rand/v2"
	"testing"

	"github.com/lingerhq/linger/pipeline/partition"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// TestBatchHistogramMatchesClient: what workers merge per batch reads the
// same as the client library's histogram fed the same values one by one,
// and the engine's buckets are the client's.
func TestBatchHistogramMatchesClient(t *testing.T) {
	upper := partition.ScoreBuckets
	ref := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ref", Buckets: upper})
	h := newBatchHistogram("linger_score", "help", "model", []string{"a", "b"}, upper)
	var w1, w2 partition.ScoreCounts // two workers' batches
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 10000 {
		v := r.Float64()
		if i%7 == 0 {
			v = upper[r.IntN(len(upper))] // exactly on a bound
		}
		ref.Observe(v)
		if i%2 == 0 {
			w1.Observe(v)
		} else {
			w2.Observe(v)
		}
		if i%1000 == 0 {
			h.series[0].add(&w1)
			w1 = partition.ScoreCounts{}
		}
	}
	h.series[0].add(&w1)
	h.series[0].add(&w2)

	var want, got dto.Metric
	if err := ref.Write(&want); err != nil {
		t.Fatal(err)
	}
	ch := make(chan prometheus.Metric, 2)
	h.Collect(ch)
	if err := (<-ch).Write(&got); err != nil {
		t.Fatal(err)
	}
	wh, gh := want.GetHistogram(), got.GetHistogram()
	if wh.GetSampleCount() != gh.GetSampleCount() || len(wh.Bucket) != len(gh.Bucket) {
		t.Fatalf("count %d vs %d, buckets %d vs %d", gh.GetSampleCount(), wh.GetSampleCount(), len(gh.Bucket), len(wh.Bucket))
	}
	for i := range wh.Bucket {
		if wh.Bucket[i].GetCumulativeCount() != gh.Bucket[i].GetCumulativeCount() || wh.Bucket[i].GetUpperBound() != gh.Bucket[i].GetUpperBound() {
			t.Errorf("bucket le=%v: %d, the client counts %d", gh.Bucket[i].GetUpperBound(), gh.Bucket[i].GetCumulativeCount(), wh.Bucket[i].GetCumulativeCount())
		}
	}
	if d := wh.GetSampleSum() - gh.GetSampleSum(); d > 1e-6 || d < -1e-6 {
		t.Errorf("sum %v, the client has %v", gh.GetSampleSum(), wh.GetSampleSum())
	}
	// The other series exists, empty, before any observation.
	if err := (<-ch).Write(&got); err != nil || got.GetHistogram().GetSampleCount() != 0 {
		t.Fatalf("second series: %v %v", err, got.GetHistogram().GetSampleCount())
	}
}
