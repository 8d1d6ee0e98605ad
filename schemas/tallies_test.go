package schemas

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
)

// tallyKeyOf returns the record key a producer would give a tally value,
// read with encoding/json so the codec under test does not pick its own.
func tallyKeyOf(b []byte) []byte {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var env struct {
		Partition, HourStart any
		Site, Team           any
	}
	var raw map[string]any
	if dec.Decode(&raw) != nil {
		return nil
	}
	env.Partition, env.HourStart, env.Site, env.Team = raw["partition"], raw["hour_start"], raw["site"], raw["team"]
	num := func(v any) string {
		n, ok := v.(json.Number)
		if !ok {
			return ""
		}
		f, err := strconv.ParseFloat(string(n), 64)
		if err != nil {
			return string(n)
		}
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	site, _ := env.Site.(string)
	team, _ := env.Team.(string)
	return []byte(num(env.Partition) + "/" + site + "/" + team + "/" + num(env.HourStart))
}

func TestHourTallyKey(t *testing.T) {
	got := string(AppendHourTallyKey([]byte("x:"), 3, []byte("eu/shop"), []byte("sales"), 1732528800000))
	eq(t, "key", got, "x:3/eu/shop/sales/1732528800000")
}

func TestHourTallyDecode(t *testing.T) {
	const hour = 1732528800000 // 2024-11-25T10:00Z
	rec := func(extra string) string {
		return `{"v":1,"partition":3,"site":"shop","team":"sales","hour_start":1732528800000,"would_be":12,"invites":4,"suppressed":{"no_capacity":6,"cooldown":2}` + extra + `}`
	}
	key := "3/shop/sales/1732528800000"
	for _, tc := range []struct {
		name, key, value string
		problem          Problem
		field            string
		check            func(*testing.T, *HourTally)
	}{
		{name: "fields", key: key, value: rec(""), check: func(t *testing.T, h *HourTally) {
			eq(t, "Partition", h.Partition, 3)
			eq(t, "Site", string(h.Site), "shop")
			eq(t, "Team", string(h.Team), "sales")
			eq(t, "HourStart", h.HourStart, hour)
			eq(t, "WouldBe", h.WouldBe, 12)
			eq(t, "Invites", h.Invites, 4)
			eq(t, "no_capacity", h.SuppressedBy("no_capacity"), 6)
			eq(t, "cooldown", h.SuppressedBy("cooldown"), 2)
			eq(t, "bot", h.SuppressedBy("bot"), 0)
			eq(t, "causes", len(h.Suppressed), 2)
		}},
		{name: "a later suppressed object replaces the first", key: key, value: rec(`,"suppressed":{"bot":1}`), check: func(t *testing.T, h *HourTally) {
			eq(t, "causes", len(h.Suppressed), 1)
			eq(t, "bot", h.SuppressedBy("bot"), 1)
			eq(t, "no_capacity", h.SuppressedBy("no_capacity"), 0)
		}},
		{name: "a later number replaces the object", key: key, value: rec(`,"suppressed":3`), problem: ProblemWrongType, field: "suppressed"},
		{name: "site with slashes", key: "3/eu/shop/sales/1732528800000", value: strings.Replace(rec(""), `"shop"`, `"eu/shop"`, 1),
			check: func(t *testing.T, h *HourTally) { eq(t, "Site", string(h.Site), "eu/shop") }},
		{name: "key of another partition", key: "4/shop/sales/1732528800000", value: rec(""), problem: ProblemKeyMismatch, field: "hour_start"},
		{name: "key with the hour in seconds", key: "3/shop/sales/1732528800", value: rec(""), problem: ProblemKeyMismatch, field: "hour_start"},
		{name: "nil key", value: rec(""), problem: ProblemKeyMismatch, field: "hour_start"},
		{name: "hour an hour ahead is fine", key: "3/shop/sales/1732532400000", value: rec(`,"hour_start":1732532400000`)},
		{name: "hour two hours ahead", key: "3/shop/sales/1732536000000", value: rec(`,"hour_start":1732536000000`), problem: ProblemFutureTS, field: "hour_start"},
		{name: "cause count names the cause", key: key, value: rec(`,"suppressed":{"cooldown":1.5}`), problem: ProblemWrongType, field: "suppressed.cooldown"},
		{name: "bad cause does not name itself as a field", key: key, value: rec(`,"suppressed":{"Cool Down":1}`), problem: ProblemInvalidValue, field: "suppressed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d HourTallyDecoder
			var h HourTally
			err := d.Decode([]byte(tc.key), []byte(tc.value), 1732530600000, &h)
			if tc.problem != ProblemNone {
				var de *DecodeError
				if ProblemOf(err) != tc.problem || !asDecodeError(err, &de) || de.Field != tc.field {
					t.Fatalf("Decode = %v, want %s on %s", err, tc.problem, tc.field)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.check != nil {
				tc.check(t, &h)
			}
		})
	}

	// A decoder is reused: what a record leaves behind must not leak into
	// the next one.
	var d HourTallyDecoder
	var h HourTally
	if err := d.Decode([]byte(key), []byte(rec("")), 0, &h); err != nil {
		t.Fatal(err)
	}
	if err := d.Decode([]byte(key), []byte(rec(`,"suppressed":{}`)), 0, &h); err != nil {
		t.Fatal(err)
	}
	if h.Suppressed != nil || h.SuppressedBy("no_capacity") != 0 {
		t.Errorf("the previous record's causes leaked: %+v", h.Suppressed)
	}
}

func TestHourTallyDecodeAllocs(t *testing.T) {
	gs := goldens(t, "tallies/valid")
	keys := make([][]byte, len(gs))
	for i, g := range gs {
		keys[i] = tallyKeyOf(g.data)
	}
	var d HourTallyDecoder
	var h HourTally
	var buf []byte
	run := func() {
		for i, g := range gs {
			if err := d.Decode(keys[i], g.data, testNowMs, &h); err != nil {
				t.Fatal(err)
			}
			buf = AppendHourTally(buf[:0], &h)
		}
	}
	run()
	if n := testing.AllocsPerRun(50, run); n != 0 {
		t.Errorf("decoding and encoding tallies allocates %v times", n)
	}
}

// FuzzHourTally holds the tally decoder to its schema and its encoder, as
// FuzzCapacity and FuzzFeedback do for theirs.
func FuzzHourTally(f *testing.F) { fuzzRecord(f, recordContracts()[2]) }

func BenchmarkDecodeHourTally(b *testing.B) {
	g := goldens(b, "tallies/valid")[0]
	key := tallyKeyOf(g.data)
	var d HourTallyDecoder
	var h HourTally
	b.SetBytes(int64(len(g.data)))
	b.ReportAllocs()
	for b.Loop() {
		if err := d.Decode(key, g.data, testNowMs, &h); err != nil {
			b.Fatal(err)
		}
	}
}
