package replay

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/lingerhq/linger/internal/htmltest"
	"github.com/lingerhq/linger/pipeline/outcomes"
	"github.com/lingerhq/linger/schemas"
)

// TestReplayFeedbackInput: feedback records mixed into a JSONL input are
// told apart by their type, kept out of the processor, and give the
// report its outcomes section; an input without feedback has none.
func TestReplayFeedbackInput(t *testing.T) {
	const t0 = 1_750_000_000_000
	var lines []string
	add := func(ev schemas.Event) {
		ev.Site = []byte("shop")
		lines = append(lines, string(schemas.AppendEvent(nil, &ev)))
	}
	checkout := schemas.Page{URL: []byte("/checkout/payment"), Kind: schemas.KindCheckout}
	for i := range 6 {
		s := []byte(fmt.Sprintf("fb-%d", i))
		add(schemas.Event{Type: schemas.TypePageView, Session: s, Page: checkout, TS: t0})
		add(schemas.Event{Type: schemas.TypeCart, Session: s, CartAction: schemas.CartAdd, Value: 25000, Items: 1, TS: t0 + 1000})
		add(schemas.Event{Type: schemas.TypeCheckout, Session: s, Step: 2, TS: t0 + 2000})
		add(schemas.Event{Type: schemas.TypeIdle, Session: s, MS: 70_000, Page: checkout, TS: t0 + 72_000})
		add(schemas.Event{Type: schemas.TypeExitIntent, Session: s, TS: t0 + 73_000})
	}
	input := strings.Join(lines, "\n") + "\n"

	recs, err := ReadJSONL(strings.NewReader(input))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(recs, Options{Partitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	if rep := res.Report("no feedback"); rep.Outcomes != nil {
		t.Fatal("outcomes section without feedback in the input")
	}
	var invites []*schemas.Decision
	for _, d := range res.Decisions {
		if d.Action == schemas.ActionInvite {
			invites = append(invites, d)
		}
	}
	if len(invites) < 2 {
		t.Fatalf("%d invites: the sessions should hesitate enough", len(invites))
	}

	// The chat platform's feedback on the first two invites, and one
	// record on an invite the replay did not make.
	var fb []string
	for i, d := range invites[:2] {
		f := schemas.Feedback{Type: schemas.FeedbackShown, InviteID: d.ID, Session: d.Session, Site: d.Site, TS: d.EventTS + 500}
		fb = append(fb, string(schemas.AppendFeedback(nil, &f)))
		if i == 0 {
			f.Type, f.TS = schemas.FeedbackAccepted, f.TS+1000
			fb = append(fb, string(schemas.AppendFeedback(nil, &f)))
		}
	}
	other := schemas.Feedback{Type: schemas.FeedbackDeclined, InviteID: []byte("elsewhere/1"), Session: []byte("elsewhere"), TS: t0}
	fb = append(fb, string(schemas.AppendFeedback(nil, &other)))
	recs, err = ReadJSONL(strings.NewReader(input + strings.Join(fb, "\n") + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	marked := 0
	for _, r := range recs {
		if r.feedback {
			marked++
		}
	}
	if marked != 4 {
		t.Fatalf("%d records marked feedback, want 4", marked)
	}
	res2, err := Run(recs, Options{Partitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(res2.Decisions) != len(res.Decisions) || res2.Events != res.Events || res2.rejected != 0 {
		t.Fatalf("feedback changed the replay: %d decisions, %d events, %d rejected; want %d, %d, 0",
			len(res2.Decisions), res2.Events, res2.rejected, len(res.Decisions), res.Events)
	}
	rep := res2.Report("with feedback")
	o := rep.Outcomes
	if o == nil {
		t.Fatal("no outcomes section with feedback in the input")
	}
	if o.Feedback != 4 || o.UnmatchedFeedback != 1 || o.Total.Invites != len(invites) || o.Total.Shown != 2 || o.Total.Accepted != 1 {
		t.Errorf("outcomes: %d feedback, %d unmatched, %d invites, %d shown, %d accepted; want 4, 1, %d, 2, 1",
			o.Feedback, o.UnmatchedFeedback, o.Total.Invites, o.Total.Shown, o.Total.Accepted, len(invites))
	}
	if o.Suppressed == nil || o.Suppressed.Sources[0] != outcomes.SuppressedByReplay {
		t.Errorf("a replay counts its own suppressions: %+v", o.Suppressed)
	}
	var text, page, js bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "measured outcomes: 4 feedback records on the replayed decisions") ||
		!strings.Contains(text.String(), "suppressed by cause (counted by the replay)") {
		t.Errorf("replay text lacks the outcomes section:\n%s", text.String())
	}
	if err := rep.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	htmltest.WellFormed(t, page.String())
	if !strings.Contains(page.String(), `<h2 id="measured">Measured outcomes</h2>`) {
		t.Error("replay page lacks the outcomes section")
	}
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Outcomes *outcomes.Report `json:"outcomes"`
	}
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil || doc.Outcomes == nil || doc.Outcomes.Total.Shown != 2 {
		t.Errorf("replay JSON outcomes: %v %+v", err, doc.Outcomes)
	}
}

// TestReplayChatSections: a replay whose input holds feedback gives the
// chat team's sections too: acceptance against its band, staffing with
// the would-be invites the replay held back for want of agents (its own
// tallies) and the input's capacity records, and satisfaction.
func TestReplayChatSections(t *testing.T) {
	const t0 = 1_750_000_000_000 // 2025-06-15T15:06:40Z, a Sunday
	var lines []string
	add := func(ev schemas.Event) {
		ev.Site = []byte("shop")
		lines = append(lines, string(schemas.AppendEvent(nil, &ev)))
	}
	capacity := func(at int64, slots int) {
		c := schemas.Capacity{Site: []byte("shop"), Team: []byte("sales"), Agents: 4, FreeSlots: int64(slots), AvgHandleS: 300, TS: at}
		lines = append(lines, string(schemas.AppendCapacity(nil, &c)))
	}
	checkout := schemas.Page{URL: []byte("/checkout/payment"), Kind: schemas.KindCheckout}
	hesitate := func(i int, start int64) {
		s := []byte(fmt.Sprintf("cs-%d", i))
		add(schemas.Event{Type: schemas.TypePageView, Session: s, Page: checkout, TS: start})
		add(schemas.Event{Type: schemas.TypeCart, Session: s, CartAction: schemas.CartAdd, Value: 25000, Items: 1, TS: start + 1000})
		add(schemas.Event{Type: schemas.TypeCheckout, Session: s, Step: 2, TS: start + 2000})
		add(schemas.Event{Type: schemas.TypeIdle, Session: s, MS: 70_000, Page: checkout, TS: start + 72_000})
		add(schemas.Event{Type: schemas.TypeExitIntent, Session: s, TS: start + 73_000})
	}
	// Free slots until 5 minutes in, none after: the later sessions'
	// would-be invites are held back for want of agents.
	capacity(t0-60_000, 50)
	for i := range 3 {
		hesitate(i, t0)
	}
	capacity(t0+5*60_000, 0)
	for i := 3; i < 6; i++ {
		hesitate(i, t0+10*60_000)
	}
	recs, err := ReadJSONL(strings.NewReader(strings.Join(lines, "\n") + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(recs, Options{Partitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	var invites []*schemas.Decision
	for _, d := range res.Decisions {
		if d.Action == schemas.ActionInvite {
			invites = append(invites, d)
		}
	}
	if len(invites) < 2 || res.suppressed["no_capacity"] == 0 {
		t.Fatalf("%d invites, %d held back for no capacity: the input should make both", len(invites), res.suppressed["no_capacity"])
	}
	// Feedback of every type on the first two invites.
	d0, d1 := invites[0], invites[1]
	for _, f := range []schemas.Feedback{
		{Type: schemas.FeedbackShown, InviteID: d0.ID, Session: d0.Session, TS: d0.EventTS + 500},
		{Type: schemas.FeedbackAccepted, InviteID: d0.ID, Session: d0.Session, TS: d0.EventTS + 1500},
		{Type: schemas.FeedbackChatStarted, InviteID: d0.ID, Session: d0.Session, TS: d0.EventTS + 2500},
		{Type: schemas.FeedbackChatEnded, InviteID: d0.ID, Session: d0.Session, TS: d0.EventTS + 200_000, HandleS: 200},
		{Type: schemas.FeedbackChatRated, InviteID: d0.ID, Session: d0.Session, TS: d0.EventTS + 210_000, Score: 5},
		{Type: schemas.FeedbackShown, InviteID: d1.ID, Session: d1.Session, TS: d1.EventTS + 500},
		{Type: schemas.FeedbackDeclined, InviteID: d1.ID, Session: d1.Session, TS: d1.EventTS + 900},
	} {
		lines = append(lines, string(schemas.AppendFeedback(nil, &f)))
	}
	if recs, err = ReadJSONL(strings.NewReader(strings.Join(lines, "\n") + "\n")); err != nil {
		t.Fatal(err)
	}
	if res, err = Run(recs, Options{Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	o := res.Report("chat").Outcomes
	if o == nil {
		t.Fatal("no outcomes section")
	}
	if len(o.Acceptance) != 1 || o.Acceptance[0].Shown != 2 || o.Acceptance[0].Accepted != 1 || o.Acceptance[0].Verdict != outcomes.VerdictAbove {
		t.Errorf("acceptance %+v, want shop/sales 1 of 2, above the band", o.Acceptance)
	}
	if b := o.StaffingBasis; b.Tallies != outcomes.SuppressedByReplay || b.CapacityRecords != 2 || b.TallyRecords == 0 {
		t.Errorf("staffing basis %+v", b)
	}
	// Held back: the later sessions, each once however many of its
	// moments were held back.
	var held int64
	accepted := 0
	for _, r := range o.Staffing {
		if r.SuppressedNoCapacity == nil {
			t.Fatalf("row %+v: the replay's own tallies are read", r)
		}
		held += *r.SuppressedNoCapacity
		accepted += r.Accepted
		if r.Accepted == 1 && (r.AvgHandleS == nil || *r.AvgHandleS != 200 || r.AgentsAvailable == nil || r.AgentsNeeded == nil || r.AgentsNeededAll == nil || *r.AgentsNeededAll < *r.AgentsNeeded) {
			t.Errorf("the accepted chat's hour: %+v", r)
		}
	}
	if held != 3 || accepted != 1 || res.suppressed["no_capacity"] <= held {
		t.Errorf("staffing: %d sessions held back for no capacity, %d accepted; want 3 and 1 (%d moments held back)", held, accepted, res.suppressed["no_capacity"])
	}
	if len(o.CSAT) != 1 || o.CSAT[0].Ratings != 1 || *o.CSAT[0].Mean != 5 {
		t.Errorf("CSAT %+v", o.CSAT)
	}
	var text bytes.Buffer
	if err := res.Report("chat").WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"acceptance per site and team", "staffing: the fewest agents", "from replay", "satisfaction per site, team and reason"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("replay text lacks %q", want)
		}
	}
}
