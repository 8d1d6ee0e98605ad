// Package pipeline is one linger replica on Kafka: the Runner consumes
// visitor-events as a member of a consumer group (one worker goroutine per
// assigned partition, so a session's events are processed in offset order),
// hands each partition's records to its partition.Processor (the engine,
// which knows no Kafka), publishes the decisions, DLQ records and state
// changes it returns, in one transaction with the offsets under exactly-once,
// restores a partition's state from the changelog when it is assigned, reads
// the broadcast tables, and exposes Prometheus metrics and health endpoints.
// Every Kafka client it opens connects with the TLS and SASL of
// Config.Security, whose password never prints.
//
// Its files follow the replica's jobs: runner.go (lifecycle, clients),
// topics.go (which topics, created or awaited at start), cycle.go (the poll
// cycle and the workers), publish.go (publishing under either guarantee),
// passthrough.go (the bench's yardstick), rebalance.go (assignment, restore,
// revoke), tables.go and copartition.go (broadcast tables, co-partitioned
// feedback), stats.go and metrics.go (metrics), security.go, http.go. The
// embedded broker is in package broker below it.
//
// Metrics, all on Config.Registerer:
//
//	linger_events_total{type}                 events read, by type ("unknown" for types this release skips)
//	linger_dlq_total{reason}                  records sent to the DLQ, by problem
//	linger_invites_total{reason}              invites decided (holdout included)
//	linger_holdout_invites_total{reason}      invites decided for the control group
//	linger_withdrawals_total{reason}          invites taken back
//	linger_suppressed_total{reason}           would-be invites the policy held back, by policy rule
//	linger_invites_shown_total{site,team}     invites reported shown, once each (acceptance's denominator)
//	linger_invites_accepted_total{site,team}  invites reported accepted, once each
//	linger_score{model}                       histogram of scores, per event
//	linger_decision_latency_seconds           histogram of event time to decision
//	linger_partition_lag{partition}           records behind the high watermark
//	linger_partitions_assigned                partitions this replica owns
//	linger_rebalances_total{kind}             assigned, revoked, lost
//	linger_in_flight_records                  records fetched and not yet committed
//	linger_cache_entries, linger_cache_bytes, linger_cache_max_bytes
//	linger_cache_evictions_total              sessions pushed out of the cache ring (estimated)
//	linger_cache_horizon_seconds              cache bytes ÷ bytes written per second
//	linger_state_bytes_written_total          bytes of state written to the cache
//	linger_state_lost_total                   sessions found missing before their timeout
//	linger_state_corrupt_total                states that could not be decoded
//	linger_session_index_dropped_total        sessions not tracked for loss detection (index full)
//	linger_produce_errors_total{topic}        records the broker refused
//	linger_ready                              1 once the group is joined and every partition is served
//	linger_build_info{version,goversion}      always 1
//
// plus the standard Go and process collectors.
package pipeline
