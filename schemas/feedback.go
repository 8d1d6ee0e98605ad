package schemas

import (
	"fmt"
	"slices"
)

// FeedbackType is a feedback record's "type": what became of an invite.
// FeedbackUnknown stands for any type this release does not know: such
// records are counted and skipped, for forward compatibility.
type FeedbackType uint8

// Feedback types of contract v1.
const (
	FeedbackUnknown FeedbackType = iota
	// FeedbackShown: the front-end showed the invite to the visitor.
	FeedbackShown
	// FeedbackAccepted: the visitor accepted it.
	FeedbackAccepted
	// FeedbackDeclined: the visitor dismissed it.
	FeedbackDeclined
	// FeedbackExpired: it was not shown, or not answered, before it
	// expired (expires_at), or the front-end withdrew it.
	FeedbackExpired
	// FeedbackChatStarted: an agent and the visitor started chatting on it.
	FeedbackChatStarted
	// FeedbackChatEnded: the chat started on it ended; HandleS says how long
	// an agent spent on it.
	FeedbackChatEnded
	// FeedbackChatRated: the visitor rated the chat started on it; Score
	// holds the rating.
	FeedbackChatRated
	numFeedbackTypes
)

// Types are only ever added at the end: their numbers are array indexes
// and bit positions in the packages that count them.
var feedbackNames = []string{"unknown", "invite_shown", "invite_accepted", "invite_declined", "invite_expired", "chat_started", "chat_ended", "chat_rated"}

// String returns the wire name of t ("unknown" for FeedbackUnknown).
func (t FeedbackType) String() string {
	if t < numFeedbackTypes {
		return feedbackNames[t]
	}
	return "unknown"
}

// FeedbackTypes lists every feedback type's wire name, FeedbackUnknown's
// "unknown" first, so metrics can initialise one series per type. The
// slice is a copy.
func FeedbackTypes() []string { return slices.Clone(feedbackNames) }

// MaxHandleS bounds handle_s of a chat_ended record: a day, as
// MaxAvgHandleS bounds a team's average.
const MaxHandleS = 86400

// MinScore and MaxScore bound score of a chat_rated record: a rating of 1
// (worst) to 5 (best) stars.
const (
	MinScore = 1
	MaxScore = 5
)

// MaxInviteIDBytes bounds invite_id: a decision id is the session id (at
// most MaxIDBytes), '/' and a sequence number.
const MaxInviteIDBytes = 2 * MaxIDBytes

// Feedback is one v1 record of chat-feedback: a chat front-end's report of
// what became of an invite. It is keyed by session id, on a topic with as
// many partitions as visitor-events, so the replica that owns a session
// sees its feedback.
//
// Byte-slice fields point into the FeedbackDecoder that filled the record,
// or into the value it decoded, and are valid until its next Decode.
type Feedback struct {
	Type FeedbackType
	// InviteID is the id of the invite decision the feedback is about.
	InviteID []byte
	// Session is the session id, equal to the record key.
	Session []byte
	// Visitor, Site and Team are optional copies of the decision's.
	Visitor []byte
	Site    []byte
	Team    []byte
	// TS is when it happened at the front-end, Unix ms.
	TS int64
	// HandleS is, for chat_ended, the seconds an agent spent on the chat
	// (0 to MaxHandleS); 0 for every other type.
	HandleS float64
	// Score is, for chat_rated, the visitor's rating of the chat (MinScore
	// to MaxScore); 0 for every other type.
	Score int64
}

// AppendFeedback appends f as a v1 feedback JSON object. Optional fields
// that are empty are left out; handle_s is written for chat_ended only and
// score for chat_rated only, as the decoder reads them.
func AppendFeedback(dst []byte, f *Feedback) []byte {
	w := objWriter{b: dst}
	w.open()
	w.int("v", Version)
	w.strs("type", f.Type.String())
	w.str("invite_id", f.InviteID)
	w.str("session", f.Session)
	if len(f.Visitor) > 0 {
		w.str("visitor", f.Visitor)
	}
	if len(f.Site) > 0 {
		w.str("site", f.Site)
	}
	if len(f.Team) > 0 {
		w.str("team", f.Team)
	}
	w.int("ts", f.TS)
	switch f.Type {
	case FeedbackChatEnded:
		// Shortest exact form, so the record decodes back to itself.
		w.float("handle_s", f.HandleS, -1)
	case FeedbackChatRated:
		w.int("score", f.Score)
	}
	w.close()
	return w.b
}

// Field slots of the feedback decoder.
const (
	fbV = iota
	fbType
	fbInviteID
	fbSession
	fbVisitor
	fbSite
	fbTeam
	fbTS
	fbHandleS
	fbScore
)

func feedbackField(key []byte) int {
	switch string(key) {
	case "v":
		return fbV
	case "type":
		return fbType
	case "invite_id":
		return fbInviteID
	case "session":
		return fbSession
	case "visitor":
		return fbVisitor
	case "site":
		return fbSite
	case "team":
		return fbTeam
	case "ts":
		return fbTS
	case "handle_s":
		return fbHandleS
	case "score":
		return fbScore
	}
	return -1
}

// FeedbackDecoder decodes v1 feedback records. It keeps its scratch space
// between calls, so decoding allocates nothing once warm. It is not safe
// for concurrent use: give each partition worker its own.
type FeedbackDecoder struct{ r recordDecoder }

// Decode validates value, a chat-feedback record value, against contract v1
// and fills f. key is the record key, which must equal the session id.
// nowMs is the processor's clock in Unix ms, for the future-ts check; 0
// skips it.
//
// It returns nil for a valid record, ErrUnknownType (with the envelope
// fields of f set) for a valid envelope of a type this release does not
// know, and a *DecodeError (its Problem is the DLQ reason) for anything
// else. Byte slices in f point into value or into the decoder: they are
// valid while value is unchanged and until the next call.
func (d *FeedbackDecoder) Decode(key, value []byte, nowMs int64, f *Feedback) error {
	*f = Feedback{}
	if d.r.index == nil {
		d.r.index = feedbackField
	}
	r := &d.r
	if err := r.scan(value); err != nil {
		return err
	}
	if err := r.version(fbV); err != nil {
		return err
	}
	if r.val(fbSession).kind == jAbsent {
		return &DecodeError{Problem: ProblemMissingSession, Field: "session", Detail: "absent"}
	}
	var err error
	if f.Session, err = strOf(r.val(fbSession), "session", MaxIDBytes); err != nil {
		return err
	}
	if len(f.Session) == 0 {
		return &DecodeError{Problem: ProblemMissingSession, Field: "session", Detail: "empty"}
	}
	if err := checkClasses(f.Session, r.val(fbSession).cls, "session", ruleID); err != nil {
		return err
	}
	if string(key) != string(f.Session) {
		return &DecodeError{Problem: ProblemKeyMismatch, Field: "session", Detail: fmt.Sprintf("record key %s differs from session %s", excerpt(key), excerpt(f.Session))}
	}
	if f.TS, err = r.ts(fbTS, nowMs); err != nil {
		return err
	}
	if r.val(fbType).kind == jAbsent {
		return missing("type")
	}
	typ, err := strOf(r.val(fbType), "type", -1)
	if err != nil {
		return err
	}
	f.Type = FeedbackType(feedbackEnum.index(typ))
	for _, o := range [...]struct {
		slot int
		name string
		dst  *[]byte
		rule fieldRule
	}{{fbVisitor, "visitor", &f.Visitor, ruleID}, {fbSite, "site", &f.Site, ruleName}, {fbTeam, "team", &f.Team, ruleName}} {
		if *o.dst, err = r.str(o.slot, o.name, MaxIDBytes, o.rule); err != nil {
			return err
		}
	}
	if f.Type == FeedbackUnknown {
		return ErrUnknownType
	}
	// An invite id is a decision id, made of the session id: an id's rule.
	if f.InviteID, err = r.required(fbInviteID, "invite_id", MaxInviteIDBytes, ruleID); err != nil {
		return err
	}
	switch f.Type {
	case FeedbackChatEnded:
		h := r.val(fbHandleS)
		switch h.kind {
		case jAbsent:
			return missing("handle_s")
		case jNumber:
		default:
			return wrongType("handle_s", "a number", jkindNames[h.kind])
		}
		if f.HandleS, err = floatInText(h.b, "handle_s", 0, MaxHandleS); err != nil {
			return err
		}
	case FeedbackChatRated:
		if r.val(fbScore).kind == jAbsent {
			return missing("score")
		}
		if f.Score, err = intOf(r.val(fbScore), "score"); err != nil {
			return err
		}
		if f.Score < MinScore || f.Score > MaxScore {
			return invalid("score", "must be between 1 and 5")
		}
	}
	return nil
}
