package replay

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/lingerhq/linger/scoring"
	"go.yaml.in/yaml/v3"

	"github.com/lingerhq/linger/pipeline/outcomes"
)

// SweepKey is one axis of a sweep, from ParseSweep for Grid and
// WriteSweep: a config key (dotted, as in the YAML file:
// thresholds.abandonment) and the values it takes.
type SweepKey struct {
	key    string
	values []string
}

// maxSweepPoints bounds a grid: each point is a whole replay.
const maxSweepPoints = 500

// ParseSweep reads "key=from:to:step,key=from:to:step". Values are numbers
// or Go durations (15s), from and to included.
func ParseSweep(spec string) ([]SweepKey, error) {
	var keys []SweepKey
	points := 1
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		key, rng, ok := strings.Cut(part, "=")
		bounds := strings.Split(rng, ":")
		if !ok || key == "" || len(bounds) != 3 {
			return nil, fmt.Errorf("sweep %q: want key=from:to:step", part)
		}
		values, err := sweepRange(bounds[0], bounds[1], bounds[2])
		if err != nil {
			return nil, fmt.Errorf("sweep %s: %w", key, err)
		}
		keys = append(keys, SweepKey{key: key, values: values})
		points *= len(values)
		if points > maxSweepPoints {
			return nil, fmt.Errorf("sweep: more than %d settings to replay; use coarser steps", maxSweepPoints)
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("sweep: no key")
	}
	return keys, nil
}

func sweepRange(from, to, step string) ([]string, error) {
	if f, err1 := strconv.ParseFloat(from, 64); err1 == nil {
		t, err2 := strconv.ParseFloat(to, 64)
		s, err3 := strconv.ParseFloat(step, 64)
		if err2 != nil || err3 != nil || s <= 0 || t < f {
			return nil, fmt.Errorf("%s:%s:%s: want numbers from ≤ to and a positive step", from, to, step)
		}
		var out []string
		for i := 0; ; i++ {
			v := f + float64(i)*s
			if v > t+s/1e6 {
				break
			}
			out = append(out, strconv.FormatFloat(math.Round(v*1e9)/1e9, 'f', -1, 64))
		}
		return out, nil
	}
	f, err1 := time.ParseDuration(from)
	t, err2 := time.ParseDuration(to)
	s, err3 := time.ParseDuration(step)
	if err1 != nil || err2 != nil || err3 != nil || s <= 0 || t < f {
		return nil, fmt.Errorf("%s:%s:%s: want numbers or durations, from ≤ to and a positive step", from, to, step)
	}
	var out []string
	for v := f; v <= t; v += s {
		out = append(out, v.String())
	}
	return out, nil
}

// SweepPoint is one setting of a sweep: the values of its keys, in the
// order of the keys, and the config they make.
type SweepPoint struct {
	Values []string
	Config *scoring.Config
}

// Grid returns every combination of the keys' values applied over base.
// Each config is validated like a config file.
func Grid(base *scoring.Config, keys []SweepKey) ([]SweepPoint, error) {
	data, err := base.Marshal()
	if err != nil {
		return nil, err
	}
	points := []SweepPoint{{}}
	for _, k := range keys {
		var next []SweepPoint
		for _, p := range points {
			for _, v := range k.values {
				next = append(next, SweepPoint{Values: append(append([]string(nil), p.Values...), v)})
			}
		}
		points = next
	}
	for i := range points {
		var doc map[string]any
		if err := yaml.Unmarshal(data, &doc); err != nil {
			return nil, err
		}
		for j, k := range keys {
			if err := setPath(doc, k.key, points[i].Values[j]); err != nil {
				return nil, err
			}
		}
		out, err := yaml.Marshal(doc)
		if err != nil {
			return nil, err
		}
		if points[i].Config, err = scoring.ParseConfig(out); err != nil {
			// The document is generated: its lines mean nothing to the
			// user, the key and the value they gave do.
			var ce *scoring.ConfigError
			if errors.As(err, &ce) {
				err = ce.WithoutLines()
			}
			return nil, fmt.Errorf("sweep setting %s: %w", describePoint(keys, points[i]), err)
		}
	}
	return points, nil
}

// setPath sets a dotted key in a YAML document, as a number if it parses as
// one, else as a string (a duration).
func setPath(doc map[string]any, path, value string) error {
	parts := strings.Split(path, ".")
	m := doc
	for _, p := range parts[:len(parts)-1] {
		sub, ok := m[p].(map[string]any)
		if !ok {
			return fmt.Errorf("sweep key %s: %s is not a section of the config", path, p)
		}
		m = sub
	}
	last := parts[len(parts)-1]
	if _, ok := m[last]; !ok {
		return fmt.Errorf("sweep key %s: no such key in the config (see `linger config`)", path)
	}
	if f, err := strconv.ParseFloat(value, 64); err == nil {
		m[last] = f
	} else {
		m[last] = value
	}
	return nil
}

func describePoint(keys []SweepKey, p SweepPoint) string {
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%s=%s", k.key, p.Values[i])
	}
	return b.String()
}

// SweepRow is one replayed setting.
type SweepRow struct {
	Values  []string
	Model   string
	Invites int
	Quality
	frontier bool // no other setting has both a higher-or-equal invite rate and precision
	inBand   bool // invite rate within the target band
}

// Frontier marks the rows on the invite-rate/precision frontier and those in
// the band [lo, hi] of invite rates.
func Frontier(rows []SweepRow, lo, hi float64) {
	for i := range rows {
		r := &rows[i]
		r.inBand = r.InviteRate.Value >= lo && r.InviteRate.Value <= hi
		r.frontier = !math.IsNaN(r.Precision.Value)
		for j := range rows {
			o := &rows[j]
			if i == j || math.IsNaN(o.Precision.Value) {
				continue
			}
			if o.InviteRate.Value >= r.InviteRate.Value && o.Precision.Value >= r.Precision.Value &&
				(o.InviteRate.Value > r.InviteRate.Value || o.Precision.Value > r.Precision.Value) {
				r.frontier = false
				break
			}
		}
	}
}

// WriteSweep prints the rows as a table, frontier and band marked.
func WriteSweep(w io.Writer, keys []SweepKey, rows []SweepRow, lo, hi float64) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, k := range keys {
		fmt.Fprintf(tw, "%s\t", k.key)
	}
	fmt.Fprintf(tw, "invites\tinvite rate\tprecision\trecall\tfrontier\tin %.0f–%.0f%%\n", lo*100, hi*100)
	for _, r := range rows {
		for _, v := range r.Values {
			fmt.Fprintf(tw, "%s\t", v)
		}
		mark := func(b bool, s string) string {
			if b {
				return s
			}
			return ""
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", r.Invites, outcomes.ProportionFigure(r.InviteRate), outcomes.ProportionFigure(r.Precision), outcomes.ProportionFigure(r.Recall),
			mark(r.frontier, "*"), mark(r.inBand, "✓"))
	}
	return tw.Flush()
}
