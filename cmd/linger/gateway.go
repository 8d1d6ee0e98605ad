package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
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
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// envGatewaySecret holds the token secret when no file does.
const envGatewaySecret = "LINGER_GATEWAY_SECRET"

// envPlatformToken holds the chat platform's token when no file does.
const envPlatformToken = "LINGER_PLATFORM_TOKEN"

// gatewayFlags are the flags of `linger gateway` that shape the gateway.
type gatewayFlags struct {
	listen                      string
	secretFile                  string
	platformTokenFile           string
	origins                     listFlag
	sites                       listFlag
	tokenTTL, tsBehind, tsAhead time.Duration
	lookBack                    time.Duration
	maxBody                     byteSize
	maxEvents                   int
	ipRate, ipBurst             float64
	sessionRate, sessionBurst   float64
	clientIPHeader              string
	maxConns, maxConnsPerIP     int
	maxStreams, streamsPerIP    int
	feedbackMargin              time.Duration
	keepQuery                   bool
	shop                        bool
	eventsTopic, invitesTopic   string
	feedbackTopic               string
}

func (f *gatewayFlags) register(fs *pflag.FlagSet) {
	d := gateway.DefaultConfig()
	fs.StringVar(&f.listen, "listen", "127.0.0.1:8080", "address the browser endpoints (and the shop) are served on")
	fs.StringVar(&f.secretFile, "secret-file", "", "file holding the secret that signs session tokens (at least 32 random bytes, e.g. `head -c 32 /dev/urandom | base64`; the same on every replica; readable by its owner only); or set it in "+envGatewaySecret)
	fs.Var(list(&f.sites, "sites"), "sites", "the sites served (the tracker's data-site), e.g. shop-eu,shop-us: a session for another site gets 400; empty: any site (warned about)")
	fs.StringVar(&f.platformTokenFile, "platform-token-file", "", "file holding the chat platform's token for POST /v1/platform/feedback (at least 32 random bytes); or set it in "+envPlatformToken+"; neither: the route is off")
	fs.Var(list(&f.origins, "origins"), "allowed-origins", "origins of the pages on other sites that may call the API (CORS), e.g. https://shop.example.com; * for any")
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
	fs.StringVar(&f.clientIPHeader, "client-ip-header", "", "only behind a proxy that sets it: the header whose last address is the client's (e.g. X-Forwarded-For); a client can write any header, so without such a proxy it lets anyone dodge the per-address limits (a warning is logged when it comes from a public address); empty: the connection's address")
	fs.IntVar(&f.maxConns, "max-conns", d.MaxConns, "most open client connections in all; past it a new one gets 503 and is closed")
	fs.IntVar(&f.maxConnsPerIP, "max-conns-per-ip", d.MaxConnsPerIP, "most open connections per client address (IPv6: per /64); past it 429 and closed; with --client-ip-header, most requests in flight per forwarded address instead")
	fs.IntVar(&f.maxStreams, "max-streams", d.MaxStreams, "most open invite streams in all")
	fs.IntVar(&f.streamsPerIP, "max-streams-per-ip", d.StreamsPerIP, "most open invite streams per client address (IPv6: per /64)")
	fs.DurationVar(&f.feedbackMargin, "feedback-margin", d.FeedbackMargin, "a visitor's feedback on an invite is taken until its expires_at plus this (keep --look-back over the invite TTL plus this)")
	fs.BoolVar(&f.keepQuery, "keep-query", false, "keep the query string and fragment of page.url and ref (by default they are cut: they often carry e-mail addresses, search terms, tokens)")
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
		Sites: f.sites, MaxConns: f.maxConns, MaxConnsPerIP: f.maxConnsPerIP, MaxStreams: f.maxStreams, StreamsPerIP: f.streamsPerIP,
		FeedbackMargin: f.feedbackMargin, KeepQuery: f.keepQuery,
		Logger: log, Registerer: reg,
	}
}

// secret reads the token secret from --secret-file or the environment.
func (f *gatewayFlags) secret(log *slog.Logger) ([]byte, error) {
	b, err := credential(log, "--secret-file", f.secretFile, envGatewaySecret)
	if err == nil && b == nil {
		err = fmt.Errorf("no token secret: set --secret-file or %s (at least %d random bytes, e.g. from `head -c 32 /dev/urandom | base64`)", envGatewaySecret, gateway.MinSecretBytes)
	}
	return b, err
}

// platformToken reads the chat platform's token from --platform-token-file
// or the environment; nil when neither is set.
func (f *gatewayFlags) platformToken(log *slog.Logger) ([]byte, error) {
	return credential(log, "--platform-token-file", f.platformTokenFile, envPlatformToken)
}

// credential reads a secret from the file a flag names or from an
// environment variable (nil, nil when neither is set). A file's final line
// breaks are not part of it; a file that its group or others may read is
// warned about.
func credential(log *slog.Logger, flagName, file, env string) ([]byte, error) {
	v, inEnv := os.LookupEnv(env)
	switch {
	case file != "" && inEnv:
		return nil, fmt.Errorf("both %s and %s are set: use one", flagName, env)
	case file != "":
		st, err := os.Stat(file)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", flagName, err)
		}
		if st.Mode().Perm()&0o077 != 0 {
			log.Warn("the secret file can be read by others than its owner: chmod 600 it (or pass the secret in the environment)",
				"flag", flagName, "file", file, "mode", st.Mode().Perm().String())
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", flagName, err)
		}
		return []byte(strings.TrimRight(string(b), "\r\n")), nil
	case inEnv:
		return []byte(v), nil
	}
	return nil, nil
}

func newGatewayCmd() *cobra.Command {
	var (
		f       gatewayFlags
		brokers listFlag
		sec     securityFlags
		logs    logFlags
		httpAdr string
	)
	c := &cobra.Command{
		Use:   "gateway --brokers host:port",
		Short: "serve browsers: sessions, events in, invites out as Server-Sent Events, feedback, the tracker script",
		Long:  "Serve browsers: sessions with signed tokens, events into visitor-events, each\nsession's invites from chat-invites as Server-Sent Events, feedback into chat-feedback,\nand the tracker script linger.js. See the README for the endpoints.",
		Example: `  LINGER_GATEWAY_SECRET=$(head -c 32 /dev/urandom | base64) \
    linger gateway --brokers kafka-1:9092 --sites shop-eu --allowed-origins https://shop.example.com`,
		Args: flagsOnly("brokers", "the brokers"),
	}
	fs := c.Flags()
	fs.Var(list(&brokers, "brokers"), "brokers", "Kafka seed brokers, host:port[,host:port...] (required)")
	f.register(fs)
	fs.StringVar(&httpAdr, "http", "127.0.0.1:9465", "address for /metrics, /healthz and /readyz (empty: off); keep it private")
	sec.register(fs)
	logs.register(fs)
	c.RunE = func(c *cobra.Command, _ []string) error {
		return runGateway(c.OutOrStdout(), c.ErrOrStderr(), &f, brokers, sec, logs, httpAdr)
	}
	return c
}

// runGateway serves the gateway until a signal stops it.
func runGateway(stdout, stderr io.Writer, f *gatewayFlags, brokers listFlag, sec securityFlags, logs logFlags, httpAdr string) error {
	log, err := logs.logger(stderr)
	if err != nil {
		return err
	}
	security, err := sec.security()
	if err != nil {
		return err
	}
	secret, err := f.secret(log)
	if err != nil {
		return err
	}
	platform, err := f.platformToken(log)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	if err := pipeline.RegisterProcessMetrics(reg); err != nil {
		return err
	}
	cfg := f.config(log, reg)
	cfg.Brokers, cfg.Secret, cfg.PlatformToken, cfg.Security = brokers, secret, platform, security

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
		"allowed_origins", f.origins, "sites", f.sites, "platform_route", platform != nil, "shop", f.shop)
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
	srv *gateway.Server
}

// startGateway starts a gateway and serves it on listen.
func startGateway(cfg gateway.Config, listen string) (*runningGateway, error) {
	g, err := gateway.New(cfg)
	if err != nil {
		return nil, err
	}
	srv, err := g.Listen(listen)
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
// outlive the process (the demo): random bytes, base64url-encoded.
func randomSecret() []byte {
	b := make([]byte, gateway.MinSecretBytes)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return []byte(base64.RawURLEncoding.EncodeToString(b))
}
