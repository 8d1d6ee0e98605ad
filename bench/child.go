package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Child is the processor a bench run starts for itself: a `linger run`
// process of its own, so that its CPU and memory are its own and not the
// load generator's, with the end of its output kept to show if it fails.
// Whoever starts it stops it with Stop.
type Child struct {
	cmd        *exec.Cmd
	exited     chan struct{} // closed once the process is waited for
	logs       *tailBuffer
	addr       string // host:port of its /metrics and /readyz
	stopWithin time.Duration
	stopOnce   sync.Once
	stopErr    error
}

// ChildConfig is how to start a Child.
type ChildConfig struct {
	// Path is the linger binary. Required.
	Path string
	// Args are its arguments, "run" first; StartChild adds --http with a
	// free loopback port.
	Args []string
	// ReadyWithin bounds the wait for its /readyz. Default: 60s.
	ReadyWithin time.Duration
	// StopWithin bounds the wait for it to exit on SIGTERM before it is
	// killed. Default: 15s.
	StopWithin time.Duration
	// LogBytes is how much of the end of its output is kept. Default:
	// 64 KiB.
	LogBytes int
}

// StartChild starts the process cfg describes, serving /metrics and
// /readyz on a free loopback port, and waits until /readyz answers 200.
// If it exits first, is not ready in time or ctx ends, it is stopped and
// the error holds the end of its output.
func StartChild(ctx context.Context, cfg ChildConfig) (*Child, error) {
	if cfg.Path == "" {
		return nil, errors.New("no linger binary to start the processor from")
	}
	if cfg.ReadyWithin <= 0 {
		cfg.ReadyWithin = 60 * time.Second
	}
	if cfg.StopWithin <= 0 {
		cfg.StopWithin = 15 * time.Second
	}
	if cfg.LogBytes <= 0 {
		cfg.LogBytes = 64 << 10
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	c := &Child{exited: make(chan struct{}), logs: &tailBuffer{max: cfg.LogBytes},
		addr: net.JoinHostPort("127.0.0.1", port), stopWithin: cfg.StopWithin}
	args := append(append([]string(nil), cfg.Args...), "--http", c.addr)
	c.cmd = exec.Command(cfg.Path, args...)
	c.cmd.Stdout, c.cmd.Stderr = c.logs, c.logs
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the processor: %w", err)
	}
	go func() { _ = c.cmd.Wait(); close(c.exited) }()
	if err := c.waitReady(ctx, cfg.ReadyWithin); err != nil {
		_ = c.Stop()
		return nil, err
	}
	return c, nil
}

// MetricsURL is the child's /metrics, for LoadConfig.Metrics.
func (c *Child) MetricsURL() string { return "http://" + c.addr + "/metrics" }

// Pid is the child's process id.
func (c *Child) Pid() int { return c.cmd.Process.Pid }

// waitReady polls the child's /readyz until it answers 200.
func (c *Child) waitReady(ctx context.Context, within time.Duration) error {
	// A transport of its own, closed at the end: no idle connection to
	// the child outlives the wait.
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: time.Second}
	deadline := time.Now().Add(within)
	url := "http://" + c.addr + "/readyz"
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c.exited:
			return fmt.Errorf("the processor exited before it was ready (%v); its log:\n%s", c.cmd.ProcessState, c.logs.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the processor was not ready within %v; its log:\n%s", within, c.logs.String())
		}
	}
}

// Stop ends the child with SIGTERM (a graceful shutdown: it commits and
// leaves its group), killing it if that takes longer than
// ChildConfig.StopWithin. An unclean exit is an error that holds the end
// of its output. Stop is safe to call more than once.
func (c *Child) Stop() error {
	c.stopOnce.Do(func() {
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.exited:
		case <-time.After(c.stopWithin):
			_ = c.cmd.Process.Kill()
			<-c.exited
		}
		if st := c.cmd.ProcessState; st != nil && !st.Success() {
			c.stopErr = fmt.Errorf("the processor exited with %v; its log:\n%s", st, c.logs.String())
		}
	})
	return c.stopErr
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	_, port, err := net.SplitHostPort(ln.Addr().String())
	return port, err
}

// tailBuffer keeps the last max bytes written to it: a child's output,
// shown if it fails.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
