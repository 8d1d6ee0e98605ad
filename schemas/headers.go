package schemas

// Headers linger sets on every DLQ record, so whoever drains the DLQ knows
// what was wrong and where the record came from without parsing it.
const (
	// HeaderDLQReason holds the Problem name ("invalid_json").
	HeaderDLQReason = "linger.dlq.reason"
	// HeaderDLQError holds the problem in words, with the field at fault.
	HeaderDLQError = "linger.dlq.error"
	// HeaderSourceTopic, HeaderSourcePartition and HeaderSourceOffset say
	// where the record was read (partition and offset in decimal).
	HeaderSourceTopic     = "linger.source.topic"
	HeaderSourcePartition = "linger.source.partition"
	HeaderSourceOffset    = "linger.source.offset"
	// HeaderDLQTruncated is set on a DLQ record whose value was cut to fit
	// the topic's record size limit (or dropped, if the broker refused
	// even that): the original value's size in bytes, in decimal.
	HeaderDLQTruncated = "linger.dlq.truncated"
)
