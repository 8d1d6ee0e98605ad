package scoring

import (
	"strings"
	"testing"

	"github.com/lingerhq/linger/schemas"
)

func TestGlobMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"/account/cancel*", "/account/cancel", true},
		{"/account/cancel*", "/account/cancel/confirm?step=2", true},
		{"/account/cancel*", "/account/cancellation", true},
		{"/account/cancel*", "/account/settings", false},
		{"/account/cancel*", "/en/account/cancel", false},
		{"*/cancel*", "/en/account/cancel", true},
		{"/account/*/downgrade", "/account/team/downgrade", true},
		{"/account/*/downgrade", "/account/team/downgrade/now", false},
		{"/p/?", "/p/1", true},
		{"/p/?", "/p/12", false},
		{"*", "", true},
		{"", "", true},
		{"", "/", false},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false},
		{"**x", "yyx", true},
		{"*a*a*a*a*b", strings.Repeat("a", 200), false}, // backtracking stays linear per star
	} {
		if got := globMatch([]byte(tc.pattern), []byte(tc.s)); got != tc.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}

// cancelFlow is a subscriber weighing plans against cancelling who ends on
// the page kind and url given and reaches for the tab bar: an abandonment
// score of about 0.8 there (the retention_cancel timeline).
func cancelFlow(session, site string, kind schemas.PageKind, url string) []schemas.Event {
	s, w := []byte(session), []byte(site)
	pv := func(ts int64, k schemas.PageKind, u string) schemas.Event {
		return schemas.Event{Type: schemas.TypePageView, Session: s, Site: w, TS: timelineBase + ts, Page: schemas.Page{URL: []byte(u), Kind: k}}
	}
	return []schemas.Event{
		pv(0, schemas.KindAccount, "/account"),
		pv(5000, schemas.KindPricing, "/pricing"),
		pv(12000, schemas.KindAccount, "/account/plan"),
		pv(18000, schemas.KindPricing, "/pricing"),
		pv(25000, schemas.KindAccount, "/account/cancel"),
		pv(30000, schemas.KindPricing, "/pricing"),
		pv(40000, kind, url),
		{Type: schemas.TypeIdle, Session: s, Site: w, TS: timelineBase + 160000, MS: 120000, Page: schemas.Page{URL: []byte(url), Kind: kind}},
		{Type: schemas.TypeExitIntent, Session: s, Site: w, TS: timelineBase + 165000},
	}
}

const retentionRoute = `routes: [{reason: abandonment, kinds: [account], url: "/account/cancel*", team: retention, eligible: true}]`

func TestRouting(t *testing.T) {
	account, pricing, checkout := schemas.KindAccount, schemas.KindPricing, schemas.KindCheckout
	for _, tc := range []struct {
		name  string
		yaml  string
		site  string
		kind  schemas.PageKind
		url   string
		want  Outcome
		team  string
		model int
	}{
		{name: "account pages are not eligible by default", kind: account, url: "/account/cancel/confirm", want: SuppressedPage},
		{name: "a route makes cancel pages eligible, for retention", yaml: retentionRoute, kind: account, url: "/account/cancel/confirm", want: OutcomeInvite, team: "retention"},
		{name: "other account pages stay ineligible", yaml: retentionRoute, kind: account, url: "/account/settings", want: SuppressedPage},
		{name: "without eligible: true the kind decides", yaml: `routes: [{kinds: [account], url: "/account/cancel*", team: retention}]`,
			kind: account, url: "/account/cancel/confirm", want: SuppressedPage},
		{name: "a route of the other reason does not apply", yaml: `routes: [{reason: confusion, kinds: [account], team: retention, eligible: true}]`,
			kind: account, url: "/account/cancel/confirm", want: SuppressedPage},
		{name: "eligible pages keep going to sales", yaml: retentionRoute, kind: pricing, url: "/pricing", want: OutcomeInvite, team: "sales"},
		{name: "a route on an eligible kind changes only the team", yaml: `routes: [{kinds: [pricing], team: pricing-desk}]`,
			kind: pricing, url: "/pricing", want: OutcomeInvite, team: "pricing-desk"},
		{name: "teams are the fallback", yaml: "teams: {abandonment: eu-sales}\n" + retentionRoute, kind: checkout, url: "/checkout", want: OutcomeInvite, team: "eu-sales"},
		{name: "the first rule that matches wins", yaml: `routes: [{url: "/pricing*", team: first}, {kinds: [pricing], team: second}]`,
			kind: pricing, url: "/pricing", want: OutcomeInvite, team: "first"},
		{name: "a rule for any reason and kind", yaml: `routes: [{url: "/pricing", team: all}]`,
			kind: pricing, url: "/pricing", want: OutcomeInvite, team: "all"},
		{name: "per site: the site's routes", yaml: "sites: {saas: {" + retentionRoute + "}}", site: "saas",
			kind: account, url: "/account/cancel/confirm", want: OutcomeInvite, team: "retention"},
		{name: "per site: other sites keep theirs", yaml: "sites: {saas: {" + retentionRoute + "}}", site: "shop",
			kind: account, url: "/account/cancel/confirm", want: SuppressedPage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, tc.yaml)
			got, d := r.apply(cancelFlow("s-route", tc.site, tc.kind, tc.url))
			if got != tc.want {
				t.Fatalf("outcome %s, want %s", got, tc.want)
			}
			if d != nil && (string(d.Team) != tc.team || d.Reason != schemas.ReasonAbandonment) {
				t.Fatalf("decision for %s %s, want abandonment for %s", d.Reason, d.Team, tc.team)
			}
			if d != nil && string(r.e.Team()) != tc.team {
				t.Fatalf("Engine.Team() = %q, want %q", r.e.Team(), tc.team)
			}
		})
	}
}

// TestWithdrawNamesTheInvitesTeam: a withdraw goes to the team of the
// invite it takes back, even when the visitor has left the routed page.
func TestWithdrawNamesTheInvitesTeam(t *testing.T) {
	r := newRig(t, retentionRoute)
	evs := cancelFlow("s-wd", "saas", schemas.KindAccount, "/account/cancel/confirm")
	evs = append(evs,
		schemas.Event{Type: schemas.TypePageView, Session: []byte("s-wd"), TS: timelineBase + 170000, Page: schemas.Page{URL: []byte("/"), Kind: schemas.KindHome}},
		schemas.Event{Type: schemas.TypeChat, Session: []byte("s-wd"), TS: timelineBase + 175000, ChatAction: schemas.ChatOpen})
	var st State
	var teams []string
	for i := range evs {
		if r.e.Apply(&st, &evs[i], &r.d) {
			teams = append(teams, r.d.Action.String()+" "+string(r.d.Team))
		}
	}
	if got := strings.Join(teams, ", "); got != "invite retention, withdraw retention" {
		t.Fatalf("decisions %q", got)
	}
}

func TestPolicyEligibleByRoute(t *testing.T) {
	cfg, err := ParseConfig([]byte(retentionRoute))
	if err != nil {
		t.Fatal(err)
	}
	set := cfg.For(nil)
	s := State{Start: 1000, Kind: uint8(schemas.KindAccount), URL: []byte("/account/cancel")}
	if got := Policy(&s, 60_000, set); got != OutcomeInvite {
		t.Fatalf("Policy on a routed cancel page = %s, want invite", got)
	}
	s.URL = []byte("/account/profile")
	if got := Policy(&s, 60_000, set); got != SuppressedPage {
		t.Fatalf("Policy on another account page = %s, want page", got)
	}
}
