package scoring

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lingerhq/linger/schemas"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current code")

// timelineBase is the event time of "0s" in every script: 2026-01-01 UTC.
const timelineBase = int64(1767225600000)

// A timeline script (testdata/*.events) is one event per line:
//
//	<offset> <type> key=value ...
//
// where offset is a Go duration from the session start and the keys are the
// event's fields (kind and url for page, ms, state, moves, dir_changes,
// clicks, rage_clicks, dead_clicks, depth, dir, form, field, action, value,
// items, step). "<offset> tick" moves the watermark to offset without an
// event, as other sessions' events or the wall clock do. Timers fire as the
// pipeline fires them: before each event, every deadline at or below the
// watermark (the newest event time less the allowed lateness). A line "session ID key=value" sets the session, visitor,
// site and bot flag of the lines after it. "# expect: ..." lines list the
// decisions the script must produce, in order ("invite abandonment",
// "withdraw", or "none"); they are checked on their own, so a golden file
// refreshed with -update cannot make a wrong timeline pass. An expected
// decision matches when each of its words is a word of the decision as the
// runner writes it: "invite abandonment @100s team=retention" (the event
// time's offset and the team). "# suppressed: cause, ..." lines name
// outcomes that must occur at some scored moment (no_capacity). "# config:
// key: value" lines override the default config for the script.
//
// "<offset> capacity team=T free_slots=F agents=A avg_handle_s=H" is a
// chat-capacity record of the session's site with ts at offset, put into
// the engine's capacity table when the line is reached: it applies to
// moments at or after its ts, however late they are decided.
type timeline struct {
	name       string
	expect     []string
	suppressed []string
	config     string // YAML from "# config:" lines, over the defaults
	steps      []step
}

type step struct {
	line     string
	event    []byte // v1 JSON; nil for a tick or a capacity record
	key      []byte
	tick     int64  // for "<offset> tick": the watermark reaches this event time
	capacity []byte // v1 capacity JSON, keyed by key
}

func parseTimeline(t *testing.T, path string) timeline {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tl := timeline{name: strings.TrimSuffix(filepath.Base(path), ".events")}
	session := schemas.Event{Session: []byte("s-" + tl.name)}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if rest, ok := strings.CutPrefix(line, "# expect:"); ok {
			for _, e := range strings.Split(rest, ",") {
				if e = strings.TrimSpace(e); e != "none" {
					tl.expect = append(tl.expect, e)
				}
			}
			continue
		}
		if rest, ok := strings.CutPrefix(line, "# suppressed:"); ok {
			for _, e := range strings.Split(rest, ",") {
				tl.suppressed = append(tl.suppressed, strings.TrimSpace(e))
			}
			continue
		}
		if rest, ok := strings.CutPrefix(line, "# config:"); ok {
			tl.config += strings.TrimSpace(rest) + "\n"
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if fields[0] == "session" {
			session = schemas.Event{Session: []byte(fields[1])}
			for _, kv := range fields[2:] {
				k, v, _ := strings.Cut(kv, "=")
				switch k {
				case "visitor":
					session.Visitor = []byte(v)
				case "site":
					session.Site = []byte(v)
				case "bot":
					session.Bot = v == "true"
				default:
					t.Fatalf("%s:%d: unknown session key %q", path, n, k)
				}
			}
			continue
		}
		if len(fields) < 2 {
			t.Fatalf("%s:%d: want <offset> <type> key=value...", path, n)
		}
		off, err := time.ParseDuration(fields[0])
		if err != nil {
			t.Fatalf("%s:%d: %v", path, n, err)
		}
		if fields[1] == "tick" {
			tl.steps = append(tl.steps, step{line: line, tick: timelineBase + off.Milliseconds()})
			continue
		}
		if fields[1] == "capacity" {
			c := schemas.Capacity{Site: session.Site, TS: timelineBase + off.Milliseconds(), AvgHandleS: 300}
			for _, kv := range fields[2:] {
				k, v, _ := strings.Cut(kv, "=")
				num, err := strconv.ParseFloat(v, 64)
				switch {
				case k == "team":
					c.Team = []byte(v)
				case err != nil:
					t.Fatalf("%s:%d: %s: %v", path, n, k, err)
				case k == "free_slots":
					c.FreeSlots = int64(num)
				case k == "agents":
					c.Agents = int64(num)
				case k == "avg_handle_s":
					c.AvgHandleS = num
				default:
					t.Fatalf("%s:%d: unknown capacity key %q", path, n, k)
				}
			}
			tl.steps = append(tl.steps, step{line: line, capacity: schemas.AppendCapacity(nil, &c), key: schemas.AppendCapacityKey(nil, c.Site, c.Team)})
			continue
		}
		ev := session
		ev.TS = timelineBase + off.Milliseconds()
		ev.Type = typeByName(t, fields[1])
		for _, kv := range fields[2:] {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				t.Fatalf("%s:%d: %q is not key=value", path, n, kv)
			}
			if err := setField(&ev, k, v); err != nil {
				t.Fatalf("%s:%d: %v", path, n, err)
			}
		}
		tl.steps = append(tl.steps, step{line: line, event: schemas.AppendEvent(nil, &ev), key: ev.Session})
	}
	return tl
}

func typeByName(t *testing.T, name string) schemas.Type {
	for i, n := range schemas.Types() {
		if n == name && i > 0 {
			return schemas.Type(i)
		}
	}
	t.Fatalf("unknown event type %q", name)
	return 0
}

func setField(ev *schemas.Event, k, v string) error {
	num := func() int64 {
		n, _ := strconv.ParseInt(v, 10, 64)
		return n
	}
	switch k {
	case "kind":
		kind, ok := schemas.ParsePageKind(v)
		if !ok {
			return fmt.Errorf("unknown page kind %q", v)
		}
		ev.Page.Kind = kind
	case "url":
		ev.Page.URL = []byte(v)
	case "ms":
		ev.MS = num()
	case "state":
		ev.Visibility = map[string]schemas.Visibility{"hidden": schemas.VisibilityHidden, "visible": schemas.VisibilityVisible}[v]
	case "moves":
		ev.Moves = num()
	case "dir_changes":
		ev.DirChanges = num()
	case "clicks":
		ev.Clicks = num()
	case "rage_clicks":
		ev.RageClicks = num()
	case "dead_clicks":
		ev.DeadClicks = num()
	case "depth":
		ev.Depth, _ = strconv.ParseFloat(v, 64)
	case "dir":
		ev.ScrollDir = map[string]schemas.ScrollDir{"up": schemas.ScrollUp, "down": schemas.ScrollDown}[v]
	case "form":
		ev.Form = []byte(v)
	case "field":
		ev.Field = []byte(v)
	case "action":
		switch ev.Type {
		case schemas.TypeForm:
			ev.FormAction = map[string]schemas.FormAction{"focus": schemas.FormFocus, "blur": schemas.FormBlur, "input": schemas.FormInput, "error": schemas.FormError, "clear": schemas.FormClear, "submit": schemas.FormSubmit}[v]
		case schemas.TypeCart:
			ev.CartAction = map[string]schemas.CartAction{"add": schemas.CartAdd, "remove": schemas.CartRemove}[v]
		case schemas.TypeChat:
			ev.ChatAction = map[string]schemas.ChatAction{"open": schemas.ChatOpen, "close": schemas.ChatClose}[v]
		}
	case "value":
		ev.Value = num()
	case "items":
		ev.Items = num()
	case "step":
		ev.Step = num()
	default:
		return fmt.Errorf("unknown key %q", k)
	}
	return nil
}

// runTimeline decodes each step with the production decoders, applies it
// with the engine and writes what happened, one line per event and the
// decision JSON under it. It returns the transcript, the decisions in order,
// the outcomes seen and the largest value each signal reached.
func runTimeline(t *testing.T, tl timeline, cfg *Config) (string, []string, map[string]bool, Vector) {
	t.Helper()
	var (
		dec      schemas.Decoder
		capDec   schemas.CapacityDecoder
		ev       schemas.Event
		c        schemas.Capacity
		d        schemas.Decision
		st       State
		out      strings.Builder
		got      []string
		outcomes = map[string]bool{}
		peaks    Vector
	)
	caps := NewCapacityTable(CapacityTableOptions{})
	e := NewEngine(cfg, WithCapacity(caps), WithVisitorCaps(NewVisitorCaps(0)))
	lateness := cfg.For(nil).AllowedLatenessMs
	var maxTS int64
	record := func(line string, decided bool) {
		sc := e.Scores()
		fmt.Fprintf(&out, "%-60s ab=%.3f co=%.3f %s\n", line, sc.Abandonment, sc.Confusion, e.Outcome())
		outcomes[e.Outcome().String()] = true
		for i, v := range e.Features() {
			peaks[i] = max(peaks[i], v)
		}
		if decided {
			fmt.Fprintf(&out, "  => %s\n", schemas.AppendDecision(nil, &d))
			when := fmt.Sprintf(" @%s team=%s", time.Duration(d.EventTS-timelineBase)*time.Millisecond, d.Team)
			switch d.Action {
			case schemas.ActionInvite:
				got = append(got, "invite "+d.Reason.String()+when)
			case schemas.ActionWithdraw:
				got = append(got, "withdraw"+when)
			}
		}
	}
	fire := func(watermark int64) {
		for !st.IsNew() && st.Deadline <= watermark {
			at := st.Deadline
			decided, expired := e.Fire(&st, at, &d)
			if expired {
				fmt.Fprintf(&out, "%-60s expired\n", fmt.Sprintf("  [timer %s]", time.Duration(at-timelineBase)*time.Millisecond))
				st.Reset()
				return
			}
			record(fmt.Sprintf("  [timer %s]", time.Duration(at-timelineBase)*time.Millisecond), decided)
		}
	}
	for _, s := range tl.steps {
		if s.capacity != nil {
			if err := capDec.Decode(s.key, s.capacity, 0, &c); err != nil {
				t.Fatalf("%s: %q: %v", tl.name, s.line, err)
			}
			caps.Put(&c)
			fmt.Fprintf(&out, "%s\n", s.line)
			continue
		}
		if s.event == nil {
			fire(s.tick)
			continue
		}
		if err := dec.Decode(s.key, s.event, 0, &ev); err != nil {
			t.Fatalf("%s: %q: %v", tl.name, s.line, err)
		}
		maxTS = max(maxTS, ev.TS)
		fire(maxTS - lateness)
		decided := e.Apply(&st, &ev, &d)
		record(s.line, decided)
	}
	var buf []byte
	buf = st.AppendBinary(buf)
	fmt.Fprintf(&out, "state: %d bytes\n", len(buf))
	return out.String(), got, outcomes, peaks
}

// decisionsMatch reports whether each decision has the words of its
// expectation.
func decisionsMatch(got, expect []string) bool {
	if len(got) != len(expect) {
		return false
	}
	for i := range got {
		words := strings.Fields(got[i])
		for _, w := range strings.Fields(expect[i]) {
			if !slices.Contains(words, w) {
				return false
			}
		}
	}
	return true
}

func TestTimelines(t *testing.T) {
	paths, _ := filepath.Glob("testdata/*.events")
	if len(paths) == 0 {
		t.Fatal("no timelines in testdata")
	}
	var peaks Vector
	for _, path := range paths {
		tl := parseTimeline(t, path)
		t.Run(tl.name, func(t *testing.T) {
			cfg, err := ParseConfig([]byte(tl.config))
			if err != nil {
				t.Fatal(err)
			}
			transcript, got, outcomes, p := runTimeline(t, tl, cfg)
			for i := range p {
				peaks[i] = max(peaks[i], p[i])
			}
			if !decisionsMatch(got, tl.expect) {
				t.Errorf("decisions: got [%s], the script expects [%s]\n%s", strings.Join(got, ", "), strings.Join(tl.expect, ", "), transcript)
			}
			for _, o := range tl.suppressed {
				if !outcomes[o] {
					t.Errorf("outcome %s never occurs; the script expects it\n%s", o, transcript)
				}
			}
			golden := strings.TrimSuffix(path, ".events") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(transcript), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./scoring -update to create it)", err)
			}
			if transcript != string(want) {
				t.Errorf("transcript differs from %s (run with -update if the change is intended):\n%s", golden, diffLines(string(want), transcript))
			}
		})
	}
	// A registered signal that no timeline ever moves is untested.
	t.Run("coverage", func(t *testing.T) {
		for i, sig := range Signals() {
			if peaks[i] == 0 {
				t.Errorf("signal %s is never non-zero in testdata/*.events: add a timeline that exercises it", sig.Name)
			}
		}
	})
}

// diffLines shows the first lines that differ.
func diffLines(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	shown := 0
	for i := 0; i < max(len(w), len(g)) && shown < 6; i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d\n  want: %s\n  got:  %s\n", i+1, wl, gl)
			shown++
		}
	}
	return b.String()
}
