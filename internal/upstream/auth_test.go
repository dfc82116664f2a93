package upstream

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/regmirror/regmirror/internal/registrytest"
)

func TestBearerTokenReuse(t *testing.T) {
	t.Parallel()
	u := registrytest.New(t, registrytest.WithBearerAuth())
	img := u.PushRandomImage(t, "library/alpine", "3", 1, 128)
	layers, _ := img.Layers()
	ld, _ := layers[0].Digest()
	c := newClient(t, u)
	ctx := context.Background()

	if _, err := c.GetManifest(ctx, "library/alpine", "3"); err != nil {
		t.Fatal(err)
	}
	if n := u.Counts.Token.Load(); n != 1 {
		t.Fatalf("first call fetched %d tokens, want 1", n)
	}
	u.Counts.Reset()
	if _, err := c.HeadManifest(ctx, "library/alpine", "3"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.HeadBlob(ctx, "library/alpine", digestOf(t, ld.String())); err != nil {
		t.Fatal(err)
	}
	if n, total := u.Counts.Token.Load(), u.Counts.Total.Load(); n != 0 || total != 2 {
		t.Fatalf("same repo again: %s, want no token and no 401 round trip", u.Counts)
	}
	// Another repository is another scope, so another token.
	u.PushRandomImage(t, "library/busybox", "1", 0, 0)
	if _, err := c.GetManifest(ctx, "library/busybox", "1"); err != nil {
		t.Fatal(err)
	}
	if n := u.Counts.Token.Load(); n != 1 {
		t.Fatalf("new repo fetched %d tokens, want 1", n)
	}
}

func TestBearerConcurrentFetchesOneToken(t *testing.T) {
	t.Parallel()
	u := registrytest.New(t, registrytest.WithBearerAuth(), registrytest.WithDelay(10*time.Millisecond))
	u.PushRandomImage(t, "team/app", "v1", 1, 64)
	c := newClient(t, u)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			_, err := c.GetManifest(context.Background(), "team/app", "v1")
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := u.Counts.Token.Load(); n != 1 {
		t.Fatalf("20 concurrent calls fetched %d tokens, want 1 (%s)", n, u.Counts)
	}
}

func TestJWTExpiryRefetches(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Now()}
	u := registrytest.New(t, registrytest.WithBearerAuth(), registrytest.WithJWT(time.Minute), registrytest.WithClock(clock.Now))
	u.PushRandomImage(t, "a/b", "v1", 0, 0)
	c := newClient(t, u)
	c.tokens.now = clock.Now
	ctx := context.Background()
	get := func() {
		t.Helper()
		if _, err := c.GetManifest(ctx, "a/b", "v1"); err != nil {
			t.Fatal(err)
		}
	}
	get()
	clock.Add(45 * time.Second) // before exp minus the skew
	get()
	if n := u.Counts.Token.Load(); n != 1 {
		t.Fatalf("tokens before expiry: %d, want 1", n)
	}
	clock.Add(10 * time.Second) // 55s: within the 10s skew of exp
	get()
	if n := u.Counts.Token.Load(); n != 2 {
		t.Fatalf("tokens after expiry: %d, want 2", n)
	}
	get()
	if n := u.Counts.Token.Load(); n != 2 {
		t.Fatalf("new token not reused: %d tokens", n)
	}
}

func TestJWTExpiry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		tok  string
		want int64
	}{
		{"opaque", 0},
		{"a.b.c", 0},
		{"eyJhbGciOiJub25lIn0.eyJleHAiOjE3MDAwMDAwMDB9.x", 1700000000},   // {"exp":1700000000}
		{"eyJhbGciOiJub25lIn0.eyJleHAiOjE3MDAwMDAwMDB9==.x", 1700000000}, // padded
		{"eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.x", 0},                     // no exp
	}
	for _, tt := range tests {
		got := jwtExpiry(tt.tok)
		if (tt.want == 0 && !got.IsZero()) || (tt.want != 0 && got.Unix() != tt.want) {
			t.Errorf("jwtExpiry(%q) = %v, want %d", tt.tok, got, tt.want)
		}
	}
}

func TestCredentials(t *testing.T) {
	t.Parallel()
	users := map[string]string{"alice": "s3cret"}
	tests := []struct {
		name     string
		opts     []registrytest.Option
		user     string
		pass     string
		wantOK   bool
		notFound bool
	}{
		{"token with credentials reaches private", []registrytest.Option{registrytest.WithBearerAuth(), registrytest.WithPrivate("priv/"), registrytest.WithUsers(users)}, "alice", "s3cret", true, false},
		{"anonymous token denied private", []registrytest.Option{registrytest.WithBearerAuth(), registrytest.WithPrivate("priv/"), registrytest.WithUsers(users)}, "", "", false, true},
		{"basic", []registrytest.Option{registrytest.WithBasicAuth(), registrytest.WithUsers(users)}, "alice", "s3cret", true, false},
		{"basic wrong password", []registrytest.Option{registrytest.WithBasicAuth(), registrytest.WithUsers(users)}, "alice", "nope", false, false},
		{"basic anonymous", []registrytest.Option{registrytest.WithBasicAuth(), registrytest.WithUsers(users)}, "", "", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u := registrytest.New(t, tt.opts...)
			u.PushRandomImage(t, "priv/app", "v1", 0, 0)
			c := newClient(t, u, withCreds(tt.user, tt.pass))
			m, err := c.GetManifest(context.Background(), "priv/app", "v1")
			if tt.wantOK != (err == nil) || IsNotFound(err) != tt.notFound {
				t.Fatalf("err = %v (NotFound %v)", err, IsNotFound(err))
			}
			if err == nil && m.Digest != u.Digest(t, "priv/app", "v1") {
				t.Fatalf("digest %s", m.Digest)
			}
		})
	}
}
