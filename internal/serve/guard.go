package serve

import (
	"log/slog"
	"net/http"
	"strings"

	"github.com/regmirror/regmirror/internal/access"
	"github.com/regmirror/regmirror/internal/config"
	"github.com/regmirror/regmirror/internal/limit"
	"github.com/regmirror/regmirror/internal/oci"
)

// guard is the protection in front of the public handler: the write
// progress deadline (every path), client authentication (every path but
// the health checks) and per-client limits (the registry API and /api/).
// Its access rules are checked by the mirror after routing.
type guard struct {
	limiter *limit.Limiter
	auth    *access.Authenticator // nil: no authentication
	rules   *access.Rules
	stall   config.Duration
}

// newGuard builds the protections configured in cfg.
func newGuard(cfg *config.Config, log *slog.Logger) (*guard, error) {
	lo, err := limit.OptionsFrom(cfg.Limits)
	if err != nil {
		return nil, err
	}
	auth, err := access.NewAuthenticator(cfg.Auth, log)
	if err != nil {
		return nil, err
	}
	rules, err := access.NewRules(cfg.Access, cfg.Upstreams)
	if err != nil {
		return nil, err
	}
	return &guard{limiter: limit.New(lo), auth: auth, rules: rules, stall: cfg.Server.WriteStallTimeout}, nil
}

// accessCheck is the function for mirror.Options.Access: nil when no rule
// is configured.
func (g *guard) accessCheck() func(upstream, repo string) error {
	if g.rules.Empty() {
		return nil
	}
	return g.rules.Check
}

// wrap puts the protections around next.
func (g *guard) wrap(next http.Handler) http.Handler {
	authed := g.auth.Wrap(next)
	limited := g.limiter.Wrap(authed)
	route := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		switch {
		case p == "/healthz" || p == "/readyz":
			next.ServeHTTP(w, r)
		case p == "/v2" || strings.HasPrefix(p, "/v2/"):
			// Refusals (400, 401, 429) are registry answers too.
			w.Header()["Docker-Distribution-Api-Version"] = []string{"registry/2.0"}
			if !cleanPath(p) {
				// Without this, ServeMux would answer 301 to the cleaned
				// path: no name needs "..", "." or empty components.
				oci.WriteError(w, oci.NewError(oci.CodeNameInvalid, "the path has empty, \".\" or \"..\" components"))
				return
			}
			limited.ServeHTTP(w, r)
		case strings.HasPrefix(p, "/api/"):
			limited.ServeHTTP(w, r)
		default:
			authed.ServeHTTP(w, r)
		}
	})
	return limit.WriteProgress(g.stall.D())(route)
}

// cleanPath reports whether an API path (decoded) has no empty, "." or
// ".." components; a trailing slash is allowed (/v2/, uploads/).
func cleanPath(p string) bool {
	for seg := range strings.SplitSeq(strings.TrimSuffix(p[1:], "/"), "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}
