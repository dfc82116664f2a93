package meta_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/regmirror/regmirror/internal/meta"
	"github.com/regmirror/regmirror/internal/meta/bolt"
	"github.com/regmirror/regmirror/internal/store/disk"
)

// plainObjects hides bolt's PutObjects, to test Rebuild without batching.
type plainObjects struct{ meta.Objects }

func TestRebuild(t *testing.T) {
	for _, tt := range []struct {
		name    string
		n       int
		objects func(*bolt.DB) meta.Objects
	}{
		// More than one batch.
		{"batched", 600, func(db *bolt.DB) meta.Objects { return db }},
		// One commit per record: keep it short.
		{"one by one", 40, func(db *bolt.DB) meta.Objects { return plainObjects{db} }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			st, err := disk.New(filepath.Join(dir, "store"))
			if err != nil {
				t.Fatal(err)
			}
			db, err := bolt.Open(filepath.Join(dir, "meta.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })

			n := tt.n
			var ds []digest.Digest
			for i := range n {
				data := []byte(fmt.Sprintf("object %d", i))
				d := digest.FromBytes(data)
				if err := st.Put(ctx, d, int64(len(data)), bytes.NewReader(data)); err != nil {
					t.Fatal(err)
				}
				ds = append(ds, d)
			}
			// One object already has a full record, which must survive.
			old := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
			kept := meta.Object{Digest: ds[0], Size: 8, MediaType: "application/vnd.oci.image.manifest.v1+json", Upstream: "docker.io", Repo: "library/x", Created: old, Accessed: old}
			if err := db.PutObject(ctx, kept); err != nil {
				t.Fatal(err)
			}

			now := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
			created, err := meta.Rebuild(ctx, tt.objects(db), st, now)
			if err != nil || created != n-1 {
				t.Fatalf("Rebuild = %d, %v; want %d, nil", created, err, n-1)
			}
			got, err := db.GetObject(ctx, ds[0])
			if err != nil || got.MediaType != kept.MediaType || !got.Accessed.Equal(old) {
				t.Errorf("existing record changed: %+v, %v", got, err)
			}
			got, err = db.GetObject(ctx, ds[5])
			want := meta.Object{Digest: ds[5], Size: int64(len("object 5")), Created: now, Accessed: now}
			if err != nil || got.Digest != want.Digest || got.Size != want.Size || got.MediaType != "" ||
				!got.Created.Equal(now) || !got.Accessed.Equal(now) {
				t.Errorf("rebuilt record = %+v, %v; want %+v", got, err, want)
			}

			// A second run has nothing to do.
			if created, err := meta.Rebuild(ctx, tt.objects(db), st, now); err != nil || created != 0 {
				t.Errorf("second Rebuild = %d, %v; want 0, nil", created, err)
			}
		})
	}
}

func TestRebuildStopsOnCancel(t *testing.T) {
	dir := t.TempDir()
	st, err := disk.New(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("x")
	if err := st.Put(context.Background(), digest.FromBytes(data), 1, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := meta.Rebuild(ctx, db, st, time.Now()); !errors.Is(err, context.Canceled) {
		t.Fatalf("Rebuild with cancelled context: %v", err)
	}
}
