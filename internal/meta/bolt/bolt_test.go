package bolt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/regmirror/regmirror/internal/meta"
	"github.com/regmirror/regmirror/internal/meta/metatest"
)

// openTest opens a database in a fresh directory and closes it at the end.
func openTest(t *testing.T, path string, opts ...Option) *DB {
	t.Helper()
	db, err := Open(path, opts...)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestConformance(t *testing.T) {
	metatest.Run(t, func(t *testing.T) meta.Store {
		return openTest(t, filepath.Join(t.TempDir(), "meta.db"))
	})
}

func TestReopenPersists(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "meta.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if db.Recreated() {
		t.Error("a new file counts as recreated")
	}
	k := meta.TagKey{Upstream: "docker.io", Repo: "library/busybox", Tag: "1.36"}
	d := digest.FromString("busybox")
	now := time.Now()
	if err := db.PutTag(ctx, k, meta.Tag{Digest: d, Size: 7, CheckedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := db.PutResolution(ctx, "busybox", "docker.io"); err != nil {
		t.Fatal(err)
	}
	if err := db.PutObject(ctx, meta.Object{Digest: d, Size: 7, Created: now, Accessed: now}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = openTest(t, path)
	if db.Recreated() {
		t.Error("reopened file counts as recreated")
	}
	if tag, err := db.GetTag(ctx, k); err != nil || tag.Digest != d || !tag.CheckedAt.Equal(now) {
		t.Errorf("GetTag after reopen = %+v, %v", tag, err)
	}
	if up, err := db.GetResolution(ctx, "busybox"); err != nil || up != "docker.io" {
		t.Errorf("GetResolution after reopen = %q, %v", up, err)
	}
	if o, err := db.GetObject(ctx, d); err != nil || o.Size != 7 {
		t.Errorf("GetObject after reopen = %+v, %v", o, err)
	}
}

// realDB returns the bytes of a database with a few pages of records.
func realDB(t *testing.T) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "real.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var objs []meta.Object
	for i := range 2000 {
		objs = append(objs, meta.Object{Digest: digest.FromString(fmt.Sprint(i)), Size: int64(i)})
	}
	if err := db.PutObjects(context.Background(), objs); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestCorruptFileIsMovedAside(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	garbage := make([]byte, 64<<10)
	for i := range garbage {
		garbage[i] = byte(rng.Uint32())
	}
	real := realDB(t)
	pageSize := os.Getpagesize() // bbolt's page size on this machine, which wrote real
	// Meta pages intact, everything after them overwritten: bbolt panics
	// while reading the freelist, holding the lock.
	damaged := bytes.Clone(real)
	for i := 2 * pageSize; i < len(damaged); i++ {
		damaged[i] = byte(i*7 + 3)
	}
	tests := []struct {
		name    string
		content []byte
	}{
		{"random pages", garbage},
		{"short text", []byte("this is not a bolt database\n")},
		{"one page of zeros", make([]byte, pageSize)},
		{"truncated database", real[:pageSize]},
		{"damaged pages", damaged},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "meta.db")
			if err := os.WriteFile(path, tt.content, 0o600); err != nil {
				t.Fatal(err)
			}
			clock := time.Unix(1700000000, 0)
			db := openTest(t, path, WithClock(func() time.Time { return clock }))
			if !db.Recreated() {
				t.Fatal("Recreated() = false for a corrupt file")
			}
			aside := path + ".corrupt-1700000000"
			if db.CorruptPath() != aside {
				t.Errorf("CorruptPath() = %q, want %q", db.CorruptPath(), aside)
			}
			if got, err := os.ReadFile(aside); err != nil || !bytes.Equal(got, tt.content) {
				t.Errorf("moved-aside file: %v (content kept: %v)", err, bytes.Equal(got, tt.content))
			}
			// The fresh database works and is empty.
			ctx := context.Background()
			if err := db.PutResolution(ctx, "x", "docker.io"); err != nil {
				t.Fatal(err)
			}
			n := 0
			if err := db.WalkObjects(ctx, func(meta.Object) error { n++; return nil }); err != nil || n != 0 {
				t.Fatalf("WalkObjects on fresh database: %d records, %v", n, err)
			}
		})
	}
}

func TestSecondOpenFailsWhileLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	openTest(t, path)

	start := time.Now()
	db2, err := Open(path)
	elapsed := time.Since(start)
	if err == nil {
		db2.Close()
		t.Fatal("second Open of a locked file succeeded")
	}
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), path) {
		t.Errorf("error = %v, want ErrLocked naming %s", err, path)
	}
	if elapsed < 500*time.Millisecond || elapsed > 3*time.Second {
		t.Errorf("second Open failed after %v, want about 1s", elapsed)
	}
	// The locked file was not taken for corrupt.
	matches, _ := filepath.Glob(path + ".corrupt-*")
	if len(matches) != 0 {
		t.Errorf("locked file was moved aside: %v", matches)
	}
}

func TestOpenOSErrorIsNotCorruption(t *testing.T) {
	dir := t.TempDir()
	// A directory where the file should be: an OS error, not corruption.
	path := filepath.Join(dir, "meta.db")
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
	if db, err := Open(path); err == nil {
		db.Close()
		t.Fatal("Open of a directory succeeded")
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("directory was moved: %v", err)
	}
	// A missing parent directory is not corruption either.
	if db, err := Open(filepath.Join(dir, "missing", "meta.db")); err == nil {
		db.Close()
		t.Fatal("Open in a missing directory succeeded")
	}
}

func TestInvalidKeys(t *testing.T) {
	db := openTest(t, filepath.Join(t.TempDir(), "meta.db"))
	ctx := context.Background()
	bad := []meta.TagKey{
		{Upstream: "", Repo: "a", Tag: "b"},
		{Upstream: "docker.io", Repo: "", Tag: "b"},
		{Upstream: "docker.io", Repo: "a", Tag: ""},
		{Upstream: "docker.io", Repo: "a\x00b", Tag: "c"},
	}
	for _, k := range bad {
		if err := db.PutTag(ctx, k, meta.Tag{}); err == nil {
			t.Errorf("PutTag(%q) succeeded", k)
		}
	}
	if err := db.PutObject(ctx, meta.Object{Digest: "sha256:nope"}); err == nil {
		t.Error("PutObject with an invalid digest succeeded")
	}
	if err := db.PutResolution(ctx, "", "docker.io"); err == nil {
		t.Error("PutResolution with an empty name succeeded")
	}
}

func TestPutObjects(t *testing.T) {
	db := openTest(t, filepath.Join(t.TempDir(), "meta.db"))
	ctx := context.Background()
	objs := []meta.Object{
		{Digest: digest.FromString("a"), Size: 1},
		{Digest: digest.FromString("b"), Size: 2},
	}
	if err := db.PutObjects(ctx, objs); err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if got, err := db.GetObject(ctx, o.Digest); err != nil || got.Size != o.Size {
			t.Errorf("GetObject(%s) = %+v, %v", o.Digest, got, err)
		}
	}
	// One invalid record fails the whole batch before anything is written.
	bad := []meta.Object{{Digest: digest.FromString("c"), Size: 3}, {Digest: "bad"}}
	if err := db.PutObjects(ctx, bad); err == nil {
		t.Fatal("PutObjects with an invalid digest succeeded")
	}
	if _, err := db.GetObject(ctx, digest.FromString("c")); !errors.Is(err, meta.ErrNotFound) {
		t.Errorf("partial batch written: %v", err)
	}
}
