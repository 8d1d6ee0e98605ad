package replay

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestKeyPartitionMatchesKafkaClients: a replay puts each session on the
// partition franz-go (and Java clients) would, for keys of every length
// remainder and partition counts small and large.
func TestKeyPartitionMatchesKafkaClients(t *testing.T) {
	ref := kgo.StickyKeyPartitioner(nil).ForTopic("t")
	for _, n := range []int{1, 2, 3, 16, 100, 1024} {
		for i := range 2000 {
			key := fmt.Appendf(nil, "%0*d-session", i%7, i)
			if got, want := keyPartition(key, n), ref.Partition(&kgo.Record{Key: key}, n); got != want {
				t.Fatalf("key %q, %d partitions: %d, franz-go says %d", key, n, got, want)
			}
		}
	}
}
