package schemas

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
)

// quickCases are inputs at the edge of what the fast path reads: each
// must decode as the general scanner decodes it, whichever path takes it.
var quickCases = []string{
	`{"v":1,"type":"page_view","session":"s1","ts":1732530000000,"page":{"url":"/p/a?x=1&y=<2>","kind":"product"}}`,
	`{"v":1,"type":"page_view","session":"s1","ts":1732530000000,"page":{"kind":"product","url":"/p/a"},"ref":"https://e.example/'"}`,
	`{"v":1,"type":"page_view","session":"s1","ts":1732530000000,"page":{"url":"/a","kind":"home"},"page":{"url":"/b"}}`,
	`{"v":1,"type":"page_view","session":"s1","ts":1732530000000,"page":{"url":"/a","kind":"home"},"page":"x"}`,
	`{"v":1,"type":"page_view","session":"s1","ts":1732530000000,"page":{"url":"/a","kind":"home","x":1}}`,
	`{"v":1,"type":"page_view","session":"s1","ts":1732530000000,"page":{"url":1,"kind":"home"}}`,
	`{"v":1,"type":"page_view","session":"s1","ts":1732530000000,"page":{}}`,
	`{"v":1,"type":"idle","session":"s1","ts":1732530000000,"ms":1.0e3}`,
	`{"v":1,"type":"idle","session":"s1","ts":1732530000000,"ms":-0}`,
	`{"v":1,"type":"idle","session":"s1","ts":1732530000000,"ms":01}`,
	`{"v":1,"type":"idle","session":"s1","ts":1732530000000,"ms":1.}`,
	`{"v":1,"type":"idle","session":"s1","ts":1732530000000,"ms":1e}`,
	`{"v":1,"type":"idle","session":"s1","ts":1732530000000,"ms":99999999999999999999}`,
	`{"v":1,"type":"idle","session":"s1","ts":1732530000000,"ms":-}`,
	`{"v":1,"type":"idle","session":"s1","ts":1732530000000,"ms":true}`,
	`{"v":1,"type":"idle","session":"s1","ts":1732530000000,"ms":nul}`,
	`{"v":1,"type":"idle","session":"s1","ts":1732530000000,"ms":[1]}`,
	`{"v":1,"type":"idle","session":"s1","ts":1732530000000,"ms":5,"extra":{"a":[1]}}`,
	`{"v":1,"type":"idle","session":"s1","ts":1732530000000,"ms":5}x`,
	`{"v":1,"type":"idle","session":"s1","ts":1732530000000,"ms":5} `,
	`{"v":1,"type":"idle","session":"s1","ts":1732530000000, "ms":5}`,
	`{"v":1,"type":"idle","session":"s1","ts":1732530000000,"ms":5`,
	`{"v":1,"type":"idle","session":"s1","ts":1732530000000,"ms"`,
	`{"v":1,"type":"idle","session":"s\u00e91","ts":1732530000000,"ms":5}`,
	`{"v":1,"type":"idle","session":"s` + "\xc3\xa9" + `1","ts":1732530000000,"ms":5}`,
	`{"v":1,"type":"idle","session":"s` + "\xff" + `1","ts":1732530000000,"ms":5}`,
	`{"v":1,"type":"idle","session":"s` + "\x01" + `1","ts":1732530000000,"ms":5}`,
	`{"v":1,"type":"form","session":"s1","ts":1732530000000,"page":{"url":"/c","kind":"checkout"},"form":"a<b","field":"x","action":"focus"}`,
	`{"v":1,"type":"scroll","session":"s1","ts":1732530000000,"depth":1.0,"dir":"up"}`,
	`{"v":1,"type":"scroll","session":"s1","ts":1732530000000,"depth":1e-1,"dir":"sideways"}`,
	`{"v":"1","type":"idle","session":"s1","ts":1732530000000,"ms":5}`,
	`{"v":1,"v":2,"type":"idle","session":"s1","ts":1732530000000,"ms":5}`,
	`{"v":1,"type":"idle","session":"s1","ts":1732530000000,"ms":5,"bot":null}`,
	`{"v":1,"type":"idle","session":"s1","ts":1732530000000,"ms":5,"bot":false}`,
	`{"v":1,"type":"idle","session":"s1","ts":1732530000000,"ms":5,"bot":true}`,
	`{"v":1,"type":"idle","session":"s1","ts":1732530000000,"ms":5,"bot":truth}`,
	`{"v":1,0ts":10000}`,
	`{"v":1,"type":"idle","session":"s1","ts":-1,"ms":5}`,
	`{"v":1,"type":"idle","session":"s1","ts":1732530000000,"ms":-5}`,
	`{"v":1,"type":"idle","session":"s1","ts":1732530000000,"ms":9999999999999999}`,
	`{"v":1,"type":"idle","session":"s1","ts":1732530000000,"ms":12345678901234567}`,
	`{"v":1,"type":"idle","session":"s1","ts":1732530000000,"ms":4294967296}`,
	`{"v":1,"type":"checkout","session":"s1","ts":1732530000000,"step":3.0}`,
	` {"v" : 1,"type":"idle","session":"s1","ts":1732530000000,"ms":5}`,
	`{"v": 1, "type": "idle", "session": "s1", "ts": 1732530000000, "ms": 5}` + "\n",
	"{\n\t\"v\":1,\r\n\"type\":\"idle\",\"session\":\"s1\",\"ts\":1732530000000,\"ms\":5\n}\n\n",
	`{"v":1,"type":"page_view","session":"s1","ts":1732530000000,"page":{ "url" : "/a" , "kind":"home" } }`,
	`{"v":1,"type":"idle","session":"s1","ts":1732530000000,"ms":5 ,}`,
	`{"v":1,"type":"idle","session":"s1","ts":1732530000000,"ms":5}` + "\x0b",
	`{"v":1,"type":"idle","session":"s1","ts":1732530000000,"ms":5}` + "\x00",
	`{ }`,
	`{}`,
	`{"`,
	`[1]`,
	`"x"`,
	``,
}

// TestQuickAgreesWithScanner holds the fast path to the general scanner:
// the same event or the same error for every case, every golden and every
// golden compacted.
func TestQuickAgreesWithScanner(t *testing.T) {
	var inputs [][]byte
	for _, c := range quickCases {
		inputs = append(inputs, []byte(c))
	}
	for _, dir := range []string{"events/valid", "events/invalid"} {
		for _, g := range goldens(t, dir) {
			inputs = append(inputs, g.data)
			var buf bytes.Buffer
			if json.Compact(&buf, g.data) == nil {
				inputs = append(inputs, buf.Bytes())
			}
		}
	}
	for _, in := range inputs {
		checkQuickAgrees(t, sessionOf(in), in)
	}
}

// TestQuickTakesCollectorEvents: the fast path must read the valid
// goldens, as they are (most pretty-printed, some with Python's separators
// or a trailing newline) and compacted, or the decoder is as slow as
// before and nothing else would say so. It leaves to the scanner only
// these, and says why.
func TestQuickTakesCollectorEvents(t *testing.T) {
	general := map[string]string{
		"exit_intent-markup-in-ids.json": "escapes",
		"page_view-escapes.json":         "escapes",
		"page_view-unicode-url.json":     "text beyond ASCII",
		"page_view-extra-fields.json":    "keys the contract does not know",
		"unknown-type-video_play.json":   "keys the contract does not know",
	}
	for _, g := range goldens(t, "events/valid") {
		var buf bytes.Buffer
		if err := json.Compact(&buf, g.data); err != nil {
			t.Fatal(err)
		}
		_, scanner := general[g.name]
		for _, in := range [][]byte{g.data, buf.Bytes()} {
			var d Decoder
			if taken := d.quick(in); taken == scanner {
				t.Errorf("%s: the fast path took it: %v, want %v (%s): %s", g.name, taken, !scanner, general[g.name], in)
			}
		}
	}
}

// FuzzDecodeQuick: on any input, Decode (which tries the fast path
// first) and the general scanner alone give the same event or error.
func FuzzDecodeQuick(f *testing.F) {
	for _, c := range quickCases {
		f.Add(sessionOf([]byte(c)), []byte(c))
	}
	for _, g := range goldens(f, "events/valid") {
		f.Add(goldenKey(g), g.data)
		var buf bytes.Buffer
		if json.Compact(&buf, g.data) == nil {
			f.Add(goldenKey(g), buf.Bytes())
		}
	}
	f.Fuzz(checkQuickAgrees)
}

func checkQuickAgrees(t *testing.T, key, value []byte) {
	t.Helper()
	var fast, general Decoder
	var a, b Event
	errA := fast.Decode(key, value, testNowMs, &a)
	b.Reset()
	errB := general.decodeGeneral(key, value, testNowMs, &b)
	if x, y := fmt.Sprintf("%+v %v", a, errA), fmt.Sprintf("%+v %v", b, errB); x != y {
		t.Fatalf("input %q:\nDecode gives  %s\nthe scanner gives %s", value, x, y)
	}
}
