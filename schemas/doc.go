// Package schemas is linger's wire contract: the topics it reads and writes,
// the v1 event a browser collector writes to visitor-events, the v1 decision
// linger writes to chat-invites, the v1 capacity record a chat platform
// writes to chat-capacity, the v1 feedback record a chat front-end writes to
// chat-feedback, the v1 hourly tally a replica writes to linger-tallies, and
// fast codecs for all of them.
//
// The JSON Schema files next to this package (event.v1.schema.json,
// decision.v1.schema.json, capacity.v1.schema.json, feedback.v1.schema.json,
// tallies.v1.schema.json) are the published form of the contract; the
// golden examples in testdata are checked against both the schemas and the
// Go codecs, so the two cannot drift apart.
//
// The decoders (Decoder, CapacityDecoder, FeedbackDecoder,
// HourTallyDecoder) work on byte slices and keep no per-record garbage:
// decoded strings point into the
// decoder's buffer and are valid until the next Decode. Each refuses bad
// input with a *DecodeError whose Problem is the DLQ reason header
// (HeaderDLQReason), and skips a valid envelope of an unknown type with
// ErrUnknownType. Every string a decoder lets through that can reach a
// decision, a session state or a metric label is capped in length and
// follows a rule of what it may hold (field.go: ids, display names, URLs),
// so that no text a client sends can put markup or control characters in
// front of a person (ProblemBadField). Encoders are append-style
// (AppendX(dst, ...) []byte).
//
// This package imports nothing else of linger's.
package schemas
