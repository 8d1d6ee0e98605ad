// Package scoring is linger's pure logic: session state and its binary
// encoding, the update of a state by an event, the signals computed from a
// state, the two models (abandonment and confusion) and the invite policy.
//
// It does no I/O, starts no goroutines and reads no clock: every time it uses
// is an event time passed in. That is what makes `linger replay` give exactly
// the decisions `linger run` gives on the same events, and what lets a data
// engineer test a new signal with a table test.
//
// A new signal is one file, signal_<name>.go: the feature, its doc comment
// (what it detects, in which units), its default weights and its
// registration. TestSignalCoverage fails when a registered signal is not
// exercised by any timeline in testdata.
package scoring
