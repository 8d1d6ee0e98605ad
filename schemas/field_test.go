package schemas

import (
	"encoding/json"
	"errors"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestFieldRules(t *testing.T) {
	pv := func(url string) string { return event("page_view", `,"page":{"url":`+url+`,"kind":"product"}`) }
	form := func(extra string) string { return event("form", `,"action":"focus"`+extra) }
	for _, tc := range []struct {
		name, key, value string
		field            string // "" when the event is valid
		detail           string // a part of the detail, when refused
	}{
		// Display names.
		{name: "a real field name with brackets", value: form(`,"field":"order[billing][street]"`)},
		{name: "non-ASCII name", value: form(`,"field":"größe","form":"Straße & Co"`), field: "form", detail: `'&' at byte 8`},
		{name: "names with spaces, dots, slashes, backslashes", value: form(`,"field":"a b.c/d\\e","form":"x(y){z}=;:?!#%*+,@^_|~` + "`" + `"`)},
		{name: "field with markup", value: form(`,"field":"<img src=x>"`), field: "field", detail: `'<' at byte 0`},
		{name: "field with markup written as an escape", value: form(`,"field":"\u003cb"`), field: "field", detail: `'<'`},
		{name: "field with a single quote", value: form(`,"field":"it's"`), field: "field", detail: `'\''`},
		{name: "field with >", value: form(`,"field":"a>b"`), field: "field"},
		{name: "field with a double quote", value: form(`,"field":"a\"b"`), field: "field"},
		{name: "field with a tab", value: form(`,"field":"a\tb"`), field: "field", detail: "U+0009 at byte 1"},
		{name: "field with DEL", value: form(`,"field":"a` + "\x7f" + `"`), field: "field", detail: "U+007F"},
		{name: "field with U+0080", value: form(`,"field":"a\u0080"`), field: "field", detail: "U+0080"},
		{name: "field with U+009F", value: form(`,"field":"a` + "\u009f" + `"`), field: "field", detail: "U+009F"},
		{name: "U+00A0 and U+00C2 are text", value: form(`,"field":"a` + "\u00a0\u00c2" + `"`)},
		{name: "field with U+2028", value: form(`,"field":"a\u2028"`), field: "field", detail: "U+2028"},
		{name: "field with a right-to-left override", value: form(`,"field":"` + "\u202e" + `"`), field: "field", detail: "U+202E at byte 0"},
		{name: "field with a first-strong isolate", value: form(`,"field":"a\u2068"`), field: "field", detail: "U+2068"},
		{name: "neighbours of the bidi controls are text", value: form(`,"field":"` + "\u2027\u202f\u2065\u206a\u20ac" + `"`)},
		{name: "form name with an ampersand", value: form(`,"form":"a&amp;b"`), field: "form"},
		{name: "site with markup", value: event("exit_intent", `,"site":"<s>"`), field: "site"},
		{name: "site is checked on unknown types too", value: event("video_play", `,"site":"a'b"`), field: "site"},
		{name: "empty names are fine", value: form(`,"form":"","field":""`)},

		// URLs.
		{name: "path", value: pv(`"/checkout/shipping?step=2&x=1"`)},
		{name: "http URL", value: pv(`"http://shop.example/a"`)},
		{name: "https URL in capitals", value: pv(`"HTTPS://shop.example/a"`)},
		{name: "mixed-case scheme", value: pv(`"hTtP://shop.example/a"`)},
		{name: "protocol-relative URL is a path", value: pv(`"//cdn.example/a"`)},
		{name: "empty URL", value: pv(`""`)},
		{name: "javascript:", value: pv(`"javascript:alert(1)"`), field: "page.url", detail: "neither a path"},
		{name: "javascript: behind whitespace", value: pv(`" javascript:alert(1)"`), field: "page.url", detail: "neither a path"},
		{name: "data:", value: pv(`"data:text/html,hi"`), field: "page.url", detail: "neither a path"},
		{name: "http with one slash", value: pv(`"http:/shop.example"`), field: "page.url", detail: "neither a path"},
		{name: "http as a prefix of another scheme", value: pv(`"httpx://shop.example"`), field: "page.url", detail: "neither a path"},
		{name: "a relative URL", value: pv(`"checkout"`), field: "page.url", detail: "neither a path"},
		{name: "URL with NUL", value: pv(`"/a\u0000"`), field: "page.url", detail: "U+0000 at byte 2"},
		{name: "URL with CR LF", value: pv(`"/a\r\nb"`), field: "page.url", detail: "U+000D"},
		{name: "URL with ESC", value: pv(`"/\u001b[31m"`), field: "page.url", detail: "U+001B"},
		{name: "URL with a quote", value: pv(`"/a\"onmouseover=\"x"`), field: "page.url", detail: `'"'`},
		{name: "URL with an apostrophe", value: pv(`"/men's"`), field: "page.url", detail: `'\''`},
		{name: "URL with a tag", value: pv(`"/<script>"`), field: "page.url", detail: `'<'`},
		{name: "ref javascript:", value: event("page_view", `,"page":{"url":"/","kind":"home"},"ref":"javascript:x"`), field: "ref"},
		{name: "empty ref", value: event("page_view", `,"page":{"url":"/","kind":"home"},"ref":""`)},
		{name: "URL of another type's page is checked", value: event("scroll", `,"depth":0.5,"page":{"url":"x","kind":"home"}`), field: "page.url"},

		// Ids lose control characters only.
		{name: "ids with markup, quotes and ampersands", key: `s-<"'&>`, value: `{"v":1,"type":"exit_intent","session":"s-<\"'&>","visitor":"<v>&'\"","ts":1}`},
		{name: "session with a newline", key: "s\n", value: `{"v":1,"type":"exit_intent","session":"s\n","ts":1}`, field: "session", detail: "U+000A"},
		{name: "bad_field on the session comes before key_mismatch", key: "other", value: `{"v":1,"type":"exit_intent","session":"s\n","ts":1}`, field: "session"},
		{name: "visitor with ESC", value: event("exit_intent", `,"visitor":"v\u001b"`), field: "visitor"},
		{name: "visitor with a bidi override", value: event("exit_intent", `,"visitor":"v`+"\u202d"+`"`), field: "visitor"},
		{name: "visitor is checked on unknown types", value: event("video_play", `,"visitor":"v\u0007"`), field: "visitor"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := tc.key
			if key == "" {
				key = "s1"
			}
			var d Decoder
			var ev Event
			err := d.Decode([]byte(key), []byte(tc.value), 0, &ev)
			if tc.field == "" {
				if err != nil && err != ErrUnknownType {
					t.Fatalf("Decode = %v, want a valid event", err)
				}
				return
			}
			var de *DecodeError
			if !errors.As(err, &de) || de.Problem != ProblemBadField || de.Field != tc.field {
				t.Fatalf("Decode = %v, want bad_field on %s", err, tc.field)
			}
			if !strings.Contains(de.Detail, tc.detail) {
				t.Errorf("detail %q does not say %q", de.Detail, tc.detail)
			}
		})
	}
}

func TestRecordFieldRules(t *testing.T) {
	fb := func(extra string) string {
		return `{"v":1,"type":"invite_shown","invite_id":"s1/1","session":"s1","ts":1` + extra + `}`
	}
	for _, tc := range []struct {
		name, value string
		field       string
	}{
		{name: "feedback with markup in ids", value: `{"v":1,"type":"invite_shown","invite_id":"s<1>/1","session":"s1","visitor":"<v>","ts":1}`},
		{name: "feedback team with markup", value: fb(`,"team":"a<b"`), field: "team"},
		{name: "feedback site with an ampersand", value: fb(`,"site":"a&b"`), field: "site"},
		{name: "feedback invite id with a control character", value: `{"v":1,"type":"invite_shown","invite_id":"s1/1\u0000","session":"s1","ts":1}`, field: "invite_id"},
		{name: "feedback session with a control character", value: `{"v":1,"type":"invite_shown","invite_id":"s1/1","session":"s1\u0085","ts":1}`, field: "session"},
		{name: "feedback of an unknown type: the envelope is checked", value: `{"v":1,"type":"later","session":"s1","team":"'","ts":1}`, field: "team"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d FeedbackDecoder
			var f Feedback
			err := d.Decode(sessionOf([]byte(tc.value)), []byte(tc.value), 0, &f)
			checkBadField(t, err, tc.field)
		})
	}
	for _, tc := range []struct{ name, site, team, field string }{
		{name: "capacity site and team", site: "shop-eu", team: "sales team"},
		{name: "capacity team with markup", site: "shop", team: "<b>", field: "team"},
		{name: "capacity team with a newline", site: "shop", team: `a\nb`, field: "team"},
		{name: "capacity site with a quote", site: `a\"b`, team: "sales", field: "site"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			value := `{"v":1,"type":"capacity","site":"` + tc.site + `","team":"` + tc.team + `","agents":1,"free_slots":1,"avg_handle_s":60,"ts":1}`
			var env struct{ Site, Team string }
			if err := json.Unmarshal([]byte(value), &env); err != nil {
				t.Fatal(err)
			}
			var d CapacityDecoder
			var c Capacity
			err := d.Decode([]byte(env.Site+"/"+env.Team), []byte(value), 0, &c)
			checkBadField(t, err, tc.field)
		})
	}
}

func checkBadField(t *testing.T, err error, field string) {
	t.Helper()
	if field == "" {
		if err != nil {
			t.Fatalf("Decode = %v, want a valid record", err)
		}
		return
	}
	var de *DecodeError
	if !errors.As(err, &de) || de.Problem != ProblemBadField || de.Field != field {
		t.Fatalf("Decode = %v, want bad_field on %s", err, field)
	}
}

// TestFieldRulesMatchSchemas holds the decoders' rules and the published
// patterns to one definition, character by character: every character of
// the first 0x3000 code points and a few beyond, inside a name, an id and a
// URL, gets the same verdict from checkField and from the schema's regular
// expression. It also checks that the three schema files state the same
// rules, so none of them drifts on its own.
func TestFieldRulesMatchSchemas(t *testing.T) {
	patterns := map[string]map[string]string{} // file -> def -> pattern
	for _, file := range []string{"event.v1.schema.json", "feedback.v1.schema.json", "capacity.v1.schema.json"} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Defs map[string]struct {
				Pattern string `json:"pattern"`
			} `json:"$defs"`
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		patterns[file] = map[string]string{}
		for name, def := range doc.Defs {
			if def.Pattern != "" {
				patterns[file][name] = def.Pattern
			}
		}
	}
	ev := patterns["event.v1.schema.json"]
	for _, def := range []string{"id", "name", "url"} {
		if ev[def] == "" {
			t.Fatalf("event.v1.schema.json has no $defs/%s pattern", def)
		}
	}
	for file, defs := range patterns {
		for name, p := range defs {
			if p != ev[name] {
				t.Errorf("%s: $defs/%s pattern %q differs from the event schema's %q", file, name, p, ev[name])
			}
		}
	}
	for _, c := range []struct {
		def    string
		rule   fieldRule
		before string // what surrounds the character under test
	}{{"id", ruleID, "s-"}, {"name", ruleName, "n-"}, {"url", ruleURL, "/p"}} {
		re := regexp.MustCompile(ev[c.def])
		check := func(s string) {
			codec := checkField([]byte(s), c.def, c.rule) == nil
			if schema := re.MatchString(s); codec != schema {
				t.Errorf("%s %q: codec says %v, schema says %v", c.def, s, codec, schema)
			}
		}
		for r := rune(0); r < 0x3000; r++ {
			check(c.before + string(r) + "x")
		}
		for _, r := range []rune{0xfeff, 0xfffd, 0x1f9f6, 0x10ffff} {
			check(c.before + string(r))
		}
		for _, s := range []string{"", "/", "http://a", "https://a", "HTTP://A", "http:", "http:/", "https:/a", "javascript:x", "data:x", "//a", "a/b", "ftp://a", "\x00", "\u2028"} {
			check(s)
		}
	}
}

// TestValidName is the exported form of the display-name rule, for the
// configuration and the gateway.
func TestValidName(t *testing.T) {
	for s, want := range map[string]bool{
		"sales": true, "shop-eu": true, "Kundendienst Süd": true, "order[billing][street]": true, "": true,
		"a&b": false, "<b>": false, `a"b`: false, "a'b": false, "a\nb": false, "a\u202eb": false, "\xff": false,
	} {
		if got := ValidName([]byte(s)); got != want {
			t.Errorf("ValidName(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestCheckFieldAllocs(t *testing.T) {
	long := []byte("/" + strings.Repeat("größe-Straße-", 100))
	if !utf8.Valid(long) {
		t.Fatal("test input")
	}
	if n := testing.AllocsPerRun(100, func() {
		if checkField(long, "page.url", ruleURL) != nil || checkField(long[1:], "field", ruleName) != nil {
			t.Fatal("refused")
		}
	}); n != 0 {
		t.Errorf("checkField allocates %v times on a valid field", n)
	}
}

// TestDetailBound: the error of any refused record, which becomes the DLQ's
// error header, stays within MaxDetailBytes whatever the record key and
// however long the values the sender wrote. Every invalid golden is tried
// under a megabyte key made of bytes %q writes longest, and records whose
// errors quote the sender's values are tried at the largest size accepted.
func TestDetailBound(t *testing.T) {
	hugeKey := []byte(strings.Repeat("\x01\xff", 1<<19))
	longEnum := strings.Repeat("\u0085", (MaxEventBytes-200)/2)
	check := func(t *testing.T, err error) {
		t.Helper()
		if err == nil || err == ErrUnknownType {
			t.Fatalf("want a DecodeError, got %v", err)
		}
		if n := len(err.Error()); n > MaxDetailBytes {
			t.Errorf("an error of %d bytes, over MaxDetailBytes (%d): %.200s…", n, MaxDetailBytes, err)
		}
	}
	for _, dir := range []string{"events", "feedback", "capacity"} {
		for _, g := range goldens(t, dir+"/invalid") {
			t.Run(dir+"/"+g.name, func(t *testing.T) {
				var err error
				switch dir {
				case "events":
					var d Decoder
					var ev Event
					err = d.Decode(hugeKey, g.data, testNowMs, &ev)
				case "feedback":
					var d FeedbackDecoder
					var f Feedback
					err = d.Decode(hugeKey, g.data, testNowMs, &f)
				default:
					var d CapacityDecoder
					var c Capacity
					err = d.Decode(hugeKey, g.data, testNowMs, &c)
				}
				check(t, err)
			})
		}
	}
	t.Run("long enum value", func(t *testing.T) {
		var d Decoder
		var ev Event
		value := event("visibility", `,"state":"`+longEnum+`"`)
		if len(value) > MaxEventBytes {
			t.Fatalf("test value of %d bytes", len(value))
		}
		check(t, d.Decode([]byte("s1"), []byte(value), 0, &ev))
	})
	t.Run("long session under another key", func(t *testing.T) {
		var d Decoder
		var ev Event
		session := strings.Repeat("\u0378", MaxIDBytes/2) // unassigned: %q escapes it
		check(t, d.Decode(hugeKey, []byte(`{"v":1,"type":"exit_intent","session":"`+session+`","ts":1}`), 0, &ev))
	})
}

// TestScanClasses: the byte classes the scanner gathers as it reads a
// string (what the decoders check the field rules with) are those of the
// string's content, however the content is written: raw, as a \u escape
// or a short escape, in a string with or without other escapes before and
// after it.
func TestScanClasses(t *testing.T) {
	var encodings []string // JSON string contents
	add := func(r rune) {
		if r >= 0x20 && r != '"' && r != '\\' && !(r >= 0xd800 && r <= 0xdfff) {
			encodings = append(encodings, string(r))
		}
		if r <= 0xffff {
			encodings = append(encodings, `\u`+strings.ToUpper(strconv.FormatInt(int64(r)|0x10000, 16)[1:]))
		}
	}
	for r := rune(0); r < 0x3000; r++ {
		add(r)
	}
	for _, r := range []rune{0xd800, 0xdfff, 0xfeff, 0xfffd, 0x10ffff} {
		add(r)
	}
	encodings = append(encodings, `\b`, `\f`, `\n`, `\r`, `\t`, `\"`, `\\`, `\/`, `\ud83e\uddf6`, "\U0001f9f6", `\ud800\u0041`)
	var s scanner
	for _, enc := range encodings {
		for _, str := range []string{enc, "ab" + enc + "cd", `\/` + enc, enc + `\/`, "é" + enc + `\u00e9`} {
			quoted := `"` + str + `"`
			var content string
			if err := json.Unmarshal([]byte(quoted), &content); err != nil {
				t.Fatalf("test input %s: %v", quoted, err)
			}
			var want uint8
			for _, c := range []byte(content) {
				want |= fieldClass[c]
			}
			s = scanner{b: []byte(quoted), scratch: make([]byte, 0, len(quoted))}
			v := s.value(0)
			if s.err != "" || v.kind != jString || string(v.b) != content {
				t.Fatalf("scan %s: %q, %v", quoted, v.b, s.err)
			}
			if v.cls != want {
				t.Errorf("scan %s: classes %08b, the content's are %08b", quoted, v.cls, want)
			}
		}
	}
}
