package replay

import (
	"math"
	"testing"

	"github.com/lingerhq/linger/bench"
	"github.com/lingerhq/linger/pipeline/outcomes"
	"github.com/lingerhq/linger/schemas"
	"github.com/lingerhq/linger/scoring"
)

// simulated plays n events of the simulator at rate new sessions a second.
func simulated(t *testing.T, seed uint64, rate float64, n int) []Record {
	t.Helper()
	sim, err := bench.NewSimulator(bench.Config{Seed: seed, Rate: rate})
	if err != nil {
		t.Fatal(err)
	}
	st := sim.Stream(0)
	out := make([]Record, 0, n)
	var r bench.Record
	for len(out) < n && st.NextRecord(&r) {
		out = append(out, Record{Key: append([]byte(nil), r.Key...), Value: append([]byte(nil), r.Value...), TS: r.TS})
	}
	return out
}

// TestInviteShare: the report's invite share per reason counts the
// decisions' sessions over the eligible ones, and the threshold plot's
// point at the configured threshold, an estimate from the sessions' scores,
// comes near the share the replay measured.
func TestInviteShare(t *testing.T) {
	cfg, err := scoring.ParseConfig([]byte("session_timeout: 2m\n"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(simulated(t, 5, 3, 60000), Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	rep := res.Report("sim")
	by := map[schemas.Reason]map[string]bool{schemas.ReasonAbandonment: {}, schemas.ReasonConfusion: {}}
	all := map[string]bool{}
	for _, d := range res.Decisions {
		if d.Action == schemas.ActionInvite {
			by[d.Reason][string(d.Session)] = true
			all[string(d.Session)] = true
		}
	}
	e := rep.EligibleSessions
	if e == 0 || e > rep.Sessions || len(all) > e {
		t.Fatalf("%d eligible of %d sessions, %d invited", e, rep.Sessions, len(all))
	}
	for _, c := range []struct {
		name string
		got  outcomes.Estimate
		want int
	}{{"all", rep.InviteShare.All, len(all)}, {"abandonment", rep.InviteShare.Abandonment, len(by[schemas.ReasonAbandonment])}, {"confusion", rep.InviteShare.Confusion, len(by[schemas.ReasonConfusion])}} {
		if c.got.N != e || math.Abs(c.got.Value-float64(c.want)/float64(e)) > 1e-12 {
			t.Errorf("%s: %v of %d, want %d of %d", c.name, c.got.Value, c.got.N, c.want, e)
		}
	}
	if len(by[schemas.ReasonConfusion]) == 0 || len(by[schemas.ReasonAbandonment]) == 0 {
		t.Fatal("the simulated traffic should draw invites of both reasons")
	}
	if rep.InviteShare.Band != (Band{Low: 0.03, High: 0.10}) || rep.Plots.Band != rep.InviteShare.Band {
		t.Errorf("band %+v, plot's %+v: want rate_band's 3–10%%", rep.InviteShare.Band, rep.Plots.Band)
	}
	p, ok := nearest(rep.Plots.Thresholds, cfg.Thresholds.Abandonment)
	if !ok || math.Abs(p.InviteRate-rep.InviteShare.All.Value) > 0.03 {
		t.Errorf("the plot estimates %.3f at threshold %v, the replay measured %.3f", p.InviteRate, p.Threshold, rep.InviteShare.All.Value)
	}
	if math.Abs(p.ConfusionRate-rep.InviteShare.Confusion.Value) > 0.03 {
		t.Errorf("the plot's confusion share %.3f, the replay's %.3f", p.ConfusionRate, rep.InviteShare.Confusion.Value)
	}
	t.Logf("invite share %.3f (abandonment %.3f, confusion %.3f) of %d eligible; the plot's estimate %.3f (confusion %.3f)",
		rep.InviteShare.All.Value, rep.InviteShare.Abandonment.Value, rep.InviteShare.Confusion.Value, e, p.InviteRate, p.ConfusionRate)
}

// TestSweepRowAcceptance: a sweep row's acceptance per reason counts the
// input's feedback on the invites of each reason.
func TestSweepRowAcceptance(t *testing.T) {
	cfg, err := scoring.ParseConfig([]byte("session_timeout: 2m\n"))
	if err != nil {
		t.Fatal(err)
	}
	recs := simulated(t, 7, 3, 30000)
	res, err := Run(recs, Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	// Every invite shown; every 4th abandonment invite and every 2nd
	// confusion invite accepted.
	shown := map[string]int{}
	accepted := map[string]int{}
	n := map[schemas.Reason]int{}
	for _, d := range res.Decisions {
		if d.Action != schemas.ActionInvite || d.Holdout {
			continue
		}
		n[d.Reason]++
		f := schemas.Feedback{Type: schemas.FeedbackShown, InviteID: d.ID, Session: d.Session, TS: d.EventTS + 100}
		recs = append(recs, Record{Key: d.Session, Value: schemas.AppendFeedback(nil, &f), TS: f.TS, feedback: true})
		shown[d.Reason.String()]++
		if every := map[schemas.Reason]int{schemas.ReasonAbandonment: 4, schemas.ReasonConfusion: 2}[d.Reason]; n[d.Reason]%every == 0 {
			f.Type, f.TS = schemas.FeedbackAccepted, f.TS+100
			recs = append(recs, Record{Key: d.Session, Value: schemas.AppendFeedback(nil, &f), TS: f.TS, feedback: true})
			accepted[d.Reason.String()]++
		}
	}
	res, err = Run(recs, Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	row := NewSweepRow(SweepPoint{Values: []string{"x"}, Config: cfg}, res.Report("sim"))
	if row.Acceptance == nil {
		t.Fatal("no acceptance with feedback in the input")
	}
	for _, reason := range reasons {
		e := row.Acceptance.of(reason)
		if e.N != shown[reason] || math.Abs(e.Value-float64(accepted[reason])/float64(shown[reason])) > 1e-12 {
			t.Errorf("%s: acceptance %v of %d, want %d of %d", reason, e.Value, e.N, accepted[reason], shown[reason])
		}
	}
	if a := row.Acceptance.All; a.N != shown["abandonment"]+shown["confusion"] {
		t.Errorf("all: %d shown, want %d", a.N, shown["abandonment"]+shown["confusion"])
	}
}
