package gateway

import (
	"github.com/lingerhq/linger/schemas"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the gateway's, named in the package doc.
type metrics struct {
	requests      *prometheus.CounterVec
	events        *prometheus.CounterVec
	rejectedBy    *prometheus.CounterVec
	clamped       prometheus.Counter
	bots          prometheus.Counter
	limited       *prometheus.CounterVec
	streams       prometheus.Gauge
	decisions     *prometheus.CounterVec
	sent          *prometheus.CounterVec
	feedback      *prometheus.CounterVec
	produceErrors *prometheus.CounterVec

	conns          prometheus.Gauge
	inFlight       prometheus.Gauge
	connRefused    *prometheus.CounterVec
	untrustedProxy prometheus.Counter
	fbRejected     *prometheus.CounterVec
	indexSessions  prometheus.Gauge
	indexEvicted   prometheus.Counter
	streamsExpired prometheus.Counter
}

// Reasons a visitor's (or the platform's) feedback is refused, as
// linger_gateway_feedback_rejected_total counts them.
const (
	fbSiteMismatch   = "site_mismatch"   // the record's site is not the token's
	fbSiteNotServed  = "site_not_served" // platform: a site not in Config.Sites
	fbTypeNotAllowed = "type_not_allowed"
	fbUnknownInvite  = "unknown_invite"
	fbExpiredInvite  = "expired_invite"
	fbRepeat         = "duplicate"
)

func newMetrics(reg prometheus.Registerer) *metrics {
	vec := func(name, help, label string, values []string) *prometheus.CounterVec {
		v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{label})
		for _, l := range values {
			v.WithLabelValues(l)
		}
		return v
	}
	m := &metrics{
		requests:      prometheus.NewCounterVec(prometheus.CounterOpts{Name: "linger_gateway_requests_total", Help: "HTTP requests answered, by endpoint and status code."}, []string{"endpoint", "code"}),
		events:        vec("linger_gateway_events_total", "Events received, by result: accepted (produced to visitor-events) or rejected.", "result", []string{"accepted", "rejected"}),
		rejectedBy:    vec("linger_gateway_rejected_events_total", "Events rejected, by problem (the DLQ's reasons, unknown_type, and site_mismatch: a site other than the session's).", "reason", append(schemas.Problems(), "unknown_type", fbSiteMismatch)),
		clamped:       prometheus.NewCounter(prometheus.CounterOpts{Name: "linger_gateway_ts_clamped_total", Help: "Events whose ts was outside the accepted window around the receive time, sent with the receive time instead."}),
		bots:          prometheus.NewCounter(prometheus.CounterOpts{Name: "linger_gateway_bot_events_total", Help: "Events flagged bot because of the sender's user agent."}),
		limited:       vec("linger_gateway_rate_limited_total", "Requests refused with 429, by limit: ip, session or streams.", "scope", []string{"ip", "session", "streams"}),
		streams:       prometheus.NewGauge(prometheus.GaugeOpts{Name: "linger_gateway_streams", Help: "Open invite streams (Server-Sent Events)."}),
		decisions:     vec("linger_gateway_decisions_total", "Decisions read from chat-invites, by result: buffered, holdout (never sent), duplicate, invalid.", "result", []string{"buffered", "holdout", "duplicate", "invalid"}),
		sent:          vec("linger_gateway_sent_total", "Decisions sent to widgets, by event: invite or withdraw.", "event", []string{"invite", "withdraw"}),
		feedback:      vec("linger_gateway_feedback_total", "Feedback records produced to chat-feedback, by type.", "type", schemas.FeedbackTypes()[1:]),
		produceErrors: vec("linger_gateway_produce_errors_total", "Records Kafka did not take in time, by topic (the client got 503).", "topic", nil),

		conns:          prometheus.NewGauge(prometheus.GaugeOpts{Name: "linger_gateway_connections", Help: "Open client connections."}),
		inFlight:       prometheus.NewGauge(prometheus.GaugeOpts{Name: "linger_gateway_in_flight_requests", Help: "Requests being served, open invite streams included."}),
		connRefused:    vec("linger_gateway_connections_refused_total", "Connections (or, behind a proxy, requests) refused over a cap, by cap: address (per client address) or total.", "scope", []string{"address", "total"}),
		untrustedProxy: prometheus.NewCounter(prometheus.CounterOpts{Name: "linger_gateway_client_ip_header_untrusted_total", Help: "Requests carrying the client address header (--client-ip-header) straight from a public address, where it is the client's own word."}),
		fbRejected:     vec("linger_gateway_feedback_rejected_total", "Feedback records refused, by reason.", "reason", []string{fbSiteMismatch, fbSiteNotServed, fbTypeNotAllowed, fbUnknownInvite, fbExpiredInvite, fbRepeat}),
		indexSessions:  prometheus.NewGauge(prometheus.GaugeOpts{Name: "linger_gateway_invite_index_sessions", Help: "Sessions whose invites are indexed for feedback checks."}),
		indexEvicted:   prometheus.NewCounter(prometheus.CounterOpts{Name: "linger_gateway_invite_index_evicted_total", Help: "Sessions dropped from the invite index to keep it within its bound while their invites were live (their feedback is refused as unknown)."}),
		streamsExpired: prometheus.NewCounter(prometheus.CounterOpts{Name: "linger_gateway_streams_expired_total", Help: "Invite streams ended because their token expired."}),
	}
	reg.MustRegister(m.requests, m.events, m.rejectedBy, m.clamped, m.bots, m.limited, m.streams, m.decisions, m.sent, m.feedback, m.produceErrors,
		m.conns, m.inFlight, m.connRefused, m.untrustedProxy, m.fbRejected, m.indexSessions, m.indexEvicted, m.streamsExpired)
	return m
}
