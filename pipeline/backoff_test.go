package pipeline

import (
	"context"
	"testing"
	"time"
)

// TestBackoff: each wait doubles the next, up to max; a wait whose context
// ends returns false at once and leaves the next wait as it was.
func TestBackoff(t *testing.T) {
	b := backoff{next: time.Millisecond, max: 3 * time.Millisecond}
	for _, want := range []time.Duration{2 * time.Millisecond, 3 * time.Millisecond, 3 * time.Millisecond} {
		if !b.wait(context.Background()) {
			t.Fatal("wait ended without its context ending")
		}
		if b.next != want {
			t.Fatalf("next wait %v, want %v", b.next, want)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	b.next = time.Hour
	if b.wait(ctx) || b.next != time.Hour {
		t.Fatalf("a wait with its context ended: next %v", b.next)
	}
}
