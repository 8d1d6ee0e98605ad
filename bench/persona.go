package bench

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Persona is a kind of visitor the simulator plays.
type Persona uint8

// Personas. The comment of each says what its sessions do and which
// decision they stand for.
const (
	// Browser looks around home, category, product and search pages,
	// sometimes reaches for the tab bar on a home or category page, and
	// leaves. Not invited.
	Browser Persona = iota
	// Buyer goes from a product to the cart and through checkout, fills
	// the forms promptly, pays and lands on the thank-you page. Not
	// invited.
	Buyer
	// Hesitator fills a cart, reaches the payment step and goes quiet,
	// maybe hides the tab, comes back and reaches for the tab bar.
	// Invited for abandonment.
	Hesitator
	// Confused fights a form field that keeps rejecting them: errors,
	// clears, re-edits, fields focused and left, rage and dead clicks, a
	// wandering pointer. Invited for confusion.
	Confused
	// Abandoner goes back and forth between a product, pricing and
	// shipping pages, adds to the cart, compares in another tab, then
	// reaches for the tab bar and is gone. Mostly invited for
	// abandonment.
	Abandoner
	// Bot is a crawler the collector flagged (every event has "bot":
	// true), walking many pages fast, sometimes through cart and
	// checkout. Never invited.
	Bot
	numPersonas
)

var personaNames = [numPersonas]string{"browser", "buyer", "hesitator", "confused", "abandoner", "bot"}

// String returns the persona's name, as ParsePersona and ParseMix read it.
func (p Persona) String() string {
	if p < numPersonas {
		return personaNames[p]
	}
	return "persona(" + strconv.Itoa(int(p)) + ")"
}

// Personas lists every persona, in order.
func Personas() []Persona {
	ps := make([]Persona, numPersonas)
	for i := range ps {
		ps[i] = Persona(i)
	}
	return ps
}

// ErrUnknownPersona is returned by ParsePersona and ParseMix for a name
// that is not a persona's.
var ErrUnknownPersona = errors.New("unknown persona")

// ParsePersona returns the persona named s (as String writes it).
func ParsePersona(s string) (Persona, error) {
	for i, n := range personaNames {
		if n == s {
			return Persona(i), nil
		}
	}
	return 0, fmt.Errorf("%w %q (one of %s)", ErrUnknownPersona, s, strings.Join(personaNames[:], ", "))
}

// Mix weighs the personas: a session is persona p with probability
// Mix[p] / (sum of Mix). Index it with the persona constants:
// Mix{Hesitator: 1} plays hesitators only.
type Mix [numPersonas]float64

// DefaultMix is the mix of a demo: weighted towards the visitors that need
// help, so that about one session in six is invited and a demo shows its
// first invites within its first two minutes. It is not the mix of a real
// shop, where most sessions are short browsing and bots are many.
func DefaultMix() Mix {
	return Mix{Browser: 50, Buyer: 20, Hesitator: 10, Confused: 10, Abandoner: 8, Bot: 2}
}

// ErrBadMix is returned by ParseMix and Mix.Validate for a mix that cannot
// choose a persona.
var ErrBadMix = errors.New("bad persona mix")

// ParseMix reads a mix written "persona=weight,...", e.g.
// "browser=50,buyer=20,hesitator=10,confused=10,abandoner=8,bot=2".
// Personas left out weigh 0. Weights are non-negative numbers; at least one
// must be positive.
func ParseMix(s string) (Mix, error) {
	var m Mix
	var seen [numPersonas]bool
	if strings.TrimSpace(s) == "" {
		return m, fmt.Errorf("%w: empty", ErrBadMix)
	}
	for item := range strings.SplitSeq(s, ",") {
		name, weight, ok := strings.Cut(strings.TrimSpace(item), "=")
		if !ok {
			return m, fmt.Errorf("%w: %q is not persona=weight", ErrBadMix, item)
		}
		p, err := ParsePersona(strings.TrimSpace(name))
		if err != nil {
			return m, fmt.Errorf("%w: %w", ErrBadMix, err)
		}
		if seen[p] {
			return m, fmt.Errorf("%w: %s appears twice", ErrBadMix, p)
		}
		seen[p] = true
		w, err := strconv.ParseFloat(strings.TrimSpace(weight), 64)
		if err != nil {
			return m, fmt.Errorf("%w: weight of %s: %q is not a number", ErrBadMix, p, weight)
		}
		m[p] = w
	}
	return m, m.Validate()
}

// Validate reports whether m can choose a persona: every weight finite and
// not negative, and at least one positive.
func (m Mix) Validate() error {
	var total float64
	for p, w := range m {
		if math.IsNaN(w) || math.IsInf(w, 0) || w < 0 {
			return fmt.Errorf("%w: weight of %s must be a non-negative number, got %v", ErrBadMix, Persona(p), w)
		}
		total += w
	}
	if !(total > 0) || math.IsInf(total, 0) {
		return fmt.Errorf("%w: the weights must add up to a positive number", ErrBadMix)
	}
	return nil
}

// IsZero reports whether m weighs nothing (the zero Mix, which a Config
// takes to mean DefaultMix).
func (m Mix) IsZero() bool { return m == Mix{} }

// String writes m as ParseMix reads it, leaving out personas that weigh 0.
func (m Mix) String() string {
	var b []byte
	for p, w := range m {
		if w == 0 {
			continue
		}
		if len(b) > 0 {
			b = append(b, ',')
		}
		b = append(b, personaNames[p]...)
		b = append(b, '=')
		b = strconv.AppendFloat(b, w, 'g', -1, 64)
	}
	return string(b)
}

// pick returns the persona that u (uniform in [0, 1)) falls on.
func (m *Mix) pick(u float64) Persona {
	var total float64
	for _, w := range m {
		total += w
	}
	x := u * total
	last := Persona(0)
	for p, w := range m {
		if w == 0 {
			continue
		}
		last = Persona(p)
		if x < w {
			return last
		}
		x -= w
	}
	// Rounding can leave x at a hair above the last weight.
	return last
}
