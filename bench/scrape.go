package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/lingerhq/linger/internal/promscrape"
)

// procStats is what a load run reads from the processors' /metrics: the
// sums over every replica, and what is kept per replica.
type procStats struct {
	procFigures
	// publish sums linger_decision_publish_latency_seconds{trigger="event"}.
	publish promscrape.Histogram
	// written and rss are each replica's linger_state_bytes_written_total
	// and process_resident_memory_bytes, in the order of the URLs.
	written, rss []float64
}

// procFigures are the figures of procStats summed over replicas, and
// whether every replica answered.
type procFigures struct {
	cpuSeconds float64 // process_cpu_seconds_total
	rssBytes   float64 // process_resident_memory_bytes
	entries    float64 // linger_cache_entries
	hot        float64 // linger_hot_sessions
	evictions  float64 // linger_cache_evictions_total
	maxBytes   float64 // linger_cache_max_bytes
	lost       float64 // linger_state_lost_total
	dlq        float64 // linger_dlq_total
	lag        float64 // linger_partition_lag: records behind, as of each partition's last batch
	horizon    float64 // linger_cache_horizon_seconds, the shortest of the replicas'
	timeout    float64 // linger_session_timeout_seconds, the longest
	ok         bool    // every replica answered
}

// scrapedMetrics are the families procStats reads, and where each goes:
// sums over label sets and replicas, but for the horizon (the shortest)
// and the session timeout (the longest).
var scrapedMetrics = map[string]func(*procStats) *float64{
	"linger_cache_horizon_seconds":   func(s *procStats) *float64 { return &s.horizon },
	"linger_session_timeout_seconds": func(s *procStats) *float64 { return &s.timeout },
	"process_cpu_seconds_total":      func(s *procStats) *float64 { return &s.cpuSeconds },
	"process_resident_memory_bytes":  func(s *procStats) *float64 { return &s.rssBytes },
	"linger_cache_entries":           func(s *procStats) *float64 { return &s.entries },
	"linger_hot_sessions":            func(s *procStats) *float64 { return &s.hot },
	"linger_cache_evictions_total":   func(s *procStats) *float64 { return &s.evictions },
	"linger_cache_max_bytes":         func(s *procStats) *float64 { return &s.maxBytes },
	"linger_state_lost_total":        func(s *procStats) *float64 { return &s.lost },
	"linger_dlq_total":               func(s *procStats) *float64 { return &s.dlq },
	"linger_partition_lag":           func(s *procStats) *float64 { return &s.lag },
}

// scrape reads every URL (a replica's /metrics) and sums the families of
// scrapedMetrics. A replica that does not answer leaves ok false, and the
// run reports no CPU or memory figures for that moment rather than wrong
// ones.
func scrape(ctx context.Context, client *http.Client, urls []string) procStats {
	var s procStats
	s.ok = len(urls) > 0
	for _, u := range urls {
		if err := scrapeOne(ctx, client, u, &s); err != nil {
			s.ok = false
		}
	}
	return s
}

// publishMetric is the processors' histogram of event time to the commit
// that made a decision readable; the bench reads its event trigger, the
// decisions its own latency times.
const publishMetric = "linger_decision_publish_latency_seconds"

func scrapeOne(ctx context.Context, client *http.Client, url string, s *procStats) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	fams, err := promscrape.Get(ctx, client, url)
	if err != nil {
		return fmt.Errorf("%s: %w", url, err)
	}
	s.add(fams)
	return nil
}

// parseMetrics adds the samples of the Prometheus text format in r that
// scrapedMetrics names to s, over all label sets.
func parseMetrics(r io.Reader, s *procStats) error {
	fams, err := promscrape.Parse(r)
	if err != nil {
		return err
	}
	s.add(fams)
	return nil
}

// add adds the samples of one replica's families that scrapedMetrics
// names to s, and keeps its own figures.
func (s *procStats) add(fams promscrape.Families) {
	one := func(name string) float64 {
		sum := 0.0
		fams.Each(name, func(_ map[string]string, v float64) { sum += v })
		return sum
	}
	s.written = append(s.written, one("linger_state_bytes_written_total"))
	s.rss = append(s.rss, one("process_resident_memory_bytes"))
	fams.AddHistogram(&s.publish, publishMetric, map[string]string{"trigger": "event"})
	for name, field := range scrapedMetrics {
		f := field(s)
		fams.Each(name, func(_ map[string]string, v float64) {
			switch name {
			case "linger_cache_horizon_seconds":
				// 0 is a replica that has not measured yet (its first
				// estimate comes a few seconds in), not a horizon of 0.
				if v > 0 && (*f == 0 || v < *f) {
					*f = v
				}
			case "linger_session_timeout_seconds":
				*f = max(*f, v)
			default:
				*f += v
			}
		})
	}
}
