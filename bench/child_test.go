package bench

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// startTestChild starts this test binary as a Child in the given mode (see
// childMain).
func startTestChild(t *testing.T, mode string, cfg ChildConfig) (*Child, error) {
	t.Helper()
	t.Setenv("BENCH_TEST_CHILD", mode)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Path, cfg.Args = exe, []string{"run", "--brokers", "127.0.0.1:1"}
	return StartChild(context.Background(), cfg)
}

func TestChildReadyAndStopped(t *testing.T) {
	c, err := startTestChild(t, "ready", ChildConfig{})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(strings.TrimSuffix(c.MetricsURL(), "/metrics") + "/readyz")
	if err != nil {
		t.Fatalf("the child is said to be ready, but: %v", err)
	}
	resp.Body.Close()
	http.DefaultClient.CloseIdleConnections()
	if c.Pid() <= 0 {
		t.Errorf("pid %d", c.Pid())
	}
	if err := c.Stop(); err != nil {
		t.Fatalf("a clean exit on SIGTERM: %v", err)
	}
	if err := c.Stop(); err != nil {
		t.Fatalf("Stop again: %v", err)
	}
}

func TestChildExitsBeforeReady(t *testing.T) {
	_, err := startTestChild(t, "fail", ChildConfig{})
	if err == nil || !strings.Contains(err.Error(), "exited before it was ready") || !strings.Contains(err.Error(), "no brokers") {
		t.Fatalf("want an error with the child's log, got %v", err)
	}
}

func TestChildNeverReady(t *testing.T) {
	start := time.Now()
	_, err := startTestChild(t, "never", ChildConfig{ReadyWithin: 500 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "not ready within 500ms") || !strings.Contains(err.Error(), "child never") {
		t.Fatalf("want a time-out with the child's log, got %v", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("gave up after %v", took)
	}
}

func TestChildUncleanExit(t *testing.T) {
	c, err := startTestChild(t, "unclean", ChildConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(); err == nil || !strings.Contains(err.Error(), "lost the transaction") {
		t.Fatalf("want the unclean exit with the child's log, got %v", err)
	}
}

func TestTailBuffer(t *testing.T) {
	b := &tailBuffer{max: 8}
	for _, s := range []string{"abc", "defgh", "ijk"} {
		if n, err := b.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	if got := b.String(); got != "defghijk" {
		t.Fatalf("kept %q, want the last 8 bytes defghijk", got)
	}
}
