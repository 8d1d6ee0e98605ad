//go:build soak

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/lingerhq/linger/internal/kafkatest"
	"github.com/lingerhq/linger/internal/promscrape"
	"github.com/lingerhq/linger/schemas"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The soak's shape. Visitors arrive at 4 a second for 100 s, on two
// sites, each from an address of its own; the hostile clients and the
// kill run at fixed times of the main phase.
const (
	soakPartitions   = 8
	soakWarmup       = 10
	soakVisitors     = 400
	soakArrival      = 250 * time.Millisecond
	soakConnsPerIP   = 40
	soakStreamsPerIP = 20
	soakGroup        = "soak"
)

// soakPlatformToken is the chat platform's token of the soak's gateway.
const soakPlatformToken = "Vq7-Lr2Mx9Tz4Wc1Pn8Hb5Ky3Jd6Gf0Sa"

// soak is one soak run: its processes, its clients and what they saw.
type soak struct {
	t             *testing.T
	addr          string // the broker
	gwURL         string
	gwMetrics     string
	gw            *proc
	platformToken string
	kafka         *kgo.Client
	adm           *kadm.Client
	clocks        *partitionClocks
	platform      *gwClient
	stats         *soakStats
	firstInvite   chan string
	failures      atomic.Int64
	stopping      atomic.Bool
	scraper       *http.Client
	crowds        []*crowd // every crowd started, for the test's end to wait for
}

// fail reports a failure from any goroutine; after the first 30 it only
// counts them, so one broken thing does not bury the rest. Once the test
// is stopping (its own goroutine failed), the clients' errors are those of
// their cancelled requests, and are not reported.
func (s *soak) fail(format string, args ...any) {
	if s.stopping.Load() {
		return
	}
	if n := s.failures.Add(1); n <= 30 {
		s.t.Errorf(format, args...)
	} else if n == 31 {
		s.t.Errorf("more failures follow; only counted")
	}
}

// soakReplica is one `linger run` of the soak.
type soakReplica struct {
	id      string
	p       *proc
	metrics string // http://host:port
}

// startReplica starts a replica of the soak's group. Event time alone
// moves its partitions' watermarks (--event-time-only): a replay of the
// same events then decides exactly what it decides, timers included,
// whatever the wall clock did while the machine was busy.
func (s *soak) startReplica(id string) *soakReplica {
	s.t.Helper()
	p := start(s.t, nil, "run", "--brokers", s.addr, "--group", soakGroup, "--instance-id", id, "--event-time-only",
		"--group-session-timeout", "6s", "--cache-bytes", "64MiB", "--http", "127.0.0.1:0", "--pprof")
	url := p.waitOutput(s.t, `serving /metrics.* addr=(http://127\.0\.0\.1:\d+)`, 30*time.Second)[1]
	return &soakReplica{id: id, p: p, metrics: url}
}

// scrape reads a process's metrics, on a connection of its own that is
// closed after the answer.
func (s *soak) scrape(base string) (promscrape.Families, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return promscrape.Get(ctx, s.scraper, base+"/metrics")
}

// metric sums the samples of a family whose labels include the given
// name, value pairs; -1 when the process did not answer.
func (s *soak) metric(base, name string, labels ...string) float64 {
	f, err := s.scrape(base)
	if err != nil {
		return -1
	}
	sum := 0.0
	f.Each(name, func(l map[string]string, v float64) {
		for i := 0; i+1 < len(labels); i += 2 {
			if l[labels[i]] != labels[i+1] {
				return
			}
		}
		sum += v
	})
	return sum
}

// waitFor polls ok every 200 ms until it holds, or fails the test after
// timeout: every wait of the soak is for something to happen, bounded
// generously, as the machine may be busy.
func (s *soak) waitFor(what string, timeout time.Duration, ok func() bool) time.Duration {
	s.t.Helper()
	began := time.Now()
	for !ok() {
		if time.Since(began) > timeout {
			s.t.Fatalf("waited %v for %s", timeout, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return time.Since(began)
}

// status answers a GET with its status code, 0 if none came.
func (s *soak) status(url string) int {
	resp, err := s.scraper.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// balanced waits until the replicas hold every partition between them,
// half each, and are ready.
func (s *soak) balanced(rs ...*soakReplica) time.Duration {
	s.t.Helper()
	return s.waitFor("the replicas to share the partitions", 2*time.Minute, func() bool {
		for _, r := range rs {
			if s.status(r.metrics+"/readyz") != http.StatusOK || s.metric(r.metrics, "linger_partitions_assigned") != soakPartitions/float64(len(rs)) {
				return false
			}
		}
		return true
	})
}

// holding is what a process holds: open file descriptors (counted in
// /proc) and goroutines (go_goroutines).
type holding struct{ fds, goroutines int }

func (s *soak) holding(p *proc, metrics string) holding {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p.cmd.Process.Pid))
	if err != nil {
		s.t.Fatalf("counting file descriptors: %v", err)
	}
	return holding{fds: len(ents), goroutines: int(s.metric(metrics, "go_goroutines"))}
}

// Leak margins: what a process may hold beyond its start once the soak is
// over. A Kafka client may hold one more connection than at the start
// (a broker's metadata and group connections are separate), and the
// runtime keeps a few goroutines that come and go.
const (
	fdMargin        = 4
	goroutineMargin = 10
)

// TestSoak runs the embedded broker, two replicas (exactly-once) and the
// gateway as processes and drives hundreds of visitors through the
// gateway's API while hostile clients and records do their worst and one
// replica is killed with SIGKILL and restarted. At the end every good
// visitor's decision is on chat-invites exactly once and is what a replay
// of the events decides, every bad record is in the DLQ with its reason,
// everything is up, and no process holds more file descriptors or
// goroutines than it started with. `make soak` runs it (a few minutes);
// `make test` does not (build tag soak).
func TestSoak(t *testing.T) {
	began := time.Now()
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	platformFile := filepath.Join(dir, "platform")
	for f, v := range map[string]string{secretFile: gatewaySecret, platformFile: soakPlatformToken} {
		if err := os.WriteFile(f, []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s := &soak{t: t, platformToken: soakPlatformToken, clocks: newPartitionClocks(soakPartitions), stats: newSoakStats(),
		firstInvite: make(chan string, 1), scraper: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}}
	s.addr = startBroker(t, soakPartitions)
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.addr), kgo.ProducerBatchMaxBytes(2<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	s.kafka, s.adm = cl, kadm.NewClient(cl)

	a, b := s.startReplica("soak-a"), s.startReplica("soak-b")
	s.gw = start(t, nil, "gateway", "--brokers", s.addr, "--secret-file", secretFile, "--platform-token-file", platformFile,
		"--sites", "shop-a,shop-b", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0",
		"--max-conns-per-ip", strconv.Itoa(soakConnsPerIP), "--max-streams-per-ip", strconv.Itoa(soakStreamsPerIP))
	s.gwURL = s.gw.waitOutput(t, `linger gateway listening on (http://127\.0\.0\.1:\d+)`, 30*time.Second)[1]
	s.gwMetrics = s.gw.waitOutput(t, `serving /metrics.* addr=(http://127\.0\.0\.1:\d+)`, 10*time.Second)[1]
	s.platform = newGWClient(s.gwURL, "127.2.0.1")
	s.waitFor("the gateway to be ready", time.Minute, func() bool { return s.status(s.gwMetrics+"/readyz") == http.StatusOK })
	s.balanced(a, b)
	startTook := time.Since(began)
	// A failure of the test's own goroutine stops every client before the
	// test ends: none may report after it.
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	defer func() {
		s.stopping.Store(true)
		cancel()
		wg.Wait()
		for _, c := range s.crowds {
			c.done.Wait()
		}
	}()

	// Warm-up: a few visitors through every path, so that the start
	// figures count the connections every process keeps.
	s.leave(ctx, s.arrive(ctx, 0, soakWarmup, time.Now(), 200*time.Millisecond))
	if t.Failed() {
		t.FailNow()
	}
	s.settle()
	before := map[string]holding{"gateway": s.holding(s.gw, s.gwMetrics), a.id: s.holding(a.p, a.metrics), b.id: s.holding(b.p, b.metrics)}
	warmupTook := time.Since(began)

	// The main phase: visitors arrive while the hostile clients and
	// records come at their times.
	phase := time.Now()
	var badMu sync.Mutex
	var bad []injected
	at := func(d time.Duration, f func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-time.After(time.Until(phase.Add(d))):
				f()
			case <-ctx.Done():
			}
		}()
	}
	inject := func(w int) func() {
		return func() {
			r := s.injectKafka(ctx, w)
			badMu.Lock()
			bad = append(bad, r...)
			badMu.Unlock()
		}
	}
	visitors := s.arrive(ctx, soakWarmup, soakVisitors, phase, soakArrival)
	at(5*time.Second, inject(1))
	at(8*time.Second, func() { s.stall(ctx, 0) })
	at(20*time.Second, func() { s.hostileEvents(ctx, 10) })
	at(25*time.Second, func() { s.floodRequests(ctx, 150) })
	at(30*time.Second, func() { s.forgeFeedback(ctx, 10) })
	at(35*time.Second, func() { s.floodConns(ctx, soakConnsPerIP, soakConnsPerIP) })
	at(38*time.Second, func() { s.floodStreams(ctx, soakStreamsPerIP, 10) })
	at(55*time.Second, inject(2))
	at(80*time.Second, inject(3))
	at(85*time.Second, func() { s.stall(ctx, 1) })

	// Halfway through the arrivals, replica b dies without a word. a
	// takes its partitions once the group gives up on it (the 6 s
	// session timeout), restoring their state from the changelog; then b
	// comes back under the same instance id, and the two share again.
	time.Sleep(time.Until(phase.Add(45 * time.Second)))
	if err := b.p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-b.p.exited
	failover := s.waitFor("replica a to take every partition", 2*time.Minute, func() bool {
		return s.metric(a.metrics, "linger_partitions_assigned") == soakPartitions
	})
	restartedAt := time.Now()
	killed := b
	b = s.startReplica("soak-b")
	s.balanced(a, b)
	rebalanced := time.Since(restartedAt)
	lastWait := s.leave(ctx, visitors)
	wg.Wait()
	trafficTook := time.Since(phase)

	// Every event and feedback record processed and committed.
	for _, topic := range []string{schemas.TopicEvents, schemas.TopicFeedback} {
		if err := kafkatest.WaitCommitted(ctx, s.adm, soakGroup, topic, 3*time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	read := func(topic string) []*kgo.Record {
		recs, err := kafkatest.ReadCommitted(ctx, s.addr, s.adm, topic, 2*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return recs
	}
	decisions, err := kafkatest.ReadDecisions(ctx, s.addr, s.adm, schemas.TopicInvites, 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	badAt := map[where]injected{}
	for _, r := range bad {
		badAt[where{r.topic, r.partition, r.offset}] = r
	}
	events := read(schemas.TopicEvents)
	replayed, replayDecided := s.checkDecisions(decisions, events, badAt)
	s.checkEvents(events, badAt)
	dlq := read(schemas.TopicDLQ)
	dlqBy := s.checkDLQ(dlq, badAt)
	s.checkStreams(decisions)
	s.checkFeedback(read(schemas.TopicFeedback), decisions, badAt)
	s.checkGatewayCounts()

	// Everything is up, and holds what it held at the start.
	for _, r := range []*soakReplica{a, b} {
		for _, path := range []string{"/healthz", "/readyz"} {
			if code := s.status(r.metrics + path); code != http.StatusOK {
				t.Errorf("replica %s %s: %d", r.id, path, code)
			}
		}
		if n := s.metric(r.metrics, "linger_dlq_write_failures_total"); n != 0 {
			t.Errorf("replica %s could not write %v DLQ records", r.id, n)
		}
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if code := s.status(s.gwMetrics + path); code != http.StatusOK {
			t.Errorf("gateway %s: %d", path, code)
		}
	}
	// Nothing a client or a record sent is an error of linger's: it is
	// refused, counted and in the DLQ, not in the logs at level ERROR.
	warnings := map[string]int{}
	for name, p := range map[string]*proc{"gateway": s.gw, a.id: a.p, b.id + " (killed)": killed.p, b.id: b.p} {
		for _, line := range strings.Split(p.output(), "\n") {
			switch {
			case strings.Contains(line, "level=ERROR"):
				t.Errorf("%s logged an error: %s", name, line)
			case strings.Contains(line, "level=WARN"):
				warnings[name]++
			}
		}
	}
	checksTook := time.Since(phase.Add(trafficTook))
	s.settle()
	procs := map[string]func() holding{
		"gateway": func() holding { return s.holding(s.gw, s.gwMetrics) },
		a.id:      func() holding { return s.holding(a.p, a.metrics) },
		b.id:      func() holding { return s.holding(b.p, b.metrics) },
	}
	after := map[string]holding{}
	within := func() bool {
		ok := true
		for name, u := range procs {
			after[name] = u()
			ok = ok && after[name].fds <= before[name].fds+fdMargin && after[name].goroutines <= before[name].goroutines+goroutineMargin
		}
		return ok
	}
	settled := time.Now()
	for !within() && time.Since(settled) < time.Minute {
		time.Sleep(time.Second)
	}
	settleTook := time.Since(settled)
	for _, name := range []string{"gateway", a.id, b.id} {
		if after[name].fds > before[name].fds+fdMargin || after[name].goroutines > before[name].goroutines+goroutineMargin {
			t.Errorf("%s holds %d file descriptors and %d goroutines after the soak, %d and %d before", name,
				after[name].fds, after[name].goroutines, before[name].fds, before[name].goroutines)
		}
	}

	// The figures, for the README.
	st := s.stats
	st.mu.Lock()
	defer st.mu.Unlock()
	invites, byReason, byTrigger := 0, map[string]int{}, map[string]int{}
	for _, v := range decisions.ByID {
		d, _ := schemas.ParseDecision([]byte(v))
		if d.Action == schemas.ActionInvite {
			invites++
			byReason[d.Reason.String()]++
			byTrigger[d.Trigger.String()]++
		}
	}
	t.Logf("soak: %v in all: start %v, warm-up %v, traffic %v (the kill included), checks %v, resources back in %v",
		time.Since(began).Round(time.Second), startTook.Round(time.Second), (warmupTook - startTook).Round(time.Second),
		trafficTook.Round(time.Second), checksTook.Round(time.Second), settleTook.Round(time.Second))
	t.Logf("visitors: %d (%d warm-up) on 2 sites: %v; %d batches, %d events taken; %d records on visitor-events (%d replayed)",
		len(st.sessions), soakWarmup, personaCounts(st.visitors), st.batches, st.eventsAccepted, len(events), replayed)
	t.Logf("decisions: %d on chat-invites (%d read twice), %d by the replay: %d invites %v by %v; %d reached their visitor's stream, %d visitors meant to be invited got none (%v from the last batch to the last decision read)",
		len(decisions.ByID), len(decisions.Twice), replayDecided, invites, byReason, byTrigger, len(st.overSSE), st.waitedInVain, lastWait.Round(100*time.Millisecond))
	t.Logf("feedback taken: %v; refused: %d repeats (409), forged %v", st.feedback, st.repeats, st.forged)
	t.Logf("gateway refused events: %v; hostile sessions: %d", st.gwRejected, len(st.hostileSessions))
	t.Logf("dlq: %d records of %d bad ones, by reason %v", len(dlq), len(bad), dlqBy)
	t.Logf("stalled connections: %v, each ended within %v", st.stalledBy, durations(st.stalledLongest))
	t.Logf("floods: %d connections from one address: %d refused at once, %d held until the header timeout (the longest %v); %d requests limited (429) of 150; %d streams held, %d refused",
		st.floodRefused+st.floodHeld, st.floodRefused, st.floodHeld, st.floodLongest.Round(100*time.Millisecond), st.rateLimited, st.streamsHeld, st.streamsRefused)
	t.Logf("kill: replica %s killed at %v, its partitions on %s after %v, back and sharing after %v", b.id, 45*time.Second,
		a.id, failover.Round(100*time.Millisecond), rebalanced.Round(100*time.Millisecond))
	t.Logf("log lines at level WARN: %v", warnings)
	for _, name := range []string{"gateway", a.id, b.id} {
		t.Logf("%s: %d file descriptors and %d goroutines before, %d and %d after", name,
			before[name].fds, before[name].goroutines, after[name].fds, after[name].goroutines)
	}
}

func personaCounts(n [numPersonas]int) map[string]int {
	out := map[string]int{}
	for p, c := range n {
		out[persona(p).String()] = c
	}
	return out
}

func durations(m map[string]time.Duration) map[string]string {
	out := map[string]string{}
	for k, d := range m {
		out[k] = d.Round(100 * time.Millisecond).String()
	}
	return out
}

// settle waits until the gateway holds no client connection and serves
// no request, the platform's kept-alive ones closed first.
func (s *soak) settle() {
	s.t.Helper()
	s.platform.close()
	s.waitFor("the gateway's connections to close", time.Minute, func() bool {
		return s.metric(s.gwMetrics, "linger_gateway_connections") == 0 && s.metric(s.gwMetrics, "linger_gateway_in_flight_requests") == 0
	})
}

// checkDecisions replays the events the gateway took (every record of
// visitor-events but the bad ones, in the order of their partitions) with
// `linger replay`, and compares its decisions with the replicas': the
// same ids with the same contents (but decided_at), none twice. It
// returns the records replayed and the replay's decisions.
func (s *soak) checkDecisions(decisions *kafkatest.Decisions, events []*kgo.Record, bad map[where]injected) (int, int) {
	t := s.t
	slices.SortStableFunc(events, func(x, y *kgo.Record) int {
		if x.Partition != y.Partition {
			return int(x.Partition - y.Partition)
		}
		return int(x.Offset - y.Offset)
	})
	var in bytes.Buffer
	last := map[int32]int64{}
	n := 0
	for _, r := range events {
		if _, ok := bad[where{r.Topic, r.Partition, r.Offset}]; ok {
			continue
		}
		var ev struct {
			TS int64 `json:"ts"`
		}
		if err := json.Unmarshal(r.Value, &ev); err != nil {
			t.Fatalf("visitor-events %d/%d: %v", r.Partition, r.Offset, err)
		}
		if ev.TS < last[r.Partition] {
			t.Fatalf("the soak's own premise broke: event time goes back on partition %d at offset %d (%d after %d)", r.Partition, r.Offset, ev.TS, last[r.Partition])
		}
		last[r.Partition] = ev.TS
		in.Write(r.Value)
		in.WriteByte('\n')
		n++
	}
	dir := t.TempDir()
	input, out := filepath.Join(dir, "events.jsonl"), filepath.Join(dir, "decisions.jsonl")
	if err := os.WriteFile(input, in.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	// The replay stands for the topic's partitions, and leaves pending
	// the deadlines that no later event let the replicas fire.
	code, text := run(t, "replay", "--input", input, "--partitions", strconv.Itoa(soakPartitions), "--no-drain", "--decisions", out)
	if code != 0 {
		t.Fatalf("linger replay: exit %d\n%s", code, text)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want := &kafkatest.Decisions{ByID: map[string]string{}}
	for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		d, err := schemas.ParseDecision(line)
		if err != nil {
			t.Fatalf("replayed decision %s: %v", line, err)
		}
		d.DecidedAt = 0
		want.ByID[string(d.ID)] = string(schemas.AppendDecision(nil, d))
	}
	for _, diff := range kafkatest.Diff(decisions, want, 20) {
		t.Errorf("chat-invites against the replay: %s", diff)
	}
	if len(want.ByID) < soakVisitors/10 {
		t.Errorf("only %d decisions: the visitors' scripts no longer make invites", len(want.ByID))
	}
	return n, len(want.ByID)
}

// checkEvents: on visitor-events, each good session has exactly the
// events the gateway took from it, each hostile session its one good
// event, and nothing else is there but the bad records.
func (s *soak) checkEvents(events []*kgo.Record, bad map[where]injected) {
	perSession := map[string]int{}
	for _, r := range events {
		if _, ok := bad[where{r.Topic, r.Partition, r.Offset}]; ok {
			continue
		}
		perSession[string(r.Key)]++
		if bytes.Contains(r.Value, []byte("shop-b")) && slices.Contains(s.stats.hostileSessions, string(r.Key)) {
			s.fail("a hostile session's event for another site reached Kafka: %s", r.Value)
		}
	}
	for session, n := range s.stats.eventsSent {
		if perSession[session] != n {
			s.fail("session %s: %d events on visitor-events, the gateway took %d", session, perSession[session], n)
		}
		delete(perSession, session)
	}
	for _, session := range s.stats.hostileSessions {
		if perSession[session] != 1 {
			s.fail("hostile session %s: %d events on visitor-events, want its 1 good one", session, perSession[session])
		}
		delete(perSession, session)
	}
	for session, n := range perSession {
		s.fail("%d events of session %q on visitor-events, which no visitor sent", n, session)
	}
}

// checkDLQ: every bad record is in the DLQ once, under its reason, with
// its key and its source; its value is unchanged, or, for the oversized
// one, cut to fit with its size in linger.dlq.truncated; nothing else is
// there. It returns the DLQ's records by reason.
func (s *soak) checkDLQ(dlq []*kgo.Record, bad map[where]injected) map[string]int {
	byReason := map[string]int{}
	seen := map[where]int{}
	for _, r := range dlq {
		h := map[string]string{}
		for _, kv := range r.Headers {
			h[kv.Key] = string(kv.Value)
		}
		part, _ := strconv.ParseInt(h[schemas.HeaderSourcePartition], 10, 32)
		off, _ := strconv.ParseInt(h[schemas.HeaderSourceOffset], 10, 64)
		src := where{h[schemas.HeaderSourceTopic], int32(part), off}
		byReason[h[schemas.HeaderDLQReason]]++
		want, ok := bad[src]
		if !ok {
			s.fail("a DLQ record of %v that was not a bad record (%s: %s): %.200s", src, h[schemas.HeaderDLQReason], h[schemas.HeaderDLQError], r.Value)
			continue
		}
		seen[src]++
		switch {
		case h[schemas.HeaderDLQReason] != want.reason:
			s.fail("DLQ record of %s: reason %s (%s), want %s", want.key, h[schemas.HeaderDLQReason], h[schemas.HeaderDLQError], want.reason)
		case string(r.Key) != want.key:
			s.fail("DLQ record of %s has key %q", want.key, r.Key)
		case want.reason == "too_large":
			if h[schemas.HeaderDLQTruncated] != strconv.Itoa(len(want.value)) || len(r.Value) == 0 || len(r.Value) >= len(want.value) || !bytes.HasPrefix(want.value, r.Value) {
				s.fail("DLQ record of %s: %d bytes, truncated header %q; want the start of its %d bytes", want.key, len(r.Value), h[schemas.HeaderDLQTruncated], len(want.value))
			}
		case !bytes.Equal(r.Value, want.value):
			s.fail("DLQ record of %s: value %q, want %q", want.key, r.Value, want.value)
		}
	}
	for src, want := range bad {
		if seen[src] != 1 {
			s.fail("bad record %s (%s) is in the DLQ %d times", want.key, want.reason, seen[src])
		}
	}
	return byReason
}

// invitesOf returns the invites on chat-invites by session.
func invitesOf(decisions *kafkatest.Decisions) map[string][]string {
	out := map[string][]string{}
	for id, v := range decisions.ByID {
		d, err := schemas.ParseDecision([]byte(v))
		if err == nil && d.Action == schemas.ActionInvite && !d.Holdout {
			out[string(d.Session)] = append(out[string(d.Session)], id)
		}
	}
	return out
}

// checkStreams: what a visitor's stream sent is its session's invite, as
// on chat-invites, and every visitor meant to be invited who was while it
// listened heard of it on its stream.
func (s *soak) checkStreams(decisions *kafkatest.Decisions) {
	invites := invitesOf(decisions)
	for session, v := range s.stats.sessions {
		got, heard := s.stats.overSSE[session]
		if heard && !slices.Contains(invites[session], got) {
			s.fail("visitor %d's stream sent %s, which is not one of its session's invites %v", v.i, got, invites[session])
		}
		if heard || !v.persona.wantsInvite() {
			continue
		}
		for _, id := range invites[session] {
			if _, ok := v.crowd.decided[id]; ok {
				s.fail("visitor %d (%s) was invited (%s) while it listened, but its stream did not say so", v.i, v.persona, id)
			}
		}
	}
}

// checkFeedback: chat-feedback holds what the gateway took (202) and
// nothing else but the bad records: every record on an invite of its own
// session, none twice.
func (s *soak) checkFeedback(recs []*kgo.Record, decisions *kafkatest.Decisions, bad map[where]injected) {
	byType := map[string]int{}
	seen := map[string]bool{}
	var dec schemas.FeedbackDecoder
	var f schemas.Feedback
	for _, r := range recs {
		if _, ok := bad[where{r.Topic, r.Partition, r.Offset}]; ok {
			continue
		}
		if err := dec.Decode(r.Key, r.Value, time.Now().UnixMilli(), &f); err != nil {
			s.fail("chat-feedback %d/%d: %v", r.Partition, r.Offset, err)
			continue
		}
		byType[f.Type.String()]++
		if _, ok := decisions.ByID[string(f.InviteID)]; !ok || !strings.HasPrefix(string(f.InviteID), string(f.Session)+"/") {
			s.fail("chat-feedback holds %s on %s, an invite its session was not given", f.Type, f.InviteID)
		}
		k := string(f.InviteID) + " " + f.Type.String()
		if seen[k] {
			s.fail("chat-feedback holds %s twice", k)
		}
		seen[k] = true
	}
	for _, typ := range schemas.FeedbackTypes() {
		if byType[typ] != s.stats.feedback[typ] {
			s.fail("chat-feedback holds %d %s records, the gateway took %d", byType[typ], typ, s.stats.feedback[typ])
		}
	}
}

// checkGatewayCounts: the gateway's counters say what its clients saw.
func (s *soak) checkGatewayCounts() {
	st := s.stats
	check := func(what string, got float64, want int) {
		if got != float64(want) {
			s.fail("gateway: %s = %v, the clients saw %d", what, got, want)
		}
	}
	for _, reason := range []string{"unknown_invite", "duplicate", "type_not_allowed", "site_mismatch"} {
		check("feedback refused for "+reason, s.metric(s.gwMetrics, "linger_gateway_feedback_rejected_total", "reason", reason), st.fbRejected[reason])
	}
	for _, reason := range []string{"site_mismatch", "bad_field"} {
		check("events refused for "+reason, s.metric(s.gwMetrics, "linger_gateway_rejected_events_total", "reason", reason), st.gwRejected[reason])
	}
	check("events accepted", s.metric(s.gwMetrics, "linger_gateway_events_total", "result", "accepted"), st.eventsAccepted)
	check("connections refused per address", s.metric(s.gwMetrics, "linger_gateway_connections_refused_total", "scope", "address"), st.floodRefused)
	check("requests limited per address", s.metric(s.gwMetrics, "linger_gateway_rate_limited_total", "scope", "ip"), st.rateLimited)
	check("streams refused", s.metric(s.gwMetrics, "linger_gateway_rate_limited_total", "scope", "streams"), st.streamsRefused)
	check("records Kafka did not take", s.metric(s.gwMetrics, "linger_gateway_produce_errors_total"), 0)
}
