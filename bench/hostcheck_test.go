package bench

import (
	"bytes"
	"context"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestHostSlowdown: the median of the window's samples over the fastest
// of the run, whenever the fastest came; unmeasured samples and those
// outside the window left out.
func TestHostSlowdown(t *testing.T) {
	ms := func(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }
	var h hostCheck
	if _, _, ok := h.slowdown(0, time.Minute); ok {
		t.Error("no samples: a slowdown")
	}
	h.samples = []hostSample{
		{at: ms(5), cpu: ms(0.2)}, // before the window, the fastest
		{at: 10 * time.Second, cpu: ms(0.3)},
		{at: 11 * time.Second, cpu: ms(0.5)},
		{at: 12 * time.Second, cpu: 0}, // a clock too coarse
		{at: 13 * time.Second, cpu: ms(0.25)},
		{at: 20 * time.Second, cpu: ms(2)}, // after the window
	}
	if median, fastest, ok := h.slowdown(10*time.Second, 20*time.Second); !ok || median != ms(0.3) || fastest != ms(0.2) {
		t.Errorf("slowdown = %v, %v, %v; want 300µs over 200µs", median, fastest, ok)
	}
	if _, _, ok := h.slowdown(30*time.Second, 40*time.Second); ok {
		t.Error("an empty window: a slowdown")
	}
}

// TestHostCheckRun: on Linux the check times its computation at the
// start and then ten times a second, in a thread's CPU time, and keeps at
// it while every processor of the process is busy (its thread then waits
// its turn, which its clock leaves out).
func TestHostCheckRun(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the thread CPU clock is read on Linux only")
	}
	var h hostCheck
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	start := time.Now()
	go func() { defer close(done); h.run(ctx, start) }()
	// Busy work on every processor but the check's, for the rest of the
	// second.
	spin, stop := make(chan struct{}), time.Now().Add(time.Second)
	for range runtime.GOMAXPROCS(0) {
		go func() {
			x := uint64(1)
			for time.Now().Before(stop) {
				for range 1000 {
					x = x*6364136223846793005 + 1
				}
			}
			_ = x
			spin <- struct{}{}
		}()
	}
	for range runtime.GOMAXPROCS(0) {
		<-spin
	}
	cancel()
	<-done
	if n := len(h.samples); n < hostCheckFirst+5 {
		t.Fatalf("%d samples in a second, want at least %d", n, hostCheckFirst+5)
	}
	for _, s := range h.samples {
		if s.cpu <= 0 || s.cpu > 500*time.Millisecond {
			t.Fatalf("sample %+v: not a time for %d rounds", s, hostWorkRounds)
		}
	}
	if _, _, ok := h.slowdown(0, time.Minute); !ok {
		t.Error("no slowdown from a second of samples")
	}
}

// TestBusyHost: a busy host is said in the summary, under the verdicts
// and on the page; a quiet one in the summary alone; an unmeasured one
// nowhere.
func TestBusyHost(t *testing.T) {
	for _, c := range []struct {
		slowdown float64
		summary  string // "" : no host line
		busy     bool
	}{
		{0, "", false},
		{1.04, "host quiet: a reference computation took 1.04× its fastest time (median over the window: 208 µs)", false},
		{1.38, "host BUSY: a reference computation took 1.38× its fastest time (median over the window: 276 µs); see the note under the budgets", true},
	} {
		r := judged()
		r.HostSlowdown, r.HostWorkMicros = c.slowdown, 200*c.slowdown
		var text, verdicts, page bytes.Buffer
		if err := r.WriteText(&text); err != nil {
			t.Fatal(err)
		}
		if err := r.WriteVerdicts(&verdicts); err != nil {
			t.Fatal(err)
		}
		if err := r.WriteHTML(&page); err != nil {
			t.Fatal(err)
		}
		line := ""
		for l := range strings.Lines(text.String()) {
			if strings.HasPrefix(l, "host ") {
				line = strings.Join(strings.Fields(l), " ")
			}
		}
		if line != c.summary {
			t.Errorf("slowdown %v: summary line %q, want %q", c.slowdown, line, c.summary)
		}
		note := "note: A reference computation took 1.38× its fastest time during the window: other work on the host slowed this run, so its CPU and latency figures are higher than on a quiet machine. Compare them with a run whose host was quiet (below 1.2×).\n"
		if got := strings.HasSuffix(verdicts.String(), note); got != c.busy {
			t.Errorf("slowdown %v: the note under the verdicts is there: %v, want %v:\n%s", c.slowdown, got, c.busy, verdicts.String())
		}
		if got := strings.Contains(page.String(), `id="busy-host"`); got != c.busy {
			t.Errorf("slowdown %v: the page's warning is there: %v, want %v", c.slowdown, got, c.busy)
		}
	}
}
