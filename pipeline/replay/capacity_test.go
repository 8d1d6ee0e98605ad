package replay_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/lingerhq/linger/pipeline/replay"
)

// TestReplayUsesCapacity: chat-capacity records in the input decide by
// event time, as in a live run: a team with free slots gets the invite; a
// team whose slots fell to zero before the moment of the invite does not,
// wherever the record sits in the input.
func TestReplayUsesCapacity(t *testing.T) {
	const t0 = 1_767_225_600_000
	ev := func(at int64, body string) string {
		return fmt.Sprintf(`{"v":1,"session":"s-cap","visitor":"v-cap","site":"shop","ts":%d,%s}`, t0+at*1000, body)
	}
	events := []string{
		ev(0, `"type":"page_view","page":{"url":"/p/desk","kind":"product"}`),
		ev(5, `"type":"cart","action":"add","value":49900,"items":1,"page":{"url":"/p/desk","kind":"product"}`),
		ev(10, `"type":"page_view","page":{"url":"/checkout/payment","kind":"checkout"}`),
		ev(11, `"type":"checkout","step":2,"page":{"url":"/checkout/payment","kind":"checkout"}`),
		ev(100, `"type":"idle","ms":89000,"page":{"url":"/checkout/payment","kind":"checkout"}`),
	}
	capacity := func(at int64, slots int) string {
		return fmt.Sprintf(`{"v":1,"type":"capacity","site":"shop","team":"sales","agents":4,"free_slots":%d,"avg_handle_s":300,"ts":%d}`, slots, t0+at*1000)
	}
	for _, c := range []struct {
		name  string
		input []string
		want  int // invites
	}{
		{"no capacity data: the static budget, unlimited", events, 1},
		{"free slots", append([]string{capacity(-60, 5)}, events...), 1},
		{"full from 50 s on, record last in the input", append(append([]string{capacity(-60, 5)}, events...), capacity(50, 0)), 0},
		{"full only after the invite", append(append([]string{capacity(-60, 5)}, events...), capacity(200, 0)), 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			recs, err := replay.ReadJSONL(strings.NewReader(strings.Join(c.input, "\n")))
			if err != nil {
				t.Fatal(err)
			}
			res, err := replay.Run(recs, replay.Options{Partitions: 4})
			if err != nil {
				t.Fatal(err)
			}
			invites := 0
			for _, d := range res.Decisions {
				if d.Action.String() == "invite" {
					invites++
				}
			}
			if invites != c.want {
				t.Errorf("%d invites, want %d", invites, c.want)
			}
			if res.Events != len(events) {
				t.Errorf("%d events counted, want %d", res.Events, len(events))
			}
		})
	}
}
