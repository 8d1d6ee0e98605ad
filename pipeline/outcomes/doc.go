// Package outcomes is the measured outcomes of published invites —
// acceptance, conversion, uplift, staffing, CSAT — and their rendering,
// shared by `linger report` and replay.
//
// It is pure: no I/O, no Kafka, no Prometheus, no clock. Its figures come
// from counts the callers read (invites, feedback, capacity records), so a
// replay and a live report over the same records print the same numbers,
// and a test can pin any of them.
//
// Staffing follows Erlang C (erlangc.go): the chance a chat waits for an
// agent, the share answered within a target time, and the fewest agents
// that answer a target share of an hour's accepted chats in time.
// Proportions carry Wilson's 95% score interval (wilson.go), which stays
// inside [0, 1] and does not collapse to a point on the small counts of a
// quiet hour or team.
package outcomes
