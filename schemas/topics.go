package schemas

import (
	"errors"
	"fmt"
)

// Topic names, declared once. Every other package refers to these constants.
const (
	// TopicEvents carries clickstream events in (event contract v1), keyed
	// by session id.
	TopicEvents = "visitor-events"
	// TopicDLQ carries input that is not a valid v1 event, unchanged, with
	// the reason and source in headers.
	TopicDLQ = "visitor-events-dlq"
	// TopicInvites carries decisions out (decision contract v1), keyed by
	// session id.
	TopicInvites = "chat-invites"
	// TopicFeedback carries shown/accepted/declined/expired outcomes from
	// chat front-ends, keyed by session id, with as many partitions as
	// TopicEvents.
	TopicFeedback = "chat-feedback"
	// TopicCapacity carries free chat slots per site and team, keyed by
	// "site/team", compacted; every replica reads all of it.
	TopicCapacity = "chat-capacity"
	// TopicState is the session state changelog, keyed by session id,
	// compacted, written to the source event's partition.
	TopicState = "linger-state"
	// TopicVisitors holds per-visitor invite caps, keyed by visitor id,
	// compacted; every replica reads all of it.
	TopicVisitors = "linger-visitors"
	// TopicTallies holds each partition's hourly tallies of would-be
	// invites, invites and suppressions by site and team (contract v1,
	// HourTally), keyed by partition/site/team/hour, compacted: the record
	// of an hour is replaced as the hour fills. Reports read it by hour.
	TopicTallies = "linger-tallies"
)

// TopicSpec describes one topic the project uses, for whoever creates topics
// (the embedded broker, deploy scripts).
type TopicSpec struct {
	Name string
	// Key says what the record key holds.
	Key string
	// Compacted topics keep the latest record per key (cleanup.policy=compact).
	Compacted bool
	// CoPartitioned topics must have as many partitions as TopicEvents,
	// because a session's records must land on the same partition number.
	CoPartitioned bool
	// Doc is a one-line description.
	Doc string
}

// Topics lists every topic the project uses, in the order they are created.
var Topics = []TopicSpec{
	{Name: TopicEvents, Key: "session id", CoPartitioned: true, Doc: "clickstream in, event contract v1"},
	{Name: TopicDLQ, Key: "as received", Doc: "bad input, unchanged, reason and source in headers"},
	{Name: TopicInvites, Key: "session id", Doc: "decisions out, decision contract v1"},
	{Name: TopicFeedback, Key: "session id", CoPartitioned: true, Doc: "invite outcomes from chat front-ends"},
	{Name: TopicCapacity, Key: "site/team", Compacted: true, Doc: "free chat slots per team, read by every replica"},
	{Name: TopicState, Key: "session id", Compacted: true, CoPartitioned: true, Doc: "session state changelog"},
	{Name: TopicVisitors, Key: "visitor id", Compacted: true, Doc: "per-visitor invite caps, read by every replica"},
	{Name: TopicTallies, Key: "partition/site/team/hour", Compacted: true, Doc: "hourly tallies of would-be invites, invites and suppressions per site and team"},
}

// ErrBadTopicName is returned by ValidateTopicName for a name Kafka would
// refuse.
var ErrBadTopicName = errors.New("invalid topic name")

// ValidateTopicName reports whether Kafka accepts name as a topic name:
// 1 to 249 characters of [a-zA-Z0-9._-], and not "." or "..".
func ValidateTopicName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty", ErrBadTopicName)
	}
	if len(name) > 249 {
		return fmt.Errorf("%w: %q is longer than 249 characters", ErrBadTopicName, name)
	}
	if name == "." || name == ".." {
		return fmt.Errorf("%w: %q", ErrBadTopicName, name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' {
			continue
		}
		return fmt.Errorf("%w: %q has %q (allowed: letters, digits, '.', '_', '-')", ErrBadTopicName, name, c)
	}
	return nil
}
