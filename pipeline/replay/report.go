package replay

import "github.com/lingerhq/linger/pipeline/outcomes"

// Report is what a replay measured: the sessions by outcome, the decisions,
// and how good they were, each quality figure with its n and a 95%
// confidence interval. It is written as JSON for scripts (WriteJSON), as
// text for the terminal (WriteText) and as a self-contained HTML page with
// plots (WriteHTML).
type Report struct {
	// Input names what was replayed; Model the scoring config (its hash).
	Input string `json:"input"`
	Model string `json:"model"`
	// Events read, and records refused (what run would send to the DLQ).
	Events   int `json:"events"`
	Rejected int `json:"rejected"`
	// Sessions seen, by outcome: purchase, abandoned (cart or checkout
	// reached, no purchase, session ended), browse (neither), censored
	// (the input ends before the session timeout could pass: outcome
	// unknown, left out of every quality figure).
	Sessions          int            `json:"sessions"`
	SessionsByOutcome map[string]int `json:"sessions_by_outcome"`
	// Invites counts decisions.
	Invites inviteCounts `json:"invites"`
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
	// Thresholds is invite rate and precision if the abandonment threshold
	// were each value in turn (other rules as configured).
	Thresholds []thresholdPoint `json:"thresholds"`
	// AbandonmentThreshold is the configured threshold, marked on that plot.
	AbandonmentThreshold float64 `json:"abandonment_threshold"`
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

// thresholdPoint is the invite rate and precision at one threshold.
type thresholdPoint struct {
	Threshold  float64 `json:"threshold"`
	InviteRate float64 `json:"invite_rate"`
	Precision  float64 `json:"precision"`
}
