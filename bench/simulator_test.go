package bench

import (
	"bytes"
	"errors"
	"hash/fnv"
	"math"
	"strings"
	"testing"

	"github.com/lingerhq/linger/schemas"
)

func newSim(t testing.TB, cfg Config) *Simulator {
	t.Helper()
	sim, err := NewSimulator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return sim
}

// streamDigest hashes the first n records of a stream of cfg.
func streamDigest(t *testing.T, cfg Config, n int) uint64 {
	t.Helper()
	st := newSim(t, cfg).Stream(0)
	h := fnv.New64a()
	var rec Record
	for range n {
		if !st.NextRecord(&rec) {
			t.Fatal("an unbounded stream ended")
		}
		h.Write(rec.Key)
		h.Write(rec.Value)
	}
	return h.Sum64()
}

func TestStreamDeterministic(t *testing.T) {
	const n = 20_000
	a := streamDigest(t, Config{Seed: 42}, n)
	if b := streamDigest(t, Config{Seed: 42}, n); a != b {
		t.Errorf("seed 42 gave two different streams")
	}
	if b := streamDigest(t, Config{Seed: 43}, n); a == b {
		t.Errorf("seeds 42 and 43 gave the same stream")
	}
	if b := streamDigest(t, Config{Seed: 42, Regular: true}, n); a == b {
		t.Errorf("Poisson and regular arrivals gave the same stream")
	}
}

// A session's events depend on (seed, index) only: the stream, its rate
// and the other sessions do not change them.
func TestSessionIndependentOfStream(t *testing.T) {
	for _, cfg := range []Config{{Seed: 5}, {Seed: 5, Rate: 500}, {Seed: 5, Rate: 0.5, Regular: true}} {
		sim := newSim(t, cfg)
		got := map[int][][]byte{}
		first := map[int]int64{}
		st := sim.Stream(100)
		for {
			var rec Record // fresh: the records are kept
			if !st.NextRecord(&rec) {
				break
			}
			if _, ok := first[rec.Session]; !ok {
				first[rec.Session] = rec.TS
			}
			got[rec.Session] = append(got[rec.Session], rec.Value)
		}
		if len(got) != 100 {
			t.Fatalf("rate %v: %d sessions in a stream of 100", cfg.Rate, len(got))
		}
		for i, values := range got {
			sess := sim.Session(i)
			sess.Start = first[i]
			if len(values) != sess.Len() {
				t.Fatalf("rate %v: session %d has %d events in the stream, %d alone", cfg.Rate, i, len(values), sess.Len())
			}
			for k, v := range values {
				if want := sess.AppendEvent(nil, k); !bytes.Equal(v, want) {
					t.Fatalf("rate %v: session %d event %d:\nstream: %s\nalone:  %s", cfg.Rate, i, k, v, want)
				}
			}
		}
	}
}

// Every event is a valid v1 event that decodes back to itself; events are
// in time order within a session and across the stream.
func TestStreamEventsValid(t *testing.T) {
	sim := newSim(t, Config{Seed: 9, Mix: Mix{1, 1, 1, 1, 1, 1}, Rate: 50})
	st := sim.Stream(3000)
	var (
		dec     schemas.Decoder
		ev      schemas.Event
		rec     Record
		prevTS  int64
		last    = map[int]int64{}
		count   int
		types   [16]int
		persona [numPersonas]int
	)
	for st.NextRecord(&rec) {
		count++
		if len(rec.Value) > schemas.MaxEventBytes {
			t.Fatalf("%s is %d bytes", rec.Value, len(rec.Value))
		}
		if err := dec.Decode(rec.Key, rec.Value, rec.TS, &ev); err != nil {
			t.Fatalf("%s: %v", rec.Value, err)
		}
		if re := schemas.AppendEvent(nil, &ev); !bytes.Equal(re, rec.Value) {
			t.Fatalf("decoded and encoded again:\n%s\nwas\n%s", re, rec.Value)
		}
		if ev.TS != rec.TS || ev.TS < prevTS {
			t.Fatalf("%s: ts %d after %d in the stream (record ts %d)", rec.Value, ev.TS, prevTS, rec.TS)
		}
		prevTS = ev.TS
		if l, ok := last[rec.Session]; ok && ev.TS < l {
			t.Fatalf("%s: ts %d after %d in its session", rec.Value, ev.TS, l)
		} else if !ok {
			persona[rec.Persona]++
			if ev.Type != schemas.TypePageView {
				t.Errorf("%s: a session starts with a %s", rec.Value, ev.Type)
			}
		}
		last[rec.Session] = ev.TS
		if ev.Bot != (rec.Persona == Bot) {
			t.Errorf("%s: bot is %v for a %s", rec.Value, ev.Bot, rec.Persona)
		}
		if string(ev.Site) != DefaultSite || len(ev.Visitor) == 0 {
			t.Errorf("%s: want site %q and a visitor", rec.Value, DefaultSite)
		}
		types[ev.Type]++
	}
	if len(last) != 3000 {
		t.Errorf("%d sessions, want 3000", len(last))
	}
	for _, typ := range []schemas.Type{schemas.TypePageView, schemas.TypeIdle, schemas.TypeVisibility, schemas.TypeExitIntent,
		schemas.TypeMouse, schemas.TypeScroll, schemas.TypeForm, schemas.TypeCart, schemas.TypeCheckout, schemas.TypePurchase} {
		if types[typ] == 0 {
			t.Errorf("no %s event in %d", typ, count)
		}
	}
	for p, n := range persona {
		if n < 400 {
			t.Errorf("%d sessions of %s in 3000 with an even mix", n, Persona(p))
		}
	}
}

// The stream starts sessions at the configured rate, and holds only those
// in progress: its memory follows concurrency, not the length of the run.
func TestStreamRateAndMemory(t *testing.T) {
	for _, regular := range []bool{false, true} {
		const rate, sessions = 20.0, 4000
		sim := newSim(t, Config{Seed: 3, Rate: rate, Regular: regular})
		st := sim.Stream(sessions)
		var ev schemas.Event
		var lastStart int64
		maxActive, started := 0, 0
		var durations float64
		for st.Next(&ev) {
			maxActive = max(maxActive, st.Active())
			if st.Started() > started {
				started = st.Started()
				lastStart = ev.TS
			}
		}
		for i := range 500 {
			s := sim.Session(i)
			durations += float64(s.TS(s.Len()-1)-s.Start) / 1000
		}
		meanDuration := durations / 500

		// The last session starts after (sessions-1)/rate seconds.
		span := float64(lastStart-sim.Config().StartMs) / 1000
		if want := (sessions - 1) / rate; math.Abs(span-want) > 0.05*want {
			t.Errorf("regular=%v: %d sessions started over %.0f s, want about %.0f s", regular, sessions, span, want)
		}
		// Little's law: sessions in progress ≈ rate × mean duration.
		if little := rate * meanDuration; float64(maxActive) > 1.5*little {
			t.Errorf("regular=%v: up to %d sessions held, but rate × mean duration is %.0f", regular, maxActive, little)
		}
		if held := st.Active() + len(st.free); held > maxActive {
			t.Errorf("regular=%v: %d sessions allocated for at most %d at once", regular, held, maxActive)
		}
		t.Logf("regular=%v: mean session %.0f s, at most %d sessions held (%d started)", regular, meanDuration, maxActive, started)
	}
}

func TestStreamLimit(t *testing.T) {
	sim := newSim(t, Config{Seed: 11})
	want := 0
	for i := range 50 {
		s := sim.Session(i)
		want += s.Len()
	}
	st := sim.Stream(50)
	var ev schemas.Event
	got := 0
	for st.Next(&ev) {
		got++
	}
	if got != want || st.Started() != 50 {
		t.Errorf("a stream of 50 sessions gave %d events from %d sessions, want %d", got, st.Started(), want)
	}
	if st.Next(&ev) {
		t.Error("Next after the end returned an event")
	}
}

// Once warm, a stream allocates nothing per event: session memory is
// reused.
func TestStreamAllocs(t *testing.T) {
	st := newSim(t, Config{Seed: 1}).Stream(0)
	var rec Record
	for range 200_000 {
		st.NextRecord(&rec)
	}
	allocs := testing.AllocsPerRun(50_000, func() { st.NextRecord(&rec) })
	if allocs > 0.01 {
		t.Errorf("%.3f allocations per event", allocs)
	}
}

func TestGenerateRecords(t *testing.T) {
	recs := GenerateRecords(1, 5000)
	if len(recs) != 5000 {
		t.Fatalf("%d records, want 5000", len(recs))
	}
	again := GenerateRecords(1, 5000)
	var dec schemas.Decoder
	var ev schemas.Event
	for i, r := range recs {
		if !bytes.Equal(r.Value, again[i].Value) || !bytes.Equal(r.Key, again[i].Key) {
			t.Fatalf("record %d differs between two runs of seed 1", i)
		}
		if err := dec.Decode(r.Key, r.Value, 0, &ev); err != nil {
			t.Fatalf("record %d: %s: %v", i, r.Value, err)
		}
	}
	// Each record owns its bytes: appending to one does not write into
	// the next.
	next := string(recs[1].Key)
	_ = append(recs[0].Value, "xxxxxxxx"...)
	_ = append(recs[0].Key, "xxxxxxxx"...)
	if string(recs[1].Key) != next {
		t.Error("appending to a record's slice overwrote the next record")
	}
}

func TestSessionIDs(t *testing.T) {
	sim := newSim(t, Config{Seed: 36*36 + 1})
	s := sim.Session(71)
	if string(s.ID) != "s-101-1z" || s.Index != 71 {
		t.Errorf("session 71 of seed 1297: id %q, index %d", s.ID, s.Index)
	}
	if !strings.HasPrefix(string(s.Visitor), "v-101-") {
		t.Errorf("visitor %q", s.Visitor)
	}
	// Some visitors come back: fewer distinct visitors than sessions.
	visitors := map[string]bool{}
	for i := range 2000 {
		visitors[string(sim.Session(i).Visitor)] = true
	}
	if n := len(visitors); n > 1900 || n < 1400 {
		t.Errorf("%d distinct visitors in 2000 sessions, want about 1600", n)
	}
}

func TestParsePersona(t *testing.T) {
	for _, p := range Personas() {
		got, err := ParsePersona(p.String())
		if err != nil || got != p {
			t.Errorf("ParsePersona(%q) = %v, %v", p.String(), got, err)
		}
	}
	for _, s := range []string{"", "Buyer", "shopper", " buyer", "persona(6)"} {
		if _, err := ParsePersona(s); !errors.Is(err, ErrUnknownPersona) {
			t.Errorf("ParsePersona(%q): %v, want ErrUnknownPersona", s, err)
		}
	}
	if s := Persona(200).String(); s != "persona(200)" {
		t.Errorf("Persona(200).String() = %q", s)
	}
}

func TestParseMix(t *testing.T) {
	m, err := ParseMix(" hesitator=3 , bot=0.5")
	if err != nil {
		t.Fatal(err)
	}
	if want := (Mix{Hesitator: 3, Bot: 0.5}); m != want {
		t.Errorf("got %v, want %v", m, want)
	}
	def := DefaultMix()
	if back, err := ParseMix(def.String()); err != nil || back != def {
		t.Errorf("ParseMix(%q) = %v, %v, want the default mix", def.String(), back, err)
	}
	for _, s := range []string{
		"",
		"browser",
		"browser=",
		"browser=x",
		"shopper=3",
		"browser=1,browser=2",
		"browser=-1",
		"browser=NaN",
		"browser=Inf",
		"browser=0,bot=0",
		"browser=1e308,buyer=1e308",
		"browser=1,,bot=1",
	} {
		if _, err := ParseMix(s); !errors.Is(err, ErrBadMix) {
			t.Errorf("ParseMix(%q): %v, want ErrBadMix", s, err)
		}
	}
	if _, err := ParseMix("shopper=1"); !errors.Is(err, ErrUnknownPersona) {
		t.Errorf("ParseMix with an unknown persona: %v, want it to wrap ErrUnknownPersona too", err)
	}
}

func TestMixPick(t *testing.T) {
	m := Mix{Buyer: 1, Bot: 3}
	var n [numPersonas]int
	for i := range 1000 {
		n[m.pick(float64(i)/1000)]++
	}
	if n[Buyer] != 250 || n[Bot] != 750 {
		t.Errorf("picks %v, want 250 buyers and 750 bots", n)
	}
	if p := m.pick(math.Nextafter(1, 0)); p != Bot {
		t.Errorf("pick(1-ε) = %s", p)
	}
}

func TestConfigValidate(t *testing.T) {
	var zero Config
	if err := zero.Validate(); err != nil {
		t.Errorf("the zero config: %v", err)
	}
	bad := Config{Mix: Mix{Bot: -1}, Site: strings.Repeat("x", 200), StartMs: -1, Rate: math.Inf(1)}
	err := bad.Validate()
	if err == nil {
		t.Fatal("a bad config validated")
	}
	for _, want := range []string{"weight of bot", "site", "start", "rate"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not mention %s", err, want)
		}
	}
	if _, err := NewSimulator(bad); err == nil {
		t.Error("NewSimulator took a bad config")
	}
	sim := newSim(t, Config{})
	if c := sim.Config(); c.Site != DefaultSite || c.Rate != DefaultRate || c.StartMs != DefaultStartMs || c.Mix != DefaultMix() {
		t.Errorf("defaults not filled in: %+v", c)
	}
}

func BenchmarkStream(b *testing.B) {
	st := newSim(b, Config{Seed: 1}).Stream(0)
	var rec Record
	// Warm up to a steady number of sessions in progress.
	for range 100_000 {
		st.NextRecord(&rec)
	}
	b.ReportAllocs()
	b.ResetTimer()
	var bytes int64
	for range b.N {
		st.NextRecord(&rec)
		bytes += int64(len(rec.Value))
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(bytes)/float64(b.N), "B/event")
}
