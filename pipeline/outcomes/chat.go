package outcomes

import (
	"cmp"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/lingerhq/linger/schemas"
	"github.com/lingerhq/linger/scoring"
)

// The chat team's figures: acceptance per site and team against its band,
// the agents each hour of the week needed to answer its accepted chats in
// time (and would have needed for the invites held back for want of
// agents), and satisfaction per site, team and reason.

// Options say how a Tally measures the chat team's figures. A zero field
// takes its default.
type Options struct {
	// Band returns a site's acceptance band, in percent of the invites
	// shown. Default: 3–10% for every site.
	Band func(site string) Band
	// Location is the time zone of the staffing table's weekdays and
	// hours. Default: UTC.
	Location *time.Location
	// AnswerWithin is the time within which a chat should be answered.
	// Default: 30 s.
	AnswerWithin time.Duration
	// ServiceLevel is the share of accepted chats to answer within
	// AnswerWithin, in (0, 1). Default: 0.8.
	ServiceLevel float64
}

// Band is an acceptance band, in percent: healthy proactive chat has 3–10%
// of the visitors shown an invite accept it.
type Band struct {
	// MinPercent and MaxPercent bound the band, inclusive, in percent.
	MinPercent float64 `json:"min_percent"`
	MaxPercent float64 `json:"max_percent"`
}

// DefaultBand is the acceptance band when none is configured.
var DefaultBand = Band{MinPercent: 3, MaxPercent: 10}

// Verdicts of an acceptance rate against its band.
const (
	VerdictBelow  = "below"
	VerdictInside = "inside"
	VerdictAbove  = "above"
)

// AcceptanceRow is the acceptance of one site and team's invites against
// the site's band. The verdict is the rate's; the interval and n beside it
// say how sure it is.
type AcceptanceRow struct {
	// Site and Team name the row ("" for decisions without them).
	Site string `json:"site"`
	Team string `json:"team"`
	// Shown and Accepted count the invites outside the holdout reported
	// shown and accepted, as Group does; Shown is never 0 in a row.
	Shown    int `json:"shown"`
	Accepted int `json:"accepted"`
	// Rate is Accepted/Shown, with its 95% Wilson interval; all three in
	// 0..1.
	Rate float64 `json:"rate"`
	Lo   float64 `json:"ci_low"`
	Hi   float64 `json:"ci_high"`
	// BandMin and BandMax are the site's band, in percent.
	BandMin float64 `json:"band_min"`
	BandMax float64 `json:"band_max"`
	// Verdict is VerdictBelow, VerdictInside or VerdictAbove.
	Verdict string `json:"verdict"`
}

// StaffingRow is one site, team, weekday and hour of day: the invites shown
// and accepted in it, and the agents it needed. Figures that cannot be
// known are nil (null in the JSON).
type StaffingRow struct {
	// Site and Team name the row's team.
	Site string `json:"site"`
	Team string `json:"team"`
	// Weekday is "Mon" to "Sun"; Hour 0 to 23, in StaffingBasis.TimeZone.
	Weekday string `json:"weekday"`
	Hour    int    `json:"hour"`
	// Shown counts the invites whose invite_shown record falls in the
	// hour, Accepted those whose invite_accepted record does, summed over
	// the weeks read.
	Shown    int `json:"shown"`
	Accepted int `json:"accepted"`
	// AvgHandleS is the mean handling time in seconds: the chat_ended
	// records of the hour's accepted chats, else the capacity records'
	// avg_handle_s in the hour, else the same over the whole window.
	AvgHandleS *float64 `json:"avg_handle_s"`
	// AgentsNeeded is the fewest agents (one chat each) for which Erlang
	// C answers StaffingBasis.ServiceLevel of the hour's accepted chats
	// within StaffingBasis.AnswerWithinS, the arrival rate being the
	// accepted chats averaged over the weeks read. nil when a handling time
	// is needed and unknown.
	AgentsNeeded *int `json:"agents_needed"`
	// AgentsAvailable is the agents on shift by the capacity records,
	// averaged over the time of the hour a record was in effect; nil
	// without one.
	AgentsAvailable *float64 `json:"agents_available"`
	// SuppressedNoCapacity is the sessions whose would-be invite was held
	// back because the team had no free slot (the tallies' no_capacity,
	// each session once an hour); nil when no tallies were read.
	SuppressedNoCapacity *int64 `json:"suppressed_no_capacity"`
	// AgentsNeededAll is AgentsNeeded with the held-back sessions added as
	// chats at the site and team's acceptance rate; nil without tallies,
	// or when that rate or a handling time is needed and unknown.
	AgentsNeededAll *int `json:"agents_needed_all"`
}

// StaffingBasis is what the staffing table rests on.
type StaffingBasis struct {
	// TimeZone names the zone of the rows' weekdays and hours.
	TimeZone string `json:"time_zone"`
	// AnswerWithinS and ServiceLevel are the target: that share of chats
	// answered within that many seconds.
	AnswerWithinS float64 `json:"answer_within_s"`
	ServiceLevel  float64 `json:"service_level"`
	// Tallies is where suppressed_no_capacity comes from (a topic, or
	// "replay"); empty when no tallies were read, and the column is n/a.
	Tallies string `json:"tallies"`
	// TallyRecords and CapacityRecords count the records read (a tally
	// replaced by a later record of its key counts once).
	TallyRecords    int `json:"tally_records"`
	CapacityRecords int `json:"capacity_records"`
}

// CSATRow is the post-chat ratings of one site, team and reason's invites.
type CSATRow struct {
	// Site, Team and Reason name the row's invites, as a Group's.
	Site   string `json:"site"`
	Team   string `json:"team"`
	Reason string `json:"reason"`
	// Ratings counts the rated chats (one rating per invite: the latest).
	Ratings int `json:"ratings"`
	// Mean is the mean score, 1 to 5; SatisfiedShare the share of ratings
	// of 4 or 5, with its 95% Wilson interval (0..1). nil without ratings.
	Mean           *float64 `json:"mean"`
	SatisfiedShare *float64 `json:"satisfied_share"`
	Lo             *float64 `json:"ci_low"`
	Hi             *float64 `json:"ci_high"`
}

// SatisfiedScore is the lowest rating that counts as satisfied.
const SatisfiedScore = 4

// ConfigBand returns the acceptance band of each site as cfg sets it
// (acceptance_band), for Options.Band.
func ConfigBand(cfg *scoring.Config) func(site string) Band {
	return func(site string) Band {
		lo, hi := cfg.For([]byte(site)).AcceptanceBand()
		return Band{MinPercent: 100 * lo, MaxPercent: 100 * hi}
	}
}

// SetOptions sets how the chat team's figures are measured.
func (t *Tally) SetOptions(o Options) {
	if o.Band == nil {
		o.Band = func(string) Band { return DefaultBand }
	}
	if o.Location == nil {
		o.Location = time.UTC
	}
	if o.AnswerWithin == 0 {
		o.AnswerWithin = 30 * time.Second
	}
	if o.ServiceLevel == 0 {
		o.ServiceLevel = 0.8
	}
	t.opts = o
}

// TalliesFrom says that the hourly tallies were read, from source (a topic
// name, or "replay"): hours without a tally then held nothing back, rather
// than being unknown.
func (t *Tally) TalliesFrom(source string) { t.talliesFrom = source }

// AddCapacity counts a valid v1 chat-capacity record: the team's agents
// and handling time from its ts on.
func (t *Tally) AddCapacity(c *schemas.Capacity) {
	k := teamKey{string(c.Site), string(c.Team)}
	t.capacity[k] = append(t.capacity[k], capPoint{ts: c.TS, agents: float64(c.Agents), handleS: c.AvgHandleS})
	t.capRecords++
}

// AddHourTally counts a valid v1 tally. A later tally of the same
// partition, site, team and hour replaces the earlier one, as compaction
// would.
func (t *Tally) AddHourTally(h *schemas.HourTally) {
	k := hourKey{h.Partition, string(h.Site), string(h.Team), h.HourStart}
	t.hours[k] = h.SuppressedBy("no_capacity")
}

type teamKey struct{ site, team string }

type hourKey struct {
	partition  int32
	site, team string
	hourStart  int64
}

// capPoint is a capacity record: agents and handling time from ts on.
type capPoint struct {
	ts      int64
	agents  float64
	handleS float64
}

// noteFeedback keeps what the chat sections need of a feedback record: the
// times that place the invite in an hour, its chat's handling time and its
// rating.
func (s *feedbackSeen) noteFeedback(f *schemas.Feedback) {
	earliest := func(at *int64) {
		if *at == 0 || f.TS < *at {
			*at = f.TS
		}
	}
	switch f.Type {
	case schemas.FeedbackShown:
		earliest(&s.shownAt)
	case schemas.FeedbackAccepted:
		earliest(&s.acceptedAt)
		earliest(&s.impliedShownAt)
	case schemas.FeedbackDeclined:
		earliest(&s.impliedShownAt)
	case schemas.FeedbackChatStarted:
		earliest(&s.impliedShownAt)
		earliest(&s.impliedAcceptedAt)
	case schemas.FeedbackChatEnded:
		// A chat ends once: of several records, the latest counts.
		if f.TS >= s.endedAt {
			s.endedAt, s.handleS = f.TS, f.HandleS
		}
	case schemas.FeedbackChatRated:
		if f.TS >= s.ratedAt {
			s.ratedAt, s.score = f.TS, int8(f.Score)
		}
	}
}

// shownTS and acceptedTS place an invite's showing and acceptance in time:
// the record that says so, else the earliest that implies it.
func (s *feedbackSeen) shownTS() int64 {
	if s.shownAt != 0 {
		return s.shownAt
	}
	return s.impliedShownAt
}

func (s *feedbackSeen) acceptedTS() int64 {
	if s.acceptedAt != 0 {
		return s.acceptedAt
	}
	return s.impliedAcceptedAt
}

// slot is an hour of the week: weekday (time.Sunday = 0) and hour of day.
type slot struct{ day, hour int }

// weekdayNames are the rows' weekdays, by time.Weekday.
var weekdayNames = [7]string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}

// weekOrder sorts weekdays from Monday (ISO 8601).
func weekOrder(d int) int { return (d + 6) % 7 }

// staffingAcc accumulates one site, team and slot.
type staffingAcc struct {
	shown, accepted int
	handleSum       float64
	handleN         int
	noCapacity      int64
}

// teamCapacity is a team's capacity records integrated over the slots of
// the window: ms covered by a record, and agents and handling time times
// ms.
type teamCapacity struct {
	coveredMs, agentMs, handleMs [7][24]float64
}

// hoursOf calls fn with each hour of the local day that overlaps from..to
// (Unix ms), in loc, with its start and end (Unix ms). An hour is an hour
// of absolute time from a local hour's start, so a day of a change to or
// from summer time has 23 or 25 of them.
func hoursOf(from, to int64, loc *time.Location, fn func(s slot, start, end int64)) {
	if to < from {
		return
	}
	f := time.UnixMilli(from).In(loc)
	h := time.Date(f.Year(), f.Month(), f.Day(), f.Hour(), 0, 0, 0, loc)
	for ; h.UnixMilli() <= to; h = h.Add(time.Hour) {
		l := h.In(loc)
		fn(slot{int(l.Weekday()), l.Hour()}, h.UnixMilli(), h.Add(time.Hour).UnixMilli())
	}
}

// slotOf returns the hour of the week ms falls in, in loc.
func slotOf(ms int64, loc *time.Location) slot {
	l := time.UnixMilli(ms).In(loc)
	return slot{int(l.Weekday()), l.Hour()}
}

// integrate adds the team's capacity records over start..end (ms) of slot
// s: each record holds from its ts to the next one's.
func (c *teamCapacity) integrate(points []capPoint, s slot, start, end int64) {
	// The record in effect at start is the last one at or before it.
	i := sort.Search(len(points), func(j int) bool { return points[j].ts > start }) - 1
	for at := start; at < end; i++ {
		next := end
		if i+1 < len(points) && points[i+1].ts < end {
			next = points[i+1].ts
		}
		if i >= 0 {
			d := float64(next - at)
			c.coveredMs[s.day][s.hour] += d
			c.agentMs[s.day][s.hour] += d * points[i].agents
			c.handleMs[s.day][s.hour] += d * points[i].handleS
		}
		at = next
	}
}

// chatSections measures the acceptance, staffing and CSAT rows of what was
// added; groups are the report's groups.
func (t *Tally) chatSections(o *Report, groups []Group, csat map[groupKey]*ratingAcc) {
	opts := t.opts
	// Acceptance per site and team: each invite is in one group.
	type counts struct{ shown, accepted int }
	byTeam := map[teamKey]*counts{}
	for _, g := range groups {
		k := teamKey{g.Site, g.Team}
		c := byTeam[k]
		if c == nil {
			c = &counts{}
			byTeam[k] = c
		}
		c.shown += g.Shown
		c.accepted += g.Accepted
	}
	rate := map[teamKey]float64{}
	o.Acceptance = []AcceptanceRow{}
	for k, c := range byTeam {
		if c.shown == 0 {
			continue
		}
		e := Proportion(c.accepted, c.shown)
		b := opts.Band(k.site)
		v := VerdictInside
		switch pct := 100 * e.Value; {
		case pct < b.MinPercent:
			v = VerdictBelow
		case pct > b.MaxPercent:
			v = VerdictAbove
		}
		rate[k] = e.Value
		o.Acceptance = append(o.Acceptance, AcceptanceRow{Site: k.site, Team: k.team, Shown: c.shown, Accepted: c.accepted,
			Rate: e.Value, Lo: e.Lo, Hi: e.Hi, BandMin: b.MinPercent, BandMax: b.MaxPercent, Verdict: v})
	}
	slices.SortFunc(o.Acceptance, func(a, b AcceptanceRow) int {
		return cmp.Or(cmp.Compare(a.Site, b.Site), cmp.Compare(a.Team, b.Team))
	})

	// CSAT per site, team and reason, for every group.
	o.CSAT = []CSATRow{}
	for _, g := range groups {
		row := CSATRow{Site: g.Site, Team: g.Team, Reason: g.Reason}
		if r := csat[groupKey{g.Site, g.Reason, g.Team}]; r != nil && r.n > 0 {
			e := Proportion(r.satisfied, r.n)
			row.Ratings = r.n
			row.Mean = Finite(float64(r.sum) / float64(r.n))
			row.SatisfiedShare, row.Lo, row.Hi = Finite(e.Value), Finite(e.Lo), Finite(e.Hi)
		}
		o.CSAT = append(o.CSAT, row)
	}
	slices.SortFunc(o.CSAT, func(a, b CSATRow) int {
		return cmp.Or(cmp.Compare(a.Site, b.Site), cmp.Compare(a.Team, b.Team), cmp.Compare(a.Reason, b.Reason))
	})

	o.StaffingBasis = StaffingBasis{TimeZone: opts.Location.String(), AnswerWithinS: opts.AnswerWithin.Seconds(),
		ServiceLevel: opts.ServiceLevel, Tallies: t.talliesFrom, CapacityRecords: t.capRecords}
	o.Staffing = t.staffing(rate, &o.StaffingBasis)
}

// ratingAcc accumulates a group's ratings.
type ratingAcc struct{ n, sum, satisfied int }

// staffing measures the staffing rows; rate is each site and team's
// acceptance rate, for the held-back would-be invites.
func (t *Tally) staffing(rate map[teamKey]float64, basis *StaffingBasis) []StaffingRow {
	loc := t.opts.Location
	from, to := t.from, t.to
	type bucket struct {
		teamKey
		slot
	}
	acc := map[bucket]*staffingAcc{}
	at := func(k teamKey, s slot) *staffingAcc {
		b := bucket{k, s}
		a := acc[b]
		if a == nil {
			a = &staffingAcc{}
			acc[b] = a
		}
		return a
	}
	// Handling times over the whole window, per team: the fallback of an
	// hour without its own.
	type handle struct {
		sum float64
		n   int
	}
	teamHandle := map[teamKey]*handle{}
	for id, inv := range t.invites {
		s := t.feedback[id]
		if inv.holdout || s == nil {
			continue
		}
		k := teamKey{inv.group.site, inv.group.team}
		if ts := s.shownTS(); ts != 0 {
			at(k, slotOf(ts, loc)).shown++
		}
		ts := s.acceptedTS()
		if ts == 0 {
			continue
		}
		a := at(k, slotOf(ts, loc))
		a.accepted++
		if s.endedAt != 0 {
			a.handleSum += s.handleS
			a.handleN++
			h := teamHandle[k]
			if h == nil {
				h = &handle{}
				teamHandle[k] = h
			}
			h.sum += s.handleS
			h.n++
		}
	}
	if t.talliesFrom != "" {
		firstHour := from - ((from%schemas.HourMs)+schemas.HourMs)%schemas.HourMs
		for k, n := range t.hours {
			if k.hourStart < firstHour || k.hourStart > to {
				continue
			}
			basis.TallyRecords++
			if n > 0 {
				// The middle of the hour of UTC: in a zone whose offset is
				// not whole hours, the local hour that holds most of it.
				at(teamKey{k.site, k.team}, slotOf(k.hourStart+schemas.HourMs/2, loc)).noCapacity += n
			}
		}
	}

	// How often each hour of the week occurs in the window, and the teams'
	// capacity over those hours.
	var weeks [7][24]int
	caps := map[teamKey]*teamCapacity{}
	for k, points := range t.capacity {
		slices.SortStableFunc(points, func(a, b capPoint) int { return cmp.Compare(a.ts, b.ts) })
		caps[k] = &teamCapacity{}
	}
	hoursOf(from, to, loc, func(s slot, start, end int64) {
		weeks[s.day][s.hour]++
		for k, c := range caps {
			c.integrate(t.capacity[k], s, max(start, from), min(end, to))
		}
	})

	rows := []StaffingRow{}
	within, level := t.opts.AnswerWithin, t.opts.ServiceLevel
	for b, a := range acc {
		row := StaffingRow{Site: b.site, Team: b.team, Weekday: weekdayNames[b.day], Hour: b.hour, Shown: a.shown, Accepted: a.accepted}
		// Records outside the window (a client's clock) still had an hour.
		occurrences := float64(max(weeks[b.day][b.hour], 1))
		c := caps[b.teamKey]
		handleS := math.NaN()
		switch {
		case a.handleN > 0:
			handleS = a.handleSum / float64(a.handleN)
		case c != nil && c.coveredMs[b.day][b.hour] > 0:
			handleS = c.handleMs[b.day][b.hour] / c.coveredMs[b.day][b.hour]
		case teamHandle[b.teamKey] != nil:
			h := teamHandle[b.teamKey]
			handleS = h.sum / float64(h.n)
		case c != nil:
			handleS = c.meanHandle()
		}
		row.AvgHandleS = Finite(handleS)
		needed := func(chats float64) *int {
			if chats == 0 {
				return ptr(0)
			}
			if !IsFinite(handleS) {
				return nil
			}
			aht := time.Duration(handleS * float64(time.Second))
			if agents := AgentsNeeded(chats/occurrences, aht, within, level); agents != AgentsUnknown {
				return &agents
			}
			return nil
		}
		row.AgentsNeeded = needed(float64(a.accepted))
		if c != nil && c.coveredMs[b.day][b.hour] > 0 {
			row.AgentsAvailable = Finite(c.agentMs[b.day][b.hour] / c.coveredMs[b.day][b.hour])
		}
		if t.talliesFrom != "" {
			row.SuppressedNoCapacity = ptr(a.noCapacity)
			r, known := rate[b.teamKey]
			switch {
			case a.noCapacity == 0:
				row.AgentsNeededAll = row.AgentsNeeded
			case known:
				row.AgentsNeededAll = needed(float64(a.accepted) + float64(a.noCapacity)*r)
			}
		}
		rows = append(rows, row)
	}
	slices.SortFunc(rows, func(a, b StaffingRow) int {
		return cmp.Or(cmp.Compare(a.Site, b.Site), cmp.Compare(a.Team, b.Team),
			cmp.Compare(weekOrder(weekdayIndex(a.Weekday)), weekOrder(weekdayIndex(b.Weekday))), cmp.Compare(a.Hour, b.Hour))
	})
	return rows
}

// meanHandle is the handling time over every hour covered.
func (c *teamCapacity) meanHandle() float64 {
	var covered, handle float64
	for d := range 7 {
		for h := range 24 {
			covered += c.coveredMs[d][h]
			handle += c.handleMs[d][h]
		}
	}
	if covered == 0 {
		return math.NaN()
	}
	return handle / covered
}

func weekdayIndex(name string) int { return slices.Index(weekdayNames[:], name) }

func ptr[T any](v T) *T { return &v }
