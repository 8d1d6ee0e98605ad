package scoring

import (
	"fmt"
	"hash/fnv"
	"math"
	"sort"
	"time"

	"github.com/lingerhq/linger/schemas"
	"go.yaml.in/yaml/v3"
)

// Config is the scoring config a data engineer edits: windows, policy,
// thresholds and model weights, with per-site overrides. Its zero value is
// not useful; start from DefaultConfig or ParseConfig, which fills in
// defaults for whatever the file leaves out.
type Config struct {
	// SessionTimeout ends a session after this much event-time inactivity;
	// its state is then dropped. Default: 30m.
	SessionTimeout time.Duration `yaml:"session_timeout"`
	// AllowedLateness: a partition's watermark trails the newest event time
	// by this much, so events up to this late still count before timers
	// fire; later ones are applied and counted as late. Default: 5s.
	AllowedLateness time.Duration `yaml:"allowed_lateness"`
	// Silence is how long a visitor may be quiet on a silence page before a
	// timer checks on them (again every Silence, up to SilenceMax), so a
	// visitor who stops sending events is noticed. Default: 30s; 0 turns
	// silence timers off.
	Silence time.Duration `yaml:"silence"`
	// SilenceMax stops the silence checks after this much silence.
	// Default: 5m.
	SilenceMax time.Duration `yaml:"silence_max"`
	// SilencePages are the page kinds silence is checked on.
	// Default: [cart, checkout, pricing].
	SilencePages []string `yaml:"silence_pages"`
	// Window is the time constant of the decayed counters (rage clicks,
	// errors, exit intents): an event counts fully now, 37% one window
	// later. Default: 1m.
	Window time.Duration `yaml:"window"`
	// BreathingSpace: no invite in the first this much of a session.
	// Default: 15s.
	BreathingSpace time.Duration `yaml:"breathing_space"`
	// InviteTTL: a front-end does not show an invite this long after the
	// decision (expires_at). Default: 60s.
	InviteTTL time.Duration `yaml:"invite_ttl"`
	// Cooldown is the least time between two invites of a session.
	// Default: 5m.
	Cooldown time.Duration `yaml:"cooldown"`
	// MaxInvitesPerSession caps invites per session. Default: 1.
	MaxInvitesPerSession int `yaml:"max_invites_per_session"`
	// EligiblePages are the page kinds an invite may be shown on.
	// Default: [cart, checkout, pricing, product].
	EligiblePages []string `yaml:"eligible_pages"`
	// Thresholds per reason: a model's score must reach its threshold.
	// Default: 0.7 each.
	Thresholds PerReason[float64] `yaml:"thresholds"`
	// HoldoutPercent of sessions (by a hash of the session id) form the
	// control group: decided, marked holdout, not to be shown. Default: 0.
	HoldoutPercent float64 `yaml:"holdout_percent"`
	// Teams routes each reason to a chat team when no rule of Routes
	// matches. Default: abandonment → sales, confusion → service.
	Teams PerReason[string] `yaml:"teams"`
	// Routes send a decision to a chat team by reason, page kind and URL:
	// the first rule that matches wins; a decision no rule matches goes to
	// its reason's team in Teams. A rule with eligible: true also makes the
	// pages it matches eligible for invites (for that reason), whatever
	// their kind. Default: none.
	Routes []Route `yaml:"routes"`
	// MaxPageViewsPerMinute: a session with more page views than this
	// within a minute of event time is not a human (a crawler the collector
	// did not flag). It is marked for the rest of the session and never
	// invited (outcome inhuman_rate). Default: 60; 0 turns the check off.
	MaxPageViewsPerMinute int `yaml:"max_page_views_per_minute"`
	// FrequencyCap limits invites per visitor across sessions, by event
	// time. It is enforced when the engine has a VisitorCaps table
	// (WithVisitorCaps). Default: 1 invite per 24h; invites: 0 turns it off.
	FrequencyCap FrequencyCap `yaml:"frequency_cap"`
	// Capacity turns the chat teams' capacity (chat-capacity records) into
	// invite budgets; see CapacityConfig.
	Capacity CapacityConfig `yaml:"capacity"`
	// RateBand measures, per site, the invite share: the share of eligible
	// sessions that are invited, against a band, and can steer the
	// thresholds to keep it there; see RateBandConfig. It is named for what
	// it measures, which is not acceptance (AcceptanceBand).
	RateBand RateBandConfig `yaml:"rate_band"`
	// AcceptanceBand measures, per site, acceptance: the share of the
	// invites shown that visitors accepted, against a band, and can steer
	// the thresholds towards it; see AcceptanceBandConfig. Only one of the
	// two controllers may be on for a site.
	AcceptanceBand AcceptanceBandConfig `yaml:"acceptance_band"`
	// Models holds the bias and weights of each model; a signal left out
	// keeps its default weight, a weight of 0 turns it off.
	Models PerReason[ModelConfig] `yaml:"models"`
	// Scales overrides signals' full-strength values (Signal.Scale).
	Scales map[string]float64 `yaml:"scales,omitempty"`
	// Sites holds per-site overrides: any of the keys above, for events
	// whose "site" matches.
	Sites map[string]yaml.Node `yaml:"sites,omitempty"`

	base  *Settings
	sites map[string]*Settings
	// teams maps every team a decision can go to (the defaults' and the
	// sites' teams and routes) to itself: the team label of metrics.
	teams map[string]string
	// accept: some site has the acceptance controller on.
	accept bool
}

// Route is one rule of Config.Routes. Every condition that is set must
// hold for the rule to match.
type Route struct {
	// Reason is abandonment or confusion; empty matches both.
	Reason string `yaml:"reason,omitempty"`
	// Kinds are page kinds; empty matches any.
	Kinds []string `yaml:"kinds,omitempty"`
	// URL is a glob on the page URL as the events send it: '*' matches
	// any run of bytes ('/' and '?' included), '?' any one byte, anything
	// else itself; the whole URL must match. Empty matches any.
	URL string `yaml:"url,omitempty"`
	// Team is the chat team the decision goes to. Required.
	Team string `yaml:"team"`
	// Eligible makes the pages the rule matches eligible for invites even
	// if their kind is not in eligible_pages.
	Eligible bool `yaml:"eligible,omitempty"`
}

// FrequencyCap is at most Invites invites per visitor within any span of
// Per, across the visitor's sessions.
type FrequencyCap struct {
	// Invites allowed per visitor within Per; at most MaxCapInvites.
	// Default: 1; 0 turns the cap off.
	Invites int `yaml:"invites"`
	// Per is the span. Default: 24h.
	Per time.Duration `yaml:"per"`
}

// CapacityConfig turns capacity into invite budgets. Per partition, a
// team's budget is a bucket of tokens: it holds at most
// free_slots × invites_per_slot ÷ partitions and refills at
// agents × invites_per_slot ÷ avg_handle_s ÷ partitions tokens a second,
// from the latest chat-capacity record at or before the decision's event
// time; an invite spends one (see Budget for the whole rule).
type CapacityConfig struct {
	// InvitesPerSlot is how many invites one free slot is worth: more
	// than 1 when many invites are declined or ignored. Default: 1.
	InvitesPerSlot float64 `yaml:"invites_per_slot"`
	// ScarceRaise is how far the threshold rises as a team's budget runs
	// out, as a share of the distance from the threshold to 1: the score
	// must reach threshold + scarce_raise × (1 − threshold) × (1 − fill),
	// fill being the bucket's tokens ÷ its size. Default: 0.5; 0 turns it off.
	ScarceRaise float64 `yaml:"scarce_raise"`
	// StaleAfter: a capacity record older than this at the decision's
	// event time no longer counts, and the static budget applies.
	// Default: 0, a record counts until a newer one replaces it.
	StaleAfter time.Duration `yaml:"stale_after"`
	// StaticPerMinute is a team's budget without capacity data: invites a
	// minute for the whole site's team, split over the partitions like
	// capacity. Default: 0, unlimited.
	StaticPerMinute float64 `yaml:"static_invites_per_minute"`
	// StaticBurst is the most invites the static budget lets out at once
	// (the bucket's size). Default: 0, one minute's worth.
	StaticBurst float64 `yaml:"static_burst"`
}

// RateBandConfig is the invite-share band of a site: the share of eligible
// sessions (sessions that reached a moment where the policy would invite
// them, whatever their score) that were invited, over a sliding window of
// event time, holdout included. It says how many visitors are approached,
// not how many welcome it: that is acceptance (AcceptanceBandConfig).
type RateBandConfig struct {
	// MinPercent and MaxPercent bound the band. Default: 3 and 10.
	MinPercent float64 `yaml:"min_percent"`
	MaxPercent float64 `yaml:"max_percent"`
	// Window is the sliding window the share is measured over.
	// Default: 1h.
	Window time.Duration `yaml:"window"`
	// Controller turns on the controller: every Every of event time, when
	// at least MinSessions eligible sessions are in the window, it lowers
	// the thresholds by Step while the share is under the band and raises
	// them by Step while it is over, within [MinOffset, MaxOffset].
	// Default: false.
	Controller bool `yaml:"controller"`
	// Step is the threshold change of one adjustment. Default: 0.02.
	Step float64 `yaml:"step"`
	// Every is the event time between adjustments. Default: 5m.
	Every time.Duration `yaml:"every"`
	// MinOffset and MaxOffset bound the controller's threshold offset.
	// Default: -0.1 and 0.1.
	MinOffset float64 `yaml:"min_offset"`
	MaxOffset float64 `yaml:"max_offset"`
	// MinSessions is the fewest eligible sessions in the window (in one
	// partition) for the controller to act on the share. Default: 20.
	MinSessions int `yaml:"min_sessions"`
}

// AcceptanceBandConfig is the acceptance band of a site: of the invites
// its chat front-ends reported shown (invite_shown, or an answer that
// implies it), the share the visitor accepted (invite_accepted or
// chat_started), over a sliding window of event time, holdout invites left
// out. Healthy proactive chat sits between 3% and 10%: below, invites
// reach the wrong visitors or the wrong moment; above, more visitors would
// welcome one.
//
// With Controller on, each partition moves the site's thresholds towards
// the band by event time: up by AcceptanceStep while acceptance is below
// it (fewer, better-chosen invites), down while above it, at most one
// step every Window/4 and at most AcceptanceMaxOffset either way. It steps
// only when at least MinShown invites were shown in the partition's window
// (since its last step, if later) and the 95% Wilson interval of their
// acceptance lies wholly outside the band. Feedback counts by its ts once
// the partition's watermark has passed it (see Budget).
type AcceptanceBandConfig struct {
	// MinPercent and MaxPercent bound the band. Default: 3 and 10.
	MinPercent float64 `yaml:"min_percent"`
	MaxPercent float64 `yaml:"max_percent"`
	// Window is the sliding window acceptance is measured over; the
	// controller steps at most once every quarter of it. Default: 1h.
	Window time.Duration `yaml:"window"`
	// MinShown is the fewest invites shown in the window (in one
	// partition) for the controller to act on their acceptance.
	// Default: 200.
	MinShown int `yaml:"min_shown"`
	// Controller turns on the controller. Default: false.
	Controller bool `yaml:"controller"`
}

// The acceptance controller's step and bound: a threshold moves by
// AcceptanceStep at a time, and never more than AcceptanceMaxOffset from
// its configured value (a threshold stays in (0, 1] whatever the offset).
const (
	AcceptanceStep      = 0.02
	AcceptanceMaxOffset = 0.2
)

// MaxCapInvites bounds FrequencyCap.Invites: a visitor's record keeps the
// times of their latest MaxCapInvites invites.
const MaxCapInvites = 16

// PerReason holds one value per decision reason.
type PerReason[T any] struct {
	Abandonment T `yaml:"abandonment"`
	Confusion   T `yaml:"confusion"`
}

func (p *PerReason[T]) at(model int) *T {
	if model == Abandonment {
		return &p.Abandonment
	}
	return &p.Confusion
}

// ModelConfig is one logistic model: score = 1/(1+exp(-(bias + Σ w·x))).
type ModelConfig struct {
	Bias    float64            `yaml:"bias"`
	Weights map[string]float64 `yaml:"weights"`
}

// Default model biases: a session with no signal at all scores 0.007 for
// abandonment and 0.011 for confusion. Confusion needs less evidence: its
// signals (errors, rage clicks) are rarely innocent, while a quiet buyer may
// just be fetching a card.
const (
	defaultAbandonmentBias = -5
	defaultConfusionBias   = -4.5
)

// DefaultConfig returns the defaults documented on each Config field, with
// every registered signal's default weight.
func DefaultConfig() *Config {
	c := &Config{
		SessionTimeout:        30 * time.Minute,
		AllowedLateness:       5 * time.Second,
		Silence:               30 * time.Second,
		SilenceMax:            5 * time.Minute,
		SilencePages:          []string{"cart", "checkout", "pricing"},
		Window:                time.Minute,
		BreathingSpace:        15 * time.Second,
		InviteTTL:             60 * time.Second,
		Cooldown:              5 * time.Minute,
		MaxInvitesPerSession:  1,
		EligiblePages:         []string{"cart", "checkout", "pricing", "product"},
		Thresholds:            PerReason[float64]{Abandonment: 0.7, Confusion: 0.7},
		Teams:                 PerReason[string]{Abandonment: "sales", Confusion: "service"},
		Routes:                []Route{},
		MaxPageViewsPerMinute: 60,
		FrequencyCap:          FrequencyCap{Invites: 1, Per: 24 * time.Hour},
		Capacity:              CapacityConfig{InvitesPerSlot: 1, ScarceRaise: 0.5},
		RateBand: RateBandConfig{
			MinPercent: 3, MaxPercent: 10, Window: time.Hour,
			Step: 0.02, Every: 5 * time.Minute, MinOffset: -0.1, MaxOffset: 0.1, MinSessions: 20,
		},
		AcceptanceBand: AcceptanceBandConfig{MinPercent: 3, MaxPercent: 10, Window: time.Hour, MinShown: 200},
		Models: PerReason[ModelConfig]{
			Abandonment: ModelConfig{Bias: defaultAbandonmentBias, Weights: map[string]float64{}},
			Confusion:   ModelConfig{Bias: defaultConfusionBias, Weights: map[string]float64{}},
		},
	}
	for _, s := range registry {
		c.Models.Abandonment.Weights[s.Name] = s.Weights[Abandonment]
		c.Models.Confusion.Weights[s.Name] = s.Weights[Confusion]
	}
	if problems := c.resolve(nil, nil); len(problems) > 0 {
		panic("BUG: default config does not validate: " + newConfigError(problems).Error())
	}
	return c
}

// ParseConfig reads a YAML config over the defaults: keys the file leaves out
// keep their default. Unknown keys are errors (a typo must not silently
// leave a default in place). Every problem is reported at once, each with
// its line, as a *ConfigError: unknown keys, values of the wrong type and
// the rules of Validate, for the defaults and for every site.
func ParseConfig(data []byte) (*Config, error) {
	c := DefaultConfig()
	c.base, c.sites = nil, nil
	root, problems := parseDocument(data)
	var dropped []path
	if root != nil {
		w := walker{}
		if clean, ok := w.walk(root, configType, nil); ok {
			if err := clean.Decode(c); err != nil {
				problems = append(problems, ConfigProblem{Message: undecodable(err)})
			}
		}
		problems = append(problems, w.problems...)
		dropped = w.dropped
	}
	problems = append(problems, c.resolve(root, dropped)...)
	if err := newConfigError(problems); err != nil {
		return nil, err
	}
	return c, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// resolve checks c (root: the file's top node, for line numbers, or nil;
// dropped: see walker) and, when there is no problem, builds the Settings
// used on the hot path.
func (c *Config) resolve(root *yaml.Node, dropped []path) []ConfigProblem {
	problems, sites := c.check(root, dropped)
	if len(problems) > 0 {
		return problems
	}
	c.base = c.settings()
	c.sites = make(map[string]*Settings, len(sites))
	for name, sc := range sites {
		s := sc.settings()
		s.Site = name
		c.sites[name] = s
	}
	c.teams = map[string]string{}
	c.accept = false
	for _, s := range append([]*Settings{c.base}, mapValues(c.sites)...) {
		for _, t := range s.Team {
			c.teams[string(t)] = string(t)
		}
		for _, r := range s.Routes {
			c.teams[string(r.team)] = string(r.team)
		}
		c.accept = c.accept || s.Accept.controller
	}
	return nil
}

func mapValues[V any](m map[string]V) []V {
	out := make([]V, 0, len(m))
	for _, k := range sortedKeys(m) {
		out = append(out, m[k])
	}
	return out
}

// clone deep-copies the overridable part of c, so a site override can be
// decoded over it without touching c.
func (c *Config) clone() *Config {
	n := *c
	n.EligiblePages = append([]string(nil), c.EligiblePages...)
	n.SilencePages = append([]string(nil), c.SilencePages...)
	n.Models.Abandonment.Weights = cloneMap(c.Models.Abandonment.Weights)
	n.Models.Confusion.Weights = cloneMap(c.Models.Confusion.Weights)
	n.Scales = cloneMap(c.Scales)
	n.Sites = cloneMap(c.Sites)
	n.Routes = make([]Route, len(c.Routes))
	for i, r := range c.Routes {
		r.Kinds = append([]string(nil), r.Kinds...)
		n.Routes[i] = r
	}
	n.base, n.sites, n.teams = nil, nil, nil
	return &n
}

func cloneMap[V any](m map[string]V) map[string]V {
	if m == nil {
		return nil
	}
	n := make(map[string]V, len(m))
	for k, v := range m {
		n[k] = v
	}
	return n
}

// For returns the settings for events of site: the site's override if the
// config has one, else the defaults. It does not allocate.
func (c *Config) For(site []byte) *Settings {
	if len(site) > 0 && len(c.sites) > 0 {
		if s, ok := c.sites[string(site)]; ok {
			return s
		}
	}
	return c.base
}

// budgetSite is the key under which the budget keeps a site's bands and
// static buckets: the site if the config names it (or none), else
// LabelOther, shared by every other site.
func (c *Config) budgetSite(site []byte) []byte {
	if len(site) == 0 {
		return site
	}
	if _, ok := c.sites[string(site)]; ok {
		return site
	}
	return labelOtherBytes
}

var labelOtherBytes = []byte(LabelOther)

// LabelOther is the site or team label of metrics for a site the config
// does not name, or a team none of its decisions goes to.
const LabelOther = "other"

// Labels returns the site and team labels of per-team metrics: site itself
// if it is one the config names ("" for events without a site), team
// itself if a decision of the config can go to it, and LabelOther for the
// rest, so that a series exists only for what the config names, whatever
// records say. It does not allocate.
func (c *Config) Labels(site, team []byte) (siteLabel, teamLabel string) {
	siteLabel, teamLabel = LabelOther, LabelOther
	if len(site) == 0 {
		siteLabel = ""
	} else if s, ok := c.sites[string(site)]; ok {
		siteLabel = s.Site
	}
	if t, ok := c.teams[string(team)]; ok {
		teamLabel = t
	}
	return siteLabel, teamLabel
}

// forSite is For for a site name held as a string.
func (c *Config) forSite(site string) *Settings {
	if site != "" {
		if s, ok := c.sites[site]; ok {
			return s
		}
	}
	return c.base
}

// LongestSessionTimeout returns the longest session timeout of the
// defaults and every site: how long a session's state must survive in the
// processor's cache.
func (c *Config) LongestSessionTimeout() time.Duration {
	ms := c.base.SessionTimeoutMs
	for _, s := range c.sites {
		ms = max(ms, s.SessionTimeoutMs)
	}
	return time.Duration(ms) * time.Millisecond
}

// Settings are a Config resolved for one site, in the form the hot path
// uses: times in ms, weights in arrays indexed like Signals().
type Settings struct {
	// Site is the site these settings are for, "" for the defaults.
	Site string

	SessionTimeoutMs  int64
	AllowedLatenessMs int64
	SilenceMs         int64
	SilenceMaxMs      int64
	SilencePage       [16]bool // by schemas.PageKind
	WindowMs          int64
	BreathingMs       int64
	InviteTTLMs       int64
	CooldownMs        int64
	MaxInvites        uint32
	Eligible          [16]bool // by schemas.PageKind
	Threshold         [numModels]float64
	// HoldoutBasisPoints of sessions (out of 10000) are held out.
	HoldoutBasisPoints uint64
	Team               [numModels][]byte
	// Routes are Config.Routes compiled; RouteEligible says whether any
	// of them makes pages eligible.
	Routes        []route
	RouteEligible bool
	// MaxViewsPerMinute is max_page_views_per_minute (0: off).
	MaxViewsPerMinute uint32
	// CapInvites within CapPerMs per visitor (CapInvites 0: off).
	CapInvites int
	CapPerMs   int64
	// Capacity, resolved: see CapacityConfig.
	InvitesPerSlot  float64
	ScarceRaise     float64
	StaleAfterMs    int64
	StaticPerMinute float64
	StaticBurst     float64
	// Band is the rate band, resolved: shares in 0..1, times in ms.
	Band bandSettings
	// Accept is the acceptance band, resolved likewise.
	Accept acceptSettings
	Bias   [numModels]float64
	Weight [numModels]Vector
	Scale  Vector

	// Model is a stable name of these settings ("m1-" and a hash of every
	// value above): a decision says which config made it.
	Model []byte
}

func (c *Config) settings() *Settings {
	s := &Settings{
		SessionTimeoutMs:  c.SessionTimeout.Milliseconds(),
		AllowedLatenessMs: c.AllowedLateness.Milliseconds(),
		SilenceMs:         c.Silence.Milliseconds(),
		SilenceMaxMs:      c.SilenceMax.Milliseconds(),
		WindowMs:          c.Window.Milliseconds(),
		BreathingMs:       c.BreathingSpace.Milliseconds(),
		InviteTTLMs:       c.InviteTTL.Milliseconds(),
		CooldownMs:        c.Cooldown.Milliseconds(),
		MaxInvites:        uint32(c.MaxInvitesPerSession),
		// Round, so that 12.5% is 1250 points and not 1249.
		HoldoutBasisPoints: uint64(math.Round(c.HoldoutPercent * 100)),
	}
	if s.WindowMs <= 0 {
		s.WindowMs = 1
	}
	for _, k := range c.EligiblePages {
		kind, _ := schemas.ParsePageKind(k)
		s.Eligible[kind] = true
	}
	for _, k := range c.SilencePages {
		kind, _ := schemas.ParsePageKind(k)
		s.SilencePage[kind] = true
	}
	for _, r := range c.Routes {
		cr := route{team: []byte(r.Team), eligible: r.Eligible, url: []byte(r.URL), reasons: 1<<numModels - 1}
		if r.Reason != "" {
			cr.reasons = 1 << modelIndex(r.Reason)
		}
		for _, k := range r.Kinds {
			kind, _ := schemas.ParsePageKind(k)
			cr.kinds |= 1 << kind
		}
		s.Routes = append(s.Routes, cr)
		s.RouteEligible = s.RouteEligible || r.Eligible
	}
	s.MaxViewsPerMinute = uint32(c.MaxPageViewsPerMinute)
	if c.FrequencyCap.Invites > 0 {
		s.CapInvites, s.CapPerMs = c.FrequencyCap.Invites, c.FrequencyCap.Per.Milliseconds()
	}
	cc := c.Capacity
	s.InvitesPerSlot, s.ScarceRaise, s.StaleAfterMs = cc.InvitesPerSlot, cc.ScarceRaise, cc.StaleAfter.Milliseconds()
	s.StaticPerMinute, s.StaticBurst = cc.StaticPerMinute, cc.StaticBurst
	if s.StaticPerMinute > 0 && s.StaticBurst == 0 {
		s.StaticBurst = s.StaticPerMinute
	}
	rb := c.RateBand
	s.Band = bandSettings{
		min: rb.MinPercent / 100, max: rb.MaxPercent / 100, windowMs: max(rb.Window.Milliseconds(), 1000),
		controller: rb.Controller, step: rb.Step, everyMs: max(rb.Every.Milliseconds(), 1),
		minOffset: rb.MinOffset, maxOffset: rb.MaxOffset, minSessions: uint32(rb.MinSessions),
	}
	ab := c.AcceptanceBand
	s.Accept = acceptSettings{
		min: ab.MinPercent / 100, max: ab.MaxPercent / 100, windowMs: max(ab.Window.Milliseconds(), 60_000),
		minShown: uint32(min(ab.MinShown, math.MaxUint32)), controller: ab.Controller,
	}
	for m := range numModels {
		s.Threshold[m] = *c.Thresholds.at(m)
		s.Team[m] = []byte(*c.Teams.at(m))
		mc := c.Models.at(m)
		s.Bias[m] = mc.Bias
		for _, sig := range registry {
			w, ok := mc.Weights[sig.Name]
			if !ok {
				w = sig.Weights[m]
			}
			s.Weight[m][sig.index] = w
		}
	}
	for _, sig := range registry {
		s.Scale[sig.index] = sig.Scale
		if v, ok := c.Scales[sig.Name]; ok {
			s.Scale[sig.index] = v
		}
	}
	s.Model = []byte(fmt.Sprintf("m1-%08x", s.hash()))
	return s
}

// hash covers every value that can change a decision, in a fixed order.
func (s *Settings) hash() uint32 {
	h := fnv.New32a()
	fmt.Fprintf(h, "%d %d %d %d %d %d %v %v %d %q %v\n", s.SessionTimeoutMs, s.WindowMs, s.BreathingMs,
		s.InviteTTLMs, s.CooldownMs, s.MaxInvites, s.Eligible, s.Threshold, s.HoldoutBasisPoints, s.Team, s.Bias)
	fmt.Fprintf(h, "timers %d %d %d %v\n", s.AllowedLatenessMs, s.SilenceMs, s.SilenceMaxMs, s.SilencePage)
	fmt.Fprintf(h, "loop %d %d %d %v %v %d %v %v %+v\n", s.MaxViewsPerMinute, s.CapInvites, s.CapPerMs, s.InvitesPerSlot,
		s.ScarceRaise, s.StaleAfterMs, s.StaticPerMinute, s.StaticBurst, s.Band)
	if s.Accept.controller {
		// Only with its controller on does the acceptance band change a
		// decision: a config that merely measures keeps its model name.
		fmt.Fprintf(h, "acceptance %+v\n", s.Accept)
	}
	for _, r := range s.Routes {
		fmt.Fprintf(h, "route %d %d %q %q %v\n", r.reasons, r.kinds, r.url, r.team, r.eligible)
	}
	for _, sig := range registry {
		fmt.Fprintf(h, "%s %v %v %v\n", sig.Name, s.Weight[Abandonment][sig.index], s.Weight[Confusion][sig.index], s.Scale[sig.index])
	}
	return h.Sum32()
}

// Model returns the model name of the default settings.
func (c *Config) Model() string { return string(c.base.Model) }

// SiteNames returns the sites that have overrides, sorted.
func (c *Config) SiteNames() []string { return sortedKeys(c.sites) }

// Marshal returns c as YAML, as a file that ParseConfig reads back.
func (c *Config) Marshal() ([]byte, error) {
	return yaml.Marshal(c)
}
