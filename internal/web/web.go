// Package web is the mirror's homepage: what the mirror is, how to point
// each container client at it (with this mirror's own host name in every
// snippet), a resolver box, and live status. Everything is embedded in the
// binary and rendered on the server with html/template, so the page works
// offline and without JavaScript; the script adds copy buttons, the theme
// toggle, the resolver and status polling.
//
// The handler answers "/", "/static/…" and "/api/status". The resolver
// calls GET /api/resolve, which the caller serves on the same mux.
package web

import (
	"context"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// statusTimeout bounds the StatusFunc call made while rendering the page.
const statusTimeout = 2 * time.Second

// Upstream is one mirrored registry as the page shows it.
type Upstream struct {
	Name     string   // "docker.io"
	Aliases  []string // other names it answers to ("index.docker.io")
	Endpoint string   // "https://registry-1.docker.io"
	// Implicit: searched, in list order, for names without a registry.
	Implicit bool
	// Example is a repository:tag on this upstream for the explicit pull
	// example; a well-known one is chosen when empty.
	Example string
}

// Options configures the homepage.
type Options struct {
	// PublicURL is the mirror's address as clients write it
	// ("https://mirror.example.org"); when empty, snippets use the request's
	// Host and scheme.
	PublicURL string
	Upstreams []Upstream
	// Status supplies the live numbers; nil hides the status section and
	// makes /api/status answer 404.
	Status StatusFunc
	// Version is shown in the footer.
	Version string
	Logger  *slog.Logger
}

// Handler serves the homepage, its static assets and /api/status.
type Handler struct {
	opts   Options
	public *url.URL // parsed PublicURL, nil when unset or invalid
	tmpl   *template.Template
	assets *assets
	log    *slog.Logger
}

// New returns the homepage handler.
func New(opts Options) *Handler {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	h := &Handler{opts: opts, log: opts.Logger, assets: loadAssets()}
	if u, err := url.Parse(opts.PublicURL); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
		h.public = u
	}
	h.tmpl = template.Must(template.New("index.html").Funcs(template.FuncMap{
		"asset": h.assets.url,
	}).ParseFS(files, "assets/index.html"))
	return h
}

// ServeHTTP answers "/", "/static/…" and "/api/status"; anything else is 404.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	switch p := r.URL.Path; {
	case p == "/":
		h.home(w, r)
	case strings.HasPrefix(p, "/static/"):
		h.assets.serve(w, r, strings.TrimPrefix(p, "/static/"))
	case p == "/api/status":
		h.status(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (h *Handler) home(w http.ResponseWriter, r *http.Request) {
	lang := h.language(w, r)
	scheme, host := h.origin(r)
	var st *Status
	if h.opts.Status != nil {
		ctx, cancel := context.WithTimeout(r.Context(), statusTimeout)
		s := h.opts.Status(ctx)
		cancel()
		st = &s
	}
	p := newPage(lang, scheme, host, h.opts, st, strings.TrimSpace(r.URL.Query().Get("q")))
	hdr := w.Header()
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	hdr.Set("Content-Language", string(lang))
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("Vary", "Accept-Language, Cookie")
	setSecurityHeaders(hdr)
	if err := h.tmpl.Execute(w, p); err != nil {
		h.log.Warn("homepage: rendering failed", "err", err)
	}
}

// setSecurityHeaders: scripts and styles only from this origin, no
// framing, no referrer leaking the mirror's address.
func setSecurityHeaders(hdr http.Header) {
	hdr.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("X-Frame-Options", "DENY")
}

// origin is the scheme and host clients use for this mirror: publicURL's,
// else the request's.
func (h *Handler) origin(r *http.Request) (scheme, host string) {
	if h.public != nil {
		return h.public.Scheme, h.public.Host
	}
	scheme = "http"
	if r.TLS != nil {
		scheme = "https"
	}
	host = r.Host
	if !validHost(host) {
		host = "mirror.example.org"
	}
	return scheme, host
}

// validHost accepts host[:port] characters only, so a forged Host header
// cannot put arbitrary text into the snippets.
func validHost(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.', c == '-', c == ':', c == '[', c == ']', c == '_':
		default:
			return false
		}
	}
	return true
}
