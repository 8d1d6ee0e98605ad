package scoring

import (
	"fmt"
	"sort"
)

// MaxSignals bounds the number of registered signals, so that weight
// vectors are fixed arrays and scoring allocates nothing.
const MaxSignals = 32

// Model indexes: a decision's reason is the model that won.
const (
	Abandonment = 0
	Confusion   = 1
	numModels   = 2
)

var modelNames = [numModels]string{"abandonment", "confusion"}

// Signal is one named feature of a session. Its Value is in natural units
// (seconds, counts, currency units) so that an agent can read it; the model
// sees it scaled: min(Value/Scale, 1), so that at full strength a signal adds
// exactly its weight to the model's logit.
type Signal struct {
	// Name is snake_case, with the unit as a suffix where there is one
	// (idle_checkout_s).
	Name string
	// Doc says what the signal detects and in which units.
	Doc string
	// Scale is the value at which the signal reaches full strength.
	Scale float64
	// Weights are the default weights in the abandonment and confusion
	// models.
	Weights [numModels]float64
	// Value computes the signal from s as of event time at (Unix ms).
	Value func(s *State, at int64, set *Settings) float64
	// Detail, if set, names what the signal is about (a form field) for the
	// decision's signals.
	Detail func(s *State) []byte
	// Silence marks a signal that measures the visitor's silence: when a
	// timer decides, its detail says so, in words for the agent.
	Silence bool

	index int
}

var registry []*Signal

// Register adds sig to the registry, for signals defined outside this
// package (an extension, a test that needs a signal of its own). Call it
// from an init function, before any Config is built: a Config's weights
// are indexed by the registry as it was when the Config was built.
func Register(sig Signal) { register(sig) }

// register adds sig to the registry, kept sorted by name so that a signal's
// index does not depend on file order. It is called from the init function of
// each signal_<name>.go.
func register(sig Signal) {
	if sig.Name == "" || sig.Value == nil || sig.Scale <= 0 {
		panic(fmt.Sprintf("BUG: signal %q needs a name, a Value and a positive Scale", sig.Name))
	}
	if len(registry) == MaxSignals {
		panic("BUG: more than MaxSignals signals; raise MaxSignals")
	}
	i := sort.Search(len(registry), func(i int) bool { return registry[i].Name >= sig.Name })
	if i < len(registry) && registry[i].Name == sig.Name {
		panic("BUG: signal " + sig.Name + " registered twice")
	}
	s := sig
	registry = append(registry, nil)
	copy(registry[i+1:], registry[i:])
	registry[i] = &s
	for j := range registry {
		registry[j].index = j
	}
}

// Signals returns the registered signals, sorted by name. The slice must not
// be modified.
func Signals() []*Signal { return registry }

// SignalByName returns the signal named name, or nil.
func SignalByName(name string) *Signal {
	i := sort.Search(len(registry), func(i int) bool { return registry[i].Name >= name })
	if i < len(registry) && registry[i].Name == name {
		return registry[i]
	}
	return nil
}

// Vector holds one value per registered signal, indexed like Signals().
type Vector [MaxSignals]float64

// Features computes every signal of s as of event time at.
func Features(s *State, at int64, set *Settings, v *Vector) {
	if len(registry) == builtinSignals {
		// This package's signals alone: none registered from outside
		// (Register); one of its own files registering a signal
		// builtinFeatures does not list fails
		// TestBuiltinFeaturesAreTheRegistry.
		builtinFeatures(s, at, set, v)
		return
	}
	for i, sig := range registry {
		v[i] = sig.Value(s, at, set)
	}
}

// seconds converts a span of ms to seconds, 0 for negative spans (an event
// time before the reference, possible with late events).
func seconds(ms int64) float64 {
	if ms <= 0 {
		return 0
	}
	return float64(ms) / 1000
}

// since returns the seconds from t to at, or 0 if t is unset.
func since(t, at int64) float64 {
	if t == 0 {
		return 0
	}
	return seconds(at - t)
}
