// Package schemas is linger's wire contract: the topics it reads and writes,
// the v1 event a browser collector writes to visitor-events, the v1 decision
// linger writes to chat-invites, and fast codecs for both.
//
// The JSON Schema files next to this package (event.v1.schema.json,
// decision.v1.schema.json) are the published form of the contract; the golden
// examples in testdata are checked against both the schemas and the Go codecs,
// so the two cannot drift apart.
//
// The decoder works on byte slices and keeps no per-event garbage: decoded
// strings point into the decoder's buffer and are valid until the next
// Decode. Encoders are append-style (AppendX(dst, ...) []byte).
//
// This package imports nothing else of linger's.
package schemas
