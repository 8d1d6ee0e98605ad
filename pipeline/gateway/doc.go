// Package gateway is linger's HTTP edge for browsers, which cannot speak
// Kafka. It hands out sessions with HMAC tokens, collects the tracker's
// events into visitor-events (validated with the processor's own codec),
// streams each session's decisions from chat-invites to its chat widget as
// Server-Sent Events, takes the widget's (and the chat platform's)
// feedback into chat-feedback, and serves the tracker script (linger.js)
// and the demo shop, both embedded.
//
// Endpoints (Handler; Listen serves it with the connection caps and
// timeouts):
//
//	POST /v1/sessions           {"site": S} → 201 {"session","site","token","expires_at"}; the token is bound to S
//	POST /v1/events             Bearer token; a JSON array of v1 events of the token's session and site → 202 {"accepted","rejected",...}
//	GET  /v1/invites            Bearer token or ?token=; text/event-stream of the session's decisions, until the token expires
//	POST /v1/feedback           Bearer token; one v1 feedback record of a visitor-side type on an invite of the session → 202
//	POST /v1/platform/feedback  Bearer Config.PlatformToken; one v1 feedback record of any type, any session → 202
//	GET  /linger.js             the tracker
//	GET  /                      the demo shop, when Config.Shop is set
//
// Errors are JSON, {"error": "..."} (feedback refusals add "reason"), with
// 400 (a body that is not what the endpoint takes, a site not served or
// not the session's), 401 (no token, a forged or expired one), 403 (an
// Origin not allowed, a feedback type the sender may not report), 404 (an
// invite the session was never given), 408 (a body that did not arrive in
// time), 409 (feedback of that type on that invite taken already), 410 (an
// invite past its feedback window), 413 (a body or batch over its cap),
// 429 (a rate limit or a connection cap, with Retry-After) or 503 (Kafka
// did not take the records in time, or too many connections). An error
// answer closes the connection.
//
// Every gateway replica reads all of chat-invites (no consumer group), so
// any replica serves any session, and keeps the last few decisions of each
// session for a short look-back: a widget that reconnects, or a new page of
// the same visit, gets what it missed.
//
// Metrics, on Config.Registerer:
//
//	linger_gateway_requests_total{endpoint,code}   requests answered
//	linger_gateway_connections                     open client connections
//	linger_gateway_in_flight_requests              requests being served, streams included
//	linger_gateway_connections_refused_total{scope}  connections (behind a proxy: requests) refused over a cap: address or total
//	linger_gateway_client_ip_header_untrusted_total  requests with the client address header straight from a public address
//	linger_gateway_events_total{result}            events accepted or rejected
//	linger_gateway_rejected_events_total{reason}   events rejected, by problem (the DLQ's reasons, unknown_type, site_mismatch)
//	linger_gateway_ts_clamped_total                events whose ts was outside the window and replaced by the receive time
//	linger_gateway_bot_events_total                events flagged bot by the user agent
//	linger_gateway_rate_limited_total{scope}       requests refused with 429: ip, session or streams
//	linger_gateway_streams                         open invite streams
//	linger_gateway_streams_expired_total           streams ended because their token expired
//	linger_gateway_decisions_total{result}         decisions read: buffered, holdout (never sent), duplicate, invalid
//	linger_gateway_sent_total{event}               decisions sent to widgets: invite or withdraw
//	linger_gateway_feedback_total{type}            feedback records produced
//	linger_gateway_feedback_rejected_total{reason} feedback refused: site_mismatch, site_not_served, type_not_allowed, unknown_invite, expired_invite, duplicate
//	linger_gateway_invite_index_sessions           sessions whose invites are indexed for feedback checks
//	linger_gateway_invite_index_evicted_total      sessions dropped from that index while their invites were live
//	linger_gateway_produce_errors_total{topic}     records Kafka did not take
package gateway
