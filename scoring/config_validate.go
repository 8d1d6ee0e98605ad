package scoring

// The rules of a Config: Validate, and the check that runs them on a
// parsed file and on each site.

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/lingerhq/linger/schemas"
	"go.yaml.in/yaml/v3"
)

// Validate returns every problem with c at once, its own values' and its
// sites', as a *ConfigError, or nil. The problems of c's own values have no
// line (c holds no file); those of a site's overrides have the lines of the
// nodes in Sites.
func (c *Config) Validate() error {
	problems, _ := c.check(nil, nil)
	return newConfigError(problems)
}

// check applies the rules to c's own values (located in root, the file's
// top node, when there is one) and to each site's overrides over them. It
// returns the problems, and each site's config when there are none.
// dropped are the entries of root left out as malformed: see walker.
func (c *Config) check(root *yaml.Node, dropped []path) ([]ConfigProblem, map[string]*Config) {
	var problems []ConfigProblem
	own := c.validate()
	said := make(map[string]bool, len(own))
	for _, is := range own {
		said[is.key.String()+"\x00"+is.msg] = true
		if is.covered(dropped) {
			continue
		}
		line, _ := is.place(root)
		problems = append(problems, ConfigProblem{Line: line, Key: is.key.String(), Message: is.msg})
	}
	sites := make(map[string]*Config, len(c.Sites))
	for _, name := range sortedKeys(c.Sites) {
		node := c.Sites[name]
		prefix := path{"sites", name}
		siteLine := node.Line
		if l, ok := locate(root, prefix); ok {
			siteLine = l
		}
		sc := c.clone()
		sc.Sites = nil
		n := len(problems)
		var siteDropped []path
		if !isNull(deref(&node)) {
			w := walker{prefix: prefix, site: true}
			clean, ok := w.walk(&node, configType, nil)
			problems = append(problems, w.problems...)
			if !ok {
				continue
			}
			if err := clean.Decode(sc); err != nil {
				problems = append(problems, ConfigProblem{Line: siteLine, Key: prefix.String(), Message: undecodable(err)})
				continue
			}
			siteDropped = w.dropped
		}
		for _, is := range sc.validate() {
			if is.covered(siteDropped) {
				continue
			}
			line, exact := is.place(&node)
			if !exact {
				// Not a value the site sets: a problem of the
				// defaults' own values, reported there once, or
				// one that the site's values make with them.
				if said[is.key.String()+"\x00"+is.msg] {
					continue
				}
				line = siteLine
			}
			problems = append(problems, ConfigProblem{Line: line, Key: prefix.with(is.key...).String(), Message: is.msg})
		}
		if len(problems) == n {
			sites[name] = sc
		}
	}
	return problems, sites
}

// validate applies the rules to c's own values (not its sites'), each
// issue naming its key.
func (c *Config) validate() []issue {
	var issues []issue
	bad := func(key path, format string, args ...any) {
		issues = append(issues, issue{key: key, msg: fmt.Sprintf(format, args...)})
	}
	badAt := func(key path, at []path, format string, args ...any) {
		issues = append(issues, issue{key: key, at: at, msg: fmt.Sprintf(format, args...)})
	}
	pos := func(key string, d time.Duration) {
		if d <= 0 {
			bad(path{key}, "must be positive, got %v", d)
		}
	}
	nonNeg := func(key path, d time.Duration) {
		if d < 0 {
			bad(key, "must not be negative, got %v", d)
		}
	}
	pos("session_timeout", c.SessionTimeout)
	pos("window", c.Window)
	pos("invite_ttl", c.InviteTTL)
	nonNeg(path{"breathing_space"}, c.BreathingSpace)
	nonNeg(path{"allowed_lateness"}, c.AllowedLateness)
	nonNeg(path{"silence"}, c.Silence)
	nonNeg(path{"silence_max"}, c.SilenceMax)
	nonNeg(path{"cooldown"}, c.Cooldown)
	if c.MaxInvitesPerSession < 0 || c.MaxInvitesPerSession > 255 {
		bad(path{"max_invites_per_session"}, "must be between 0 and 255, got %d", c.MaxInvitesPerSession)
	}
	pageKinds := func(key path, kinds []string) {
		for i, k := range kinds {
			if _, ok := schemas.ParsePageKind(k); !ok {
				badAt(key, []path{key.with(index(i))}, "%q is not a page kind (%s)", k, strings.Join(schemas.PageKinds(), ", "))
			}
		}
	}
	pageKinds(path{"eligible_pages"}, c.EligiblePages)
	pageKinds(path{"silence_pages"}, c.SilencePages)
	teamName := func(key path, team string) {
		if strings.Contains(team, "/") || len(team) > schemas.MaxIDBytes {
			bad(key, "want a team name of at most %d bytes without '/' (capacity records are keyed site/team), got %q", schemas.MaxIDBytes, team)
		}
	}
	for m := range numModels {
		name := modelNames[m]
		if t := *c.Thresholds.at(m); !(t > 0 && t <= 1) {
			bad(path{"thresholds", name}, "must be more than 0 and at most 1, got %v", t)
		}
		if team := *c.Teams.at(m); team == "" {
			bad(path{"teams", name}, "must not be empty")
		} else {
			teamName(path{"teams", name}, team)
		}
		mc := c.Models.at(m)
		if !finite(mc.Bias) {
			bad(path{"models", name, "bias"}, "want a finite number, got %v", mc.Bias)
		}
		weights := path{"models", name, "weights"}
		for _, k := range sortedKeys(mc.Weights) {
			if SignalByName(k) == nil {
				badAt(weights, []path{weights.with(k)}, "%s", unknownSignal(k))
			} else if !finite(mc.Weights[k]) {
				bad(weights.with(k), "want a finite number, got %v", mc.Weights[k])
			}
		}
	}
	if !(c.HoldoutPercent >= 0 && c.HoldoutPercent <= 100) {
		bad(path{"holdout_percent"}, "must be between 0 and 100, got %v", c.HoldoutPercent)
	}
	for i, r := range c.Routes {
		at := path{"routes", index(i)}
		if r.Reason != "" && modelIndex(r.Reason) < 0 {
			bad(at.with("reason"), "%q is not a reason (abandonment, confusion)", r.Reason)
		}
		pageKinds(at.with("kinds"), r.Kinds)
		if r.Team == "" {
			badAt(at.with("team"), []path{at.with("team"), at}, "must not be empty")
		} else {
			teamName(at.with("team"), r.Team)
		}
		if len(r.URL) > schemas.MaxURLBytes {
			bad(at.with("url"), "must be at most %d bytes long, got %d", schemas.MaxURLBytes, len(r.URL))
		}
	}
	if c.MaxPageViewsPerMinute < 0 {
		bad(path{"max_page_views_per_minute"}, "must not be negative, got %d", c.MaxPageViewsPerMinute)
	}
	if fc := c.FrequencyCap; fc.Invites < 0 || fc.Invites > MaxCapInvites {
		bad(path{"frequency_cap", "invites"}, "must be between 0 and %d, got %d", MaxCapInvites, fc.Invites)
	} else if fc.Invites > 0 && fc.Per <= 0 {
		badAt(path{"frequency_cap", "per"}, []path{{"frequency_cap", "per"}, {"frequency_cap", "invites"}},
			"must be positive while invites is above 0, got %v", fc.Per)
	}
	cc := c.Capacity
	if !(cc.InvitesPerSlot > 0) || !finite(cc.InvitesPerSlot) {
		bad(path{"capacity", "invites_per_slot"}, "must be positive, got %v", cc.InvitesPerSlot)
	}
	if !(cc.ScarceRaise >= 0 && cc.ScarceRaise <= 1) {
		bad(path{"capacity", "scarce_raise"}, "must be between 0 and 1, got %v", cc.ScarceRaise)
	}
	nonNeg(path{"capacity", "stale_after"}, cc.StaleAfter)
	if !(cc.StaticPerMinute >= 0) || !finite(cc.StaticPerMinute) {
		bad(path{"capacity", "static_invites_per_minute"}, "must not be negative, got %v", cc.StaticPerMinute)
	}
	if !(cc.StaticBurst >= 0) || !finite(cc.StaticBurst) {
		bad(path{"capacity", "static_burst"}, "must not be negative, got %v", cc.StaticBurst)
	}
	// A band's bounds: each a percentage, the lower not above the upper.
	percentBand := func(key string, lo, hi float64) {
		loOK, hiOK := lo >= 0 && lo <= 100, hi >= 0 && hi <= 100
		if !loOK {
			bad(path{key, "min_percent"}, "must be between 0 and 100, got %v", lo)
		}
		if !hiOK {
			bad(path{key, "max_percent"}, "must be between 0 and 100, got %v", hi)
		}
		if loOK && hiOK && lo > hi {
			badAt(path{key}, []path{{key, "max_percent"}, {key, "min_percent"}},
				"min_percent (%v) must not be above max_percent (%v)", lo, hi)
		}
	}
	rb := c.RateBand
	percentBand("rate_band", rb.MinPercent, rb.MaxPercent)
	if rb.Window < time.Second {
		bad(path{"rate_band", "window"}, "must be at least 1s, got %v", rb.Window)
	}
	if rb.Every <= 0 {
		bad(path{"rate_band", "every"}, "must be positive, got %v", rb.Every)
	}
	if !(rb.Step > 0 && rb.Step <= 1) {
		bad(path{"rate_band", "step"}, "must be more than 0 and at most 1, got %v", rb.Step)
	}
	if !(rb.MinOffset >= -1 && rb.MinOffset <= 0) {
		bad(path{"rate_band", "min_offset"}, "must be between -1 and 0, got %v", rb.MinOffset)
	}
	if !(rb.MaxOffset >= 0 && rb.MaxOffset <= 1) {
		bad(path{"rate_band", "max_offset"}, "must be between 0 and 1, got %v", rb.MaxOffset)
	}
	if rb.MinSessions < 0 {
		bad(path{"rate_band", "min_sessions"}, "must not be negative, got %d", rb.MinSessions)
	}
	ab := c.AcceptanceBand
	percentBand("acceptance_band", ab.MinPercent, ab.MaxPercent)
	if ab.Window < time.Minute {
		bad(path{"acceptance_band", "window"}, "must be at least 1m, got %v", ab.Window)
	}
	if ab.MinShown < 0 {
		bad(path{"acceptance_band", "min_shown"}, "must not be negative, got %d", ab.MinShown)
	}
	if ab.Controller && rb.Controller {
		// Two controllers on one threshold would fight: one steers the
		// share of sessions invited, the other the share of invites
		// accepted, and nothing keeps them from pulling apart.
		badAt(path{"acceptance_band", "controller"}, []path{{"acceptance_band", "controller"}, {"rate_band", "controller"}},
			"cannot be on while rate_band.controller is on too: only one controller may steer a site's thresholds")
	}
	for _, k := range sortedKeys(c.Scales) {
		if SignalByName(k) == nil {
			badAt(path{"scales"}, []path{{"scales", k}}, "%s", unknownSignal(k))
		} else if v := c.Scales[k]; !(v > 0) || !finite(v) {
			bad(path{"scales", k}, "must be positive, got %v", v)
		}
	}
	return issues
}

// unknownSignal is the message for a weight or scale of a signal that does
// not exist, with the signal it is most likely a typo of.
func unknownSignal(name string) string {
	names := make([]string, len(registry))
	for i, s := range registry {
		names[i] = s.Name
	}
	if s := closest(name, names); s != "" {
		return fmt.Sprintf("%q is not a signal (did you mean %q?)", name, s)
	}
	return fmt.Sprintf("%q is not a signal (see `linger config --signals`)", name)
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }
