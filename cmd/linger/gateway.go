package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/lingerhq/linger/internal/buildinfo"
	"github.com/lingerhq/linger/pipeline"
	"github.com/lingerhq/linger/pipeline/gateway"
	"github.com/prometheus/client_golang/prometheus"
)

// envGatewaySecret holds the token secret when no file does.
const envGatewaySecret = "LINGER_GATEWAY_SECRET"

// gatewayFlags are the flags of `linger gateway` that shape the gateway.
type gatewayFlags struct {
	listen                      string
	secretFile                  string
	origins                     listFlag
	tokenTTL, tsBehind, tsAhead time.Duration
	lookBack                    time.Duration
	maxBody                     byteSize
	maxEvents                   int
	ipRate, ipBurst             float64
	sessionRate, sessionBurst   float64
	clientIPHeader              string
	shop                        bool
	eventsTopic, invitesTopic   string
	feedbackTopic               string
}

func (f *gatewayFlags) register(fs *flagSet) {
	d := gateway.DefaultConfig()
	fs.StringVar(&f.listen, "listen", "127.0.0.1:8080", "address the browser endpoints (and the shop) are served on")
	fs.StringVar(&f.secretFile, "secret-file", "", "file holding the secret that signs session tokens (at least 32 bytes; the same on every replica); or set it in "+envGatewaySecret)
	fs.Var(&f.origins, "allowed-origins", "origins of the pages on other sites that may call the API (CORS), e.g. https://shop.example.com; * for any")
	fs.DurationVar(&f.tokenTTL, "token-ttl", d.TokenTTL, "how long a session token is valid")
	fs.DurationVar(&f.tsBehind, "ts-behind", d.TSBehind, "an event's ts may be this far behind the receive time (a page that was offline); older ones get the receive time")
	fs.DurationVar(&f.tsAhead, "ts-ahead", d.TSAhead, "an event's ts may be this far ahead of the receive time; later ones get the receive time")
	fs.DurationVar(&f.lookBack, "look-back", d.LookBack, "how far back the invite stream starts reading at start, so recent decisions can still be sent")
	f.maxBody = byteSize(d.MaxBodyBytes)
	fs.Var(&f.maxBody, "max-body", "largest request body; larger ones get 413")
	fs.IntVar(&f.maxEvents, "max-events", d.MaxEvents, "most events in one POST /v1/events")
	fs.Float64Var(&f.ipRate, "ip-rate", d.IPRate, "API requests per second per client address (token bucket)")
	fs.Float64Var(&f.ipBurst, "ip-burst", d.IPBurst, "API requests at once per client address")
	fs.Float64Var(&f.sessionRate, "session-rate", d.SessionRate, "event and feedback posts per second per session")
	fs.Float64Var(&f.sessionBurst, "session-burst", d.SessionBurst, "event and feedback posts at once per session")
	fs.StringVar(&f.clientIPHeader, "client-ip-header", "", "behind a proxy: the header whose last address is the client's (e.g. X-Forwarded-For); empty: the connection's address")
	fs.BoolVar(&f.shop, "shop", false, "also serve the demo shop at /")
	fs.StringVar(&f.eventsTopic, "events-topic", d.EventsTopic, "topic to write events to")
	fs.StringVar(&f.invitesTopic, "invites-topic", d.InvitesTopic, "topic to read decisions from")
	fs.StringVar(&f.feedbackTopic, "feedback-topic", d.FeedbackTopic, "topic to write feedback to")
}

// config returns the gateway config of the flags, without brokers and
// secret.
func (f *gatewayFlags) config(log *slog.Logger, reg prometheus.Registerer) gateway.Config {
	return gateway.Config{
		EventsTopic: f.eventsTopic, InvitesTopic: f.invitesTopic, FeedbackTopic: f.feedbackTopic,
		TokenTTL: f.tokenTTL, AllowedOrigins: f.origins, TSBehind: f.tsBehind, TSAhead: f.tsAhead,
		MaxBodyBytes: int64(f.maxBody), MaxEvents: f.maxEvents,
		IPRate: f.ipRate, IPBurst: f.ipBurst, SessionRate: f.sessionRate, SessionBurst: f.sessionBurst,
		ClientIPHeader: f.clientIPHeader, LookBack: f.lookBack, Shop: f.shop,
		Logger: log, Registerer: reg,
	}
}

// secret reads the token secret from --secret-file or the environment.
func (f *gatewayFlags) secret() ([]byte, error) {
	env, inEnv := os.LookupEnv(envGatewaySecret)
	switch {
	case f.secretFile != "" && inEnv:
		return nil, fmt.Errorf("both --secret-file and %s are set: use one", envGatewaySecret)
	case f.secretFile != "":
		b, err := os.ReadFile(f.secretFile)
		if err != nil {
			return nil, fmt.Errorf("--secret-file: %w", err)
		}
		return []byte(strings.TrimRight(string(b), "\r\n")), nil
	case inEnv:
		return []byte(env), nil
	}
	return nil, fmt.Errorf("no token secret: set --secret-file or %s (at least %d bytes, e.g. from `head -c 32 /dev/urandom | base64`)", envGatewaySecret, gateway.MinSecretBytes)
}

func gatewayCmd(args []string, stdout, stderr io.Writer) error {
	var (
		f       gatewayFlags
		brokers listFlag
		sec     securityFlags
		logs    logFlags
		httpAdr string
	)
	fs := newFlagSet("gateway", "", "Serve browsers: sessions with signed tokens, events into visitor-events, each\nsession's invites from chat-invites as Server-Sent Events, feedback into chat-feedback,\nand the tracker script linger.js. See the README for the endpoints.")
	fs.SetOutput(stderr)
	fs.Var(&brokers, "brokers", "Kafka seed brokers, host:port[,host:port...] (required)")
	f.register(fs)
	fs.StringVar(&httpAdr, "http", "127.0.0.1:9465", "address for /metrics, /healthz and /readyz (empty: off); keep it private")
	sec.register(fs)
	logs.register(fs)
	if err := fs.parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("%w: unexpected arguments %v", errUsage, fs.Args())
	}
	log, err := logs.logger(stderr)
	if err != nil {
		return err
	}
	security, err := sec.security()
	if err != nil {
		return err
	}
	secret, err := f.secret()
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	if err := pipeline.RegisterProcessMetrics(reg); err != nil {
		return err
	}
	cfg := f.config(log, reg)
	cfg.Brokers, cfg.Secret, cfg.Security = brokers, secret, security

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	gw, err := startGateway(cfg, f.listen)
	if err != nil {
		return err
	}
	var metrics *pipeline.HTTPServer
	if httpAdr != "" {
		if metrics, err = pipeline.ListenHTTP(httpAdr, reg, gw.g.Healthy, gw.g.Ready); err != nil {
			gw.stop(log)
			return err
		}
		log.Info("serving /metrics, /healthz and /readyz", "addr", "http://"+metrics.Addr())
	}
	fmt.Fprintf(stdout, "linger gateway listening on %s\n", gw.url())
	log.Info("linger gateway starting", "version", buildinfo.Version, "brokers", brokers, "kafka", security, "listen", gw.url(),
		"allowed_origins", f.origins, "shop", f.shop)
	<-ctx.Done()

	gw.stop(log)
	if metrics != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = metrics.Close(sctx)
		cancel()
	}
	return nil
}

// runningGateway is a gateway and the HTTP server in front of it.
type runningGateway struct {
	g   *gateway.Gateway
	srv *pipeline.HTTPServer
}

// startGateway starts a gateway and serves it on listen.
func startGateway(cfg gateway.Config, listen string) (*runningGateway, error) {
	g, err := gateway.New(cfg)
	if err != nil {
		return nil, err
	}
	srv, err := pipeline.Serve(listen, g.Handler())
	if err != nil {
		g.Close()
		return nil, err
	}
	g.Start()
	return &runningGateway{g: g, srv: srv}, nil
}

func (r *runningGateway) url() string { return "http://" + r.srv.Addr() }

// stop ends the invite streams, stops the HTTP server (waiting up to 5 s
// for requests in flight), then the gateway's Kafka clients, logging how
// long it took.
func (r *runningGateway) stop(log *slog.Logger) {
	start := time.Now()
	r.g.EndStreams()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	err := r.srv.Close(ctx)
	cancel()
	r.g.Close()
	if err != nil && !errors.Is(err, context.Canceled) {
		log.Warn("gateway: requests cut off at shutdown", "err", err)
	}
	log.Info("stopped gateway", "took", time.Since(start).Round(time.Millisecond))
}

// randomSecret is a token secret for a gateway whose tokens need not
// outlive the process (the demo).
func randomSecret() []byte {
	b := make([]byte, gateway.MinSecretBytes)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return b
}
