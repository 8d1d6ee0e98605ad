package bench

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/lingerhq/linger/schemas"
	"github.com/lingerhq/linger/scoring"
)

// personaOutcome is what the scorer made of one session.
type personaOutcome struct {
	invited schemas.Reason // first invite's reason, ReasonNone if none
	signals string         // its top signals
	peak    schemas.Scores // highest scores seen
}

// scoreSession runs sess through the real decoder and scoring engine with
// the default config, as linger run would: one State per session, every
// event encoded and decoded on the way.
func scoreSession(t testing.TB, e *scoring.Engine, sess *Session) personaOutcome {
	t.Helper()
	var (
		dec   schemas.Decoder
		ev    schemas.Event
		d     schemas.Decision
		state scoring.State
		out   personaOutcome
		buf   []byte
	)
	for k := range sess.Len() {
		buf = sess.AppendEvent(buf[:0], k)
		if err := dec.Decode(sess.ID, buf, 0, &ev); err != nil {
			t.Fatalf("%s event %d %s: %v", sess.ID, k, buf, err)
		}
		if e.Apply(&state, &ev, &d) && d.Action == schemas.ActionInvite && out.invited == schemas.ReasonNone {
			out.invited = d.Reason
			var names []string
			for _, s := range d.Signals {
				names = append(names, s.Name)
			}
			out.signals = strings.Join(names, "+")
		}
		sc := e.Scores()
		out.peak.Abandonment = max(out.peak.Abandonment, sc.Abandonment)
		out.peak.Confusion = max(out.peak.Confusion, sc.Confusion)
	}
	return out
}

// TestPersonasAgainstScoring is the point of the personas: each must get
// the decisions it stands for from the real scorer with its default
// config, in most sessions but not in a cartoonish all of them.
func TestPersonasAgainstScoring(t *testing.T) {
	const sessions = 200
	for _, tc := range []struct {
		persona         Persona
		reason          schemas.Reason // the invite the persona stands for, or none
		minRate         float64        // share of sessions with that invite, at least
		maxOtherInvites float64        // share of sessions with any other invite, at most
	}{
		{Browser, schemas.ReasonNone, 0, 0.05},
		{Buyer, schemas.ReasonNone, 0, 0.05},
		{Bot, schemas.ReasonNone, 0, 0},
		{Hesitator, schemas.ReasonAbandonment, 0.7, 0.1},
		{Confused, schemas.ReasonConfusion, 0.7, 0.1},
		{Abandoner, schemas.ReasonAbandonment, 0.5, 0.1},
	} {
		t.Run(tc.persona.String(), func(t *testing.T) {
			t.Parallel()
			var mix Mix
			mix[tc.persona] = 1
			sim, err := NewSimulator(Config{Seed: 7, Mix: mix})
			if err != nil {
				t.Fatal(err)
			}
			e := scoring.NewEngine(scoring.DefaultConfig())
			var hits, others int
			signals := map[string]int{}
			for i := range sessions {
				sess := sim.Session(i)
				o := scoreSession(t, e, &sess)
				switch {
				case o.invited == schemas.ReasonNone:
				case o.invited == tc.reason:
					hits++
					signals[o.signals]++
				default:
					others++
					signals[o.invited.String()+": "+o.signals]++
				}
			}
			rate, other := float64(hits)/sessions, float64(others)/sessions
			if tc.reason == schemas.ReasonNone {
				t.Logf("%s: %d sessions, %.1f%% invited; top signals: %s", tc.persona, sessions, 100*other, topCounts(signals, 4))
			} else {
				t.Logf("%s: %d sessions, %.1f%% invited for %s, %.1f%% for something else; top signals: %s",
					tc.persona, sessions, 100*rate, tc.reason, 100*other, topCounts(signals, 4))
			}
			if rate < tc.minRate {
				t.Errorf("%s: %.1f%% of sessions invited for %s, want at least %.0f%%", tc.persona, 100*rate, tc.reason, 100*tc.minRate)
			}
			if other > tc.maxOtherInvites {
				t.Errorf("%s: %.1f%% of sessions invited otherwise, want at most %.0f%%", tc.persona, 100*other, 100*tc.maxOtherInvites)
			}
		})
	}
}

// topCounts formats the n most frequent keys of m.
func topCounts(m map[string]int, n int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	var b strings.Builder
	for i, k := range keys[:min(n, len(keys))] {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s ×%d", k, m[k])
	}
	return b.String()
}
