package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// RampConfig is a search for the highest rate a processor sustains: runs
// of LoadConfig.Duration each, the first at Start events/s, each next one
// Step higher, until a rate is not sustained (Result.Sustained) or the
// next would pass Max.
type RampConfig struct {
	// Start is the first rate, events/s. Required, above 0.
	Start float64
	// Step is what each window adds to the rate, events/s. Required,
	// above 0.
	Step float64
	// Max stops the ramp once the next rate would pass it, sustained or
	// not; 0: no limit.
	Max float64
	// SLOP99 is the p99 end-to-end latency a rate must meet to count as
	// sustained. Default: DefaultSLOP99.
	SLOP99 time.Duration
	// Log, if set, gets a line as each step starts and as the ramp ends.
	Log io.Writer
	// What names the processor in the log lines ("linger",
	// "passthrough"). Default: "linger".
	What string
}

// Ramp runs cfg at rising rates as rc says and returns the Result of the
// highest rate sustained, with every step tried in Steps and that rate in
// MaxSustainableEPS. Each step sends visitors of its own (the seed plus
// the step's index), so no session spans two windows. A step the brokers
// do not keep up with (ErrSaturated) ends the ramp as not sustained; any
// other error ends it with that error, as does a first rate that is not
// sustained.
func Ramp(ctx context.Context, cfg LoadConfig, rc RampConfig) (*Result, error) {
	return ramp(ctx, cfg, rc, Run)
}

// ramp is Ramp with the run of one window given, for tests.
func ramp(ctx context.Context, cfg LoadConfig, rc RampConfig, run func(context.Context, LoadConfig) (*Result, error)) (*Result, error) {
	if !(rc.Start > 0) || !(rc.Step > 0) || rc.Max < 0 {
		return nil, fmt.Errorf("a ramp needs a starting rate and a step above 0 (got %s and %s) and a maximum not below 0", FormatRate(rc.Start), FormatRate(rc.Step))
	}
	if rc.SLOP99 <= 0 {
		rc.SLOP99 = DefaultSLOP99
	}
	if rc.What == "" {
		rc.What = "linger"
	}
	logf := func(format string, args ...any) {
		if rc.Log != nil {
			fmt.Fprintf(rc.Log, format, args...)
		}
	}
	seed := cfg.Sim.Seed
	var best *Result
	var steps []Step
	for i, rate := 0, rc.Start; ; i, rate = i+1, rate+rc.Step {
		cfg.Rate = rate
		cfg.Sim.Seed = seed + uint64(i)
		logf("bench: %s step %d at %s for %v\n", rc.What, i+1, RateText(rate), cfg.Duration)
		res, err := run(ctx, cfg)
		st := Step{Rate: rate}
		switch {
		case err == nil:
			st.OfferedEPS, st.AchievedEPS, st.P99, st.LagEnd = res.OfferedEPS, res.AchievedEPS, res.Latency.P99, res.LagEnd
			st.OK, st.Why = res.Sustained(rc.SLOP99)
		case errors.Is(err, ErrSaturated):
			st.Why = err.Error()
		default:
			return nil, err
		}
		steps = append(steps, st)
		if !st.OK {
			logf("bench: %s not sustained: %s\n", RateText(rate), st.Why)
			break
		}
		best = res
		if rc.Max > 0 && rate+rc.Step > rc.Max {
			logf("bench: stopping at --max-rate %s\n", RateText(rc.Max))
			break
		}
	}
	if best == nil {
		return nil, fmt.Errorf("not even the first rate, %s, was sustained: %s", RateText(rc.Start), steps[0].Why)
	}
	best.Steps = steps
	best.MaxSustainableEPS = best.OfferedEPS
	return best, nil
}

// RateText says a rate in words for a log line: "20k events/s", or "as
// fast as possible" for 0.
func RateText(rate float64) string {
	if rate == 0 {
		return "as fast as possible"
	}
	return FormatRate(rate) + " events/s"
}
