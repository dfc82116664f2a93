package registrytest

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// grant is what a token allows: pull from the listed repositories.
type grant struct {
	user  string // "" for anonymous
	repos []string
}

// allows reports whether the grant may pull repo ("" is the /v2/ base).
func (g grant) allows(repo string) bool {
	return repo == "" || slices.Contains(g.repos, repo)
}

// bearerHandler serves /token and lets through only requests whose token
// grants their repository.
func (u *Upstream) bearerHandler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/token" {
			u.serveToken(w, r)
			return
		}
		repo := repoOf(r.URL.Path)
		tok, hasTok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if hasTok {
			u.mu.Lock()
			g, ok := u.tokens[tok]
			u.mu.Unlock()
			if ok && g.allows(repo) {
				next.ServeHTTP(w, r)
				return
			}
		}
		chal := fmt.Sprintf(`Bearer realm="%s/token",service="%s"`, u.URL, Service)
		if repo != "" {
			chal += fmt.Sprintf(`,scope="repository:%s:pull"`, repo)
		}
		if hasTok {
			chal += `,error="insufficient_scope"`
		}
		w.Header().Set("WWW-Authenticate", chal)
		unauthorized(w, r)
	})
}

// serveToken issues a token for the pull scopes asked for, minus private
// repositories for anonymous callers.
func (u *Upstream) serveToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	g := grant{}
	if user, pass, ok := r.BasicAuth(); ok {
		if !u.checkUser(user, pass) {
			w.Header().Set("WWW-Authenticate", `Basic realm="registrytest"`)
			unauthorized(w, r)
			return
		}
		g.user = user
	}
	for _, scope := range r.URL.Query()["scope"] {
		for _, s := range strings.Fields(scope) {
			typ, rest, _ := strings.Cut(s, ":")
			i := strings.LastIndex(rest, ":")
			if typ != "repository" || i < 0 {
				continue
			}
			repo, actions := rest[:i], strings.Split(rest[i+1:], ",")
			if !slices.Contains(actions, "pull") && !slices.Contains(actions, "*") {
				continue
			}
			if g.user == "" && u.isPrivate(repo) {
				continue
			}
			g.repos = append(g.repos, repo)
		}
	}
	tok, ttl := u.newToken(), 300*time.Second
	if u.cfg.jwtTTL > 0 {
		ttl = u.cfg.jwtTTL
		tok = fakeJWT(tok, u.cfg.now().Add(ttl))
	}
	u.mu.Lock()
	u.tokens[tok] = g
	u.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"token": tok, "access_token": tok, "expires_in": int(ttl / time.Second),
		"issued_at": u.cfg.now().UTC().Format(time.RFC3339),
	})
}

// basicHandler demands Basic credentials from the users table.
func (u *Upstream) basicHandler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if user, pass, ok := r.BasicAuth(); ok && u.checkUser(user, pass) {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="registrytest"`)
		unauthorized(w, r)
	})
}

func (u *Upstream) checkUser(user, pass string) bool {
	want, ok := u.cfg.users[user]
	return ok && subtle.ConstantTimeCompare([]byte(want), []byte(pass)) == 1
}

func (u *Upstream) isPrivate(repo string) bool {
	for _, p := range u.cfg.private {
		if strings.HasPrefix(repo, p) {
			return true
		}
	}
	return false
}

// newToken returns an opaque random token.
func (u *Upstream) newToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Tokens returns how many distinct tokens were issued.
func (u *Upstream) Tokens() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.tokens)
}

// fakeJWT wraps id in an unsigned JWT with the given expiry.
func fakeJWT(id string, exp time.Time) string {
	enc := base64.RawURLEncoding
	header := enc.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	claims, _ := json.Marshal(map[string]any{"jti": id, "exp": exp.Unix(), "iss": Service})
	return header + "." + enc.EncodeToString(claims) + "." + enc.EncodeToString([]byte(id))
}

func unauthorized(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusUnauthorized)
	if r.Method != http.MethodHead {
		fmt.Fprint(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
	}
}
