package gateway

import (
	"bytes"
	"errors"
	"net/http"

	"github.com/lingerhq/linger/schemas"
	"github.com/twmb/franz-go/pkg/kgo"
)

// handleFeedback takes one v1 feedback record (schemas.Feedback: what the
// widget did with an invite) for the token's session, checks it with the
// contract's decoder, and produces it to chat-feedback keyed by session.
func (g *Gateway) handleFeedback(w http.ResponseWriter, r *http.Request) {
	session, body, ok := g.post(w, r, false)
	if !ok {
		return
	}
	key := []byte(session)
	var (
		dec schemas.FeedbackDecoder
		fb  schemas.Feedback
	)
	if err := dec.Decode(key, body, 0, &fb); err != nil {
		if errors.Is(err, schemas.ErrUnknownType) {
			writeError(w, http.StatusBadRequest, "unknown feedback type: want one of invite_shown, invite_accepted, invite_declined, invite_expired, chat_started")
			return
		}
		writeError(w, http.StatusBadRequest, "not a v1 feedback record: "+err.Error())
		return
	}
	// Decision ids are "<session>/<n>": a session reports on its own
	// invites only.
	if !bytes.HasPrefix(fb.InviteID, append(key, '/')) {
		writeError(w, http.StatusBadRequest, "invite_id names an invite of another session")
		return
	}
	recv := g.now()
	var headers []kgo.RecordHeader
	fb.TS, headers = g.stamp(fb.TS, recv)
	rec := &kgo.Record{Topic: g.cfg.FeedbackTopic, Key: key, Value: schemas.AppendFeedback(nil, &fb), Timestamp: recv, Headers: headers}
	if !g.produce(w, r, session, []*kgo.Record{rec}) {
		return
	}
	g.m.feedback.WithLabelValues(fb.Type.String()).Inc()
	writeJSON(w, http.StatusAccepted, struct {
		Accepted int `json:"accepted"`
	}{1})
}
