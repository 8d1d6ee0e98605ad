package pipeline

import (
	"context"
	"math"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/lingerhq/linger/bench"
	"github.com/lingerhq/linger/internal/kafkatest"
	"github.com/lingerhq/linger/schemas"
	"github.com/lingerhq/linger/scoring"
)

var tsField = regexp.MustCompile(`"ts":(\d+)`)

// TestClosedLoop drives two replicas with simulated traffic and a chat
// platform: capacity records for the shop's teams on chat-capacity (plenty
// of slots, then none from three quarters of the traffic's event time on) and
// feedback on chat-feedback. Invites stop at the event time the capacity
// fell to zero, whatever the order in which the records arrived; a
// configured holdout share shows in the decisions; each replica consumes
// the feedback partitions of the events partitions it owns, and commits
// them.
func TestClosedLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about 10 s")
	}
	for _, g := range []Guarantee{ExactlyOnce, AtLeastOnce} {
		t.Run(string(g), func(t *testing.T) { closedLoop(t, g) })
	}
}

func closedLoop(t *testing.T, guarantee Guarantee) {
	const partitions = 4
	name := "loop-" + string(guarantee)
	b := startBroker(t, partitions)
	cl := newClient(t, b.Addr())
	adm := kadm.NewClient(cl)
	ctx := context.Background()
	base := scenarioTopics(t, adm, name, partitions)
	for _, topic := range []string{"feedback-" + name, "capacity-" + name} {
		if resp, err := adm.CreateTopic(ctx, partitions, 1, nil, topic); err != nil || resp.Err != nil {
			t.Fatal(err, resp.Err)
		}
	}
	scfg, err := scoring.ParseConfig([]byte("holdout_percent: 25\nfrequency_cap:\n  invites: 0\n"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := func(c *Config) {
		base(c)
		c.Scoring = scfg
		c.FeedbackTopic = "feedback-" + name
		c.CapacityTopic = "capacity-" + name
		c.Guarantee = guarantee
	}

	recs := bench.GenerateRecords(3, 150000)
	ts := func(r bench.Record) int64 {
		n, _ := strconv.ParseInt(string(tsField.FindSubmatch(r.Value)[1]), 10, 64)
		return n
	}
	first, last := ts(recs[0]), ts(recs[len(recs)-1])
	full := first + (last-first)*3/4
	capacity := func(slots int64, at int64) []*kgo.Record {
		var out []*kgo.Record
		for _, team := range []string{"sales", "service"} {
			c := schemas.Capacity{Site: []byte(bench.DefaultSite), Team: []byte(team), Agents: 50, FreeSlots: slots, AvgHandleS: 60, TS: at}
			out = append(out, &kgo.Record{Topic: "capacity-" + name,
				Key:   schemas.AppendCapacityKey(nil, c.Site, c.Team),
				Value: schemas.AppendCapacity(nil, &c)})
		}
		return out
	}
	// The platform's records, both before any event: the table answers
	// by event time, not by arrival.
	caps := append(capacity(1000, first-time.Hour.Milliseconds()), capacity(0, full)...)
	if err := cl.ProduceSync(ctx, caps...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	var fb []*kgo.Record
	for i, r := range recs[:200] {
		f := schemas.Feedback{Type: schemas.FeedbackShown, InviteID: append(append([]byte{}, r.Key...), "/1"...), Session: r.Key, TS: first + int64(i)}
		fb = append(fb, &kgo.Record{Topic: "feedback-" + name, Key: r.Key, Value: schemas.AppendFeedback(nil, &f)})
	}
	if err := cl.ProduceSync(ctx, fb...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	r1, r2 := startRunner(t, b.Addr(), cfg), startRunner(t, b.Addr(), cfg)
	produceRecords(t, cl, "events-"+name, recs)
	if err := kafkatest.WaitCommitted(ctx, adm, "g-"+name, "events-"+name, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := kafkatest.WaitCommitted(ctx, adm, "g-"+name, "feedback-"+name, time.Minute); err != nil {
		t.Fatal(err)
	}

	// Co-partitioned: every member owns feedback partition p exactly when
	// it owns events partition p.
	groups, err := adm.DescribeGroups(ctx, "g-"+name)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range groups["g-"+name].Members {
		ca, ok := m.Assigned.AsConsumer()
		if !ok {
			t.Fatalf("member %s: not a consumer assignment", m.MemberID)
		}
		owned := map[string][]int32{}
		for _, tp := range ca.Topics {
			owned[tp.Topic] = tp.Partitions
		}
		if len(owned["events-"+name]) == 0 || !sameSet(owned["events-"+name], owned["feedback-"+name]) {
			t.Errorf("member %s owns events %v and feedback %v", m.MemberID, owned["events-"+name], owned["feedback-"+name])
		}
	}
	shown := testutilValue(r1.m.feedback.WithLabelValues("invite_shown")) + testutilValue(r2.m.feedback.WithLabelValues("invite_shown"))
	if shown != float64(len(fb)) {
		t.Errorf("feedback counted %v, want %d", shown, len(fb))
	}
	r1.stop(t)
	r2.stop(t)

	got, err := kafkatest.ReadDecisions(ctx, b.Addr(), adm, "invites-"+name, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var before, after, holdout int
	for _, v := range got.ByID {
		d, err := schemas.ParseDecision([]byte(v))
		if err != nil {
			t.Fatal(err)
		}
		if d.Action != schemas.ActionInvite {
			continue
		}
		if d.EventTS >= full {
			after++
			t.Errorf("invite at event time %d, after the capacity fell to zero at %d", d.EventTS, full)
			continue
		}
		before++
		if d.Holdout {
			holdout++
		}
	}
	if before < 40 {
		t.Fatalf("only %d invites before the capacity fell: the traffic does not exercise the policy", before)
	}
	// 25% holdout, within four standard deviations of a binomial.
	share := float64(holdout) / float64(before)
	if sd := math.Sqrt(0.25 * 0.75 / float64(before)); math.Abs(share-0.25) > 4*sd {
		t.Errorf("holdout share %.3f of %d invites, want 0.25 ± %.3f", share, before, 4*sd)
	}
	suppressed := testutilValue(r1.m.suppressed.WithLabelValues("no_capacity")) + testutilValue(r2.m.suppressed.WithLabelValues("no_capacity"))
	if suppressed == 0 {
		t.Error("no would-be invite counted as suppressed for no_capacity")
	}
	t.Logf("%d invites before the capacity fell (%d holdout, %.1f%%), %d after; %v suppressed for no capacity", before, holdout, 100*share, after, suppressed)
}

func sameSet(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	in := map[int32]bool{}
	for _, p := range a {
		in[p] = true
	}
	for _, p := range b {
		if !in[p] {
			return false
		}
	}
	return true
}
