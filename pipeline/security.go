package pipeline

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// Security is how linger's Kafka clients reach the brokers: TLS and SASL.
// The zero value is plaintext without authentication.
type Security struct {
	// TLS dials the brokers with TLS. Setting any of the files or the
	// server name implies it.
	TLS bool
	// CAFile is a PEM file of certificates to trust besides the system's
	// roots (a private CA).
	CAFile string
	// CertFile and KeyFile are the client certificate and its key, PEM,
	// for brokers that authenticate clients by certificate (mTLS). Both
	// or neither.
	CertFile, KeyFile string
	// ServerName is the name the brokers' certificates must carry.
	// Default: the host of the address dialed.
	ServerName string
	// SASLMechanism is "" (no SASL), plain, scram-sha-256 or
	// scram-sha-512 (any case). PLAIN sends the password as is: use it
	// with TLS only.
	SASLMechanism string
	// User and Password are the SASL credentials.
	User     string
	Password Secret
}

// Secret is a string that does not print: fmt, slog and encoders show
// "[redacted]" (or nothing, when it is empty), so a config that holds one
// can be logged whole.
type Secret string

const redacted = "[redacted]"

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString keeps %#v from printing the value.
func (s Secret) GoString() string { return `"` + s.String() + `"` }

// LogValue keeps slog from printing the value.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText keeps encoders (JSON, YAML) from printing the value.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// SASL mechanisms, as the flags spell them.
const (
	SASLPlain       = "plain"
	SASLScramSHA256 = "scram-sha-256"
	SASLScramSHA512 = "scram-sha-512"
)

// TLSEnabled reports whether the clients dial with TLS.
func (s *Security) TLSEnabled() bool {
	return s.TLS || s.CAFile != "" || s.CertFile != "" || s.KeyFile != "" || s.ServerName != ""
}

func (s *Security) mechanism() string { return strings.ToLower(strings.TrimSpace(s.SASLMechanism)) }

// Validate returns every problem with s at once, reading the files to
// check they hold what they should.
func (s *Security) Validate() error {
	var errs []error
	switch m := s.mechanism(); m {
	case "":
		if s.User != "" || s.Password != "" {
			errs = append(errs, errors.New("a SASL user or password without --sasl-mechanism: set it to plain, scram-sha-256 or scram-sha-512"))
		}
	case SASLPlain, SASLScramSHA256, SASLScramSHA512:
		if s.User == "" {
			errs = append(errs, fmt.Errorf("--sasl-mechanism %s needs --sasl-user", m))
		}
		if s.Password == "" {
			errs = append(errs, fmt.Errorf("--sasl-mechanism %s needs a password: --sasl-password-file or LINGER_SASL_PASSWORD", m))
		}
	default:
		errs = append(errs, fmt.Errorf("--sasl-mechanism %q: want plain, scram-sha-256 or scram-sha-512", s.SASLMechanism))
	}
	if s.CAFile != "" {
		if _, err := readCAFile(s.CAFile); err != nil {
			errs = append(errs, err)
		}
	}
	switch {
	case s.CertFile != "" && s.KeyFile == "":
		errs = append(errs, fmt.Errorf("--tls-cert-file %s without --tls-key-file", s.CertFile))
	case s.CertFile == "" && s.KeyFile != "":
		errs = append(errs, fmt.Errorf("--tls-key-file %s without --tls-cert-file", s.KeyFile))
	case s.CertFile != "":
		if _, err := loadKeyPair(s.CertFile, s.KeyFile); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// readCAFile returns the certificates of a PEM file, failing unless it
// holds at least one and nothing else.
func readCAFile(path string) ([]*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--tls-ca-file: %w", err)
	}
	var certs []*x509.Certificate
	n := 0
	for rest := b; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			if n > 0 && len(strings.TrimSpace(string(rest))) > 0 {
				return nil, fmt.Errorf("--tls-ca-file %s: not PEM after certificate %d", path, n)
			}
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("--tls-ca-file %s: a PEM block of type %q, want CERTIFICATE", path, block.Type)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("--tls-ca-file %s: certificate %d: %w", path, n+1, err)
		}
		certs = append(certs, cert)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("--tls-ca-file %s: no PEM certificate in it", path)
	}
	return certs, nil
}

func loadKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	for _, f := range []struct{ flag, path string }{{"--tls-cert-file", certFile}, {"--tls-key-file", keyFile}} {
		if _, err := os.Stat(f.path); err != nil {
			return tls.Certificate{}, fmt.Errorf("%s: %w", f.flag, err)
		}
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("--tls-cert-file %s, --tls-key-file %s: %w", certFile, keyFile, err)
	}
	return cert, nil
}

// TLSConfig returns the clients' TLS config (TLS 1.2 or later, the system's
// roots plus CAFile, the client certificate), or nil without TLS.
func (s *Security) TLSConfig() (*tls.Config, error) {
	if !s.TLSEnabled() {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: s.ServerName}
	if s.CAFile != "" {
		ca, err := readCAFile(s.CAFile)
		if err != nil {
			return nil, err
		}
		roots, err := x509.SystemCertPool()
		if err != nil {
			roots = x509.NewCertPool() // no system roots (a scratch image): the CA file alone
		}
		for _, c := range ca {
			roots.AddCert(c)
		}
		cfg.RootCAs = roots
	}
	if s.CertFile != "" || s.KeyFile != "" {
		if s.CertFile == "" || s.KeyFile == "" {
			return nil, errors.New("a client certificate needs both --tls-cert-file and --tls-key-file")
		}
		cert, err := loadKeyPair(s.CertFile, s.KeyFile)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// Mechanism returns the franz-go SASL mechanism, or nil without SASL.
func (s *Security) Mechanism() (sasl.Mechanism, error) {
	user, pass := s.User, string(s.Password)
	switch m := s.mechanism(); m {
	case "":
		return nil, nil
	case SASLPlain:
		return plain.Auth{User: user, Pass: pass}.AsMechanism(), nil
	case SASLScramSHA256:
		return scram.Auth{User: user, Pass: pass}.AsSha256Mechanism(), nil
	case SASLScramSHA512:
		return scram.Auth{User: user, Pass: pass}.AsSha512Mechanism(), nil
	default:
		return nil, fmt.Errorf("--sasl-mechanism %q: want plain, scram-sha-256 or scram-sha-512", s.SASLMechanism)
	}
}

// Opts returns the franz-go client options of s: DialTLSConfig and SASL.
func (s *Security) Opts() ([]kgo.Opt, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	var opts []kgo.Opt
	cfg, err := s.TLSConfig()
	if err != nil {
		return nil, err
	}
	if cfg != nil {
		opts = append(opts, kgo.DialTLSConfig(cfg))
	}
	m, err := s.Mechanism()
	if err != nil {
		return nil, err
	}
	if m != nil {
		opts = append(opts, kgo.SASL(m))
	}
	return opts, nil
}

// LogValue describes s for a log line, without the password.
func (s Security) LogValue() slog.Value {
	attrs := []slog.Attr{slog.Bool("tls", s.TLSEnabled())}
	if s.CAFile != "" {
		attrs = append(attrs, slog.String("ca_file", s.CAFile))
	}
	if s.CertFile != "" {
		attrs = append(attrs, slog.String("cert_file", s.CertFile))
	}
	if s.ServerName != "" {
		attrs = append(attrs, slog.String("server_name", s.ServerName))
	}
	if m := s.mechanism(); m != "" {
		attrs = append(attrs, slog.String("sasl", m), slog.String("user", s.User))
	} else {
		attrs = append(attrs, slog.String("sasl", "none"))
	}
	return slog.GroupValue(attrs...)
}

// Errors of connecting securely, which waiting does not fix: Run returns
// them at once, wrapped with what the client saw.
var (
	// ErrAuthentication: the brokers rejected the SASL credentials, or
	// cut the SASL exchange off (what brokers that do not answer
	// SASL_AUTHENTICATION_FAILED do on a wrong user or password).
	ErrAuthentication = errors.New("authentication with the Kafka brokers failed")
	// ErrTLS: the TLS handshake failed: the brokers' certificate does not
	// verify (unknown CA, another name, expired), the brokers refused
	// ours, or they do not speak TLS.
	ErrTLS = errors.New("TLS handshake with the Kafka brokers failed")
)

// explain returns ErrAuthentication or ErrTLS, with a hint and err, if err
// is one of them; nil otherwise. saslCut says a SASL exchange was cut off
// while err happened.
func (s *Security) explain(err error, saslCut bool) error {
	who := func() string { return fmt.Sprintf("SASL %s as user %q", strings.ToUpper(s.mechanism()), s.User) }
	var (
		unknownCA x509.UnknownAuthorityError
		badName   x509.HostnameError
		invalid   x509.CertificateInvalidError
		verify    *tls.CertificateVerificationError
		header    tls.RecordHeaderError
		op        *net.OpError
	)
	switch {
	case errors.Is(err, kerr.SaslAuthenticationFailed):
		return fmt.Errorf("%w (%s): check --sasl-mechanism, --sasl-user and the password: %w", ErrAuthentication, who(), err)
	case errors.Is(err, kerr.UnsupportedSaslMechanism), errors.Is(err, kerr.IllegalSaslState):
		return fmt.Errorf("%w (%s): the brokers do not offer this mechanism: %w", ErrAuthentication, who(), err)
	case saslCut && s.mechanism() != "":
		return fmt.Errorf("%w (%s): the brokers closed the connection during authentication, which they do on a wrong user or password: %w", ErrAuthentication, who(), err)
	case errors.As(err, &unknownCA):
		return fmt.Errorf("%w: the brokers' certificate is signed by an authority this replica does not trust: give its CA with --tls-ca-file: %w", ErrTLS, err)
	case errors.As(err, &badName):
		return fmt.Errorf("%w: the brokers' certificate is not for the address dialed: set --tls-server-name to the name it carries: %w", ErrTLS, err)
	case errors.As(err, &invalid), errors.As(err, &verify):
		return fmt.Errorf("%w: the brokers' certificate does not verify: %w", ErrTLS, err)
	case errors.As(err, &header):
		return fmt.Errorf("%w: the brokers do not answer in TLS: drop --tls, or dial their TLS listener: %w", ErrTLS, err)
	case errors.As(err, &op) && op.Op == "remote error" && s.TLSEnabled():
		// crypto/tls reports an alert the peer sent this way.
		return fmt.Errorf("%w: the brokers refused the handshake (a client certificate missing or not trusted? see --tls-cert-file): %w", ErrTLS, err)
	}
	return nil
}

// saslWatch notices SASL exchanges the brokers cut off. Apache Kafka
// answers a wrong password with SASL_AUTHENTICATION_FAILED, which the
// client returns as such; other brokers (older Kafka, kfake, some proxies)
// close the connection, which the client sees as an EOF and retries like a
// network failure.
type saslWatch struct{ cut atomic.Int64 }

func (w *saslWatch) OnBrokerRead(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if key == int16(kmsg.SASLAuthenticate) && err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, kgo.ErrClientClosed) {
		w.cut.Add(1)
	}
}
