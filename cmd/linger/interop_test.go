package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/lingerhq/linger/schemas"
	"github.com/twmb/franz-go/pkg/kgo"
)

// kcat returns the path of kcat (librdkafka), a Kafka client nobody here
// wrote. .ci/run installs it and sets LINGER_REQUIRE_KCAT, so CI fails
// rather than skips when it is missing.
func kcat(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("kcat")
	if err != nil {
		if os.Getenv("LINGER_REQUIRE_KCAT") != "" {
			t.Fatal("kcat not found and LINGER_REQUIRE_KCAT is set: apt-get install -y kcat")
		}
		t.Skip("kcat not installed (apt-get install -y kcat); CI runs this test")
	}
	return path
}

func kcatRun(t *testing.T, stdin []byte, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, kcat(t), args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kcat %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// TestKcatInterop produces events with kcat and reads the invites with kcat.
// librdkafka's default partitioner hashes keys with CRC32, unlike Java and
// franz-go (murmur2): with -X partitioner=murmur2_random a librdkafka
// producer puts every session on the partition any other client would, and
// the test proves it.
func TestKcatInterop(t *testing.T) {
	kcat(t)
	const partitions = 4
	addr := startBroker(t, partitions)
	runner := start(t, nil, "run", "--brokers", addr, "--group", "interop", "--http", "")
	runner.waitOutput(t, `partitions gained`, 20*time.Second)

	keys, values := hesitatingSessions(20, time.Now().Add(-2*time.Minute).UnixMilli())
	var in bytes.Buffer
	for i := range keys {
		in.Write(keys[i])
		in.WriteByte('\t')
		in.Write(values[i])
		in.WriteByte('\n')
	}
	kcatRun(t, in.Bytes(), "-P", "-b", addr, "-t", schemas.TopicEvents, "-K", "\t", "-X", "partitioner=murmur2_random")
	// The same keys with librdkafka's default partitioner, to a topic of the
	// same partition count, to show the setting matters.
	kcatRun(t, in.Bytes(), "-P", "-b", addr, "-t", schemas.TopicFeedback, "-K", "\t")

	agree, disagree := placement(t, addr, schemas.TopicEvents, partitions), placement(t, addr, schemas.TopicFeedback, partitions)
	if disagree.wrong == 0 {
		t.Errorf("with librdkafka's default partitioner every key landed where franz-go puts it; the README's warning would be moot")
	}
	if agree.wrong != 0 || agree.total != 20 {
		t.Fatalf("with murmur2_random, %d of %d records are on another partition than franz-go and Java choose", agree.wrong, agree.total)
	}

	// Read the invites back with kcat, read committed, as a chat platform
	// built on librdkafka would.
	deadline := time.Now().Add(30 * time.Second)
	seen := map[string]bool{}
	for len(seen) < 20 {
		if time.Now().After(deadline) {
			t.Fatalf("kcat read %d of 20 invites", len(seen))
		}
		out := kcatRun(t, nil, "-C", "-b", addr, "-t", schemas.TopicInvites, "-o", "beginning", "-e", "-q",
			"-X", "isolation.level=read_committed", "-f", "%k\t%s\n")
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if line == "" {
				continue
			}
			key, value, ok := strings.Cut(line, "\t")
			if !ok {
				t.Fatalf("kcat line %q", line)
			}
			d, err := schemas.ParseDecision([]byte(value))
			if err != nil {
				t.Fatalf("kcat read a bad decision: %v\n%s", err, value)
			}
			if key != string(d.Session) {
				t.Fatalf("decision key %q is not its session %q", key, d.Session)
			}
			seen[string(d.ID)] = true
		}
		time.Sleep(200 * time.Millisecond)
	}
}

type placementResult struct{ total, wrong int }

// placement reads topic and counts the records that are not on the partition
// franz-go's default (Kafka-compatible murmur2) partitioner picks for them.
func placement(t *testing.T, addr, topic string, partitions int) placementResult {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	part := kgo.StickyKeyPartitioner(nil).ForTopic(topic)
	var r placementResult
	seen := map[string]bool{}
	for ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(rec *kgo.Record) {
			if seen[string(rec.Key)] {
				return // one record per session is enough
			}
			seen[string(rec.Key)] = true
			r.total++
			if part.Partition(rec, partitions) != int(rec.Partition) {
				r.wrong++
			}
		})
		if r.total == 20 {
			break
		}
	}
	return r
}
