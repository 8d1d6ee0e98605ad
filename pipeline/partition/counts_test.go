package partition

import (
	"testing"

	"github.com/lingerhq/linger/schemas"
	"github.com/lingerhq/linger/scoring"
)

// TestCountsHoldEveryEnum: Counts' arrays are indexed by the enums they
// count; a value added beyond an array's size would panic on the hot path.
func TestCountsHoldEveryEnum(t *testing.T) {
	var c Counts
	if n := len(schemas.Types()); n > len(c.Events) {
		t.Errorf("%d event types, Counts.Events holds %d", n, len(c.Events))
	}
	if n := len(schemas.Problems()) + 1; n > len(c.DLQ) {
		t.Errorf("%d problems, Counts.DLQ holds %d", n, len(c.DLQ))
	}
	if n := len(schemas.FeedbackTypes()); n > len(c.Feedback) {
		t.Errorf("%d feedback types, Counts.Feedback holds %d", n, len(c.Feedback))
	}
	if n := len(scoring.SuppressedReasons()) + int(scoring.SuppressedBot); n > len(c.Suppressed) {
		t.Errorf("%d outcomes, Counts.Suppressed holds %d", n, len(c.Suppressed))
	}
	if n := len(schemas.Reasons()) + 1; n > len(c.Invites) {
		t.Errorf("%d reasons, Counts.Invites holds %d", n, len(c.Invites))
	}
}
