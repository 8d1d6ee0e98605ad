package partition

// timer is one entry of a partition's timer index: at event time at, the
// session whose key hash is hash needs attention. 16 bytes, no pointers.
type timer struct {
	at   int64
	hash uint64
}

// timerHeap is a min-heap of timers ordered by time, then hash, so timers
// due at the same moment fire in the same order on every replica.
//
// Entries are never removed but by popping: a session keeps one armed entry
// (its state's Armed field), and an entry whose time no longer matches its
// session's Armed is stale and skipped when it fires. A session whose
// deadline moves later keeps its entry, which re-arms when it fires; only a
// deadline that moves earlier adds an entry.
type timerHeap []timer

func (h timerHeap) less(i, j int) bool {
	return h[i].at < h[j].at || h[i].at == h[j].at && h[i].hash < h[j].hash
}

func (h *timerHeap) push(t timer) {
	*h = append(*h, t)
	s := *h
	for i := len(s) - 1; i > 0; {
		parent := (i - 1) / 2
		if !s.less(i, parent) {
			break
		}
		s[i], s[parent] = s[parent], s[i]
		i = parent
	}
}

// init restores the heap order of a slice of timers.
func (h timerHeap) init() {
	for i := len(h)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

func (h timerHeap) down(i int) {
	for {
		l, r, least := 2*i+1, 2*i+2, i
		if l < len(h) && h.less(l, least) {
			least = l
		}
		if r < len(h) && h.less(r, least) {
			least = r
		}
		if least == i {
			return
		}
		h[i], h[least] = h[least], h[i]
		i = least
	}
}

// pop removes and returns the earliest timer; the heap must not be empty.
func (h *timerHeap) pop() timer {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	s = s[:last]
	s.down(0)
	*h = s
	return top
}

// next returns the earliest timer's time, and false if there is none.
func (h timerHeap) next() (int64, bool) {
	if len(h) == 0 {
		return 0, false
	}
	return h[0].at, true
}
