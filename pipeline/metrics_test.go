package pipeline

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lingerhq/linger/internal/kafkatest"
	"github.com/lingerhq/linger/pipeline/partition"
	"github.com/lingerhq/linger/schemas"
	"github.com/lingerhq/linger/scoring"
)

// TestAcceptanceMetrics: invites shown and accepted are counters per site
// and team, labelled with the sites and teams the scoring config names
// (others under "other"), added per committed batch, so that replicas and
// partitions sum.
func TestAcceptanceMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := newMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	// Both families exist from the start.
	families := map[string]bool{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		families[mf.GetName()] = true
	}
	for _, name := range []string{"linger_invites_shown_total", "linger_invites_accepted_total"} {
		if !families[name] {
			t.Errorf("%s is not exported before any feedback", name)
		}
	}

	cfg, err := scoring.ParseConfig([]byte("frequency_cap: {invites: 0}\nsites: {shop: {}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	p := partition.New(0, partition.Config{Epoch: 1, Store: partition.NewStore(0), Scoring: cfg,
		Now: func() time.Time { return kafkatest.Start.Add(time.Hour) }})
	pm := m.forPartition(0)
	// Sessions 0–2 on shop, 3–4 on a site the config does not name: every
	// one invited.
	events := kafkatest.Hesitators(0, 3)
	for _, r := range kafkatest.Hesitators(3, 2) {
		events = append(events, kafkatest.Record{Key: r.Key, Value: bytes.ReplaceAll(r.Value, []byte(`"site":"shop"`), []byte(`"site":"elsewhere"`))})
	}
	p.Begin()
	for i, r := range events {
		p.Process(r.Key, r.Value, int64(i))
	}
	if out := p.End(); out.Decisions() != 5 {
		t.Fatalf("%d decisions, want 5 invites", out.Decisions())
	}
	pm.add(p.Commit(), p)

	feedback := func(typ schemas.FeedbackType, session int) (k, v []byte) {
		id := fmt.Appendf(nil, "s-%04d", session)
		f := schemas.Feedback{Type: typ, InviteID: fmt.Appendf(nil, "%s/1", id), Session: id, TS: kafkatest.Start.Add(2 * time.Minute).UnixMilli()}
		return id, schemas.AppendFeedback(nil, &f)
	}
	for _, batch := range [][]struct {
		typ     schemas.FeedbackType
		session int
	}{
		{{schemas.FeedbackShown, 0}, {schemas.FeedbackShown, 1}, {schemas.FeedbackAccepted, 0}, {schemas.FeedbackAccepted, 3}},
		// Repeats count once; chat_started implies accepted and shown;
		// declined, shown.
		{{schemas.FeedbackShown, 0}, {schemas.FeedbackChatStarted, 1}, {schemas.FeedbackDeclined, 2}, {schemas.FeedbackShown, 4}},
	} {
		p.Begin()
		for i, f := range batch {
			k, v := feedback(f.typ, f.session)
			p.Feedback(k, v, int64(i))
		}
		p.End()
		pm.add(p.Commit(), p)
	}
	for _, c := range []struct {
		site            string
		shown, accepted float64
	}{
		{"shop", 3, 2},
		{scoring.LabelOther, 2, 1},
	} {
		shown := testutilValue(m.invitesShown.WithLabelValues(c.site, "sales"))
		accepted := testutilValue(m.invitesAccepted.WithLabelValues(c.site, "sales"))
		if shown != c.shown || accepted != c.accepted {
			t.Errorf("site %q, team sales: %v shown, %v accepted; want %v and %v", c.site, shown, accepted, c.shown, c.accepted)
		}
	}
	if n := testutil.CollectAndCount(m.invitesShown); n != 3 {
		t.Errorf("%d series of linger_invites_shown_total, want 3 (other/other, shop/sales, other/sales)", n)
	}
}
