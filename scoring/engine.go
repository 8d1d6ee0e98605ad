package scoring

import (
	"math"
	"strings"

	"github.com/lingerhq/linger/schemas"
)

// TopSignals is how many signals a decision carries.
const TopSignals = 3

// Outcome is what the policy made of one scored moment, for metrics and
// backtests: an invite, a withdraw, nothing, or an invite the policy held
// back and why.
type Outcome uint8

// Outcomes.
const (
	// OutcomeNone: no score reached its threshold.
	OutcomeNone Outcome = iota
	// OutcomeInvite: an invite was decided.
	OutcomeInvite
	// OutcomeWithdraw: an earlier invite was taken back.
	OutcomeWithdraw
	// The rest are suppressed invites: a score reached its threshold, but
	// the policy said no.
	SuppressedBot
	SuppressedConverted // purchased, or opened chat
	SuppressedPage      // not an eligible page kind
	SuppressedBreathing // too early in the session
	SuppressedCap       // the session had its invites
	SuppressedCooldown  // too soon after the last invite
	numOutcomes
)

var outcomeNames = [numOutcomes]string{"none", "invite", "withdraw", "bot", "converted", "page", "breathing_space", "session_cap", "cooldown"}

// String returns the outcome's name, the reason label of suppressed invites.
func (o Outcome) String() string {
	if o < numOutcomes {
		return outcomeNames[o]
	}
	return "unknown"
}

// Suppressed reports whether o is an invite the policy held back.
func (o Outcome) Suppressed() bool { return o >= SuppressedBot && o < numOutcomes }

// SuppressedReasons lists the names of the suppressed outcomes.
func SuppressedReasons() []string { return outcomeNames[SuppressedBot:] }

// Engine applies events to sessions, scores them and decides, for one
// worker: it holds scratch space, so it is not safe for concurrent use, and
// it allocates nothing per event once warm.
type Engine struct {
	cfg *Config

	raw     Vector // last signal values, natural units
	scaled  Vector
	scores  [numModels]float64
	outcome Outcome
	set     *Settings
	timer   bool // the moment being decided is a timer's, not an event's
}

// NewEngine returns an engine deciding with cfg.
func NewEngine(cfg *Config) *Engine { return &Engine{cfg: cfg} }

// Config returns the engine's config.
func (e *Engine) Config() *Config { return e.cfg }

// Apply updates s with ev, scores s as of ev's time and applies the policy.
// It reports whether a decision was made, and fills d if so (reusing d's
// memory). DecidedAt is left for the caller, which owns the clock.
func (e *Engine) Apply(s *State, ev *schemas.Event, d *schemas.Decision) bool {
	site := ev.Site
	if len(site) == 0 {
		site = s.Site
	}
	set := e.cfg.For(site)
	Update(s, ev, set)
	e.score(s, ev.TS, set)

	var decided bool
	if s.Invites > 0 && s.Flags&FlagWithdrawn == 0 &&
		(ev.Type == schemas.TypePurchase || ev.Type == schemas.TypeChat && ev.ChatAction == schemas.ChatOpen) &&
		ev.TS < s.InviteAt+set.InviteTTLMs {
		e.outcome = OutcomeWithdraw
		s.Flags |= FlagWithdrawn
		e.fill(s, ev.Session, ev.TS, set, d, schemas.ActionWithdraw, int(s.InviteReason)-1)
		decided = true
	} else {
		decided = e.decide(s, ev.Session, ev.TS, set, d)
	}
	s.Deadline = NextDeadline(s, set)
	return decided
}

// Fire handles s's deadline as of event time at (at ≥ s.Deadline): a
// silence check scores the session as of at and applies the policy, like
// Apply; at or past the session's expiry, it reports expired and decides
// nothing. The decision's event time is at, so it does not depend on when
// the timer happened to run. Fire sets the next deadline.
func (e *Engine) Fire(s *State, at int64, d *schemas.Decision) (decided, expired bool) {
	set := e.cfg.For(s.Site)
	if at >= s.Last+set.SessionTimeoutMs {
		e.outcome = OutcomeNone
		return false, true
	}
	e.score(s, at, set)
	e.timer = true
	decided = e.decide(s, s.Session, at, set, d)
	e.timer = false
	s.Checked = max(s.Checked, at)
	s.Deadline = NextDeadline(s, set)
	return decided, false
}

// Scores returns the scores of the last Apply or Fire.
func (e *Engine) Scores() schemas.Scores {
	return schemas.Scores{Abandonment: e.scores[Abandonment], Confusion: e.scores[Confusion]}
}

// Outcome returns what the policy made of the last Apply or Fire.
func (e *Engine) Outcome() Outcome { return e.outcome }

// Features returns the signal values of the last Apply or Fire, indexed
// like Signals().
func (e *Engine) Features() *Vector { return &e.raw }

func (e *Engine) score(s *State, at int64, set *Settings) {
	e.set = set
	Features(s, at, set, &e.raw)
	n := len(registry)
	for i := range n {
		e.scaled[i] = min(max(e.raw[i], 0)/set.Scale[i], 1)
	}
	for m := range numModels {
		z := set.Bias[m]
		w := &set.Weight[m]
		for i := range n {
			z += w[i] * e.scaled[i]
		}
		e.scores[m] = 1 / (1 + math.Exp(-z))
	}
}

func (e *Engine) decide(s *State, session []byte, at int64, set *Settings, d *schemas.Decision) bool {
	// The winner is the model furthest above its threshold.
	best, margin := -1, 0.0
	for m := range numModels {
		if diff := e.scores[m] - set.Threshold[m]; diff >= 0 && (best < 0 || diff > margin) {
			best, margin = m, diff
		}
	}
	if best < 0 {
		e.outcome = OutcomeNone
		return false
	}
	if e.outcome = Policy(s, at, set); e.outcome != OutcomeInvite {
		return false
	}
	s.Invites++
	s.InviteAt = at
	s.InviteReason = uint8(best + 1)
	s.Flags &^= FlagWithdrawn
	e.fill(s, session, at, set, d, schemas.ActionInvite, best)
	s.InviteSeq = s.Seq
	return true
}

// Policy returns OutcomeInvite if the policy lets s be invited at event time
// at, whatever its scores, or the rule that holds the invite back. Decisions
// apply it to a score over its threshold; backtests ask it of every moment,
// to know what another threshold would have done.
func Policy(s *State, at int64, set *Settings) Outcome {
	switch {
	case s.Flags&FlagBot != 0:
		return SuppressedBot
	case s.Flags&(FlagPurchased|FlagChatOpen) != 0:
		return SuppressedConverted
	case !set.Eligible[s.Kind&15]:
		return SuppressedPage
	case at-s.Start < set.BreathingMs:
		return SuppressedBreathing
	case s.Invites >= set.MaxInvites:
		return SuppressedCap
	case s.Invites > 0 && at-s.InviteAt < set.CooldownMs:
		return SuppressedCooldown
	}
	return OutcomeInvite
}

// fill writes a decision of model m, taking the next decision sequence.
func (e *Engine) fill(s *State, session []byte, at int64, set *Settings, d *schemas.Decision, action schemas.Action, m int) {
	s.Seq++
	d.ID = schemas.AppendDecisionID(d.ID[:0], session, s.Seq)
	d.Session = append(d.Session[:0], session...)
	d.Visitor = append(d.Visitor[:0], s.Visitor...)
	d.Site = append(d.Site[:0], s.Site...)
	d.Action = action
	d.InviteID = d.InviteID[:0]
	if action == schemas.ActionWithdraw {
		d.InviteID = schemas.AppendDecisionID(d.InviteID, session, s.InviteSeq)
	}
	d.Reason = schemas.Reason(m + 1)
	d.Score = e.scores[m]
	d.Scores = e.Scores()
	e.topSignals(s, m, set, d)
	d.Page.Kind = schemas.PageKind(s.Kind)
	d.Page.URL = append(d.Page.URL[:0], s.URL...)
	d.EventTS = at
	d.DecidedAt = 0
	// Expiry counts from the decision's event time, so replay and run agree
	// and a decision that reaches a lagging front-end late is not shown.
	d.ExpiresAt = at + set.InviteTTLMs
	d.Model = append(d.Model[:0], set.Model...)
	d.Holdout = inHoldout(session, set.HoldoutBasisPoints)
	d.Team = append(d.Team[:0], set.Team[m]...)
}

// topSignals puts the largest positive contributions to model m in d,
// largest first; ties go to the signal that sorts first by name.
func (e *Engine) topSignals(s *State, m int, set *Settings, d *schemas.Decision) {
	var top [TopSignals]int
	var val [TopSignals]float64
	n := 0
	w := &set.Weight[m]
	for i := range len(registry) {
		c := w[i] * e.scaled[i]
		if c <= 0 {
			continue
		}
		j := n
		if n < TopSignals {
			n++
		} else if c <= val[TopSignals-1] {
			continue
		} else {
			j = TopSignals - 1
		}
		for j > 0 && c > val[j-1] {
			top[j], val[j] = top[j-1], val[j-1]
			j--
		}
		top[j], val[j] = i, c
	}
	if cap(d.Signals) < TopSignals {
		d.Signals = make([]schemas.Signal, 0, TopSignals)
	}
	d.Signals = d.Signals[:n]
	for k := range n {
		sig := registry[top[k]]
		out := &d.Signals[k]
		out.Name = sig.Name
		out.Value = e.raw[top[k]]
		out.Weight = w[top[k]]
		out.Detail = out.Detail[:0]
		switch {
		case sig.Detail != nil:
			out.Detail = append(out.Detail, sig.Detail(s)...)
		case e.timer && strings.HasPrefix(sig.Name, "idle_"):
			// A timer decided: say that silence, not an event, did it.
			out.Detail = append(out.Detail, "silence timer"...)
		}
	}
}

// inHoldout puts a fixed share of sessions in the control group, by a hash
// of the session id, so every replica and every replay agrees.
func inHoldout(session []byte, basisPoints uint64) bool {
	if basisPoints == 0 {
		return false
	}
	h := uint64(14695981039346656037)
	for _, c := range session {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h%10000 < basisPoints
}
