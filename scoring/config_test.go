package scoring

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestDefaultConfigValidates(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := c.Model(); !strings.HasPrefix(got, "m1-") || len(got) != 11 {
		t.Fatalf("model name %q, want m1-<8 hex>", got)
	}
	for _, sig := range Signals() {
		if c.Models.Abandonment.Weights[sig.Name] != sig.Weights[Abandonment] {
			t.Errorf("default abandonment weight of %s is not the signal's", sig.Name)
		}
	}
}

func TestParseConfig(t *testing.T) {
	c, err := ParseConfig([]byte(`
breathing_space: 30s
thresholds: {abandonment: 0.8}
eligible_pages: [checkout]
models:
  confusion:
    weights: {rage_clicks: 4}
sites:
  eu-shop:
    thresholds: {confusion: 0.9}
    teams: {abandonment: eu-sales}
    models:
      abandonment:
        weights: {exit_intent: 0}
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.BreathingSpace != 30*time.Second || c.Thresholds.Abandonment != 0.8 || c.Thresholds.Confusion != 0.7 {
		t.Fatalf("file values and defaults not merged: %+v %+v", c.BreathingSpace, c.Thresholds)
	}
	base := c.For(nil)
	rage := SignalByName("rage_clicks").index
	exit := SignalByName("exit_intent").index
	dwell := SignalByName("dwell_s").index
	if base.Weight[Confusion][rage] != 4 || base.Weight[Confusion][dwell] != SignalByName("dwell_s").Weights[Confusion] {
		t.Fatalf("weights: a named weight is overridden, the others keep their defaults")
	}
	if !base.Eligible[6] || base.Eligible[3] {
		t.Fatalf("eligible pages replaced, not merged: %v", base.Eligible)
	}

	eu := c.For([]byte("eu-shop"))
	if eu == base {
		t.Fatal("site override not found")
	}
	if eu.Threshold[Confusion] != 0.9 || eu.Threshold[Abandonment] != 0.8 {
		t.Fatalf("site thresholds %v: want the override over the file's values", eu.Threshold)
	}
	if string(eu.Team[Abandonment]) != "eu-sales" || string(eu.Team[Confusion]) != "service" {
		t.Fatalf("site teams %q", eu.Team)
	}
	if eu.Weight[Abandonment][exit] != 0 || eu.Weight[Confusion][rage] != 4 {
		t.Fatal("site weights must start from the file's weights")
	}
	if base.Weight[Abandonment][exit] == 0 {
		t.Fatal("a site override leaked into the defaults")
	}
	if string(eu.Model) == string(base.Model) {
		t.Fatal("different settings must have different model names")
	}
	if c.For([]byte("other-site")) != base {
		t.Fatal("an unknown site must get the defaults")
	}
}

func TestParseConfigEmptyIsDefault(t *testing.T) {
	c, err := ParseConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Model() != DefaultConfig().Model() {
		t.Fatal("an empty file must give the default config")
	}
}

func TestConfigMarshalRoundTrip(t *testing.T) {
	want := DefaultConfig()
	b, err := want.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseConfig(b)
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if got.Model() != want.Model() {
		t.Fatalf("marshal→parse changed the config:\n%s", b)
	}
	if !strings.Contains(string(b), "breathing_space: 15s") {
		t.Fatalf("durations should read as durations:\n%s", b)
	}
}

// TestConfigErrors: each mistake is named in words, on the line of the file
// it is on, and all of them are reported at once, sorted by line, so a data
// engineer fixes a file in one go. Each case lists every line the user
// reads.
func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		yaml string
		want []string
	}{
		{"typo of a key", "silense: 10s", []string{`line 1: unknown key "silense" (did you mean "silence"?)`}},
		{"a key like none", "colour: red", []string{`line 1: unknown key "colour"`}},
		{"part of a key", "breathing: 10s", []string{`line 1: unknown key "breathing" (did you mean "breathing_space"?)`}},
		{"wrong case", "Silence: 10s", []string{`line 1: unknown key "Silence" (did you mean "silence"?)`}},
		{"nested typo", "thresholds: {abandonmnet: 0.8}", []string{`line 1: thresholds: unknown key "abandonmnet" (did you mean "abandonment"?)`}},
		{"typo in a list item", "routes:\n  - {team: sales}\n  - {team: sales, eligble: true}",
			[]string{`line 3: routes[1]: unknown key "eligble" (did you mean "eligible"?)`}},
		{"a bare number for a duration", "\n\nsilence: 45", []string{"line 3: silence: want a duration such as 45s"}},
		{"a fraction for a duration", "window: 1.5", []string{"line 1: window: want a duration such as 1.5s"}},
		{"a word for a duration", "window: soon", []string{`line 1: window: want a duration such as 45s, got "soon"`}},
		{"a quoted number for a duration", "window: '45'", []string{`line 1: window: want a duration such as 45s, got "45"`}},
		{"a fraction for a whole number", "max_invites_per_session: 1.5", []string{"line 1: max_invites_per_session: want a whole number such as 3, got 1.5"}},
		{"text for a whole number", "max_invites_per_session: '2'", []string{`line 1: max_invites_per_session: want a whole number such as 3, got "2"`}},
		{"a huge whole number", "rate_band: {min_sessions: 99999999999999999999}",
			[]string{"line 1: rate_band.min_sessions: want a whole number such as 3, got 99999999999999999999"}},
		{"a word for a number", "thresholds: {abandonment: high}", []string{`line 1: thresholds.abandonment: want a number such as 0.7, got "high"`}},
		{"a percent sign", "holdout_percent: 10%", []string{`line 1: holdout_percent: want a plain number such as 10 (the key is in percent), got "10%"`}},
		{"a word for a percentage", "rate_band: {max_percent: lots}",
			[]string{`line 1: rate_band.max_percent: want a percentage as a plain number such as 10, got "lots"`}},
		{"a number for a boolean", "rate_band: {controller: 1}", []string{"line 1: rate_band.controller: want true or false, got 1"}},
		{"a word for a list", "eligible_pages: cart", []string{`line 1: eligible_pages: want a list such as [cart, checkout], got "cart"`}},
		{"a list in a list of words", "silence_pages: [cart, [checkout]]", []string{"line 1: silence_pages[1]: want a single value, got a list"}},
		{"a number for a section", "thresholds: 0.7", []string{"line 1: thresholds: want a map with the keys abandonment, confusion, got 0.7"}},
		{"an empty section", "frequency_cap:\nper: 12h", []string{
			"line 1: frequency_cap: want a map with the keys invites, per, got no value",
			`line 2: unknown key "per"`}},
		{"an empty value", "silence:", []string{"line 1: silence: want a duration such as 45s, got no value"}},
		{"a list for weights", "models: {confusion: {weights: [rage_clicks]}}",
			[]string{"line 1: models.confusion.weights: want a map of signal names to numbers such as {rage_clicks: 3}, got a list"}},
		{"a word for a weight", "models: {confusion: {weights: {rage_clicks: x}}}",
			[]string{`line 1: models.confusion.weights.rage_clicks: want a number such as 0.7, got "x"`}},
		{"a list for text", "teams: {abandonment: [sales]}", []string{"line 1: teams.abandonment: want a single value, got a list"}},
		{"a word for a rule", "routes: [sales]", []string{"line 1: routes[0]: want a map with the keys reason, kinds, url, team, eligible, got \"sales\""}},
		{"a map for the rules", "routes: {team: sales}",
			[]string{"line 1: routes: want a list of maps, each with the keys reason, kinds, url, team, eligible, got a map"}},
		{"a list for sites", "sites: [shop]",
			[]string{"line 1: sites: want a map of site names to the keys they override, such as {shop-eu: {holdout_percent: 10}}, got a list"}},
		{"a word for a site", "sites: {shop: 3}", []string{"line 1: sites.shop: want a map of keys such as {silence: 45s}, got 3"}},
		{"not a map at all", "- silence: 10s", []string{"line 1: want a map of keys such as {silence: 45s}, got a list"}},
		{"a key given twice", "silence: 10s\nwindow: 1m\nsilence: 20s", []string{`line 3: key "silence" given twice (first on line 1)`}},
		{"a key that is not a name", "[a, b]: 1", []string{"line 1: a key must be a name, got a list"}},
		{"not YAML", "silence: 10s\nthresholds: {abandonment: 0.8\n", []string{"line 2: not valid YAML: did not find expected ',' or '}'"}},
		{"a key indented too far", "silence: 10s\n  window: 1m\n", []string{"line 2: not valid YAML: mapping values are not allowed in this context"}},
		{"a brace left open", "{", []string{"line 1: not valid YAML: did not find expected node content"}},
		{"two documents", "silence: 10s\n---\nwindow: 2m\n", []string{
			"line 3: a second YAML document (after ---): a config file holds one, and the rest would be ignored"}},
		{"an empty document after the first is harmless", "---\nsilence: x\n---\n# the end\n---\n",
			[]string{`line 2: silence: want a duration such as 45s, got "x"`}},
		{"a type error does not hide the rest", `
session_timeout: -1s
silence: 45
silense: 10s
thresholds: {abandonment: 1.5, confusion: 0}
eligible_pages: [checkout, basket]
holdout_percent: 101
max_invites_per_session: -1
teams: {confusion: ""}
models:
  abandonment:
    weights: {idle_chekout_s: 2, rage_clicks: many}
scales: {dwell_s: 0, colour: 2}
`, []string{
			"line 2: session_timeout: must be positive, got -1s",
			"line 3: silence: want a duration such as 45s",
			`line 4: unknown key "silense" (did you mean "silence"?)`,
			"line 5: thresholds.abandonment: must be more than 0 and at most 1, got 1.5",
			"line 5: thresholds.confusion: must be more than 0 and at most 1, got 0",
			`line 6: eligible_pages: "basket" is not a page kind (home, category, product, search, cart, checkout, pricing, help, account, other)`,
			"line 7: holdout_percent: must be between 0 and 100, got 101",
			"line 8: max_invites_per_session: must be between 0 and 255, got -1",
			"line 9: teams.confusion: must not be empty",
			`line 12: models.abandonment.weights.rage_clicks: want a number such as 0.7, got "many"`,
			`line 12: models.abandonment.weights: "idle_chekout_s" is not a signal (did you mean "idle_checkout_s"?)`,
			"line 13: scales: \"colour\" is not a signal (see `linger config --signals`)",
			"line 13: scales.dwell_s: must be positive, got 0",
		}},
		{"a bad rule keeps the others' numbers", `
routes:
  - {team: sales}
  - sales
  - {kinds: [basket], team: "a/b"}
`, []string{
			`line 4: routes[1]: want a map with the keys reason, kinds, url, team, eligible, got "sales"`,
			`line 5: routes[2].kinds: "basket" is not a page kind (home, category, product, search, cart, checkout, pricing, help, account, other)`,
			`line 5: routes[2].team: want a team name of at most 128 bytes without '/' (capacity records are keyed site/team), got "a/b"`,
		}},
		{"a default standing in for a bad value is not blamed", "rate_band: {min_percent: twenty, max_percent: 2}",
			[]string{`line 1: rate_band.min_percent: want a percentage as a plain number such as 10, got "twenty"`}},
		{"two keys that disagree: the line of the one given", "rate_band:\n  window: 2h\n  min_percent: 20",
			[]string{"line 3: rate_band: min_percent (20) must not be above max_percent (10)"}},
		{"sites: the file's lines, the same rules, the site named", `
thresholds: {abandonment: 0.8}
sites:
  shop-a:
    thresholds: {abandonment: 2}
    holdout_percent: 10%
  shop-b:

    windw: 1m
    silence: 10
    eligible_pages: [cart, basket]
    frequency_cap: {invites: 2}
    rate_band: {max_percent: 2}
  shop-c:
`, []string{
			"line 5: sites.shop-a.thresholds.abandonment: must be more than 0 and at most 1, got 2",
			`line 6: sites.shop-a.holdout_percent: want a plain number such as 10 (the key is in percent), got "10%"`,
			`line 9: sites.shop-b: unknown key "windw" (did you mean "window"?)`,
			"line 10: sites.shop-b.silence: want a duration such as 10s",
			`line 11: sites.shop-b.eligible_pages: "basket" is not a page kind (home, category, product, search, cart, checkout, pricing, help, account, other)`,
			"line 13: sites.shop-b.rate_band: min_percent (3) must not be above max_percent (2)",
		}},
		{"a site inherits a problem: said once", "frequency_cap: {invites: 0, per: 0s}\nholdout_percent: 200\nsites:\n  a: {frequency_cap: {invites: 1}}\n  b: {}",
			[]string{
				"line 2: holdout_percent: must be between 0 and 100, got 200",
				"line 4: sites.a.frequency_cap.per: must be positive while invites is above 0, got 0s",
			}},
		{"a site with sites", "sites:\n  a:\n    sites:\n      b: {}", []string{"line 3: sites.a: a site cannot have sites of its own"}},
		{"anchors and merges are checked where they are written", `
defaults: &d {silence: 10s}
sites:
  a: {<<: {windw: 1m}}
`, []string{`line 2: unknown key "defaults"`, `line 4: sites.a: unknown key "windw" (did you mean "window"?)`}},
		{"an anchor that merges itself", "thresholds: &t {<<: *t, abandonment: 0.8}",
			[]string{"line 1: thresholds: *t refers to the anchor &t it is in"}},
		{"an alias inside its own anchor", "sites:\n  a: &a\n    models: {abandonment: {weights: {<<: *a}}}",
			[]string{"line 3: sites.a: *a refers to the anchor &a it is in"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tc.yaml))
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v (%T), want a *ConfigError", err, err)
			}
			var got []string
			for _, p := range ce.Problems {
				got = append(got, p.String())
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			noGoNames(t, err.Error())
		})
	}
}

// noGoNames fails when a message holds a Go type, a YAML tag or a decoder's
// words: a user reads these.
func noGoNames(t *testing.T, msg string) {
	t.Helper()
	for _, bad := range []string{"scoring.", "time.", "Duration", "!!", "float64", "int64", "[]string", "map[", "struct", "unmarshal", "yaml:", "Config"} {
		if strings.Contains(msg, bad) {
			t.Errorf("%q reaches the user:\n%s", bad, msg)
		}
	}
}

// TestConfigErrorText: one problem reads as one line; several as a count
// and one indented line each, as `linger config check` prints them.
func TestConfigErrorText(t *testing.T) {
	_, err := ParseConfig([]byte("silence: 45\nsilense: 10s\n"))
	want := "2 problems:\n  line 1: silence: want a duration such as 45s\n  line 2: unknown key \"silense\" (did you mean \"silence\"?)"
	if err == nil || err.Error() != want {
		t.Fatalf("got\n%v\nwant\n%s", err, want)
	}
	var ce *ConfigError
	errors.As(err, &ce)
	if p := ce.Problems[0]; p.Line != 1 || p.Key != "silence" {
		t.Fatalf("problem %+v: want line 1, key silence", p)
	}
	if got := ce.WithoutLines().Error(); got != "2 problems:\n  silence: want a duration such as 45s\n  unknown key \"silense\" (did you mean \"silence\"?)" {
		t.Fatalf("without lines: %s", got)
	}
	if ce.Problems[0].Line != 1 {
		t.Fatal("WithoutLines changed the error it was called on")
	}
}

// TestConfigEveryKeyTyped: every key of the config, given a value of the
// wrong kind, is reported on its line, in words. A field of a type the
// messages do not know yet fails here.
func TestConfigEveryKeyTyped(t *testing.T) {
	var keys []path
	var types []reflect.Type
	var collect func(t reflect.Type, at path)
	collect = func(t reflect.Type, at path) {
		for i := range t.NumField() {
			f := t.Field(i)
			name := yamlName(f)
			if name == "" {
				continue
			}
			keys, types = append(keys, at.with(name)), append(types, f.Type)
			if f.Type.Kind() == reflect.Struct {
				collect(f.Type, at.with(name))
			}
		}
	}
	collect(configType, nil)
	if len(keys) < 40 {
		t.Fatalf("%d keys found, the config has more", len(keys))
	}
	for i, key := range keys {
		wrong := "{x: 1}"
		if k := types[i].Kind(); k == reflect.Struct || k == reflect.Map || k == reflect.Slice {
			wrong = "7"
		}
		if k := types[i].Kind(); k == reflect.String {
			wrong = "[x]"
		}
		// The key nested in block style, its value on the last line.
		var b strings.Builder
		b.WriteString("# a comment\n")
		for depth, part := range key {
			b.WriteString(strings.Repeat("  ", depth) + part + ":")
			if depth == len(key)-1 {
				b.WriteString(" " + wrong)
			}
			b.WriteString("\n")
		}
		line := len(key) + 1
		if w := wantOf(types[i], key); strings.Contains(w, "another kind") {
			t.Errorf("%s: no words for a %v", key, types[i])
		}
		_, err := ParseConfig([]byte(b.String()))
		var ce *ConfigError
		if !errors.As(err, &ce) || len(ce.Problems) != 1 {
			t.Errorf("%s: %v", key, err)
			continue
		}
		if p := ce.Problems[0]; p.Line != line || p.Key != key.String() || !strings.HasPrefix(p.Message, "want ") {
			t.Errorf("%s: %+v, want line %d", key, p, line)
		}
		noGoNames(t, err.Error())
	}
}

// TestConfigAnchorsAndMerges: YAML's anchors, aliases and merge keys decode
// as they always did.
func TestConfigAnchorsAndMerges(t *testing.T) {
	c, err := ParseConfig([]byte(`
thresholds: &t {abandonment: 0.8}
sites:
  a: &a {thresholds: *t, window: 2m}
  b: {<<: *a, window: 3m}
  c: *a
`))
	if err != nil {
		t.Fatal(err)
	}
	for site, window := range map[string]int64{"a": 120_000, "b": 180_000, "c": 120_000} {
		if s := c.For([]byte(site)); s.WindowMs != window || s.Threshold[Abandonment] != 0.8 {
			t.Errorf("site %s: window %d ms, threshold %v", site, s.WindowMs, s.Threshold[Abandonment])
		}
	}

	// Marshal writes sites in name order: an alias in one site of an
	// anchor in a later one must still read back (sweeps and training
	// rewrite the file through Marshal).
	c, err = ParseConfig([]byte(`
sites:
  us: &base {window: 2m, thresholds: {abandonment: 0.8}}
  eu: {<<: *base, silence: 10s}
`))
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseConfig(b)
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	for _, site := range []string{"us", "eu"} {
		if got, want := back.For([]byte(site)).Model, c.For([]byte(site)).Model; string(got) != string(want) {
			t.Errorf("site %s: model %s after marshal→parse, was %s", site, got, want)
		}
	}
	if eu := c.For([]byte("eu")); eu.WindowMs != 120_000 || eu.SilenceMs != 10_000 || eu.Threshold[Abandonment] != 0.8 {
		t.Errorf("site eu: window %d ms, silence %d ms, threshold %v", eu.WindowMs, eu.SilenceMs, eu.Threshold[Abandonment])
	}
}

// TestConfigAliasBomb: a document of aliases of aliases (each site merging
// the previous one twice) is refused in a moment, not decoded for ever.
func TestConfigAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("sites:\n  s0: &s0 {silence: 1s}\n")
	for i := 1; i < 40; i++ {
		fmt.Fprintf(&b, "  s%d: &s%d {<<: [*s%d, *s%d]}\n", i, i, i-1, i-1)
	}
	start := time.Now()
	_, err := ParseConfig([]byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "line 41: sites.s39: holds more than 10000 values once its aliases (*name) are expanded") {
		t.Fatalf("error: %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("took %v", took)
	}
}

// TestValidateInCode: a Config changed in code is checked by the same rules,
// without lines (it has no file).
func TestValidateInCode(t *testing.T) {
	c := DefaultConfig()
	c.Thresholds.Abandonment = 2
	c.Sites = map[string]yaml.Node{}
	var n yaml.Node
	if err := yaml.Unmarshal([]byte("silence: -1s\nwindw: 1m"), &n); err != nil {
		t.Fatal(err)
	}
	c.Sites["shop"] = *n.Content[0]
	err := c.Validate()
	want := "3 problems:\n  line 1: sites.shop.silence: must not be negative, got -1s\n" +
		"  line 2: sites.shop: unknown key \"windw\" (did you mean \"window\"?)\n" +
		"  thresholds.abandonment: must be more than 0 and at most 1, got 2"
	if err == nil || err.Error() != want {
		t.Fatalf("got\n%v\nwant\n%s", err, want)
	}
	if len(n.Content[0].Content) != 4 {
		t.Fatal("Validate changed the site's nodes")
	}
}

func TestClosest(t *testing.T) {
	known := []string{"silence", "silence_max", "silence_pages", "window", "breathing_space", "eligible_pages", "session_timeout"}
	for _, tc := range []struct{ word, want string }{
		{"silense", "silence"},
		{"silence_mx", "silence_max"},
		{"windw", "window"},
		{"widnow", "window"}, // neighbours swapped
		{"wndw", ""},         // two edits in a short word: too far
		{"breathing", "breathing_space"},
		{"timeout", "session_timeout"},
		{"pages", ""}, // part of two keys: no guess
		{"eligible_page", "eligible_pages"},
		{"colour", ""},
	} {
		if got := closest(tc.word, known); got != tc.want {
			t.Errorf("closest(%q) = %q, want %q", tc.word, got, tc.want)
		}
	}
	for _, tc := range []struct {
		a, b string
		d    int
	}{{"", "abc", 3}, {"abc", "abc", 0}, {"abc", "acb", 1}, {"kitten", "sitting", 3}, {"ca", "abc", 3}} {
		if got := editDistance(tc.a, tc.b); got != tc.d {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.d)
		}
	}
}

func TestSignalsRegistry(t *testing.T) {
	sigs := Signals()
	if len(sigs) < 19 {
		t.Fatalf("%d signals registered, DESIGN.md lists 19 features", len(sigs))
	}
	for i, s := range sigs {
		if i > 0 && sigs[i-1].Name >= s.Name {
			t.Errorf("registry not sorted at %s", s.Name)
		}
		if s.Doc == "" {
			t.Errorf("signal %s has no Doc", s.Name)
		}
		if SignalByName(s.Name) != s || s.index != i {
			t.Errorf("signal %s: lookup or index broken", s.Name)
		}
	}
	if SignalByName("no_such_signal") != nil {
		t.Error("unknown name found")
	}
}
