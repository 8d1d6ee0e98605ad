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
)

// A token is "<session>.<expiry, Unix seconds>.<MAC>", the MAC an
// HMAC-SHA256 of the first two parts under the gateway's secret: any
// replica with the secret verifies it, none has to remember it, and it
// names the one session whose events it may send and whose invites it may
// read.
type tokens struct {
	key []byte
	ttl time.Duration
}

// Token errors, each a 401.
var (
	// errNoToken: no Authorization: Bearer header and no ?token=.
	errNoToken = errors.New("no token: create a session with POST /v1/sessions and send its token as Authorization: Bearer")
	// errBadToken: the token is malformed or its MAC does not verify.
	errBadToken = errors.New("invalid token")
	// errExpiredToken: the token verifies but its expiry has passed.
	errExpiredToken = errors.New("token expired: create a new session")
)

const tokenDomain = "linger-session-v1\x00"

// sessionPrefix marks session ids the gateway made (the simulator's start
// with "s-").
const sessionPrefix = "w-"

// newSessionID returns a random session id: 96 bits, URL-safe.
func newSessionID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return sessionPrefix + base64.RawURLEncoding.EncodeToString(b[:])
}

func (t *tokens) mac(session, exp string) []byte {
	h := hmac.New(sha256.New, t.key)
	h.Write([]byte(tokenDomain))
	h.Write([]byte(session))
	h.Write([]byte{0})
	h.Write([]byte(exp))
	return h.Sum(nil)
}

// issue returns a token for session valid until now+ttl, and that time.
func (t *tokens) issue(session string, now time.Time) (string, time.Time) {
	exp := now.Add(t.ttl).Truncate(time.Second)
	e := strconv.FormatInt(exp.Unix(), 10)
	return session + "." + e + "." + base64.RawURLEncoding.EncodeToString(t.mac(session, e)), exp
}

// verify returns the session a token names.
func (t *tokens) verify(tok string, now time.Time) (string, error) {
	session, rest, ok1 := strings.Cut(tok, ".")
	e, sig, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || !validSessionID(session) {
		return "", errBadToken
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, t.mac(session, e)) {
		return "", errBadToken
	}
	exp, err := strconv.ParseInt(e, 10, 64)
	if err != nil {
		return "", errBadToken
	}
	if now.Unix() >= exp {
		return "", errExpiredToken
	}
	return session, nil
}

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

// tokenOf returns the request's token: the Authorization: Bearer header,
// else, where allowed, the token query parameter (EventSource and
// sendBeacon cannot set headers).
func tokenOf(r *http.Request, query bool) string {
	if a := r.Header.Get("Authorization"); a != "" {
		if v, ok := strings.CutPrefix(a, "Bearer "); ok {
			return strings.TrimSpace(v)
		}
		return ""
	}
	if query {
		return r.URL.Query().Get("token")
	}
	return ""
}

// session returns the verified session of r, or writes a 401 and returns
// false.
func (g *Gateway) session(w http.ResponseWriter, r *http.Request, query bool) (string, bool) {
	tok := tokenOf(r, query)
	if tok == "" {
		writeError(w, http.StatusUnauthorized, errNoToken.Error())
		return "", false
	}
	s, err := g.tokens.verify(tok, g.now())
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		writeError(w, http.StatusUnauthorized, err.Error())
		return "", false
	}
	return s, true
}
