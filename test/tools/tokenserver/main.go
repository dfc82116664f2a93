// Command tokenserver is a Docker-Hub-style bearer token service for the
// end-to-end tests: it puts CNCF distribution (`auth: token`) behind the
// same challenge/token dance as registry-1.docker.io.
//
//	tokenserver -listen 127.0.0.1:5610 -cert token.crt -issuer e2e \
//	    [-users alice:secret,bob:pw] [-anonymous=false] [-deny private/] \
//	    [-registry http://127.0.0.1:5611]
//
// At start it makes a P-256 key and a self-signed certificate and writes the
// certificate to -cert; give that file to the registry as
// auth.token.rootcertbundle, with issuer equal to -issuer and realm
// http://LISTEN/token. GET /token?service=S&scope=repository:NAME:pull
// answers {"token","access_token","expires_in","issued_at"} with an ES256
// JWT (x5c header; claims iss, sub, aud=S, exp, nbf, iat, jti, access).
//
// Anonymous callers get pull-only access (unless -anonymous=false), and an
// empty access list for repositories under a -deny prefix, which makes the
// registry answer 401 as Docker Hub does for private or missing names.
// Basic credentials from -users get every action they ask for.
//
// With -registry URL every path other than /token is reverse-proxied to
// that registry, so the realm and the registry share one host:port. Client
// libraries refuse a loopback realm on another origin (go-containerregistry
// >= 0.22 unless host:port match, oras-go 2.7 unless the hostnames match),
// so this same-origin layout is the one every client accepts.
//
// GET /issued returns how many tokens were issued. Loopback only; stdlib only.
package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"time"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "tokenserver:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("tokenserver", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:5400", "loopback host:port to listen on")
	certPath := fs.String("cert", "tokenserver.crt", "write the signing certificate (PEM) here")
	issuer := fs.String("issuer", "test-issuer", "iss claim; must equal the registry's auth.token.issuer")
	ttl := fs.Duration("ttl", 5*time.Minute, "token lifetime")
	anonymous := fs.Bool("anonymous", true, "give anonymous callers pull-only tokens")
	users := fs.String("users", "", "comma-separated user:password pairs")
	deny := fs.String("deny", "", "comma-separated repository prefixes anonymous callers may not pull")
	registry := fs.String("registry", "", "reverse-proxy every other path to this registry URL (same-origin realm)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := requireLoopback(*listen); err != nil {
		return err
	}
	s, err := newSigner()
	if err != nil {
		return err
	}
	if err := s.writeCert(*certPath); err != nil {
		return err
	}
	logger := log.New(os.Stderr, "tokenserver: ", log.LstdFlags)
	th := &tokenHandler{
		signer: s,
		issuer: *issuer,
		ttl:    *ttl,
		policy: policy{anonymous: *anonymous, users: parseUsers(*users), deny: splitList(*deny)},
		logger: logger,
		now:    time.Now,
	}
	mux := http.NewServeMux()
	mux.Handle("/token", th)
	mux.HandleFunc("/issued", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, th.issued.Load())
	})
	if *registry != "" {
		u, err := url.Parse(*registry)
		if err != nil {
			return fmt.Errorf("-registry: %w", err)
		}
		rp := httputil.NewSingleHostReverseProxy(u)
		rp.FlushInterval = -1 // stream blobs as they come
		mux.Handle("/", rp)
	}
	logger.Printf("listening on %s, cert %s, issuer %q, registry %q", *listen, *certPath, *issuer, *registry)
	srv := &http.Server{Addr: *listen, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return srv.ListenAndServe()
}

// requireLoopback refuses any listen address that is not a loopback IP:
// the tests must never expose a registry beyond the machine.
func requireLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return errors.New("refusing to listen on non-loopback address " + addr)
	}
	return nil
}

func parseUsers(s string) map[string]string {
	m := map[string]string{}
	for _, pair := range splitList(s) {
		if u, p, ok := strings.Cut(pair, ":"); ok {
			m[u] = p
		}
	}
	return m
}

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
