package access

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/regmirror/regmirror/internal/config"
	"github.com/regmirror/regmirror/internal/oci"
)

// DefaultRealm is the realm of the challenge when none is configured.
const DefaultRealm = "regmirror"

const (
	// recheckEvery is how often the htpasswd file is checked for changes.
	recheckEvery = 5 * time.Second
	// maxVerified bounds the cache of verified Basic credentials.
	maxVerified = 4096
)

// Authenticator is HTTP middleware that admits only clients presenting
// valid credentials: HTTP Basic checked against a bcrypt htpasswd file
// (what `docker login` sends), or a static bearer token
// (`Authorization: Bearer <token>`, or Basic with the token as password,
// any user name). Others get 401 UNAUTHORIZED with a Basic challenge, the
// answer `docker login` expects from GET /v2/.
//
// bcrypt is slow on purpose and clients send Basic credentials with every
// request, so each credential pair verified is remembered (as a keyed
// hash, never in clear) until the htpasswd file changes. The file is
// re-read when its size or modification time changes, checked at most
// every 5 seconds; a broken new version is logged and the old one kept.
type Authenticator struct {
	realm  string
	tokens [][32]byte // sha256 of each static token
	path   string
	log    *slog.Logger
	now    func() time.Time
	key    []byte // HMAC key for the verified cache, random per process
	dummy  []byte // bcrypt hash of a random password, for unknown users

	mu        sync.Mutex
	users     map[string][]byte // user → bcrypt hash
	stamp     fileStamp
	checkedAt time.Time
	verified  map[[32]byte]struct{}
}

// NewAuthenticator returns an Authenticator for cfg, or nil when cfg
// configures neither htpasswd nor tokens (a nil Authenticator admits
// everyone). It fails when the htpasswd file cannot be read or parsed.
func NewAuthenticator(cfg config.Auth, log *slog.Logger) (*Authenticator, error) {
	if cfg.Htpasswd == "" && len(cfg.Tokens) == 0 {
		return nil, nil
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &Authenticator{realm: cfg.Realm, path: cfg.Htpasswd, log: log, now: time.Now,
		key: make([]byte, 32), verified: map[[32]byte]struct{}{}}
	if a.realm == "" {
		a.realm = DefaultRealm
	}
	_, _ = rand.Read(a.key)
	for _, t := range cfg.Tokens {
		if t = strings.TrimSpace(t); t != "" {
			a.tokens = append(a.tokens, sha256.Sum256([]byte(t)))
		}
	}
	if a.path != "" {
		users, stamp, err := readHtpasswd(a.path)
		if err != nil {
			return nil, fmt.Errorf("auth.htpasswd: %w", err)
		}
		a.users, a.stamp, a.checkedAt = users, stamp, a.now()
		if a.dummy, err = bcrypt.GenerateFromPassword([]byte(rand.Text()), bcrypt.DefaultCost); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// Wrap admits requests with valid credentials to next; nil passes all.
func (a *Authenticator) Wrap(next http.Handler) http.Handler {
	if a == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok, presented := a.admit(r)
		if ok {
			next.ServeHTTP(w, r)
			return
		}
		msg := "authentication required: docker login " + r.Host
		if presented {
			msg = "invalid credentials"
		}
		w.Header().Set("WWW-Authenticate", `Basic realm=`+strconv.Quote(a.realm))
		oci.WriteError(w, oci.NewError(oci.CodeUnauthorized, "%s", msg))
	})
}

// admit checks r's credentials; presented says whether it had any.
func (a *Authenticator) admit(r *http.Request) (ok, presented bool) {
	h := r.Header.Get("Authorization")
	if tok, found := cutScheme(h, "Bearer"); found {
		return a.validToken(tok), true
	}
	user, pass, found := r.BasicAuth()
	if !found {
		return false, h != ""
	}
	return a.validToken(pass) || a.validUser(user, pass), true
}

// cutScheme returns the credentials of an Authorization header of the
// given scheme (compared without case, as RFC 9110 says).
func cutScheme(h, scheme string) (string, bool) {
	if len(h) <= len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) || h[len(scheme)] != ' ' {
		return "", false
	}
	return strings.TrimSpace(h[len(scheme)+1:]), true
}

// validToken compares tok with every static token in constant time.
func (a *Authenticator) validToken(tok string) bool {
	if tok == "" || len(a.tokens) == 0 {
		return false
	}
	sum := sha256.Sum256([]byte(tok))
	match := 0
	for _, t := range a.tokens {
		match |= subtle.ConstantTimeCompare(sum[:], t[:])
	}
	return match == 1
}

// validUser checks a user and password against the htpasswd file.
func (a *Authenticator) validUser(user, pass string) bool {
	if a.path == "" {
		return false
	}
	a.maybeReload()
	mac := hmac.New(sha256.New, a.key)
	mac.Write([]byte(user))
	mac.Write([]byte{0})
	mac.Write([]byte(pass))
	var id [32]byte
	copy(id[:], mac.Sum(nil))

	a.mu.Lock()
	_, known := a.verified[id]
	hash, exists := a.users[user]
	a.mu.Unlock()
	if known {
		return true
	}
	if !exists {
		// Spend the same time as for a real user, so timing does not
		// tell which user names exist.
		_ = bcrypt.CompareHashAndPassword(a.dummy, []byte(pass))
		return false
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(pass)) != nil {
		return false
	}
	a.mu.Lock()
	if len(a.verified) >= maxVerified {
		clear(a.verified)
	}
	a.verified[id] = struct{}{}
	a.mu.Unlock()
	return true
}

// maybeReload re-reads the htpasswd file when it changed.
func (a *Authenticator) maybeReload() {
	now := a.now()
	a.mu.Lock()
	if now.Sub(a.checkedAt) < recheckEvery {
		a.mu.Unlock()
		return
	}
	a.checkedAt = now
	stamp := a.stamp
	a.mu.Unlock()

	fi, err := os.Stat(a.path)
	if err != nil || (fi.ModTime().UnixNano() == stamp.mod && fi.Size() == stamp.size) {
		return
	}
	users, st, err := readHtpasswd(a.path)
	if err != nil {
		a.log.Warn("htpasswd changed but cannot be used; keeping the previous version", "err", err)
		return
	}
	a.mu.Lock()
	a.users, a.stamp = users, st
	clear(a.verified)
	a.mu.Unlock()
	a.log.Info("htpasswd reloaded", "users", len(users))
}
