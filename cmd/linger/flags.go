package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/lingerhq/linger/pipeline"
	"github.com/spf13/pflag"
)

// byteSize is a flag value of bytes that reads 268435456, 256MiB, 256M or
// 1GiB.
type byteSize int

func (b *byteSize) String() string { return formatBytes(int64(*b)) }
func (b *byteSize) Type() string   { return "bytes" }
func (b *byteSize) worded()        {}

func (b *byteSize) Set(s string) error {
	n, err := parseBytes(s)
	if err != nil {
		return err
	}
	*b = byteSize(n)
	return nil
}

func parseBytes(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > (1<<50)/mult {
		return 0, fmt.Errorf("%q is not a size (e.g. 256MiB, 1GiB, 268435456)", s)
	}
	return n * mult, nil
}

func formatBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	default:
		return strconv.FormatInt(n, 10)
	}
}

// listFlag is a comma-separated list flag. Its values are registered
// with list, which names what the list holds.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Type() string   { return "list" }

func (l *listFlag) Set(s string) error {
	*l = nil
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

// namedList is a listFlag whose help names what it holds: brokers, urls.
type namedList struct {
	*listFlag
	typ string
}

func (n namedList) Type() string { return n.typ }

// list is l as a flag value whose type reads typ in the help.
func list(l *listFlag, typ string) pflag.Value { return namedList{l, typ} }

// logFlags are the logging flags every long-running command has.
type logFlags struct {
	level  string
	format string
}

func (l *logFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&l.level, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&l.format, "log-format", "text", "log format: text or json")
}

func (l *logFlags) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(l.level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", l.level)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch l.format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", l.format)
}

// securityFlags are the TLS and SASL flags of every command that takes
// --brokers.
type securityFlags struct {
	tls          bool
	caFile       string
	certFile     string
	keyFile      string
	serverName   string
	mechanism    string
	user         string
	passwordFile string
}

// envSASLPassword holds the SASL password when no file does. There is no
// --sasl-password flag: a command line is visible to every user of the
// machine (ps, /proc).
const envSASLPassword = "LINGER_SASL_PASSWORD"

func (s *securityFlags) register(fs *pflag.FlagSet) {
	fs.BoolVar(&s.tls, "tls", false, "connect to the brokers with TLS (implied by any --tls-* flag)")
	fs.StringVar(&s.caFile, "tls-ca-file", "", "PEM file of the CA certificates that sign the brokers' certificates, trusted besides the system's")
	fs.StringVar(&s.certFile, "tls-cert-file", "", "PEM file of the client certificate, for brokers that require one (with --tls-key-file)")
	fs.StringVar(&s.keyFile, "tls-key-file", "", "PEM file of the client certificate's private key")
	fs.StringVar(&s.serverName, "tls-server-name", "", "the name the brokers' certificates carry, if not the host dialed")
	fs.StringVar(&s.mechanism, "sasl-mechanism", "", "SASL authentication: plain, scram-sha-256 or scram-sha-512 (plain only with TLS: it sends the password as is)")
	fs.StringVar(&s.user, "sasl-user", "", "SASL user name")
	fs.StringVar(&s.passwordFile, "sasl-password-file", "", "file holding the SASL password (one line); or set the password in "+envSASLPassword)
}

// security returns the flags as a pipeline.Security, with the password
// read from its file or the environment, checked.
func (s *securityFlags) security() (pipeline.Security, error) {
	sec := pipeline.Security{
		TLS: s.tls, CAFile: s.caFile, CertFile: s.certFile, KeyFile: s.keyFile, ServerName: s.serverName,
		SASLMechanism: s.mechanism, User: s.user,
	}
	var pwErr error
	env, inEnv := os.LookupEnv(envSASLPassword)
	switch {
	case s.passwordFile != "" && inEnv:
		pwErr = fmt.Errorf("both --sasl-password-file and %s are set: use one", envSASLPassword)
	case s.passwordFile != "":
		b, err := os.ReadFile(s.passwordFile)
		if err != nil {
			pwErr = fmt.Errorf("--sasl-password-file: %w", err)
			break
		}
		// The file's last line break is not part of the password.
		pw := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
		if pw == "" {
			pwErr = fmt.Errorf("--sasl-password-file %s is empty", s.passwordFile)
		}
		sec.Password = pipeline.Secret(pw)
	case inEnv:
		sec.Password = pipeline.Secret(env)
	}
	check := sec
	if pwErr != nil {
		check.Password = "-" // its problem is said already, not again as missing
	}
	return sec, errors.Join(pwErr, check.Validate())
}

// set reports whether any TLS or SASL flag (or the password's variable)
// is set.
func (s *securityFlags) set() bool {
	_, inEnv := os.LookupEnv(envSASLPassword)
	return *s != securityFlags{} || inEnv
}
