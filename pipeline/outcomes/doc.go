// Package outcomes measures what published invites achieved — acceptance,
// conversion of invited and holdout sessions and the uplift between them,
// staffing, satisfaction — from the decisions (chat-invites), the chat
// platform's feedback (chat-feedback) and the events (visitor-events), and
// renders the figures as text, JSON and HTML. `linger report` feeds it
// records read from the topics; a replay feeds it its input's feedback and
// events and the decisions it replayed, so both print the same figures the
// same way.
//
// It also holds what the replay's own report shares with it: Estimate, a
// figure with its n and 95% confidence interval, the intervals that make one
// (Proportion and Difference with Wilson's score interval, Quantile), and
// the formatting of figures, tables and pages.
//
// It is pure: no I/O, no Kafka, no Prometheus, no clock; its callers read
// the records. Staffing follows Erlang C (erlangc.go): the chance a chat
// waits for an agent, the share answered within a target time, and the
// fewest agents that answer a target share of an hour's accepted chats in
// time.
package outcomes
