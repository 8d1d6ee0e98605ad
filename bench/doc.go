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
// Run is the load driver behind `linger bench`: it sends a Stream to
// Kafka in real time with segmentio/kafka-go (a client other than the
// processor's franz-go, so every run is an interop test), open loop (an
// event goes when it is due, whether or not earlier ones were answered, and
// its latency counts from then), reads the invites back, and measures
// latency in HdrHistograms, throughput and lag from the processor group's
// committed offsets, and CPU and memory from the processors' /metrics.
// LoadConfig.Security gives each of its connections TLS and SASL (PLAIN,
// SCRAM-SHA-256 or SCRAM-SHA-512), as kafka-go takes them.
//
// Of this project the package imports only schemas, and internal/svgplot
// for its report: the scoring engine is used by its tests alone, to check
// that each persona gets the decisions it stands for. The processor is
// driven over Kafka, never called.
package bench
