package scoring

import (
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/lingerhq/linger/schemas"
)

// maxStateBytes is what an integrator can size the changelog and the
// fastcache entry for: no session state, whatever its events, encodes to
// more (TestLargestRecords computes the true figure, about 1 KiB).
const maxStateBytes = 2 << 10

// TestLargestRecords computes the largest records one session can make
// linger write, from the caps the event decoder enforces on what they copy
// (session, visitor and site at schemas.MaxIDBytes; the page URL and the
// field name cut to MaxStateURL and MaxStateField): the largest session
// state, and the largest decision it can give. Then it drives the engine
// with hostile events at those caps, decoded by the real decoder, and
// checks that nothing it writes is larger. A state must stay far below
// fastcache's 64 KiB entry limit; a decision within
// schemas.MaxDecisionBytes.
func TestLargestRecords(t *testing.T) {
	// The largest state: every number at its largest, every string at the
	// longest the decoder lets an event give it, in characters that the
	// decision's JSON escapes (a quote where allowed, else a backslash).
	var worst State
	setMax(reflect.ValueOf(&worst).Elem())
	worst.Start = 1
	worst.Session = []byte(strings.Repeat(`"`, schemas.MaxIDBytes))
	worst.Visitor = []byte(strings.Repeat(`"`, schemas.MaxIDBytes))
	worst.Site = []byte(strings.Repeat(`\`, schemas.MaxIDBytes))
	worst.URL = []byte("/" + strings.Repeat(`\`, min(schemas.MaxURLBytes, MaxStateURL)-1))
	worst.ErrField = []byte(strings.Repeat(`\`, min(schemas.MaxNameBytes, MaxStateField)))
	stateMax := len(worst.AppendBinary(nil))
	t.Logf("the largest session state is %d bytes (bound %d)", stateMax, maxStateBytes)
	if stateMax > maxStateBytes {
		t.Fatalf("the largest state is %d bytes, over %d", stateMax, maxStateBytes)
	}

	// The largest decision of that state: a withdraw (it carries
	// invite_id), routed to a team with the longest name the config takes,
	// with as many signals as a decision carries (TopSignals).
	team := strings.Repeat(`\`, schemas.MaxIDBytes)
	cfg, err := ParseConfig([]byte("teams: {abandonment: '" + team + "', confusion: '" + team + "'}"))
	if err != nil {
		t.Fatal(err)
	}
	e := NewEngine(cfg)
	set := cfg.For(worst.Site)
	var d schemas.Decision
	decisionMax := 0
	for m := range numModels {
		s := worst
		e.score(&s, math.MaxInt32, set)
		e.fill(&s, s.Session, math.MaxInt64/2, set, &d, schemas.ActionWithdraw, m, set.Team[m], true)
		if len(d.Signals) != TopSignals {
			t.Fatalf("the largest state gives %d signals, want %d: the test no longer builds the largest decision", len(d.Signals), TopSignals)
		}
		// Whatever the engine filled in, each signal as long as it can be:
		// naming the field, its numbers the longest a float64 writes.
		for i := range d.Signals {
			d.Signals[i].Detail = s.ErrField
			d.Signals[i].Value, d.Signals[i].Weight = -math.MaxFloat64, -math.MaxFloat64
		}
		d.EventTS, d.DecidedAt, d.ExpiresAt = math.MaxInt64, math.MaxInt64, math.MaxInt64
		decisionMax = max(decisionMax, len(schemas.AppendDecision(nil, &d)))
	}
	t.Logf("the largest decision is %d bytes (schemas.MaxDecisionBytes %d)", decisionMax, schemas.MaxDecisionBytes)
	if decisionMax > schemas.MaxDecisionBytes {
		t.Fatalf("the largest decision is %d bytes, over schemas.MaxDecisionBytes", decisionMax)
	}

	// The engine, fed events at the caps (the page URL four times what the
	// state keeps, so that the event stays within 8 KiB with all the rest):
	// a session that hesitates on a form at checkout, is invited, then buys
	// (a withdraw).
	session := strings.Repeat(`\"`, schemas.MaxIDBytes)
	env := func(typ string, ts int64, extra string) string {
		return `{"v":1,"type":"` + typ + `","session":"` + session + `","visitor":"` + strings.Repeat(`\"`, schemas.MaxIDBytes) +
			`","site":"` + strings.Repeat(`\\`, schemas.MaxIDBytes) + `","ts":` + strconv.FormatInt(ts, 10) +
			`,"page":{"url":"/` + strings.Repeat(`\\`, 4*MaxStateURL) + `","kind":"checkout"}` + extra + `}`
	}
	field := `"form":"` + strings.Repeat(`\\`, schemas.MaxNameBytes) + `","field":"` + strings.Repeat(`\\`, schemas.MaxNameBytes) + `"`
	var evs []string
	t0 := timelineBase
	evs = append(evs, env("page_view", t0, `,"ref":"https://`+strings.Repeat("r", schemas.MaxURLBytes-8)+`"`),
		env("cart", t0+1000, `,"action":"add","value":4294967295,"items":4294967295`),
		env("checkout", t0+2000, `,"step":255`))
	for i := range 30 {
		ts := t0 + 3000 + int64(i)*2000
		evs = append(evs, env("form", ts, `,"action":"focus",`+field), env("form", ts+500, `,"action":"error",`+field),
			env("mouse", ts+900, `,"ms":4294967295,"moves":4294967295,"dir_changes":4294967295,"clicks":4294967295,"rage_clicks":4294967295,"dead_clicks":4294967295`),
			env("exit_intent", ts+1000, ``))
	}
	evs = append(evs, env("idle", t0+70_000, `,"ms":4294967295`))

	e = NewEngine(cfg)
	var dec schemas.Decoder
	var ev schemas.Event
	var st State
	var buf []byte
	decided, withdrawn, largestState, largestDecision := 0, 0, 0, 0
	key := []byte(strings.ReplaceAll(session, `\"`, `"`))
	for i := 0; i < len(evs); i++ {
		value := evs[i]
		if len(value) > schemas.MaxEventBytes {
			t.Fatalf("test event of %d bytes, over the limit", len(value))
		}
		if err := dec.Decode(key, []byte(value), 0, &ev); err != nil {
			t.Fatalf("%v\n%.300s", err, value)
		}
		if e.Apply(&st, &ev, &d) {
			decided++
			switch d.Action {
			case schemas.ActionWithdraw:
				withdrawn++
			case schemas.ActionInvite:
				if decided == 1 { // buy before it is shown: withdrawn
					evs = append(evs[:i+1], append([]string{env("purchase", ev.TS+500, `,"value":4294967295,"items":4294967295`)}, evs[i+1:]...)...)
				}
			}
			buf = schemas.AppendDecision(buf[:0], &d)
			largestDecision = max(largestDecision, len(buf))
		}
		buf = st.AppendBinary(buf[:0])
		largestState = max(largestState, len(buf))
	}
	for st.Deadline > 0 && st.Deadline < st.Last+30*60_000 {
		if ok, _ := e.Fire(&st, st.Deadline, &d); ok {
			buf = schemas.AppendDecision(buf[:0], &d)
			largestDecision = max(largestDecision, len(buf))
		}
	}
	if decided == 0 || withdrawn == 0 {
		t.Fatalf("the session made %d decisions, %d of them withdraws: the test no longer reaches the largest ones", decided, withdrawn)
	}
	t.Logf("driven by events at the caps: the largest state %d bytes, the largest decision %d bytes", largestState, largestDecision)
	if largestState > stateMax {
		t.Errorf("the engine wrote a state of %d bytes, over the computed largest %d", largestState, stateMax)
	}
	if largestDecision > decisionMax {
		t.Errorf("the engine wrote a decision of %d bytes, over the computed largest %d", largestDecision, decisionMax)
	}
}

// setMax sets every integer of v, a struct, to its largest value.
func setMax(v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			setMax(v.Field(i))
		}
	case reflect.Array:
		for i := range v.Len() {
			setMax(v.Index(i))
		}
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(1<<(v.Type().Bits()-1) - 1)
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(1<<v.Type().Bits() - 1)
	}
}
