package scoring

// builtinFeatures is Features while the registry holds this package's
// signals alone: each signal's Value called directly, in the registry's
// order (by name). A call through a function value, as Features makes for
// a registry with other signals, is not inlined, and each of these signals
// is a few instructions: called through the registry, the nineteen cost
// about a fifth of BenchmarkApply (README, "What the profiles say").
// TestBuiltinFeaturesAreTheRegistry fails if a signal file registers a
// signal that is not listed here, or listed out of its place.
func builtinFeatures(s *State, at int64, set *Settings, v *Vector) {
	v[0] = backForth(s, at, set)
	v[1] = cartValue(s, at, set)
	v[2] = checkoutStep(s, at, set)
	v[3] = deadClicks(s, at, set)
	v[4] = distinctPages(s, at, set)
	v[5] = dwell(s, at, set)
	v[6] = exitIntent(s, at, set)
	v[7] = fieldChurn(s, at, set)
	v[8] = fieldReedits(s, at, set)
	v[9] = fieldStuck(s, at, set)
	v[10] = formErrors(s, at, set)
	v[11] = idleCheckout(s, at, set)
	v[12] = idleCurrent(s, at, set)
	v[13] = idleLongest(s, at, set)
	v[14] = pageViews(s, at, set)
	v[15] = pointerJitter(s, at, set)
	v[16] = pricingRevisits(s, at, set)
	v[17] = rageClicks(s, at, set)
	v[18] = tabHidden(s, at, set)
}

// builtinSignals is how many signals builtinFeatures computes: a registry
// of another length has signals it does not know.
const builtinSignals = 19
