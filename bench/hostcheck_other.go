//go:build !linux

package bench

import "time"

// threadCPU reports false: the host check reads the thread CPU clock of
// Linux only.
func threadCPU() (time.Duration, bool) { return 0, false }
