// Package promscrape reads Prometheus /metrics endpoints, with the
// ecosystem's own parser (prometheus/common/expfmt): `linger report` sums
// the replicas' suppressed invites, and the bench harness reads the
// processors' CPU, memory and cache figures.
package promscrape

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Families are the metric families of one exposition, by name.
type Families map[string]*dto.MetricFamily

// URL is u with the path /metrics when it has none, and http:// when it
// names no scheme: "replica-1:9464" is http://replica-1:9464/metrics.
func URL(u string) string {
	if !strings.Contains(u, "://") {
		u = "http://" + u
	}
	if p, err := url.Parse(u); err == nil && (p.Path == "" || p.Path == "/") {
		p.Path = "/metrics"
		return p.String()
	}
	return u
}

// Parse reads an exposition in the Prometheus text format. An exposition
// that does not parse is an error as a whole: its figures are not used.
func Parse(r io.Reader) (Families, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	// The format ends every line with a newline; a body cut after its
	// last sample would fail on the missing one alone.
	fams, err := p.TextToMetricFamilies(io.MultiReader(r, strings.NewReader("\n")))
	if err != nil {
		return nil, err
	}
	return fams, nil
}

// Get fetches and parses the exposition at u (a /metrics URL). It asks
// for the text format, which every Prometheus client serves.
func Get(ctx context.Context, client *http.Client, u string) (Families, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	// Uncompressed: the bench scrapes every second, and gzipping each
	// page would count as the processor's own CPU.
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s", resp.Status)
	}
	return Parse(resp.Body)
}

// Value returns a sample's value: a counter's, a gauge's or an untyped
// one's; NaN for a histogram or summary.
func Value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return math.NaN()
}

// Each calls fn with the value of every sample of family name (none if the
// family is absent), skipping NaN.
func (f Families) Each(name string, fn func(labels map[string]string, v float64)) {
	mf := f[name]
	if mf == nil {
		return
	}
	for _, m := range mf.Metric {
		v := Value(m)
		if math.IsNaN(v) {
			continue
		}
		labels := make(map[string]string, len(m.Label))
		for _, l := range m.Label {
			labels[l.GetName()] = l.GetValue()
		}
		fn(labels, v)
	}
}

// SumBy adds family name's samples to sums by the value of label ("" for
// samples without it).
func (f Families) SumBy(name, label string, sums map[string]float64) {
	f.Each(name, func(labels map[string]string, v float64) { sums[labels[label]] += v })
}

// SumCounter reads the counter name from each URL (a URL without a path
// gets /metrics) and returns its samples summed over the URLs and the other
// labels, by the value of label. Each URL must answer within timeout: a
// replica that does not is an error naming it, rather than a sum that
// silently lacks it.
func SumCounter(ctx context.Context, urls []string, name, label string, timeout time.Duration) (map[string]float64, error) {
	sums := map[string]float64{}
	client := &http.Client{Timeout: timeout}
	for _, u := range urls {
		fams, err := Get(ctx, client, URL(u))
		if err != nil {
			return nil, fmt.Errorf("scrape %s: %w", URL(u), err)
		}
		fams.SumBy(name, label, sums)
	}
	return sums, nil
}

// Histogram is a classic histogram's cumulative buckets, summed over the
// samples (label sets, replicas) added to it: Counts[i] observations were
// at most Bounds[i]. Count is every observation, those above the last
// bound included.
type Histogram struct {
	Bounds []float64
	Counts []float64
	Count  float64
	// Mismatch says samples with different buckets were added: their sum
	// means nothing, and Quantile returns NaN.
	Mismatch bool
}

// AddHistogram adds the buckets of family name's samples whose labels
// include every pair of match (nil: all samples) to h.
func (f Families) AddHistogram(h *Histogram, name string, match map[string]string) {
	mf := f[name]
	if mf == nil {
		return
	}
	for _, m := range mf.Metric {
		if m.Histogram == nil || !hasLabels(m, match) {
			continue
		}
		h.add(m.Histogram)
	}
}

func hasLabels(m *dto.Metric, match map[string]string) bool {
	n := 0
	for _, l := range m.Label {
		if v, ok := match[l.GetName()]; ok {
			if v != l.GetValue() {
				return false
			}
			n++
		}
	}
	return n == len(match)
}

// add adds one sample's buckets. The +Inf bucket, where the exposition
// has it, is the count; it is not kept as a bound.
func (h *Histogram) add(dh *dto.Histogram) {
	var bounds, counts []float64
	for _, b := range dh.Bucket {
		if math.IsInf(b.GetUpperBound(), 1) {
			continue
		}
		c := float64(b.GetCumulativeCount())
		if cf := b.GetCumulativeCountFloat(); cf > 0 {
			c = cf
		}
		bounds, counts = append(bounds, b.GetUpperBound()), append(counts, c)
	}
	count := float64(dh.GetSampleCount())
	if cf := dh.GetSampleCountFloat(); cf > 0 {
		count = cf
	}
	if h.Bounds == nil && h.Count == 0 {
		h.Bounds, h.Counts = bounds, counts
		h.Count = count
		return
	}
	if len(bounds) != len(h.Bounds) {
		h.Mismatch = true
		return
	}
	for i, b := range bounds {
		if b != h.Bounds[i] {
			h.Mismatch = true
			return
		}
	}
	for i, c := range counts {
		h.Counts[i] += c
	}
	h.Count += count
}

// Sub returns the observations of h that came after earlier, a scrape of
// the same histogram made before it: a window's own distribution. A
// histogram that was reset in between (a replica restarted) or whose
// buckets changed has a Mismatch.
func (h Histogram) Sub(earlier Histogram) Histogram {
	d := Histogram{Bounds: h.Bounds, Counts: make([]float64, len(h.Counts)), Count: h.Count - earlier.Count, Mismatch: h.Mismatch || earlier.Mismatch}
	if earlier.Bounds == nil && earlier.Count == 0 {
		copy(d.Counts, h.Counts)
		return d
	}
	if len(earlier.Bounds) != len(h.Bounds) || d.Count < 0 {
		d.Mismatch = true
		return d
	}
	for i := range h.Counts {
		if earlier.Bounds[i] != h.Bounds[i] {
			d.Mismatch = true
			return d
		}
		d.Counts[i] = h.Counts[i] - earlier.Counts[i]
	}
	return d
}

// Quantile estimates the q-quantile (0..1) as Prometheus's
// histogram_quantile does: it finds the bucket that holds it and
// interpolates linearly within it, from 0 for the first bucket. A quantile
// above the last bound is that bound (the buckets cannot say more). NaN
// when there is no observation or the sum has a Mismatch.
func (h Histogram) Quantile(q float64) float64 {
	if h.Mismatch || h.Count <= 0 || len(h.Bounds) == 0 || q < 0 || q > 1 {
		return math.NaN()
	}
	rank := q * h.Count
	lower, below := 0.0, 0.0
	for i, b := range h.Bounds {
		c := h.Counts[i]
		if c >= rank && c > below {
			return lower + (b-lower)*(rank-below)/(c-below)
		}
		lower, below = b, c
	}
	return h.Bounds[len(h.Bounds)-1]
}
