package pipeline

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// ScrapeCounter reads the counter name from each URL (a replica's /metrics,
// in the Prometheus text format; a URL without a path gets /metrics) and
// returns its samples summed over the URLs and the other labels, by the
// value of label. Each URL must answer within timeout: a replica that does
// not is an error naming it, rather than a sum that silently lacks it.
func ScrapeCounter(ctx context.Context, urls []string, name, label string, timeout time.Duration) (map[string]float64, error) {
	sums := map[string]float64{}
	client := &http.Client{Timeout: timeout}
	for _, u := range urls {
		if err := scrapeCounter(ctx, client, MetricsURL(u), name, label, sums); err != nil {
			return nil, fmt.Errorf("scrape %s: %w", MetricsURL(u), err)
		}
	}
	return sums, nil
}

// MetricsURL is u with the path /metrics when it has none, and http:// when
// it names no scheme: "replica-1:9464" is http://replica-1:9464/metrics.
func MetricsURL(u string) string {
	if !strings.Contains(u, "://") {
		u = "http://" + u
	}
	if p, err := url.Parse(u); err == nil && (p.Path == "" || p.Path == "/") {
		p.Path = "/metrics"
		return p.String()
	}
	return u
}

func scrapeCounter(ctx context.Context, client *http.Client, u, name, label string, sums map[string]float64) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s", resp.Status)
	}
	return parseCounter(resp.Body, name, label, sums)
}

// parseCounter adds the samples of counter name in r, a Prometheus text
// exposition, to sums by the value of label ("" for samples without it).
func parseCounter(r io.Reader, name, label string, sums map[string]float64) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name)
		if !ok || rest == "" || (rest[0] != '{' && rest[0] != ' ') {
			continue // a comment, another metric, or one whose name starts alike
		}
		var labels map[string]string
		if rest[0] == '{' {
			var err error
			if labels, rest, err = parseLabels(rest[1:]); err != nil {
				return fmt.Errorf("%q: %w", line, err)
			}
		}
		value, _, _ := strings.Cut(strings.TrimSpace(rest), " ") // a timestamp may follow
		v, err := strconv.ParseFloat(value, 64)
		if err != nil || math.IsNaN(v) {
			return fmt.Errorf("%q: not a sample value", line)
		}
		sums[labels[label]] += v
	}
	return sc.Err()
}

// parseLabels reads `a="x",b="y\"z"}` and returns the labels and what
// follows the closing brace.
func parseLabels(s string) (map[string]string, string, error) {
	labels := map[string]string{}
	for {
		s = strings.TrimLeft(s, " ,")
		if rest, ok := strings.CutPrefix(s, "}"); ok {
			return labels, rest, nil
		}
		name, rest, ok := strings.Cut(s, "=")
		if !ok || !strings.HasPrefix(rest, `"`) {
			return nil, "", fmt.Errorf("bad label list")
		}
		var value strings.Builder
		i := 1
		for ; i < len(rest) && rest[i] != '"'; i++ {
			c := rest[i]
			if c == '\\' && i+1 < len(rest) {
				i++
				switch rest[i] {
				case 'n':
					c = '\n'
				default:
					c = rest[i] // \\ and \"
				}
			}
			value.WriteByte(c)
		}
		if i >= len(rest) {
			return nil, "", fmt.Errorf("unterminated label value")
		}
		labels[strings.TrimSpace(name)] = value.String()
		s = rest[i+1:]
	}
}
