package storetest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/regmirror/regmirror/internal/store"
)

// errReader is the error failingReader returns.
var errReader = errors.New("storetest: reader failed")

// failingReader serves its data, then fails instead of reporting EOF.
type failingReader struct{ r io.Reader }

// Read implements io.Reader.
func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, errReader
	}
	return n, err
}

// chunkReader returns at most chunk bytes per Read and calls after (once)
// when the first chunk has been read.
type chunkReader struct {
	data  []byte
	chunk int
	after func()
}

// Read implements io.Reader.
func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), c.chunk)], c.data)
	c.data = c.data[n:]
	if c.after != nil {
		c.after()
		c.after = nil
	}
	return n, nil
}

func testRoundTrip(t *testing.T, s store.Store) {
	// Empty, small, and larger than a typical 1 MiB copy buffer.
	for i, n := range []int{0, 1, 4096, 2<<20 + 12345} {
		b := newBlob(uint64(i), n)
		put(t, s, b)
		mustContain(t, s, b)
	}
}

func testPutExisting(t *testing.T, s store.Store) {
	b := newBlob(1, 1000)
	put(t, s, b)
	put(t, s, b)
	mustContain(t, s, b)
}

func testNotFound(t *testing.T, s store.Store) {
	mustBeAbsent(t, s, newBlob(1, 10).d)
	mustBeAbsent(t, s, digest.SHA256.FromString(""))
}

func testInvalidDigest(t *testing.T, s store.Store) {
	ctx := context.Background()
	for _, d := range []digest.Digest{
		"",
		"sha256:../../../../etc/passwd",
		"sha256:abc",
		"sha256:" + digest.Digest(bytes.Repeat([]byte("A"), 64)),
		"md5:d41d8cd98f00b204e9800998ecf8427e",
		"sha256/0000000000000000000000000000000000000000000000000000000000000000",
	} {
		if err := s.Put(ctx, d, 1, bytes.NewReader([]byte("x"))); err == nil {
			t.Errorf("Put(%q) succeeded, want an error", d)
		}
		if _, err := s.Stat(ctx, d); err == nil {
			t.Errorf("Stat(%q) succeeded, want an error", d)
		}
		if rc, err := s.Open(ctx, d); err == nil {
			rc.Close()
			t.Errorf("Open(%q) succeeded, want an error", d)
		}
	}
}

func testDigestMismatch(t *testing.T, s store.Store) {
	b := newBlob(1, 5000)
	other := newBlob(2, 5000)
	err := s.Put(context.Background(), other.d, int64(len(b.data)), bytes.NewReader(b.data))
	if !errors.Is(err, store.ErrDigestMismatch) {
		t.Fatalf("Put with wrong digest: error = %v, want ErrDigestMismatch", err)
	}
	mustBeAbsent(t, s, other.d)
	mustBeAbsent(t, s, b.d)
}

func testSizeMismatch(t *testing.T, s store.Store) {
	b := newBlob(1, 5000)
	for _, size := range []int64{0, 4999, 5001, 1 << 20} {
		err := s.Put(context.Background(), b.d, size, bytes.NewReader(b.data))
		if !errors.Is(err, store.ErrDigestMismatch) {
			t.Errorf("Put of %d bytes declared as %d: error = %v, want ErrDigestMismatch", len(b.data), size, err)
		}
		mustBeAbsent(t, s, b.d)
	}
}

func testReaderError(t *testing.T, s store.Store) {
	b := newBlob(1, 300<<10)
	// The reader fails where EOF would be, after all the bytes: nothing may
	// be stored even though size and digest would match.
	err := s.Put(context.Background(), b.d, int64(len(b.data)), &failingReader{r: bytes.NewReader(b.data)})
	if !errors.Is(err, errReader) {
		t.Fatalf("Put from a failing reader: error = %v, want one wrapping %v", err, errReader)
	}
	mustBeAbsent(t, s, b.d)

	err = s.Put(context.Background(), b.d, int64(len(b.data)), &failingReader{r: bytes.NewReader(b.data[:1000])})
	if !errors.Is(err, errReader) {
		t.Fatalf("Put from a reader failing mid-way: error = %v, want one wrapping %v", err, errReader)
	}
	mustBeAbsent(t, s, b.d)
}

func testCancelledContext(t *testing.T, s store.Store) {
	b := newBlob(1, 1000)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.Put(ctx, b.d, int64(len(b.data)), bytes.NewReader(b.data))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Put with a cancelled context: error = %v, want context.Canceled", err)
	}
	mustBeAbsent(t, s, b.d)
}

func testCancelMidway(t *testing.T, s store.Store) {
	b := newBlob(1, 3<<20)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := &chunkReader{data: b.data, chunk: 64 << 10, after: cancel}
	if err := s.Put(ctx, b.d, int64(len(b.data)), r); err == nil {
		t.Fatal("Put whose context was cancelled mid-way succeeded")
	}
	mustBeAbsent(t, s, b.d)
}

func testRanges(t *testing.T, s store.Store) {
	b := newBlob(1, 100<<10)
	put(t, s, b)
	rc, err := s.Open(context.Background(), b.d)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	size := int64(len(b.data))
	tests := []struct {
		name   string
		offset int64
		whence int
		n      int
		want   int64 // expected absolute position after the seek
	}{
		{"start", 0, io.SeekStart, 10, 0},
		{"middle", 5000, io.SeekStart, 3000, 5000},
		{"from end", -100, io.SeekEnd, 100, size - 100},
		{"back to start", 1, io.SeekStart, 1, 1},
		{"relative", 4095, io.SeekCurrent, 8192, 4097}, // after reading 1 byte at 1
		{"last byte", size - 1, io.SeekStart, 1, size - 1},
	}
	for _, tt := range tests {
		pos, err := rc.Seek(tt.offset, tt.whence)
		if err != nil {
			t.Fatalf("%s: Seek: %v", tt.name, err)
		}
		if pos != tt.want {
			t.Fatalf("%s: Seek returned %d, want %d", tt.name, pos, tt.want)
		}
		got := make([]byte, tt.n)
		if _, err := io.ReadFull(rc, got); err != nil {
			t.Fatalf("%s: read: %v", tt.name, err)
		}
		if !bytes.Equal(got, b.data[pos:pos+int64(tt.n)]) {
			t.Fatalf("%s: bytes [%d,%d) differ", tt.name, pos, pos+int64(tt.n))
		}
	}
	if _, err := rc.Seek(0, io.SeekEnd); err != nil {
		t.Fatal(err)
	}
	if n, err := rc.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("Read at end = %d, %v; want 0, EOF", n, err)
	}
}

func testConcurrentPut(t *testing.T, s store.Store) {
	const writers = 8
	b := newBlob(1, 1<<20+7)
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for i := range writers {
		wg.Go(func() {
			// Small chunks, so that the writers overlap.
			r := &chunkReader{data: b.data, chunk: 32 << 10}
			errs[i] = s.Put(context.Background(), b.d, int64(len(b.data)), r)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("writer %d: %v", i, err)
		}
	}
	mustContain(t, s, b)
}
