//go:build soak

package main

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/lingerhq/linger/internal/kafkatest"
	"github.com/lingerhq/linger/schemas"
)

// persona is what a soak visitor does on the shop: the same script for
// the same persona and index, so a soak's traffic is the same every run
// but for the session ids the gateway draws.
type persona uint8

const (
	// hesitator fills a cart, reaches the payment step, goes quiet and
	// moves to leave: an abandonment invite.
	hesitator persona = iota
	// confused fights the card number field at checkout: a confusion
	// invite.
	confused
	// buyer goes straight through to a purchase: never invited.
	buyer
	// browser looks at a few pages and leaves: never invited.
	browser
	// lingerer fills a cart, reaches the payment step, moves to leave
	// before the breathing space is over, then goes silent: invited by a
	// silence check, once later events of the partition move its event
	// time on.
	lingerer
	numPersonas
)

var personaNames = [numPersonas]string{"hesitator", "confused", "buyer", "browser", "lingerer"}

func (p persona) String() string { return personaNames[p] }

// wantsInvite reports whether the persona's script is made to end in an
// invite: its visitor then waits for one on its stream and answers it.
func (p persona) wantsInvite() bool { return p == hesitator || p == confused || p == lingerer }

// personaOf spreads the personas over the visitors, one each in turn:
// three in five are meant to be invited.
func personaOf(i int) persona { return persona(i % int(numPersonas)) }

// step is one batch a visitor's tracker posts, at an offset from the
// start of the visit. The events' session, visitor, site and ts are set
// as the batch is posted.
type step struct {
	at     time.Duration
	events []schemas.Event
}

func pageView(url string, kind schemas.PageKind) schemas.Event {
	return schemas.Event{Type: schemas.TypePageView, Page: schemas.Page{URL: []byte(url), Kind: kind}}
}

func mouse(moves, dirChanges, clicks, rage, dead int64) schemas.Event {
	return schemas.Event{Type: schemas.TypeMouse, MS: 2000, Moves: moves, DirChanges: dirChanges, Clicks: clicks, RageClicks: rage, DeadClicks: dead}
}

func form(action schemas.FormAction, field string) schemas.Event {
	return schemas.Event{Type: schemas.TypeForm, Form: []byte("payment"), Field: []byte(field), FormAction: action}
}

func scroll(depth float64) schemas.Event {
	return schemas.Event{Type: schemas.TypeScroll, Depth: depth, ScrollDir: schemas.ScrollDown}
}

// script returns the batches visitor i of persona p posts. Visits last
// 7 to 21 s of real time (event time follows the wall clock, as it does
// for a tracker): the policy's breathing space (15 s) passes before the
// moments meant to invite.
func (p persona) script(i int) []step {
	product := "/product/p-" + strconv.Itoa(i%40)
	value := int64(4900 + 100*(i%50))
	checkout := pageView("/checkout/payment", schemas.KindCheckout)
	switch p {
	case hesitator:
		shipping := pageView("/checkout/shipping", schemas.KindCheckout)
		return []step{
			{0, []schemas.Event{pageView(product, schemas.KindProduct), mouse(40, 5, 1, 0, 0)}},
			{2 * time.Second, []schemas.Event{{Type: schemas.TypeCart, CartAction: schemas.CartAdd, Value: 4 * value, Items: 1}, pageView("/cart", schemas.KindCart)}},
			{4 * time.Second, []schemas.Event{shipping, {Type: schemas.TypeCheckout, Step: 1}}},
			{6 * time.Second, []schemas.Event{checkout, {Type: schemas.TypeCheckout, Step: 2}, mouse(12, 2, 0, 0, 0)}},
			{8 * time.Second, []schemas.Event{shipping, {Type: schemas.TypeVisibility, Visibility: schemas.VisibilityHidden}}},
			{10 * time.Second, []schemas.Event{{Type: schemas.TypeVisibility, Visibility: schemas.VisibilityVisible}, checkout}},
			{19 * time.Second, []schemas.Event{{Type: schemas.TypeIdle, MS: 9_000, Page: checkout.Page}}},
			{21 * time.Second, []schemas.Event{{Type: schemas.TypeExitIntent}, {Type: schemas.TypeExitIntent}}},
		}
	case confused:
		return []step{
			{0, []schemas.Event{pageView(product, schemas.KindProduct), {Type: schemas.TypeCart, CartAction: schemas.CartAdd, Value: value, Items: 1}}},
			{2 * time.Second, []schemas.Event{checkout, {Type: schemas.TypeCheckout, Step: 2}, form(schemas.FormFocus, "card_number")}},
			{5 * time.Second, []schemas.Event{form(schemas.FormInput, "card_number"), form(schemas.FormError, "card_number")}},
			{8 * time.Second, []schemas.Event{form(schemas.FormClear, "card_number"), form(schemas.FormInput, "card_number"), form(schemas.FormError, "card_number"), mouse(60, 14, 5, 2, 1)}},
			{12 * time.Second, []schemas.Event{form(schemas.FormInput, "card_number"), form(schemas.FormError, "card_number"), mouse(80, 20, 6, 3, 2)}},
			{17 * time.Second, []schemas.Event{form(schemas.FormFocus, "card_number"), form(schemas.FormInput, "card_number"), form(schemas.FormError, "card_number")}},
		}
	case buyer:
		return []step{
			{0, []schemas.Event{pageView(product, schemas.KindProduct), scroll(0.6)}},
			{2 * time.Second, []schemas.Event{{Type: schemas.TypeCart, CartAction: schemas.CartAdd, Value: value, Items: 2}, pageView("/cart", schemas.KindCart)}},
			{4 * time.Second, []schemas.Event{checkout, {Type: schemas.TypeCheckout, Step: 2}, form(schemas.FormFocus, "card_number"), form(schemas.FormInput, "card_number")}},
			{7 * time.Second, []schemas.Event{form(schemas.FormSubmit, "card_number"), {Type: schemas.TypePurchase, Value: 2 * value}, pageView("/order/thanks", schemas.KindOther)}},
		}
	case lingerer:
		shipping := pageView("/checkout/shipping", schemas.KindCheckout)
		return []step{
			{0, []schemas.Event{pageView(product, schemas.KindProduct), {Type: schemas.TypeCart, CartAction: schemas.CartAdd, Value: 4 * value, Items: 1}}},
			{2 * time.Second, []schemas.Event{shipping, {Type: schemas.TypeCheckout, Step: 1}}},
			{4 * time.Second, []schemas.Event{checkout, {Type: schemas.TypeCheckout, Step: 2}}},
			{6 * time.Second, []schemas.Event{shipping, {Type: schemas.TypeVisibility, Visibility: schemas.VisibilityHidden}}},
			{8 * time.Second, []schemas.Event{{Type: schemas.TypeVisibility, Visibility: schemas.VisibilityVisible}, checkout}},
			{12 * time.Second, []schemas.Event{{Type: schemas.TypeExitIntent}}},
		}
	case browser:
		return []step{
			{0, []schemas.Event{pageView("/", schemas.KindHome), scroll(0.4)}},
			{3 * time.Second, []schemas.Event{pageView("/category/lamps", schemas.KindCategory), mouse(30, 3, 1, 0, 0)}},
			{6 * time.Second, []schemas.Event{pageView(product, schemas.KindProduct), scroll(0.8)}},
			{10 * time.Second, []schemas.Event{{Type: schemas.TypeVisibility, Visibility: schemas.VisibilityHidden}}},
		}
	}
	panic("BUG: persona without a script: " + p.String())
}

// visitor is one soak visitor: a persona with a session of its own.
type visitor struct {
	i         int
	persona   persona
	c         *gwClient
	site      string
	visitorID string
	session   string
	token     string
	crowd     *crowd
}

// visitorIP is visitor i's own loopback address.
func visitorIP(i int) string { return fmt.Sprintf("127.1.%d.%d", i/250, i%250+1) }

// inviteWait bounds how long a visitor meant to be invited waits for its
// invite on its stream: the seconds of a decision (a silence check's
// half a minute), plus a replica's failover and restore. A crowd's
// visitors stop waiting earlier once nothing more can come (crowd.quiet).
const inviteWait = 90 * time.Second

// quietGrace is how long a visitor still listens after its crowd went
// quiet: its invite may be on its way from the gateway's hub.
const quietGrace = 5 * time.Second

// crowd is a group of visitors arriving at a steady pace.
type crowd struct {
	posted sync.WaitGroup // each visitor's last batch is in
	done   sync.WaitGroup // each visitor has left
	quiet  chan struct{}  // closed once no decision can come any more
	// decided holds the ids of the decisions on chat-invites as the crowd
	// went quiet: its visitors listened until then. (A later event of a
	// partition may still fire a silence check for a visitor who left.)
	decided map[string]string
}

// arrive starts visitors first..first+n-1, one every gap from start.
func (s *soak) arrive(ctx context.Context, first, n int, start time.Time, gap time.Duration) *crowd {
	c := &crowd{quiet: make(chan struct{})}
	s.crowds = append(s.crowds, c)
	c.posted.Add(n)
	c.done.Add(n)
	for i := range n {
		go func() {
			defer c.done.Done()
			select {
			case <-time.After(time.Until(start.Add(time.Duration(i) * gap))):
				s.visit(ctx, first+i, c)
			case <-ctx.Done():
				c.posted.Done()
			}
		}()
	}
	return c
}

// leave waits until the crowd's visitors have posted everything, the
// replicas have committed every event and the gateway has read every
// decision: a visitor still waiting for an invite then has none coming
// (only later events move a partition's event time on, and fire its
// silence checks). It lets them go, waits for them to leave, and returns
// how long it waited after the last batch.
func (s *soak) leave(ctx context.Context, c *crowd) time.Duration {
	s.t.Helper()
	c.posted.Wait()
	began := time.Now()
	if err := kafkatest.WaitCommitted(ctx, s.adm, soakGroup, schemas.TopicEvents, 3*time.Minute); err != nil {
		s.t.Fatal(err)
	}
	decided, err := kafkatest.ReadDecisions(ctx, s.addr, s.adm, schemas.TopicInvites, 2*time.Minute)
	if err != nil {
		s.t.Fatal(err)
	}
	s.waitFor("the gateway to read every decision", time.Minute, func() bool {
		return s.metric(s.gwMetrics, "linger_gateway_decisions_total") >= float64(len(decided.ByID))
	})
	c.decided = decided.ByID
	close(c.quiet)
	c.done.Wait()
	return time.Since(began)
}

// visit runs visitor i's whole visit through the gateway, as the tracker
// and the chat widget would: a session for its site, its invite stream
// opened as the page loads, its batches at the script's times, and, for
// an invite that comes, what the widget reports (shown, then accepted or
// declined, and a repeat that must be refused) and, for an accepted one,
// what the chat platform reports after the chat.
func (s *soak) visit(ctx context.Context, i int, c *crowd) {
	posted := sync.OnceFunc(c.posted.Done)
	defer posted()
	p := personaOf(i)
	v := &visitor{i: i, persona: p, c: newGWClient(s.gwURL, visitorIP(i)), site: []string{"shop-a", "shop-b"}[i%2],
		visitorID: fmt.Sprintf("v-soak-%04d", i), crowd: c}
	defer v.c.close()
	sess, err := v.c.newSession(ctx, v.site)
	if err != nil {
		s.fail("visitor %d: %v", i, err)
		return
	}
	v.session, v.token = sess.Session, sess.Token
	st, code, err := v.c.openStream(ctx, v.token)
	if err != nil || st == nil {
		s.fail("visitor %d: invite stream: %d %v", i, code, err)
		return
	}
	defer func() {
		st.close()
		if len(st.bad) > 0 {
			s.fail("visitor %d: its stream carried %q", i, st.bad)
		}
	}()
	s.stats.began(v)

	start := time.Now()
	events := 0
	for _, step := range p.script(i) {
		select {
		case <-time.After(time.Until(start.Add(step.at))):
		case <-ctx.Done():
			return
		}
		ans, err := s.postEvents(ctx, v, step.events)
		if err != nil {
			s.fail("visitor %d (%s): %v", i, p, err)
			return
		}
		if ans.Accepted != len(step.events) || ans.Rejected != 0 {
			s.fail("visitor %d (%s): %d of %d events accepted: %+v", i, p, ans.Accepted, len(step.events), ans.Errors)
		}
		events += ans.Accepted
	}
	posted()
	wait := 2 * time.Second // others keep the page open a moment
	if p.wantsInvite() {
		wait = inviteWait
	}
	var d *schemas.Decision
	open := true
	select {
	case d, open = <-st.decisions:
	case <-time.After(wait):
	case <-c.quiet:
		select {
		case d, open = <-st.decisions:
		case <-time.After(quietGrace):
		}
	case <-ctx.Done():
		return
	}
	if !open {
		s.fail("visitor %d: the gateway ended its stream", i)
		return
	}
	s.stats.ended(v, events, d)
	if d == nil {
		return
	}
	invite := string(d.ID)
	if string(d.Session) != v.session || d.Action != schemas.ActionInvite {
		s.fail("visitor %d (session %s) was sent %s %s", i, v.session, d.Action, d.ID)
		return
	}
	select {
	case s.firstInvite <- invite:
	default:
	}
	if code := s.postFeedback(ctx, v, schemas.FeedbackShown, invite); code != http.StatusAccepted {
		s.fail("visitor %d: invite_shown on %s: %d", i, invite, code)
	}
	answer := schemas.FeedbackDeclined
	if i%3 == 0 {
		answer = schemas.FeedbackAccepted
	}
	if code := s.postFeedback(ctx, v, answer, invite); code != http.StatusAccepted {
		s.fail("visitor %d: %s on %s: %d", i, answer, invite, code)
	}
	// A widget that reports twice (or a visitor who tries) is refused.
	if code := s.postFeedback(ctx, v, schemas.FeedbackShown, invite); code != http.StatusConflict {
		s.fail("visitor %d: a repeated invite_shown on %s: %d, want 409", i, invite, code)
	} else {
		s.stats.repeatRefused()
	}
	if answer == schemas.FeedbackAccepted {
		s.postPlatform(ctx, v, schemas.Feedback{Type: schemas.FeedbackChatEnded, InviteID: d.ID, HandleS: float64(60 + i%120)})
		s.postPlatform(ctx, v, schemas.Feedback{Type: schemas.FeedbackChatRated, InviteID: d.ID, Score: int64(1 + i%5)})
	}
}

// soakStats is what the soak's clients did and saw, for its checks and
// its figures.
type soakStats struct {
	mu              sync.Mutex
	visitors        [numPersonas]int
	sessions        map[string]*visitor // the good visitors', by session id
	batches         int
	eventsAccepted  int
	eventsSent      map[string]int    // by session: events the gateway took
	overSSE         map[string]string // session → the invite its stream sent
	waitedInVain    int               // visitors meant to be invited who got nothing on their stream
	feedback        map[string]int    // feedback records taken (202), by type
	repeats         int               // repeated feedback refused with 409
	forged          map[string]int    // forged feedback, by answer and kind
	fbRejected      map[string]int    // feedback refusals the gateway must count, by reason
	gwRejected      map[string]int    // events the gateway must have refused, by reason
	hostileSessions []string          // sessions whose events mixed good and hostile ones

	stalledBy                   map[string]int
	stalledLongest              map[string]time.Duration
	floodRefused, floodHeld     int
	floodLongest                time.Duration
	rateLimited                 int
	streamsHeld, streamsRefused int
}

func newSoakStats() *soakStats {
	return &soakStats{sessions: map[string]*visitor{}, eventsSent: map[string]int{}, overSSE: map[string]string{},
		feedback: map[string]int{}, forged: map[string]int{}, fbRejected: map[string]int{}, gwRejected: map[string]int{},
		stalledBy: map[string]int{}, stalledLongest: map[string]time.Duration{}}
}

func (st *soakStats) began(v *visitor) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.visitors[v.persona]++
	st.sessions[v.session] = v
}

func (st *soakStats) ended(v *visitor, events int, d *schemas.Decision) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.eventsSent[v.session] = events
	if d != nil {
		st.overSSE[v.session] = string(d.ID)
	} else if v.persona.wantsInvite() {
		st.waitedInVain++
	}
}

func (st *soakStats) tookFeedback(typ string) {
	st.mu.Lock()
	st.feedback[typ]++
	st.mu.Unlock()
}

func (st *soakStats) repeatRefused() {
	st.mu.Lock()
	st.repeats++
	st.fbRejected["duplicate"]++
	st.mu.Unlock()
}

func (st *soakStats) stalled(kind string, p probe) {
	st.mu.Lock()
	st.stalledBy[kind]++
	st.stalledLongest[kind] = max(st.stalledLongest[kind], p.closed)
	st.mu.Unlock()
}
