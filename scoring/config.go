package scoring

import (
	"bytes"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"sort"
	"strings"
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
	// Teams routes each reason to a chat team.
	// Default: abandonment → sales, confusion → service.
	Teams PerReason[string] `yaml:"teams"`
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
}

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
		SessionTimeout:       30 * time.Minute,
		AllowedLateness:      5 * time.Second,
		Silence:              30 * time.Second,
		SilenceMax:           5 * time.Minute,
		SilencePages:         []string{"cart", "checkout", "pricing"},
		Window:               time.Minute,
		BreathingSpace:       15 * time.Second,
		InviteTTL:            60 * time.Second,
		Cooldown:             5 * time.Minute,
		MaxInvitesPerSession: 1,
		EligiblePages:        []string{"cart", "checkout", "pricing", "product"},
		Thresholds:           PerReason[float64]{Abandonment: 0.7, Confusion: 0.7},
		Teams:                PerReason[string]{Abandonment: "sales", Confusion: "service"},
		Models: PerReason[ModelConfig]{
			Abandonment: ModelConfig{Bias: defaultAbandonmentBias, Weights: map[string]float64{}},
			Confusion:   ModelConfig{Bias: defaultConfusionBias, Weights: map[string]float64{}},
		},
	}
	for _, s := range registry {
		c.Models.Abandonment.Weights[s.Name] = s.Weights[Abandonment]
		c.Models.Confusion.Weights[s.Name] = s.Weights[Confusion]
	}
	if err := c.resolve(); err != nil {
		panic("BUG: default config does not validate: " + err.Error())
	}
	return c
}

// ParseConfig reads a YAML config over the defaults: keys the file leaves out
// keep their default. Unknown keys are errors (a typo must not silently
// leave a default in place). Every problem is reported at once.
func ParseConfig(data []byte) (*Config, error) {
	c := DefaultConfig()
	c.base, c.sites = nil, nil
	if err := decodeStrict(data, c); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if err := c.resolve(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return c, nil
}

func decodeStrict(data []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	// An empty document (io.EOF) means "all defaults".
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// Validate returns every problem with c at once, joined, or nil.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	pos := func(name string, d time.Duration) {
		if d <= 0 {
			bad("%s must be positive, got %v", name, d)
		}
	}
	pos("session_timeout", c.SessionTimeout)
	pos("window", c.Window)
	pos("invite_ttl", c.InviteTTL)
	if c.BreathingSpace < 0 {
		bad("breathing_space must not be negative, got %v", c.BreathingSpace)
	}
	if c.AllowedLateness < 0 {
		bad("allowed_lateness must not be negative, got %v", c.AllowedLateness)
	}
	if c.Silence < 0 || c.SilenceMax < 0 {
		bad("silence and silence_max must not be negative, got %v and %v", c.Silence, c.SilenceMax)
	}
	if c.Cooldown < 0 {
		bad("cooldown must not be negative, got %v", c.Cooldown)
	}
	if c.MaxInvitesPerSession < 0 || c.MaxInvitesPerSession > 255 {
		bad("max_invites_per_session must be between 0 and 255, got %d", c.MaxInvitesPerSession)
	}
	for _, pages := range []struct {
		key   string
		kinds []string
	}{{"eligible_pages", c.EligiblePages}, {"silence_pages", c.SilencePages}} {
		for _, k := range pages.kinds {
			if _, ok := schemas.ParsePageKind(k); !ok {
				bad("%s: %q is not a page kind (%s)", pages.key, k, strings.Join(schemas.PageKinds(), ", "))
			}
		}
	}
	for m := range numModels {
		name := modelNames[m]
		if t := *c.Thresholds.at(m); !(t > 0 && t <= 1) {
			bad("thresholds.%s must be in (0, 1], got %v", name, t)
		}
		if *c.Teams.at(m) == "" {
			bad("teams.%s must not be empty", name)
		}
		mc := c.Models.at(m)
		if !finite(mc.Bias) {
			bad("models.%s.bias must be a finite number", name)
		}
		for _, k := range sortedKeys(mc.Weights) {
			if SignalByName(k) == nil {
				bad("models.%s.weights: %q is not a signal (see `linger config --signals`)", name, k)
			} else if !finite(mc.Weights[k]) {
				bad("models.%s.weights.%s must be a finite number", name, k)
			}
		}
	}
	if !(c.HoldoutPercent >= 0 && c.HoldoutPercent <= 100) {
		bad("holdout_percent must be between 0 and 100, got %v", c.HoldoutPercent)
	}
	for _, k := range sortedKeys(c.Scales) {
		if SignalByName(k) == nil {
			bad("scales: %q is not a signal", k)
		} else if v := c.Scales[k]; !(v > 0) || !finite(v) {
			bad("scales.%s must be positive, got %v", k, v)
		}
	}
	return errors.Join(errs...)
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// resolve validates c and each site override, and builds the Settings used
// on the hot path.
func (c *Config) resolve() error {
	if err := c.Validate(); err != nil {
		return err
	}
	c.base = c.settings()
	c.sites = make(map[string]*Settings, len(c.Sites))
	var errs []error
	for _, site := range sortedKeys(c.Sites) {
		node := c.Sites[site]
		sc := c.clone()
		data, err := yaml.Marshal(&node)
		if err == nil {
			err = decodeStrict(data, sc)
		}
		if err == nil && len(sc.Sites) > len(c.Sites) {
			err = errors.New("a site cannot have sites of its own")
		}
		if err == nil {
			err = sc.Validate()
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("sites.%s: %w", site, err))
			continue
		}
		s := sc.settings()
		s.Site = site
		c.sites[site] = s
	}
	return errors.Join(errs...)
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
	n.base, n.sites = nil, nil
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
	Bias               [numModels]float64
	Weight             [numModels]Vector
	Scale              Vector

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
