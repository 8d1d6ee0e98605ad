package schemas

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestMaxDecisionBytes builds the largest decision MaxDecisionBytes speaks
// for: every string at its cap, made of the byte AppendString writes
// longest among those the decoders accept for that field (a quote in ids,
// a backslash in names and URLs), eight signals, and every number at its
// longest. Then it writes many random decisions within the same limits:
// none may be over the bound either.
func TestMaxDecisionBytes(t *testing.T) {
	const signals = 8
	worst := func(n int, b byte) []byte { return []byte(strings.Repeat(string(b), n)) }
	d := Decision{
		ID: worst(MaxInviteIDBytes, '"'), Session: worst(MaxIDBytes, '"'), Visitor: worst(MaxIDBytes, '"'),
		Site: worst(MaxIDBytes, '\\'), Action: ActionWithdraw, InviteID: worst(MaxInviteIDBytes, '"'),
		Reason: ReasonAbandonment, Score: 0.1234, Scores: Scores{Abandonment: 0.1234, Confusion: 0.1234},
		Page:    Page{URL: append([]byte("/"), worst(MaxURLBytes-1, '\\')...), Kind: KindCheckout},
		EventTS: math.MaxInt64, DecidedAt: math.MaxInt64, ExpiresAt: math.MaxInt64,
		Model: worst(MaxIDBytes, '"'), Holdout: true, Team: worst(MaxIDBytes, '\\'),
	}
	for range signals {
		d.Signals = append(d.Signals, Signal{Name: strings.Repeat(`"`, MaxNameBytes), Value: -999999999999999.999, Weight: -999999999999999.999, Detail: worst(MaxNameBytes, '\\')})
	}
	n := len(AppendDecision(nil, &d))
	t.Logf("the largest decision is %d bytes (MaxDecisionBytes %d)", n, MaxDecisionBytes)
	if n > MaxDecisionBytes {
		t.Fatalf("the largest decision is %d bytes, over MaxDecisionBytes (%d)", n, MaxDecisionBytes)
	}
	if !json.Valid(AppendDecision(nil, &d)) {
		t.Fatal("the largest decision is not JSON")
	}

	// Random decisions within the limits, of the characters the decoders
	// accept (ASCII, non-ASCII, escapes), each string cut anywhere, even
	// inside a character, as the session state cuts a long URL.
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []rune{'a', '/', '\\', '"', '\'', '<', '&', ' ', 'é', '€', '🧶', '\ufffd'}
	str := func(max int, nameRule bool) []byte {
		var b []byte
		for len(b) < max {
			r := alphabet[rng.IntN(len(alphabet))]
			if nameRule && strings.ContainsRune(`<>"'&`, r) {
				continue
			}
			if len(b)+utf8.RuneLen(r) > max {
				break
			}
			b = utf8.AppendRune(b, r)
		}
		return b[:rng.IntN(len(b)+1)]
	}
	num := func() float64 { return (rng.Float64()*2 - 1) * math.Pow(10, float64(rng.IntN(16))) }
	var buf []byte
	largest := 0
	for range 2000 {
		d := Decision{
			ID: str(MaxInviteIDBytes, false), Session: str(MaxIDBytes, false), Visitor: str(MaxIDBytes, false),
			Site: str(MaxIDBytes, true), Action: Action(1 + rng.IntN(2)), InviteID: str(MaxInviteIDBytes, false),
			Reason: Reason(1 + rng.IntN(2)), Score: rng.Float64(), Scores: Scores{rng.Float64(), rng.Float64()},
			Page:    Page{URL: append([]byte("/"), str(MaxURLBytes-1, true)...), Kind: PageKind(1 + rng.IntN(int(numKinds)-1))},
			EventTS: rng.Int64(), DecidedAt: rng.Int64(), ExpiresAt: rng.Int64(),
			Model: str(MaxIDBytes, false), Holdout: rng.IntN(2) == 0, Team: str(MaxIDBytes, true),
		}
		for range rng.IntN(signals + 1) {
			d.Signals = append(d.Signals, Signal{Name: string(str(MaxNameBytes, false)), Value: num(), Weight: num(), Detail: str(MaxNameBytes, true)})
		}
		buf = AppendDecision(buf[:0], &d)
		largest = max(largest, len(buf))
		if len(buf) > MaxDecisionBytes {
			t.Fatalf("a decision of %d bytes, over MaxDecisionBytes: %s", len(buf), buf)
		}
	}
	t.Logf("the largest of 2000 random decisions is %d bytes", largest)
}
