package bench

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/lingerhq/linger/internal/kafkatest"
	"github.com/lingerhq/linger/schemas"
)

const benchPassword = "bench-pw-Zq7"

// secureCluster starts a kfake cluster that takes TLS with client
// certificates and SASL only (the user "bench" with each mechanism), with
// the events and invites topics.
func secureCluster(t *testing.T, certs *kafkatest.Certs) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.TLS(certs.ServerTLS(true)),
		kfake.EnableSASL(),
		kfake.Superuser("SCRAM-SHA-256", "bench", benchPassword),
		kfake.Superuser("SCRAM-SHA-512", "bench", benchPassword),
		kfake.Superuser("PLAIN", "bench", benchPassword),
		kfake.SeedTopics(2, schemas.TopicEvents, schemas.TopicInvites),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func clientTLS(t *testing.T, certs *kafkatest.Certs) *tls.Config {
	t.Helper()
	cfg, err := certs.ClientTLS()
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestLoadDriverOverTLSAndSASL runs every kafka-go client of a load run
// against a broker that takes TLS with client certificates and SASL only,
// with each mechanism: the metadata and offset requests of its client, its
// writer and its readers (each with a dialer of its own), and the group
// offsets that say how far the processor got.
func TestLoadDriverOverTLSAndSASL(t *testing.T) {
	certs, err := kafkatest.NewCerts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c := secureCluster(t, certs)
	addr := c.ListenAddrs()[0]
	for _, mech := range []string{"scram-sha-256", "scram-sha-512", "PLAIN"} {
		t.Run(mech, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			l, err := newLoad(LoadConfig{
				Brokers: []string{addr}, Duration: time.Second, Group: "g-" + mech,
				// Read back what is written: the events topic stands for
				// the processor's output.
				OutputTopic: schemas.TopicEvents,
				Security:    Security{TLS: clientTLS(t, certs), SASLMechanism: mech, User: "bench", Password: benchPassword},
			})
			if err != nil {
				t.Fatal(err)
			}
			defer l.close()
			if l.parts, err = l.partitions(ctx, schemas.TopicEvents); err != nil || len(l.parts) != 2 {
				t.Fatalf("partitions: %v, %v", l.parts, err)
			}
			if l.base, err = l.endOffsets(ctx, schemas.TopicEvents, l.parts); err != nil {
				t.Fatal(err)
			}
			readers, err := l.openReaders(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				for _, r := range readers {
					r.Close()
				}
			}()

			const n = 20
			w := l.writer()
			msgs := make([]kafka.Message, n)
			for i := range msgs {
				msgs[i] = kafka.Message{Key: []byte{byte('a' + i)}, Value: []byte(`{"v":1}`)}
			}
			l.queued.Add(n)
			if err := w.WriteMessages(ctx, msgs...); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil { // flushes
				t.Fatal(err)
			}
			if l.acked.Load() != n || l.failed.Load() != 0 {
				t.Fatalf("acked %d, failed %d of %d: %v", l.acked.Load(), l.failed.Load(), n, l.firstErr.Load())
			}

			ends, err := l.endOffsets(ctx, schemas.TopicEvents, l.parts)
			if err != nil {
				t.Fatal(err)
			}
			read := 0
			for i, r := range readers {
				for range ends[i] - l.base[i] {
					if _, err := r.ReadMessage(ctx); err != nil {
						t.Fatalf("reader of partition %d: %v", i, err)
					}
					read++
				}
			}
			if read != n {
				t.Fatalf("the readers read %d of %d messages", read, n)
			}

			// The processor's group commits (here with franz-go), the
			// driver reads its offsets.
			commitAll(t, addr, certs, l.cfg.Group)
			if done, err := l.committed(ctx); err != nil || done != n {
				t.Fatalf("committed: %d, %v; want %d", done, err, n)
			}
		})
	}
}

// commitAll commits the end offsets of the events topic for group, as a
// processor that has read everything would.
func commitAll(t *testing.T, addr string, certs *kafkatest.Certs, group string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DialTLSConfig(clientTLS(t, certs)),
		kgo.SASL(scram.Auth{User: "bench", Pass: benchPassword}.AsSha256Mechanism()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ends, err := adm.ListEndOffsets(ctx, schemas.TopicEvents)
	if err != nil {
		t.Fatal(err)
	}
	offs := kadm.Offsets{}
	ends.Each(func(o kadm.ListedOffset) { offs.AddOffset(o.Topic, o.Partition, o.Offset, -1) })
	if err := adm.CommitAllOffsets(ctx, group, offs); err != nil {
		t.Fatal(err)
	}
}

// TestLoadDriverSecurityErrors: a wrong password or an untrusted broker
// certificate fails the first request at once, saying which.
func TestLoadDriverSecurityErrors(t *testing.T) {
	certs, err := kafkatest.NewCerts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	other, err := kafkatest.NewCerts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	addr := secureCluster(t, certs).ListenAddrs()[0]
	for _, tc := range []struct {
		name string
		sec  Security
		want string
	}{
		{"wrong password", Security{TLS: clientTLS(t, certs), SASLMechanism: "scram-sha-256", User: "bench", Password: "wrong"}, `authentication failed? the brokers closed the connection (SASL SCRAM-SHA-256 as user "bench")`},
		{"unknown CA", Security{TLS: clientTLS(t, other), SASLMechanism: "scram-sha-256", User: "bench", Password: benchPassword}, "TLS handshake failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := newLoad(LoadConfig{Brokers: []string{addr}, Duration: time.Second, Security: tc.sec})
			if err != nil {
				t.Fatal(err)
			}
			defer l.close()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			start := time.Now()
			_, err = l.partitions(ctx, schemas.TopicEvents)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
			if took := time.Since(start); took > 10*time.Second {
				t.Errorf("the error took %v", took)
			}
			if strings.Contains(err.Error(), benchPassword) {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
	if _, err := newLoad(LoadConfig{Brokers: []string{addr}, Duration: time.Second, Security: Security{SASLMechanism: "gssapi"}}); err == nil || !strings.Contains(err.Error(), "gssapi") {
		t.Errorf("an unknown mechanism: %v", err)
	}
}
