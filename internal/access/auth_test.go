package access

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/regmirror/regmirror/internal/config"
)

// writeHtpasswd writes a bcrypt htpasswd file for user:pass pairs.
func writeHtpasswd(t *testing.T, path string, pairs ...string) {
	t.Helper()
	var b strings.Builder
	b.WriteString("# users of the mirror\n\n")
	for i := 0; i+1 < len(pairs); i += 2 {
		h, err := bcrypt.GenerateFromPassword([]byte(pairs[i+1]), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(pairs[i] + ":" + string(h) + "\n")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

func request(h http.Handler, setup func(*http.Request)) *httptest.ResponseRecorder {
	r := httptest.NewRequest("GET", "http://mirror.example/v2/", nil)
	if setup != nil {
		setup(r)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestAuthenticator(t *testing.T) {
	path := filepath.Join(t.TempDir(), "htpasswd")
	writeHtpasswd(t, path, "alice", "wonderland", "bob", "builder")
	a, err := NewAuthenticator(config.Auth{Htpasswd: path, Tokens: []string{"tok-123"}, Realm: "corp mirror"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := a.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("{}")) }))
	basic := func(u, p string) func(*http.Request) { return func(r *http.Request) { r.SetBasicAuth(u, p) } }
	header := func(v string) func(*http.Request) { return func(r *http.Request) { r.Header.Set("Authorization", v) } }
	tests := []struct {
		name  string
		setup func(*http.Request)
		want  int
	}{
		{"no credentials", nil, 401},
		{"htpasswd user", basic("alice", "wonderland"), 200},
		{"second user", basic("bob", "builder"), 200},
		{"again (cached)", basic("alice", "wonderland"), 200},
		{"wrong password", basic("alice", "wonderland!"), 401},
		{"unknown user", basic("mallory", "wonderland"), 401},
		{"bearer token", header("Bearer tok-123"), 200},
		{"bearer scheme any case", header("bearer tok-123"), 200},
		{"wrong token", header("Bearer tok-124"), 401},
		{"token as basic password", basic("token", "tok-123"), 200},
		{"empty bearer", header("Bearer "), 401},
		{"garbage header", header("Negotiate abc"), 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := request(h, tt.setup)
			if w.Code != tt.want {
				t.Fatalf("status %d, want %d", w.Code, tt.want)
			}
			if tt.want != 401 {
				return
			}
			if got := w.Header().Get("WWW-Authenticate"); got != `Basic realm="corp mirror"` {
				t.Fatalf("challenge %q", got)
			}
			var body struct {
				Errors []struct{ Code, Message string }
			}
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Errors[0].Code != "UNAUTHORIZED" {
				t.Fatalf("body %q", w.Body.String())
			}
		})
	}
}

func TestAuthenticatorReloadsHtpasswd(t *testing.T) {
	path := filepath.Join(t.TempDir(), "htpasswd")
	writeHtpasswd(t, path, "alice", "one")
	a, err := NewAuthenticator(config.Auth{Htpasswd: path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1e9, 0)
	a.now = func() time.Time { return now }
	a.checkedAt = now
	h := a.Wrap(http.NotFoundHandler())
	if w := request(h, func(r *http.Request) { r.SetBasicAuth("alice", "one") }); w.Code != 404 {
		t.Fatalf("before the change: %d", w.Code)
	}
	writeHtpasswd(t, path, "alice", "two", "carol", "three")
	later := time.Now().Add(time.Hour)
	_ = os.Chtimes(path, later, later)
	now = now.Add(recheckEvery)
	if w := request(h, func(r *http.Request) { r.SetBasicAuth("alice", "one") }); w.Code != 401 {
		t.Fatalf("old password (remembered as verified) still works after the change: %d", w.Code)
	}
	if w := request(h, func(r *http.Request) { r.SetBasicAuth("carol", "three") }); w.Code != 404 {
		t.Fatalf("new user: %d", w.Code)
	}
	// A broken file is ignored; the last good version stays.
	os.WriteFile(path, []byte("dave:plaintext\n"), 0o600)
	_ = os.Chtimes(path, later.Add(time.Hour), later.Add(time.Hour))
	now = now.Add(recheckEvery)
	if w := request(h, func(r *http.Request) { r.SetBasicAuth("alice", "two") }); w.Code != 404 {
		t.Fatalf("after a broken update: %d", w.Code)
	}
}

func TestNewAuthenticator(t *testing.T) {
	if a, err := NewAuthenticator(config.Auth{}, nil); a != nil || err != nil {
		t.Fatalf("no auth configured: %v, %v", a, err)
	}
	var a *Authenticator
	if w := request(a.Wrap(http.NotFoundHandler()), nil); w.Code != 404 {
		t.Fatal("nil Authenticator refused")
	}
	dir := t.TempDir()
	for name, content := range map[string]string{
		"md5":      "u:$apr1$abc$def\n",
		"sha1":     "u:{SHA}abc=\n",
		"noColon":  "justauser\n",
		"dupUsers": "u:$2y$05$abcdefghijklmnopqrstuu5s5cZpB8ZbUgmvZ3s3vF4qT6Kj6f6a\nu:$2y$05$abcdefghijklmnopqrstuu5s5cZpB8ZbUgmvZ3s3vF4qT6Kj6f6a\n",
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(content), 0o600)
		if _, err := NewAuthenticator(config.Auth{Htpasswd: p}, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := NewAuthenticator(config.Auth{Htpasswd: filepath.Join(dir, "missing")}, nil); err == nil {
		t.Error("missing file accepted")
	}
}
