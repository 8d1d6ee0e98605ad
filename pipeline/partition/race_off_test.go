//go:build !race

package partition

// raceEnabled: see race_on_test.go.
const raceEnabled = false
