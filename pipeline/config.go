package pipeline

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/lingerhq/linger/schemas"
	"github.com/lingerhq/linger/scoring"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Config is what a Runner needs. Zero fields take the default named in
// their comment.
type Config struct {
	// Brokers are the seed brokers, host:port. Required.
	Brokers []string
	// Group is the consumer group. Default: "linger".
	Group string
	// EventsTopic, InvitesTopic and DLQTopic default to the names in
	// schemas/topics.go.
	EventsTopic, InvitesTopic, DLQTopic string
	// CacheBytes bounds session state memory. Default: 256 MiB; at least
	// MinCacheBytes.
	CacheBytes int
	// Scoring is the scoring config. Default: scoring.DefaultConfig().
	Scoring *scoring.Config
	// MaxPollRecords bounds the records processed per poll. Default: 10000.
	MaxPollRecords int
	// ShutdownTimeout bounds finishing in-flight work, committing and
	// leaving the group on shutdown. Default: 10s.
	ShutdownTimeout time.Duration
	// Logger receives the runner's and the Kafka client's logs.
	// Default: slog.Default().
	Logger *slog.Logger
	// Metrics receives the pipeline's metrics. Default: a set on a private
	// registry.
	Metrics *Metrics
	// Now is the wall clock. Default: time.Now.
	Now func() time.Time
	// ClientOpts are added to the Kafka client's options (TLS, SASL,
	// test hooks).
	ClientOpts []kgo.Opt
}

// DefaultCacheBytes is the default CacheBytes.
const DefaultCacheBytes = 256 << 20

// DefaultGroup is the default consumer group.
const DefaultGroup = "linger"

func (c *Config) setDefaults() {
	if c.Group == "" {
		c.Group = DefaultGroup
	}
	if c.EventsTopic == "" {
		c.EventsTopic = schemas.TopicEvents
	}
	if c.InvitesTopic == "" {
		c.InvitesTopic = schemas.TopicInvites
	}
	if c.DLQTopic == "" {
		c.DLQTopic = schemas.TopicDLQ
	}
	if c.CacheBytes == 0 {
		c.CacheBytes = DefaultCacheBytes
	}
	if c.Scoring == nil {
		c.Scoring = scoring.DefaultConfig()
	}
	if c.MaxPollRecords == 0 {
		c.MaxPollRecords = 10000
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate returns every problem with c at once.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("no brokers: set --brokers host:port"))
	}
	for _, t := range []struct{ flag, name string }{{"events-topic", c.EventsTopic}, {"invites-topic", c.InvitesTopic}, {"dlq-topic", c.DLQTopic}} {
		if err := schemas.ValidateTopicName(t.name); err != nil {
			errs = append(errs, fmt.Errorf("--%s: %w", t.flag, err))
		}
	}
	if c.EventsTopic == c.InvitesTopic || c.EventsTopic == c.DLQTopic || c.InvitesTopic == c.DLQTopic {
		errs = append(errs, fmt.Errorf("the events, invites and DLQ topics must differ (%s, %s, %s)", c.EventsTopic, c.InvitesTopic, c.DLQTopic))
	}
	if c.CacheBytes < 0 {
		errs = append(errs, fmt.Errorf("--cache-bytes must be positive, got %d", c.CacheBytes))
	}
	if c.MaxPollRecords < 0 {
		errs = append(errs, fmt.Errorf("max poll records must be positive, got %d", c.MaxPollRecords))
	}
	return errors.Join(errs...)
}
