// Package gateway is linger's HTTP edge for browsers, which cannot speak
// Kafka. It hands out sessions with HMAC tokens, collects the tracker's
// events into visitor-events (validated with the processor's own codec),
// streams each session's decisions from chat-invites to its chat widget as
// Server-Sent Events, takes the widget's feedback into chat-feedback, and
// serves the tracker script (linger.js) and the demo shop, both embedded.
//
// Endpoints (Handler):
//
//	POST /v1/sessions   → 201 {"session","token","expires_at"}
//	POST /v1/events     Bearer token; a JSON array of v1 events → 202 {"accepted","rejected",...}
//	GET  /v1/invites    Bearer token or ?token=; text/event-stream of the session's decisions
//	POST /v1/feedback   Bearer token; one v1 feedback record (schemas.Feedback) of the session's invite → 202
//	GET  /linger.js     the tracker
//	GET  /              the demo shop, when Config.Shop is set
//
// Errors are JSON, {"error": "..."}, with 400 (a body that is not what the
// endpoint takes), 401 (no token, a forged or expired one), 403 (an Origin
// not allowed), 413 (a body or batch over its cap), 429 (a rate limit, with
// Retry-After) or 503 (Kafka did not take the records in time).
//
// Every gateway replica reads all of chat-invites (no consumer group), so
// any replica serves any session, and keeps the last few decisions of each
// session for a short look-back: a widget that reconnects, or a new page of
// the same visit, gets what it missed.
//
// Metrics, on Config.Registerer:
//
//	linger_gateway_requests_total{endpoint,code}   requests answered
//	linger_gateway_events_total{result}            events accepted or rejected
//	linger_gateway_rejected_events_total{reason}   events rejected, by problem (the DLQ's reasons, and unknown_type)
//	linger_gateway_ts_clamped_total                events whose ts was outside the window and replaced by the receive time
//	linger_gateway_bot_events_total                events flagged bot by the user agent
//	linger_gateway_rate_limited_total{scope}       requests refused with 429: ip, session or streams
//	linger_gateway_streams                         open invite streams
//	linger_gateway_decisions_total{result}         decisions read: buffered, holdout (never sent), duplicate, invalid
//	linger_gateway_sent_total{event}               decisions sent to widgets: invite or withdraw
//	linger_gateway_feedback_total{type}            feedback records produced
//	linger_gateway_produce_errors_total{topic}     records Kafka did not take
package gateway
