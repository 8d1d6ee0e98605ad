package pipeline

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lingerhq/linger/internal/kafkatest"
	"github.com/lingerhq/linger/pipeline/broker"
	"github.com/lingerhq/linger/schemas"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// testPassword is the SASL password of the tests: a string that shows up
// in a grep of any log or page it leaks into.
const testPassword = "pw-Zq7-never-printed"

func newCerts(t *testing.T, hosts ...string) *kafkatest.Certs {
	t.Helper()
	c, err := kafkatest.NewCerts(t.TempDir(), hosts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// secureBroker starts the embedded broker with TLS (client certificates
// required when mtls) and, unless mechanism is "", SASL with the user
// "linger" and testPassword, and returns the security that reaches it.
// Its certificate must be for 127.0.0.1, or for serverName if given.
func secureBroker(t *testing.T, certs *kafkatest.Certs, mtls bool, mechanism string, serverName ...string) (*broker.Broker, Security) {
	t.Helper()
	sec := Security{CAFile: certs.CAFile}
	if len(serverName) > 0 {
		sec.ServerName = serverName[0]
	}
	if mtls {
		sec.CertFile, sec.KeyFile = certs.ClientCertFile, certs.ClientKeyFile
	}
	opts := []kfake.Opt{kfake.TLS(certs.ServerTLS(mtls))}
	if mechanism != "" {
		sec.SASLMechanism, sec.User, sec.Password = mechanism, "linger", testPassword
		opts = append(opts, kfake.EnableSASL(), kfake.Superuser(strings.ToUpper(mechanism), "linger", testPassword))
	}
	copts, err := sec.Opts()
	if err != nil {
		t.Fatal(err)
	}
	b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", Partitions: 2, Logger: kafkatest.Logger(t), Opts: opts, ClientOpts: copts})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b, sec
}

func clientOpts(t *testing.T, sec Security) []kgo.Opt {
	t.Helper()
	opts, err := sec.Opts()
	if err != nil {
		t.Fatal(err)
	}
	return opts
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestSecurityValidate: every mistake is reported, all at once, naming the
// flag and the file.
func TestSecurityValidate(t *testing.T) {
	certs := newCerts(t)
	key, _ := os.ReadFile(certs.ClientKeyFile)
	keyAsCA := writeFile(t, "key.pem", string(key))
	notPEM := writeFile(t, "ca.txt", "not a certificate\n")
	other := newCerts(t)
	for _, tc := range []struct {
		name string
		sec  Security
		want []string // substrings of the error; none: valid
	}{
		{"zero", Security{}, nil},
		{"tls only", Security{TLS: true}, nil},
		{"full", Security{CAFile: certs.CAFile, CertFile: certs.ClientCertFile, KeyFile: certs.ClientKeyFile, ServerName: "kafka", SASLMechanism: "scram-sha-512", User: "u", Password: "p"}, nil},
		{"mechanism as Kafka spells it", Security{SASLMechanism: "SCRAM-SHA-256", User: "u", Password: "p"}, nil},
		{"unknown mechanism", Security{SASLMechanism: "gssapi", User: "u", Password: "p"}, []string{`--sasl-mechanism "gssapi"`, "plain, scram-sha-256 or scram-sha-512"}},
		{"user without mechanism", Security{User: "u"}, []string{"without --sasl-mechanism"}},
		{"password without mechanism", Security{Password: "p"}, []string{"without --sasl-mechanism"}},
		{"mechanism without user or password", Security{SASLMechanism: "plain"}, []string{"needs --sasl-user", "needs a password", "LINGER_SASL_PASSWORD"}},
		{"cert without key", Security{CertFile: certs.ClientCertFile}, []string{"--tls-cert-file " + certs.ClientCertFile + " without --tls-key-file"}},
		{"key without cert", Security{KeyFile: certs.ClientKeyFile}, []string{"--tls-key-file " + certs.ClientKeyFile + " without --tls-cert-file"}},
		{"missing CA file", Security{CAFile: "/no/such/ca.pem"}, []string{"--tls-ca-file", "/no/such/ca.pem", "no such file"}},
		{"CA file not PEM", Security{CAFile: notPEM}, []string{"--tls-ca-file " + notPEM, "no PEM certificate"}},
		{"CA file holds a key", Security{CAFile: keyAsCA}, []string{"--tls-ca-file " + keyAsCA, `"EC PRIVATE KEY"`}},
		{"missing cert file", Security{CertFile: "/no/cert.pem", KeyFile: certs.ClientKeyFile}, []string{"--tls-cert-file", "/no/cert.pem"}},
		{"key of another cert", Security{CertFile: certs.ClientCertFile, KeyFile: other.ClientKeyFile}, []string{certs.ClientCertFile, other.ClientKeyFile, "private key does not match"}},
		{"every problem at once", Security{SASLMechanism: "md5", CertFile: certs.ClientCertFile, CAFile: notPEM}, []string{"md5", "without --tls-key-file", notPEM}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.sec.Validate()
			if tc.want == nil {
				if err != nil {
					t.Fatalf("valid, got %v", err)
				}
				if _, err := tc.sec.Opts(); err != nil {
					t.Fatalf("Opts: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want one naming %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if _, oerr := tc.sec.Opts(); oerr == nil {
				t.Error("Opts accepted what Validate rejects")
			}
		})
	}
}

// TestTLSConfig: TLS 1.2 at least, the CA file trusted on top of the
// system's roots, the client certificate and the server name, and no
// config at all without TLS.
func TestTLSConfig(t *testing.T) {
	certs := newCerts(t)
	if cfg, err := (&Security{SASLMechanism: "plain", User: "u", Password: "p"}).TLSConfig(); cfg != nil || err != nil {
		t.Fatalf("without TLS: %v, %v", cfg, err)
	}
	if cfg, err := (&Security{TLS: true}).TLSConfig(); err != nil || cfg == nil || cfg.RootCAs != nil || cfg.MinVersion != tls.VersionTLS12 {
		t.Fatalf("--tls alone: %+v, %v; want TLS 1.2+ with the system's roots", cfg, err)
	}
	sec := Security{CAFile: certs.CAFile, CertFile: certs.ClientCertFile, KeyFile: certs.ClientKeyFile, ServerName: "localhost"}
	if !sec.TLSEnabled() {
		t.Fatal("a CA file does not imply TLS")
	}
	cfg, err := sec.TLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MinVersion != tls.VersionTLS12 || cfg.ServerName != "localhost" || len(cfg.Certificates) != 1 {
		t.Fatalf("config: min version %x, server name %q, %d certificates", cfg.MinVersion, cfg.ServerName, len(cfg.Certificates))
	}
	srv := certs.ServerTLS(false).Certificates[0]
	leaf, err := x509.ParseCertificate(srv.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: cfg.RootCAs, DNSName: "localhost"}); err != nil {
		t.Fatalf("the broker's certificate does not verify against the roots: %v", err)
	}
	if system, err := x509.SystemCertPool(); err == nil && !system.Equal(x509.NewCertPool()) && cfg.RootCAs.Equal(x509.NewCertPool()) {
		t.Fatal("the system's roots are gone")
	}
}

// TestSecretDoesNotPrint: a Security printed with fmt, logged with slog
// (text and JSON) or encoded as JSON never shows the password.
func TestSecretDoesNotPrint(t *testing.T) {
	sec := Security{SASLMechanism: "scram-sha-256", User: "linger", Password: testPassword, CAFile: "/etc/ca.pem"}
	var out strings.Builder
	fmt.Fprintf(&out, "%v %+v %#v %s %v\n", sec, sec, sec, sec.Password, &sec)
	slog.New(slog.NewTextHandler(&out, nil)).Info("x", "security", sec, "password", sec.Password, "config", Config{Security: sec})
	slog.New(slog.NewJSONHandler(&out, nil)).Info("x", "security", sec, "password", sec.Password)
	b, err := json.Marshal(struct{ Security Security }{sec})
	if err != nil {
		t.Fatal(err)
	}
	out.Write(b)
	if strings.Contains(out.String(), testPassword) {
		t.Fatalf("the password is printed:\n%s", out.String())
	}
	for _, want := range []string{"[redacted]", "sasl=scram-sha-256", "user=linger", "ca_file=/etc/ca.pem"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if Secret("").String() != "" {
		t.Error("an empty secret prints as something")
	}
}

// TestRunOverTLSAndSASL runs the processor against a broker that takes
// TLS with client certificates and SASL only, with each mechanism, end to
// end: the decisions are those the same events give offline, and a second
// runner restores the first one's state from the changelog. Every client
// the runner opens (admin, group, restore) has to authenticate for that.
// The debug log (the Kafka client's too) and /metrics never show the
// password.
func TestRunOverTLSAndSASL(t *testing.T) {
	certs := newCerts(t)
	for _, mech := range []string{SASLScramSHA256, SASLScramSHA512, SASLPlain} {
		t.Run(mech, func(t *testing.T) {
			b, sec := secureBroker(t, certs, true, mech)
			opts := clientOpts(t, sec)
			invites := kafkatest.Collecting(t, b.Addr(), schemas.TopicInvites, opts...)
			logs := new(kafkatest.Logs)
			debugLog := func(c *Config) {
				c.Security = sec
				c.Logger = kafkatest.LoggerTo(t, logs, slog.LevelDebug)
			}
			r := startRunner(t, b.Addr(), debugLog)
			kafkatest.WaitFor(t, "ready", 15*time.Second, r.Ready)

			recs := kafkatest.Hesitators(0, 10)
			produce(t, newClient(t, b.Addr(), opts...), schemas.TopicEvents, recs)
			want := offline(recs)
			got := decisions(t, invites.WaitN(t, len(want), 15*time.Second))
			if len(want) == 0 || len(got) != len(want) {
				t.Fatalf("%d decisions, want %d (and some)", len(got), len(want))
			}
			for _, d := range got {
				if w := want[string(d.ID)]; w != fmt.Sprintf("%s %s %.4f", d.Action, d.Reason, d.Score) {
					t.Errorf("decision %s: got %s %s %.4f, offline %q", d.ID, d.Action, d.Reason, d.Score, w)
				}
			}
			metrics := scrapeMetrics(t, r)
			if err := r.stop(t); err != nil {
				t.Fatal(err)
			}

			r2 := startRunner(t, b.Addr(), debugLog)
			kafkatest.WaitFor(t, "ready again", 15*time.Second, r2.Ready)
			if n := testutilValue(r2.m.restoreRecord); n == 0 {
				t.Error("the second runner restored no state record")
			}
			metrics += scrapeMetrics(t, r2)
			if err := r2.stop(t); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(metrics, testPassword) || strings.Contains(logs.String(), testPassword) {
				t.Fatal("the password is in /metrics or in the log")
			}
		})
	}
}

func scrapeMetrics(t *testing.T, r *runningRunner) string {
	t.Helper()
	srv, err := ListenHTTP("127.0.0.1:0", r.reg, r.Healthy, r.Ready)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close(context.Background())
	resp, err := http.Get("http://" + srv.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(b), "linger_ready 1") {
		t.Errorf("/metrics of a ready runner lacks linger_ready 1")
	}
	return string(b)
}

// TestRunRejectsBadCredentials: a wrong password, an unknown user or a
// mechanism the user does not have stop the runner within seconds with
// ErrAuthentication, naming the mechanism and the user and never the
// password; it is never ready and reports itself unhealthy.
func TestRunRejectsBadCredentials(t *testing.T) {
	certs := newCerts(t)
	b, good := secureBroker(t, certs, false, SASLScramSHA256)
	for _, tc := range []struct {
		name string
		edit func(*Security)
	}{
		{"wrong password", func(s *Security) { s.Password = "wrong-" + testPassword }},
		{"unknown user", func(s *Security) { s.User = "nobody" }},
		{"other mechanism", func(s *Security) { s.SASLMechanism = SASLScramSHA512 }},
		{"plain, wrong password", func(s *Security) { s.SASLMechanism, s.Password = SASLPlain, "wrong-"+testPassword }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sec := good
			tc.edit(&sec)
			start := time.Now()
			r := startRunner(t, b.Addr(), func(c *Config) { c.Security = sec })
			select {
			case <-r.done:
			case <-time.After(10 * time.Second):
				t.Fatal("the runner still waits after 10s: a wrong password must fail fast")
			}
			if !errors.Is(r.err, ErrAuthentication) {
				t.Fatalf("Run: %v, want ErrAuthentication", r.err)
			}
			msg := r.err.Error()
			for _, want := range []string{"authentication", "SASL " + strings.ToUpper(sec.SASLMechanism), fmt.Sprintf("%q", sec.User)} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q lacks %q", msg, want)
				}
			}
			if strings.Contains(msg, "pw-Zq7") {
				t.Errorf("error shows the password: %s", msg)
			}
			if r.Ready() || r.Healthy() == nil {
				t.Errorf("ready %v, healthy %v after an authentication failure", r.Ready(), r.Healthy())
			}
			t.Logf("failed after %v: %v", time.Since(start).Round(time.Millisecond), r.err)
		})
	}
}

// TestRunRejectsBadTLS: a broker certificate from an unknown CA or for
// another name, and a missing client certificate, stop the runner at once
// with ErrTLS and a hint at the flag that fixes it; --tls-server-name
// names the certificate's host and makes the same broker reachable.
func TestRunRejectsBadTLS(t *testing.T) {
	certs := newCerts(t)
	mtls, _ := secureBroker(t, certs, true, "")
	other := newCerts(t)
	named := newCerts(t, "broker.linger.test")
	byName, _ := secureBroker(t, named, false, "", "broker.linger.test")
	for _, tc := range []struct {
		name string
		addr string
		sec  Security
		want string
	}{
		{"unknown CA", mtls.Addr(), Security{CAFile: other.CAFile, CertFile: other.ClientCertFile, KeyFile: other.ClientKeyFile}, "--tls-ca-file"},
		{"system roots only", mtls.Addr(), Security{TLS: true}, "unknown authority"},
		{"no client certificate", mtls.Addr(), Security{CAFile: certs.CAFile}, "--tls-cert-file"},
		{"another name", byName.Addr(), Security{CAFile: named.CAFile}, "--tls-server-name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := startRunner(t, tc.addr, func(c *Config) { c.Security = tc.sec })
			select {
			case <-r.done:
			case <-time.After(10 * time.Second):
				t.Fatal("the runner still waits after 10s")
			}
			if !errors.Is(r.err, ErrTLS) || !strings.Contains(r.err.Error(), tc.want) {
				t.Fatalf("Run: %v, want ErrTLS naming %q", r.err, tc.want)
			}
		})
	}
	t.Run("server name", func(t *testing.T) {
		r := startRunner(t, byName.Addr(), func(c *Config) {
			c.Security = Security{CAFile: named.CAFile, ServerName: "broker.linger.test"}
		})
		kafkatest.WaitFor(t, "ready", 15*time.Second, r.Ready)
	})
}
