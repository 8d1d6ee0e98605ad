package bench

import (
	"context"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lingerhq/linger/schemas"
)

// testInvite returns the n-th invite of a made-up run, triggered at ts and
// expiring ttl later.
func testInvite(n int, ts int64, ttl time.Duration) *schemas.Decision {
	session := appendID(nil, 's', 1, uint64(n))
	return &schemas.Decision{
		ID: schemas.AppendDecisionID(nil, session, 1), Session: session,
		Visitor: []byte("v-1-" + strconv.Itoa(n)), Site: []byte(DefaultSite), Team: []byte("sales"),
		Action: schemas.ActionInvite, Reason: schemas.ReasonAbandonment,
		EventTS: ts, ExpiresAt: ts + ttl.Milliseconds(),
	}
}

// answerOf returns the answer type of one invite's records: accepted,
// declined or expired.
func answerOf(t *testing.T, fbs []schemas.Feedback) schemas.FeedbackType {
	t.Helper()
	for _, f := range fbs {
		switch f.Type {
		case schemas.FeedbackAccepted, schemas.FeedbackDeclined, schemas.FeedbackExpired:
			return f.Type
		}
	}
	t.Fatalf("no answer in %v", fbs)
	return 0
}

// TestResponderSequences checks the shape of every answer: the records a
// widget and a chat platform write, in order, in event time after the
// invite, each valid against contract v1, about the invite and its session.
func TestResponderSequences(t *testing.T) {
	r := NewResponder(7)
	want := map[schemas.FeedbackType][]schemas.FeedbackType{
		schemas.FeedbackAccepted: {schemas.FeedbackShown, schemas.FeedbackAccepted, schemas.FeedbackChatStarted, schemas.FeedbackChatEnded, schemas.FeedbackChatRated},
		schemas.FeedbackDeclined: {schemas.FeedbackShown, schemas.FeedbackDeclined},
		schemas.FeedbackExpired:  {schemas.FeedbackShown, schemas.FeedbackExpired},
	}
	seen := map[schemas.FeedbackType]int{}
	var dec schemas.FeedbackDecoder
	var got schemas.Feedback
	var buf []byte
	for n := range 3000 {
		d := testInvite(n, DefaultStartMs+int64(n)*1000, time.Minute)
		fbs := r.Respond(nil, d, Confused)
		answer := answerOf(t, fbs)
		seen[answer]++
		types := make([]schemas.FeedbackType, len(fbs))
		for i, f := range fbs {
			types[i] = f.Type
		}
		if !slices.Equal(types, want[answer]) {
			t.Fatalf("invite %d: records %v, want %v", n, types, want[answer])
		}
		last := d.EventTS
		for i := range fbs {
			f := &fbs[i]
			if f.TS <= last {
				t.Fatalf("invite %d: %s at %d, not after the record before it (%d)", n, f.Type, f.TS, last)
			}
			last = f.TS
			if f.Type == schemas.FeedbackExpired && f.TS != d.ExpiresAt {
				t.Errorf("invite %d: expired at %d, want expires_at %d", n, f.TS, d.ExpiresAt)
			}
			if (f.Type == schemas.FeedbackAccepted || f.Type == schemas.FeedbackDeclined) && f.TS >= d.ExpiresAt {
				t.Errorf("invite %d: %s at %d, at or after expires_at %d", n, f.Type, f.TS, d.ExpiresAt)
			}
			buf = schemas.AppendFeedback(buf[:0], f)
			if err := dec.Decode(d.Session, buf, 0, &got); err != nil {
				t.Fatalf("invite %d: %s does not decode: %v", n, buf, err)
			}
			if got.Type != f.Type || string(got.InviteID) != string(d.ID) || string(got.Session) != string(d.Session) ||
				string(got.Visitor) != string(d.Visitor) || string(got.Site) != string(d.Site) || string(got.Team) != string(d.Team) {
				t.Fatalf("invite %d: %s is not about the invite %s", n, buf, d.ID)
			}
			switch f.Type {
			case schemas.FeedbackChatEnded:
				if f.HandleS < 1 || f.HandleS != math.Round(f.HandleS) || f.TS != fbs[i-1].TS+int64(f.HandleS*1000) {
					t.Errorf("invite %d: chat_ended handle_s %v at %d, after chat_started at %d", n, f.HandleS, f.TS, fbs[i-1].TS)
				}
			case schemas.FeedbackChatRated:
				if f.Score < schemas.MinScore || f.Score > schemas.MaxScore {
					t.Errorf("invite %d: score %d", n, f.Score)
				}
			}
		}
	}
	for answer := range want {
		if seen[answer] == 0 {
			t.Errorf("no invite answered %s in %v", answer, seen)
		}
	}
}

// TestResponderDeterministic checks that an answer depends on the seed and
// the decision alone: not on the order invites come in, nor on the other
// invites, nor on the Responder that plays it.
func TestResponderDeterministic(t *testing.T) {
	const n = 500
	invites := make([]*schemas.Decision, n)
	for i := range invites {
		invites[i] = testInvite(i, DefaultStartMs+int64(i)*700, time.Minute)
	}
	play := func(seed uint64, order []int) [][]schemas.Feedback {
		r := NewResponder(seed)
		out := make([][]schemas.Feedback, n)
		for _, i := range order {
			out[i] = r.Respond(nil, invites[i], Hesitator)
		}
		return out
	}
	forward := make([]int, n)
	for i := range forward {
		forward[i] = i
	}
	backward := slices.Clone(forward)
	slices.Reverse(backward)
	a, b := play(3, forward), play(3, backward)
	for i := range n {
		if fmt.Sprint(a[i]) != fmt.Sprint(b[i]) {
			t.Fatalf("invite %d answered differently in another order:\n%v\n%v", i, a[i], b[i])
		}
		// Alone, on a Responder of its own.
		if alone := NewResponder(3).Respond(nil, invites[i], Hesitator); fmt.Sprint(alone) != fmt.Sprint(a[i]) {
			t.Fatalf("invite %d answered differently alone:\n%v\n%v", i, alone, a[i])
		}
	}
	other := play(4, forward)
	differ := 0
	for i := range n {
		if fmt.Sprint(other[i]) != fmt.Sprint(a[i]) {
			differ++
		}
	}
	if differ < n*9/10 {
		t.Errorf("seeds 3 and 4 answered %d of %d invites alike: the seed hardly matters", n-differ, n)
	}
}

// TestResponderRates checks that each persona answers with its model's
// chances and delays: accepted, declined and ignored shares within four
// standard errors, ratings averaging the model's mean, and the invite
// shown within its window. The invites live an hour, so no answer runs
// out of time.
func TestResponderRates(t *testing.T) {
	const n = 20000
	r := NewResponder(11)
	var fbs []schemas.Feedback
	for _, p := range Personas() {
		m := answerModels[p]
		var accepted, declined, expired, ratings int
		var scoreSum, handleSum float64
		var acceptDelays []int64
		for i := range n {
			d := testInvite(i, DefaultStartMs, time.Hour)
			fbs = r.Respond(fbs[:0], d, p)
			if fbs[0].Type != schemas.FeedbackShown || fbs[0].TS < d.EventTS+showMinMs || fbs[0].TS > d.EventTS+showMaxMs {
				t.Fatalf("%s: first record %s at +%dms, want invite_shown within %d..%dms", p, fbs[0].Type, fbs[0].TS-d.EventTS, showMinMs, showMaxMs)
			}
			switch answerOf(t, fbs) {
			case schemas.FeedbackAccepted:
				accepted++
				acceptDelays = append(acceptDelays, fbs[1].TS-fbs[0].TS)
				handleSum += fbs[3].HandleS
				scoreSum += float64(fbs[4].Score)
				ratings++
			case schemas.FeedbackDeclined:
				declined++
			default:
				expired++
			}
		}
		check := func(what string, got int, want float64) {
			t.Helper()
			se := math.Sqrt(want*(1-want)/n) + 1e-9
			if share := float64(got) / n; math.Abs(share-want) > 4*se {
				t.Errorf("%s %s %.4f of %d, want %.4f ± %.4f", p, what, share, n, want, 4*se)
			}
		}
		check("accepted", accepted, m.Accept)
		check("declined", declined, m.Decline)
		check("ignored", expired, 1-m.Accept-m.Decline)
		if ratings == 0 {
			continue
		}
		var wantMean, total float64
		for i, w := range m.Ratings {
			wantMean += float64(i+1) * w
			total += w
		}
		wantMean /= total
		if mean := scoreSum / float64(ratings); math.Abs(mean-wantMean) > 0.15 {
			t.Errorf("%s: mean rating %.2f of %d, want %.2f", p, mean, ratings, wantMean)
		}
		slices.Sort(acceptDelays)
		if med := acceptDelays[len(acceptDelays)/2]; med < m.AcceptMs*3/4 || med > m.AcceptMs*4/3 {
			t.Errorf("%s: median delay to accept %dms, want about %dms", p, med, m.AcceptMs)
		}
		// A log-normal's mean is its median × e^(σ²/2), a little above.
		if mean := handleSum / float64(ratings); mean < 0.9*m.HandleS || mean > 1.4*m.HandleS {
			t.Errorf("%s: mean handling time %.0fs, want near its median %.0fs", p, mean, m.HandleS)
		}
	}
}

// TestResponderNotShown checks the invites nobody answers: a withdrawal,
// the holdout group's (never shown), an invite that expires before the
// widget can draw it (invite_expired alone), and a bot's (ignored).
func TestResponderNotShown(t *testing.T) {
	r := NewResponder(1)
	d := testInvite(1, DefaultStartMs, time.Minute)
	withdraw := *d
	withdraw.Action, withdraw.InviteID = schemas.ActionWithdraw, d.ID
	if fbs := r.Respond(nil, &withdraw, Confused); len(fbs) != 0 {
		t.Errorf("a withdrawal answered: %v", fbs)
	}
	holdout := *d
	holdout.Holdout = true
	if fbs := r.Respond(nil, &holdout, Confused); len(fbs) != 0 {
		t.Errorf("a holdout invite answered: %v", fbs)
	}
	short := testInvite(2, DefaultStartMs, 100*time.Millisecond)
	if fbs := r.Respond(nil, short, Confused); len(fbs) != 1 || fbs[0].Type != schemas.FeedbackExpired || fbs[0].TS != short.ExpiresAt {
		t.Errorf("an invite expiring before it could be shown: %v", fbs)
	}
	for i := range 1000 {
		if fbs := r.Respond(nil, testInvite(i, DefaultStartMs, time.Minute), Bot); answerOf(t, fbs) != schemas.FeedbackExpired {
			t.Fatalf("a bot answered: %v", fbs)
		}
	}
}

// TestResponderAllocs keeps answering free of allocations once its
// buffer has grown: the bench answers every invite it reads.
func TestResponderAllocs(t *testing.T) {
	r := NewResponder(1)
	d := testInvite(1, DefaultStartMs, time.Minute)
	fbs := make([]schemas.Feedback, 0, 8)
	n := 0
	if allocs := testing.AllocsPerRun(1000, func() {
		d.ID[len(d.ID)-1] = byte('0' + n%10) // other invites, other answers
		n++
		fbs = r.Respond(fbs[:0], d, Confused)
	}); allocs != 0 {
		t.Errorf("Respond allocates %.1f times per invite", allocs)
	}
}

// TestSimulatorPersona checks that Persona(i) names the persona
// Session(i) plays, without playing it.
func TestSimulatorPersona(t *testing.T) {
	for _, cfg := range []Config{{Seed: 1}, {Seed: 99, Mix: Mix{Confused: 1, Bot: 3}}} {
		sim, err := NewSimulator(cfg)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 3000 {
			if got, want := sim.Persona(i), sim.Session(i).Persona; got != want {
				t.Fatalf("seed %d session %d: Persona %s, Session plays %s", cfg.Seed, i, got, want)
			}
		}
	}
}

// TestAnswersQueue checks the live front-end: invites of its simulator's
// sessions are answered (others are not), counted as they come, and their
// records handed out in time order as they fall due.
func TestAnswersQueue(t *testing.T) {
	sim, err := NewSimulator(Config{Seed: 1, Mix: Mix{Confused: 1}})
	if err != nil {
		t.Fatal(err)
	}
	a := NewAnswers(sim)
	const n = 400
	base := time.Now().Add(-time.Hour).UnixMilli() // every record due long ago
	for i := range n {
		if !a.Add(testInvite(i, base+int64(i)*100, time.Minute)) {
			t.Fatalf("invite %d of a simulated session not answered", i)
		}
	}
	real := testInvite(0, base, time.Minute)
	real.Session = []byte("w-a-real-visitor")
	if a.Add(real) {
		t.Error("an invite of a session the simulator did not play was answered")
	}
	future := testInvite(n, time.Now().Add(time.Hour).UnixMilli(), time.Minute)
	a.Add(future)

	total, by := a.Acceptance()
	if total.Invites != n+1 || total.Shown != n+1 || total != by["confused"] || len(by) != int(numPersonas) {
		t.Fatalf("acceptance %+v, by persona %+v", total, by)
	}
	if total.Accepted == 0 || total.Rate != float64(total.Accepted)/float64(total.Shown) {
		t.Errorf("accepted %d, rate %v", total.Accepted, total.Rate)
	}

	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var got []FeedbackRecord
	done := make(chan error, 1)
	go func() {
		done <- a.Deliver(ctx, func(recs []FeedbackRecord) error {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, recs...)
			return nil
		})
	}()
	deadline := time.Now().Add(5 * time.Second)
	for a.Pending() > 5 && time.Now().Before(deadline) { // the future invite's records stay
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if a.Pending() == 0 || len(got) == 0 {
		t.Fatalf("%d records delivered, %d pending", len(got), a.Pending())
	}
	var dec schemas.FeedbackDecoder
	var f schemas.Feedback
	types := map[schemas.FeedbackType]int{}
	for i, r := range got {
		if i > 0 && r.TS < got[i-1].TS {
			t.Fatalf("record %d at %d after one at %d", i, r.TS, got[i-1].TS)
		}
		if r.TS > time.Now().UnixMilli() {
			t.Fatalf("record %d delivered before it was due", i)
		}
		if err := dec.Decode(r.Key, r.Value, 0, &f); err != nil || f.Type != r.Type || f.TS != r.TS {
			t.Fatalf("record %d %s: %v (type %s ts %d)", i, r.Value, err, r.Type, r.TS)
		}
		types[r.Type]++
	}
	if types[schemas.FeedbackShown] != n || types[schemas.FeedbackAccepted] != int(total.Accepted) || types[schemas.FeedbackChatRated] != int(total.Accepted) {
		t.Errorf("delivered %v for %d invites, %d accepted", types, n, total.Accepted)
	}
}

// TestAnswerTablesInREADMEs keeps the two READMEs' tables of the
// personas' answers in step with answerModels: chances, median delays,
// handling times and ratings.
func TestAnswerTablesInREADMEs(t *testing.T) {
	for _, path := range []string{"README.md", "../README.md"} {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		rows := 0
		for line := range strings.Lines(string(b)) {
			cells := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
			if len(cells) != 8 {
				continue
			}
			for i := range cells {
				cells[i] = strings.TrimSpace(cells[i])
			}
			p, err := ParsePersona(cells[0])
			if err != nil || p == Bot {
				continue
			}
			rows++
			m := answerModels[p]
			num := func(s string, unit ...string) float64 {
				for _, u := range unit {
					s = strings.TrimSuffix(s, u)
				}
				v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
				if err != nil {
					t.Fatalf("%s: %s row: %q is not a number", path, p, s)
				}
				return v
			}
			handle := num(cells[6], " s", " min")
			if strings.HasSuffix(cells[6], "min") {
				handle *= 60
			}
			var ratings [5]float64
			for i, r := range strings.Split(cells[7], "/") {
				if i < 5 {
					ratings[i] = num(r)
				}
			}
			got := [...]float64{num(cells[1], "%") / 100, num(cells[2], "%") / 100, num(cells[3], "%") / 100,
				num(cells[4], " s") * 1000, num(cells[5], " s") * 1000, handle}
			want := [...]float64{m.Accept, m.Decline, 1 - m.Accept - m.Decline, float64(m.AcceptMs), float64(m.DeclineMs), m.HandleS}
			for i := range got {
				if math.Abs(got[i]-want[i]) > 1e-9 {
					t.Errorf("%s: %s row %v, want %v", path, p, got, want)
					break
				}
			}
			if ratings != m.Ratings {
				t.Errorf("%s: %s ratings %v, want %v", path, p, ratings, m.Ratings)
			}
		}
		if rows != int(numPersonas)-1 {
			t.Errorf("%s: %d rows of the answers table found, want %d", path, rows, numPersonas-1)
		}
	}
}
