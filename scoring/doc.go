// Package scoring is linger's pure logic: session state and its binary
// encoding, the update of a state by an event, the signals computed from a
// state, the two models (abandonment and confusion) and the invite policy.
//
// It does no I/O, starts no goroutines and reads no clock: every time it uses
// is an event time passed in. That is what makes `linger replay` give exactly
// the decisions `linger run` gives on the same events, and what lets a data
// engineer test a new signal with a table test.
//
// The closed loop with the chat team lives here too, as pure logic the
// pipeline feeds: routing of decisions to teams (Config.Routes), each
// partition's share of the teams' capacity, the invite-share band and the
// acceptance band fed by chat feedback (Engine.Feedback) (Budget, persisted
// by the pipeline with the partition's state), the
// capacity records by event time (CapacityTable, one per replica, fed from
// chat-capacity) and the per-visitor frequency cap (VisitorCaps, one per
// replica, fed from linger-visitors). An Engine is given them with
// WithBudget, WithCapacity and WithVisitorCaps; what the policy made of
// each moment is Engine.Outcome, whose suppressed values name the cause
// (SuppressedReasons: the metrics labels).
//
// A new signal is one file, signal_<name>.go: the feature, its doc comment
// (what it detects, in which units), its default weights and its
// registration; and a line in builtinFeatures (features.go), which calls
// the package's signals directly on the per-event path, in the registry's
// order (TestBuiltinFeaturesAreTheRegistry fails without it).
// TestSignalCoverage fails when a registered signal is not exercised by
// any timeline in testdata.
package scoring
