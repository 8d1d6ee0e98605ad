package schemas

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"unicode/utf8"
)

// event builds a compact v1 event of session "s1" at ts 1732530000000 with
// extra, a list of ,"key":value pairs, appended to the envelope.
func event(typ, extra string) string {
	return `{"v":1,"type":"` + typ + `","session":"s1","ts":1732530000000` + extra + `}`
}

func TestDecode(t *testing.T) {
	const now = 1732530000000
	type tc struct {
		name  string
		key   string // record key; "s1" when empty
		value string
		// now is the processor's clock, 1732530000000 unless set; noClock
		// passes 0, which turns the future check off.
		now     int64
		noClock bool
		// Either a problem and the field it blames...
		problem Problem
		field   string
		// ...or ErrUnknownType, or nil and a check of the decoded event.
		err   error
		check func(*testing.T, *Event)
	}
	cases := []tc{
		// Numbers.
		{name: "integer written 3.0 is an integer", value: event("checkout", `,"step":3.0`),
			check: func(t *testing.T, ev *Event) { eq(t, "Step", ev.Step, 3) }},
		{name: "integer written with an exponent", value: event("mouse", `,"moves":1.13e2,"ms":5E3`),
			check: func(t *testing.T, ev *Event) { eq(t, "Moves", ev.Moves, 113); eq(t, "MS", ev.MS, 5000) }},
		{name: "3.5 is not an integer", value: event("checkout", `,"step":3.5`), problem: ProblemWrongType, field: "step"},
		{name: "fraction lost to float64 rounding is still a fraction", value: event("checkout", `,"step":3.0000000000000001`), problem: ProblemWrongType, field: "step"},
		{name: "underflow is not zero", value: event("idle", `,"ms":1e-400`), problem: ProblemWrongType, field: "ms"},
		{name: "huge exponent", value: event("idle", `,"ms":1e400`), problem: ProblemInvalidValue, field: "ms"},
		{name: "integer string", value: event("idle", `,"ms":"45000"`), problem: ProblemWrongType, field: "ms"},
		{name: "count at 2^32-1", value: event("purchase", `,"value":4294967295`),
			check: func(t *testing.T, ev *Event) { eq(t, "Value", ev.Value, math.MaxUint32) }},
		{name: "count at 2^32", value: event("purchase", `,"value":4294967296`), problem: ProblemInvalidValue, field: "value"},
		{name: "negative count", value: event("cart", `,"action":"add","items":-1`), problem: ProblemInvalidValue, field: "items"},
		{name: "depth rounds correctly", value: event("scroll", `,"depth":3e-1`),
			check: func(t *testing.T, ev *Event) { eq(t, "Depth", ev.Depth, 0.3) }},
		{name: "depth exactly 1", value: event("scroll", `,"depth":1.000`),
			check: func(t *testing.T, ev *Event) { eq(t, "Depth", ev.Depth, 1.0) }},
		{name: "depth just under 1 that rounds to 1", value: event("scroll", `,"depth":0.99999999999999999`),
			check: func(t *testing.T, ev *Event) { eq(t, "Depth", ev.Depth, 1.0) }},
		{name: "depth just over 1 that rounds to 1", value: event("scroll", `,"depth":1.00000000000000001`), problem: ProblemInvalidValue, field: "depth"},
		{name: "depth -0 is 0", value: event("scroll", `,"depth":-0.0`),
			check: func(t *testing.T, ev *Event) { eq(t, "Depth", ev.Depth, 0.0) }},

		// Strings.
		{name: "escapes in session", key: "s-1\"/é", value: `{"v":1,"type":"exit_intent","session":"s\u002d1\"\/\u00e9","ts":1}`,
			check: func(t *testing.T, ev *Event) { eq(t, "Session", string(ev.Session), "s-1\"/é") }},
		{name: "escaped key", value: `{"v":1,"typ\u0065":"exit_intent","session":"s1","ts":1}`,
			check: func(t *testing.T, ev *Event) { eq(t, "Type", ev.Type, TypeExitIntent) }},
		{name: "session of 128 bytes", key: strings.Repeat("a", 128), value: `{"v":1,"type":"exit_intent","session":"` + strings.Repeat("a", 128) + `","ts":1}`},
		{name: "session of 129 bytes", key: strings.Repeat("a", 129), value: `{"v":1,"type":"exit_intent","session":"` + strings.Repeat("a", 129) + `","ts":1}`, problem: ProblemInvalidValue, field: "session"},
		{name: "session of 65 two-byte characters is over 128 bytes", key: strings.Repeat("é", 65), value: `{"v":1,"type":"exit_intent","session":"` + strings.Repeat("é", 65) + `","ts":1}`, problem: ProblemInvalidValue, field: "session"},
		{name: "empty session", key: "", value: `{"v":1,"type":"exit_intent","session":"","ts":1}`, problem: ProblemMissingSession, field: "session"},
		{name: "session null", value: `{"v":1,"type":"exit_intent","session":null,"ts":1}`, problem: ProblemWrongType, field: "session"},

		// Duplicate keys: the last one counts, as in encoding/json and
		// JSON.parse, so that the schema and the codec read one object.
		{name: "duplicate key, last wins", key: "b", value: `{"v":1,"type":"exit_intent","session":"a","ts":1,"session":"b"}`,
			check: func(t *testing.T, ev *Event) { eq(t, "Session", string(ev.Session), "b") }},
		{name: "duplicate key in page, last wins", value: event("page_view", `,"page":{"url":"/a","kind":"nope","kind":"cart","url":"/cart"}`),
			check: func(t *testing.T, ev *Event) {
				eq(t, "Page.URL", string(ev.Page.URL), "/cart")
				eq(t, "Page.Kind", ev.Page.Kind, KindCart)
			}},
		{name: "duplicate key, last is bad", value: event("idle", `,"ms":5,"ms":-5`), problem: ProblemInvalidValue, field: "ms"},

		// Page.
		{name: "page.kind invalid", value: event("page_view", `,"page":{"url":"/","kind":"landing"}`), problem: ProblemInvalidValue, field: "page.kind"},
		{name: "page.kind absent", value: event("page_view", `,"page":{"url":"/"}`), problem: ProblemMissingField, field: "page.kind"},
		{name: "page.url absent", value: event("page_view", `,"page":{"kind":"home"}`), problem: ProblemMissingField, field: "page.url"},
		{name: "page.url a number", value: event("page_view", `,"page":{"url":1,"kind":"home"}`), problem: ProblemWrongType, field: "page.url"},
		{name: "page an array", value: event("page_view", `,"page":["/","home"]`), problem: ProblemWrongType, field: "page"},
		{name: "page checked on any known type", value: event("scroll", `,"depth":0.5,"page":{"url":"/"}`), problem: ProblemMissingField, field: "page.kind"},
		{name: "page_view without page", value: event("page_view", ``), problem: ProblemMissingField, field: "page"},
		{name: "url of 2048 bytes", value: event("page_view", `,"page":{"url":"/`+strings.Repeat("u", 2047)+`","kind":"search"}`)},
		{name: "url of 2049 bytes", value: event("page_view", `,"page":{"url":"/`+strings.Repeat("u", 2048)+`","kind":"search"}`), problem: ProblemInvalidValue, field: "page.url"},

		// Envelope.
		{name: "ts 0", value: `{"v":1,"type":"exit_intent","session":"s1","ts":0}`, problem: ProblemInvalidValue, field: "ts"},
		{name: "ts negative", value: `{"v":1,"type":"exit_intent","session":"s1","ts":-1}`, problem: ProblemInvalidValue, field: "ts"},
		{name: "ts at 2^53-1", noClock: true, value: `{"v":1,"type":"exit_intent","session":"s1","ts":9007199254740991}`},
		{name: "ts at 2^53", value: `{"v":1,"type":"exit_intent","session":"s1","ts":9007199254740992}`, problem: ProblemInvalidValue, field: "ts"},
		{name: "ts absent", value: `{"v":1,"type":"exit_intent","session":"s1"}`, problem: ProblemMissingTS, field: "ts"},
		{name: "key differs from session", key: "s2", value: event("exit_intent", ``), problem: ProblemKeyMismatch, field: "session"},
		{name: "nil key", key: "-", value: event("exit_intent", ``), problem: ProblemKeyMismatch, field: "session"},
		{name: "ts an hour ahead is fine", now: now - MaxFutureMs, value: event("exit_intent", ``)},
		{name: "ts an hour and 1 ms ahead", now: now - MaxFutureMs - 1, value: event("exit_intent", ``), problem: ProblemFutureTS, field: "ts"},
		{name: "nowMs 0 skips the future check", noClock: true, value: `{"v":1,"type":"exit_intent","session":"s1","ts":1732616400000}`},
		{name: "v absent", value: `{"type":"exit_intent","session":"s1","ts":1}`, problem: ProblemMissingField, field: "v"},
		{name: "v 2", value: `{"v":2,"type":"exit_intent","session":"s1","ts":1}`, problem: ProblemUnsupportedVersion, field: "v"},
		{name: "v 1.0", value: `{"v":1.0,"type":"exit_intent","session":"s1","ts":1}`},
		{name: "v a string", value: `{"v":"1","type":"exit_intent","session":"s1","ts":1}`, problem: ProblemWrongType, field: "v"},
		{name: "type absent", value: `{"v":1,"session":"s1","ts":1}`, problem: ProblemMissingField, field: "type"},
		{name: "type a number", value: `{"v":1,"type":3,"session":"s1","ts":1}`, problem: ProblemWrongType, field: "type"},
		{name: "bot null", value: event("exit_intent", `,"bot":null`), problem: ProblemWrongType, field: "bot"},
		{name: "bot true", value: event("exit_intent", `,"bot":true`),
			check: func(t *testing.T, ev *Event) { eq(t, "Bot", ev.Bot, true) }},
		{name: "problems are reported in a fixed order, not key order", key: "", value: `{"ts":"x","session":"","v":1}`, problem: ProblemMissingSession, field: "session"},

		// Unknown types: envelope checked, the rest skipped.
		{name: "unknown type keeps the envelope", value: `{"v":1,"type":"video_play","session":"s1","visitor":"v1","site":"shop","ts":1732530000000,"bot":true,"page":{"kind":"lookbook"}}`,
			err: ErrUnknownType, check: func(t *testing.T, ev *Event) {
				eq(t, "Type", ev.Type, TypeUnknown)
				eq(t, "Session", string(ev.Session), "s1")
				eq(t, "Visitor", string(ev.Visitor), "v1")
				eq(t, "Site", string(ev.Site), "shop")
				eq(t, "TS", ev.TS, int64(1732530000000))
				eq(t, "Bot", ev.Bot, true)
			}},
		{name: `"unknown" is an unknown type`, value: event("unknown", ``), err: ErrUnknownType},
		{name: "unknown type with a bad visitor", value: event("video_play", `,"visitor":7`), problem: ProblemWrongType, field: "visitor"},
		{name: "unknown type with a bad version", value: `{"v":3,"type":"video_play","session":"s1","ts":1}`, problem: ProblemUnsupportedVersion, field: "v"},

		// Type-specific fields: required where the type needs them, ignored
		// elsewhere.
		{name: "fields of other types are ignored", value: event("page_view", `,"page":{"url":"/","kind":"home"},"ms":"x","action":7,"step":0,"depth":9`)},
		{name: "mouse counts are optional", value: event("mouse", ``)},
		{name: "visibility state invalid", value: event("visibility", `,"state":"minimized"`), problem: ProblemInvalidValue, field: "state"},
		{name: "scroll dir null", value: event("scroll", `,"depth":0.5,"dir":null`), problem: ProblemWrongType, field: "dir"},
		{name: "form action absent", value: event("form", `,"field":"email"`), problem: ProblemMissingField, field: "action"},
		{name: "form field of 129 bytes", value: event("form", `,"action":"focus","field":"`+strings.Repeat("f", 129)+`"`), problem: ProblemInvalidValue, field: "field"},
		{name: "cart action of a form", value: event("cart", `,"action":"submit"`), problem: ProblemInvalidValue, field: "action"},
		{name: "checkout step 255", value: event("checkout", `,"step":255`)},
		{name: "checkout step 256", value: event("checkout", `,"step":256`), problem: ProblemInvalidValue, field: "step"},
		{name: "chat action absent", value: event("chat", ``), problem: ProblemMissingField, field: "action"},

		// The value as a whole.
		{name: "8192 bytes", value: padTo(event("exit_intent", `,"pad":""`), MaxEventBytes)},
		{name: "8193 bytes", value: padTo(event("exit_intent", `,"pad":""`), MaxEventBytes+1), problem: ProblemTooLarge},
		{name: "not UTF-8", value: event("exit_intent", `,"x":"`+"\xff"+`"`), problem: ProblemInvalidJSON},
		{name: "raw newline in a string", value: event("exit_intent", `,"x":"a`+"\n"+`b"`), problem: ProblemInvalidJSON},
		// Found by FuzzEventSchemaAgreement: fastjson's validator checks
		// only the part of a string after its last escape.
		{name: "raw control character before an escape", value: event("exit_intent", `,"x":"`+"\x10"+`\b"`), problem: ProblemInvalidJSON},
		{name: "raw control character before an escape in a key", value: event("exit_intent", `,"`+"\x01"+`\u0041":1`), problem: ProblemInvalidJSON},
		{name: "control characters escaped", value: event("exit_intent", `,"x":"\u0010\b\t"`)},
		{name: "leading zero", value: `{"v":01,"type":"exit_intent","session":"s1","ts":1}`, problem: ProblemInvalidJSON},
		{name: "Infinity", value: event("idle", `,"ms":Infinity`), problem: ProblemInvalidJSON},
		{name: "whitespace around", value: " \t\r\n" + event("exit_intent", ``) + "\n "},
		{name: "whitespace between tokens", value: "{ \"v\" :\t1 ,\r\n\"type\": \"exit_intent\",\"session\":\"s1\",\"ts\":1732530000000, \"page\": {\n \"url\": \"/a\" ,\"kind\":\"cart\" } }"},
		// Vertical tab and form feed are whitespace to JavaScript, not to JSON.
		{name: "vertical tab", value: event("exit_intent", ``) + "\v", problem: ProblemInvalidJSON},
		{name: "form feed between tokens", value: "{\"v\":\f1" + event("exit_intent", ``)[6:], problem: ProblemInvalidJSON},
		{name: "empty", value: ``, problem: ProblemInvalidJSON},
		{name: "array", value: `[]`, problem: ProblemNotObject},
		{name: "number", value: `1`, problem: ProblemNotObject},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			key := []byte(c.key)
			switch c.key {
			case "":
				if c.problem != ProblemMissingSession {
					key = []byte("s1")
				}
			case "-":
				key = nil
			}
			nowMs := c.now
			switch {
			case c.noClock:
				nowMs = 0
			case nowMs == 0:
				nowMs = now
			}
			var d Decoder
			var ev Event
			err := d.Decode(key, []byte(c.value), nowMs, &ev)
			switch {
			case c.problem != ProblemNone:
				var de *DecodeError
				if !errors.As(err, &de) {
					t.Fatalf("Decode = %v, want a %s DecodeError", err, c.problem)
				}
				if de.Problem != c.problem || de.Field != c.field {
					t.Fatalf("Decode = %v (problem %s, field %q), want problem %s, field %q", err, de.Problem, de.Field, c.problem, c.field)
				}
				return
			case err != c.err:
				t.Fatalf("Decode = %v, want %v", err, c.err)
			}
			if c.check != nil {
				c.check(t, &ev)
			}
		})
	}
}

func eq[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// padTo fills the "pad" field of event so that it is n bytes long.
func padTo(event string, n int) string {
	i := strings.Index(event, `"pad":""`) + len(`"pad":"`)
	return event[:i] + strings.Repeat("p", n-len(event)) + event[i:]
}

func TestDecoderReuse(t *testing.T) {
	// One Decoder serves a partition: what an event leaves behind must not
	// leak into the next one.
	var d Decoder
	var ev Event
	if err := d.Decode([]byte("s1"), []byte(event("cart", `,"action":"add","value":8999,"items":1,"page":{"url":"/p","kind":"product"}`)), 0, &ev); err != nil {
		t.Fatal(err)
	}
	if err := d.Decode([]byte("s1"), []byte(event("exit_intent", ``)), 0, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Value != 0 || ev.Items != 0 || ev.CartAction != CartNone || ev.Page.Kind != KindNone || ev.Page.URL != nil {
		t.Errorf("state of the previous event leaked: %+v", ev)
	}
	// A failed decode leaves no half-filled event that could be used.
	if err := d.Decode([]byte("s1"), []byte(`{"v":2}`), 0, &ev); err == nil {
		t.Fatal("want an error")
	}
	if ev.Type != TypeUnknown || ev.Session != nil {
		t.Errorf("a failed decode left %+v", ev)
	}
}

// TestDecoderGuessesAgree: a Decoder guesses each key from the order of
// the events before (Decoder.next); whatever it learned, it must decode an
// event exactly as a fresh one does. Every pair of inputs is decoded in
// turn, the second compared with a fresh decoder's result: the goldens as
// written and compacted, and keys a guess could be fooled by.
func TestDecoderGuessesAgree(t *testing.T) {
	var inputs []record
	for _, dir := range []string{"events/valid", "events/invalid"} {
		for _, g := range goldens(t, dir) {
			inputs = append(inputs, record{goldenKey(g), g.data})
			var c bytes.Buffer
			if json.Compact(&c, g.data) == nil {
				inputs = append(inputs, record{goldenKey(g), c.Bytes()})
			}
		}
	}
	for _, v := range []string{
		`{"v":1,"type":"idle","session":"s1","ts":1732530040000,"ms":5}`,
		`{"v":1,"type":"idle","session":"s1","ts":1732530040000,"ms":5,"v":1}`, // the last key near the end
		`{"v":1,"typ":"idle","type":"idle","session":"s1","ts":1732530040000,"ms":5}`,
		`{"v":1,"type2":"x","type":"idle","session":"s1","ts":1732530040000,"ms":5}`,
		`{"v":1,"type" :"idle","session":"s1","ts":1732530040000,"ms":5}`,
		`{"v":1,"t\u0079pe":"idle","session":"s1","ts":1732530040000,"ms":5}`,
		`{"v":1,"type":"idle","session":"s1","ts":1732530040000,"ms":5,"page":{"kind":"cart","url":"/c"}}`,
		`{"v":1,"type":"idle","session":"s1","ts":1732530040000,"ms":5,"page":{"url":"/c","url":"/d","kind":"cart"}}`,
		`{"v":1,"type":"idle","session":"s1","ts":1732530040000,"ms":5,"page":{"url":"/c","extra":{"url":"/x"},"kind":"cart"}}`,
		`{"v":1,"type":"idle","session":"s1","ts":1732530040000,"extra":{"ms":7},"ms":5}`,
		`{"v":1,"type":"idle","session":"s1","ts":1732530040000,"ms":"5"}`,
		`{"v":1,"type":"mouse","session":"s1","ts":1732530040000,"ms":5,"rage_clicks":1,"dead_clicks":2,"clicks":3}`,
		`{"v":1,"type":"mouse","session":"s1","ts":1732530040000,"ms":5,"rage_clickx":1,"dead_clicks":2,"clicks":3}`, // the guess's second word differs
		`{"v":1,"type":"idle","session":"s1","ts":1732530040000,"ms":5`,
	} {
		inputs = append(inputs, record{[]byte("s1"), []byte(v)})
	}
	result := func(d *Decoder, r record) string {
		var ev Event
		err := d.Decode(r.key, r.value, testNowMs, &ev)
		return fmt.Sprintf("%+v %v", ev, err)
	}
	for _, a := range inputs {
		var d Decoder
		result(&d, a)
		result(&d, a) // learned from a, guessed through a
		for _, b := range inputs {
			var fresh Decoder
			if got, want := result(&d, b), result(&fresh, b); got != want {
				t.Fatalf("after %s, %s decoded as\n%s\nwant\n%s", a.value, b.value, got, want)
			}
		}
	}
}

func TestDecodeErrorText(t *testing.T) {
	var d Decoder
	var ev Event
	err := d.Decode([]byte("s1"), []byte(event("page_view", `,"page":{"url":"/","kind":"landing"}`)), 0, &ev)
	if got := err.Error(); !strings.HasPrefix(got, `invalid_value: page.kind: "landing" is not one of [home `) {
		t.Errorf("Error() = %q", got)
	}
	err = d.Decode(nil, []byte(`[]`), 0, &ev)
	if got, want := err.Error(), "not_object: value is a JSON array, not an object"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if ProblemOf(nil) != ProblemNone || ProblemOf(ErrUnknownType) != ProblemNone {
		t.Error("ProblemOf of a non-DecodeError is not ProblemNone")
	}
}

func TestNames(t *testing.T) {
	// The lists feed metrics labels and DLQ headers: they must be copies, or
	// a caller that sorts or edits one would change what the codec reads.
	Types()[1] = "changed"
	PageKinds()[0] = "changed"
	Problems()[0] = "changed"
	Reasons()[0] = "changed"
	var d Decoder
	var ev Event
	if err := d.Decode([]byte("s1"), []byte(event("page_view", `,"page":{"url":"/","kind":"home"}`)), 0, &ev); err != nil {
		t.Fatalf("after editing the name lists: %v", err)
	}
	if ProblemTooLarge.String() != "too_large" || ReasonAbandonment.String() != "abandonment" {
		t.Error("editing the name lists changed String()")
	}

	if got := Problems(); len(got) != int(numProblems)-1 || got[0] != "too_large" || got[len(got)-1] != "internal_error" {
		t.Errorf("Problems() = %v", got)
	}
	if got := Types(); len(got) != int(numTypes) || got[TypeUnknown] != "unknown" || got[TypeChat] != "chat" {
		t.Errorf("Types() = %v", got)
	}
	for k := KindHome; k < numKinds; k++ {
		if got, ok := ParsePageKind(k.String()); !ok || got != k {
			t.Errorf("ParsePageKind(%q) = %v, %v", k.String(), got, ok)
		}
	}
	if _, ok := ParsePageKind(""); ok {
		t.Error(`ParsePageKind("") is a kind`)
	}
	if Type(200).String() != "unknown" || PageKind(200).String() != "" || Problem(200).String() != "unknown" {
		t.Error("out-of-range String()")
	}
}

func TestDecodeAllocs(t *testing.T) {
	mix := decodeMix(t)
	var d Decoder
	var ev Event
	decodeAll := func() {
		for _, r := range mix {
			if err := d.Decode(r.key, r.value, testNowMs, &ev); err != nil && err != ErrUnknownType {
				t.Fatalf("%s: %v", r.value, err)
			}
		}
	}
	decodeAll() // warm the parser's buffers
	if allocs := testing.AllocsPerRun(50, decodeAll); allocs != 0 {
		t.Errorf("Decode allocates %.1f times per %d valid events, want 0", allocs, len(mix))
	}
}

type record struct{ key, value []byte }

// decodeMix is every valid golden event: all types, unknown ones, numbers
// written as decimals, escapes, duplicate keys.
func decodeMix(t testing.TB) []record {
	var mix []record
	for _, g := range goldens(t, "events/valid") {
		mix = append(mix, record{goldenKey(g), g.data})
	}
	return mix
}

func TestAppendDecisionAllocs(t *testing.T) {
	d := Decision{
		ID: []byte("s-1/2"), Session: []byte("s-1"), Visitor: []byte("v-1"), Site: []byte("shop"),
		Action: ActionInvite, Reason: ReasonConfusion, Score: 0.7702,
		Scores:  Scores{Abandonment: 0.3315, Confusion: 0.7702},
		Signals: []Signal{{Name: "field_errors", Value: 3, Weight: 0.61, Detail: []byte("email")}, {Name: "field_reedits", Value: 4, Weight: 0.235}},
		Page:    Page{URL: []byte("/checkout/shipping"), Kind: KindCheckout},
		EventTS: 1732530150000, DecidedAt: 1732530150012, ExpiresAt: 1732530210012,
		Model: []byte("m1-1a2b3c4d"), Team: []byte("service"),
	}
	buf := AppendDecision(nil, &d)
	if allocs := testing.AllocsPerRun(100, func() { buf = AppendDecision(buf[:0], &d) }); allocs != 0 {
		t.Errorf("AppendDecision into a reused buffer allocates %.1f times, want 0", allocs)
	}
}

func TestAppendString(t *testing.T) {
	cases := []struct {
		name, in, out string
		// want is what a JSON parser reads back; in when empty.
		want string
	}{
		{name: "plain", in: "/checkout/shipping", out: `"/checkout/shipping"`},
		{name: "empty", in: "", out: `""`},
		{name: "quote and backslash", in: `a"b\c`, out: `"a\"b\\c"`},
		{name: "short escapes", in: "a\nb\rc\td\be\f", out: `"a\nb\rc\td\be\f"`},
		{name: "other controls", in: "\x00\x01\x1f\x7f", out: `"\u0000\u0001\u001f` + "\x7f" + `"`},
		{name: "multi-byte UTF-8 kept", in: "größe “navy” 🧶", out: `"größe “navy” 🧶"`},
		{name: "invalid byte", in: "a\xffb", out: `"a` + "\ufffd" + `b"`, want: "a\ufffdb"},
		{name: "truncated rune at the end", in: "ab\xe2\x82", out: `"ab` + "\ufffd\ufffd" + `"`, want: "ab\ufffd\ufffd"},
		{name: "UTF-8 encoded surrogate", in: "\xed\xa0\x80", out: `"` + "\ufffd\ufffd\ufffd" + `"`, want: "\ufffd\ufffd\ufffd"},
		{name: "real U+FFFD kept", in: "\ufffd", out: `"` + "\ufffd" + `"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want := c.want
			if want == "" {
				want = c.in
			}
			for _, out := range [][]byte{AppendString(nil, c.in), AppendString([]byte("x"), []byte(c.in))[1:]} {
				if string(out) != c.out {
					t.Errorf("AppendString(%q) = %q, want %q", c.in, out, c.out)
				}
				if !json.Valid(out) || !utf8.Valid(out) {
					t.Fatalf("AppendString(%q) = %q is not valid JSON", c.in, out)
				}
				var got string
				if err := json.Unmarshal(out, &got); err != nil || got != want {
					t.Errorf("AppendString(%q) reads back as %q (%v), want %q", c.in, got, err, want)
				}
			}
		})
	}
}

func TestAppendStringAllocs(t *testing.T) {
	s := "field \"e-mail\"\n\x01 with größe and a bad byte \xff and a cut rune \xe2\x82"
	b := []byte(s)
	buf := make([]byte, 0, 256)
	if allocs := testing.AllocsPerRun(100, func() {
		buf = AppendString(buf[:0], s)
		buf = AppendString(buf, b)
	}); allocs != 0 {
		t.Errorf("AppendString into a reused buffer allocates %.1f times, want 0", allocs)
	}
}

func TestAppendFixed(t *testing.T) {
	for _, c := range []struct {
		f    float64
		prec int
		want string
	}{
		{0.81234, 4, "0.8123"}, {0.99996, 4, "1"}, {1, 4, "1"}, {0.5, 3, "0.5"}, {100, 3, "100"},
		{-0.00001, 4, "0"}, {math.NaN(), 4, "0"}, {math.Inf(-1), 3, "0"},
		{0.7351598173515982, -1, "0.7351598173515982"}, {math.Copysign(0, -1), -1, "0"}, {1e-7, -1, "0.0000001"},
	} {
		if got := string(appendFixed(nil, c.f, c.prec)); got != c.want {
			t.Errorf("appendFixed(%v, %d) = %s, want %s", c.f, c.prec, got, c.want)
		}
	}
}

// TestRoundtripWorstCase feeds the encoder the valid events whose encoding
// could outgrow the input: long strings made of escapes. AppendEvent must
// stay within MaxEventBytes, or what it writes from a valid event is
// refused as too_large. Control characters, which AppendString writes as
// six-byte \u escapes, are refused in every field the encoder writes, so
// only quotes, backslashes, slashes and lone surrogates are left to try.
func TestRoundtripWorstCase(t *testing.T) {
	for _, esc := range []string{`\"`, `\\`, `\/`, `\ud800`, `\u0041`} {
		t.Run(esc, func(t *testing.T) {
			// Display names may not hold a quote.
			name := esc
			if esc == `\"` {
				name = `\\`
			}
			build := func(urlChars int) string {
				id, nm := strings.Repeat(esc, 20), strings.Repeat(name, 20)
				return `{"v":1,"type":"form","session":"s1","visitor":"` + id + `","site":"` + nm +
					`","ts":1,"action":"focus","form":"` + nm + `","field":"` + nm +
					`","page":{"url":"/` + strings.Repeat(name, urlChars) + `","kind":"checkout"}}`
			}
			// As long a URL as the input limit and the URL limit allow: a
			// lone surrogate decodes to U+FFFD, three bytes of URL.
			n := MaxURLBytes - 1
			if esc == `\ud800` {
				n = (MaxURLBytes - 1) / 3
			}
			for len(build(n)) > MaxEventBytes {
				n--
			}
			var d Decoder
			var ev Event
			if err := d.Decode([]byte("s1"), []byte(build(n)), 0, &ev); err != nil {
				t.Fatal(err)
			}
			checkEventRoundtrip(t, []byte("s1"), &ev, nil)
		})
	}
}
