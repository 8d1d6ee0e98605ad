package schemas

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/valyala/fastjson"
)

// testNowMs is the processor clock the golden events are checked against:
// every valid golden's ts is before it, the future_ts goldens are more than
// MaxFutureMs after it. A fixed clock keeps the goldens valid forever.
const testNowMs = 1732530600000 // 2024-11-25T10:30:00Z

// mismatchKey is the record key given to key_mismatch goldens; every other
// golden is keyed by its own "session".
const mismatchKey = "s-someone-else"

var (
	schemaOnce             sync.Once
	eventSchema, decSchema *jsonschema.Schema
	schemaErr              error
)

// schemas compiles the published schema files once. The compiler checks
// them against the draft 2020-12 meta-schema.
func schemas(t testing.TB) (event, decision *jsonschema.Schema) {
	t.Helper()
	schemaOnce.Do(func() {
		c := jsonschema.NewCompiler()
		if eventSchema, schemaErr = c.Compile("event.v1.schema.json"); schemaErr != nil {
			return
		}
		decSchema, schemaErr = c.Compile("decision.v1.schema.json")
	})
	if schemaErr != nil {
		t.Fatalf("compile schema: %v", schemaErr)
	}
	return eventSchema, decSchema
}

// schemaVerdict validates b against sch. parsed is false when b is not
// JSON that a validator can load at all.
func schemaVerdict(sch *jsonschema.Schema, b []byte) (parsed bool, err error) {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return false, err
	}
	return true, sch.Validate(inst)
}

type golden struct {
	name string
	data []byte
}

func goldens(t testing.TB, dir string) []golden {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatalf("no golden files in testdata/%s", dir)
	}
	var gs []golden
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		gs = append(gs, golden{name: filepath.Base(p), data: b})
	}
	return gs
}

// goldenKey returns the record key a golden event is decoded with: its own
// session, read with encoding/json so that the codec under test does not
// pick its own key.
func goldenKey(g golden) []byte {
	if strings.HasPrefix(g.name, "key_mismatch--") {
		return []byte(mismatchKey)
	}
	return sessionOf(g.data)
}

func sessionOf(b []byte) []byte {
	var env struct {
		Session any `json:"session"`
	}
	if json.Unmarshal(b, &env) != nil {
		return nil
	}
	s, _ := env.Session.(string)
	return []byte(s)
}

// problemOfName returns the Problem named by a golden's file name prefix.
func problemOfName(t testing.TB, name string) Problem {
	t.Helper()
	prefix, _, ok := strings.Cut(name, "--")
	if !ok {
		t.Fatalf("%s: invalid goldens are named <problem>--<what>.json", name)
	}
	for p := ProblemNone + 1; p < numProblems; p++ {
		if p.String() == prefix {
			return p
		}
	}
	t.Fatalf("%s: %q is not a Problem name (%v)", name, prefix, Problems())
	return ProblemNone
}

// schemaBlind says which problems a JSON Schema cannot see: they need the
// record key, a clock, or a byte count. Goldens with these problems must be
// schema-valid, which proves that they fail for that one reason only.
var schemaBlind = map[Problem]string{
	ProblemTooLarge:    "the 8 KiB limit is on bytes",
	ProblemKeyMismatch: "the record key is not in the value",
	ProblemFutureTS:    "needs the processor's clock",
}

func TestEventGoldens(t *testing.T) {
	evSch, _ := schemas(t)

	t.Run("valid", func(t *testing.T) {
		types := map[Type]bool{}
		for _, g := range goldens(t, "events/valid") {
			t.Run(g.name, func(t *testing.T) {
				if _, err := schemaVerdict(evSch, g.data); err != nil {
					t.Errorf("schema refuses a valid golden: %v", err)
				}
				var d Decoder
				var ev Event
				err := d.Decode(goldenKey(g), g.data, testNowMs, &ev)
				if strings.HasPrefix(g.name, "unknown-type-") {
					if err != ErrUnknownType {
						t.Fatalf("Decode = %v, want ErrUnknownType", err)
					}
					if string(ev.Session) != string(goldenKey(g)) || ev.TS <= 0 {
						t.Errorf("ErrUnknownType lost the envelope: %+v", ev)
					}
					return
				}
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				types[ev.Type] = true
				checkEventRoundtrip(t, goldenKey(g), &ev, evSch)
			})
		}
		for ty := TypeUnknown + 1; ty < numTypes; ty++ {
			if !types[ty] {
				t.Errorf("no valid golden of type %s", ty)
			}
		}
	})

	t.Run("invalid", func(t *testing.T) {
		count := map[Problem]int{}
		for _, g := range goldens(t, "events/invalid") {
			t.Run(g.name, func(t *testing.T) {
				want := problemOfName(t, g.name)
				count[want]++
				var d Decoder
				var ev Event
				err := d.Decode(goldenKey(g), g.data, testNowMs, &ev)
				if got := ProblemOf(err); got != want {
					t.Errorf("Decode = %v, want problem %s", err, want)
				}
				parsed, serr := schemaVerdict(evSch, g.data)
				switch {
				case schemaBlind[want] != "":
					if serr != nil {
						t.Errorf("%s is beyond a schema (%s), so the rest must be valid: %v", want, schemaBlind[want], serr)
					}
				case want == ProblemInvalidJSON:
					// A validator parses with encoding/json, which takes
					// invalid UTF-8 (as U+FFFD) and nesting deeper than
					// fastjson's limit: those are the codec's own limits,
					// documented in the schema's description.
					if parsed && utf8.Valid(g.data) && nesting(g.data) <= fastjson.MaxDepth {
						t.Errorf("encoding/json reads this, so invalid_json is wrong")
					}
				default:
					if serr == nil {
						t.Errorf("schema accepts what the codec refuses (%v)", err)
					}
				}
			})
		}
		for p := ProblemNone + 1; p < ProblemInternal; p++ {
			want := 1
			if p == ProblemWrongType || p == ProblemMissingField || p == ProblemInvalidValue {
				want = 3
			}
			if count[p] < want {
				t.Errorf("%d invalid goldens for %s, want at least %d", count[p], p, want)
			}
		}
	})
}

// checkEventRoundtrip encodes ev, which decoded from a record keyed key, and
// checks that the result is schema-valid and decodes to the same Event.
func checkEventRoundtrip(t *testing.T, key []byte, ev *Event, sch *jsonschema.Schema) {
	t.Helper()
	enc := AppendEvent(nil, ev)
	if sch != nil {
		if _, err := schemaVerdict(sch, enc); err != nil {
			t.Errorf("AppendEvent output is not schema-valid: %v\n%s", err, enc)
		}
	}
	var d Decoder
	var again Event
	if err := d.Decode(key, enc, 0, &again); err != nil {
		t.Fatalf("decode AppendEvent output: %v\n%s", err, enc)
	}
	if diff := eventDiff(ev, &again); diff != nil {
		t.Errorf("roundtrip changed %v\n%s", diff, enc)
	}
}

var bytesType = reflect.TypeFor[[]byte]()

// eventDiff names the fields in which a and b differ. Byte slices compare by
// content (AppendEvent leaves out empty optional strings, so nil and empty
// are one value). It walks the struct by reflection so that a field added
// to Event is compared without anyone remembering to add it here.
func eventDiff(a, b *Event) []string { return structDiff(a, b) }

// structDiff is eventDiff for a pointer to any struct of the contract.
func structDiff(a, b any) []string {
	var diff []string
	var walk func(path string, x, y reflect.Value)
	walk = func(path string, x, y reflect.Value) {
		switch {
		case x.Kind() == reflect.Struct:
			for i := range x.NumField() {
				walk(path+x.Type().Field(i).Name+".", x.Field(i), y.Field(i))
			}
		case x.Type() == bytesType:
			if !bytes.Equal(x.Bytes(), y.Bytes()) {
				diff = append(diff, strings.TrimSuffix(path, ".")+": "+quote(x.Bytes())+" != "+quote(y.Bytes()))
			}
		case x.Kind() == reflect.Slice:
			if x.Len() != y.Len() {
				diff = append(diff, fmt.Sprintf("%s: %d elements != %d", strings.TrimSuffix(path, "."), x.Len(), y.Len()))
				return
			}
			for i := range x.Len() {
				walk(fmt.Sprintf("%s[%d].", strings.TrimSuffix(path, "."), i), x.Index(i), y.Index(i))
			}
		case !x.Equal(y):
			diff = append(diff, strings.TrimSuffix(path, ".")+": "+valueString(x)+" != "+valueString(y))
		}
	}
	walk("", reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem())
	return diff
}

func quote(b []byte) string { s, _ := json.Marshal(string(b)); return string(s) }

func valueString(v reflect.Value) string {
	b, _ := json.Marshal(v.Interface())
	return string(b)
}

// nesting returns the deepest nesting of arrays and objects in b, which
// must be JSON.
func nesting(b []byte) int {
	depth, deepest := 0, 0
	inString, escaped := false, false
	for _, c := range b {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			depth++
			deepest = max(deepest, depth)
		case c == ']' || c == '}':
			depth--
		}
	}
	return deepest
}

func TestDecisionGoldens(t *testing.T) {
	_, decSch := schemas(t)

	t.Run("valid", func(t *testing.T) {
		var withdraw, holdout, detail, three bool
		for _, g := range goldens(t, "decisions/valid") {
			t.Run(g.name, func(t *testing.T) {
				if _, err := schemaVerdict(decSch, g.data); err != nil {
					t.Errorf("schema refuses a valid golden: %v", err)
				}
				d, err := ParseDecision(g.data)
				if err != nil {
					t.Fatalf("ParseDecision: %v", err)
				}
				withdraw = withdraw || d.Action == ActionWithdraw
				holdout = holdout || d.Holdout
				three = three || len(d.Signals) >= 3
				for _, s := range d.Signals {
					detail = detail || len(s.Detail) > 0
				}
				enc := AppendDecision(nil, d)
				if _, err := schemaVerdict(decSch, enc); err != nil {
					t.Errorf("AppendDecision output is not schema-valid: %v\n%s", err, enc)
				}
				// Goldens carry no more decimals than AppendDecision writes
				// (4 for scores, 3 for signals), so nothing is rounded away.
				again, err := ParseDecision(enc)
				if err != nil {
					t.Fatalf("ParseDecision(AppendDecision): %v\n%s", err, enc)
				}
				if !reflect.DeepEqual(d, again) {
					t.Errorf("roundtrip changed the decision\n got %+v\nwant %+v\n%s", again, d, enc)
				}
			})
		}
		if !withdraw || !holdout || !detail || !three {
			t.Errorf("valid goldens miss a case: withdraw %v, holdout %v, signal detail %v, 3 signals %v", withdraw, holdout, detail, three)
		}
	})

	t.Run("invalid", func(t *testing.T) {
		for _, g := range goldens(t, "decisions/invalid") {
			t.Run(g.name, func(t *testing.T) {
				// Named <field>--<what>.json: the field ParseDecision must
				// blame, or "document" for the value as a whole.
				field, _, ok := strings.Cut(g.name, "--")
				if !ok {
					t.Fatalf("invalid decision goldens are named <field>--<what>.json")
				}
				if _, err := schemaVerdict(decSch, g.data); err == nil {
					t.Errorf("schema accepts an invalid golden")
				}
				_, err := ParseDecision(g.data)
				if err == nil {
					t.Fatalf("ParseDecision accepts an invalid golden")
				}
				var de *DecodeError
				switch {
				case field == "document":
					if errors.As(err, &de) {
						t.Errorf("want an error about the whole value, got one about %q: %v", de.Field, err)
					}
				case !errors.As(err, &de):
					t.Errorf("want a *DecodeError about %q, got %v", field, err)
				case de.Field != field:
					t.Errorf("error is about %q, want %q: %v", de.Field, field, err)
				}
			})
		}
	})
}

// TestAppendDecisionMatchesSchema checks what linger writes, not only what
// the goldens say: decisions built the way the scoring engine builds them,
// including awkward values, must come out schema-valid and parse back.
func TestAppendDecisionMatchesSchema(t *testing.T) {
	_, decSch := schemas(t)
	base := func() Decision {
		return Decision{
			ID: []byte("s-1/2"), Session: []byte("s-1"), Visitor: []byte("v-1"), Site: []byte("shop"),
			Action: ActionInvite, Reason: ReasonAbandonment, Score: 0.73,
			Scores:  Scores{Abandonment: 0.73, Confusion: 0.1},
			Signals: []Signal{{Name: "idle_in_checkout", Value: 42, Weight: 0.05}},
			Page:    Page{URL: []byte("/checkout/shipping"), Kind: KindCheckout},
			EventTS: 1732530000000, DecidedAt: 1732530000012, ExpiresAt: 1732530060000,
			Model: []byte("m1-1a2b3c4d"), Team: []byte("sales"),
		}
	}
	cases := map[string]func(d *Decision){
		"plain invite": func(d *Decision) {},
		"withdraw": func(d *Decision) {
			d.ID, d.Action, d.InviteID = []byte("s-1/3"), ActionWithdraw, []byte("s-1/2")
		},
		"holdout, no page, no team, no visitor": func(d *Decision) {
			d.Holdout, d.Page, d.Team, d.Visitor, d.Site = true, Page{}, nil, nil, nil
		},
		"no signals":         func(d *Decision) { d.Signals = nil },
		"bounds of a score":  func(d *Decision) { d.Score, d.Scores = 1, Scores{Abandonment: 1, Confusion: 0} },
		"rounds up to 1":     func(d *Decision) { d.Score, d.Scores.Abandonment = 0.99996, 0.99996 },
		"tiny negative zero": func(d *Decision) { d.Scores.Confusion = -1e-9 },
		"NaN becomes 0":      func(d *Decision) { d.Scores.Confusion = math.NaN() },
		"decided_at unset":   func(d *Decision) { d.DecidedAt = 0 },
		"detail needs escaping": func(d *Decision) {
			d.Reason = ReasonConfusion
			d.Signals = []Signal{
				{Name: "field_errors", Value: 3, Weight: 0.61, Detail: []byte("e\"mail\n\x01")},
				{Name: "field_reedits", Value: -2.5, Weight: 1e6, Detail: []byte("bad \xff utf-8")},
				{Name: "dwell", Value: 1234.5678, Weight: 0.0001},
			}
		},
		"non-ASCII ids": func(d *Decision) {
			d.Session, d.ID, d.Visitor = []byte("sitzung-ä"), []byte("sitzung-ä/1"), []byte("besucher-ö")
		},
	}
	for name, edit := range cases {
		t.Run(name, func(t *testing.T) {
			d := base()
			edit(&d)
			enc := AppendDecision(nil, &d)
			if _, err := schemaVerdict(decSch, enc); err != nil {
				t.Errorf("not schema-valid: %v\n%s", err, enc)
			}
			if _, err := ParseDecision(enc); err != nil {
				t.Errorf("ParseDecision: %v\n%s", err, enc)
			}
		})
	}
}

// TestSchemasDescribeEveryProperty holds the schemas to their purpose: they
// are the documentation collector and front-end authors read.
func TestSchemasDescribeEveryProperty(t *testing.T) {
	for _, file := range []string{"event.v1.schema.json", "decision.v1.schema.json", "capacity.v1.schema.json", "feedback.v1.schema.json"} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var doc any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		var walk func(path string, v any)
		walk = func(path string, v any) {
			switch v := v.(type) {
			case map[string]any:
				if props, ok := v["properties"].(map[string]any); ok && !strings.HasSuffix(path, "/if") {
					for name, p := range props {
						if s, _ := p.(map[string]any)["description"].(string); strings.TrimSpace(s) == "" {
							t.Errorf("%s: %s/properties/%s has no description", file, path, name)
						}
					}
				}
				for k, sub := range v {
					walk(path+"/"+k, sub)
				}
			case []any:
				for i, sub := range v {
					walk(path+"/"+strconv.Itoa(i), sub)
				}
			}
		}
		walk("", doc)
	}
}

// TestSchemaEnumsMatchCodec keeps the enums the schemas list equal to the
// names the codec knows, so that adding a page kind in Go without adding
// it to the schema fails here rather than in a collector.
func TestSchemaEnumsMatchCodec(t *testing.T) {
	for _, c := range []struct {
		file string
		path []string
		want []string
	}{
		{"event.v1.schema.json", []string{"$defs", "page", "properties", "kind", "enum"}, PageKinds()},
		{"event.v1.schema.json", []string{"allOf", "0", "if", "properties", "type", "enum"}, Types()[1:]},
		{"decision.v1.schema.json", []string{"properties", "page", "properties", "kind", "enum"}, PageKinds()},
		{"decision.v1.schema.json", []string{"properties", "reason", "enum"}, Reasons()},
		{"decision.v1.schema.json", []string{"properties", "action", "enum"}, actionNames[1:]},
		{"feedback.v1.schema.json", []string{"allOf", "0", "if", "properties", "type", "enum"}, FeedbackTypes()[1:]},
	} {
		b, err := os.ReadFile(c.file)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		for _, k := range c.path {
			switch node := v.(type) {
			case map[string]any:
				v = node[k]
			case []any:
				i, _ := strconv.Atoi(k)
				v = node[i]
			}
		}
		enum, ok := v.([]any)
		if !ok {
			t.Errorf("%s has no enum at /%s", c.file, strings.Join(c.path, "/"))
			continue
		}
		var got []string
		for _, s := range enum {
			got = append(got, s.(string))
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s /%s = %v, the codec has %v", c.file, strings.Join(c.path, "/"), got, c.want)
		}
	}
}
