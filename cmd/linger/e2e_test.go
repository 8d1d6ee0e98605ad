package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lingerhq/linger/schemas"
	"github.com/lingerhq/linger/scoring"
	"github.com/twmb/franz-go/pkg/kgo"
)

// binary is the linger binary built once for the end-to-end tests, which run
// it as a user would: as separate processes talking Kafka over loopback.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "linger-e2e")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "linger")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building linger: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running linger process with its output captured.
type proc struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	out    bytes.Buffer // stdout and stderr, interleaved
	exited chan struct{}
	err    error
}

type lockedWriter struct{ p *proc }

func (w lockedWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.p.out.Write(b)
}

func start(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(binary, args...), exited: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = lockedWriter{p}, lockedWriter{p}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("output of linger %s:\n%s", strings.Join(args, " "), p.output())
		}
	})
	return p
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// waitOutput waits for a line matching re and returns its submatches.
func (p *proc) waitOutput(t *testing.T, re string, timeout time.Duration) []string {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if m := rx.FindStringSubmatch(p.output()); m != nil {
			return m
		}
		select {
		case <-p.exited:
			if m := rx.FindStringSubmatch(p.output()); m != nil {
				return m
			}
			t.Fatalf("linger exited (%v) before printing %q", p.err, re)
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("no output matching %q within %v", re, timeout)
	return nil
}

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop(t *testing.T, within time.Duration) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		if p.err != nil {
			t.Fatalf("linger exited with %v after SIGTERM", p.err)
		}
	case <-time.After(within):
		// SIGQUIT makes the Go runtime print every goroutine's stack, so
		// the output logged at cleanup shows where it hung.
		p.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-p.exited:
		case <-time.After(5 * time.Second):
		}
		t.Fatalf("linger did not exit within %v of SIGTERM (its goroutines, from SIGQUIT, are in its output below)", within)
	}
}

// run runs linger to completion and returns its exit code and output.
func run(t *testing.T, args ...string) (int, string) {
	t.Helper()
	return runEnv(t, nil, args...)
}

func runEnv(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := contextWithTimeout(time.Minute)
	defer cancel()
	return runCtx(ctx, t, env, args...)
}

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

// runCtx runs linger to completion, or until ctx ends, and returns its exit
// code and output.
func runCtx(ctx context.Context, t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, string(out)
}

func startBroker(t *testing.T, partitions int) string {
	t.Helper()
	b := start(t, nil, "broker", "--addr", "127.0.0.1:0", "--partitions", fmt.Sprint(partitions))
	return b.waitOutput(t, `listening on (127\.0\.0\.1:\d+)`, 20*time.Second)[1]
}

// waitReady polls a replica's /readyz until it answers 200.
func waitReady(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if code, _ := httpGet(t, url); code == 200 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never became ready", url)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// hesitatingSessions writes n sessions that each end in an abandonment
// invite: a full cart at checkout, silence, exit intents.
func hesitatingSessions(n int, t0 int64) (keys, values [][]byte) {
	page := schemas.Page{URL: []byte("/checkout/payment"), Kind: schemas.KindCheckout}
	for i := range n {
		s := fmt.Appendf(nil, "e2e-%03d", i)
		for _, ev := range []schemas.Event{
			{Type: schemas.TypePageView, Page: page, TS: t0},
			{Type: schemas.TypeCart, CartAction: schemas.CartAdd, Value: 25000, Items: 1, TS: t0 + 1000},
			{Type: schemas.TypeCheckout, Step: 2, TS: t0 + 2000},
			{Type: schemas.TypeIdle, MS: 70_000, TS: t0 + 72_000},
			{Type: schemas.TypeExitIntent, TS: t0 + 73_000},
		} {
			ev.Session, ev.Site = s, []byte("e2e-shop")
			keys = append(keys, s)
			values = append(values, schemas.AppendEvent(nil, &ev))
		}
	}
	return keys, values
}

// readInvites consumes chat-invites read committed until it has n decisions.
func readInvites(t *testing.T, addr string, n int, opts ...kgo.Opt) []*schemas.Decision {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.ConsumeTopics(schemas.TopicInvites),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []*schemas.Decision
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d decisions before the timeout", len(out), n)
		}
		fs.EachRecord(func(r *kgo.Record) {
			d, err := schemas.ParseDecision(r.Value)
			if err != nil {
				t.Fatalf("bad decision %s: %v", r.Value, err)
			}
			out = append(out, d)
		})
	}
	return out
}

func TestBrokerAndRunAsProcesses(t *testing.T) {
	addr := startBroker(t, 4)
	// Brokers come from the environment, as in a container.
	runner := start(t, []string{"LINGER_BROKERS=" + addr, "LINGER_HTTP=127.0.0.1:0"}, "run", "--group", "e2e")
	httpAddr := runner.waitOutput(t, `addr=http://(127\.0\.0\.1:\d+)`, 20*time.Second)[1]
	waitReady(t, "http://"+httpAddr+"/readyz")

	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	keys, values := hesitatingSessions(20, time.Now().Add(-2*time.Minute).UnixMilli())
	var recs []*kgo.Record
	for i := range keys {
		recs = append(recs, &kgo.Record{Topic: schemas.TopicEvents, Key: keys[i], Value: values[i]})
	}
	recs = append(recs, &kgo.Record{Topic: schemas.TopicEvents, Key: []byte("broken"), Value: []byte("{not json")})
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	got := readInvites(t, addr, 20)
	ids := map[string]bool{}
	for _, d := range got {
		if d.Action != schemas.ActionInvite || d.Reason != schemas.ReasonAbandonment || string(d.Team) != "sales" {
			t.Errorf("decision %s: %s %s → %s, want an abandonment invite for sales", d.ID, d.Action, d.Reason, d.Team)
		}
		if string(d.Model) != scoring.DefaultConfig().Model() {
			t.Errorf("decision %s names model %s", d.ID, d.Model)
		}
		ids[string(d.ID)] = true
	}
	if len(ids) != 20 {
		t.Fatalf("%d distinct decisions, want 20", len(ids))
	}

	_, metrics := httpGet(t, "http://"+httpAddr+"/metrics")
	for _, want := range []string{`linger_events_total{type="page_view"} 20`, `linger_invites_total{reason="abandonment"} 20`, `linger_dlq_total{reason="invalid_json"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	runner.stop(t, 10*time.Second)
	if !strings.Contains(runner.output(), "left the group") {
		t.Error("no sign of a graceful shutdown in the log")
	}
}

func TestDemoStopsByItself(t *testing.T) {
	start := time.Now()
	code, out := run(t, "demo", "--duration", "6s", "--rate", "4")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Fatalf("demo --duration 6s took %v", took)
	}
	invite := regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d\.\d{3}  invite    (abandonment|confusion) +0\.\d\d  s-\S+ +\w+ +/\S*.*→ (sales|service)`)
	if n := len(invite.FindAllString(out, -1)); n < 3 {
		t.Fatalf("%d invite lines, want a few (the warm-up replays two minutes of traffic):\n%s", n, out)
	}
	status := regexp.MustCompile(`── \d\d:\d\d:\d\d  \d+ events? · \d+ sessions? · \d+ invites? \(\d+\.\d% of sessions\) · acceptance \d+\.\d% \(\d+/(\d+)\) · \d+ withdrawn · live: \d+ events/s, \d+\.\d invites/min`)
	m := status.FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, "demo stopped") {
		t.Fatalf("no running invite rate and acceptance, or no clean stop:\n%s", out)
	}
	// The first status line, 5s in, already shows the warm-up's invites
	// shown and answered.
	if m[1] == "0" {
		t.Errorf("acceptance of no invite shown in %q", m[0])
	}
	// The warm-up is summed up in one line and its latest few invites,
	// not printed invite by invite; then lines come in event-time order.
	summary := regexp.MustCompile(`(?m)^warm-up replayed: \d+ invites? \((abandonment|confusion)\).*; the latest:$`)
	if !summary.MatchString(out) {
		t.Errorf("no summary of the warm-up:\n%s", out)
	}
	_, live, _ := strings.Cut(out, "\nlive:\n")
	if n := len(invite.FindAllString(out, -1)) - len(invite.FindAllString(live, -1)); n > 3 {
		t.Errorf("%d invite lines for the warm-up, want its latest 3 at most", n)
	}
	var prev string
	for _, l := range invite.FindAllString(live, -1) {
		if at := l[:12]; at < prev {
			t.Errorf("live line at %s after one at %s: not in event-time order", at, prev)
		} else {
			prev = at
		}
	}
}

func TestConfigCommand(t *testing.T) {
	code, out := run(t, "config")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	cfg, err := scoring.ParseConfig([]byte(out))
	if err != nil {
		t.Fatalf("`linger config` prints a config that does not parse: %v", err)
	}
	if cfg.Model() != scoring.DefaultConfig().Model() {
		t.Fatal("`linger config` does not print the defaults")
	}

	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("thresholds: {confusion: 0.8}\nsites:\n  eu: {breathing_space: 30s}\n"), 0o644)
	if code, out := run(t, "config", "--check", good); code != 0 || !strings.Contains(out, "site eu") {
		t.Fatalf("--check of a good file: exit %d\n%s", code, out)
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("thresholds: {confusion: 7}\nwindw: 1m\n"), 0o644)
	if code, out := run(t, "config", "--check", bad); code != 1 || !strings.Contains(out, "windw") {
		t.Fatalf("--check of a bad file: exit %d\n%s", code, out)
	}
	code, out = run(t, "config", "--signals")
	if code != 0 || len(strings.Split(strings.TrimSpace(out), "\n")) != len(scoring.Signals())+1 {
		t.Fatalf("--signals: exit %d\n%s", code, out)
	}
}

func TestUsageAndErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--help"}, 0, "Commands:"},
		{[]string{}, 2, "Commands:"},
		{[]string{"nonsense"}, 2, `unknown command "nonsense"`},
		{[]string{"run", "--help"}, 0, "LINGER_BROKERS"},
		{[]string{"run"}, 1, "no brokers"},
		{[]string{"run", "--brokers", "x:1", "--cache-bytes", "lots"}, 2, "not a size"},
		{[]string{"run", "--brokers", "x:1", "--config", "/no/such/file"}, 1, "no such file"},
		{[]string{"broker", "--addr", "10.1.2.3:9092"}, 1, "127.0.0.1 only"},
		{[]string{"run", "--brokers", "x:1"}, 2, `LINGER_CACHE_BYTES="lots"`}, // from the environment below
		{[]string{"version"}, 0, "linger "},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var env []string
			if strings.Contains(tc.want, "LINGER_CACHE_BYTES") {
				env = []string{"LINGER_CACHE_BYTES=lots"}
			}
			code, out := runEnv(t, env, tc.args...)
			if code != tc.code || !strings.Contains(out, tc.want) {
				t.Fatalf("exit %d, want %d; output should contain %q:\n%s", code, tc.code, tc.want, out)
			}
		})
	}
}
