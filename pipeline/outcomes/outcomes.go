package outcomes

import (
	"cmp"
	"errors"
	"slices"
	"time"

	"github.com/lingerhq/linger/schemas"
)

// Report is what published invites achieved, measured from the decisions
// (chat-invites), what the chat platform reported of them (chat-feedback)
// and the events (visitor-events: purchases, and which sessions exist):
// the figures of `linger report`, and the outcomes section of a replay
// whose input holds feedback. Every rate comes with its n and a 95%
// confidence interval.
type Report struct {
	// From and To bound what was read: record timestamps for `linger
	// report`, the input's event times for a replay.
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Records read: valid v1 events, decisions and feedback, and the
	// records skipped as not valid v1 (what run would send to the DLQ).
	Events    int `json:"events"`
	Decisions int `json:"decisions"`
	Feedback  int `json:"feedback"`
	Skipped   int `json:"skipped"`
	// Sessions is the sessions with an event read; Conversion the share
	// of them with a purchase, for context.
	Sessions   int      `json:"sessions"`
	Conversion Estimate `json:"conversion"`
	// UnmatchedFeedback counts feedback records whose invite_id names no
	// invite read: invites decided before From (or, in a replay, invites
	// the replayed config did not make). They are in no figure.
	UnmatchedFeedback int `json:"unmatched_feedback"`
	// SessionsWithoutEvents counts decided sessions with no event read: a
	// large share means the events read are not those the decisions came
	// from (another topic or cluster, a shorter retention).
	SessionsWithoutEvents int `json:"sessions_without_events"`
	// Groups holds the figures per site, reason and team, in that order;
	// Total the figures over all of them, each session counted once.
	Groups []Group `json:"groups"`
	Total  Group   `json:"total"`
	// Suppressed counts would-be invites the policy held back, by cause.
	// No topic holds them: nil unless they were scraped from replicas'
	// /metrics (or counted by a replay).
	Suppressed *Suppressed `json:"suppressed"`
	// The chat team's figures (chat.go): acceptance per site and team
	// against its band; per site, team, weekday and hour, the invites
	// shown and accepted and the agents needed to answer them in time
	// (with what it rests on); post-chat ratings per site, team and
	// reason.
	Acceptance    []AcceptanceRow `json:"acceptance"`
	Staffing      []StaffingRow   `json:"staffing"`
	StaffingBasis StaffingBasis   `json:"staffing_basis"`
	CSAT          []CSATRow       `json:"csat"`
}

// Group is what the invites of one site, reason and team achieved.
// An invite counts once in each figure however many feedback records name
// it, and a record implies the steps before it: accepted, declined or a
// chat started mean it was shown, a chat started that it was accepted. So
// chats_started ≤ accepted ≤ shown, even from a front-end that does not
// report every step.
type Group struct {
	// Site, Reason and Team name the group; empty in the total.
	Site   string `json:"site"`
	Reason string `json:"reason"`
	Team   string `json:"team"`
	// Invites counts invite decisions published, the holdout's included;
	// Holdout those of the control group (decided, not to be shown);
	// Withdrawn the withdraw decisions that took one back.
	Invites   int `json:"invites"`
	Holdout   int `json:"holdout"`
	Withdrawn int `json:"withdrawn"`
	// Invites outside the holdout that the front-end reported shown,
	// accepted, declined, expired, and that an agent chatted on.
	Shown        int `json:"shown"`
	Accepted     int `json:"accepted"`
	Declined     int `json:"declined"`
	Expired      int `json:"expired"`
	ChatsStarted int `json:"chats_started"`
	// HoldoutShown counts holdout invites a front-end reported shown (or
	// answered): it should be 0, or the comparison below is blurred.
	HoldoutShown int `json:"holdout_shown"`
	// AcceptanceRate is accepted over shown.
	AcceptanceRate Estimate `json:"acceptance_rate"`
	// InvitedConversion is the share of sessions with an invite outside
	// the holdout that had a purchase at or after their first invite's
	// event time, whether or not the invite was shown (intent to treat:
	// the holdout sessions were not shown anything either, and comparing
	// only the sessions that saw an invite would compare unlike groups);
	// HoldoutConversion the same over the holdout's sessions.
	InvitedConversion Estimate `json:"invited_conversion"`
	HoldoutConversion Estimate `json:"holdout_conversion"`
	// Uplift is InvitedConversion − HoldoutConversion, with Newcombe's
	// hybrid score interval; its n is both groups' sessions, 0 when
	// either group is empty.
	Uplift Estimate `json:"uplift"`
}

// Suppressed is the would-be invites the policy held back, by cause (the
// reason label of linger_suppressed_total).
type Suppressed struct {
	// Sources says where the counts come from: the /metrics URLs scraped
	// (counts since each replica started, summed; not limited to From..To),
	// or "replay".
	Sources  []string         `json:"sources"`
	ByReason map[string]int64 `json:"by_reason"`
}

// SuppressedByReplay is the source of suppressions a replay counted.
const SuppressedByReplay = "replay"

// Tally gathers events, decisions and feedback, in any order, and
// measures their Report. It keeps one small entry per session, invite and
// invite with feedback, not the records. It is not safe for concurrent use.
type Tally struct {
	sessions  map[string]*sessionSeen
	invites   map[string]*inviteSeen
	withdraws map[string]groupKey // by withdraw decision id
	feedback  map[string]*feedbackSeen
	events    int
	decisions int
	fb        int
	skipped   int
	// from and to are the window (Window), else the oldest and newest
	// time of what was added; seen says that anything was.
	from, to int64
	window   bool
	seen     bool
	// What the chat team's figures need besides (chat.go): how to
	// measure them, the capacity records by site and team, the tallies'
	// no_capacity counts by partition, site, team and hour, and where the
	// tallies come from ("": none read).
	opts        Options
	capacity    map[teamKey][]capPoint
	capRecords  int
	hours       map[hourKey]int64
	talliesFrom string
	// What AddRecord decodes with, kept so that a record costs no
	// decoder of its own.
	evDec    schemas.Decoder
	fbDec    schemas.FeedbackDecoder
	capDec   schemas.CapacityDecoder
	tallyDec schemas.HourTallyDecoder
	ev       schemas.Event
	fbRec    schemas.Feedback
	capRec   schemas.Capacity
	tallyRec schemas.HourTally
}

type groupKey struct{ site, reason, team string }

type sessionSeen struct {
	purchased  bool
	purchaseTS int64 // the latest purchase's event time
}

type inviteSeen struct {
	group   groupKey
	session string
	ts      int64 // the decision's event time
	holdout bool
}

type feedbackSeen struct {
	types   uint8 // bit 1<<FeedbackType per type reported
	records int
	// The earliest time of the records that say the invite was shown or
	// accepted, and of those that imply it (noteFeedback); 0: none.
	shownAt, impliedShownAt       int64
	acceptedAt, impliedAcceptedAt int64
	// The latest chat_ended's time and handling time, and chat_rated's
	// time and score; a time of 0: none.
	endedAt int64
	handleS float64
	ratedAt int64
	score   int8
}

// NewTally returns an empty tally, measuring with the default Options.
func NewTally() *Tally {
	t := &Tally{
		sessions:  map[string]*sessionSeen{},
		invites:   map[string]*inviteSeen{},
		withdraws: map[string]groupKey{},
		feedback:  map[string]*feedbackSeen{},
		capacity:  map[teamKey][]capPoint{},
		hours:     map[hourKey]int64{},
	}
	t.SetOptions(Options{})
	return t
}

// Window sets the From and To of the Report, Unix ms.
// Without it, they are the oldest and newest time of what was added.
func (t *Tally) Window(from, to int64) { t.from, t.to, t.window = from, to, true }

// saw widens the bounds to ms, unless a window is set.
func (t *Tally) saw(ms int64) {
	switch {
	case t.window:
	case !t.seen:
		t.from, t.to, t.seen = ms, ms, true
	default:
		t.from, t.to = min(t.from, ms), max(t.to, ms)
	}
}

// AddEvent counts a valid v1 event (or one of a type this release does not
// know: its session exists all the same).
func (t *Tally) AddEvent(ev *schemas.Event) {
	t.events++
	t.saw(ev.TS)
	s := t.sessions[string(ev.Session)]
	if s == nil {
		s = &sessionSeen{}
		t.sessions[string(ev.Session)] = s
	}
	if ev.Type == schemas.TypePurchase && (!s.purchased || ev.TS > s.purchaseTS) {
		s.purchased, s.purchaseTS = true, ev.TS
	}
}

// AddDecision counts a decision; one seen before (by id: consumers dedupe
// on it) counts once.
func (t *Tally) AddDecision(d *schemas.Decision) {
	t.decisions++
	t.saw(d.EventTS)
	g := groupKey{string(d.Site), d.Reason.String(), string(d.Team)}
	switch d.Action {
	case schemas.ActionInvite:
		if _, dup := t.invites[string(d.ID)]; !dup {
			t.invites[string(d.ID)] = &inviteSeen{group: g, session: string(d.Session), ts: d.EventTS, holdout: d.Holdout}
		}
	case schemas.ActionWithdraw:
		// A withdraw carries its invite's site, reason and team.
		t.withdraws[string(d.ID)] = g
	}
}

// AddFeedback counts a valid v1 feedback record.
func (t *Tally) AddFeedback(f *schemas.Feedback) {
	t.fb++
	t.saw(f.TS)
	s := t.feedback[string(f.InviteID)]
	if s == nil {
		s = &feedbackSeen{}
		t.feedback[string(f.InviteID)] = s
	}
	s.types |= 1 << f.Type
	s.records++
	s.noteFeedback(f)
}

// Skip counts a record that is not valid v1.
func (t *Tally) Skip() { t.skipped++ }

// RecordKind says what a record is, by the topic it comes from, and so how
// AddRecord decodes it. The zero RecordKind is no kind: its records are
// skipped.
type RecordKind uint8

// The kinds of record a Tally reads.
const (
	// EventRecord is a visitor-events record: an event, contract v1.
	EventRecord RecordKind = iota + 1
	// DecisionRecord is a chat-invites record: a decision, contract v1.
	DecisionRecord
	// FeedbackRecord is a chat-feedback record: feedback, contract v1.
	FeedbackRecord
	// CapacityRecord is a chat-capacity record, contract v1.
	CapacityRecord
	// HourTallyRecord is a linger-tallies record, contract v1.
	HourTallyRecord
)

// AddRecord decodes a record of the given kind and counts it as AddEvent,
// AddDecision, AddFeedback, AddCapacity or AddHourTally do; a record that
// is not valid v1 (what run would send to the DLQ), or of no known kind, is
// skipped. An event of a type this release does not know counts: its
// session exists all the same; a capacity record of a type this release
// does not know is neither counted nor skipped. key and value are not
// kept.
func (t *Tally) AddRecord(kind RecordKind, key, value []byte) {
	switch kind {
	case EventRecord:
		if err := t.evDec.Decode(key, value, 0, &t.ev); err == nil || errors.Is(err, schemas.ErrUnknownType) {
			t.AddEvent(&t.ev)
			return
		}
	case DecisionRecord:
		if d, err := schemas.ParseDecision(value); err == nil {
			t.AddDecision(d)
			return
		}
	case FeedbackRecord:
		if t.fbDec.Decode(key, value, 0, &t.fbRec) == nil {
			t.AddFeedback(&t.fbRec)
			return
		}
	case CapacityRecord:
		switch err := t.capDec.Decode(key, value, 0, &t.capRec); {
		case err == nil:
			t.AddCapacity(&t.capRec)
			return
		case errors.Is(err, schemas.ErrUnknownType):
			return
		}
	case HourTallyRecord:
		if t.tallyDec.Decode(key, value, 0, &t.tallyRec) == nil {
			t.AddHourTally(&t.tallyRec)
			return
		}
	}
	t.Skip()
}

// groupAcc accumulates one group's figures; the sessions map the
// session's earliest invite time in the group.
type groupAcc struct {
	Group
	invited, holdout map[string]int64
}

func newGroupAcc(g groupKey) *groupAcc {
	return &groupAcc{
		Group:   Group{Site: g.site, Reason: g.reason, Team: g.team},
		invited: map[string]int64{}, holdout: map[string]int64{},
	}
}

const (
	fbShown    = 1 << schemas.FeedbackShown
	fbAccepted = 1 << schemas.FeedbackAccepted
	fbDeclined = 1 << schemas.FeedbackDeclined
	fbExpired  = 1 << schemas.FeedbackExpired
	fbChat     = 1 << schemas.FeedbackChatStarted
)

func (a *groupAcc) add(inv *inviteSeen, fb uint8) {
	a.Invites++
	sessions := a.invited
	if inv.holdout {
		a.Holdout++
		sessions = a.holdout
		if fb&(fbShown|fbAccepted|fbDeclined|fbChat) != 0 {
			a.HoldoutShown++
		}
	} else {
		a.Shown += bit(fb&(fbShown|fbAccepted|fbDeclined|fbChat) != 0)
		a.Accepted += bit(fb&(fbAccepted|fbChat) != 0)
		a.Declined += bit(fb&fbDeclined != 0)
		a.Expired += bit(fb&fbExpired != 0)
		a.ChatsStarted += bit(fb&fbChat != 0)
	}
	if at, ok := sessions[inv.session]; !ok || inv.ts < at {
		sessions[inv.session] = inv.ts
	}
}

func bit(b bool) int {
	if b {
		return 1
	}
	return 0
}

// finish computes the group's rates from its counts and sessions.
func (a *groupAcc) finish(sessions map[string]*sessionSeen) Group {
	g := a.Group
	g.AcceptanceRate = Proportion(g.Accepted, g.Shown)
	converted := func(of map[string]int64) int {
		k := 0
		for id, at := range of {
			if s := sessions[id]; s != nil && s.purchased && s.purchaseTS >= at {
				k++
			}
		}
		return k
	}
	ki, kh := converted(a.invited), converted(a.holdout)
	g.InvitedConversion = Proportion(ki, len(a.invited))
	g.HoldoutConversion = Proportion(kh, len(a.holdout))
	g.Uplift = Difference(ki, len(a.invited), kh, len(a.holdout))
	return g
}

// Report measures what was added. It can be called again after more is
// added.
func (t *Tally) Report() *Report {
	o := &Report{
		From: time.UnixMilli(t.from).UTC(), To: time.UnixMilli(t.to).UTC(),
		Events: t.events, Decisions: t.decisions, Feedback: t.fb, Skipped: t.skipped,
		Sessions: len(t.sessions), Groups: []Group{},
	}
	purchased := 0
	for _, s := range t.sessions {
		purchased += bit(s.purchased)
	}
	o.Conversion = Proportion(purchased, len(t.sessions))

	groups := map[groupKey]*groupAcc{}
	total := newGroupAcc(groupKey{})
	decided := map[string]bool{}
	ratings := map[groupKey]*ratingAcc{}
	for id, inv := range t.invites {
		a := groups[inv.group]
		if a == nil {
			a = newGroupAcc(inv.group)
			groups[inv.group] = a
		}
		var fb uint8
		if s := t.feedback[id]; s != nil {
			fb = s.types
			if s.ratedAt != 0 && !inv.holdout {
				r := ratings[inv.group]
				if r == nil {
					r = &ratingAcc{}
					ratings[inv.group] = r
				}
				r.n++
				r.sum += int(s.score)
				r.satisfied += bit(s.score >= SatisfiedScore)
			}
		}
		a.add(inv, fb)
		total.add(inv, fb)
		decided[inv.session] = true
	}
	for _, g := range t.withdraws {
		a := groups[g]
		if a == nil {
			a = newGroupAcc(g)
			groups[g] = a
		}
		a.Withdrawn++
		total.Withdrawn++
	}
	for id, s := range t.feedback {
		if t.invites[id] == nil {
			o.UnmatchedFeedback += s.records
		}
	}
	for id := range decided {
		if t.sessions[id] == nil {
			o.SessionsWithoutEvents++
		}
	}
	for _, a := range groups {
		o.Groups = append(o.Groups, a.finish(t.sessions))
	}
	slices.SortFunc(o.Groups, func(a, b Group) int {
		return cmp.Or(cmp.Compare(a.Site, b.Site), cmp.Compare(a.Reason, b.Reason), cmp.Compare(a.Team, b.Team))
	})
	o.Total = total.finish(t.sessions)
	t.chatSections(o, o.Groups, ratings)
	return o
}

// Measure measures what the decisions achieved, from the feedback
// on them and the events of their sessions: a tally of all three.
func Measure(decisions []*schemas.Decision, feedback []*schemas.Feedback, events []*schemas.Event) *Report {
	t := NewTally()
	for _, ev := range events {
		t.AddEvent(ev)
	}
	for _, d := range decisions {
		t.AddDecision(d)
	}
	for _, f := range feedback {
		t.AddFeedback(f)
	}
	return t.Report()
}
