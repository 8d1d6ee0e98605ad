package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/lingerhq/linger/schemas"
	"github.com/twmb/franz-go/pkg/kgo"
)

// visitorFeedback lists, by wire name, the feedback types a visitor's
// widget may report: what it showed and what the visitor did with it.
// Every other type the contract knows (the end of a chat, its rating, any
// added later) is known only to the chat platform and comes through POST
// /v1/platform/feedback: a new type is platform-only until it is listed
// here.
var visitorFeedback = map[string]bool{
	"invite_shown":    true,
	"invite_accepted": true,
	"invite_declined": true,
	"invite_expired":  true,
	"chat_started":    true,
}

// feedbackWait bounds how long a visitor's feedback on an invite this
// replica has not read yet waits for it: the widget heard of the invite
// from a replica that may be a little ahead of this one.
const feedbackWait = 2 * time.Second

// refuse answers code with {"error": msg, "reason": reason} and counts the
// refused feedback by reason.
func (g *Gateway) refuseFeedback(w http.ResponseWriter, code int, reason, msg string) {
	g.m.fbRejected.WithLabelValues(reason).Inc()
	writeJSON(w, code, struct {
		Error  string `json:"error"`
		Reason string `json:"reason"`
	}{msg, reason})
}

// decodeFeedback checks one v1 feedback record of session with the
// contract's decoder; it has answered 400 when ok is false.
func decodeFeedback(w http.ResponseWriter, session, body []byte, fb *schemas.Feedback) bool {
	var dec schemas.FeedbackDecoder
	if err := dec.Decode(session, body, 0, fb); err != nil {
		if errors.Is(err, schemas.ErrUnknownType) {
			writeError(w, http.StatusBadRequest, "unknown feedback type")
			return false
		}
		writeError(w, http.StatusBadRequest, "not a v1 feedback record: "+err.Error())
		return false
	}
	// Decision ids are "<session>/<n>": a record reports on an invite of
	// its own session.
	if !bytes.HasPrefix(fb.InviteID, append(session, '/')) {
		writeError(w, http.StatusBadRequest, "invite_id names an invite of another session")
		return false
	}
	return true
}

// handleFeedback takes one v1 feedback record (schemas.Feedback: what the
// widget did with an invite) for the token's session, of a visitor-side
// type, on an invite this session was given and that is live, once per
// type, and produces it to chat-feedback keyed by session.
func (g *Gateway) handleFeedback(w http.ResponseWriter, r *http.Request) {
	c, body, ok := g.post(w, r, false)
	if !ok {
		return
	}
	var fb schemas.Feedback
	if !decodeFeedback(w, []byte(c.session), body, &fb) {
		return
	}
	if !g.visitorTypes[fb.Type.String()] {
		g.refuseFeedback(w, http.StatusForbidden, fbTypeNotAllowed, fb.Type.String()+" is reported by the chat platform, not by a visitor")
		return
	}
	if !bindSite(&fb.Site, c) {
		g.refuseFeedback(w, http.StatusBadRequest, fbSiteMismatch, "site differs from the session's")
		return
	}
	undo, ok := g.takeInvite(w, r, c.session, string(fb.InviteID), fb.Type)
	if !ok {
		return
	}
	if !g.produceFeedback(w, r, c.session, &fb) {
		undo()
	}
}

// takeInvite marks a feedback type taken for an invite of session,
// waiting up to feedbackWait for an invite this replica has not read yet;
// it has answered when ok is false: 404 for an invite the session was
// never given, 410 past its window, 409 for a type taken already.
func (g *Gateway) takeInvite(w http.ResponseWriter, r *http.Request, session, id string, typ schemas.FeedbackType) (undo func(), ok bool) {
	var timeout <-chan time.Time
	for {
		outcome, added, undo := g.invites.take(session, id, typ, g.now().UnixMilli())
		switch outcome {
		case takeOK:
			return undo, true
		case takeExpired:
			g.refuseFeedback(w, http.StatusGone, fbExpiredInvite, "the invite expired: feedback on it is no longer taken")
			return nil, false
		case takeRepeat:
			g.refuseFeedback(w, http.StatusConflict, fbRepeat, typ.String()+" was reported for this invite already")
			return nil, false
		}
		if timeout == nil {
			t := time.NewTimer(g.fbWait)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-added:
			continue
		case <-timeout:
		case <-r.Context().Done():
		case <-g.closing:
		}
		g.refuseFeedback(w, http.StatusNotFound, fbUnknownInvite, "no such invite for this session")
		return nil, false
	}
}

// produceFeedback stamps and produces a checked feedback record, and
// answers 202, or 503 (false) when Kafka did not take it.
func (g *Gateway) produceFeedback(w http.ResponseWriter, r *http.Request, session string, fb *schemas.Feedback) bool {
	recv := g.now()
	var headers []kgo.RecordHeader
	fb.TS, headers = g.stamp(fb.TS, recv)
	// Encoded anew: unknown fields stay out of Kafka.
	rec := &kgo.Record{Topic: g.cfg.FeedbackTopic, Key: []byte(session), Value: schemas.AppendFeedback(nil, fb), Timestamp: recv, Headers: headers}
	if !g.produce(w, r, session, []*kgo.Record{rec}) {
		return false
	}
	g.m.feedback.WithLabelValues(fb.Type.String()).Inc()
	writeJSON(w, http.StatusAccepted, struct {
		Accepted int `json:"accepted"`
	}{1})
	return true
}

// handlePlatformFeedback takes one v1 feedback record of any type the
// contract knows from the chat platform (Authorization: Bearer
// PlatformToken), for any session: the platform knows what a visitor's
// token cannot vouch for (a chat's end, its rating), and its records may
// come long after the invite expired. It is for servers only: a request
// from a browser page (with an Origin) is refused, so the token never has
// a reason to be in one.
func (g *Gateway) handlePlatformFeedback(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Origin") != "" {
		writeError(w, http.StatusForbidden, "the platform route is for servers, not browsers")
		return
	}
	if !secretEqual(bearer(r.Header.Get("Authorization")), g.cfg.PlatformToken) {
		// Failures are limited per address, successes are not: the
		// platform posts for every visitor.
		if !g.limit(w, r, "") {
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		writeError(w, http.StatusUnauthorized, "invalid platform token")
		return
	}
	body, ok := g.readBody(w, r)
	if !ok {
		return
	}
	// The record's session is its key: read it first, then decode for
	// real (the decoder checks that they agree).
	var probe struct {
		Session string `json:"session"`
	}
	if err := json.Unmarshal(body, &probe); err != nil || probe.Session == "" {
		writeError(w, http.StatusBadRequest, "want one v1 feedback record with its session")
		return
	}
	var fb schemas.Feedback
	if !decodeFeedback(w, []byte(probe.Session), body, &fb) {
		return
	}
	if g.sites != nil && len(fb.Site) > 0 && !g.sites[string(fb.Site)] {
		g.refuseFeedback(w, http.StatusBadRequest, fbSiteNotServed, "this gateway does not serve that site")
		return
	}
	g.produceFeedback(w, r, probe.Session, &fb)
}
