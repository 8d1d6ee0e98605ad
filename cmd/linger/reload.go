package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"syscall"
	"time"

	"github.com/lingerhq/linger/scoring"
	"go.yaml.in/yaml/v3"
)

// watchConfig reloads the scoring config file on SIGHUP and when the file
// changes (checked every interval): a valid file is swapped in between
// events, with a log of what changed; an invalid one is refused, the running
// config stays, and the log says which key is wrong and why.
func watchConfig(ctx context.Context, log *slog.Logger, path string, current *scoring.Config, apply func(*scoring.Config), interval time.Duration) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	last, _ := os.ReadFile(path)
	for {
		var why string
		select {
		case <-ctx.Done():
			return
		case <-hup:
			why = "SIGHUP"
		case <-tick.C:
			data, err := os.ReadFile(path)
			if err != nil || bytes.Equal(data, last) {
				continue
			}
			why = "file changed"
		}
		data, err := os.ReadFile(path)
		if err != nil {
			log.Error("config reload failed; the running config stays", "file", path, "model", current.Model(), "err", err)
			continue
		}
		last = data
		next, err := scoring.ParseConfig(data)
		if err != nil {
			log.Error("config reload refused; the running config stays", "file", path, "trigger", why, "model", current.Model(), "err", err)
			continue
		}
		changed := configDiff(current, next)
		if len(changed) == 0 {
			log.Info("config reloaded: nothing changed", "file", path, "trigger", why)
			continue
		}
		apply(next)
		log.Info("config reloaded", "file", path, "trigger", why, "model", current.Model()+" → "+next.Model(), "changed", changed)
		current = next
	}
}

// configDiff lists the keys whose values differ, "key: old → new", sorted.
func configDiff(a, b *scoring.Config) []string {
	fa, fb := flatConfig(a), flatConfig(b)
	var out []string
	for k, va := range fa {
		if vb, ok := fb[k]; !ok {
			out = append(out, fmt.Sprintf("%s: %s → (unset)", k, va))
		} else if va != vb {
			out = append(out, fmt.Sprintf("%s: %s → %s", k, va, vb))
		}
	}
	for k, vb := range fb {
		if _, ok := fa[k]; !ok {
			out = append(out, fmt.Sprintf("%s: (unset) → %s", k, vb))
		}
	}
	sort.Strings(out)
	return out
}

// flatConfig turns a config into dotted keys and their YAML values.
func flatConfig(c *scoring.Config) map[string]string {
	data, err := c.Marshal()
	if err != nil {
		return nil
	}
	var doc map[string]any
	if yaml.Unmarshal(data, &doc) != nil {
		return nil
	}
	out := map[string]string{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch t := v.(type) {
		case map[string]any:
			for k, sub := range t {
				if prefix == "" {
					walk(k, sub)
				} else {
					walk(prefix+"."+k, sub)
				}
			}
		default:
			out[prefix] = fmt.Sprint(t)
		}
	}
	walk("", doc)
	return out
}
