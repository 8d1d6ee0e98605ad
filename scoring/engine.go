package scoring

import (
	"bytes"
	"math"
	"slices"

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
	// SuppressedInhuman: more page views a minute than a human makes
	// (max_page_views_per_minute); checked right after SuppressedBot.
	SuppressedInhuman
	// SuppressedFrequencyCap: the visitor had their invites across
	// sessions (frequency_cap; needs WithVisitorCaps).
	SuppressedFrequencyCap
	// SuppressedNoCapacity: the team has no free slot at the decision's
	// event time, or the partition's share of its budget is spent.
	SuppressedNoCapacity
	// SuppressedRateBand: the score reached the configured threshold but
	// not the one the invite-rate controller raised it to.
	SuppressedRateBand
	// SuppressedScarce: the team's budget is scarce and the score did not
	// reach the threshold raised for it (capacity.scarce_raise).
	SuppressedScarce
	// SuppressedAcceptanceBand: the score reached the configured threshold
	// but not the one the acceptance controller raised it to, acceptance
	// being below the band (acceptance_band.controller). It is checked
	// where SuppressedRateBand is: a site has one controller at most.
	SuppressedAcceptanceBand
	numOutcomes
)

// Holdout is not an outcome: a session in the control group is decided
// like any other (OutcomeInvite, budget admission included) and published
// with holdout: true, so front-ends do not show it.

var outcomeNames = [numOutcomes]string{"none", "invite", "withdraw", "bot", "converted", "page", "breathing_space", "session_cap", "cooldown",
	"inhuman_rate", "frequency_cap", "no_capacity", "rate_band", "scarce_capacity", "acceptance_band"}

// String returns the outcome's name, the reason label of suppressed invites.
func (o Outcome) String() string {
	if o < numOutcomes {
		return outcomeNames[o]
	}
	return "unknown"
}

// Suppressed reports whether o is an invite the policy held back.
func (o Outcome) Suppressed() bool { return o >= SuppressedBot && o < numOutcomes }

// SuppressedReasons lists the names of the suppressed outcomes, the
// reason (cause) label of the suppression counter: bot, converted, page,
// breathing_space, session_cap, cooldown, inhuman_rate, frequency_cap,
// no_capacity, rate_band, scarce_capacity, acceptance_band. The slice is a
// copy.
func SuppressedReasons() []string { return slices.Clone(outcomeNames[SuppressedBot:]) }

// Engine applies events to sessions, scores them and decides, for one
// partition worker: it holds scratch space and the partition's Budget, so
// it is not safe for concurrent use, and it allocates nothing per event
// once warm.
//
// The closed loop with the chat platform needs three things from the
// pipeline, given as options: the partition's Budget (WithBudget: its
// state goes to the changelog), the replica's CapacityTable (WithCapacity:
// fed from chat-capacity) and the replica's VisitorCaps (WithVisitorCaps:
// fed from linger-visitors). Without them an engine has a budget of its
// own over one partition, no capacity data (every team gets the static
// budget, unlimited by default) and no frequency cap across sessions.
type Engine struct {
	cfg *Config

	raw       Vector // last signal values, natural units
	scaled    Vector
	scores    [numModels]float64
	outcome   Outcome
	set       *Settings
	timer     bool    // the moment being decided is a timer's, not an event's
	team      []byte  // team of the last invite or would-be invite
	threshold float64 // the score that invite needed

	budget   *Budget
	caps     *CapacityTable
	visitors *VisitorCaps
	id       []byte // scratch for an invite id
}

// EngineOption configures an Engine.
type EngineOption func(*Engine)

// WithBudget gives the engine its partition's budget: capacity split over
// b's partitions, and the invite-share and acceptance bands.
// Default: NewBudget(1).
func WithBudget(b *Budget) EngineOption { return func(e *Engine) { e.budget = b } }

// WithCapacity gives the engine the replica's capacity table. Default: none,
// every team gets its site's static budget.
func WithCapacity(t *CapacityTable) EngineOption { return func(e *Engine) { e.caps = t } }

// WithVisitorCaps gives the engine the replica's visitor table, which
// enforces frequency_cap and to which the engine records every invite of a
// visitor. Default: none, no cap across sessions.
func WithVisitorCaps(v *VisitorCaps) EngineOption { return func(e *Engine) { e.visitors = v } }

// NewEngine returns an engine deciding with cfg.
func NewEngine(cfg *Config, opts ...EngineOption) *Engine {
	e := &Engine{cfg: cfg}
	for _, o := range opts {
		o(e)
	}
	if e.budget == nil {
		e.budget = NewBudget(1)
	}
	return e
}

// Config returns the engine's config.
func (e *Engine) Config() *Config { return e.cfg }

// SetConfig makes the engine decide with cfg from the next event on,
// keeping its budget and tables: a config reload.
func (e *Engine) SetConfig(cfg *Config) { e.cfg = cfg }

// Budget returns the engine's partition budget.
func (e *Engine) Budget() *Budget { return e.budget }

// Team returns the team of the last Apply or Fire's invite or would-be
// invite (a score over its threshold on an eligible page), nil if there was
// none: the team label of per-team metrics. It is valid until the next call.
func (e *Engine) Team() []byte { return e.team }

// Threshold returns the score the last invite or would-be invite had to
// reach: its reason's threshold, moved by the site's controller (rate band
// or acceptance band) and raised when its team's budget is scarce. 0 when
// no check got that far.
func (e *Engine) Threshold() float64 { return e.threshold }

// Apply updates s with ev, scores s as of ev's time and applies the policy.
// It reports whether a decision was made, and fills d if so (reusing d's
// memory). DecidedAt is left for the caller, which owns the clock.
func (e *Engine) Apply(s *State, ev *schemas.Event, d *schemas.Decision) bool {
	site := ev.Site
	if len(site) == 0 {
		site = s.Site
	}
	set := e.cfg.For(site)
	e.team, e.threshold = nil, 0
	if e.cfg.accept {
		// The partition's watermark, as the events make it: what the
		// acceptance bands count feedback and step by.
		e.budget.advanceAcceptance(ev.TS-e.cfg.base.AllowedLatenessMs, e.cfg)
	}
	Update(s, ev, set)
	e.score(s, ev.TS, set)

	var decided bool
	// A withdraw takes back an invite the visitor has not seen yet: once
	// the front-end reported it shown, the chat is theirs to close.
	if s.Invites > 0 && s.Flags&(FlagWithdrawn|FlagShown) == 0 &&
		(ev.Type == schemas.TypePurchase || ev.Type == schemas.TypeChat && ev.ChatAction == schemas.ChatOpen) &&
		ev.TS < s.InviteAt+set.InviteTTLMs {
		e.outcome = OutcomeWithdraw
		s.Flags |= FlagWithdrawn
		m := int(s.InviteReason) - 1
		e.team = set.teamOf(int(s.InviteRoute)-1, m)
		e.fill(s, ev.Session, ev.TS, set, d, schemas.ActionWithdraw, m, e.team, inHoldout(ev.Session, set.HoldoutBasisPoints))
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
	e.team, e.threshold = nil, 0
	if at >= s.Last+set.SessionTimeoutMs {
		e.outcome = OutcomeNone
		return false, true
	}
	if e.cfg.accept {
		// A timer fires once the watermark has passed its time.
		e.budget.advanceAcceptance(at, e.cfg)
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
	// Most signals of a session are 0 at any moment (no rage click, no
	// form error): they skip the division, whose result (0) they know, and
	// the models' sums, to which they add a zero. The values are exactly
	// those of min(max(r, 0)/scale, 1), and each sum is exactly the full
	// one: a weight is finite (config validation), so its product with 0
	// is ±0, and adding ±0 changes no sum but the sign of a zero, which
	// the sigmoid does not see.
	var live [MaxSignals]uint8
	k := 0
	for i := range n {
		if r := e.raw[i]; r <= 0 {
			e.scaled[i] = 0
		} else {
			e.scaled[i] = min(r/set.Scale[i], 1)
			live[k] = uint8(i)
			k++
		}
	}
	for m := range numModels {
		z := set.Bias[m]
		w := &set.Weight[m]
		for _, i := range live[:k] {
			z += w[i] * e.scaled[i]
		}
		e.scores[m] = 1 / (1 + math.Exp(-z))
	}
}

// decide applies the policy to the scores of s at event time at, in this
// order: the thresholds (moved by the site's controller: rate band or
// acceptance band) pick the reason, whose route gives the team and says
// whether the page is eligible; then the session's rules (Policy), the
// visitor's frequency cap, the team's capacity budget, the controller's
// threshold and the threshold scarcity raises. The first rule that says no
// is the outcome.
func (e *Engine) decide(s *State, session []byte, at int64, set *Settings, d *schemas.Decision) bool {
	e.team, e.threshold = nil, 0
	// The budget keeps its bands by the sites the config names: sessions
	// of any other site share one, so made-up sites cannot crowd out a
	// real one's (nor grow the partition record).
	site := e.cfg.budgetSite(s.Site)
	// The band counts a session as eligible the first time the policy
	// would invite it, whatever its score.
	if s.Flags&FlagEligible == 0 && policy(s, at, set, set.eligibleAny(s.Kind, s.URL)) == OutcomeInvite {
		s.Flags |= FlagEligible
		e.budget.note(site, at, &set.Band, 1, 0)
	}
	offset, held := 0.0, SuppressedRateBand
	switch {
	case set.Band.controller:
		offset = e.budget.offset(site, at, &set.Band)
	case set.Accept.controller:
		offset, held = e.budget.acceptOffset(site, &set.Accept), SuppressedAcceptanceBand
	}
	// The winner is the model furthest above its threshold, among those
	// whose route makes the page eligible.
	best, bestRoute, margin := -1, -1, 0.0
	ineligible := false
	for m := range numModels {
		base := set.Threshold[m]
		eff := effThreshold(base, offset)
		if e.scores[m] < min(base, eff) {
			continue
		}
		r := set.routeFor(m, s.Kind, s.URL)
		if !set.eligibleFor(r, s.Kind) {
			ineligible = true
			continue
		}
		if diff := e.scores[m] - eff; best < 0 || diff > margin {
			best, bestRoute, margin = m, r, diff
		}
	}
	if best < 0 {
		e.outcome = OutcomeNone
		if ineligible {
			e.outcome = policy(s, at, set, false)
		}
		return false
	}
	e.team = set.teamOf(bestRoute, best)
	if e.outcome = policy(s, at, set, true); e.outcome != OutcomeInvite {
		return false
	}
	if e.visitors != nil && set.CapInvites > 0 && len(s.Visitor) > 0 &&
		!e.visitors.Allow(s.Visitor, at, set.CapInvites, set.CapPerMs) {
		e.outcome = SuppressedFrequencyCap
		return false
	}
	eff := effThreshold(set.Threshold[best], offset)
	e.threshold = eff
	g := e.budget.check(e.caps, s.Site, site, e.team, at, set)
	if g.limited {
		if g.noSlots || g.tokens < drawUnit(session, s.Seq+1) {
			e.outcome = SuppressedNoCapacity
			return false
		}
		e.threshold = eff + set.ScarceRaise*(1-eff)*(1-g.fill())
	}
	switch score := e.scores[best]; {
	case score < eff:
		e.outcome = held
		return false
	case score < e.threshold:
		e.outcome = SuppressedScarce
		return false
	}
	holdout := inHoldout(session, set.HoldoutBasisPoints)
	if g.limited && !holdout {
		g.spend()
	}
	if s.Invites == 0 {
		e.budget.note(site, at, &set.Band, 0, 1)
	}
	if e.visitors != nil && len(s.Visitor) > 0 {
		e.visitors.Record(s.Visitor, at)
	}
	s.Invites++
	s.InviteAt = at
	s.InviteReason = uint8(best + 1)
	s.InviteRoute = uint8(bestRoute + 1)
	s.Flags &^= FlagWithdrawn | FlagShown | FlagAccepted
	s.FeedbackSeen = 0
	e.fill(s, session, at, set, d, schemas.ActionInvite, best, e.team, holdout)
	s.InviteSeq = s.Seq
	return true
}

// FeedbackCount is what Engine.Feedback made of a feedback record.
type FeedbackCount struct {
	// Shown and Accepted say that the record is the first to show that
	// the session's latest invite was shown, or accepted: each counts once
	// per invite. A holdout invite counts neither (it should not have
	// been shown: the outcome report counts it apart).
	Shown, Accepted bool
	// Team is the team of the invite (valid until the next Apply, Fire or
	// Feedback), when Shown or Accepted.
	Team []byte
	// Changed says that s changed: the caller writes it back.
	Changed bool
	// Ignored says the record was not applied: Unknown, it names no
	// invite s was sent (another session's, an earlier one, or none);
	// Repeat, a record of its type was applied to the invite already.
	Ignored         bool
	Unknown, Repeat bool
}

// Feedback applies a chat-feedback record (f) about session s: if it names
// s's latest invite, a record implies the steps before it, as in the
// outcome report: invite_shown, invite_accepted, invite_declined and
// chat_started mean the invite was shown (a shown invite is no longer
// withdrawn), invite_accepted and chat_started that it was accepted. The
// first record to show each step counts it, for the invite's team (the
// session's record of its invite, not what the record claims), and, with
// the site's acceptance controller on, in the site's acceptance band by
// the record's ts. A record about an earlier invite of the session, or of
// another type, changes and counts nothing. A record about any other invite
// id, or a repeat of a type already applied to the invite, is ignored
// (Ignored, with Unknown or Repeat): a visitor or a faulty front-end cannot
// make one answer count twice. chat_started is also the visitor opening
// chat: the caller applies that as an event, unless it was ignored.
func (e *Engine) Feedback(s *State, f *schemas.Feedback) FeedbackCount {
	if s.Invites == 0 {
		return FeedbackCount{Ignored: true, Unknown: true}
	}
	e.id = schemas.AppendDecisionID(e.id[:0], s.Session, s.InviteSeq)
	if !bytes.Equal(f.InviteID, e.id) {
		return FeedbackCount{Ignored: true, Unknown: true}
	}
	if bit := uint16(1) << (f.Type & 15); s.FeedbackSeen&bit != 0 {
		return FeedbackCount{Ignored: true, Repeat: true}
	} else {
		s.FeedbackSeen |= bit
	}
	var shown, accepted bool
	switch f.Type {
	case schemas.FeedbackShown, schemas.FeedbackDeclined:
		shown = true
	case schemas.FeedbackAccepted, schemas.FeedbackChatStarted:
		shown, accepted = true, true
	default:
		return FeedbackCount{Changed: true}
	}
	var c FeedbackCount
	if shown && s.Flags&FlagShown == 0 {
		s.Flags |= FlagShown
		c.Shown = true
	}
	if accepted && s.Flags&FlagAccepted == 0 {
		s.Flags |= FlagAccepted
		c.Accepted = true
	}
	c.Changed = true // its type is seen now, if nothing else
	set := e.cfg.For(s.Site)
	if !c.Shown && !c.Accepted || inHoldout(s.Session, set.HoldoutBasisPoints) {
		return FeedbackCount{Changed: true}
	}
	c.Team = set.teamOf(int(s.InviteRoute)-1, max(int(s.InviteReason)-1, 0))
	if set.Accept.controller {
		e.budget.acceptFeedback(e.cfg.budgetSite(s.Site), f.TS, c.Shown, c.Accepted, e.cfg)
	}
	return c
}

// drawUnit returns a number in (0, 1] that is a hash of the session id and
// a decision number: the budget's admission draw, the same in every replay.
func drawUnit(session []byte, n uint32) float64 {
	h := uint64(14695981039346656037)
	for _, c := range session {
		h ^= uint64(c)
		h *= 1099511628211
	}
	for range 4 {
		h ^= uint64(n & 0xff)
		h *= 1099511628211
		n >>= 8
	}
	// FNV's low bits mix poorly: finish with a splitmix64 round.
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return float64(h>>11+1) / (1 << 53)
}

// Policy returns OutcomeInvite if the session's own rules let s be invited
// at event time at, whatever its scores, or the rule that holds the invite
// back: bot, inhuman_rate, converted, page (no eligible page kind, and no
// route that makes the page eligible for some reason), breathing_space,
// session_cap, cooldown. Decisions apply it to a score over its threshold,
// then the rules that need more than the session (frequency cap, capacity,
// rate band); backtests ask it of every moment, to know what another
// threshold would have done.
func Policy(s *State, at int64, set *Settings) Outcome {
	return policy(s, at, set, set.eligibleAny(s.Kind, s.URL))
}

func policy(s *State, at int64, set *Settings, eligible bool) Outcome {
	switch {
	case s.Flags&FlagBot != 0:
		return SuppressedBot
	case s.Flags&FlagInhuman != 0:
		return SuppressedInhuman
	case s.Flags&(FlagPurchased|FlagChatOpen) != 0:
		return SuppressedConverted
	case !eligible:
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

// fill writes a decision of model m for team, taking the next decision
// sequence.
func (e *Engine) fill(s *State, session []byte, at int64, set *Settings, d *schemas.Decision, action schemas.Action, m int, team []byte, holdout bool) {
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
	d.Trigger = schemas.TriggerEvent
	if e.timer {
		d.Trigger = schemas.TriggerTimer
	}
	d.DecidedAt = 0
	// Expiry counts from the decision's event time, so replay and run agree
	// and a decision that reaches a lagging front-end late is not shown.
	d.ExpiresAt = at + set.InviteTTLMs
	d.Model = append(d.Model[:0], set.Model...)
	d.Holdout = holdout
	d.Team = append(d.Team[:0], team...)
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
		case e.timer && sig.Silence:
			// A timer decided: tell the agent that silence, not an event,
			// did it. (Programs read the decision's trigger instead.)
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
