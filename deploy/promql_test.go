package deploy

import (
	"reflect"
	"strings"
	"testing"
)

// selector is a metric name as a PromQL expression uses it, with the label
// matchers written next to it ({name="value"}).
type selector struct {
	name     string
	matchers []matcher
}

type matcher struct {
	label, op, value string
}

// promqlKeywords are identifiers that are not metric names when not followed
// by "(".
var promqlKeywords = map[string]bool{
	"and": true, "or": true, "unless": true, "bool": true, "offset": true,
	"by": true, "without": true, "on": true, "ignoring": true,
	"group_left": true, "group_right": true, "inf": true, "nan": true,
}

// aggregations may be followed by "by (...)" or "without (...)" before their
// arguments.
var aggregations = map[string]bool{
	"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true,
	"stdvar": true, "count": true, "count_values": true, "bottomk": true, "topk": true,
	"quantile": true, "limitk": true, "limit_ratio": true,
}

// listKeywords are followed by a parenthesised list of label names.
var listKeywords = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true,
	"group_left": true, "group_right": true,
}

func isIdentStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == ':'
}

func isIdent(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' }

// skipString returns the index after the string literal that starts at i.
func skipString(s string, i int) int {
	q := s[i]
	for i++; i < len(s); i++ {
		if s[i] == '\\' && q != '`' {
			i++
			continue
		}
		if s[i] == q {
			return i + 1
		}
	}
	return i
}

func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

// skipGroup returns the index after the bracket that closes the one at i,
// ignoring brackets inside strings.
func skipGroup(s string, i int) int {
	open, close := s[i], map[byte]byte{'(': ')', '[': ']', '{': '}'}[s[i]]
	depth := 0
	for i < len(s) {
		switch c := s[i]; {
		case c == '"' || c == '\'' || c == '`':
			i = skipString(s, i)
			continue
		case c == open:
			depth++
		case c == close:
			depth--
			if depth == 0 {
				return i + 1
			}
		}
		i++
	}
	return i
}

// parseMatchers reads the label matchers between the braces at s[i] and
// returns them and the index after the closing brace.
func parseMatchers(s string, i int) ([]matcher, int) {
	end := skipGroup(s, i)
	body := s[i+1 : max(i+1, end-1)]
	var ms []matcher
	j := 0
	for j < len(body) {
		j = skipSpace(body, j)
		if j >= len(body) {
			break
		}
		if body[j] == ',' {
			j++
			continue
		}
		k := j
		for k < len(body) && isIdent(body[k]) {
			k++
		}
		if k == j { // not a label name: give up on the rest
			break
		}
		label := body[j:k]
		k = skipSpace(body, k)
		op := ""
		for _, o := range []string{"=~", "!~", "!=", "="} {
			if strings.HasPrefix(body[k:], o) {
				op = o
				break
			}
		}
		k = skipSpace(body, k+len(op))
		value := ""
		if k < len(body) && (body[k] == '"' || body[k] == '\'' || body[k] == '`') {
			e := skipString(body, k)
			value = body[k+1 : e-1]
			k = e
		}
		ms = append(ms, matcher{label, op, value})
		j = k
	}
	return ms, end
}

// promqlSelectors returns the metric names an expression reads, with their
// matchers: identifiers that are not functions, aggregations, keywords, label
// names, strings, numbers, durations or Grafana variables ($x, ${x}).
func promqlSelectors(expr string) []selector {
	var out []selector
	s := expr
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			i = skipString(s, i)
		case c == '#': // comment to the end of the line
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case c == '[': // range or subquery: durations, Grafana's $__rate_interval
			i = skipGroup(s, i)
		case c == '{': // matchers without a name before them ({__name__=...})
			_, i = parseMatchers(s, i)
		case c == '$':
			i++
			if i < len(s) && s[i] == '{' {
				i = skipGroup(s, i)
			}
			for i < len(s) && isIdent(s[i]) {
				i++
			}
		case c >= '0' && c <= '9' || c == '.':
			for i < len(s) && (isIdent(s[i]) || s[i] == '.') {
				i++
			}
		case isIdentStart(c):
			j := i
			for j < len(s) && isIdent(s[j]) {
				j++
			}
			word := s[i:j]
			k := skipSpace(s, j)
			switch {
			case listKeywords[strings.ToLower(word)] && k < len(s) && s[k] == '(':
				i = skipGroup(s, k)
			case k < len(s) && s[k] == '(':
				i = k // a function or an aggregation: its arguments follow
			case aggregations[strings.ToLower(word)]:
				i = j // "sum by (...) (...)": the keyword comes next
			case promqlKeywords[strings.ToLower(word)]:
				i = j
			default:
				sel := selector{name: word}
				if k < len(s) && s[k] == '{' {
					sel.matchers, k = parseMatchers(s, k)
					j = k
				}
				out = append(out, sel)
				i = j
			}
		default:
			i++
		}
	}
	return out
}

func TestPromQLSelectors(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []selector
	}{
		{`sum by (namespace, job) (rate(linger_events_total[5m]))`,
			[]selector{{name: "linger_events_total"}}},
		{`linger:dlq:rate5m / (linger:events:rate5m + linger:dlq:rate5m) > 0.01`,
			[]selector{{name: "linger:dlq:rate5m"}, {name: "linger:events:rate5m"}, {name: "linger:dlq:rate5m"}}},
		{`histogram_quantile(0.99, sum by (le) (rate(linger_decision_latency_seconds_bucket{job=~"$job", instance=~"$instance"}[$__rate_interval])))`,
			[]selector{{name: "linger_decision_latency_seconds_bucket", matchers: []matcher{{"job", "=~", "$job"}, {"instance", "=~", "$instance"}}}}},
		{`sum without (instance) (x) and on (job) group_left (a, b) y offset 5m unless z @ 1e3`,
			[]selector{{name: "x"}, {name: "y"}, {name: "z"}}},
		{`increase(linger_restore_seconds_bucket{le="10.24", model='a,b'}[15m]) > 0 or vector($band_min) # linger_not_a_metric`,
			[]selector{{name: "linger_restore_seconds_bucket", matchers: []matcher{{"le", "=", "10.24"}, {"model", "=", "a,b"}}}}},
		{`up{job="linger"} == bool 0 or Inf`,
			[]selector{{name: "up", matchers: []matcher{{"job", "=", "linger"}}}}},
		{`min_over_time(linger_restoring_partitions[2m:30s]) > 0`,
			[]selector{{name: "linger_restoring_partitions"}}},
	} {
		got := promqlSelectors(tc.expr)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("promqlSelectors(%q)\n got %+v\nwant %+v", tc.expr, got, tc.want)
		}
	}
}
