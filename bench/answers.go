package bench

import (
	"math"
	"math/rand/v2"

	"github.com/lingerhq/linger/schemas"
)

// How the personas answer the invites they are shown. The figures are
// guesses at how such visitors behave, kept plausible on their own terms
// (as the scripts are): a visitor stuck on a form welcomes help most, one
// with second thoughts at the payment step sometimes, one comparing prices
// in another tab seldom, a browser hardly ever, a crawler never. With
// DefaultMix and the default scoring config, about 9% of the invites shown
// are accepted (TestSimulateAcceptance checks 5 to 15%): inside the 3 to
// 10% that healthy proactive chat sees, so a demo shows a site in its band.
//
// An answer is played out in event time from the decision's event_ts:
//
//	shown      event_ts + 0.2..1.5 s (the widget gets it over SSE and draws it)
//	accepted   shown + a delay around AcceptMs      ┐ at or after expires_at:
//	declined   shown + a delay around DeclineMs     ┘ expired instead
//	expired    expires_at (ignored until then)
//	chat_started  accepted + 3..25 s (an agent picks up within 30 s)
//	chat_ended    chat_started + handle_s, around HandleS
//	chat_rated    chat_ended + 5..60 s, score drawn from Ratings
//
// Delays "around" a median are log-normal within a factor 4 of it, like the
// scripts' dwell times.
type answerModel struct {
	// Accept and Decline are the chances, once shown, of accepting and of
	// dismissing the invite; the rest ignore it until it expires.
	Accept, Decline float64
	// AcceptMs and DeclineMs are the median delays of those answers after
	// the invite is shown.
	AcceptMs, DeclineMs int64
	// HandleS is the median time an agent spends on the chat, seconds.
	HandleS float64
	// Ratings weighs the scores 1 to 5 of the chat.
	Ratings [schemas.MaxScore]float64
}

// answerModels are the personas' answers; README.md and bench/README.md
// show them as a table.
var answerModels = [numPersonas]answerModel{
	// Looking around, not ready for a conversation: most close it.
	Browser: {Accept: 0.02, Decline: 0.45, AcceptMs: 10_000, DeclineMs: 4_000, HandleS: 150,
		Ratings: [5]float64{10, 10, 25, 30, 25}},
	// Knows what they want and is busy paying: dismisses it quickly.
	Buyer: {Accept: 0.03, Decline: 0.60, AcceptMs: 6_000, DeclineMs: 3_000, HandleS: 180,
		Ratings: [5]float64{4, 6, 15, 35, 40}},
	// Second thoughts at the payment step, often in another tab: some
	// want the reassurance.
	Hesitator: {Accept: 0.07, Decline: 0.35, AcceptMs: 12_000, DeclineMs: 6_000, HandleS: 300,
		Ratings: [5]float64{5, 7, 15, 35, 38}},
	// Stuck on a field that keeps saying no: the most grateful for help,
	// and the chat is short (the field is fixed).
	Confused: {Accept: 0.15, Decline: 0.30, AcceptMs: 5_000, DeclineMs: 4_000, HandleS: 240,
		Ratings: [5]float64{3, 4, 10, 33, 50}},
	// Comparing prices, mostly gone already: seldom, and the chat is a
	// negotiation that not every visitor enjoys.
	Abandoner: {Accept: 0.035, Decline: 0.25, AcceptMs: 15_000, DeclineMs: 5_000, HandleS: 360,
		Ratings: [5]float64{8, 10, 20, 32, 30}},
	// A crawler never answers (and is never invited).
	Bot: {},
}

// Timing of an answer besides the persona's own delays, ms.
const (
	showMinMs, showMaxMs     = 200, 1_500
	pickupMinMs, pickupMaxMs = 3_000, 25_000
	rateMinMs, rateMaxMs     = 5_000, 60_000
)

// answerStream separates the answers' random streams from the sessions'
// (seeded with the seed and the session index) and the visitors'.
const answerStream = 0x5851f42d4c957f2d

// Responder plays the simulated visitors' answers to the invites they are
// shown, as a chat widget and a chat platform would report them on
// chat-feedback. An answer depends only on the seed, the decision (its id,
// times, holdout flag) and the visitor's persona: the decision's id,
// hashed with the seed, seeds a random stream of its own, so the answers do
// not depend on the order in which decisions arrive or on the other
// decisions.
//
// A Responder is not safe for concurrent use: give each goroutine its own.
type Responder struct {
	seed uint64
	pcg  *rand.PCG
	r    *rand.Rand
}

// NewResponder returns a Responder for the visitors of a simulator seeded
// with seed.
func NewResponder(seed uint64) *Responder {
	pcg := rand.NewPCG(0, 0)
	return &Responder{seed: seed, pcg: pcg, r: rand.New(pcg)}
}

// Respond appends to dst the feedback records with which persona p's
// visitor answers decision d, in time order, and returns dst. Their byte
// slices point into d. A withdrawal, and an invite of the holdout group
// (never shown), get no records; an invite that expires before the widget
// can show it gets invite_expired alone.
func (r *Responder) Respond(dst []schemas.Feedback, d *schemas.Decision, p Persona) []schemas.Feedback {
	if d.Action != schemas.ActionInvite || d.Holdout || p >= numPersonas {
		return dst
	}
	r.pcg.Seed(r.seed^answerStream, fnv64a(d.ID))
	m := &answerModels[p]
	fb := schemas.Feedback{InviteID: d.ID, Session: d.Session, Visitor: d.Visitor, Site: d.Site, Team: d.Team}
	add := func(t schemas.FeedbackType, ts int64) {
		fb.Type, fb.TS = t, ts
		dst = append(dst, fb)
		fb.HandleS, fb.Score = 0, 0
	}
	shown := d.EventTS + r.between(showMinMs, showMaxMs)
	if shown >= d.ExpiresAt {
		add(schemas.FeedbackExpired, max(d.ExpiresAt, d.EventTS))
		return dst
	}
	add(schemas.FeedbackShown, shown)
	u := r.r.Float64()
	var answer schemas.FeedbackType
	var at int64
	switch {
	case u < m.Accept:
		answer, at = schemas.FeedbackAccepted, shown+r.around(m.AcceptMs)
	case u < m.Accept+m.Decline:
		answer, at = schemas.FeedbackDeclined, shown+r.around(m.DeclineMs)
	}
	if answer == schemas.FeedbackUnknown || at >= d.ExpiresAt {
		add(schemas.FeedbackExpired, d.ExpiresAt)
		return dst
	}
	add(answer, at)
	if answer != schemas.FeedbackAccepted {
		return dst
	}
	started := at + r.between(pickupMinMs, pickupMaxMs)
	add(schemas.FeedbackChatStarted, started)
	// Whole seconds, as chat platforms report them; at least one.
	handle := max(1, math.Round(float64(r.around(int64(m.HandleS*1000)))/1000))
	fb.HandleS = handle
	ended := started + int64(handle*1000)
	add(schemas.FeedbackChatEnded, ended)
	fb.Score = r.score(&m.Ratings)
	add(schemas.FeedbackChatRated, ended+r.between(rateMinMs, rateMaxMs))
	return dst
}

// between returns a uniform integer in [lo, hi].
func (r *Responder) between(lo, hi int64) int64 { return lo + r.r.Int64N(hi-lo+1) }

// around returns a duration near median, as script.around does.
func (r *Responder) around(median int64) int64 {
	f := math.Exp(0.5 * r.r.NormFloat64())
	return max(1, int64(float64(median)*min(max(f, 0.25), 4)))
}

// score draws a rating from weights of 1 to 5.
func (r *Responder) score(w *[schemas.MaxScore]float64) int64 {
	var total float64
	for _, x := range w {
		total += x
	}
	u := r.r.Float64() * total
	for i, x := range w {
		if u < x {
			return int64(i + 1)
		}
		u -= x
	}
	return schemas.MaxScore // rounding left u at a hair above the last weight
}

// fnv64a is the 64-bit FNV-1a hash of b: stable across processes and
// releases, unlike hash/maphash, so a seed replays the same answers.
func fnv64a(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

// Acceptance counts the invites of a run and what their visitors made of
// them. Answers are counted when the invite is read, when they are decided
// (the records follow when due).
type Acceptance struct {
	// Invites are the invite decisions answered (withdrawals are not
	// invites); Shown those the widget showed (not the holdout group's,
	// nor those that expired first); Accepted those the visitor accepted.
	Invites  int64 `json:"invites"`
	Shown    int64 `json:"shown"`
	Accepted int64 `json:"accepted"`
	// Rate is Accepted / Shown, 0 to 1; 0 when none was shown.
	Rate float64 `json:"rate"`
}

// count adds one invite with its answer, the records Respond wrote for it.
func (a *Acceptance) count(answer []schemas.Feedback) {
	a.Invites++
	for i := range answer {
		switch answer[i].Type {
		case schemas.FeedbackShown:
			a.Shown++
		case schemas.FeedbackAccepted:
			a.Accepted++
		}
	}
	a.rate()
}

func (a *Acceptance) add(b Acceptance) {
	a.Invites += b.Invites
	a.Shown += b.Shown
	a.Accepted += b.Accepted
	a.rate()
}

func (a *Acceptance) rate() {
	a.Rate = 0
	if a.Shown > 0 {
		a.Rate = float64(a.Accepted) / float64(a.Shown)
	}
}

// AcceptanceTally counts the answers to invites per persona.
type AcceptanceTally [numPersonas]Acceptance

// Count counts one invite of a visitor of persona p and its answer.
func (t *AcceptanceTally) Count(p Persona, answer []schemas.Feedback) { t[p].count(answer) }

// Total sums the personas' counts.
func (t *AcceptanceTally) Total() Acceptance {
	var a Acceptance
	for _, c := range t {
		a.add(c)
	}
	return a
}

// ByName returns the tally by persona name, every persona present.
func (t *AcceptanceTally) ByName() map[string]Acceptance {
	m := make(map[string]Acceptance, numPersonas)
	for p, c := range t {
		m[Persona(p).String()] = c
	}
	return m
}

// Persona returns the persona of session i (i ≥ 0), as Session(i) would
// play it, without playing the session: a load driver or a chat platform
// stand-in looks up who it is answering for.
func (s *Simulator) Persona(i int) Persona {
	var pcg rand.PCG
	pcg.Seed(s.cfg.Seed, uint64(i))
	// What rand.Rand.Float64 draws from the session's stream first: fill
	// picks the persona with it.
	return s.cfg.Mix.pick(float64(pcg.Uint64()<<11>>11) / (1 << 53))
}
