package scoring

// route is a Route compiled for the hot path.
type route struct {
	reasons  uint8  // bit m: applies to model m
	kinds    uint16 // bit k: applies to schemas.PageKind k; 0: any kind
	url      []byte // glob; empty: any URL
	team     []byte
	eligible bool
}

// matches reports whether the rule applies to a decision of model m on a
// page of kind and url.
func (r *route) matches(m int, kind uint8, url []byte) bool {
	return r.reasons&(1<<m) != 0 &&
		(r.kinds == 0 || r.kinds&(1<<(kind&15)) != 0) &&
		(len(r.url) == 0 || globMatch(r.url, url))
}

// routeFor returns the index in set.Routes of the first rule that matches a
// decision of model m on the page kind and url, or -1 if none does.
func (set *Settings) routeFor(m int, kind uint8, url []byte) int {
	for i := range set.Routes {
		if set.Routes[i].matches(m, kind, url) {
			return i
		}
	}
	return -1
}

// teamOf returns the team of route index i (from routeFor, or stored in a
// state as InviteRoute-1), or model m's team of Teams if i names no rule.
func (set *Settings) teamOf(i, m int) []byte {
	if i >= 0 && i < len(set.Routes) {
		return set.Routes[i].team
	}
	return set.Team[m]
}

// eligibleFor reports whether a page of kind is eligible for an invite
// routed by rule i (from routeFor): its kind is an eligible page, or the
// rule says eligible.
func (set *Settings) eligibleFor(i int, kind uint8) bool {
	return set.Eligible[kind&15] || i >= 0 && i < len(set.Routes) && set.Routes[i].eligible
}

// eligibleAny reports whether a page is eligible for an invite of some
// reason: what Policy asks when it does not know the reason yet.
func (set *Settings) eligibleAny(kind uint8, url []byte) bool {
	if set.Eligible[kind&15] {
		return true
	}
	if !set.RouteEligible {
		return false
	}
	for m := range numModels {
		if i := set.routeFor(m, kind, url); i >= 0 && set.Routes[i].eligible {
			return true
		}
	}
	return false
}

// globMatch reports whether all of s matches pattern, where '*' matches any
// run of bytes (including none, and '/'), '?' any one byte, and any other
// byte itself. It backtracks to the last '*' only, so it runs in
// O(len(pattern) × len(s)) at worst and allocates nothing.
func globMatch(pattern, s []byte) bool {
	p, i := 0, 0
	star, mark := -1, 0 // position after the last '*', and where s was then
	for i < len(s) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			p++
			star, mark = p, i
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case star >= 0:
			mark++
			p, i = star, mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// modelIndex returns the model named name (a reason), or -1.
func modelIndex(name string) int {
	for m, n := range modelNames {
		if n == name {
			return m
		}
	}
	return -1
}
