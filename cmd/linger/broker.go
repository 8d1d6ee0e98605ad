package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/lingerhq/linger/pipeline/broker"
	"github.com/lingerhq/linger/schemas"
	"github.com/spf13/cobra"
)

func newBrokerCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "broker",
		Short: "run the embedded Kafka-protocol broker with every topic linger uses",
		Long:  "Run the embedded Kafka-protocol broker (franz-go's kfake) with every topic linger\nuses, so that linger, kcat, franz-go, kafka-go or any Kafka client can talk to it.\nFor development, demos and tests; run Apache Kafka or Redpanda in production.",
		Example: `  linger broker
  linger broker --addr 127.0.0.1:9092 --partitions 4 --data-dir /tmp/linger-broker`,
		Args: flagsOnly("", ""),
	}
	fs := c.Flags()
	addr := fs.String("addr", "127.0.0.1:9092", "address to listen on (loopback only; port 0 picks a free port)")
	partitions := fs.Int("partitions", 16, "partitions of each topic")
	dataDir := fs.String("data-dir", "", "directory to persist topics and offsets in (default: memory only)")
	retention := fs.Duration("retention", time.Hour, "how long records of the non-compacted topics are kept")
	var logs logFlags
	logs.register(fs)
	c.RunE = func(c *cobra.Command, _ []string) error {
		if *partitions < 1 {
			return usagef("--partitions %d: want at least 1", *partitions)
		}
		return runBroker(c.OutOrStdout(), c.ErrOrStderr(), logs, broker.Config{Addr: *addr, Partitions: *partitions, DataDir: *dataDir, Retention: *retention})
	}
	return c
}

// runBroker runs the broker until a signal stops it.
func runBroker(stdout, stderr io.Writer, logs logFlags, cfg broker.Config) error {
	log, err := logs.logger(stderr)
	if err != nil {
		return err
	}
	cfg.Logger = log
	b, err := broker.Start(cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "linger broker listening on %s\n", b.Addr())
	for _, t := range schemas.Topics {
		fmt.Fprintf(stdout, "  topic %-20s %d partitions  key: %s\n", t.Name, cfg.Partitions, t.Key)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	start := time.Now()
	b.Close()
	log.Info("broker stopped", "took", time.Since(start).Round(time.Millisecond))
	return nil
}
