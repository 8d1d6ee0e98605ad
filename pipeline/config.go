package pipeline

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"time"

	"github.com/lingerhq/linger/pipeline/partition"
	"github.com/lingerhq/linger/schemas"
	"github.com/lingerhq/linger/scoring"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Config is what a Runner needs. Zero fields take the default named in
// their comment.
type Config struct {
	// Brokers are the seed brokers, host:port. Required.
	Brokers []string
	// Group is the consumer group. Default: "linger".
	Group string
	// EventsTopic, InvitesTopic, DLQTopic and StateTopic default to the
	// names in schemas/topics.go. The state topic (the changelog) is created
	// if missing, compacted, with as many partitions as the events topic.
	EventsTopic, InvitesTopic, DLQTopic, StateTopic string
	// CapacityTopic (chat-capacity) and VisitorsTopic (linger-visitors)
	// are broadcast tables every replica reads in full, outside the group:
	// the chat teams' capacity, and each visitor's recent invites for the
	// frequency cap. The visitors topic is created if missing, compacted;
	// without a capacity topic the static budgets apply.
	CapacityTopic, VisitorsTopic string
	// TalliesTopic (linger-tallies) receives each partition's hourly
	// tallies of would-be invites, invites and suppressions per site and
	// team, in the transaction of the batch that changed them; compacted
	// and created if missing.
	TalliesTopic string
	// FeedbackTopic (chat-feedback) carries what the chat front-ends made
	// of the invites, keyed by session on as many partitions as the events
	// topic: the group consumes it with the events, partition p of both
	// on the same replica. Without it (or with another partition count)
	// the replica goes on without feedback.
	FeedbackTopic string
	// TablesLoadTimeout bounds how long a replica waits at start to read
	// the broadcast tables up to their end before it processes events.
	// Default: 30s.
	TablesLoadTimeout time.Duration
	// Guarantee is ExactlyOnce (default) or AtLeastOnce.
	Guarantee Guarantee
	// SessionTimeout is the consumer group's session timeout, and the
	// transaction timeout: a killed replica's partitions move, and its open
	// transaction is aborted, within it. Default: 10s.
	SessionTimeout time.Duration
	// InstanceID names this replica in its transactional id
	// ("linger-<group>-<instance>"). Replicas running at once need distinct
	// ids; a replica restarted with the same id fences its previous
	// incarnation at once. Default: the host name and a random suffix.
	InstanceID string
	// EventTimeOnly stops idle partitions' watermarks from following the
	// wall clock: timers then fire only as events advance event time, so a
	// run is strictly deterministic (tests, replays).
	EventTimeOnly bool
	// Tick is how often idle partitions are checked for timers. Default:
	// 500ms.
	Tick time.Duration
	// CacheBytes bounds session state memory. Default: 256 MiB; at least
	// partition.MinCacheBytes.
	CacheBytes int
	// HeapLimitBase, if positive, has the Runner keep the Go heap's soft
	// limit (runtime/debug.SetMemoryLimit) at this many bytes plus the
	// hot tables' share of CacheBytes (a quarter, or more while they hold
	// more: partition.Store.HotCap), updated every few seconds: a limit
	// that follows what the state really holds, so a backlog cannot grow
	// the heap to twice its live size, nor the hot tables meet a limit
	// set for a quarter. 0 leaves the limit alone (GOMEMLIMIT, tests).
	HeapLimitBase int64
	// Scoring is the scoring config. Default: scoring.DefaultConfig().
	Scoring *scoring.Config
	// MaxPollRecords bounds the records processed per poll. Default: 10000.
	MaxPollRecords int
	// CommitInterval is about how long records wait to be committed: a
	// broker holds a fetch for up to the interval, and the span of polls
	// that takes it is committed as soon as it took records and nothing
	// more is fetched, or once the interval has passed since it began (a
	// backlog): one Kafka transaction under exactly-once, one wait for the
	// broker's acknowledgements under at-least-once. Longer intervals cost
	// less CPU per event (a transaction and a poll cycle cost several round
	// trips and wake-ups) and delay decisions more (a read_committed
	// consumer sees them at the commit). A span ends early when a
	// rebalance waits and at shutdown. Default: 0, every poll committed on
	// its own; `linger run --commit-interval` defaults to
	// DefaultCommitInterval. At most a quarter of SessionTimeout, the
	// transaction timeout.
	CommitInterval time.Duration
	// ShutdownTimeout bounds finishing in-flight work, committing and
	// leaving the group on shutdown. Default: 10s.
	ShutdownTimeout time.Duration
	// Logger receives the runner's and the Kafka client's logs.
	// Default: slog.Default().
	Logger *slog.Logger
	// Registerer receives the replica's metrics (the package doc lists
	// them), with the Go and process collectors. Default: a private
	// registry.
	Registerer prometheus.Registerer
	// Now is the wall clock. Default: time.Now.
	Now func() time.Time
	// PassthroughTopic, if set, turns the runner into the yardstick of
	// `linger bench --mode passthrough`: every event is copied to this
	// topic (created if missing) with the same client and guarantee, and
	// nothing is scored.
	PassthroughTopic string
	// Security is the TLS and SASL of every Kafka client the runner
	// opens. Default: plaintext, no authentication.
	Security Security
	// ClientOpts are added to every Kafka client's options, after those
	// of Security (test hooks).
	ClientOpts []kgo.Opt
}

// DefaultGroup is the default consumer group.
const DefaultGroup = "linger"

// DefaultCommitInterval is `linger run`'s commit interval: Kafka Streams'
// commit.interval.ms under exactly-once.
const DefaultCommitInterval = 100 * time.Millisecond

// DefaultSessionTimeout is the default group session (and transaction)
// timeout: short enough that a killed replica's partitions move within
// seconds, long enough to ride out a GC pause or a slow broker.
const DefaultSessionTimeout = 10 * time.Second

// Guarantee is the delivery guarantee of decisions.
type Guarantee string

// Guarantees.
const (
	// ExactlyOnce consumes, publishes decisions and state changes and
	// commits offsets in one Kafka transaction per batch: a read_committed
	// consumer sees each decision once, across crashes and rebalances.
	ExactlyOnce Guarantee = "exactly-once"
	// AtLeastOnce publishes, then commits offsets once the broker has
	// acknowledged everything: a crash can repeat decisions (consumers
	// dedupe on their id) and apply events to restored state twice.
	AtLeastOnce Guarantee = "at-least-once"
)

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
	if c.StateTopic == "" {
		c.StateTopic = schemas.TopicState
	}
	if c.CapacityTopic == "" {
		c.CapacityTopic = schemas.TopicCapacity
	}
	if c.FeedbackTopic == "" {
		c.FeedbackTopic = schemas.TopicFeedback
	}
	if c.VisitorsTopic == "" {
		c.VisitorsTopic = schemas.TopicVisitors
	}
	if c.TalliesTopic == "" {
		c.TalliesTopic = schemas.TopicTallies
	}
	if c.TablesLoadTimeout == 0 {
		c.TablesLoadTimeout = 30 * time.Second
	}
	if c.Guarantee == "" {
		c.Guarantee = ExactlyOnce
	}
	if c.SessionTimeout == 0 {
		c.SessionTimeout = DefaultSessionTimeout
	}
	if c.InstanceID == "" {
		host, _ := os.Hostname()
		c.InstanceID = fmt.Sprintf("%s-%08x", host, rand.Uint32())
	}
	if c.Tick == 0 {
		c.Tick = 500 * time.Millisecond
	}
	if c.CacheBytes == 0 {
		c.CacheBytes = partition.DefaultCacheBytes
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
	names := map[string]bool{}
	for _, t := range []struct{ flag, name string }{{"events-topic", c.EventsTopic}, {"invites-topic", c.InvitesTopic}, {"dlq-topic", c.DLQTopic}, {"state-topic", c.StateTopic}} {
		if err := schemas.ValidateTopicName(t.name); err != nil {
			errs = append(errs, fmt.Errorf("--%s: %w", t.flag, err))
		}
		names[t.name] = true
	}
	for _, t := range []struct{ flag, name string }{{"capacity-topic", c.CapacityTopic}, {"visitors-topic", c.VisitorsTopic}, {"feedback-topic", c.FeedbackTopic}, {"tallies-topic", c.TalliesTopic}} {
		if err := schemas.ValidateTopicName(t.name); err != nil {
			errs = append(errs, fmt.Errorf("--%s: %w", t.flag, err))
		} else if names[t.name] {
			errs = append(errs, fmt.Errorf("--%s %s: must differ from the events, invites, DLQ and state topics", t.flag, t.name))
		}
	}
	if t := c.PassthroughTopic; t != "" {
		if err := schemas.ValidateTopicName(t); err != nil {
			errs = append(errs, fmt.Errorf("--passthrough: %w", err))
		} else if names[t] {
			errs = append(errs, fmt.Errorf("--passthrough %s: must differ from the events, invites, DLQ and state topics", t))
		}
	}
	if len(names) != 4 {
		errs = append(errs, fmt.Errorf("the events, invites, DLQ and state topics must differ (%s, %s, %s, %s)", c.EventsTopic, c.InvitesTopic, c.DLQTopic, c.StateTopic))
	}
	if c.Guarantee != ExactlyOnce && c.Guarantee != AtLeastOnce {
		errs = append(errs, fmt.Errorf("--guarantee %q: want %s or %s", c.Guarantee, ExactlyOnce, AtLeastOnce))
	}
	if c.CommitInterval < 0 || c.CommitInterval > c.SessionTimeout/4 {
		errs = append(errs, fmt.Errorf("--commit-interval %v: want 0 (every poll) up to a quarter of --group-session-timeout (%v), which is also the transaction timeout", c.CommitInterval, c.SessionTimeout/4))
	}
	if c.SessionTimeout < 6*time.Second || c.SessionTimeout > 5*time.Minute {
		errs = append(errs, fmt.Errorf("--group-session-timeout %v: want 6s to 5m (Kafka's default group.min.session.timeout.ms is 6s)", c.SessionTimeout))
	}
	if c.CacheBytes < 0 {
		errs = append(errs, fmt.Errorf("--cache-bytes must be positive, got %d", c.CacheBytes))
	}
	if c.MaxPollRecords < 0 {
		errs = append(errs, fmt.Errorf("max poll records must be positive, got %d", c.MaxPollRecords))
	}
	if err := c.Security.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
