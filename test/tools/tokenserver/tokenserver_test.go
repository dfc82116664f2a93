package main

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// verify checks an ES256 JWT against the certificate in its x5c header and
// returns the decoded claims, the way distribution's token verifier does.
func verify(t *testing.T, tok string, root *x509.Certificate) claims {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	enc := base64.RawURLEncoding
	var hdr struct {
		Alg string   `json:"alg"`
		X5C []string `json:"x5c"`
	}
	h, _ := enc.DecodeString(parts[0])
	if err := json.Unmarshal(h, &hdr); err != nil || hdr.Alg != "ES256" || len(hdr.X5C) != 1 {
		t.Fatalf("header %s: %v", h, err)
	}
	der, _ := base64.StdEncoding.DecodeString(hdr.X5C[0])
	cert, err := x509.ParseCertificate(der)
	if err != nil || !cert.Equal(root) {
		t.Fatalf("x5c certificate is not the written one: %v", err)
	}
	sig, _ := enc.DecodeString(parts[2])
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	if !ecdsa.Verify(cert.PublicKey.(*ecdsa.PublicKey), sum[:], r, s) {
		t.Fatal("signature does not verify")
	}
	var c claims
	body, _ := enc.DecodeString(parts[1])
	if err := json.Unmarshal(body, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTokenEndpoint(t *testing.T) {
	s, err := newSigner()
	if err != nil {
		t.Fatal(err)
	}
	certPath := filepath.Join(t.TempDir(), "token.crt")
	if err := s.writeCert(certPath); err != nil {
		t.Fatal(err)
	}
	pemBytes, _ := os.ReadFile(certPath)
	block, _ := pem.Decode(pemBytes)
	root, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	h := &tokenHandler{
		signer: s, issuer: "iss-1", ttl: time.Minute,
		policy: policy{anonymous: true, users: map[string]string{"alice": "secret"}, deny: []string{"private/"}},
		logger: log.New(io.Discard, "", 0),
		now:    func() time.Time { return now },
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	tests := []struct {
		name       string
		user, pass string
		scope      string
		wantStatus int
		wantAccess []access
	}{
		{"anonymous pull", "", "", "repository:library/nginx:pull", 200,
			[]access{{"repository", "library/nginx", []string{"pull"}}}},
		{"anonymous push is cut to pull", "", "", "repository:library/nginx:pull,push", 200,
			[]access{{"repository", "library/nginx", []string{"pull"}}}},
		{"anonymous denied prefix", "", "", "repository:private/secret:pull", 200, []access{}},
		{"user gets push", "alice", "secret", "repository:private/secret:pull,push", 200,
			[]access{{"repository", "private/secret", []string{"pull", "push"}}}},
		{"name with port", "", "", "repository:127.0.0.1:5000/x:pull", 200,
			[]access{{"repository", "127.0.0.1:5000/x", []string{"pull"}}}},
		{"two scopes in one value", "", "", "repository:a/b:pull repository:c/d:pull", 200,
			[]access{{"repository", "a/b", []string{"pull"}}, {"repository", "c/d", []string{"pull"}}}},
		{"wrong password", "alice", "nope", "repository:a/b:pull", 401, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", srv.URL+"/token?service=svc&scope="+strings.ReplaceAll(tt.scope, " ", "+"), nil)
			if tt.user != "" {
				req.SetBasicAuth(tt.user, tt.pass)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if tt.wantStatus != 200 {
				return
			}
			var body struct {
				Token       string `json:"token"`
				AccessToken string `json:"access_token"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
			if body.Token == "" || body.Token != body.AccessToken {
				t.Fatalf("token %q access_token %q", body.Token, body.AccessToken)
			}
			c := verify(t, body.Token, root)
			if c.Issuer != "iss-1" || c.Audience != "svc" || c.Subject != tt.user {
				t.Errorf("claims iss=%q aud=%q sub=%q", c.Issuer, c.Audience, c.Subject)
			}
			if c.Expiry != now.Add(time.Minute).Unix() || c.NotBefore > now.Unix() || c.ID == "" {
				t.Errorf("claims exp=%d nbf=%d jti=%q", c.Expiry, c.NotBefore, c.ID)
			}
			if !reflect.DeepEqual(c.Access, tt.wantAccess) {
				t.Errorf("access %+v, want %+v", c.Access, tt.wantAccess)
			}
		})
	}
}

func TestNoAnonymous(t *testing.T) {
	h := &tokenHandler{policy: policy{anonymous: false}, logger: log.New(io.Discard, "", 0)}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/token?scope=repository:a:pull", nil))
	if rec.Code != http.StatusUnauthorized || !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Basic") {
		t.Fatalf("status %d, WWW-Authenticate %q", rec.Code, rec.Header().Get("WWW-Authenticate"))
	}
}

func TestRequireLoopback(t *testing.T) {
	for addr, ok := range map[string]bool{"127.0.0.1:1": true, "[::1]:1": true, "0.0.0.0:1": false, ":1": false, "example.com:1": false} {
		if err := requireLoopback(addr); (err == nil) != ok {
			t.Errorf("requireLoopback(%q) = %v", addr, err)
		}
	}
}
