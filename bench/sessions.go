package bench

import "sync"

// recentSends is how many of a session's latest events a load run
// remembers to match an invite to the event that triggered it. Invites come
// within milliseconds and a session's events seconds apart, so the
// triggering event is nearly always the latest one.
const recentSends = 3

// sessionSlot is what a load run knows of one session it sent.
type sessionSlot struct {
	// sent are the send times (ns after the run's start) of the session's
	// latest events, newest at sent[n%recentSends].
	sent     [recentSends]int64
	n        uint32 // events sent
	persona  Persona
	invited  bool
	finished bool // its last event was sent
	partial  bool // joined in progress: its first events were not sent
}

const chunkBits = 16

// sessionTable maps session indexes to what was sent, in chunks, so it
// grows without copying: a flood run sends tens of millions of sessions.
// The producer writes it and the invite readers look things up: both hold
// mu, the producer once per batch, a reader once per invite.
type sessionTable struct {
	mu     sync.Mutex
	chunks []*[1 << chunkBits]sessionSlot
	n      int // sessions seen: slots 0..n-1
}

// slot returns session i's slot, growing the table; mu must be held.
func (t *sessionTable) slot(i int) *sessionSlot {
	for i>>chunkBits >= len(t.chunks) {
		t.chunks = append(t.chunks, new([1 << chunkBits]sessionSlot))
	}
	t.n = max(t.n, i+1)
	return &t.chunks[i>>chunkBits][i&(1<<chunkBits-1)]
}

// lookup returns session i's slot if it was sent; mu must be held.
func (t *sessionTable) lookup(i int) *sessionSlot {
	if i < 0 || i >= t.n {
		return nil
	}
	return &t.chunks[i>>chunkBits][i&(1<<chunkBits-1)]
}

// sent records that an event of session i (of persona p) was due at
// offset ns after the run's start, whether it was the session's last, and
// whether the session was joined in progress; mu must be held.
func (t *sessionTable) sent(i int, p Persona, offset int64, last, partial bool) {
	s := t.slot(i)
	s.partial = partial
	s.persona = p
	s.sent[s.n%recentSends] = offset
	s.n++
	s.finished = last
}

// match returns the due time of session i's event whose time in ms is
// tsMs, given the run's start in Unix ns, newest first; mu must be held.
func (s *sessionSlot) match(startNs, tsMs int64) (int64, bool) {
	for k := range min(int(s.n), recentSends) {
		off := s.sent[(int(s.n)-1-k)%recentSends]
		if (startNs+off)/1e6 == tsMs {
			return off, true
		}
	}
	return 0, false
}

// personaCounts counts the sessions sent in full, and those of them
// invited, per persona: a session cut short by the run's start or end may
// not have shown its hesitation to the processor. mu must be held.
func (t *sessionTable) personaCounts() (sessions, invited [numPersonas]int) {
	for i := range t.n {
		s := &t.chunks[i>>chunkBits][i&(1<<chunkBits-1)]
		if !s.finished || s.partial {
			continue
		}
		sessions[s.persona]++
		if s.invited {
			invited[s.persona]++
		}
	}
	return sessions, invited
}
