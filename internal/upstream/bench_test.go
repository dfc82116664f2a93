package upstream

import (
	"context"
	"encoding/base64"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/regmirror/regmirror/internal/registrytest"
)

// Token-cache benchmarks: every authenticated upstream request asks the
// cache first, so its hit path is on every cold pull. Run with
//
//	go test -run '^$' -bench . -benchmem ./internal/upstream/

// benchJWT returns a JWT-shaped token that expires in an hour.
func benchJWT() string {
	enc := base64.RawURLEncoding.EncodeToString
	payload := fmt.Sprintf(`{"exp":%d}`, time.Now().Add(time.Hour).Unix())
	return enc([]byte(`{"alg":"none"}`)) + "." + enc([]byte(payload)) + ".sig"
}

// warmCache returns a token cache holding one JWT for the bench scope.
func warmCache(b *testing.B) (*tokenCache, string) {
	b.Helper()
	c := newTokenCache()
	tok := benchJWT()
	ctx := context.Background()
	if _, err := c.Set(ctx, "registry.example", auth.SchemeBearer, "repository:library/bench:pull",
		func(context.Context) (string, error) { return tok, nil }); err != nil {
		b.Fatal(err)
	}
	return c, tok
}

// BenchmarkTokenCacheGet is the hit path: a cached, unexpired JWT.
func BenchmarkTokenCacheGet(b *testing.B) {
	c, tok := warmCache(b)
	ctx := context.Background()
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			got, err := c.GetToken(ctx, "registry.example", auth.SchemeBearer, "repository:library/bench:pull")
			if err != nil || got != tok {
				b.Fatalf("GetToken = %q, %v", got, err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := c.GetToken(ctx, "registry.example", auth.SchemeBearer, "repository:library/bench:pull"); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkTokenCacheSetFresh is a 401 answered within reuseWindow of the
// last fetch: the cache must hand out the fresh token without fetching.
func BenchmarkTokenCacheSetFresh(b *testing.B) {
	c, tok := warmCache(b)
	ctx := context.Background()
	var fetches atomic.Int64
	fetch := func(context.Context) (string, error) { fetches.Add(1); return benchJWT(), nil }
	b.ReportAllocs()
	for b.Loop() {
		got, err := c.Set(ctx, "registry.example", auth.SchemeBearer, "repository:library/bench:pull", fetch)
		if err != nil || got != tok {
			b.Fatalf("Set = %q, %v", got, err)
		}
	}
	if n := fetches.Load(); n != 0 {
		b.Fatalf("%d token fetches within the reuse window, want 0", n)
	}
}

// BenchmarkHeadManifestBearer is one upstream request with a cached bearer
// token, end to end over loopback HTTP. It fails if the loop fetched a
// token again.
func BenchmarkHeadManifestBearer(b *testing.B) {
	up := registrytest.New(b, registrytest.WithBearerAuth())
	up.PushRandomImage(b, "library/bench", "latest", 1, 1024)
	c, err := New(Options{Name: "docker.io", Endpoint: up.URL, Timeout: 5 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.HeadManifest(ctx, "library/bench", "latest"); err != nil {
		b.Fatal(err)
	}
	tokens := up.Counts.Token.Load()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.HeadManifest(ctx, "library/bench", "latest"); err != nil {
			b.Fatal(err)
		}
	}
	if n := up.Counts.Token.Load() - tokens; n != 0 {
		b.Fatalf("%d token fetches with a cached token, want 0", n)
	}
}
