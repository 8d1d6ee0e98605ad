package promscrape

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind: whatever
// a test starts (servers, workers, clients) it must stop.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
