package schemas

import (
	"fmt"

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
func Reasons() []string { return reasonNames[1:] }

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
func ParseDecision(b []byte) (*Decision, error) {
	var p fastjson.Parser
	v, err := p.ParseBytes(b)
	if err != nil {
		return nil, fmt.Errorf("parse decision: %w", err)
	}
	if v.Type() != fastjson.TypeObject {
		return nil, fmt.Errorf("parse decision: a JSON %s, not an object", v.Type())
	}
	d := &Decision{}
	str := func(key string, required bool) ([]byte, error) {
		f := v.Get(key)
		if f == nil {
			if required {
				return nil, fmt.Errorf("parse decision: %q is missing", key)
			}
			return nil, nil
		}
		s, err := f.StringBytes()
		if err != nil {
			return nil, fmt.Errorf("parse decision: %q: %w", key, err)
		}
		return append([]byte(nil), s...), nil
	}
	num := func(key string) (float64, error) {
		f := v.Get(key)
		if f == nil {
			return 0, fmt.Errorf("parse decision: %q is missing", key)
		}
		n, err := f.Float64()
		if err != nil {
			return 0, fmt.Errorf("parse decision: %q: %w", key, err)
		}
		return n, nil
	}
	if ver := v.GetInt("v"); ver != Version {
		return nil, fmt.Errorf("parse decision: version %d, want %d", ver, Version)
	}
	var action, reason []byte
	for _, f := range []struct {
		key      string
		dst      *[]byte
		required bool
	}{
		{"id", &d.ID, true}, {"session", &d.Session, true}, {"visitor", &d.Visitor, false},
		{"site", &d.Site, false}, {"action", &action, true}, {"invite_id", &d.InviteID, false},
		{"reason", &reason, true}, {"model", &d.Model, true}, {"team", &d.Team, false},
	} {
		if *f.dst, err = str(f.key, f.required); err != nil {
			return nil, err
		}
	}
	if d.Action = Action(enumIndex(actionNames, action)); d.Action == ActionNone {
		return nil, fmt.Errorf("parse decision: unknown action %q", action)
	}
	if d.Reason = Reason(enumIndex(reasonNames, reason)); d.Reason == ReasonNone {
		return nil, fmt.Errorf("parse decision: unknown reason %q", reason)
	}
	if d.Action == ActionWithdraw && len(d.InviteID) == 0 {
		return nil, fmt.Errorf("parse decision: a withdraw needs invite_id")
	}
	if d.Score, err = num("score"); err != nil {
		return nil, err
	}
	var ts [3]float64
	for i, k := range []string{"event_ts", "decided_at", "expires_at"} {
		if ts[i], err = num(k); err != nil {
			return nil, err
		}
	}
	d.EventTS, d.DecidedAt, d.ExpiresAt = int64(ts[0]), int64(ts[1]), int64(ts[2])
	d.Scores.Abandonment = v.GetFloat64("scores", "abandonment")
	d.Scores.Confusion = v.GetFloat64("scores", "confusion")
	d.Holdout = v.GetBool("holdout")
	if pg := v.Get("page"); pg != nil {
		d.Page.URL = append([]byte(nil), pg.GetStringBytes("url")...)
		kind, ok := ParsePageKind(string(pg.GetStringBytes("kind")))
		if !ok {
			return nil, fmt.Errorf("parse decision: unknown page kind %q", pg.GetStringBytes("kind"))
		}
		d.Page.Kind = kind
	}
	for _, s := range v.GetArray("signals") {
		d.Signals = append(d.Signals, Signal{
			Name:   string(s.GetStringBytes("name")),
			Value:  s.GetFloat64("value"),
			Weight: s.GetFloat64("weight"),
			Detail: append([]byte(nil), s.GetStringBytes("detail")...),
		})
	}
	return d, nil
}
