package gateway

import (
	"sync"
	"time"

	"github.com/lingerhq/linger/schemas"
)

// invitesPerSession bounds the invites indexed per session, the latest
// kept: the policy invites a session a few times at most (its per-session
// cap), so more are a flood of made-up records on chat-invites.
const invitesPerSession = 16

// indexedInvite is an invite of a session, as feedback checks it.
type indexedInvite struct {
	id        string
	expiresAt int64  // Unix ms
	taken     uint64 // bit t: feedback of type t taken already
}

// inviteIndex knows, per session, the invites the processor decided for it
// (read from chat-invites, like the streams), so that a visitor's feedback
// names an invite the session was given, arrives while it is live (until
// its expires_at plus the margin), and counts once per type. Every replica
// reads all of chat-invites, so any replica behind a load balancer, and one
// that restarted (within the look-back), checks the same; that a type was
// taken is known to the replica that took it only, and the processor, the
// one that counts, ignores repeats too.
//
// Memory is bounded: maxSessions sessions of at most invitesPerSession
// invites. When full, sessions whose invites have all passed their window
// go first, then random ones (counted: their visitors' feedback is then
// refused as unknown).
type inviteIndex struct {
	maxSessions int
	marginMs    int64
	m           *metrics

	mu       sync.Mutex
	sessions map[string][]indexedInvite
	added    chan struct{} // closed, and replaced, when an invite is added
}

func newInviteIndex(maxSessions int, margin time.Duration, m *metrics) *inviteIndex {
	return &inviteIndex{maxSessions: maxSessions, marginMs: margin.Milliseconds(), m: m,
		sessions: map[string][]indexedInvite{}, added: make(chan struct{})}
}

// add indexes a decision of chat-invites: an invite that is not in the
// control group (a holdout invite is never shown, so no visitor can report
// on it). A repeat (at-least-once delivery, the look-back) keeps what was
// taken.
func (x *inviteIndex) add(d *schemas.Decision, nowMs int64) {
	if d.Action != schemas.ActionInvite || d.Holdout || d.ExpiresAt+x.marginMs <= nowMs {
		return
	}
	session, id := string(d.Session), string(d.ID)
	x.mu.Lock()
	defer x.mu.Unlock()
	invs, ok := x.sessions[session]
	if !ok && len(x.sessions) >= x.maxSessions {
		x.makeRoom(nowMs)
	}
	for i := range invs {
		if invs[i].id == id {
			return
		}
	}
	if len(invs) == invitesPerSession {
		invs = append(invs[:0], invs[1:]...)
	}
	x.sessions[session] = append(invs, indexedInvite{id: id, expiresAt: d.ExpiresAt})
	x.m.indexSessions.Set(float64(len(x.sessions)))
	close(x.added)
	x.added = make(chan struct{})
}

// Outcomes of take.
const (
	takeOK = iota
	takeUnknown
	takeExpired
	takeRepeat
)

// take marks feedback of type typ on invite id of session taken, and says
// whether it may be: takeOK, or why not. wait is closed when an invite is
// next added (a caller told takeUnknown may wait for its replica to read
// it). undo, after takeOK, clears the mark (the record was not stored).
func (x *inviteIndex) take(session, id string, typ schemas.FeedbackType, nowMs int64) (outcome int, wait <-chan struct{}, undo func()) {
	x.mu.Lock()
	defer x.mu.Unlock()
	invs := x.sessions[session]
	for i := range invs {
		inv := &invs[i]
		if inv.id != id {
			continue
		}
		// One bit per type: the contract has a handful (a type past 63
		// would share a bit, and only refuse a little early).
		bit := uint64(1) << (uint(typ) % 64)
		switch {
		case inv.expiresAt+x.marginMs <= nowMs:
			return takeExpired, nil, nil
		case inv.taken&bit != 0:
			return takeRepeat, nil, nil
		}
		inv.taken |= bit
		return takeOK, nil, func() { x.untake(session, id, bit) }
	}
	return takeUnknown, x.added, nil
}

func (x *inviteIndex) untake(session, id string, bit uint64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	invs := x.sessions[session]
	for i := range invs {
		if invs[i].id == id {
			invs[i].taken &^= bit
		}
	}
}

// sweep forgets the invites past their window, and sessions left with
// none.
func (x *inviteIndex) sweep(nowMs int64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.forgetExpired(nowMs)
}

func (x *inviteIndex) forgetExpired(nowMs int64) {
	for s, invs := range x.sessions {
		live := invs[:0]
		for _, inv := range invs {
			if inv.expiresAt+x.marginMs > nowMs {
				live = append(live, inv)
			}
		}
		if len(live) == 0 {
			delete(x.sessions, s)
		} else {
			x.sessions[s] = live
		}
	}
	x.m.indexSessions.Set(float64(len(x.sessions)))
}

// makeRoom frees a tenth of maxSessions: sessions past their window
// first, then random ones, counted.
func (x *inviteIndex) makeRoom(nowMs int64) {
	x.forgetExpired(nowMs)
	for s := range x.sessions { // map order is random
		if len(x.sessions) < x.maxSessions*9/10 {
			break
		}
		delete(x.sessions, s)
		x.m.indexEvicted.Inc()
	}
	x.m.indexSessions.Set(float64(len(x.sessions)))
}
