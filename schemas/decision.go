package schemas

import (
	"fmt"
	"math"
	"slices"
	"unicode/utf8"

	"github.com/valyala/fastjson"
)

// Action is what a decision asks a chat front-end to do.
type Action uint8

// Decision actions.
const (
	ActionNone Action = iota
	// ActionInvite: offer chat to the visitor.
	ActionInvite
	// ActionWithdraw: take back the invite named by InviteID (the visitor
	// bought or opened chat before it was shown).
	ActionWithdraw
)

var actionNames = []string{"", "invite", "withdraw"}

// String returns the wire name.
func (a Action) String() string { return enumName(actionNames, uint8(a)) }

// Trigger is what made the engine decide: an event of the session, or a
// timer (a silence check on a visitor who sent nothing).
type Trigger uint8

// Decision triggers.
const (
	// TriggerNone: not said (decisions of releases before the field).
	TriggerNone Trigger = iota
	// TriggerEvent: an event of the session.
	TriggerEvent
	// TriggerTimer: a timer the engine fired once the partition's
	// watermark passed the session's deadline.
	TriggerTimer
)

var triggerNames = []string{"", "event", "timer"}

// String returns the wire name ("" for TriggerNone).
func (t Trigger) String() string { return enumName(triggerNames, uint8(t)) }

// Reason is why a visitor is invited: which model won.
type Reason uint8

// Decision reasons.
const (
	ReasonNone Reason = iota
	// ReasonAbandonment: about to leave with intent unfulfilled.
	ReasonAbandonment
	// ReasonConfusion: stuck on a form or a page.
	ReasonConfusion
	numReasons
)

var reasonNames = []string{"", "abandonment", "confusion"}

// String returns the wire name.
func (r Reason) String() string { return enumName(reasonNames, uint8(r)) }

// Reasons lists the wire names of every decision reason.
func Reasons() []string { return slices.Clone(reasonNames[1:]) }

// Signal is one contribution to a score: why this visitor, in words an agent
// can act on. Value is the signal's value in its own units, Weight the
// model's weight for it; their product is the contribution to the logit.
type Signal struct {
	Name   string
	Value  float64
	Weight float64
	// Detail names what the signal is about, e.g. the form field, if any.
	Detail []byte
}

// Scores holds both model outputs, each in 0..1.
type Scores struct {
	Abandonment float64
	Confusion   float64
}

// Decision is one v1 decision on chat-invites.
type Decision struct {
	// ID is deterministic (session id + decision sequence): consumers dedupe
	// on it.
	ID       []byte
	Session  []byte
	Visitor  []byte
	Site     []byte
	Action   Action
	InviteID []byte
	Reason   Reason
	// Score is the winning score.
	Score   float64
	Scores  Scores
	Signals []Signal
	// Page is where the visitor is now.
	Page Page
	// Trigger says whether an event or a timer made the decision.
	Trigger Trigger
	// EventTS is the event time of the event (or timer) that triggered the
	// decision, Unix ms.
	EventTS int64
	// DecidedAt is the wall clock of the decision, Unix ms.
	DecidedAt int64
	// ExpiresAt is when a front-end stops showing the invite, Unix ms.
	ExpiresAt int64
	// Model names the scoring config that decided (version and hash).
	Model   []byte
	Holdout bool
	Team    []byte
}

// MaxDecisionBytes bounds a decision as AppendDecision writes it, for
// whoever sizes a producer, a topic or a consumer's buffer: it holds for a
// decision whose strings are what the decoders accept (valid UTF-8 without
// control characters) within their caps (id and invite_id MaxInviteIDBytes;
// session, visitor, site, team and model MaxIDBytes; page.url MaxURLBytes),
// with at most eight signals whose names and details are at most
// MaxNameBytes and whose values and weights are below 1e15 in magnitude.
// Such a string at most doubles when written (a quote or a backslash is
// escaped), so the worst case is about 11 KiB (TestMaxDecisionBytes builds
// it). linger's own decisions are smaller still, about 5 KiB at most: three
// signals and a page URL cut to 256 bytes.
const MaxDecisionBytes = 16 << 10

// AppendDecisionID appends the deterministic id of a session's seq-th
// decision: "<session>/<seq>".
func AppendDecisionID(dst, session []byte, seq uint32) []byte {
	dst = append(dst, session...)
	dst = append(dst, '/')
	return appendUint(dst, uint64(seq))
}

func appendUint(dst []byte, n uint64) []byte {
	var buf [20]byte
	i := len(buf)
	for {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return append(dst, buf[i:]...)
}

// AppendDecision appends d as a v1 decision JSON object.
func AppendDecision(dst []byte, d *Decision) []byte {
	w := objWriter{b: dst}
	w.open()
	w.int("v", Version)
	w.str("id", d.ID)
	w.str("session", d.Session)
	if len(d.Visitor) > 0 {
		w.str("visitor", d.Visitor)
	}
	if len(d.Site) > 0 {
		w.str("site", d.Site)
	}
	w.strs("action", d.Action.String())
	if d.Action == ActionWithdraw {
		w.str("invite_id", d.InviteID)
	}
	w.strs("reason", d.Reason.String())
	w.float("score", d.Score, 4)
	w.key("scores")
	w.open()
	w.float("abandonment", d.Scores.Abandonment, 4)
	w.float("confusion", d.Scores.Confusion, 4)
	w.close()
	w.key("signals")
	w.b = append(w.b, '[')
	for i := range d.Signals {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		s := &d.Signals[i]
		w.open()
		w.strs("name", s.Name)
		w.float("value", s.Value, 3)
		w.float("weight", s.Weight, 3)
		if len(s.Detail) > 0 {
			w.str("detail", s.Detail)
		}
		w.close()
	}
	w.b = append(w.b, ']')
	if d.Page.Kind != KindNone {
		w.key("page")
		w.b = appendPage(w.b, d.Page)
	}
	if d.Trigger != TriggerNone {
		w.strs("trigger", d.Trigger.String())
	}
	w.int("event_ts", d.EventTS)
	w.int("decided_at", d.DecidedAt)
	w.int("expires_at", d.ExpiresAt)
	w.str("model", d.Model)
	w.bool("holdout", d.Holdout)
	if len(d.Team) > 0 {
		w.str("team", d.Team)
	}
	w.close()
	return w.b
}

// ParseDecision decodes a v1 decision. It is for consumers of chat-invites
// (tests, the demo, chat front-ends written in Go), not for a hot path: the
// result owns its memory.
//
// It accepts what decision.v1.schema.json accepts, no more: a field of the
// wrong type is an error, not a zero value (a holdout of "true" read as
// false would show an invite to the control group).
func ParseDecision(b []byte) (*Decision, error) {
	if !utf8.Valid(b) {
		return nil, fmt.Errorf("parse decision: not valid UTF-8")
	}
	if err := validJSON(b); err != nil {
		return nil, fmt.Errorf("parse decision: %w", err)
	}
	var p fastjson.Parser
	v, err := p.ParseBytes(b)
	if err != nil {
		return nil, fmt.Errorf("parse decision: %w", err)
	}
	obj, err := v.Object()
	if err != nil {
		return nil, fmt.Errorf("parse decision: a JSON %s, not an object", v.Type())
	}
	d, err := parseDecision(obj)
	if err != nil {
		return nil, fmt.Errorf("parse decision: %w", err)
	}
	return d, nil
}

func parseDecision(obj *fastjson.Object) (*Decision, error) {
	d := &Decision{}
	var nr numReader
	ver := lookup(obj, "v")
	if ver == nil {
		return nil, missing("v")
	}
	if n, err := nr.intOf(ver, "v"); err != nil {
		return nil, err
	} else if n != Version {
		return nil, &DecodeError{Problem: ProblemUnsupportedVersion, Field: "v", Detail: fmt.Sprintf("version %d, want %d", n, Version)}
	}

	var action, reason, trigger []byte
	for _, f := range []struct {
		key      string
		dst      *[]byte
		max      int
		required bool
	}{
		{"id", &d.ID, -1, true}, {"session", &d.Session, MaxIDBytes, true},
		{"visitor", &d.Visitor, MaxIDBytes, false}, {"site", &d.Site, MaxIDBytes, false},
		{"action", &action, -1, true}, {"invite_id", &d.InviteID, -1, false},
		{"reason", &reason, -1, true}, {"model", &d.Model, -1, true}, {"team", &d.Team, -1, false},
		{"trigger", &trigger, -1, false},
	} {
		s, err := ownedString(obj, f.key, f.max, f.required)
		if err != nil {
			return nil, err
		}
		*f.dst = s
	}
	if d.Action = Action(actionEnum.index(action)); d.Action == ActionNone {
		return nil, invalid("action", fmt.Sprintf("%q is not one of %v", action, actionNames[1:]))
	}
	if d.Reason = Reason(reasonEnum.index(reason)); d.Reason == ReasonNone {
		return nil, invalid("reason", fmt.Sprintf("%q is not one of %v", reason, reasonNames[1:]))
	}
	if trigger != nil {
		// Optional: decisions written before the field have none.
		if d.Trigger = Trigger(triggerEnum.index(trigger)); d.Trigger == TriggerNone {
			return nil, invalid("trigger", fmt.Sprintf("%q is not one of %v", trigger, triggerNames[1:]))
		}
	}
	if d.Action == ActionWithdraw && len(d.InviteID) == 0 {
		return nil, missing("invite_id")
	}

	var err error
	if d.Score, err = unitField(&nr, obj, "score", "score"); err != nil {
		return nil, err
	}
	sc := lookup(obj, "scores")
	if sc == nil {
		return nil, missing("scores")
	}
	scores, err := sc.Object()
	if err != nil {
		return nil, wrongTypeV("scores", "an object", sc)
	}
	if d.Scores.Abandonment, err = unitField(&nr, scores, "abandonment", "scores.abandonment"); err != nil {
		return nil, err
	}
	if d.Scores.Confusion, err = unitField(&nr, scores, "confusion", "scores.confusion"); err != nil {
		return nil, err
	}

	for _, f := range []struct {
		key string
		dst *int64
	}{{"event_ts", &d.EventTS}, {"decided_at", &d.DecidedAt}, {"expires_at", &d.ExpiresAt}} {
		v := lookup(obj, f.key)
		if v == nil {
			return nil, missing(f.key)
		}
		if *f.dst, err = nr.intOf(v, f.key); err != nil {
			return nil, err
		}
		if *f.dst < 0 {
			return nil, invalid(f.key, "must be a Unix time in milliseconds, not negative")
		}
	}

	h := lookup(obj, "holdout")
	if h == nil {
		return nil, missing("holdout")
	}
	if d.Holdout, err = h.Bool(); err != nil {
		return nil, wrongTypeV("holdout", "a boolean", h)
	}

	if pg := lookup(obj, "page"); pg != nil {
		if err := pageOf(pg, &d.Page); err != nil {
			return nil, err
		}
		// pageOf's URL points into the parser, which does not outlive us.
		d.Page.URL = append([]byte(nil), d.Page.URL...)
	}

	sv := lookup(obj, "signals")
	if sv == nil {
		return nil, missing("signals")
	}
	signals, err := sv.Array()
	if err != nil {
		return nil, wrongTypeV("signals", "an array", sv)
	}
	for i, s := range signals {
		sig, err := parseSignal(&nr, s, fmt.Sprintf("signals[%d]", i))
		if err != nil {
			return nil, err
		}
		d.Signals = append(d.Signals, sig)
	}
	return d, nil
}

func parseSignal(nr *numReader, v *fastjson.Value, at string) (Signal, error) {
	var sig Signal
	obj, err := v.Object()
	if err != nil {
		return sig, wrongTypeV(at, "an object", v)
	}
	name, err := ownedString(obj, "name", -1, true)
	if err != nil {
		return sig, prefixField(err, at)
	}
	sig.Name = string(name)
	for _, f := range []struct {
		key string
		dst *float64
	}{{"value", &sig.Value}, {"weight", &sig.Weight}} {
		n := lookup(obj, f.key)
		if n == nil {
			return sig, missing(at + "." + f.key)
		}
		if *f.dst, err = nr.floatIn(n, at+"."+f.key, -math.MaxFloat64, math.MaxFloat64); err != nil {
			return sig, err
		}
	}
	if sig.Detail, err = ownedString(obj, "detail", -1, false); err != nil {
		return sig, prefixField(err, at)
	}
	return sig, nil
}

// ownedString returns a copy of the string at key, nil if it is absent or
// empty. A required string must be present and not empty.
func ownedString(obj *fastjson.Object, key string, max int, required bool) ([]byte, error) {
	v := lookup(obj, key)
	if v == nil {
		if required {
			return nil, missing(key)
		}
		return nil, nil
	}
	s, err := stringOf(v, key, max)
	if err != nil {
		return nil, err
	}
	if required && len(s) == 0 {
		return nil, invalid(key, "empty")
	}
	return append([]byte(nil), s...), nil
}

// unitField returns the number at key, which must be in 0..1.
func unitField(nr *numReader, obj *fastjson.Object, key, field string) (float64, error) {
	v := lookup(obj, key)
	if v == nil {
		return 0, missing(field)
	}
	return nr.floatIn(v, field, 0, 1)
}

// prefixField puts at (signals[2]) in front of a DecodeError's field.
func prefixField(err error, at string) error {
	if de, ok := err.(*DecodeError); ok {
		de.Field = at + "." + de.Field
	}
	return err
}
