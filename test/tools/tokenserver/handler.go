package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// access is one entry of the token's "access" claim, the shape distribution
// compares with the scope a request needs.
type access struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

// claims is the JWT payload distribution's token verifier reads.
type claims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`
	Audience  string   `json:"aud"`
	Expiry    int64    `json:"exp"`
	NotBefore int64    `json:"nbf"`
	IssuedAt  int64    `json:"iat"`
	ID        string   `json:"jti"`
	Access    []access `json:"access"`
}

// policy decides who gets which actions.
type policy struct {
	anonymous bool              // anonymous callers get pull-only tokens
	users     map[string]string // user -> password; a valid user gets every action asked for
	deny      []string          // repository prefixes anonymous callers get nothing for
}

// grant filters the requested scopes for subject ("" = anonymous).
func (p policy) grant(subject string, scopes []access) []access {
	granted := []access{}
	for _, a := range scopes {
		if subject == "" {
			if p.denied(a.Name) {
				continue
			}
			a.Actions = onlyPull(a.Actions)
		}
		granted = append(granted, a)
	}
	return granted
}

func (p policy) denied(name string) bool {
	for _, prefix := range p.deny {
		if strings.HasPrefix(name, prefix) {
			return true
		}
	}
	return false
}

func onlyPull(actions []string) []string {
	out := []string{}
	for _, a := range actions {
		if a == "pull" {
			out = append(out, a)
		}
	}
	return out
}

// parseScopes reads every ?scope= value. A value may hold several
// space-separated scopes, each "type:name:action[,action]"; the name may
// itself contain a colon (a registry host:port), so the type ends at the
// first colon and the actions start after the last one.
func parseScopes(values []string) []access {
	var out []access
	for _, v := range values {
		for _, s := range strings.Fields(v) {
			first, last := strings.Index(s, ":"), strings.LastIndex(s, ":")
			if first < 0 || last <= first {
				continue
			}
			out = append(out, access{Type: s[:first], Name: s[first+1 : last], Actions: strings.Split(s[last+1:], ",")})
		}
	}
	return out
}

// tokenHandler serves GET /token the way Docker Hub's auth service does.
type tokenHandler struct {
	signer *signer
	issuer string
	ttl    time.Duration
	policy policy
	logger *log.Logger
	now    func() time.Time
	issued atomic.Int64
}

func (h *tokenHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	subject, ok := h.authenticate(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Basic realm="tokenserver"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"details": "authentication required"})
		return
	}
	q := r.URL.Query()
	granted := h.policy.grant(subject, parseScopes(q["scope"]))
	now := h.now()
	id := make([]byte, 8)
	_, _ = rand.Read(id)
	tok, err := h.signer.sign(claims{
		Issuer:    h.issuer,
		Subject:   subject,
		Audience:  q.Get("service"),
		Expiry:    now.Add(h.ttl).Unix(),
		NotBefore: now.Add(-30 * time.Second).Unix(),
		IssuedAt:  now.Unix(),
		ID:        hex.EncodeToString(id),
		Access:    granted,
	})
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"details": err.Error()})
		return
	}
	n := h.issued.Add(1)
	h.logger.Printf("token #%d service=%q sub=%q scope=%q granted=%+v", n, q.Get("service"), subject, q["scope"], granted)
	// Some clients read "token", others "access_token"; send both.
	writeJSON(w, http.StatusOK, map[string]any{
		"token":        tok,
		"access_token": tok,
		"expires_in":   int(h.ttl.Seconds()),
		"issued_at":    now.UTC().Format(time.RFC3339),
	})
}

// authenticate returns the subject ("" for anonymous) and whether the
// caller may have a token at all.
func (h *tokenHandler) authenticate(r *http.Request) (string, bool) {
	user, pass, hasBasic := r.BasicAuth()
	if !hasBasic {
		return "", h.policy.anonymous
	}
	want, known := h.policy.users[user]
	if !known || want != pass {
		h.logger.Printf("bad credentials for %q", user)
		return "", false
	}
	return user, true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
