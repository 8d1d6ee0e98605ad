package bench

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"unicode"

	"github.com/lingerhq/linger/schemas"
)

// Defaults of Config.
const (
	// DefaultSite is the site of the simulated shop.
	DefaultSite = "demo-shop"
	// DefaultStartMs is the event time of t=0 when none is given:
	// 2026-01-01T00:00:00Z, so runs compare across days.
	DefaultStartMs = int64(1767225600000)
	// DefaultRate is the sessions started per second of event time.
	DefaultRate = 10.0
)

// Config is what a Simulator plays. The zero Config is valid: every field
// has a default.
type Config struct {
	// Seed chooses the run: the same seed gives the same sessions, byte
	// for byte.
	Seed uint64
	// Mix weighs the personas. Default (the zero Mix): DefaultMix().
	Mix Mix
	// Site is every event's "site". Default: DefaultSite.
	Site string
	// StartMs is the event time of t=0, Unix ms: a Stream's first session
	// starts then. Default: DefaultStartMs; a live demo sets it to now.
	StartMs int64
	// Rate is how many sessions a Stream starts per second of event time.
	// Default: DefaultRate.
	Rate float64
	// Regular spaces session starts evenly, 1/Rate apart, instead of as a
	// Poisson process (exponential gaps of mean 1/Rate).
	Regular bool
}

// Validate returns every problem of c at once, joined, or nil. Zero values
// are not problems: they mean the default.
func (c *Config) Validate() error {
	var errs []error
	if !c.Mix.IsZero() {
		if err := c.Mix.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if len(c.Site) > schemas.MaxIDBytes {
		errs = append(errs, fmt.Errorf("site is %d bytes, the limit is %d", len(c.Site), schemas.MaxIDBytes))
	}
	if c.StartMs < 0 {
		errs = append(errs, fmt.Errorf("start must be a Unix time in ms, not negative: %d", c.StartMs))
	}
	if math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0) || c.Rate < 0 {
		errs = append(errs, fmt.Errorf("rate must be a non-negative number of sessions per second, got %v", c.Rate))
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	if c.Mix.IsZero() {
		c.Mix = DefaultMix()
	}
	if c.Site == "" {
		c.Site = DefaultSite
	}
	if c.StartMs == 0 {
		c.StartMs = DefaultStartMs
	}
	if c.Rate == 0 {
		c.Rate = DefaultRate
	}
	return c
}

// Simulator plays sessions of visitors. It holds no per-session state, so
// it is safe for concurrent use; a Stream it makes is not.
type Simulator struct {
	cfg  Config
	site []byte
}

// NewSimulator returns a simulator of cfg, with defaults filled in.
func NewSimulator(cfg Config) (*Simulator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("simulator: %w", err)
	}
	cfg = cfg.withDefaults()
	return &Simulator{cfg: cfg, site: []byte(cfg.Site)}, nil
}

// Config returns the simulator's config, defaults filled in.
func (s *Simulator) Config() Config { return s.cfg }

// Session returns the i-th session (i ≥ 0). Its events depend only on the
// seed, the mix, the site and i. Its Start is Config.StartMs; a Stream
// moves it to the session's arrival time.
func (s *Simulator) Session(i int) Session {
	pcg := rand.NewPCG(0, 0)
	var sess Session
	s.fill(i, &sess, pcg, rand.New(pcg))
	return sess
}

// fill writes session i into sess, reusing its memory. r must draw from
// pcg, which fill seeds for the session.
func (s *Simulator) fill(i int, sess *Session, pcg *rand.PCG, r *rand.Rand) {
	if i < 0 {
		panic("bench: negative session index " + strconv.Itoa(i))
	}
	pcg.Seed(s.cfg.Seed, uint64(i))
	sess.Index = i
	sess.Persona = s.cfg.Mix.pick(r.Float64())
	sess.ID = appendID(sess.ID[:0], 's', s.cfg.Seed, uint64(i))
	sess.Visitor = appendID(sess.Visitor[:0], 'v', s.cfg.Seed, s.visitor(i))
	sess.Site = s.site
	sess.Bot = sess.Persona == Bot
	sess.Start = s.cfg.StartMs
	var sc script
	sc.reset(r, sess.steps)
	sc.play(sess.Persona)
	sess.steps = sc.steps
}

// appendID appends "<prefix>-<seed>-<n>", numbers in base 36.
func appendID(dst []byte, prefix byte, seed, n uint64) []byte {
	dst = append(dst, prefix, '-')
	dst = strconv.AppendUint(dst, seed, 36)
	dst = append(dst, '-')
	return strconv.AppendUint(dst, n, 36)
}

// SessionIndex returns the index of the session whose id is id, if this
// simulator (its seed) could have made it: a load driver maps decisions
// back to the sessions it sent without a table of ids.
func (s *Simulator) SessionIndex(id []byte) (int, bool) {
	prefix := appendID(make([]byte, 0, 24), 's', s.cfg.Seed, 0)
	prefix = prefix[:len(prefix)-1] // "s-<seed>-"
	if len(id) <= len(prefix) || string(id[:len(prefix)]) != string(prefix) {
		return 0, false
	}
	rest := id[len(prefix):]
	if len(rest) > 1 && rest[0] == '0' || strings.ContainsFunc(string(rest), unicode.IsUpper) {
		return 0, false // not how appendID writes a number
	}
	n, err := strconv.ParseUint(string(rest), 36, 63)
	if err != nil || n > math.MaxInt {
		return 0, false
	}
	return int(n), true
}

// SessionRate returns the Config.Rate (sessions a second) at which a
// Stream of this simulator's mix makes about eventsPerSec events a second,
// from the mean length of its first 20,000 sessions.
func (s *Simulator) SessionRate(eventsPerSec float64) float64 {
	return eventsPerSec / s.MeanEvents(20000)
}

// MeanEvents returns the mean number of events of the first n sessions
// (at least 1): with Rate, it sets how many events per second a Stream
// makes, which a load driver matches to the rate it offers.
func (s *Simulator) MeanEvents(n int) float64 {
	n = max(n, 1)
	pcg := rand.NewPCG(0, 0)
	r := rand.New(pcg)
	var sess Session
	total := 0
	for i := range n {
		s.fill(i, &sess, pcg, r)
		total += sess.Len()
	}
	return float64(total) / float64(n)
}

// Visitors: a share of sessions come back from a visitor of a recent
// session, so per-visitor invite caps have something to cap.
const (
	returningShare = 0.2
	returningReach = 2000 // sessions back a returning visitor may come from
	visitorStream  = 0x9e3779b97f4a7c15
)

// visitor returns the visitor number of session i: i for a new visitor, or
// the visitor of an earlier session. It draws from a stream of its own, so
// it follows a chain of earlier sessions without playing them.
func (s *Simulator) visitor(i int) uint64 {
	j := uint64(i)
	for j > 0 {
		var p rand.PCG
		p.Seed(s.cfg.Seed^visitorStream, j)
		if float64(p.Uint64()>>11)/(1<<53) >= returningShare {
			break
		}
		j -= 1 + p.Uint64()%min(j, returningReach)
	}
	return j
}

// Session is one simulated visitor session: who, and its events in time
// order. Its byte slices must not be modified: events point into them.
type Session struct {
	// Index is the session's number in its simulator.
	Index int
	// Persona is who plays the session.
	Persona Persona
	// ID is the session id, "s-<seed>-<index>" in base 36: the record key.
	ID []byte
	// Visitor is the visitor id, "v-<seed>-<n>"; returning visitors share
	// one.
	Visitor []byte
	// Site is Config.Site.
	Site []byte
	// Bot is set on every event of a Bot session.
	Bot bool
	// Start is the event time of the first event, Unix ms.
	Start int64

	steps []step
}

// Len returns the number of events.
func (s *Session) Len() int { return len(s.steps) }

// TS returns the event time of event k, Unix ms.
func (s *Session) TS(k int) int64 { return s.Start + int64(s.steps[k].at) }

// Event fills ev with event k. Its byte slices point into the session and
// the simulator's catalogue: ev allocates nothing and must not be modified.
func (s *Session) Event(k int, ev *schemas.Event) {
	st := &s.steps[k]
	ev.Reset()
	ev.Type = st.typ
	ev.Session, ev.Visitor, ev.Site = s.ID, s.Visitor, s.Site
	ev.TS = s.Start + int64(st.at)
	ev.Bot = s.Bot
	if st.page != 0 {
		p := &shop.pages[st.page]
		ev.Page = schemas.Page{URL: p.url, Kind: p.kind}
	}
	n := &st.n
	switch st.typ {
	case schemas.TypePageView:
		if st.ref != 0 {
			ev.Ref = shop.pages[st.ref].url
		}
	case schemas.TypeIdle:
		ev.MS = int64(n[0])
	case schemas.TypeVisibility:
		ev.Visibility = schemas.Visibility(st.op)
	case schemas.TypeMouse:
		ev.MS, ev.Moves, ev.DirChanges = int64(n[0]), int64(n[1]), int64(n[2])
		ev.Clicks, ev.RageClicks, ev.DeadClicks = int64(n[3]), int64(n[4]), int64(n[5])
	case schemas.TypeScroll:
		ev.Depth = float64(n[0]) / 1000
		ev.ScrollDir = schemas.ScrollDir(st.op)
	case schemas.TypeForm:
		f := &shop.fields[st.field]
		ev.Form, ev.Field = f.form, f.field
		ev.FormAction = schemas.FormAction(st.op)
	case schemas.TypeCart:
		ev.CartAction = schemas.CartAction(st.op)
		ev.Value, ev.Items = int64(n[0]), int64(n[1])
	case schemas.TypeCheckout:
		ev.Step = int64(n[0])
	case schemas.TypePurchase:
		ev.Value, ev.Items = int64(n[0]), int64(n[1])
	case schemas.TypeChat:
		ev.ChatAction = schemas.ChatAction(st.op)
	}
}

// AppendEvent appends event k as v1 JSON, the value of its record.
func (s *Session) AppendEvent(dst []byte, k int) []byte {
	var ev schemas.Event
	s.Event(k, &ev)
	return schemas.AppendEvent(dst, &ev)
}

// Events returns every event, for tests and tools (it allocates; a Stream
// does not).
func (s *Session) Events() []schemas.Event {
	evs := make([]schemas.Event, s.Len())
	for k := range evs {
		s.Event(k, &evs[k])
	}
	return evs
}
