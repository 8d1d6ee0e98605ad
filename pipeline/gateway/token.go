package gateway

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/lingerhq/linger/schemas"
)

// A token is "<session>.<site>.<expiry, Unix seconds>.<MAC>", the site
// base64url-encoded and the MAC an HMAC-SHA256 of the first three parts
// under the gateway's secret: any replica with the secret verifies it,
// none has to remember it, and it names the one session whose events it
// may send and whose invites it may read, and the one site those events
// and that session's feedback may name.
type tokens struct {
	key []byte
	ttl time.Duration
}

// claims are what a verified token says.
type claims struct {
	session string
	site    string
	exp     time.Time
}

// Token errors, each a 401.
var (
	// errNoToken: no Authorization: Bearer header and no ?token=.
	errNoToken = errors.New("no token: create a session with POST /v1/sessions and send its token as Authorization: Bearer")
	// errBadToken: the token is malformed or its MAC does not verify
	// (tokens of an earlier release, which named no site, included).
	errBadToken = errors.New("invalid token")
	// errExpiredToken: the token verifies but its expiry has passed.
	errExpiredToken = errors.New("token expired: create a new session")
)

// tokenDomain separates these MACs from any other use of the secret; v2
// tokens carry the site.
const tokenDomain = "linger-session-v2\x00"

// sessionPrefix marks session ids the gateway made (the simulator's start
// with "s-").
const sessionPrefix = "w-"

// newSessionID returns a random session id: 96 bits, URL-safe.
func newSessionID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return sessionPrefix + base64.RawURLEncoding.EncodeToString(b[:])
}

func (t *tokens) mac(session, site, exp string) []byte {
	h := hmac.New(sha256.New, t.key)
	h.Write([]byte(tokenDomain))
	h.Write([]byte(session))
	h.Write([]byte{0})
	h.Write([]byte(site))
	h.Write([]byte{0})
	h.Write([]byte(exp))
	return h.Sum(nil)
}

// issue returns a token for session on site valid until now+ttl, and that
// time.
func (t *tokens) issue(session, site string, now time.Time) (string, time.Time) {
	exp := now.Add(t.ttl).Truncate(time.Second)
	e := strconv.FormatInt(exp.Unix(), 10)
	s := base64.RawURLEncoding.EncodeToString([]byte(site))
	return session + "." + s + "." + e + "." + base64.RawURLEncoding.EncodeToString(t.mac(session, s, e)), exp
}

// verify returns what a token says.
func (t *tokens) verify(tok string, now time.Time) (claims, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 4 || !validSessionID(parts[0]) || len(parts[1]) > maxSiteB64 {
		return claims{}, errBadToken
	}
	session, s, e, sig := parts[0], parts[1], parts[2], parts[3]
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, t.mac(session, s, e)) {
		return claims{}, errBadToken
	}
	site, err1 := base64.RawURLEncoding.DecodeString(s)
	exp, err2 := strconv.ParseInt(e, 10, 64)
	if err1 != nil || err2 != nil {
		return claims{}, errBadToken
	}
	if now.Unix() >= exp {
		return claims{}, errExpiredToken
	}
	return claims{session: session, site: string(site), exp: time.Unix(exp, 0)}, nil
}

// maxSiteB64 bounds a token's site part: a site of schemas.MaxIDBytes,
// base64url-encoded.
var maxSiteB64 = base64.RawURLEncoding.EncodedLen(schemas.MaxIDBytes)

// validSessionID reports whether s is a session id this gateway could have
// made: short, URL-safe, so it is safe in a header, an SSE id and a log.
func validSessionID(s string) bool {
	if len(s) < 3 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// tokenOf returns the request's token: the Authorization header's, of
// scheme Bearer in any case (RFC 9110 makes schemes case-insensitive),
// else, where allowed, the token query parameter (EventSource and
// sendBeacon cannot set headers).
func tokenOf(r *http.Request, query bool) string {
	if a := r.Header.Get("Authorization"); a != "" {
		return bearer(a)
	}
	if query {
		return r.URL.Query().Get("token")
	}
	return ""
}

// bearer returns the credentials of an Authorization header value of
// scheme Bearer, or "".
func bearer(h string) string {
	scheme, cred, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(cred)
}

// session returns the verified claims of r's token, or writes a 401 and
// returns false.
func (g *Gateway) session(w http.ResponseWriter, r *http.Request, query bool) (claims, bool) {
	tok := tokenOf(r, query)
	if tok == "" {
		writeError(w, http.StatusUnauthorized, errNoToken.Error())
		return claims{}, false
	}
	c, err := g.tokens.verify(tok, g.now())
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		writeError(w, http.StatusUnauthorized, err.Error())
		return claims{}, false
	}
	return c, true
}
