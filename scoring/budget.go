package scoring

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Budget is one partition's share of the invite budgets: a token bucket per
// site and team, fed by chat capacity, and the invite-share and acceptance
// bands of each site (with the feedback that waits for the watermark to
// count in the latter: see AcceptanceBandConfig). The pipeline keeps one
// per partition (an Engine option, WithBudget), writes it with
// AppendBinary to its state changelog when Dirty after a batch, and
// restores it with DecodeBudget before the partition's first event, so
// that decisions depend on the events alone: not on batch boundaries,
// restarts or the number of replicas. Like the Engine, it belongs to one
// partition worker and is not safe for concurrent use.
//
// The capacity rule, for a team of a site, in a partition p of P: let r be
// the latest chat-capacity record whose ts is at or before the decision's
// event time t (free_slots F, agents A, avg_handle_s H), k =
// capacity.invites_per_slot, and
//
//	size = F·k / P                 the partition's share of the free slots
//	rate = A·k / (H·P)             tokens a second: each agent frees a slot every H
//	pending                        this partition's recent invites to the team,
//	                               decayed with time constant invite_ttl
//
// When r is newer than the record the bucket last saw, the platform has
// counted the chats that started since, not the invites still pending, so
// tokens = size − pending. Otherwise tokens = min(tokens + rate·Δt, size),
// Δt the event time since the bucket's last update (never negative).
//
// A would-be invite is then suppressed with no_capacity if F = 0 or tokens
// < u, where u in (0, 1] is a hash of the session id and its decision
// number: a partition whose share is a fraction of an invite admits that
// fraction of its candidates, so the group as a whole lets out about F·k
// invites, not one per partition. Otherwise the score must reach
//
//	threshold + scarce_raise × (1 − threshold) × (1 − fill),  fill = clamp(tokens/size, 0, 1)
//
// (suppressed with scarce_capacity if not): a full bucket asks the plain
// threshold, an empty one half way to 1 by default, so the last slots go to
// the highest scores. An invite then spends a token and adds one to
// pending; a holdout decision is admitted the same way but spends nothing,
// since no agent will answer it.
//
// Without a record for t (or with one older than capacity.stale_after),
// the static budget applies: size = static_burst / P and rate =
// static_invites_per_minute / (60·P), or no limit at all when
// static_invites_per_minute is 0 (the default).
type Budget struct {
	partitions float64
	teams      map[string]*teamBucket
	teamList   []*teamBucket // in the order created: the encoding's order
	sites      map[string]*siteBand
	siteList   []*siteBand
	key        []byte // scratch for site/team keys
	dirty      bool
	// acceptWM is the partition's watermark as the acceptance bands know
	// it (Engine.Apply and Fire move it), and pending the feedback whose ts
	// it has not passed yet, in order of ts (then site and kind).
	acceptWM int64
	pending  []pendingFeedback
}

// MaxBudgetKeys bounds the team buckets and the site bands of a Budget
// each; beyond it the one used least recently (by event time) is dropped.
const MaxBudgetKeys = 4096

type teamBucket struct {
	key     string // site + "/" + team
	site    int    // len(site): key[:site] is the site, key[site+1:] the team
	tokens  float64
	pending float64
	size    float64 // the size of the last check, for metrics
	at      int64   // event time tokens and pending are as of
	recTS   int64   // ts of the newest capacity record applied
}

// NewBudget returns the empty budget of a partition of a topic with
// partitions partitions: every team's capacity is split evenly over them.
func NewBudget(partitions int) *Budget {
	if partitions < 1 {
		panic("BUG: NewBudget needs at least one partition")
	}
	return &Budget{partitions: float64(partitions), teams: map[string]*teamBucket{}, sites: map[string]*siteBand{}}
}

// Partitions returns the partition count the budget splits capacity over.
func (b *Budget) Partitions() int { return int(b.partitions) }

// Dirty reports whether the budget changed since MarkClean: the pipeline
// writes it to its state changelog then.
func (b *Budget) Dirty() bool { return b.dirty }

// MarkClean clears Dirty, after the budget was written.
func (b *Budget) MarkClean() { b.dirty = false }

// grant is the budget's answer for one would-be invite of a team.
type grant struct {
	limited bool // false: no limit applies, the rest is unset
	noSlots bool // the capacity record says no free slot
	tokens  float64
	size    float64
	bucket  *teamBucket
}

func (g *grant) fill() float64 {
	if g.size <= 0 {
		return 0
	}
	return min(max(g.tokens/g.size, 0), 1)
}

// check brings site's team's bucket to event time at and returns what it
// holds for a would-be invite. caps may be nil (no capacity data). The
// bucket is keyed by the site when the capacity table has records of it
// (the platform's sites), else by other, the site's budget key
// (Config.budgetSite): a made-up site shares the other sites' buckets.
func (b *Budget) check(caps *CapacityTable, site, other, team []byte, at int64, set *Settings) grant {
	var size, rate float64
	recTS := int64(-1)
	limited := false
	if caps != nil {
		if r, ok := caps.At(site, team, at); ok && (set.StaleAfterMs == 0 || at-r.TS <= set.StaleAfterMs) {
			k := set.InvitesPerSlot / b.partitions
			size = float64(r.FreeSlots) * k
			rate = float64(r.Agents) * k / max(r.AvgHandleS, 1)
			recTS, limited = r.TS, true
			if r.FreeSlots == 0 {
				return grant{limited: true, noSlots: true}
			}
		}
	}
	if !limited {
		if set.StaticPerMinute <= 0 {
			return grant{}
		}
		size = set.StaticBurst / b.partitions
		rate = set.StaticPerMinute / 60 / b.partitions
		site = other
	}
	k := b.bucket(site, team, size, at)
	if at > k.at {
		dt := float64(at-k.at) / 1000
		k.tokens = min(k.tokens+rate*dt, size)
		if k.pending != 0 {
			k.pending *= math.Exp(-float64(at-k.at) / float64(max(set.InviteTTLMs, 1)))
		}
		k.at = at
	}
	tokens := k.tokens
	switch {
	case recTS > k.recTS:
		// A newer record: the platform's count of free slots replaces the
		// bucket's estimate, less what is still pending.
		k.recTS = recTS
		k.tokens = size - k.pending
		tokens = k.tokens
	case recTS < k.recTS && recTS >= 0:
		// A late moment under an older record: judge it by that record's
		// size, without forgetting what the newer one said.
		tokens = min(tokens, size)
	default:
		k.tokens = min(k.tokens, size)
		tokens = k.tokens
	}
	k.size = size
	b.dirty = true
	return grant{limited: true, tokens: tokens, size: size, bucket: k}
}

// spend takes one token for an invite.
func (g *grant) spend() {
	g.bucket.tokens--
	g.bucket.pending++
}

// bucket returns site's team's bucket, creating it full (size) at at.
func (b *Budget) bucket(site, team []byte, size float64, at int64) *teamBucket {
	b.key = append(append(append(b.key[:0], site...), '/'), team...)
	if k := b.teams[string(b.key)]; k != nil {
		return k
	}
	if len(b.teamList) >= MaxBudgetKeys {
		oldest := 0
		for i, k := range b.teamList {
			if k.at < b.teamList[oldest].at {
				oldest = i
			}
		}
		delete(b.teams, b.teamList[oldest].key)
		b.teamList = append(b.teamList[:oldest], b.teamList[oldest+1:]...)
	}
	k := &teamBucket{key: string(b.key), site: len(site), tokens: size, size: size, at: at, recTS: -1}
	b.teams[k.key] = k
	b.teamList = append(b.teamList, k)
	return k
}

// TeamBudget is one team bucket of a partition, for metrics.
type TeamBudget struct {
	Site, Team string
	// Tokens are the invites the partition may still send the team (less
	// than 1: a fraction of the candidates is admitted); Size the most it
	// can hold; Pending its recent invites, decayed. All as of At.
	Tokens, Size, Pending float64
	At                    int64
}

// Teams calls fn for each team bucket.
func (b *Budget) Teams(fn func(TeamBudget)) {
	for _, k := range b.teamList {
		fn(TeamBudget{Site: k.key[:k.site], Team: k.key[k.site+1:], Tokens: k.tokens, Size: k.size, Pending: k.pending, At: k.at})
	}
}

// ErrBadBudget is returned by DecodeBudget for bytes it cannot read.
var ErrBadBudget = errors.New("bad budget")

// budgetVersion is the first byte of an encoded Budget. Version 2 added
// each site's acceptance band, the acceptance watermark and the pending
// feedback; version 1 encodings still decode, without them.
const budgetVersion = 2

// AppendBinary appends the budget's state (not its partition count) for
// DecodeBudget.
func (b *Budget) AppendBinary(dst []byte) []byte {
	dst = append(dst, budgetVersion)
	dst = binary.AppendUvarint(dst, uint64(len(b.teamList)))
	for _, k := range b.teamList {
		dst = appendString(dst, k.key)
		dst = binary.AppendUvarint(dst, uint64(k.site))
		dst = appendFloat(dst, k.tokens)
		dst = appendFloat(dst, k.pending)
		dst = appendFloat(dst, k.size)
		dst = binary.AppendVarint(dst, k.at)
		dst = binary.AppendVarint(dst, k.recTS)
	}
	dst = binary.AppendUvarint(dst, uint64(len(b.siteList)))
	for _, s := range b.siteList {
		dst = s.appendBinary(dst)
	}
	return b.appendPending(dst)
}

// DecodeBudget replaces b's state with the one data holds (AppendBinary of
// this or an earlier release). On error b is left empty.
func DecodeBudget(data []byte, b *Budget) error {
	b.reset()
	b.dirty = false
	if err := b.decode(data); err != nil {
		b.reset()
		return fmt.Errorf("%w: %w", ErrBadBudget, err)
	}
	return nil
}

// reset empties b, keeping the pending list's memory.
func (b *Budget) reset() {
	b.teams, b.teamList = map[string]*teamBucket{}, nil
	b.sites, b.siteList = map[string]*siteBand{}, nil
	b.acceptWM, b.pending = 0, b.pending[:0]
}

func (b *Budget) decode(data []byte) error {
	r := reader{b: data}
	version := r.byte()
	if r.err != nil {
		return r.err
	}
	if version < 1 || version > budgetVersion {
		return fmt.Errorf("version %d, this release reads 1 to %d", version, budgetVersion)
	}
	n := r.count(MaxBudgetKeys)
	for range n {
		k := &teamBucket{key: r.string()}
		site := r.uvarint()
		k.tokens, k.pending, k.size = r.float(), r.float(), r.float()
		k.at, k.recTS = r.varint(), r.varint()
		if r.err != nil {
			return r.err
		}
		// Checked before the conversion: a huge uvarint is a negative int.
		if site >= uint64(len(k.key)) || k.key[site] != '/' || b.teams[k.key] != nil {
			return errors.New("bad team key")
		}
		k.site = int(site)
		b.teams[k.key] = k
		b.teamList = append(b.teamList, k)
	}
	n = r.count(MaxBudgetKeys)
	for range n {
		s := &siteBand{}
		if err := s.decode(&r, version); err != nil {
			return err
		}
		if b.sites[s.site] != nil {
			return errors.New("site twice")
		}
		b.sites[s.site] = s
		b.siteList = append(b.siteList, s)
	}
	if version >= 2 {
		if err := b.decodePending(&r); err != nil {
			return err
		}
	}
	if r.err == nil && len(r.b) != 0 {
		return fmt.Errorf("%d bytes after the end", len(r.b))
	}
	return r.err
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendFloat(dst []byte, f float64) []byte {
	return binary.LittleEndian.AppendUint64(dst, math.Float64bits(f))
}

// reader reads what AppendBinary wrote; the first problem sticks in err and
// every later read returns zero.
type reader struct {
	b   []byte
	err error
}

var errTruncated = errors.New("truncated or corrupt")

func (r *reader) fail() {
	if r.err == nil {
		r.err = errTruncated
	}
	r.b = nil
}

func (r *reader) byte() byte {
	if len(r.b) < 1 {
		r.fail()
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads a count of at most limit.
func (r *reader) count(limit int) int {
	n := r.uvarint()
	if n > uint64(limit) {
		r.fail()
		return 0
	}
	return int(n)
}

func (r *reader) string() string {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail()
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *reader) float() float64 {
	if len(r.b) < 8 {
		r.fail()
		return 0
	}
	f := math.Float64frombits(binary.LittleEndian.Uint64(r.b))
	r.b = r.b[8:]
	if math.IsNaN(f) || math.IsInf(f, 0) {
		r.fail()
		return 0
	}
	return f
}
