package storetest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/regmirror/regmirror/internal/store"
)

func testDelete(t *testing.T, s store.Store) {
	del, ok := s.(store.Deleter)
	if !ok {
		t.Skip("store does not implement store.Deleter")
	}
	ctx := context.Background()
	keep, gone := newBlob(1, 100), newBlob(2, 100)
	put(t, s, keep)
	put(t, s, gone)
	if err := del.Delete(ctx, gone.d); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	mustBeAbsent(t, s, gone.d)
	mustContain(t, s, keep)
	if err := del.Delete(ctx, gone.d); err != nil {
		t.Fatalf("Delete of an absent object: %v", err)
	}
	// A deleted object can be stored again.
	put(t, s, gone)
	mustContain(t, s, gone)
}

func testWalk(t *testing.T, s store.Store) {
	w, ok := s.(store.Walker)
	if !ok {
		t.Skip("store does not implement store.Walker")
	}
	ctx := context.Background()
	if got := walkAll(t, w); len(got) != 0 {
		t.Fatalf("Walk of an empty store visited %v", got)
	}
	want := map[digest.Digest]int64{}
	for i, n := range []int{0, 10, 300, 5000} {
		b := newBlob(uint64(i), n)
		put(t, s, b)
		want[b.d] = int64(n)
	}
	// A failed Put adds nothing.
	bad := newBlob(9, 10)
	_ = s.Put(ctx, bad.d, 11, &chunkReader{data: bad.data, chunk: 4})

	got := walkAll(t, w)
	if len(got) != len(want) {
		t.Errorf("Walk visited %d objects, want %d: %v", len(got), len(want), got)
	}
	for d, size := range want {
		if got[d] != size {
			t.Errorf("Walk: %s has size %d (present: %v), want %d", d, got[d], hasKey(got, d), size)
		}
	}

	stop := errors.New("stop")
	calls := 0
	err := w.Walk(ctx, func(digest.Digest, int64) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("Walk with fn failing: error = %v after %d calls, want %v after 1", err, calls, stop)
	}
}

// walkAll collects what w.Walk visits, failing on duplicates.
func walkAll(t *testing.T, w store.Walker) map[digest.Digest]int64 {
	t.Helper()
	got := map[digest.Digest]int64{}
	err := w.Walk(context.Background(), func(d digest.Digest, size int64) error {
		if _, dup := got[d]; dup {
			t.Errorf("Walk visited %s twice", d)
		}
		got[d] = size
		return nil
	})
	if err != nil {
		t.Fatalf("Walk: %v", err)
	}
	return got
}

func hasKey(m map[digest.Digest]int64, d digest.Digest) bool {
	_, ok := m[d]
	return ok
}

func testImport(t *testing.T, s store.Store) {
	imp, ok := s.(store.FileImporter)
	if !ok {
		t.Skip("store does not implement store.FileImporter")
	}
	ctx := context.Background()
	b := newBlob(1, 70000)
	dir := t.TempDir()
	write := func(name string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b.data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if err := imp.Import(ctx, b.d, int64(len(b.data)), write("first")); err != nil {
		t.Fatalf("Import: %v", err)
	}
	mustContain(t, s, b)
	// Importing what is already there succeeds.
	if err := imp.Import(ctx, b.d, int64(len(b.data)), write("second")); err != nil {
		t.Fatalf("Import of a present object: %v", err)
	}
	mustContain(t, s, b)

	other := newBlob(2, 10)
	if err := imp.Import(ctx, other.d, 10, filepath.Join(dir, "missing")); err == nil {
		t.Fatal("Import of a missing file succeeded")
	}
	mustBeAbsent(t, s, other.d)
}
