package metatest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/regmirror/regmirror/internal/meta"
)

// object returns a full record for dg(i).
func object(i int) meta.Object {
	return meta.Object{
		Digest:    dg(i),
		Size:      int64(1000 + i),
		MediaType: "application/vnd.oci.image.manifest.v1+json",
		Upstream:  "docker.io",
		Repo:      "library/alpine",
		Created:   at(i),
		Accessed:  at(i + 1),
	}
}

// putObjects stores object(0..n-1).
func putObjects(t *testing.T, s meta.Store, n int) {
	t.Helper()
	for i := range n {
		if err := s.PutObject(context.Background(), object(i)); err != nil {
			t.Fatalf("PutObject: %v", err)
		}
	}
}

func testObjects(t *testing.T, s meta.Store) {
	ctx := context.Background()
	o := object(1)
	if _, err := s.GetObject(ctx, o.Digest); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("GetObject of absent record: %v, want ErrNotFound", err)
	}
	if err := s.PutObject(ctx, o); err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	got, err := s.GetObject(ctx, o.Digest)
	if err != nil {
		t.Fatalf("GetObject: %v", err)
	}
	assertObject(t, got, o)

	// Replace: a blob record (no media type) with other times.
	o = meta.Object{Digest: o.Digest, Size: 5, Created: at(7), Accessed: at(8)}
	if err := s.PutObject(ctx, o); err != nil {
		t.Fatalf("PutObject (replace): %v", err)
	}
	got, err = s.GetObject(ctx, o.Digest)
	if err != nil {
		t.Fatalf("GetObject: %v", err)
	}
	assertObject(t, got, o)

	if err := s.DeleteObject(ctx, o.Digest); err != nil {
		t.Fatalf("DeleteObject: %v", err)
	}
	if _, err := s.GetObject(ctx, o.Digest); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("GetObject after delete: %v, want ErrNotFound", err)
	}
	if err := s.DeleteObject(ctx, o.Digest); err != nil {
		t.Fatalf("DeleteObject of absent record: %v", err)
	}
}

func testTouch(t *testing.T, s meta.Store) {
	ctx := context.Background()
	putObjects(t, s, 3) // object(i).Accessed == at(i+1)
	unknown := dg(100)
	err := s.Touch(ctx, map[digest.Digest]time.Time{
		dg(0):   at(50),
		dg(1):   at(60),
		unknown: at(70),
	})
	if err != nil {
		t.Fatalf("Touch: %v", err)
	}
	for i, want := range []time.Time{at(50), at(60), at(3)} {
		got, err := s.GetObject(ctx, dg(i))
		if err != nil {
			t.Fatal(err)
		}
		if !got.Accessed.Equal(want) {
			t.Errorf("object %d: Accessed = %v, want %v", i, got.Accessed, want)
		}
		// Touch changes nothing else.
		w := object(i)
		w.Accessed = want
		assertObject(t, got, w)
	}
	if _, err := s.GetObject(ctx, unknown); !errors.Is(err, meta.ErrNotFound) {
		t.Errorf("Touch created a record for an unknown digest: %v", err)
	}
	if err := s.Touch(ctx, nil); err != nil {
		t.Errorf("Touch(nil): %v", err)
	}
}

func testWalkObjects(t *testing.T, s meta.Store) {
	ctx := context.Background()
	const n = 600 // more than one page of a paging backend
	putObjects(t, s, n)
	seen := map[digest.Digest]bool{}
	if err := s.WalkObjects(ctx, func(o meta.Object) error {
		if seen[o.Digest] {
			t.Errorf("WalkObjects visited %s twice", o.Digest)
		}
		seen[o.Digest] = true
		return nil
	}); err != nil {
		t.Fatalf("WalkObjects: %v", err)
	}
	if len(seen) != n {
		t.Fatalf("WalkObjects visited %d records, want %d", len(seen), n)
	}
	for i := range n {
		if !seen[dg(i)] {
			t.Fatalf("WalkObjects missed object %d", i)
		}
	}
	stop := errors.New("stop")
	calls := 0
	if err := s.WalkObjects(ctx, func(meta.Object) error { calls++; return stop }); !errors.Is(err, stop) || calls != 1 {
		t.Errorf("WalkObjects with failing fn: %v after %d calls, want %v after 1", err, calls, stop)
	}
}

// testWalkWhileWriting deletes every record from inside the walk, as prune
// does: a backend must not deadlock or skip records it has not deleted.
func testWalkWhileWriting(t *testing.T, s meta.Store) {
	ctx := context.Background()
	const n = 300
	putObjects(t, s, n)
	done := make(chan error, 1)
	go func() {
		done <- s.WalkObjects(ctx, func(o meta.Object) error {
			return s.DeleteObject(ctx, o.Digest)
		})
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("WalkObjects deleting: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("WalkObjects deleting inside fn did not finish (deadlock?)")
	}
	left := 0
	if err := s.WalkObjects(ctx, func(meta.Object) error { left++; return nil }); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Fatalf("%d records left after deleting all while walking", left)
	}
}

// assertObject compares records, times by instant.
func assertObject(t *testing.T, got, want meta.Object) {
	t.Helper()
	if got.Digest != want.Digest || got.Size != want.Size || got.MediaType != want.MediaType ||
		got.Upstream != want.Upstream || got.Repo != want.Repo ||
		!got.Created.Equal(want.Created) || !got.Accessed.Equal(want.Accessed) {
		t.Errorf("object = %+v, want %+v", got, want)
	}
}
