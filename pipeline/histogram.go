package pipeline

import (
	"sync"

	"github.com/lingerhq/linger/pipeline/partition"

	"github.com/prometheus/client_golang/prometheus"
)

// batchHistogram is a Prometheus histogram that partition workers fill with
// the counts of a whole batch at once (partition.ScoreCounts). The client
// library's Observe costs atomic adds, per event, on cache lines that every
// worker shares; scores are observed twice per event, so they go through
// this instead.
type batchHistogram struct {
	desc   *prometheus.Desc
	upper  []float64 // bucket upper bounds, ascending, +Inf implied
	series []*histSeries
}

// histSeries is one label value's merged counts.
type histSeries struct {
	label  string
	mu     sync.Mutex
	counts []uint64 // per bucket, not cumulative; the last is +Inf
	count  uint64
	sum    float64
}

func newBatchHistogram(name, help, label string, values []string, upper []float64) *batchHistogram {
	h := &batchHistogram{desc: prometheus.NewDesc(name, help, []string{label}, nil), upper: upper}
	for _, v := range values {
		h.series = append(h.series, &histSeries{label: v, counts: make([]uint64, len(upper)+1)})
	}
	return h
}

// Describe implements prometheus.Collector.
func (h *batchHistogram) Describe(ch chan<- *prometheus.Desc) { ch <- h.desc }

// Collect implements prometheus.Collector.
func (h *batchHistogram) Collect(ch chan<- prometheus.Metric) {
	for _, s := range h.series {
		s.mu.Lock()
		buckets := make(map[float64]uint64, len(h.upper))
		var cum uint64
		for i, ub := range h.upper {
			cum += s.counts[i]
			buckets[ub] = cum
		}
		count, sum := s.count, s.sum
		s.mu.Unlock()
		ch <- prometheus.MustNewConstHistogram(h.desc, count, sum, buckets, s.label)
	}
}

// add merges a batch's score counts, bucketed by partition.ScoreBuckets
// (the histogram's own bounds), into the series.
func (s *histSeries) add(c *partition.ScoreCounts) {
	if c.Count == 0 {
		return
	}
	s.mu.Lock()
	for i, n := range c.Buckets {
		s.counts[i] += n
	}
	s.count += c.Count
	s.sum += c.Sum
	s.mu.Unlock()
}
