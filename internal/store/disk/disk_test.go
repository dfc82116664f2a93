package disk

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/regmirror/regmirror/internal/oci"
	"github.com/regmirror/regmirror/internal/store"
	"github.com/regmirror/regmirror/internal/store/storetest"
)

func newTestStore(t *testing.T) *Store {
	t.Helper()
	s, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Options{
		LeftoverCheck: func(t *testing.T, s store.Store) {
			entries, err := os.ReadDir(s.(*Store).IngestDir())
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				t.Errorf("temporary file left behind: %s", e.Name())
			}
		},
	}.Run(t, func(t *testing.T) store.Store { return newTestStore(t) })
}

func TestPath(t *testing.T) {
	s := &Store{blobs: "/var/lib/regmirror/blobs"}
	tests := []struct {
		d    digest.Digest
		want string
	}{
		{
			"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
			"/var/lib/regmirror/blobs/sha256/e3/e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		},
		{
			"sha256:0000000000000000000000000000000000000000000000000000000000000000",
			"/var/lib/regmirror/blobs/sha256/00/0000000000000000000000000000000000000000000000000000000000000000",
		},
		{
			"sha512:cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e",
			"/var/lib/regmirror/blobs/sha512/cf/cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e",
		},
		{"sha256:../../../../../etc/passwd", ""},
		{"sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855", ""},
		{"sha256:e3b0", ""},
		{"sha384:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", ""},
		{"md5:d41d8cd98f00b204e9800998ecf8427e", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := s.Path(tt.d); got != tt.want {
			t.Errorf("Path(%q) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestNewCreatesLayout(t *testing.T) {
	root := filepath.Join(t.TempDir(), "a", "b")
	s, err := New(root + "/")
	if err != nil {
		t.Fatal(err)
	}
	if s.Root() != root || s.IngestDir() != filepath.Join(root, "ingest") {
		t.Errorf("Root, IngestDir = %q, %q", s.Root(), s.IngestDir())
	}
	for _, dir := range []string{"blobs", "ingest"} {
		if fi, err := os.Stat(filepath.Join(root, dir)); err != nil || !fi.IsDir() {
			t.Errorf("%s: %v", dir, err)
		}
	}
	// A root that is a file cannot hold a store.
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := New(file); err == nil {
		t.Error("New on a regular file succeeded")
	}
}

func TestPutWritesLayoutAndOpenIsFile(t *testing.T) {
	s := newTestStore(t)
	data := []byte("hello")
	d := digest.FromBytes(data)
	if err := s.Put(context.Background(), d, int64(len(data)), bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(s.Root(), "blobs", "sha256", d.Encoded()[:2], d.Encoded()))
	if err != nil || string(got) != "hello" {
		t.Fatalf("object file: %q, %v", got, err)
	}
	rc, err := s.Open(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, ok := rc.(*os.File); !ok {
		t.Errorf("Open returned %T, want *os.File", rc)
	}
}

func TestInvalidDigestIsOCIError(t *testing.T) {
	s := newTestStore(t)
	_, err := s.Stat(context.Background(), "sha256:../x")
	var oe *oci.Error
	if !errors.As(err, &oe) || oe.Code != oci.CodeDigestInvalid {
		t.Fatalf("Stat of invalid digest: %v, want DIGEST_INVALID", err)
	}
}

func TestImportMovesFile(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	data := []byte("imported content")
	d := digest.FromBytes(data)
	write := func() string {
		f, err := os.CreateTemp(s.IngestDir(), "fill-*")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.Write(data); err != nil {
			t.Fatal(err)
		}
		return f.Name()
	}
	for i := range 2 { // the second time the object is already there
		p := write()
		if err := s.Import(ctx, d, int64(len(data)), p); err != nil {
			t.Fatalf("Import #%d: %v", i+1, err)
		}
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("Import #%d left the source file: %v", i+1, err)
		}
	}
	if got, err := os.ReadFile(s.Path(d)); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("object: %q, %v", got, err)
	}

	// A file of the wrong size is refused and left alone.
	p := write()
	other := digest.FromString("other")
	if err := s.Import(ctx, other, 3, p); !errors.Is(err, store.ErrDigestMismatch) {
		t.Fatalf("Import of wrong size: %v, want ErrDigestMismatch", err)
	}
	if _, err := os.Lstat(p); err != nil {
		t.Errorf("refused file was removed: %v", err)
	}
}

func TestImportAcrossFilesystems(t *testing.T) {
	shm := "/dev/shm"
	tmp := t.TempDir()
	if !crossDevice(t, shm, tmp) {
		t.Skip("no second filesystem to import from")
	}
	s, err := New(tmp)
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("from tmpfs")
	d := digest.FromBytes(data)
	f, err := os.CreateTemp(shm, "regmirror-test-*")
	if err != nil {
		t.Skip(err)
	}
	p := f.Name()
	t.Cleanup(func() { os.Remove(p) })
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := s.Import(context.Background(), d, int64(len(data)), p); err != nil {
		t.Fatalf("Import across filesystems: %v", err)
	}
	if got, err := os.ReadFile(s.Path(d)); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("object: %q, %v", got, err)
	}
	if _, err := os.Lstat(p); !os.IsNotExist(err) {
		t.Errorf("source file left: %v", err)
	}
}

func TestWalkSkipsJunk(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	data := []byte("real")
	d := digest.FromBytes(data)
	if err := s.Put(ctx, d, 4, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	hex := strings.Repeat("ab", 32)
	junk := []string{
		"README",                            // file at the top of blobs/
		"sha256/README",                     // file at the prefix level
		"sha256/cd/" + hex,                  // hex in the wrong prefix directory
		"sha256/ab/" + hex[:10],             // short hex
		"sha256/ab/" + strings.ToUpper(hex), // not lower-case
		"sha256/abc/" + hex,                 // prefix too long
		"md5/ab/" + hex[:32],                // unknown algorithm
		"sha256/ab/" + hex + ".tmp",         // trailing junk
	}
	for _, j := range junk {
		p := filepath.Join(s.Root(), "blobs", j)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("junk"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A directory where an object would be.
	if err := os.MkdirAll(filepath.Join(s.Root(), "blobs", "sha256", "ef", strings.Repeat("ef", 32)), 0o755); err != nil {
		t.Fatal(err)
	}
	var got []digest.Digest
	if err := s.Walk(ctx, func(d digest.Digest, size int64) error {
		got = append(got, d)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != d {
		t.Fatalf("Walk visited %v, want only %s", got, d)
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Walk(cctx, func(digest.Digest, int64) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("Walk with cancelled context: %v", err)
	}
}

func TestCleanIngest(t *testing.T) {
	s := newTestStore(t)
	old := time.Now().Add(-2 * time.Hour)
	for _, name := range []string{"put-1", "put-2", "fill-3"} {
		p := filepath.Join(s.IngestDir(), name)
		if err := os.WriteFile(p, []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	fresh := filepath.Join(s.IngestDir(), "put-fresh")
	if err := os.WriteFile(fresh, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(s.IngestDir(), "subdir"), 0o755); err != nil {
		t.Fatal(err)
	}

	n, err := s.CleanIngest(time.Hour)
	if err != nil || n != 3 {
		t.Fatalf("CleanIngest(1h) = %d, %v; want 3, nil", n, err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("fresh file removed: %v", err)
	}
	if n, err := s.CleanIngest(0); err != nil || n != 1 {
		t.Fatalf("CleanIngest(0) = %d, %v; want 1, nil", n, err)
	}
	if _, err := os.Stat(filepath.Join(s.IngestDir(), "subdir")); err != nil {
		t.Errorf("directory removed: %v", err)
	}
}

// crossDevice reports whether a and b are on different filesystems.
func crossDevice(t *testing.T, a, b string) bool {
	t.Helper()
	da, errA := deviceOf(a)
	db, errB := deviceOf(b)
	return errA == nil && errB == nil && da != db
}
