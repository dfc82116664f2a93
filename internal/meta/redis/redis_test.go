package redis

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/regmirror/regmirror/internal/meta"
	"github.com/regmirror/regmirror/internal/meta/metatest"
	"github.com/regmirror/regmirror/internal/meta/redis/redistest"
)

// openTest returns a store under a fresh prefix on srv, closed at the end.
func openTest(t *testing.T, srv *redistest.Server) *Store {
	t.Helper()
	s, err := Open(srv.URL, Options{Prefix: fmt.Sprintf("t%x:", rand.Uint64())})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	srv := redistest.Start(t)
	metatest.Run(t, func(t *testing.T) meta.Store { return openTest(t, srv) })
}

func TestPrefixesAreIsolated(t *testing.T) {
	srv := redistest.Start(t)
	a, b := openTest(t, srv), openTest(t, srv)
	ctx := context.Background()
	if err := a.PutResolution(ctx, "nginx", "docker.io"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.GetResolution(ctx, "nginx"); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("another prefix sees the resolution: %v", err)
	}
}

func TestTouchNeverMovesBack(t *testing.T) {
	srv := redistest.Start(t)
	s := openTest(t, srv)
	ctx := context.Background()
	d := digest.FromString("x")
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := s.PutObject(ctx, meta.Object{Digest: d, Size: 1, Created: t0, Accessed: t0}); err != nil {
		t.Fatal(err)
	}
	newer, older := t0.Add(time.Hour), t0.Add(30*time.Minute)
	for _, at := range []time.Time{newer, older} {
		if err := s.Touch(ctx, map[digest.Digest]time.Time{d: at}); err != nil {
			t.Fatal(err)
		}
	}
	o, err := s.GetObject(ctx, d)
	if err != nil || !o.Accessed.Equal(newer) {
		t.Fatalf("Accessed = %v, %v; want %v (a later, older touch must not win)", o.Accessed, err, newer)
	}
}

// TestUnreachableFailsFast checks the fail-fast client: every operation
// against a stopped server returns an error well within a second or two.
func TestUnreachableFailsFast(t *testing.T) {
	srv := redistest.Start(t)
	s := openTest(t, srv)
	ctx := context.Background()
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	start := time.Now()
	_, err := s.GetTag(ctx, meta.TagKey{Upstream: "docker.io", Repo: "library/nginx", Tag: "latest"})
	if err == nil || errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("GetTag with Redis down: %v, want a connection error", err)
	}
	if err := s.PutObject(ctx, meta.Object{Digest: digest.FromString("y")}); err == nil {
		t.Fatal("PutObject with Redis down succeeded")
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("two operations against a stopped Redis took %s", took)
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("no reconnect after Redis came back: %v", err)
	}
}
