// Package broker is the embedded Kafka-protocol broker (franz-go's kfake)
// with every topic linger uses: for the one-command demo, local development
// and tests (`linger broker`, `linger demo`, `linger bench --embedded`).
// Production points --brokers at Apache Kafka or Redpanda.
package broker

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/lingerhq/linger/schemas"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Config configures the embedded broker.
type Config struct {
	// Addr is host:port to listen on; kfake listens on 127.0.0.1 only, so
	// the host must be a loopback address or empty. Port 0 picks a free
	// port. Default: 127.0.0.1:9092.
	Addr string
	// Partitions of each topic. Default: 16.
	Partitions int
	// Nodes is the number of broker nodes; the first listens on Addr, the
	// others on free ports. Default: 1.
	Nodes int
	// DataDir, if set, persists topics and offsets across restarts.
	DataDir string
	// Retention bounds how long records of the non-compacted topics are
	// kept, so a long demo does not grow without bound. Default: 1h.
	Retention time.Duration
	// NoCompaction creates the compacted topics (the state changelog) as
	// delete topics under Retention instead. kfake compacts on the one
	// goroutine that serves every request, copying the whole log: at tens
	// of thousands of state records a second that stalls all clients for
	// up to a second, which real brokers, cleaning in the background, do
	// not. Load tests set it; a changelog that is not compacted does not
	// restore sessions older than Retention.
	NoCompaction bool
	// CleanInterval is how often retention (and compaction) run.
	// Default: 30s.
	CleanInterval time.Duration
	// Logger receives the broker's warnings. Default: slog.Default().
	Logger *slog.Logger
	// Opts are added to the cluster's options (tests: fault injection,
	// TLS, SASL users).
	Opts []kfake.Opt
	// ClientOpts are added to the options of the client that creates the
	// topics: the TLS and SASL credentials Opts ask for.
	ClientOpts []kgo.Opt
}

// Broker is the embedded Kafka-protocol broker (franz-go's kfake) with every
// topic the project uses. It exists for the demo, local development and
// tests; production points --brokers at Apache Kafka or Redpanda.
type Broker struct {
	c *kfake.Cluster
}

// segmentBytes keeps kfake's in-memory segments small: it grows a segment by
// doubling, and large segments cause latency spikes of hundreds of ms above
// 100k records/s.
const segmentBytes = 4 << 20

// Start starts the embedded broker and creates every topic in
// schemas.Topics (compacted ones with cleanup.policy=compact).
func Start(cfg Config) (*Broker, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:9092"
	}
	if cfg.Partitions == 0 {
		cfg.Partitions = 16
	}
	if cfg.Retention == 0 {
		cfg.Retention = time.Hour
	}
	if cfg.CleanInterval == 0 {
		cfg.CleanInterval = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	host, portStr, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("broker address %q: %w", cfg.Addr, err)
	}
	if host != "" && host != "127.0.0.1" && host != "localhost" {
		return nil, fmt.Errorf("broker address %q: the embedded broker listens on 127.0.0.1 only", cfg.Addr)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return nil, fmt.Errorf("broker address %q: bad port", cfg.Addr)
	}
	if cfg.Nodes < 1 {
		cfg.Nodes = 1
	}
	if cfg.Partitions < 1 || cfg.Partitions > 10000 {
		return nil, fmt.Errorf("partitions must be between 1 and 10000, got %d", cfg.Partitions)
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(cfg.Nodes),
		kfake.Ports(append([]int{port}, make([]int, cfg.Nodes-1)...)...),
		kfake.BrokerConfigs(map[string]string{
			"log.segment.bytes": strconv.Itoa(segmentBytes),
			// Compaction and retention run on this ticker.
			"log.cleaner.backoff.ms": strconv.FormatInt(cfg.CleanInterval.Milliseconds(), 10),
		}),
	}
	if cfg.DataDir != "" {
		opts = append(opts, kfake.DataDir(cfg.DataDir))
	}
	opts = append(opts, cfg.Opts...)
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("embedded broker on %s: %w", cfg.Addr, err)
	}
	b := &Broker{c: c}
	if err := b.createTopics(int32(cfg.Partitions), cfg.Retention, !cfg.NoCompaction, cfg.ClientOpts); err != nil {
		c.Close()
		return nil, err
	}
	return b, nil
}

func (b *Broker) createTopics(partitions int32, retention time.Duration, compact bool, opts []kgo.Opt) error {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.Addr())}, opts...)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	existing, err := adm.ListTopics(ctx)
	if err != nil {
		return fmt.Errorf("list topics: %w", err)
	}
	for _, t := range schemas.Topics {
		if existing.Has(t.Name) {
			continue // restored from the data dir
		}
		configs := map[string]*string{"retention.ms": kadm.StringPtr(strconv.FormatInt(retention.Milliseconds(), 10))}
		if t.Compacted && compact {
			configs = map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}
		}
		resp, err := adm.CreateTopic(ctx, partitions, 1, configs, t.Name)
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			return fmt.Errorf("create topic %s: %w", t.Name, err)
		}
	}
	return nil
}

// Addr returns the host:port the broker listens on.
func (b *Broker) Addr() string { return b.c.ListenAddrs()[0] }

// Cluster returns the kfake cluster, for tests that inject faults.
func (b *Broker) Cluster() *kfake.Cluster { return b.c }

// Close stops the broker (persisting to the data dir, if any).
func (b *Broker) Close() { b.c.Close() }
