package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lingerhq/linger/pipeline"
	"github.com/lingerhq/linger/schemas"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Config is what a Gateway needs. Zero fields take the default named in
// their comment.
type Config struct {
	// Brokers are the Kafka seed brokers, host:port. Required.
	Brokers []string
	// Security is the TLS and SASL of the Kafka clients. Default:
	// plaintext, no authentication.
	Security pipeline.Security
	// ClientOpts are added to the Kafka clients' options, after those of
	// Security (test hooks).
	ClientOpts []kgo.Opt
	// EventsTopic, InvitesTopic and FeedbackTopic default to the names in
	// schemas/topics.go.
	EventsTopic, InvitesTopic, FeedbackTopic string
	// Secret signs the session tokens: every replica behind one address
	// needs the same. Required, and random enough for CheckSecret.
	Secret []byte
	// Sites lists the sites (the tracker's data-site) this gateway
	// serves: a session for any other gets 400. Empty: any site, which
	// Start warns about (anyone can then make up sites, and with them
	// series and configuration lookups downstream).
	Sites []string
	// PlatformToken is the chat platform's credential for POST
	// /v1/platform/feedback (Authorization: Bearer), the one route that
	// takes feedback only a chat platform can know (a chat's end, its
	// rating). Empty: the route is off. Random enough for CheckSecret.
	PlatformToken []byte
	// TokenTTL is how long a session token is valid. Default: 12h.
	TokenTTL time.Duration
	// AllowedOrigins are the origins (scheme://host[:port]) of pages on
	// other sites that may call the API (CORS). Pages the gateway serves
	// itself need no entry. "*" allows any origin.
	AllowedOrigins []string
	// TSBehind and TSAhead bound the client's ts: an event stamped more
	// than TSBehind before the receive time, or more than TSAhead after
	// it, gets the receive time instead (and is counted). Defaults: 10m
	// behind (a page that was offline sends late), 1m ahead.
	TSBehind, TSAhead time.Duration
	// MaxBodyBytes caps a request body. Default: 64 KiB.
	MaxBodyBytes int64
	// MaxEvents caps the events of one POST /v1/events. Default: 100.
	MaxEvents int
	// IPRate and IPBurst limit API requests per client IP (a token
	// bucket: IPRate a second, up to IPBurst at once). Defaults: 20, 60.
	IPRate, IPBurst float64
	// SessionRate and SessionBurst limit event and feedback posts per
	// session. Defaults: 2, 20 (the tracker sends about one a second,
	// and two or three as a page is left).
	SessionRate, SessionBurst float64
	// ClientIPHeader names a header set by a proxy in front (e.g.
	// X-Forwarded-For) whose last address is the client's; empty: the
	// connection's address. Set it only behind a proxy that sets it, or
	// appends the client's address to it: a client can send any header,
	// and the gateway warns when the header comes from a public address.
	ClientIPHeader string
	// MaxConns caps the open connections in all: past it a new
	// connection is answered 503 and closed as it is accepted. Default:
	// 20000.
	MaxConns int
	// MaxConnsPerIP caps the open connections of one client address (an
	// IPv6 client by its /64): past it a new one is answered 429 and
	// closed as it is accepted. Behind a proxy (ClientIPHeader set) every
	// connection comes from the proxy, so it caps instead the requests in
	// flight of each forwarded address (429 past it). Default: 100.
	MaxConnsPerIP int
	// MaxStreams and StreamsPerIP cap open invite streams in all and per
	// client address (past them: 429). StreamsPerSession caps them per
	// session (tabs): a new one ends the session's oldest. Defaults:
	// 10000, 50, 4.
	MaxStreams, StreamsPerSession, StreamsPerIP int
	// LookBack is how far back the invites consumer starts, so decisions
	// made just before a start or a reconnect can still be sent, and
	// feedback on them taken: keep it over the invite TTL plus
	// FeedbackMargin. Default: 2m (the default invite TTL is 60s).
	LookBack time.Duration
	// FeedbackMargin is how long after an invite's expires_at a visitor's
	// feedback on it is still taken (invite_expired is sent at expiry,
	// and a page may be slow). Default: 1m.
	FeedbackMargin time.Duration
	// KeepQuery keeps the query string and fragment of page.url and ref.
	// By default they are cut (as the tracker does unless its
	// data-keep-query is set): they often carry e-mail addresses, search
	// terms and tokens.
	KeepQuery bool
	// Recent is how many decisions per session are kept for reconnects.
	// Default: 8.
	Recent int
	// MaxSessions bounds the sessions whose recent decisions are kept,
	// and, apart, the sessions whose invites are indexed for feedback.
	// Default: 100000.
	MaxSessions int
	// Heartbeat is how often an idle stream gets a comment line, so
	// proxies keep it open and dead clients are noticed. Default: 15s.
	Heartbeat time.Duration
	// Shop serves the demo shop at /.
	Shop bool
	// Logger receives the gateway's logs. Default: slog.Default().
	Logger *slog.Logger
	// Registerer receives the gateway's metrics. Default: a private
	// registry.
	Registerer prometheus.Registerer
	// Now is the wall clock. Default: time.Now.
	Now func() time.Time
}

// DefaultConfig returns the defaults named in Config's comments, for
// flags to show.
func DefaultConfig() Config {
	var c Config
	c.setDefaults()
	return c
}

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	defInt := func(n *int, v int) {
		if *n == 0 {
			*n = v
		}
	}
	defF := func(f *float64, v float64) {
		if *f == 0 {
			*f = v
		}
	}
	if c.EventsTopic == "" {
		c.EventsTopic = schemas.TopicEvents
	}
	if c.InvitesTopic == "" {
		c.InvitesTopic = schemas.TopicInvites
	}
	if c.FeedbackTopic == "" {
		c.FeedbackTopic = schemas.TopicFeedback
	}
	def(&c.TokenTTL, 12*time.Hour)
	def(&c.TSBehind, 10*time.Minute)
	def(&c.TSAhead, time.Minute)
	def(&c.LookBack, 2*time.Minute)
	def(&c.FeedbackMargin, time.Minute)
	def(&c.Heartbeat, 15*time.Second)
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 64 << 10
	}
	defInt(&c.MaxEvents, 100)
	defInt(&c.MaxConns, 20000)
	defInt(&c.MaxConnsPerIP, 100)
	defInt(&c.MaxStreams, 10000)
	defInt(&c.StreamsPerSession, 4)
	defInt(&c.StreamsPerIP, 50)
	defInt(&c.Recent, 8)
	defInt(&c.MaxSessions, 100000)
	defF(&c.IPRate, 20)
	defF(&c.IPBurst, 60)
	defF(&c.SessionRate, 2)
	defF(&c.SessionBurst, 20)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Registerer == nil {
		c.Registerer = prometheus.NewRegistry()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate returns every problem with c at once.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("no brokers: set --brokers"))
	}
	if err := CheckSecret("the token secret", c.Secret); err != nil {
		errs = append(errs, err)
	}
	if len(c.PlatformToken) > 0 {
		if err := CheckSecret("the platform token", c.PlatformToken); err != nil {
			errs = append(errs, err)
		}
	}
	for _, s := range c.Sites {
		if err := checkSite(s); err != nil {
			errs = append(errs, fmt.Errorf("sites: %w", err))
		}
	}
	for _, t := range []string{c.EventsTopic, c.InvitesTopic, c.FeedbackTopic} {
		if err := schemas.ValidateTopicName(t); err != nil {
			errs = append(errs, err)
		}
	}
	for _, o := range c.AllowedOrigins {
		if _, err := normalizeOrigin(o); err != nil {
			errs = append(errs, err)
		}
	}
	for _, p := range []struct {
		name string
		v    float64
	}{
		{"token TTL", c.TokenTTL.Seconds()}, {"ts window behind", c.TSBehind.Seconds()}, {"ts window ahead", c.TSAhead.Seconds()},
		{"look-back", c.LookBack.Seconds()}, {"heartbeat", c.Heartbeat.Seconds()}, {"feedback margin", c.FeedbackMargin.Seconds()},
		{"connections", float64(c.MaxConns)}, {"connections per IP", float64(c.MaxConnsPerIP)},
		{"body cap", float64(c.MaxBodyBytes)}, {"events per request", float64(c.MaxEvents)},
		{"IP rate", c.IPRate}, {"IP burst", c.IPBurst}, {"session rate", c.SessionRate}, {"session burst", c.SessionBurst},
		{"streams", float64(c.MaxStreams)}, {"streams per session", float64(c.StreamsPerSession)}, {"streams per IP", float64(c.StreamsPerIP)},
		{"recent decisions per session", float64(c.Recent)}, {"sessions kept", float64(c.MaxSessions)},
	} {
		if p.v <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive", p.name))
		}
	}
	if c.LookBack <= c.FeedbackMargin {
		errs = append(errs, fmt.Errorf("look-back %v must exceed the feedback margin %v (and the invite TTL): a restarted gateway would not know the invites it takes feedback on", c.LookBack, c.FeedbackMargin))
	}
	if c.MaxBodyBytes < schemas.MaxEventBytes {
		errs = append(errs, fmt.Errorf("body cap %d is less than one event (%d)", c.MaxBodyBytes, schemas.MaxEventBytes))
	}
	return errors.Join(errs...)
}

// Gateway serves the browser endpoints. Start it, serve Handler, and Close
// it once the HTTP server has stopped.
type Gateway struct {
	cfg     Config
	log     *slog.Logger
	m       *metrics
	tokens  tokens
	origins origins
	prod    *kgo.Client // events and feedback
	cons    *kgo.Client // chat-invites, every partition, read committed
	hub     *hub
	ipLim   *limiter
	sessLim *limiter
	streams *counts
	fwdCaps *counts // requests in flight per forwarded address, behind a proxy
	invites *inviteIndex
	sites   map[string]bool // nil: any site
	// visitorTypes are the feedback types a visitor may report
	// (visitorFeedback; a test takes one off).
	visitorTypes map[string]bool
	handler      http.Handler

	proxyWarned atomic.Int64 // Unix ns of the last warning about the client address header

	// bodyTimeout, fbWait and timeouts are bodyReadTimeout, feedbackWait
	// and the server's; tests shorten them.
	bodyTimeout, fbWait time.Duration
	timeouts            serverTimeouts

	decoders sync.Pool // *schemas.Decoder: not safe for concurrent use

	closing   chan struct{} // closed by Close: streams end
	closeOnce sync.Once     // of closing
	closed    sync.Once     // of the clients
	stop      context.CancelFunc
	done      chan struct{} // closed when the consumer and sweeper have ended
	ready     atomic.Bool
}

// New checks cfg and builds a Gateway; it does not connect yet.
func New(cfg Config) (*Gateway, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	origins, _ := newOrigins(cfg.AllowedOrigins)
	sec, err := cfg.Security.Opts()
	if err != nil {
		return nil, err
	}
	base := append([]kgo.Opt{kgo.SeedBrokers(cfg.Brokers...), kgo.WithLogger(pipeline.KafkaLogger(cfg.Logger))}, sec...)
	base = slices.Clip(append(base, cfg.ClientOpts...)) // each client appends its own
	prod, err := kgo.NewClient(append(base, kgo.ProducerLinger(2*time.Millisecond))...)
	if err != nil {
		return nil, fmt.Errorf("kafka producer: %w", err)
	}
	cons, err := kgo.NewClient(append(base,
		kgo.ConsumeTopics(cfg.InvitesTopic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// From a little before now, not from the start: decisions older
		// than the look-back have expired anyway.
		kgo.ConsumeResetOffset(kgo.NewOffset().AfterMilli(cfg.Now().Add(-cfg.LookBack).UnixMilli())),
		kgo.FetchMaxWait(500*time.Millisecond),
	)...)
	if err != nil {
		prod.Close()
		return nil, fmt.Errorf("kafka consumer: %w", err)
	}
	g := &Gateway{
		cfg:     cfg,
		log:     cfg.Logger.With("component", "gateway"),
		m:       newMetrics(cfg.Registerer),
		tokens:  tokens{key: cfg.Secret, ttl: cfg.TokenTTL},
		origins: origins,
		prod:    prod,
		cons:    cons,
		ipLim:   newLimiter(cfg.IPRate, cfg.IPBurst, 100000),
		sessLim: newLimiter(cfg.SessionRate, cfg.SessionBurst, 100000),
		streams: newCounts(cfg.MaxStreams, cfg.StreamsPerIP),
		fwdCaps: newCounts(int(^uint(0)>>1), cfg.MaxConnsPerIP),
		closing: make(chan struct{}),
		done:    make(chan struct{}),

		bodyTimeout: bodyReadTimeout,
		fbWait:      feedbackWait,
		timeouts:    serverTimeouts{header: headerTimeout, read: requestReadTimeout, write: writeTimeout, idle: idleTimeout},
	}
	g.hub = newHub(cfg.Recent, cfg.MaxSessions, cfg.StreamsPerSession, g.m)
	g.invites = newInviteIndex(cfg.MaxSessions, cfg.FeedbackMargin, g.m)
	if len(cfg.Sites) > 0 {
		g.sites = map[string]bool{}
		for _, s := range cfg.Sites {
			g.sites[s] = true
		}
	}
	g.visitorTypes = maps.Clone(visitorFeedback)
	g.decoders.New = func() any { return new(schemas.Decoder) }
	g.handler = g.edge(g.routes())
	return g, nil
}

// Start starts reading chat-invites. The gateway is ready once the brokers
// answered.
func (g *Gateway) Start() {
	if g.sites == nil {
		g.log.Warn("serving sessions for any site: list the sites served (--sites) so that a page cannot make up sites, their metrics and their budgets")
	}
	ctx, cancel := context.WithCancel(context.Background())
	g.stop = cancel
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); g.consume(ctx) }()
	go func() { defer wg.Done(); g.sweep(ctx) }()
	go func() { wg.Wait(); close(g.done) }()
}

// Handler returns the gateway's HTTP handler.
func (g *Gateway) Handler() http.Handler { return g.handler }

// Ready reports whether the brokers have answered and the gateway is not
// closing.
func (g *Gateway) Ready() bool { return g.ready.Load() && g.Healthy() == nil }

// Healthy returns nil until the gateway closes.
func (g *Gateway) Healthy() error {
	select {
	case <-g.closing:
		return errors.New("gateway closed")
	default:
		return nil
	}
}

// EndStreams ends every open invite stream (the widgets reconnect,
// elsewhere): call it before stopping the HTTP server, whose shutdown
// waits for open requests. Close calls it too.
func (g *Gateway) EndStreams() {
	g.closeOnce.Do(func() { close(g.closing) })
}

// Close ends the streams, stops the consumer, waits for produced records
// to be acknowledged (up to 5 s) and closes the Kafka clients. It is safe
// to call twice.
func (g *Gateway) Close() {
	g.EndStreams()
	g.closed.Do(func() {
		if g.stop != nil {
			g.stop()
			<-g.done
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = g.prod.Flush(ctx)
		cancel()
		g.prod.Close()
		g.cons.Close()
	})
}

func (g *Gateway) now() time.Time { return g.cfg.Now() }
