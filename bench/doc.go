// Package bench is the harness: visitor simulator (personas), load driver,
// latency/throughput measurement and reports.
//
// The simulator plays visitors of a small shop (a catalogue of categories,
// products, search results, the cart, a two-step checkout, a pricing page,
// help and shipping pages). Each session is one persona — a browser, a
// buyer, a hesitating buyer at checkout, a visitor confused by a form, an
// exit-intent abandoner, or a crawler — and is written as a timestamped
// script of v1 events as the tracker in the browser would send them:
// mouse activity aggregated per window, an idle event after every 15 s
// without input, visibility changes, exit intents, form, cart and checkout
// events.
//
// Everything is deterministic for a seed. Session i draws from its own
// random stream (PCG seeded with the seed and i), so its events depend on
// nothing but (seed, i): Simulator.Session(i) and the i-th session of a
// Stream are the same, whatever the arrival rate or the other sessions.
//
// A Stream merges many concurrent sessions into one stream in event-time
// order, starting sessions at a given rate (Poisson arrivals by default).
// It holds only the sessions in progress, so its memory follows rate ×
// session length, not the length of the run: sessions last about 3
// minutes and take about 5 KiB each, so 100 new sessions per second hold
// some 16 000 sessions in 80 MiB.
//
// The visitors also answer the invites they are shown (Responder): each
// persona accepts, declines or ignores an invite with its own chances and
// delays, and the chats it accepts end after a handling time and get a
// rating, written as the chat-feedback records a widget and a chat
// platform write. An answer depends on the seed and the decision alone, so
// it is the same whatever order decisions arrive in. Answers is the chat
// front-end of a live run: it holds each record until it is due.
//
// Package bench/simulate writes hours of this traffic to a file in seconds,
// for `linger replay`: the events, and the answers to the invites the
// partition engine (run in process as replay runs it) decides on them.
//
// Run is the load driver behind `linger bench`: it sends a Stream to
// Kafka in real time with segmentio/kafka-go (a client other than the
// processor's franz-go, so every run is an interop test), open loop (an
// event goes when it is due, whether or not earlier ones were answered, and
// its latency counts from then), reads the invites back, answers them on
// chat-feedback as the visitors would, and measures
// latency in HdrHistograms, throughput and lag from the processor group's
// committed offsets, and CPU and memory from the processors' /metrics.
// LoadConfig.Security gives each of its connections TLS and SASL (PLAIN,
// SCRAM-SHA-256 or SCRAM-SHA-512), as kafka-go takes them.
//
// Budgets is the one table of the figures a run of linger is held to (p99
// decision latency, CPU per event, cache horizon, sessions lost early,
// RSS, the ratio to the bare passthrough), each with the conditions it
// holds under; Result.Judge gives a run's Verdict against each, which the
// text summary, the JSON and the HTML report carry. The README's
// Performance table says the same figures, and a test reads it.
//
// Of this project the package imports schemas, internal/svgplot for its
// report and internal/promscrape for the processors' metrics; the engine
// is bench/simulate's to run. Run drives the processor over Kafka, never
// calls it; the tests use the scoring engine to check that each persona
// gets the decisions it stands for.
package bench
