package kafkatest

import (
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lingerhq/linger/pipeline/broker"
)

// StartBroker starts the embedded broker with cfg on a free loopback port
// (cfg.Addr is ignored), every topic created, logging to the test, and
// closes it when the test ends.
func StartBroker(t testing.TB, cfg broker.Config) *broker.Broker {
	t.Helper()
	cfg.Addr = "127.0.0.1:0"
	if cfg.Logger == nil {
		cfg.Logger = Logger(t)
	}
	b, err := broker.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// Logger returns a logger that writes to the test's log at info level
// (for benchmarks, nowhere unless LINGER_TEST_LOG is set).
func Logger(t testing.TB) *slog.Logger { return LoggerTo(t, nil, slog.LevelInfo) }

// LoggerTo is Logger at level, also writing to logs (if not nil), for
// tests that read them.
func LoggerTo(t testing.TB, logs *Logs, level slog.Level) *slog.Logger {
	var out io.Writer = testWriter{t}
	if _, ok := t.(*testing.B); ok && os.Getenv("LINGER_TEST_LOG") == "" {
		out = io.Discard
	}
	if logs != nil {
		out = io.MultiWriter(out, logs)
	}
	return slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: level}))
}

// Logs keeps what a logger wrote, safe to read while it writes.
type Logs struct {
	mu sync.Mutex
	b  strings.Builder
}

// Write implements io.Writer.
func (l *Logs) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(b)
}

// String returns everything written so far.
func (l *Logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// WaitFor polls ok every 20 ms until it holds, and fails the test if it
// does not within timeout. Keep timeouts generous: CI machines are shared.
func WaitFor(t testing.TB, what string, timeout time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
