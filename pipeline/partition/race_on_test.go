//go:build race

package partition

// raceEnabled: the race detector makes the engine ten to thirty times
// slower, and its allocation counts are not those of a release build.
const raceEnabled = true
