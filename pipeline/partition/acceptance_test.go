package partition

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/lingerhq/linger/bench"
	"github.com/lingerhq/linger/scoring"
)

// acceptanceConfig is a model in which the cart's value alone makes the
// abandonment score (1/(1+e^-(−3 + 6·x)), x the cart's value in thousands,
// up to 1), so the stream chooses each session's score, with the
// acceptance controller on over a window of 10 minutes (steps every 2.5)
// and min_shown 40.
func acceptanceConfig(t testing.TB) *scoring.Config {
	t.Helper()
	var weights []string
	for _, s := range scoring.Signals() {
		w := 0
		if s.Name == "cart_value" {
			w = 6
		}
		weights = append(weights, fmt.Sprintf("%s: %d", s.Name, w))
	}
	cfg, err := scoring.ParseConfig([]byte(fmt.Sprintf(`
thresholds: {abandonment: 0.35, confusion: 1}
models: {abandonment: {bias: -3, weights: {%s}}}
scales: {cart_value: 1000}
frequency_cap: {invites: 0}
acceptance_band: {controller: true, window: 10m, min_shown: 40}
sites: {shop: {}}
`, strings.Join(weights, ", "))))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// fbRecord is a feedback record of the stream, and where it comes: after
// the event at index after; last is the index of its session's last event.
type fbRecord struct {
	key, value  []byte
	after, last int
}

// acceptanceStream is 40 minutes of sessions, one every 700 ms: a product
// page, then 20 s later a cart whose value gives the session a score from
// 0.3 to 0.99, which the policy decides on. Each session's invite, if it
// has one, is reported shown 5 s after the cart and accepted 10 s after
// it, as often as 0.3·(s−0.3)⁴ says (rarely: acceptance under the band
// at the configured threshold). A feedback record comes in the stream a
// few seconds after it was sent, as one from a front-end would, before the
// partition's watermark (5 s behind) has passed its ts; one front-end in
// ten has a clock minutes fast.
func acceptanceStream(seed uint64) ([]rec, []fbRecord) {
	rng := rand.New(rand.NewPCG(seed, 3))
	t0 := bench.DefaultStartMs
	type ev struct {
		ts      int64
		session int
		value   []byte
	}
	type fb struct {
		ts, arrive int64
		session    int
		value      []byte
	}
	var evs []ev
	var fbs []fb
	for i := 0; i < 40*60*10/7; i++ {
		at := t0 + int64(i)*700
		id := fmt.Sprintf("s-%d", i)
		s := 0.3 + 0.69*rng.Float64()
		cart := int64(math.Round((math.Log(s/(1-s)) + 3) / 6 * 1000 * 100))
		page := `"page":{"url":"/p/desk","kind":"product"}`
		evs = append(evs,
			ev{at, i, fmt.Appendf(nil, `{"v":1,"type":"page_view","session":%q,"site":"shop","ts":%d,%s}`, id, at, page)},
			ev{at + 20_000, i, fmt.Appendf(nil, `{"v":1,"type":"cart","action":"add","value":%d,"items":1,"session":%q,"site":"shop","ts":%d,%s}`, cart, id, at+20_000, page)})
		// One front-end in ten has a clock 4 minutes fast: its records
		// come long before the watermark reaches their ts.
		skew := int64(0)
		if rng.IntN(10) == 0 {
			skew = 4 * 60_000
		}
		feedback := func(typ string, ts int64) {
			fbs = append(fbs, fb{ts + skew, ts + 1000 + rng.Int64N(3000), i,
				fmt.Appendf(nil, `{"v":1,"type":%q,"invite_id":"%s/1","session":%q,"site":"shop","ts":%d}`, typ, id, id, ts+skew)})
		}
		feedback("invite_shown", at+25_000)
		if rng.Float64() < 0.3*math.Pow(s-0.3, 4) {
			feedback("invite_accepted", at+30_000)
		}
	}
	// Events in event-time order; each feedback record after the first
	// event at or after its arrival.
	order := func(a, b int64) int { return int(a - b) }
	slicesSortStable(evs, func(a, b ev) int { return order(a.ts, b.ts) })
	slicesSortStable(fbs, func(a, b fb) int { return order(a.arrive, b.arrive) })
	var events []rec
	var feedback []fbRecord
	lastOf := map[int]int{}
	j := 0
	for i, e := range evs {
		events = append(events, rec{Key: []byte(fmt.Sprintf("s-%d", e.session)), Value: e.value})
		lastOf[e.session] = i
		for ; j < len(fbs) && fbs[j].arrive <= e.ts; j++ {
			f := fbs[j]
			feedback = append(feedback, fbRecord{key: []byte(fmt.Sprintf("s-%d", f.session)), value: f.value, after: i, last: lastOf[f.session]})
		}
	}
	return events, feedback
}

func slicesSortStable[T any](s []T, cmp func(a, b T) int) {
	for i := 1; i < len(s); i++ {
		for k := i; k > 0 && cmp(s[k-1], s[k]) > 0; k-- {
			s[k-1], s[k] = s[k], s[k-1]
		}
	}
}

func newAcceptanceProcessor(t testing.TB, cfg *scoring.Config) *Processor {
	t.Helper()
	return New(0, Config{Epoch: 1, Store: NewStore(64 << 20), Scoring: cfg,
		Now: func() time.Time { return time.UnixMilli(bench.DefaultStartMs).Add(3 * time.Hour) }})
}

// acceptanceRun processes events[from:to] and their feedback through p in
// batches of batch events. A batch takes the feedback that comes with its
// events, those whose session's events all came in an earlier batch first
// (as a poll hands the engine its feedback before its events; a record
// about a session of this very batch cannot have been fetched before it),
// the others where they come. abort, if set, says which batches to abort
// once before processing them again: an Abort must leave the budget as
// it was before the batch. It returns how many feedback records came
// earlier than in the stream's order in the last batch, and how many
// aborted batches had moved the controller's offset.
func acceptanceRun(t testing.TB, p *Processor, events []rec, feedback []fbRecord, from, to, batch int, res *runResult, abort func(n int) bool) (hoisted, abortedMoves int) {
	t.Helper()
	if res.decisions == nil {
		res.decisions = map[string]string{}
	}
	f0 := 0
	for f0 < len(feedback) && feedback[f0].after < from {
		f0++
	}
	for i, n := from, 0; i < to; i, n = i+batch, n+1 {
		end := min(i+batch, to)
		f1 := f0
		for f1 < len(feedback) && feedback[f1].after < end {
			f1++
		}
		attempt := func() *Output {
			p.Begin()
			early := map[int]bool{}
			for k := f0; k < f1; k++ {
				if f := feedback[k]; f.last < i {
					p.Feedback(f.key, f.value, int64(k))
					early[k] = true
				}
			}
			k := f0
			for j := i; j < end; j++ {
				p.Process(events[j].Key, events[j].Value, int64(j))
				for ; k < f1 && feedback[k].after == j; k++ {
					if !early[k] {
						p.Feedback(feedback[k].key, feedback[k].value, int64(k))
					}
				}
			}
			hoisted = len(early)
			return p.End()
		}
		if abort != nil && abort(n) {
			before := p.Budget().AppendBinary(nil)
			offset := acceptanceOffset(p)
			attempt()
			if acceptanceOffset(p) != offset {
				abortedMoves++
			}
			p.Abort()
			if after := p.Budget().AppendBinary(nil); !bytes.Equal(after, before) {
				t.Fatalf("batch %d: the budget after Abort is not the one before the batch:\n%x\n%x", n, after, before)
			}
		}
		res.collect(t, attempt())
		p.Commit()
		f0 = f1
	}
	return hoisted, abortedMoves
}

func acceptanceOffset(p *Processor) float64 {
	if st, _ := p.Budget().Band([]byte("shop")); st.Acceptance != nil {
		return st.Acceptance.Offset
	}
	return 0
}

// acceptanceState is what the test compares of a processor: its counts and
// its budget (the controller's windows, steps and offset, and the pending
// feedback).
func acceptanceState(p *Processor) string {
	c := p.Totals()
	st, _ := p.Budget().Band([]byte("shop"))
	return fmt.Sprintf("suppressed %v teams %v feedback %v unknown %d offset %+v budget %x",
		c.Suppressed, c.Teams.Rows(), c.Feedback, c.FeedbackUnknown, st.Acceptance, p.Budget().AppendBinary(nil))
}

// TestAcceptanceControllerWhateverTheBatches: the acceptance controller
// counts feedback by its ts once the watermark has passed it, so the same
// events and feedback give the same thresholds and decisions whether the
// stream comes in batches of 1, of 113 (a batch's feedback then comes
// before events it followed in the stream) or all at once, and across
// restores from the changelog.
func TestAcceptanceControllerWhateverTheBatches(t *testing.T) {
	cfg := acceptanceConfig(t)
	events, feedback := acceptanceStream(1)
	var want runResult
	var wantState string
	for _, batch := range []int{1, 113, len(events), 7, 1000} {
		var got runResult
		p := newAcceptanceProcessor(t, cfg)
		hoisted, _ := acceptanceRun(t, p, events, feedback, 0, len(events), batch, &got, nil)
		state := acceptanceState(p)
		if batch == 1 {
			want, wantState = got, state
			c := p.Totals()
			st, _ := p.Budget().Band([]byte("shop"))
			if c.Suppressed[scoring.SuppressedAcceptanceBand] == 0 || st.Acceptance == nil || st.Acceptance.Offset < 2*scoring.AcceptanceStep {
				t.Fatalf("the stream does not exercise the controller: %s", state)
			}
			rows := c.Teams.Rows()
			if len(rows) != 1 || rows[0].Site != "shop" && rows[0].Site != scoring.LabelOther || rows[0].Team != "sales" || rows[0].Shown == 0 || rows[0].Accepted == 0 {
				t.Fatalf("counts per site and team: %+v", rows)
			}
			t.Logf("%d decisions, %d held back by the controller, offset %+v, %+v", len(got.decisions),
				c.Suppressed[scoring.SuppressedAcceptanceBand], st.Acceptance.Offset, rows)
			continue
		}
		if batch == 113 && hoisted == 0 {
			t.Fatal("no feedback came before the events it followed in the stream")
		}
		name := fmt.Sprintf("batches of %d", batch)
		sameDecisions(t, name, got, want)
		sameStates(t, name, got.changelog, want.changelog)
		if state != wantState {
			t.Errorf("%s: counts and budget differ:\n got %s\nwant %s", name, state, wantState)
		}
	}

	// Restored from the changelog three times on the way.
	var got runResult
	var changelog []kv
	from := 0
	var p *Processor
	for _, cut := range []int{len(events) / 4, len(events) / 2, 3 * len(events) / 4, len(events)} {
		p = newAcceptanceProcessor(t, cfg)
		for _, c := range changelog {
			if err := p.Restore(c.k, c.v); err != nil {
				t.Fatal(err)
			}
		}
		p.FinishRestore()
		var part runResult
		acceptanceRun(t, p, events, feedback, from, cut, 113, &part, nil)
		for id, d := range part.decisions {
			if got.decisions == nil {
				got.decisions = map[string]string{}
			}
			got.decisions[id] = d
		}
		changelog = append(changelog, part.changelog...)
		from = cut
	}
	sameDecisions(t, "restored three times", got, want)
	sameStates(t, "restored three times", changelog, want.changelog)
	wantBudget := wantState[strings.Index(wantState, " budget "):]
	if state := acceptanceState(p); !strings.HasSuffix(state, wantBudget) {
		t.Errorf("restored three times: budget differs:\n got %s\nwant %s", state, wantState)
	}
}

// TestAcceptanceControllerAbort: a batch aborted after its feedback and
// events moved the controller leaves the budget as it was before the batch
// (windows, steps, offset, pending feedback); processed again, everything
// comes out as without the abort.
func TestAcceptanceControllerAbort(t *testing.T) {
	cfg := acceptanceConfig(t)
	events, feedback := acceptanceStream(2)
	var want runResult
	p := newAcceptanceProcessor(t, cfg)
	acceptanceRun(t, p, events, feedback, 0, len(events), 50, &want, nil)
	wantState := acceptanceState(p)

	var got runResult
	p = newAcceptanceProcessor(t, cfg)
	r := rand.New(rand.NewPCG(4, 5))
	_, moves := acceptanceRun(t, p, events, feedback, 0, len(events), 50, &got, func(int) bool { return r.IntN(2) == 0 })
	if moves == 0 {
		t.Fatal("no aborted batch had moved the controller")
	}
	sameDecisions(t, "with aborts", got, want)
	sameStates(t, "with aborts", got.changelog, want.changelog)
	if state := acceptanceState(p); state != wantState {
		t.Errorf("with aborts: counts and budget differ:\n got %s\nwant %s", state, wantState)
	}
	t.Logf("%d aborted batches had moved the controller", moves)
}
