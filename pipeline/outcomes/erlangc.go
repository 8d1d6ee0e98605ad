package outcomes

import (
	"math"
	"time"
)

// Erlang C models a team as an M/M/N queue: chats arrive at random
// (Poisson) at a steady rate, each holds one agent for an exponentially
// distributed time with mean AHT, and a chat that finds every agent busy
// waits in line rather than leaving. The offered load A, in erlangs, is the
// arrival rate times AHT: the number of agents the chats would keep busy
// on average. A queue is stable only with more agents than that, N > A.

// AgentsUnknown is what AgentsNeeded returns when its question has no
// answer: an arrival rate that is not a finite non-negative number, arrivals
// with a handling time that is not positive, a negative answer time, a
// service level outside (0, 1), or a load that would need more than
// MaxAgents.
const AgentsUnknown = -1

// MaxAgents bounds the staffing this package computes, and with it the
// work one call does (the Erlang B recursion takes one step per agent).
// A load above it is beyond any chat team, and more likely a unit mistake
// (arrivals per second passed as per hour) than a real hour.
const MaxAgents = 100_000

// Load returns the offered load in erlangs of arrivalsPerHour chats that
// each hold an agent for avgHandle on average: the mean number of agents
// they keep busy. It is NaN when arrivalsPerHour is NaN, infinite or
// negative, or avgHandle is negative.
func Load(arrivalsPerHour float64, avgHandle time.Duration) float64 {
	if !validRate(arrivalsPerHour) || avgHandle < 0 {
		return math.NaN()
	}
	return arrivalsPerHour * avgHandle.Hours()
}

// WaitProbability returns P_w, Erlang C's probability that a chat arriving
// at a team of agents under load erlangs finds them all busy and waits.
// It is 0 without load, 1 when agents ≤ load (the queue grows without
// bound, so every chat ends up waiting), and NaN for a load that is NaN or
// negative, or above MaxAgents while agents exceed it (too large a team to
// compute).
func WaitProbability(agents int, load float64) float64 {
	switch {
	case math.IsNaN(load) || load < 0:
		return math.NaN()
	case load == 0:
		return 0
	case float64(agents) <= load: // also agents ≤ 0, and an infinite load
		return 1
	case load > MaxAgents:
		return math.NaN()
	}
	return erlangC(agents, load, erlangB(agents, load))
}

// ServiceLevel returns the share of chats answered within answerWithin by
// agents agents under load erlangs, each chat lasting avgHandle on
// average (Erlang C):
//
//	SL = 1 − P_w · exp(−(N − A) · T / AHT)
//
// It is 1 without load, 0 when agents ≤ load, and NaN when avgHandle is
// not positive, answerWithin is negative, or WaitProbability is NaN.
func ServiceLevel(agents int, load float64, avgHandle, answerWithin time.Duration) float64 {
	if avgHandle <= 0 || answerWithin < 0 {
		return math.NaN()
	}
	pw := WaitProbability(agents, load)
	switch {
	case math.IsNaN(pw):
		return math.NaN()
	case pw == 0:
		return 1
	case float64(agents) <= load:
		return 0
	}
	return answeredShare(agents, load, pw, answerWithin.Seconds()/avgHandle.Seconds())
}

// AgentsNeeded returns the fewest agents N > A for which Erlang C answers
// at least serviceLevel (a share in (0, 1), such as 0.8) of the chats
// within answerWithin, when arrivalsPerHour chats arrive and each holds an
// agent for avgHandle on average: how many agents an hour needed to
// answer its accepted chats in time.
//
// It returns 0 when there are no arrivals (whatever avgHandle: an hour
// without chats measured no handling time), and AgentsUnknown for inputs
// that ask nothing answerable (see AgentsUnknown).
func AgentsNeeded(arrivalsPerHour float64, avgHandle, answerWithin time.Duration, serviceLevel float64) int {
	switch {
	case !validRate(arrivalsPerHour), answerWithin < 0:
		return AgentsUnknown
	case !(serviceLevel > 0 && serviceLevel < 1): // also NaN
		return AgentsUnknown
	case arrivalsPerHour == 0:
		return 0
	case avgHandle <= 0:
		return AgentsUnknown
	}
	load := arrivalsPerHour * avgHandle.Hours()
	if load > MaxAgents {
		return AgentsUnknown
	}
	ratio := answerWithin.Seconds() / avgHandle.Seconds()
	// Start at the fewest agents that keep the queue stable and add one at
	// a time, carrying the Erlang B recursion along, so the search costs
	// one step per agent rather than a recursion per candidate.
	n := int(math.Floor(load)) + 1
	b := erlangB(n, load)
	for {
		if answeredShare(n, load, erlangC(n, load, b), ratio) >= serviceLevel {
			return n
		}
		if n >= MaxAgents {
			return AgentsUnknown
		}
		n++
		b = erlangBStep(n, load, b)
	}
}

// validRate reports whether r is a finite non-negative number.
func validRate(r float64) bool { return r >= 0 && !math.IsInf(r, 1) }

// erlangB returns Erlang B's blocking probability for n servers under
// load a, by the recursion B(0) = 1, B(k) = a·B(k−1) / (k + a·B(k−1)).
// Unlike the textbook ratio of aⁿ/n! to a sum of such terms, no step
// overflows (171! already does in a float64) or loses precision: each B(k)
// is a probability. Once B underflows to 0 it stays there, so the loop
// stops early when n is far above a.
func erlangB(n int, a float64) float64 {
	b := 1.0
	for k := 1; k <= n && b > 0; k++ {
		b = erlangBStep(k, a, b)
	}
	return b
}

// erlangBStep returns B(k) from B(k−1).
func erlangBStep(k int, a, prev float64) float64 {
	ab := a * prev
	return ab / (float64(k) + ab)
}

// erlangC converts Erlang B's blocking probability b for n > a servers into
// Erlang C's probability of waiting: C = n·B / (n − a·(1 − B)).
func erlangC(n int, a, b float64) float64 {
	nf := float64(n)
	return min(1, max(0, nf*b/(nf-a*(1-b))))
}

// answeredShare is the service level 1 − pw·exp(−(n − a)·ratio), ratio
// being the answer time over the mean handling time, kept inside [0, 1].
// ServiceLevel and AgentsNeeded both use it, so that the agents one finds
// are the agents the other says suffice.
func answeredShare(n int, a, pw, ratio float64) float64 {
	return min(1, max(0, 1-pw*math.Exp(-(float64(n)-a)*ratio)))
}
