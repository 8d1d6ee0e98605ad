package simulate

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/lingerhq/linger/bench"
	"github.com/lingerhq/linger/pipeline/replay"
	"github.com/lingerhq/linger/schemas"
)

func simulate(t *testing.T, cfg SimulateConfig) ([]byte, SimulateStats) {
	t.Helper()
	var out bytes.Buffer
	stats, err := Simulate(context.Background(), cfg, &out)
	if err != nil {
		t.Fatal(err)
	}
	return out.Bytes(), stats
}

// TestSimulateDeterministic: the same config gives the same bytes; another
// seed other traffic.
func TestSimulateDeterministic(t *testing.T) {
	cfg := SimulateConfig{Sim: bench.Config{Seed: 5, Rate: 3}, Duration: 10 * time.Minute}
	a, sa := simulate(t, cfg)
	b, sb := simulate(t, cfg)
	if !bytes.Equal(a, b) {
		t.Fatalf("two runs of seed 5 differ: %d and %d bytes", len(a), len(b))
	}
	if sa.Feedback == 0 || sa.Events == 0 || sa.Sessions == 0 || sa.Feedback != sb.Feedback {
		t.Fatalf("stats %+v and %+v", sa, sb)
	}
	cfg.Sim.Seed = 6
	if c, _ := simulate(t, cfg); bytes.Equal(a, c) {
		t.Error("seeds 5 and 6 wrote the same traffic")
	}
}

// TestSimulateOutput reads a simulation back as replay does: every line a
// valid event or feedback record, in event-time order, sessions starting
// within the duration, every kind of answer present, each invite answered
// once, and the counts those the stats give.
func TestSimulateOutput(t *testing.T) {
	const dur = 10 * time.Minute
	out, stats := simulate(t, SimulateConfig{Sim: bench.Config{Seed: 2, Rate: 3}, Duration: dur})
	var (
		evDec  schemas.Decoder
		fbDec  schemas.FeedbackDecoder
		ev     schemas.Event
		fb     schemas.Feedback
		lastTS int64
		events int64
		types  = map[schemas.FeedbackType]int{}
		shown  = map[string]int{}
		starts = map[string]int64{}
	)
	sc := bufio.NewScanner(bytes.NewReader(out))
	for n := 1; sc.Scan(); n++ {
		line := sc.Bytes()
		var ts int64
		if bytes.Contains(line, []byte(`"invite_id"`)) {
			if err := fbDec.Decode(sessionOf(line), line, 0, &fb); err != nil {
				t.Fatalf("line %d: %v\n%s", n, err, line)
			}
			types[fb.Type]++
			if fb.Type == schemas.FeedbackShown {
				shown[string(fb.InviteID)]++
			}
			if _, ok := starts[string(fb.Session)]; !ok {
				t.Fatalf("line %d: feedback before any event of its session\n%s", n, line)
			}
			ts = fb.TS
		} else {
			if err := evDec.Decode(sessionOf(line), line, 0, &ev); err != nil {
				t.Fatalf("line %d: %v\n%s", n, err, line)
			}
			if _, ok := starts[string(ev.Session)]; !ok {
				starts[string(ev.Session)] = ev.TS
			}
			ts = ev.TS
			events++
		}
		if ts < lastTS {
			t.Fatalf("line %d at %d, after a line at %d", n, ts, lastTS)
		}
		lastTS = ts
	}
	if events != stats.Events || int64(len(starts)) != stats.Sessions || stats.Rejected != 0 {
		t.Errorf("read %d events of %d sessions; stats %+v", events, len(starts), stats)
	}
	var feedback int64
	for typ := schemas.FeedbackShown; typ <= schemas.FeedbackChatRated; typ++ {
		if types[typ] == 0 {
			t.Errorf("no %s record in %v", typ, types)
		}
		feedback += int64(types[typ])
	}
	if feedback != stats.Feedback || int64(types[schemas.FeedbackShown]) != stats.Acceptance.Shown ||
		int64(types[schemas.FeedbackAccepted]) != stats.Acceptance.Accepted {
		t.Errorf("records %v; stats %+v", types, stats)
	}
	for id, n := range shown {
		if n != 1 {
			t.Errorf("invite %s shown %d times", id, n)
		}
	}
	for id, at := range starts {
		if at >= bench.DefaultStartMs+dur.Milliseconds() {
			t.Errorf("session %s starts at +%v, after the duration", id, time.Duration(at-bench.DefaultStartMs)*time.Millisecond)
		}
	}
	if lastTS <= bench.DefaultStartMs+dur.Milliseconds() {
		t.Errorf("the last record is at +%v: the sessions in progress at the end were cut", time.Duration(lastTS-bench.DefaultStartMs)*time.Millisecond)
	}
}

// sessionOf returns the "session" of a simulator's JSON line, the record
// key replay uses.
func sessionOf(line []byte) []byte {
	_, rest, ok := bytes.Cut(line, []byte(`"session":"`))
	if !ok {
		return nil
	}
	s, _, _ := bytes.Cut(rest, []byte(`"`))
	return s
}

// TestSimulateReplays checks what Simulate promises of its answers: a
// replay of its output, with the same partitions and config, decides the
// very invites that were answered, and no other.
func TestSimulateReplays(t *testing.T) {
	out, _ := simulate(t, SimulateConfig{Sim: bench.Config{Seed: 3, Rate: 3}, Duration: 10 * time.Minute})
	recs, err := replay.Read(bytes.NewReader(out), "jsonl")
	if err != nil {
		t.Fatal(err)
	}
	res, err := replay.Run(recs, replay.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var decided, answered []string
	for _, d := range res.Decisions {
		if d.Action == schemas.ActionInvite {
			decided = append(decided, string(d.ID))
		}
	}
	var fbDec schemas.FeedbackDecoder
	var fb schemas.Feedback
	for _, r := range recs {
		// The input's feedback records: those that decode as feedback.
		if err := fbDec.Decode(r.Key, r.Value, 0, &fb); err != nil {
			continue
		}
		answered = append(answered, string(fb.InviteID))
	}
	slices.Sort(decided)
	slices.Sort(answered)
	answered = slices.Compact(answered)
	if len(decided) == 0 || !slices.Equal(decided, answered) {
		t.Fatalf("replay decided %d invites, the simulation answered %d", len(decided), len(answered))
	}
}

// TestSimulateAcceptance checks the personas' answers together against the
// engine's invites: with the default mix, the share of shown invites
// accepted lands in the 5-15% a demo should show, the visitors who need
// help accept most, and browsers and bots are never invited.
func TestSimulateAcceptance(t *testing.T) {
	_, stats := simulate(t, SimulateConfig{Sim: bench.Config{Seed: 1, Rate: 3}, Duration: time.Hour})
	all, by := stats.Acceptance, stats.AcceptanceByPersona
	t.Logf("overall %+v", all)
	for _, p := range bench.Personas() {
		t.Logf("%-9s %+v", p, by[p.String()])
	}
	if all.Shown < 1000 || all.Rate < 0.05 || all.Rate > 0.15 {
		t.Errorf("acceptance %.1f%% of %d shown, want 5-15%% of many", 100*all.Rate, all.Shown)
	}
	if c, h, a := by["confused"].Rate, by["hesitator"].Rate, by["abandoner"].Rate; !(c > h && h > a && a > 0) {
		t.Errorf("acceptance: confused %.3f, hesitator %.3f, abandoner %.3f; want them in that order", c, h, a)
	}
	if by["bot"].Invites != 0 || by["browser"].Invites > all.Invites/100 {
		t.Errorf("bots %+v, browsers %+v", by["bot"], by["browser"])
	}
}

// TestSimulateErrors checks a bad config and a cancelled context.
func TestSimulateErrors(t *testing.T) {
	var out bytes.Buffer
	if _, err := Simulate(context.Background(), SimulateConfig{Sim: bench.Config{Seed: 1}}, &out); err == nil {
		t.Error("no duration: no error")
	}
	if _, err := Simulate(context.Background(), SimulateConfig{Sim: bench.Config{Rate: -1}, Duration: time.Minute}, &out); err == nil {
		t.Error("a negative rate: no error")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Simulate(ctx, SimulateConfig{Duration: time.Hour}, &out); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}
