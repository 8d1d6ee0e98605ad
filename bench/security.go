package bench

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// Security is how the load driver's kafka-go clients reach the brokers.
// The zero value is plaintext without authentication. The caller reads
// files and checks them (cmd/linger does, with pipeline.Security): here
// are only the values kafka-go needs.
type Security struct {
	// TLS, if set, dials the brokers with TLS.
	TLS *tls.Config
	// SASLMechanism is "" (none), plain, scram-sha-256 or scram-sha-512
	// (any case).
	SASLMechanism string
	User          string
	Password      string
}

func (s Security) enabled() bool { return s.TLS != nil || s.SASLMechanism != "" }

// mechanism returns the kafka-go SASL mechanism, or nil without SASL.
func (s Security) mechanism() (sasl.Mechanism, error) {
	switch m := strings.ToLower(strings.TrimSpace(s.SASLMechanism)); m {
	case "":
		return nil, nil
	case "plain":
		return plain.Mechanism{Username: s.User, Password: s.Password}, nil
	case "scram-sha-256":
		return scram.Mechanism(scram.SHA256, s.User, s.Password)
	case "scram-sha-512":
		return scram.Mechanism(scram.SHA512, s.User, s.Password)
	default:
		return nil, fmt.Errorf("SASL mechanism %q: want plain, scram-sha-256 or scram-sha-512", s.SASLMechanism)
	}
}

// dialTimeout bounds a connection's dial, TLS handshake and SASL exchange.
const dialTimeout = 10 * time.Second

// transport returns the transport of the run's client and writers: the
// run's own, which it closes when it ends, so that no connection outlives
// it; with TLS and SASL when they are set.
func (s Security) transport() (*kafka.Transport, error) {
	t := &kafka.Transport{
		Dial:        (&net.Dialer{Timeout: dialTimeout}).DialContext,
		DialTimeout: dialTimeout,
	}
	if !s.enabled() {
		return t, nil
	}
	m, err := s.mechanism()
	if err != nil {
		return nil, err
	}
	t.TLS, t.SASL = s.TLS, m
	return t, nil
}

// dialer returns the readers' dialer: nil (kafka-go's default) without
// security.
func (s Security) dialer() (*kafka.Dialer, error) {
	if !s.enabled() {
		return nil, nil
	}
	m, err := s.mechanism()
	if err != nil {
		return nil, err
	}
	return &kafka.Dialer{Timeout: dialTimeout, DualStack: true, TLS: s.TLS, SASLMechanism: m}, nil
}

// explain adds what a failed first request says about the security
// settings: credentials or certificates the brokers rejected. Other errors
// come back as they are.
func (s Security) explain(err error) error {
	who := fmt.Sprintf("SASL %s as user %q", strings.ToUpper(s.SASLMechanism), s.User)
	var (
		unknownCA x509.UnknownAuthorityError
		badName   x509.HostnameError
	)
	switch {
	case errors.Is(err, kafka.SASLAuthenticationFailed):
		return fmt.Errorf("authentication failed (%s): %w", who, err)
	case s.SASLMechanism != "" && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)):
		return fmt.Errorf("authentication failed? the brokers closed the connection (%s), which some brokers do on a wrong user or password: %w", who, err)
	case errors.As(err, &unknownCA):
		return fmt.Errorf("TLS handshake failed: the brokers' certificate is signed by an authority not trusted (--tls-ca-file): %w", err)
	case errors.As(err, &badName):
		return fmt.Errorf("TLS handshake failed: the brokers' certificate is for another name (--tls-server-name): %w", err)
	}
	return err
}
