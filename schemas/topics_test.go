package schemas

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateTopicName(t *testing.T) {
	for _, c := range []struct {
		name string
		ok   bool
	}{
		{"visitor-events", true},
		{"a", true},
		{"Linger_state.v2", true},
		{"...", true},
		{strings.Repeat("t", 249), true},
		{strings.Repeat("t", 250), false},
		{"", false},
		{".", false},
		{"..", false},
		{"chat invites", false},
		{"chat/invites", false},
		{"chat:invites", false},
		{"événements", false},
		{"tab\t", false},
	} {
		err := ValidateTopicName(c.name)
		if (err == nil) != c.ok {
			t.Errorf("ValidateTopicName(%q) = %v, want ok=%v", c.name, err, c.ok)
		}
		if err != nil && !errors.Is(err, ErrBadTopicName) {
			t.Errorf("ValidateTopicName(%q) = %v, not an ErrBadTopicName", c.name, err)
		}
	}
}

func TestTopics(t *testing.T) {
	seen := map[string]bool{}
	for _, spec := range Topics {
		if err := ValidateTopicName(spec.Name); err != nil {
			t.Errorf("Topics: %v", err)
		}
		if seen[spec.Name] {
			t.Errorf("Topics: %q is listed twice", spec.Name)
		}
		seen[spec.Name] = true
		if spec.Key == "" || spec.Doc == "" {
			t.Errorf("Topics: %q has no Key or Doc", spec.Name)
		}
	}
	// Every constant must be created by whoever creates Topics, and the
	// per-session topics must share TopicEvents' partitioning, or a
	// session's state and feedback land on another replica than its events.
	consts := map[string]bool{}
	for _, name := range []string{TopicEvents, TopicDLQ, TopicInvites, TopicFeedback, TopicCapacity, TopicState, TopicVisitors, TopicTallies} {
		consts[name] = true
		if !seen[name] {
			t.Errorf("topic constant %q is not in Topics", name)
		}
	}
	for name := range seen {
		if !consts[name] {
			t.Errorf("Topics lists %q, which has no constant (add it here too)", name)
		}
	}
	for _, spec := range Topics {
		switch spec.Name {
		case TopicEvents, TopicFeedback, TopicState:
			if !spec.CoPartitioned {
				t.Errorf("%s must be co-partitioned with %s", spec.Name, TopicEvents)
			}
		}
		switch spec.Name {
		case TopicCapacity, TopicState, TopicVisitors, TopicTallies:
			if !spec.Compacted {
				t.Errorf("%s must be compacted: it holds the latest value per key", spec.Name)
			}
		case TopicEvents, TopicDLQ, TopicInvites, TopicFeedback:
			if spec.Compacted {
				t.Errorf("%s must not be compacted: every record counts", spec.Name)
			}
		}
	}
}
