// Package upstream is regmirror's client for the registries it mirrors: the
// pull side of the distribution API (manifests, blobs, tags, referrers), with
// token auth, a shared token cache, safe redirects and per-upstream timeouts
// and concurrency limits. One *Client serves one configured upstream.
//
// # Why oras-go's auth package
//
// Authentication is delegated to oras.land/oras-go/v2/registry/remote/auth,
// and only that package: its surface is one http.Client-shaped type
// (auth.Client.Do) plus a Cache interface, so the rest of this package is
// plain net/http. It gives the mirror, tested upstream:
//   - a Cache shared by all requests of a Client, whose Set coalesces
//     concurrent token fetches for the same scope, with refresh on 401;
//   - Authorization dropped once a redirect leaves the registry's origin
//     (scheme, host and port), so blob redirects to a CDN or S3 never carry
//     the upstream's credentials;
//   - bearer realm validation (scheme, https→http downgrade, a configurable
//     address denylist, BlockedRealmPrefixes) on the realm and every redirect
//     hop of the token request;
//   - anonymous tokens, Basic, and tokens bought with credentials, behind one
//     CredentialFunc.
//
// oras's Cache never expires a token, so tokenCache wraps it: a JWT whose exp
// has passed is no longer handed out (see cache.go).
//
// # Address policy
//
// "Upstream blob redirects and token realms are followed only to public
// addresses, unless the upstream itself is on a private or loopback address."
// The endpoint host itself is always allowed. Any other host is checked when
// it is dialled (a net.Dialer Control hook sees the resolved IP actually being
// connected to, so DNS answers cannot swap in a private address after a
// check), and redirect targets that are IP literals or "localhost" are refused
// in CheckRedirect before any dial. Both errors wrap ErrRedirectRefused. Since
// that dial hook covers token realms too, oras's own realm denylist is turned
// off (an empty BlockedRealmPrefixes); its scheme and downgrade checks stay.
// A Transport passed in Options replaces the dialer, and with it the hook.
package upstream
