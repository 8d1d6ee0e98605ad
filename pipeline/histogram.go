package pipeline

import (
	"sort"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// batchHistogram is a Prometheus histogram that partition workers fill in
// local counts and merge once per batch. The client library's Observe costs
// atomic adds, per event, on cache lines that every worker shares; scores
// are observed twice per event, so they go through this instead.
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

// localHist is one worker's unmerged observations of one series.
type localHist struct {
	h      *batchHistogram
	s      *histSeries
	counts []uint64
	count  uint64
	sum    float64
}

func (h *batchHistogram) local(series int) *localHist {
	return &localHist{h: h, s: h.series[series], counts: make([]uint64, len(h.upper)+1)}
}

// observe counts v in the first bucket whose upper bound is ≥ v, as the
// Prometheus client does.
func (l *localHist) observe(v float64) {
	l.counts[sort.SearchFloat64s(l.h.upper, v)]++
	l.count++
	l.sum += v
}

// discard forgets the local counts (their batch was aborted).
func (l *localHist) discard() {
	clear(l.counts)
	l.count, l.sum = 0, 0
}

// flush merges the local counts into the series and clears them.
func (l *localHist) flush() {
	if l.count == 0 {
		return
	}
	s := l.s
	s.mu.Lock()
	for i, c := range l.counts {
		s.counts[i] += c
		l.counts[i] = 0
	}
	s.count += l.count
	s.sum += l.sum
	s.mu.Unlock()
	l.count, l.sum = 0, 0
}
