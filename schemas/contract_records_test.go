package schemas

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/valyala/fastjson"
)

// The capacity and feedback contracts are held to what the event contract
// is held to (contract_test.go): every golden example is judged the same
// way by the Go decoder and by the published JSON Schema, valid ones
// survive decode, encode, decode unchanged, and each DLQ reason has an
// invalid golden named after it.

var (
	recordSchemaOnce               sync.Once
	capSchema, fbSchema, tlySchema *jsonschema.Schema
	recordSchemaCompErr            error
	recordContractsSlice           []recordContract
)

func recordSchemas(t testing.TB) (capacity, feedback, tallies *jsonschema.Schema) {
	t.Helper()
	recordSchemaOnce.Do(func() {
		c := jsonschema.NewCompiler()
		if capSchema, recordSchemaCompErr = c.Compile("capacity.v1.schema.json"); recordSchemaCompErr != nil {
			return
		}
		if fbSchema, recordSchemaCompErr = c.Compile("feedback.v1.schema.json"); recordSchemaCompErr != nil {
			return
		}
		tlySchema, recordSchemaCompErr = c.Compile("tallies.v1.schema.json")
	})
	if recordSchemaCompErr != nil {
		t.Fatalf("compile schema: %v", recordSchemaCompErr)
	}
	return capSchema, fbSchema, tlySchema
}

// recordContract is what the shared tests need to know of one contract.
type recordContract struct {
	name string // testdata/<name>/{valid,invalid}
	// key returns the record key a producer would use for value, read with
	// encoding/json so the codec under test does not pick its own key.
	key func(value []byte) []byte
	// mismatchKey keys the key_mismatch goldens.
	mismatchKey string
	// decode decodes with a fresh decoder; retry, if the record is
	// refused for its key, returns the key it should have had (from the
	// half-decoded record) for the fuzzers.
	decode func(key, value []byte, nowMs int64) (rec any, retry []byte, err error)
	encode func(rec any) []byte
	schema func(testing.TB) *jsonschema.Schema
	// problems lists the DLQ reasons the contract can give.
	problems []Problem
}

func recordContracts() []recordContract {
	if recordContractsSlice != nil {
		return recordContractsSlice
	}
	all := func(except ...Problem) []Problem {
		var ps []Problem
	next:
		for p := ProblemNone + 1; p < ProblemInternal; p++ {
			for _, e := range except {
				if p == e {
					continue next
				}
			}
			ps = append(ps, p)
		}
		return ps
	}
	recordContractsSlice = []recordContract{
		{
			name: "capacity",
			key: func(b []byte) []byte {
				var env struct{ Site, Team any }
				if json.Unmarshal(b, &env) != nil {
					return nil
				}
				site, _ := env.Site.(string)
				team, _ := env.Team.(string)
				return []byte(site + "/" + team)
			},
			mismatchKey: "shop/someone-else",
			decode: func(key, value []byte, nowMs int64) (any, []byte, error) {
				var d CapacityDecoder
				var c Capacity
				err := d.Decode(key, value, nowMs, &c)
				return &c, AppendCapacityKey(nil, c.Site, c.Team), err
			},
			encode:   func(rec any) []byte { return AppendCapacity(nil, rec.(*Capacity)) },
			schema:   func(t testing.TB) *jsonschema.Schema { c, _, _ := recordSchemas(t); return c },
			problems: all(ProblemMissingSession),
		},
		{
			name:        "feedback",
			key:         sessionOf,
			mismatchKey: mismatchKey,
			decode: func(key, value []byte, nowMs int64) (any, []byte, error) {
				var d FeedbackDecoder
				var f Feedback
				err := d.Decode(key, value, nowMs, &f)
				return &f, bytes.Clone(f.Session), err
			},
			encode:   func(rec any) []byte { return AppendFeedback(nil, rec.(*Feedback)) },
			schema:   func(t testing.TB) *jsonschema.Schema { _, f, _ := recordSchemas(t); return f },
			problems: all(),
		},
		{
			name:        "tallies",
			key:         tallyKeyOf,
			mismatchKey: "3/shop-eu/sales/1732525200000",
			decode: func(key, value []byte, nowMs int64) (any, []byte, error) {
				var d HourTallyDecoder
				var t HourTally
				err := d.Decode(key, value, nowMs, &t)
				return &t, AppendHourTallyKey(nil, t.Partition, t.Site, t.Team, t.HourStart), err
			},
			encode:   func(rec any) []byte { return AppendHourTally(nil, rec.(*HourTally)) },
			schema:   func(t testing.TB) *jsonschema.Schema { _, _, s := recordSchemas(t); return s },
			problems: all(ProblemMissingSession, ProblemMissingTS),
		},
	}
	return recordContractsSlice
}

func (rc recordContract) goldenKey(g golden) []byte {
	if strings.HasPrefix(g.name, "key_mismatch--") {
		return []byte(rc.mismatchKey)
	}
	return rc.key(g.data)
}

// roundtrip encodes rec, which decoded from a record keyed key, and checks
// that the result is schema-valid (if sch is set) and decodes to the same
// record.
func (rc recordContract) roundtrip(t *testing.T, key []byte, rec any, sch *jsonschema.Schema) {
	t.Helper()
	enc := rc.encode(rec)
	if sch != nil {
		if _, err := schemaVerdict(sch, enc); err != nil {
			t.Errorf("encoder output is not schema-valid: %v\n%s", err, enc)
		}
	}
	again, _, err := rc.decode(key, enc, 0)
	if err != nil {
		t.Fatalf("decode the encoder's output: %v\n%s", err, enc)
	}
	if diff := structDiff(rec, again); diff != nil {
		t.Errorf("roundtrip changed %v\n%s", diff, enc)
	}
}

func TestRecordGoldens(t *testing.T) {
	for _, rc := range recordContracts() {
		sch := rc.schema(t)
		t.Run(rc.name+"/valid", func(t *testing.T) {
			feedbackTypes := map[FeedbackType]bool{}
			for _, g := range goldens(t, rc.name+"/valid") {
				t.Run(g.name, func(t *testing.T) {
					if _, err := schemaVerdict(sch, g.data); err != nil {
						t.Errorf("schema refuses a valid golden: %v", err)
					}
					key := rc.goldenKey(g)
					rec, _, err := rc.decode(key, g.data, testNowMs)
					if strings.HasPrefix(g.name, "unknown-type-") {
						if err != ErrUnknownType {
							t.Fatalf("Decode = %v, want ErrUnknownType", err)
						}
						return
					}
					if err != nil {
						t.Fatalf("Decode: %v", err)
					}
					if f, ok := rec.(*Feedback); ok {
						feedbackTypes[f.Type] = true
					}
					rc.roundtrip(t, key, rec, sch)
				})
			}
			if rc.name == "feedback" {
				for ty := FeedbackUnknown + 1; ty < numFeedbackTypes; ty++ {
					if !feedbackTypes[ty] {
						t.Errorf("no valid golden of type %s", ty)
					}
				}
			}
		})
		t.Run(rc.name+"/invalid", func(t *testing.T) {
			count := map[Problem]int{}
			for _, g := range goldens(t, rc.name+"/invalid") {
				t.Run(g.name, func(t *testing.T) {
					want := problemOfName(t, g.name)
					count[want]++
					_, _, err := rc.decode(rc.goldenKey(g), g.data, testNowMs)
					if got := ProblemOf(err); got != want {
						t.Errorf("Decode = %v, want problem %s", err, want)
					}
					parsed, serr := schemaVerdict(sch, g.data)
					switch {
					case schemaBlind[want] != "":
						if serr != nil {
							t.Errorf("%s is beyond a schema (%s), so the rest must be valid: %v", want, schemaBlind[want], serr)
						}
					case want == ProblemInvalidJSON:
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
			for _, p := range rc.problems {
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
}

func TestCapacityDecode(t *testing.T) {
	rec := func(site, team, extra string) string {
		return `{"v":1,"type":"capacity","site":"` + site + `","team":"` + team + `","agents":4,"free_slots":2,"avg_handle_s":300,"ts":1732530000000` + extra + `}`
	}
	for _, tc := range []struct {
		name, key, value string
		problem          Problem
		field            string
		check            func(*testing.T, *Capacity)
	}{
		{name: "site with a slash: the key splits at the last one", key: "eu/shop/sales", value: rec("eu/shop", "sales", ""),
			check: func(t *testing.T, c *Capacity) {
				eq(t, "Site", string(c.Site), "eu/shop")
				eq(t, "Team", string(c.Team), "sales")
			}},
		{name: "empty site", key: "/sales", value: rec("", "sales", ""),
			check: func(t *testing.T, c *Capacity) { eq(t, "Site", string(c.Site), "") }},
		{name: "fields", key: "shop/sales", value: rec("shop", "sales", ""),
			check: func(t *testing.T, c *Capacity) {
				eq(t, "Agents", c.Agents, 4)
				eq(t, "FreeSlots", c.FreeSlots, 2)
				eq(t, "AvgHandleS", c.AvgHandleS, 300.0)
				eq(t, "TS", c.TS, 1732530000000)
			}},
		{name: "duplicate key, last wins", key: "shop/sales", value: rec("shop", "sales", `,"free_slots":0`),
			check: func(t *testing.T, c *Capacity) { eq(t, "FreeSlots", c.FreeSlots, 0) }},
		{name: "avg_handle_s of exactly 1 and a day", key: "shop/sales", value: rec("shop", "sales", `,"avg_handle_s":1`)},
		{name: "avg_handle_s of a day", key: "shop/sales", value: rec("shop", "sales", `,"avg_handle_s":86400.0`)},
		{name: "key without the site", key: "sales", value: rec("shop", "sales", ""), problem: ProblemKeyMismatch, field: "team"},
		{name: "nil key", value: rec("shop", "sales", ""), problem: ProblemKeyMismatch, field: "team"},
		{name: "future ts", key: "shop/sales", value: rec("shop", "sales", `,"ts":1732533600001`), problem: ProblemFutureTS, field: "ts"},
		{name: "avg_handle_s null", key: "shop/sales", value: rec("shop", "sales", `,"avg_handle_s":null`), problem: ProblemWrongType, field: "avg_handle_s"},
		{name: "unknown type keeps the envelope", key: "shop/sales", value: `{"v":1,"type":"later","site":"shop","team":"sales","ts":5}`,
			problem: ProblemNone, check: func(t *testing.T, c *Capacity) { eq(t, "TS", c.TS, 5) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d CapacityDecoder
			var c Capacity
			err := d.Decode([]byte(tc.key), []byte(tc.value), 1732530000000, &c)
			if tc.problem != ProblemNone {
				var de *DecodeError
				if ProblemOf(err) != tc.problem || !asDecodeError(err, &de) || de.Field != tc.field {
					t.Fatalf("Decode = %v, want %s on %s", err, tc.problem, tc.field)
				}
				return
			}
			if err != nil && err != ErrUnknownType {
				t.Fatal(err)
			}
			if tc.check != nil {
				tc.check(t, &c)
			}
		})
	}
}

func TestFeedbackDecode(t *testing.T) {
	var d FeedbackDecoder
	var f Feedback
	// A decoder serves a partition: what a record leaves behind must not
	// leak into the next one.
	if err := d.Decode([]byte("s-1"), []byte(`{"v":1,"type":"chat_started","invite_id":"s-1/1","session":"s-1","visitor":"v","site":"shop","team":"sales","ts":9}`), 0, &f); err != nil {
		t.Fatal(err)
	}
	eq(t, "Type", f.Type, FeedbackChatStarted)
	if err := d.Decode([]byte("s-2"), []byte(`{"v":1,"type":"invite_shown","invite_id":"s-2/4","session":"s-2","ts":10}`), 0, &f); err != nil {
		t.Fatal(err)
	}
	if f.Visitor != nil || f.Site != nil || f.Team != nil || string(f.InviteID) != "s-2/4" || f.Type != FeedbackShown {
		t.Errorf("the previous record leaked: %+v", f)
	}
	// Unknown types keep the envelope and need no invite_id.
	err := d.Decode([]byte("s-3"), []byte(`{"v":1,"type":"invite_hovered","session":"s-3","site":"shop","ts":11}`), 0, &f)
	if err != ErrUnknownType || string(f.Site) != "shop" || f.TS != 11 {
		t.Errorf("unknown type: %v %+v", err, f)
	}
	// The fields of chat_ended and chat_rated are read for their own type
	// only, and do not outlive their record.
	if err := d.Decode([]byte("s-4"), []byte(`{"v":1,"type":"chat_ended","invite_id":"s-4/1","session":"s-4","ts":12,"handle_s":1e2,"score":9}`), 0, &f); err != nil {
		t.Fatal(err)
	}
	eq(t, "HandleS", f.HandleS, 100.0)
	eq(t, "Score", f.Score, 0)
	if err := d.Decode([]byte("s-4"), []byte(`{"v":1,"type":"chat_rated","invite_id":"s-4/1","session":"s-4","ts":13,"handle_s":-7,"score":1}`), 0, &f); err != nil {
		t.Fatal(err)
	}
	eq(t, "HandleS", f.HandleS, 0.0)
	eq(t, "Score", f.Score, 1)
	if err := d.Decode([]byte("s-4"), []byte(`{"v":1,"type":"invite_accepted","invite_id":"s-4/1","session":"s-4","ts":14,"handle_s":5,"score":5}`), 0, &f); err != nil {
		t.Fatal(err)
	}
	if f.HandleS != 0 || f.Score != 0 {
		t.Errorf("invite_accepted kept handle_s or score: %+v", f)
	}
	if FeedbackType(99).String() != "unknown" || FeedbackDeclined.String() != "invite_declined" ||
		FeedbackChatEnded.String() != "chat_ended" || FeedbackChatRated.String() != "chat_rated" {
		t.Error("FeedbackType.String")
	}
	FeedbackTypes()[1] = "changed"
	if FeedbackShown.String() != "invite_shown" {
		t.Error("FeedbackTypes must return a copy")
	}
}

func asDecodeError(err error, de **DecodeError) bool {
	e, ok := err.(*DecodeError)
	*de = e
	return ok
}

func TestRecordDecodeAllocs(t *testing.T) {
	capMix := goldens(t, "capacity/valid")
	fbMix := goldens(t, "feedback/valid")
	rcs := recordContracts()
	var cd CapacityDecoder
	var c Capacity
	var fd FeedbackDecoder
	var f Feedback
	var buf []byte
	run := func() {
		for _, g := range capMix {
			if err := cd.Decode(rcs[0].key(g.data), g.data, testNowMs, &c); err != nil && err != ErrUnknownType {
				t.Fatal(err)
			}
			buf = AppendCapacity(buf[:0], &c)
		}
		for _, g := range fbMix {
			if err := fd.Decode(rcs[1].key(g.data), g.data, testNowMs, &f); err != nil && err != ErrUnknownType {
				t.Fatal(err)
			}
			buf = AppendFeedback(buf[:0], &f)
		}
	}
	// The keys are read with encoding/json, which allocates: take them out.
	keysOnly := func() {
		for _, g := range capMix {
			_ = rcs[0].key(g.data)
		}
		for _, g := range fbMix {
			_ = rcs[1].key(g.data)
		}
	}
	run()
	if n, k := testing.AllocsPerRun(50, run), testing.AllocsPerRun(50, keysOnly); n != k {
		t.Errorf("decoding and encoding capacity and feedback allocates %v times beyond the test's own %v", n-k, k)
	}
}

// FuzzCapacity and FuzzFeedback hold each decoder to the schema on inputs
// nobody thought of, and to its encoder: what decodes encodes to a
// schema-valid record that decodes to the same thing. As for events, the
// agreement skips what the schema's description owns up to (non-ASCII
// text, lone surrogates, the size and nesting limits) and the key is taken
// from the value, as a producer would.
func FuzzCapacity(f *testing.F) { fuzzRecord(f, recordContracts()[0]) }

func FuzzFeedback(f *testing.F) { fuzzRecord(f, recordContracts()[1]) }

func fuzzRecord(f *testing.F, rc recordContract) {
	sch := rc.schema(f)
	for _, dir := range []string{"/valid", "/invalid"} {
		for _, g := range goldens(f, rc.name+dir) {
			f.Add(g.data)
		}
	}
	f.Fuzz(func(t *testing.T, value []byte) {
		rec, retry, err := rc.decode(nil, value, 0)
		key := []byte(nil)
		if ProblemOf(err) == ProblemKeyMismatch {
			key = retry
			rec, _, err = rc.decode(key, value, 0)
		}
		if err == nil {
			rc.roundtrip(t, key, rec, sch)
		} else if err != ErrUnknownType && ProblemOf(err) == ProblemNone {
			t.Fatalf("Decode returned %v, neither ErrUnknownType nor a *DecodeError", err)
		} else if n := len(err.Error()); n > MaxDetailBytes {
			t.Fatalf("an error of %d bytes, over MaxDetailBytes: %v", n, err)
		}
		if len(value) > MaxEventBytes || !plainASCII(value) {
			return
		}
		codecOK := err == nil || err == ErrUnknownType
		parsed, serr := schemaVerdict(sch, value)
		switch {
		case !parsed:
			if codecOK {
				t.Fatalf("codec accepts what encoding/json cannot parse (%v)", serr)
			}
		case ProblemOf(err) == ProblemInvalidJSON && nesting(value) > fastjson.MaxDepth:
		case codecOK != (serr == nil):
			t.Fatalf("codec says %v, schema says %v", err, serr)
		}
	})
}

func BenchmarkDecodeCapacity(b *testing.B) {
	g := goldens(b, "capacity/valid")[0]
	key := recordContracts()[0].key(g.data)
	var d CapacityDecoder
	var c Capacity
	b.SetBytes(int64(len(g.data)))
	b.ReportAllocs()
	for b.Loop() {
		if err := d.Decode(key, g.data, testNowMs, &c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeFeedback decodes a chat_started record, the envelope
// alone; BenchmarkDecodeFeedbackChatEnded adds a number to read.
func BenchmarkDecodeFeedback(b *testing.B) { benchFeedback(b, "chat-started.json") }

func BenchmarkDecodeFeedbackChatEnded(b *testing.B) { benchFeedback(b, "chat-ended.json") }

func benchFeedback(b *testing.B, name string) {
	i := slices.IndexFunc(goldens(b, "feedback/valid"), func(g golden) bool { return g.name == name })
	if i < 0 {
		b.Fatalf("no golden feedback/valid/%s", name)
	}
	g := goldens(b, "feedback/valid")[i]
	key := recordContracts()[1].key(g.data)
	var d FeedbackDecoder
	var f Feedback
	b.SetBytes(int64(len(g.data)))
	b.ReportAllocs()
	for b.Loop() {
		if err := d.Decode(key, g.data, testNowMs, &f); err != nil {
			b.Fatal(err)
		}
	}
}
