// Package partition is linger's engine for one partition of the events
// topic: the Processor turns records into decisions, DLQ records and state
// changes, one batch at a time (Begin, Process and Feedback, Tick, End, then
// Commit or Abort), over session state kept in a Store (fastcache), with
// event-time timers and a watermark, restored from the changelog.
//
// It is deterministic and knows nothing of Kafka, Prometheus or
// goroutines: the same records in the same order give the same output,
// whatever the batch sizes, so `linger run` (package pipeline, which feeds
// it from Kafka and publishes its output in transactions) and `linger
// replay` (package replay, which feeds it from files) decide alike. What a
// batch counted comes back from Commit as plain Counts, which the caller
// turns into metrics or a report.
package partition
