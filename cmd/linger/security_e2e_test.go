package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lingerhq/linger/internal/kafkatest"
	"github.com/lingerhq/linger/pipeline"
	"github.com/lingerhq/linger/pipeline/broker"
	"github.com/lingerhq/linger/schemas"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// e2ePassword is the SASL password of these tests, a string a grep finds
// wherever it leaks.
const e2ePassword = "e2e-pw-Qx9-secret"

// secureBroker starts the embedded broker in the test process, taking TLS
// with client certificates and SASL only: the user "linger" with
// e2ePassword, with SCRAM-SHA-256 and SCRAM-SHA-512. It returns its
// address, the certificates, and the flags that reach it (without the
// password).
func secureBroker(t *testing.T, partitions int) (string, *kafkatest.Certs, []string) {
	t.Helper()
	certs, err := kafkatest.NewCerts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sec := pipeline.Security{CAFile: certs.CAFile, CertFile: certs.ClientCertFile, KeyFile: certs.ClientKeyFile,
		SASLMechanism: "scram-sha-256", User: "linger", Password: e2ePassword}
	opts, err := sec.Opts()
	if err != nil {
		t.Fatal(err)
	}
	b, err := broker.Start(broker.Config{
		Addr: "127.0.0.1:0", Partitions: partitions, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Opts: []kfake.Opt{kfake.TLS(certs.ServerTLS(true)), kfake.EnableSASL(),
			kfake.Superuser("SCRAM-SHA-256", "linger", e2ePassword), kfake.Superuser("SCRAM-SHA-512", "linger", e2ePassword)},
		ClientOpts: opts,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	flags := []string{"--brokers", b.Addr(), "--tls-ca-file", certs.CAFile, "--tls-cert-file", certs.ClientCertFile,
		"--tls-key-file", certs.ClientKeyFile, "--sasl-user", "linger"}
	return b.Addr(), certs, flags
}

// secureClientOpts are a test client's options for secureBroker.
func secureClientOpts(t *testing.T, certs *kafkatest.Certs) []kgo.Opt {
	t.Helper()
	sec := pipeline.Security{CAFile: certs.CAFile, CertFile: certs.ClientCertFile, KeyFile: certs.ClientKeyFile,
		SASLMechanism: "scram-sha-512", User: "linger", Password: e2ePassword}
	opts, err := sec.Opts()
	if err != nil {
		t.Fatal(err)
	}
	return opts
}

func passwordFile(t *testing.T, pw string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kafka-password")
	// As `kubectl create secret` or an editor writes it: a final newline.
	if err := os.WriteFile(path, []byte(pw+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestRunOverTLSAndSCRAM runs `linger run` as a process against a broker
// that takes TLS with client certificates and SCRAM only, with the
// password in a file: it processes events end to end, logs how it
// connects (TLS, mechanism, user), and the password is nowhere in its
// output (at debug level, the Kafka client's lines too) or its /metrics.
// With the password in LINGER_SASL_PASSWORD and SCRAM-SHA-512 it gets
// ready too.
func TestRunOverTLSAndSCRAM(t *testing.T) {
	addr, certs, flags := secureBroker(t, 4)
	args := append([]string{"run", "--http", "127.0.0.1:0", "--group", "e2e-tls", "--log-level", "debug",
		"--sasl-mechanism", "scram-sha-256", "--sasl-password-file", passwordFile(t, e2ePassword)}, flags...)
	runner := start(t, nil, args...)
	httpAddr := runner.waitOutput(t, `addr=http://(127\.0\.0\.1:\d+)`, 20*time.Second)[1]
	waitReady(t, "http://"+httpAddr+"/readyz")

	opts := secureClientOpts(t, certs)
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	keys, values := hesitatingSessions(10, time.Now().Add(-2*time.Minute).UnixMilli())
	var recs []*kgo.Record
	for i := range keys {
		recs = append(recs, &kgo.Record{Topic: schemas.TopicEvents, Key: keys[i], Value: values[i]})
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	got := readInvites(t, addr, 10, opts...)
	for _, d := range got {
		if d.Action != schemas.ActionInvite || d.Reason != schemas.ReasonAbandonment {
			t.Errorf("decision %s: %s %s, want an abandonment invite", d.ID, d.Action, d.Reason)
		}
	}
	_, metrics := httpGet(t, "http://"+httpAddr+"/metrics")
	if !strings.Contains(metrics, `linger_invites_total{reason="abandonment"} 10`) {
		t.Errorf("/metrics does not count the 10 invites")
	}
	runner.stop(t, 10*time.Second)
	out := runner.output()
	for _, want := range []string{"kafka.tls=true", "kafka.sasl=scram-sha-256", "kafka.user=linger", "left the group"} {
		if !strings.Contains(out, want) {
			t.Errorf("the log lacks %q", want)
		}
	}
	if strings.Contains(out, e2ePassword) || strings.Contains(metrics, e2ePassword) {
		t.Fatal("the password is in the log or in /metrics")
	}

	t.Run("password from the environment", func(t *testing.T) {
		r := start(t, []string{"LINGER_SASL_PASSWORD=" + e2ePassword},
			append([]string{"run", "--http", "127.0.0.1:0", "--group", "e2e-env", "--sasl-mechanism", "SCRAM-SHA-512"}, flags...)...)
		httpAddr := r.waitOutput(t, `addr=http://(127\.0\.0\.1:\d+)`, 20*time.Second)[1]
		waitReady(t, "http://"+httpAddr+"/readyz")
		r.stop(t, 10*time.Second)
		if strings.Contains(r.output(), e2ePassword) {
			t.Fatal("the password is in the log")
		}
	})
}

// TestRunRefusedExits: a wrong password or a broker certificate from an
// unknown CA end `linger run` within seconds with exit code 1 and an
// error that says what failed, never the password.
func TestRunRefusedExits(t *testing.T) {
	_, _, flags := secureBroker(t, 2)
	other, err := kafkatest.NewCerts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		env   []string
		extra []string
		want  string
	}{
		{"wrong password", []string{"LINGER_SASL_PASSWORD=wrong-" + e2ePassword}, []string{"--sasl-mechanism", "scram-sha-256"},
			`authentication with the Kafka brokers failed (SASL SCRAM-SHA-256 as user "linger")`},
		{"unknown CA", []string{"LINGER_SASL_PASSWORD=" + e2ePassword}, []string{"--sasl-mechanism", "scram-sha-256", "--tls-ca-file", other.CAFile},
			"TLS handshake with the Kafka brokers failed: the brokers' certificate is signed by an authority this replica does not trust"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The flag given last wins.
			args := append(append([]string{"run", "--http", "127.0.0.1:0"}, flags...), tc.extra...)
			start := time.Now()
			code, out := runEnv(t, tc.env, args...)
			if code != 1 || !strings.Contains(out, tc.want) {
				t.Fatalf("exit %d, want 1 and %q:\n%s", code, tc.want, out)
			}
			if took := time.Since(start); took > 15*time.Second {
				t.Errorf("took %v to give up", took)
			}
			if strings.Contains(out, "Qx9") {
				t.Errorf("the output shows the password:\n%s", out)
			}
		})
	}
}

// TestSecurityFlagErrors: mistakes in the TLS and SASL flags fail before
// anything connects, naming the flag or file, never echoing the password.
func TestSecurityFlagErrors(t *testing.T) {
	certs, err := kafkatest.NewCerts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	empty := passwordFile(t, "")
	pwFile := passwordFile(t, e2ePassword)
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		code int
		want string
	}{
		{"unknown mechanism", []string{"LINGER_SASL_PASSWORD=" + e2ePassword}, []string{"run", "--brokers", "x:1", "--sasl-mechanism", "md5", "--sasl-user", "u"}, 1, `--sasl-mechanism "md5"`},
		{"password without mechanism", []string{"LINGER_SASL_PASSWORD=" + e2ePassword}, []string{"run", "--brokers", "x:1"}, 1, "without --sasl-mechanism"},
		{"no password", nil, []string{"run", "--brokers", "x:1", "--sasl-mechanism", "plain", "--sasl-user", "u"}, 1, "LINGER_SASL_PASSWORD"},
		{"empty password file", nil, []string{"run", "--brokers", "x:1", "--sasl-mechanism", "plain", "--sasl-user", "u", "--sasl-password-file", empty}, 1, "is empty"},
		{"missing password file", nil, []string{"run", "--brokers", "x:1", "--sasl-mechanism", "plain", "--sasl-user", "u", "--sasl-password-file", "/no/such/pw"}, 1, "--sasl-password-file: open /no/such/pw"},
		{"every problem at once", nil, []string{"run", "--brokers", "x:1", "--sasl-mechanism", "plain", "--sasl-password-file", "/no/such/pw", "--tls-cert-file", certs.ClientCertFile}, 1, "open /no/such/pw: no such file or directory\n--sasl-mechanism plain needs --sasl-user\n--tls-cert-file " + certs.ClientCertFile + " without --tls-key-file"},
		{"password twice", []string{"LINGER_SASL_PASSWORD=" + e2ePassword}, []string{"run", "--brokers", "x:1", "--sasl-mechanism", "plain", "--sasl-user", "u", "--sasl-password-file", pwFile}, 1, "use one"},
		{"cert without key", nil, []string{"run", "--brokers", "x:1", "--tls-cert-file", certs.ClientCertFile}, 1, "without --tls-key-file"},
		{"CA file is a key", nil, []string{"run", "--brokers", "x:1", "--tls-ca-file", certs.ClientKeyFile}, 1, "--tls-ca-file " + certs.ClientKeyFile},
		{"flags from the environment", []string{"LINGER_TLS_CERT_FILE=" + certs.ClientCertFile}, []string{"run", "--brokers", "x:1"}, 1, "without --tls-key-file"},
		{"embedded bench", nil, []string{"bench", "--sasl-mechanism", "plain"}, 1, "are for --brokers"},
		{"bench with --brokers", []string{"LINGER_SASL_PASSWORD=" + e2ePassword}, []string{"bench", "--brokers", "x:1", "--sasl-mechanism", "gssapi", "--sasl-user", "u"}, 1, `--sasl-mechanism "gssapi"`},
		{"no --sasl-password flag", nil, []string{"run", "--brokers", "x:1", "--sasl-password", e2ePassword}, 2, "unknown flag --sasl-password (did you mean --sasl-password-file?)"},
		{"run --help", nil, []string{"run", "--help"}, 0, "--sasl-password-file string  [LINGER_SASL_PASSWORD_FILE]"},
		{"bench --help", nil, []string{"bench", "--help"}, 0, "--tls-ca-file string  [LINGER_TLS_CA_FILE]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := runEnv(t, tc.env, tc.args...)
			if code != tc.code || !strings.Contains(out, tc.want) {
				t.Fatalf("exit %d, want %d and %q:\n%s", code, tc.code, tc.want, out)
			}
			if strings.Contains(out, e2ePassword) {
				t.Errorf("the output shows the password:\n%s", out)
			}
		})
	}
}

// TestBenchOverTLSAndSCRAM drives `linger run` with `linger bench
// --brokers` through a broker that takes TLS with client certificates and
// SCRAM only: the kafka-go producer, readers and offset requests of the
// bench, and the processor's franz-go clients, all authenticate.
func TestBenchOverTLSAndSCRAM(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the bench for some seconds")
	}
	_, _, flags := secureBroker(t, 2)
	pw := []string{"LINGER_SASL_PASSWORD=" + e2ePassword}
	r := start(t, pw, append([]string{"run", "--http", "127.0.0.1:0", "--group", "bench-tls", "--sasl-mechanism", "scram-sha-256"}, flags...)...)
	base := r.waitOutput(t, `addr=(http://127\.0\.0\.1:\d+)`, 20*time.Second)[1]
	waitReady(t, base+"/readyz")
	jsonPath := filepath.Join(t.TempDir(), "bench.json")
	ctx, cancel := contextWithTimeout(2 * time.Minute)
	defer cancel()
	code, out := runCtx(ctx, t, pw, append([]string{"bench", "--group", "bench-tls", "--metrics", base + "/metrics",
		"--sasl-mechanism", "scram-sha-512", "--rate", "1000", "--duration", "2s", "--warmup", "1s", "--history", "1m",
		"--quiet", "--json", jsonPath}, flags...)...)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	res := readBenchJSON(t, jsonPath)
	if res.AchievedEPS < 0.9*res.OfferedEPS || res.Latency.Count == 0 {
		t.Errorf("achieved %.0f of %.0f events/s, %d latencies", res.AchievedEPS, res.OfferedEPS, res.Latency.Count)
	}
	if strings.Contains(out, e2ePassword) || strings.Contains(r.output(), e2ePassword) {
		t.Error("the password is in the output")
	}
}
