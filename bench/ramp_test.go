package bench

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// fakeWindow is a processor that sustains every rate up to limit (p99 of
// 50 ms) and misses the SLO above it; it records the rates and seeds it
// was run at.
type fakeWindow struct {
	limit float64
	err   error // returned above limit instead, if set
	rates []float64
	seeds []uint64
}

func (f *fakeWindow) run(_ context.Context, cfg LoadConfig) (*Result, error) {
	f.rates = append(f.rates, cfg.Rate)
	f.seeds = append(f.seeds, cfg.Sim.Seed)
	r := &Result{OfferedEPS: cfg.Rate, AchievedEPS: cfg.Rate, Latency: Percentiles{Count: 100, P99: 50}}
	if cfg.Rate > f.limit {
		if f.err != nil {
			return nil, f.err
		}
		r.Latency.P99 = 900
	}
	return r, nil
}

func TestRamp(t *testing.T) {
	for _, tc := range []struct {
		name        string
		rc          RampConfig
		window      fakeWindow
		wantRates   []float64
		wantMax     float64
		wantErr     string
		wantOK      int
		wantLastWhy string
	}{
		{name: "up to the first rate over the SLO", rc: RampConfig{Start: 1000, Step: 500}, window: fakeWindow{limit: 2000},
			wantRates: []float64{1000, 1500, 2000, 2500}, wantMax: 2000, wantOK: 3, wantLastWhy: "p99 900ms over the SLO of 200ms"},
		{name: "stops at the maximum", rc: RampConfig{Start: 1000, Step: 500, Max: 2200}, window: fakeWindow{limit: 1e9},
			wantRates: []float64{1000, 1500, 2000}, wantMax: 2000, wantOK: 3},
		{name: "saturated brokers end the ramp", rc: RampConfig{Start: 1000, Step: 1000}, window: fakeWindow{limit: 1500, err: ErrSaturated},
			wantRates: []float64{1000, 2000}, wantMax: 1000, wantOK: 1, wantLastWhy: ErrSaturated.Error()},
		{name: "a looser SLO", rc: RampConfig{Start: 1000, Step: 1000, SLOP99: time.Second, Max: 3000}, window: fakeWindow{limit: 1500},
			wantRates: []float64{1000, 2000, 3000}, wantMax: 3000, wantOK: 3, wantLastWhy: ""},
		{name: "first rate not sustained", rc: RampConfig{Start: 5000, Step: 1000}, window: fakeWindow{limit: 1000},
			wantRates: []float64{5000}, wantErr: "not even the first rate, 5k events/s, was sustained: p99 900ms over the SLO"},
		{name: "another error", rc: RampConfig{Start: 1000, Step: 1000}, window: fakeWindow{limit: 1500, err: errors.New("broker gone")},
			wantRates: []float64{1000, 2000}, wantErr: "broker gone"},
		{name: "no step", rc: RampConfig{Start: 1000}, wantErr: "a step above 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log strings.Builder
			tc.rc.Log = &log
			w := tc.window
			res, err := ramp(context.Background(), LoadConfig{Duration: time.Second, Sim: Config{Seed: 7}}, tc.rc, w.run)
			if !slices.Equal(w.rates, tc.wantRates) {
				t.Errorf("ran at %v, want %v", w.rates, tc.wantRates)
			}
			for i, s := range w.seeds {
				if s != 7+uint64(i) {
					t.Errorf("step %d seeded %d, want %d: each step sends visitors of its own", i+1, s, 7+i)
				}
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.MaxSustainableEPS != tc.wantMax || res.OfferedEPS != tc.wantMax {
				t.Errorf("max sustainable %v (result of the step at %v), want %v", res.MaxSustainableEPS, res.OfferedEPS, tc.wantMax)
			}
			if len(res.Steps) != len(tc.wantRates) {
				t.Fatalf("%d steps, want %d", len(res.Steps), len(tc.wantRates))
			}
			ok := 0
			for _, st := range res.Steps {
				if st.OK {
					ok++
				}
			}
			if ok != tc.wantOK {
				t.Errorf("%d steps sustained, want %d: %+v", ok, tc.wantOK, res.Steps)
			}
			if last := res.Steps[len(res.Steps)-1]; last.Why != tc.wantLastWhy {
				t.Errorf("last step: why %q, want %q", last.Why, tc.wantLastWhy)
			}
			if !strings.Contains(log.String(), "bench: linger step 1 at 1k events/s for 1s") {
				t.Errorf("log:\n%s", log.String())
			}
		})
	}
}
