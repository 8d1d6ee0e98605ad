package scoring

import (
	"fmt"
	"strings"
	"testing"

	"github.com/lingerhq/linger/schemas"
)

// hesitation returns events of one session that keep an abandonment score
// above the threshold from 40 s on: cart on checkout, silence, exit intents.
func hesitation(session string, start int64) []schemas.Event {
	s := []byte(session)
	page := schemas.Page{URL: []byte("/checkout/payment"), Kind: schemas.KindCheckout}
	evs := []schemas.Event{
		{Type: schemas.TypePageView, Session: s, Site: []byte("shop"), TS: start, Page: page},
		{Type: schemas.TypeCart, Session: s, TS: start + 1000, CartAction: schemas.CartAdd, Value: 40000, Items: 1},
		{Type: schemas.TypeCheckout, Session: s, TS: start + 2000, Step: 2},
	}
	for i := range 20 {
		evs = append(evs, schemas.Event{Type: schemas.TypeExitIntent, Session: s, TS: start + 40_000 + int64(i)*30_000})
	}
	return evs
}

func apply(e *Engine, st *State, evs []schemas.Event) []string {
	var out []string
	var d schemas.Decision
	for i := range evs {
		if e.Apply(st, &evs[i], &d) {
			out = append(out, fmt.Sprintf("%s@%ds", d.Action, (d.EventTS-evs[0].TS)/1000))
		}
	}
	return out
}

func TestPolicyCapAndCooldown(t *testing.T) {
	for _, tc := range []struct {
		yaml string
		want string
	}{
		{"", "invite@40s"},
		{"max_invites_per_session: 0", ""},
		{"max_invites_per_session: 3\ncooldown: 2m", "invite@40s invite@160s invite@280s"},
		{"max_invites_per_session: 2\ncooldown: 0s", "invite@40s invite@70s"},
		{"eligible_pages: [cart]", ""},
		{"breathing_space: 100s", "invite@100s"},
		{"thresholds: {abandonment: 1}", ""},
	} {
		t.Run(strings.ReplaceAll(tc.yaml, "\n", ","), func(t *testing.T) {
			cfg, err := ParseConfig([]byte(tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			var st State
			got := strings.Join(apply(NewEngine(cfg), &st, hesitation("s-1", timelineBase)), " ")
			if got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestWithdraw(t *testing.T) {
	for _, tc := range []struct {
		name  string
		after int64 // ms after the invite
		ev    schemas.Event
		want  string
	}{
		{"purchase within ttl", 10_000, schemas.Event{Type: schemas.TypePurchase}, "invite@40s withdraw@50s"},
		{"chat open within ttl", 59_000, schemas.Event{Type: schemas.TypeChat, ChatAction: schemas.ChatOpen}, "invite@40s withdraw@99s"},
		{"chat close", 10_000, schemas.Event{Type: schemas.TypeChat, ChatAction: schemas.ChatClose}, "invite@40s"},
		{"purchase after expiry", 60_000, schemas.Event{Type: schemas.TypePurchase}, "invite@40s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs := hesitation("s-w", timelineBase)[:4]
			tc.ev.Session = []byte("s-w")
			tc.ev.TS = evs[3].TS + tc.after
			evs = append(evs, tc.ev, tc.ev) // the second one must not withdraw again
			var st State
			e := NewEngine(DefaultConfig())
			var d schemas.Decision
			var got []string
			for i := range evs {
				if e.Apply(&st, &evs[i], &d) {
					got = append(got, fmt.Sprintf("%s@%ds", d.Action, (d.EventTS-evs[0].TS)/1000))
					if d.Action == schemas.ActionWithdraw && string(d.InviteID) != "s-w/1" {
						t.Errorf("withdraw names %q, want the invite s-w/1", d.InviteID)
					}
				}
			}
			if g := strings.Join(got, " "); g != tc.want {
				t.Fatalf("got %q, want %q", g, tc.want)
			}
		})
	}
}

func TestDecisionIDsStayUniqueAcrossSessionRestart(t *testing.T) {
	e := NewEngine(DefaultConfig())
	var st State
	var d schemas.Decision
	ids := map[string]bool{}
	for round := range 3 {
		// Each round starts after the session timeout: a new session with
		// the same id.
		for _, ev := range hesitation("s-r", timelineBase+int64(round)*3600_000) {
			if e.Apply(&st, &ev, &d) {
				if ids[string(d.ID)] {
					t.Fatalf("decision id %s reused", d.ID)
				}
				ids[string(d.ID)] = true
			}
		}
	}
	if len(ids) != 3 {
		t.Fatalf("%d invites over three sessions, want 3 (the timeout must start a new session)", len(ids))
	}
}

func TestHoldout(t *testing.T) {
	cfg, err := ParseConfig([]byte("holdout_percent: 20"))
	if err != nil {
		t.Fatal(err)
	}
	held := 0
	const n = 2000
	for i := range n {
		var st State
		e := NewEngine(cfg)
		var d schemas.Decision
		evs := hesitation(fmt.Sprintf("s-%d", i), timelineBase)
		var first *schemas.Decision
		for j := range evs {
			if e.Apply(&st, &evs[j], &d) {
				first = &d
				break
			}
		}
		if first == nil {
			t.Fatal("no decision")
		}
		if first.Holdout != inHoldout(first.Session, 2000) {
			t.Fatal("holdout is not a function of the session id")
		}
		if first.Holdout {
			held++
		}
	}
	if held < n*16/100 || held > n*24/100 {
		t.Fatalf("%d of %d sessions held out, want about 20%%", held, n)
	}
}

func TestTopSignalsOrder(t *testing.T) {
	e := NewEngine(DefaultConfig())
	var st State
	var d schemas.Decision
	evs := hesitation("s-t", timelineBase)
	for i := range evs {
		if e.Apply(&st, &evs[i], &d) {
			break
		}
	}
	if len(d.Signals) != TopSignals {
		t.Fatalf("%d signals, want %d", len(d.Signals), TopSignals)
	}
	set := DefaultConfig().For(nil)
	prev := 1e9
	for _, s := range d.Signals {
		sig := SignalByName(s.Name)
		c := s.Weight * min(s.Value/set.Scale[sig.index], 1)
		if c > prev {
			t.Fatalf("signals not in decreasing contribution: %+v", d.Signals)
		}
		prev = c
	}
	// Nothing left out contributes more than the last one shown.
	f := e.Features()
	for _, sig := range Signals() {
		c := set.Weight[Abandonment][sig.index] * min(f[sig.index]/set.Scale[sig.index], 1)
		if c > prev+1e-12 && !strings.Contains(fmt.Sprint(d.Signals), sig.Name) {
			t.Fatalf("%s contributes %v but is not among the top signals %+v", sig.Name, c, d.Signals)
		}
	}
}

// TestSilenceTimer: a visitor who goes quiet on checkout with a full cart is
// checked every 30 s of silence, and invited at a check, as of that check's
// time, with the silence named in the signals.
func TestSilenceTimer(t *testing.T) {
	e := NewEngine(DefaultConfig())
	var st State
	var d schemas.Decision
	evs := hesitation("s-e", timelineBase)[:3]
	for i := range evs {
		e.Apply(&st, &evs[i], &d)
	}
	active := evs[2].TS
	var checks []int64
	for st.Deadline < st.Last+30*60_000 {
		at := st.Deadline
		checks = append(checks, (at-active)/1000)
		decided, expired := e.Fire(&st, at, &d)
		if expired {
			t.Fatal("expired at a silence check")
		}
		if decided {
			if d.EventTS != at || d.ExpiresAt != at+60_000 {
				t.Fatalf("decision times %d/%d, want the check's time and 60 s after", d.EventTS, d.ExpiresAt)
			}
			said := false
			for _, sig := range d.Signals {
				said = said || string(sig.Detail) == "silence timer"
			}
			if !said {
				t.Fatalf("a timer's decision must say silence did it: %+v", d.Signals)
			}
			if d.Trigger != schemas.TriggerTimer {
				t.Fatalf("a timer's decision has trigger %q, want timer", d.Trigger)
			}
			break
		}
		if len(checks) > 20 {
			t.Fatal("silence checks never stop")
		}
	}
	if !(len(checks) >= 2 && checks[0] == 30 && checks[len(checks)-1]%30 == 0) {
		t.Fatalf("checks at %v s of silence, want every 30 s from 30 s", checks)
	}
	// Invited: no more silence checks, only the expiry is left.
	if st.Deadline != st.Last+30*60_000 {
		t.Fatalf("deadline %d after the invite, want the expiry %d", st.Deadline, st.Last+30*60_000)
	}
	if _, expired := e.Fire(&st, st.Deadline, &d); !expired {
		t.Fatal("not expired at its expiry")
	}
}

// TestNextDeadline: silence checks only where silence means something.
func TestNextDeadline(t *testing.T) {
	set := DefaultConfig().For(nil)
	base := State{Start: 1000, Last: 50_000, ActiveAt: 40_000, Kind: uint8(schemas.KindCheckout)}
	expiry := base.Last + set.SessionTimeoutMs
	for _, tc := range []struct {
		name   string
		change func(*State)
		want   int64
	}{
		{"quiet at checkout", func(*State) {}, 70_000},
		{"after a check", func(s *State) { s.Checked = 70_000 }, 100_000},
		{"right on a check", func(s *State) { s.Checked = 100_000 }, 130_000},
		{"past silence_max", func(s *State) { s.Checked = 40_000 + 5*60_000 }, expiry},
		{"product page", func(s *State) { s.Kind = uint8(schemas.KindProduct) }, expiry},
		{"purchased", func(s *State) { s.Flags |= FlagPurchased }, expiry},
		{"bot", func(s *State) { s.Flags |= FlagBot }, expiry},
		{"chat open", func(s *State) { s.Flags |= FlagChatOpen }, expiry},
		{"already invited", func(s *State) { s.Invites = 1 }, expiry},
		{"never active", func(s *State) { s.ActiveAt = 0 }, expiry},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := base
			tc.change(&s)
			if got := NextDeadline(&s, set); got != tc.want {
				t.Fatalf("NextDeadline = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestApplyAllocs(t *testing.T) {
	e := NewEngine(DefaultConfig())
	evs := hesitation("s-a", timelineBase)
	var d schemas.Decision
	var st State
	run := func() {
		st.Reset()
		for i := range evs {
			e.Apply(&st, &evs[i], &d)
		}
	}
	run() // warm: the decision's buffers grow once
	if n := testing.AllocsPerRun(50, run); n != 0 {
		t.Fatalf("Apply allocates %v times per session", n)
	}
}

// BenchmarkUpdate is the state update alone: one event folded into a
// session's sliding-window state.
func BenchmarkUpdate(b *testing.B) {
	set := DefaultConfig().For(nil)
	evs := hesitation("s-b", timelineBase)
	var st State
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i%len(evs) == 0 {
			st.Reset()
		}
		Update(&st, &evs[i%len(evs)], set)
	}
}

// BenchmarkScore is feature extraction and both models on a session in
// mid-hesitation, without the update or the policy.
func BenchmarkScore(b *testing.B) {
	e := NewEngine(DefaultConfig())
	set := e.cfg.For(nil)
	evs := hesitation("s-b", timelineBase)
	var st State
	for i := range evs {
		Update(&st, &evs[i], set)
	}
	at := evs[len(evs)-1].TS
	b.ReportAllocs()
	for b.Loop() {
		e.score(&st, at, set)
	}
}

// BenchmarkApply is update, score and policy: what the processor does per
// event between decoding it and writing its state back.
func BenchmarkApply(b *testing.B) {
	e := NewEngine(DefaultConfig())
	evs := hesitation("s-b", timelineBase)
	var d schemas.Decision
	var st State
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i%len(evs) == 0 {
			st.Reset()
		}
		e.Apply(&st, &evs[i%len(evs)], &d)
	}
}
