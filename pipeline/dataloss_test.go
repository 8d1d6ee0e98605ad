package pipeline

import (
	"context"
	"testing"
	"time"

	"github.com/lingerhq/linger/internal/kafkatest"
	"github.com/lingerhq/linger/schemas"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestDataLossRewindsToCommitted: a leader whose log seems to have
// diverged (its epoch ends at offset 0, as kfake's leader moves sometimes
// answer) makes the client report lost records and move its fetch to the
// start of the partition, while the replica has committed everything it
// read and polled nothing since. Every event must still be applied once:
// the replica goes back to its committed offset, not to where the client
// moved. (The client skips a position it believes it has, so a plain
// rewind left the fetch at 0 and applied every event a second time.)
func TestDataLossRewindsToCommitted(t *testing.T) {
	for _, interval := range []time.Duration{0, 100 * time.Millisecond} {
		t.Run(interval.String(), func(t *testing.T) {
			b := startBroker(t, 1)
			r := startRunner(t, b.Addr(), func(cfg *Config) { cfg.CommitInterval = interval; cfg.EventTimeOnly = true })
			kafkatest.WaitFor(t, "ready", 10*time.Second, r.Ready)
			cl := newClient(t, b.Addr())
			adm := kadm.NewClient(cl)
			ctx := context.Background()
			events := func() float64 {
				var n float64
				for _, typ := range schemas.Types() {
					n += testutilValue(r.m.events.WithLabelValues(typ))
				}
				return n
			}

			first := kafkatest.Hesitators(0, 20)
			produce(t, cl, schemas.TopicEvents, first)
			if err := kafkatest.WaitCommitted(ctx, adm, "linger", schemas.TopicEvents, time.Minute); err != nil {
				t.Fatal(err)
			}

			c := b.Cluster()
			c.ControlKey(int16(kmsg.OffsetForLeaderEpoch), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
				req := kreq.(*kmsg.OffsetForLeaderEpochRequest)
				resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
				resp.Version = req.Version
				for _, rt := range req.Topics {
					if rt.Topic != schemas.TopicEvents {
						return nil, nil, false
					}
					st := kmsg.NewOffsetForLeaderEpochResponseTopic()
					st.Topic = rt.Topic
					for _, rp := range rt.Partitions {
						sp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
						sp.Partition, sp.LeaderEpoch, sp.EndOffset = rp.Partition, rp.CurrentLeaderEpoch, 0
						st.Partitions = append(st.Partitions, sp)
					}
					resp.Topics = append(resp.Topics, st)
				}
				return resp, nil, true
			})
			fenced := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Fetch}, Topic: schemas.TopicEvents, Err: kerr.FencedLeaderEpoch, Count: 1})
			kafkatest.WaitFor(t, "the fenced fetch", 10*time.Second, func() bool { return fenced.Hits() > 0 })

			more := kafkatest.Hesitators(20, 5)
			produce(t, cl, schemas.TopicEvents, more)
			if err := kafkatest.WaitCommitted(ctx, adm, "linger", schemas.TopicEvents, time.Minute); err != nil {
				t.Fatal(err)
			}
			// The replica commits before it counts; give a repeat time
			// to show.
			time.Sleep(500 * time.Millisecond)
			if got, want := events(), float64(len(first)+len(more)); got != want {
				t.Errorf("%v events applied for %v sent: a lost-records reset replayed what was committed", got, want)
			}
		})
	}
}
