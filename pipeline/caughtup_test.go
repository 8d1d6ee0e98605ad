package pipeline

import (
	"context"
	"testing"

	"github.com/lingerhq/linger/schemas"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestCaughtUpNeedsListedEnd: a newly assigned partition counts as caught
// up (its watermark may follow the wall clock at once) only if the group's
// offset has reached the end offset the broker listed. A partition listed
// with an error (a leader moving, once the client's retries are spent) has
// the end offset -1, which any offset would pass: it is not caught up
// until its first fetch. The broker answers with an error the client does
// not retry, so the listing returns at once.
func TestCaughtUpNeedsListedEnd(t *testing.T) {
	b := startBroker(t, 2)
	cl := newClient(t, b.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: schemas.TopicEvents, Partition: 0, Value: []byte("{}")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	r, err := NewRunner(Config{Brokers: []string{b.Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	r.adm = kadm.NewClient(cl)
	ctx := context.Background()
	// The group exists, as it does once it assigns partitions.
	var offs kadm.Offsets
	offs.AddOffset(schemas.TopicEvents, 1, 0, -1)
	if err := r.adm.CommitAllOffsets(ctx, DefaultGroup, offs); err != nil {
		t.Fatal(err)
	}
	if got := r.caughtUp(ctx, []int32{0, 1}); got[0] || !got[1] {
		t.Fatalf("caught up %v, want partition 0 (a record, no commit) behind and 1 (empty) caught up", got)
	}

	b.Cluster().ControlKey(int16(kmsg.ListOffsets), func(req kmsg.Request) (kmsg.Response, error, bool) {
		b.Cluster().KeepControl()
		return listOffsetsAnswer(req, func(string, int32) (int16, int64) {
			return kerr.UnknownServerError.Code, -1
		}), nil, true
	})
	if got := r.caughtUp(ctx, []int32{0, 1}); got[0] || got[1] {
		t.Fatalf("caught up %v with every end offset listed as an error, want none", got)
	}
}

// listOffsetsAnswer builds the broker's answer to a ListOffsets request
// from answer, which gives each partition's error code and offset; for a
// test that makes the broker list end offsets its own way.
func listOffsetsAnswer(req kmsg.Request, answer func(topic string, partition int32) (errCode int16, offset int64)) kmsg.Response {
	lreq := req.(*kmsg.ListOffsetsRequest)
	resp := lreq.ResponseKind().(*kmsg.ListOffsetsResponse)
	for _, rt := range lreq.Topics {
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.ErrorCode, sp.Offset = answer(rt.Topic, rp.Partition)
			sp.Timestamp = -1
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
