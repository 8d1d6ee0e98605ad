package pipeline

import (
	"context"
	"time"
)

// backoff is the wait between a replica's retries of something Kafka may
// answer later (a restore, a new client, topics at start, table offsets):
// it doubles after each wait, up to max, so a broker that is down is asked
// less and less often but still within max of coming back.
type backoff struct {
	next, max time.Duration
}

// wait sleeps for the next wait, or until ctx ends, in which case it
// returns false; then it doubles the next wait, up to max.
func (b *backoff) wait(ctx context.Context) bool {
	t := time.NewTimer(b.next)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
	}
	b.next = min(2*b.next, b.max)
	return true
}
