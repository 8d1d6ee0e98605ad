package replay

import (
	"strings"

	"github.com/lingerhq/linger/pipeline/outcomes"
)

// Report is what a replay measured: the sessions by outcome, the decisions,
// and how good they were, each quality figure with its n and a 95%
// confidence interval. It is written as JSON for scripts (WriteJSON), as
// text for the terminal (WriteText) and as a self-contained HTML page with
// plots (WriteHTML).
type Report struct {
	// Input names what was replayed; Model the scoring config (its hash).
	Input string `json:"input"`
	Model string `json:"model"`
	// Warnings say what makes the figures below weak or empty: most
	// sessions censored, no session abandoned, no invite at all.
	Warnings []Warning `json:"warnings"`
	// Events read, and records refused (what run would send to the DLQ).
	Events   int `json:"events"`
	Rejected int `json:"rejected"`
	// Sessions seen, by outcome: purchase, abandoned (cart or checkout
	// reached, no purchase, session ended), browse (neither), censored
	// (the input ends before the session timeout could pass: outcome
	// unknown, left out of every quality figure).
	Sessions          int            `json:"sessions"`
	SessionsByOutcome map[string]int `json:"sessions_by_outcome"`
	// EligibleSessions counts the sessions the policy would have invited at
	// some moment, whatever their scores (eligible page, past the breathing
	// space, not bought, ...), censored ones included: what rate_band
	// measures the invite share over.
	EligibleSessions int `json:"eligible_sessions"`
	// Invites counts decisions, over all sessions.
	Invites inviteCounts `json:"invites"`
	// InviteShare is the share of eligible sessions invited, in all and
	// per reason, against the config's rate_band.
	InviteShare InviteShare `json:"invite_share"`
	// HighestScores are the highest scores any session reached at an
	// eligible moment before buying: a threshold above them invites nobody.
	HighestScores Scores `json:"highest_scores"`
	// InvitedSessions counts the sessions with a known outcome that were
	// invited: what invite_rate, precision and lead_time_s count.
	InvitedSessions int `json:"invited_sessions"`
	// Quality of the invites over sessions with a known outcome.
	Quality
	// Signals counts, per signal, the invites it was a top signal of.
	Signals []signalCount `json:"signals"`
	// Baselines are trigger rules chat products ship by default,
	// evaluated on the same sessions, at their default setting and at the
	// setting that gives linger's invite rate.
	Baselines []baseline `json:"baselines"`
	// Plots holds the data of the HTML report's plots.
	Plots plotData `json:"plots"`
	// Outcomes is what the replayed invites achieved by the feedback in
	// the input (shown, accepted, ...), and the conversion of invited and
	// holdout sessions; absent when the input holds no feedback.
	Outcomes *outcomes.Report `json:"outcomes,omitempty"`
}

// Warning is something that makes a report's figures weak or empty, said
// once for scripts (Code) and once for people (Message).
type Warning struct {
	// Code is one of mostly_censored, no_abandoned, no_invites.
	Code string `json:"code"`
	// Message says what and why, in a sentence, without the "warning: "
	// the terminal puts before it.
	Message string `json:"message"`
}

// InviteShare is the share of eligible sessions invited (holdout
// included, as rate_band counts), by either reason and by each; a session
// invited for both counts in both.
type InviteShare struct {
	All         outcomes.Estimate `json:"all"`
	Abandonment outcomes.Estimate `json:"abandonment"`
	Confusion   outcomes.Estimate `json:"confusion"`
	// Band is the config's rate_band, as shares.
	Band Band `json:"band"`
}

// Band is a target range of a share, both ends included, as shares (0.03,
// not 3).
type Band struct {
	Low  float64 `json:"low"`
	High float64 `json:"high"`
}

// Contains reports whether x is within the band.
func (b Band) Contains(x float64) bool { return x >= b.Low && x <= b.High }

// valid reports whether the band says anything: a zero Band (a report
// written before it had one) does not.
func (b Band) valid() bool { return b.High > 0 && b.Low <= b.High }

// String is the band in percent, "3–10%".
func (b Band) String() string {
	return strings.TrimSuffix(outcomes.Fixed(100*b.Low, 1), ".0") + "–" + strings.TrimSuffix(outcomes.Fixed(100*b.High, 1), ".0") + "%"
}

// Scores holds a figure per model; NaN (null in JSON) when there is none.
type Scores struct {
	Abandonment float64 `json:"abandonment"`
	Confusion   float64 `json:"confusion"`
}

// inviteCounts counts decisions of a replay.
type inviteCounts struct {
	Total       int `json:"total"`
	Abandonment int `json:"abandonment"`
	Confusion   int `json:"confusion"`
	Holdout     int `json:"holdout"`
	Withdrawn   int `json:"withdrawn"`
}

// Quality is how good a set of invites was, over sessions with a known
// outcome.
type Quality struct {
	// InviteRate is invited sessions over sessions.
	InviteRate outcomes.Estimate `json:"invite_rate"`
	// Precision is invited sessions that abandoned, over invited sessions.
	Precision outcomes.Estimate `json:"precision"`
	// Recall is abandoned sessions invited, over abandoned sessions.
	Recall outcomes.Estimate `json:"recall"`
	// AUC is the ROC AUC of the session's score (for linger, the highest
	// abandonment score it reached before it bought) separating abandoned
	// sessions from the others; 95% CI by Hanley and McNeil.
	AUC outcomes.Estimate `json:"auc"`
	// LeadTime is the seconds from an invite to the session's last event:
	// an invite after the visitor left is worthless.
	LeadTime leadTime `json:"lead_time_s"`
}

// leadTime holds lead-time percentiles, each with a distribution-free 95%
// confidence interval from order statistics.
type leadTime struct {
	P50 outcomes.Estimate `json:"p50"`
	P90 outcomes.Estimate `json:"p90"`
}

// signalCount is how often a signal was among an invite's top signals.
type signalCount struct {
	Name    string `json:"name"`
	Invites int    `json:"invites"`
}

// baseline is a trigger rule evaluated on the replayed sessions.
type baseline struct {
	Name string `json:"name"`
	// Rule says the rule in words, with the setting used.
	Rule    string `json:"rule"`
	Invites int    `json:"invites"`
	Quality
}

// plotData is the data behind the HTML report's plots.
type plotData struct {
	// ScoreHistogram counts sessions by their abandonment score, in Bins
	// equal buckets over 0..1, per outcome (purchase, abandoned, browse).
	ScoreHistogram scoreHistogram `json:"score_histogram"`
	// ROC is the ROC curve of the abandonment score, from (0,0) to (1,1).
	ROC []curvePoint `json:"roc"`
	// Thresholds is the invite share and precision if the abandonment
	// threshold were each value in turn, the confusion threshold and the
	// other rules as configured.
	Thresholds []thresholdPoint `json:"thresholds"`
	// AbandonmentThreshold is the configured threshold, marked on that
	// plot; ConfusionThreshold the one its points hold confusion at.
	AbandonmentThreshold float64 `json:"abandonment_threshold"`
	ConfusionThreshold   float64 `json:"confusion_threshold"`
	// Band is the config's rate_band, drawn on that plot.
	Band Band `json:"band"`
}

// scoreHistogram counts sessions by score bucket and outcome.
type scoreHistogram struct {
	Bins      int   `json:"bins"`
	Purchase  []int `json:"purchase"`
	Abandoned []int `json:"abandoned"`
	Browse    []int `json:"browse"`
}

// curvePoint is a point of a curve.
type curvePoint struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
}

// thresholdPoint is the invite share and precision at one abandonment
// threshold, estimated from each session's highest scores at an eligible
// moment (the policy's rules beyond the session's own, such as capacity,
// are not replayed for each point).
type thresholdPoint struct {
	Threshold float64 `json:"threshold"`
	// InviteRate is the share of eligible sessions invited by either
	// reason: abandonment at Threshold, confusion at its configured
	// threshold.
	InviteRate float64 `json:"invite_rate"`
	// ConfusionRate is the share of eligible sessions the confusion score
	// invites on its own: the part of InviteRate no abandonment threshold
	// takes away.
	ConfusionRate float64 `json:"confusion_rate"`
	// Precision is, of the invited sessions with a known outcome, the
	// share that abandoned.
	Precision float64 `json:"precision"`
}
