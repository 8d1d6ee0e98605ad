package scoring

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestBuiltinFeaturesAreTheRegistry holds builtinFeatures to the registry:
// the same values as calling each registered signal, index by index, on
// random states and times. A signal registered by a file of this package
// and not listed, or listed out of its place (the registry is sorted by
// name), fails here.
func TestBuiltinFeaturesAreTheRegistry(t *testing.T) {
	if len(registry) != builtinSignals {
		names := make([]string, len(registry))
		for i, sig := range registry {
			names[i] = sig.Name
		}
		t.Fatalf("%d signals registered, builtinFeatures (features.go) computes %d: list every signal there, by name: %v", len(registry), builtinSignals, names)
	}
	set := DefaultConfig().For(nil)
	r := rand.New(rand.NewPCG(5, 6))
	for n := range 2000 {
		s := randomState(r)
		at := s.Last + int64(r.IntN(600_000))
		var got Vector
		for i := range got {
			got[i] = math.NaN() // what builtinFeatures leaves unwritten stays NaN
		}
		builtinFeatures(&s, at, set, &got)
		for i, sig := range registry {
			if want := sig.Value(&s, at, set); got[i] != want {
				t.Fatalf("state %d: builtinFeatures gives %s (index %d) %v, its Value %v: listed out of place?", n, sig.Name, i, got[i], want)
			}
		}
	}
}
