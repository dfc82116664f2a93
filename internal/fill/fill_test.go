package fill

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// source is an in-memory upstream whose transfer can be gated, broken or corrupted.
type source struct {
	data      []byte
	opens     atomic.Int32
	gate      chan struct{} // if set, the body blocks after gateAt bytes until closed
	gateAt    int
	breakAt   int  // if >0, the first body fails after this many bytes
	resumable bool // serve offsets
	flip      bool // corrupt one byte
}

func (s *source) open(ctx context.Context, off int64) (Body, error) {
	n := s.opens.Add(1)
	data := s.data
	if s.flip {
		data = bytes.Clone(data)
		data[len(data)/2] ^= 0xff
	}
	var r io.Reader = bytes.NewReader(data[off:])
	if s.gate != nil && int64(s.gateAt) > off {
		r = io.MultiReader(bytes.NewReader(data[off:s.gateAt]), &gated{ch: s.gate, r: bytes.NewReader(data[s.gateAt:])})
	}
	if n == 1 && s.breakAt > 0 {
		r = io.MultiReader(bytes.NewReader(data[:s.breakAt]), errReader{})
	}
	return Body{R: io.NopCloser(r), Size: int64(len(s.data)), Offset: off, Resumable: s.resumable}, nil
}

type gated struct {
	ch chan struct{}
	r  io.Reader
}

func (g *gated) Read(p []byte) (int, error) { <-g.ch; return g.r.Read(p) }

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

type committed struct {
	mu    sync.Mutex
	paths map[digest.Digest][]byte
}

func newManager(t *testing.T) (*testManager, *committed) {
	t.Helper()
	dir := t.TempDir()
	c := &committed{paths: map[digest.Digest][]byte{}}
	m := New(Options{Dir: dir, IdleTimeout: 2 * time.Second})
	commit := func(ctx context.Context, d digest.Digest, size int64, path string) error {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		c.mu.Lock()
		c.paths[d] = b
		c.mu.Unlock()
		return os.Remove(path)
	}
	t.Cleanup(func() {
		left, _ := filepath.Glob(filepath.Join(dir, "*"))
		// Temporary files are removed once the download ends.
		deadline := time.Now().Add(2 * time.Second)
		for len(left) > 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
			left, _ = filepath.Glob(filepath.Join(dir, "*"))
		}
		if len(left) > 0 {
			t.Errorf("temporary files left behind: %v", left)
		}
	})
	return &testManager{m, commit}, c
}

// testManager starts fills with the test's commit function.
type testManager struct {
	*Manager
	commit CommitFunc
}

func (t *testManager) Start(d digest.Digest, open OpenFunc) (*Fill, bool) {
	return t.Manager.Start(d, open, t.commit)
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func readAll(ctx context.Context, f *Fill, off, end int64) ([]byte, error) {
	return io.ReadAll(f.NewReader(ctx, off, end))
}

func TestFollowersShareOneDownload(t *testing.T) {
	m, c := newManager(t)
	data := randomBytes(t, 3*chunkSize+17)
	d := digest.FromBytes(data)
	src := &source{data: data, gate: make(chan struct{}), gateAt: chunkSize + 5}

	const n = 16
	var wg sync.WaitGroup
	results := make([][]byte, n)
	errs := make([]error, n)
	firstByte := make(chan struct{}, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f, _ := m.Start(d, src.open)
			defer f.Release()
			if err := f.Ready(context.Background()); err != nil {
				errs[i] = err
				return
			}
			r := f.NewReader(context.Background(), 0, -1)
			buf := make([]byte, 1)
			if _, err := io.ReadFull(r, buf); err != nil {
				errs[i] = err
				return
			}
			firstByte <- struct{}{}
			rest, err := io.ReadAll(r)
			results[i], errs[i] = append(buf, rest...), err
		}()
	}
	// Every follower gets its first byte while the upstream is still blocked.
	for range n {
		select {
		case <-firstByte:
		case <-time.After(5 * time.Second):
			t.Fatal("a follower did not get its first byte before the transfer ended")
		}
	}
	close(src.gate)
	wg.Wait()
	for i := range n {
		if errs[i] != nil || !bytes.Equal(results[i], data) {
			t.Fatalf("follower %d: err=%v, got %d bytes", i, errs[i], len(results[i]))
		}
	}
	if got := src.opens.Load(); got != 1 {
		t.Errorf("upstream opened %d times, want 1", got)
	}
	// Followers finish once the bytes are verified; the commit follows.
	if err := m.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !bytes.Equal(c.paths[d], data) {
		t.Error("committed content differs")
	}
}

// TestLastByteBeforeCommit: followers get the last byte as soon as the
// digest is verified, without waiting for the commit (fsync and rename);
// the cache gets the file only after.
func TestLastByteBeforeCommit(t *testing.T) {
	dir := t.TempDir()
	m := New(Options{Dir: dir})
	data := randomBytes(t, chunkSize+9)
	d := digest.FromBytes(data)
	release := make(chan struct{})
	var committed atomic.Bool
	commit := func(context.Context, digest.Digest, int64, string) error {
		<-release
		committed.Store(true)
		return nil
	}
	src := &source{data: data}
	f, _ := m.Start(d, src.open, commit)
	// Were the last byte held until the commit, this read would time out.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got, err := readAll(ctx, f, 0, -1)
	f.Release()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read: err=%v, %d bytes", err, len(got))
	}
	if committed.Load() {
		t.Fatal("committed before release")
	}
	close(release)
	if err := m.Drain(context.Background()); err != nil || !committed.Load() {
		t.Fatalf("Drain = %v, committed %v", err, committed.Load())
	}
}

func TestRangeFromPartialFile(t *testing.T) {
	m, _ := newManager(t)
	data := randomBytes(t, 2*chunkSize)
	d := digest.FromBytes(data)
	src := &source{data: data, gate: make(chan struct{}), gateAt: chunkSize}
	f, _ := m.Start(d, src.open)
	defer f.Release()
	if err := f.Ready(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Bytes [10, 100) are there before the transfer goes on.
	got, err := readAll(context.Background(), f, 10, 100)
	if err != nil || !bytes.Equal(got, data[10:100]) {
		t.Fatalf("range read: err=%v", err)
	}
	close(src.gate)
	if err := f.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestMismatchFailsEveryFollowerAndCommitsNothing(t *testing.T) {
	m, c := newManager(t)
	data := randomBytes(t, chunkSize+100)
	d := digest.FromBytes(data)
	src := &source{data: data, flip: true}
	f, _ := m.Start(d, src.open)
	defer f.Release()
	if err := f.Ready(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, err := readAll(context.Background(), f, 0, -1)
	if !errors.Is(err, ErrDigestMismatch) {
		t.Fatalf("err = %v, want digest mismatch", err)
	}
	if len(got) >= len(data) {
		t.Errorf("follower received all %d bytes of a corrupt blob", len(got))
	}
	if len(c.paths) != 0 {
		t.Error("corrupt content was committed")
	}
}

func TestResumeOnce(t *testing.T) {
	m, c := newManager(t)
	data := randomBytes(t, 3*chunkSize)
	d := digest.FromBytes(data)
	src := &source{data: data, breakAt: chunkSize + 3, resumable: true}
	f, _ := m.Start(d, src.open)
	defer f.Release()
	got, err := readAll(context.Background(), f, 0, -1)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("err=%v len=%d", err, len(got))
	}
	if src.opens.Load() != 2 {
		t.Errorf("opens = %d, want 2 (one resume)", src.opens.Load())
	}
	if f.Wait(context.Background()) != nil || c.paths[d] == nil {
		t.Error("resumed download not committed")
	}
}

func TestBrokenWithoutRangesFails(t *testing.T) {
	m, c := newManager(t)
	data := randomBytes(t, 3*chunkSize)
	d := digest.FromBytes(data)
	src := &source{data: data, breakAt: chunkSize + 3}
	f, _ := m.Start(d, src.open)
	defer f.Release()
	if _, err := readAll(context.Background(), f, 0, -1); err == nil {
		t.Fatal("expected a failure")
	}
	if len(c.paths) != 0 {
		t.Error("partial content committed")
	}
}

func TestUpstreamErrorAtStart(t *testing.T) {
	m, _ := newManager(t)
	want := errors.New("404")
	f, _ := m.Start(digest.FromString("x"), func(context.Context, int64) (Body, error) { return Body{}, want })
	defer f.Release()
	if err := f.Ready(context.Background()); !errors.Is(err, want) {
		t.Fatalf("Ready = %v", err)
	}
}

func TestStallFails(t *testing.T) {
	dir := t.TempDir()
	m := New(Options{Dir: dir, IdleTimeout: 100 * time.Millisecond})
	noCommit := func(context.Context, digest.Digest, int64, string) error {
		t.Error("stalled download committed")
		return nil
	}
	data := randomBytes(t, 2*chunkSize)
	block := make(chan struct{})
	defer close(block)
	src := &source{data: data, gate: block, gateAt: chunkSize}
	f, _ := m.Start(digest.FromBytes(data), func(ctx context.Context, off int64) (Body, error) {
		b, err := src.open(ctx, off)
		// Make the body respect ctx so the watchdog's cancel ends the read.
		b.R = io.NopCloser(&ctxReader{ctx: ctx, r: b.R})
		return b, err
	}, noCommit)
	defer f.Release()
	if _, err := readAll(context.Background(), f, 0, -1); !errors.Is(err, ErrStalled) {
		t.Fatalf("err = %v, want stalled", err)
	}
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	type res struct {
		b   []byte
		err error
	}
	ch := make(chan res, 1)
	// Read into a buffer of its own: the goroutine may outlive this call,
	// and p (a pooled buffer) belongs to another download by then.
	go func() { b := make([]byte, len(p)); n, err := c.r.Read(b); ch <- res{b[:n], err} }()
	select {
	case r := <-ch:
		return copy(p, r.b), r.err
	case <-c.ctx.Done():
		return 0, c.ctx.Err()
	}
}

// TestWriteToFollowsDownload: io.Copy uses the reader's WriteTo, which
// sends from a file handle of its own (sendfile on a socket) while the
// download is still running, and holds back the last byte until verified.
func TestWriteToFollowsDownload(t *testing.T) {
	m, _ := newManager(t)
	data := randomBytes(t, 3*chunkSize+5)
	d := digest.FromBytes(data)
	src := &source{data: data, gate: make(chan struct{}), gateAt: chunkSize + 1}
	f, _ := m.Start(d, src.open)
	defer f.Release()
	if err := f.Ready(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.NewReader(context.Background(), 0, -1).(io.WriterTo); !ok {
		t.Fatal("a fill reader must implement io.WriterTo")
	}
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	var got bytes.Buffer
	go func() {
		_, err := io.Copy(pw, f.NewReader(context.Background(), 0, -1))
		pw.CloseWithError(err)
		done <- err
	}()
	copied := make(chan struct{})
	go func() { _, _ = io.Copy(&got, pr); close(copied) }()
	// The first chunk arrives while the upstream is still gated.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if time.Now().After(deadline) {
			t.Fatal("no bytes before the transfer ended")
		}
		if n := f.snapshotWritten(); n > 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(src.gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	<-copied
	if !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("WriteTo delivered %d of %d bytes, or wrong ones", got.Len(), len(data))
	}

	// A range through WriteTo.
	var part bytes.Buffer
	if _, err := io.Copy(&part, f.NewReader(context.Background(), 7, 7+chunkSize)); err != nil || !bytes.Equal(part.Bytes(), data[7:7+chunkSize]) {
		t.Fatalf("ranged WriteTo: %v, %d bytes", err, part.Len())
	}
}

func TestWriteToFailsOnMismatch(t *testing.T) {
	m, c := newManager(t)
	data := randomBytes(t, 2*chunkSize)
	f, _ := m.Start(digest.FromBytes(data), (&source{data: data, flip: true}).open)
	defer f.Release()
	var got bytes.Buffer
	_, err := io.Copy(&got, f.NewReader(context.Background(), 0, -1))
	if !errors.Is(err, ErrDigestMismatch) || got.Len() >= len(data) || len(c.paths) != 0 {
		t.Fatalf("err=%v got=%d committed=%d", err, got.Len(), len(c.paths))
	}
}

// snapshotWritten is for tests: how many bytes the download wrote.
func (f *Fill) snapshotWritten() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.written
}

// TestDrainWaitsForCommit: Drain returns only after a running download has
// committed, so a shutdown never leaves a write behind it.
func TestDrainWaitsForCommit(t *testing.T) {
	m, c := newManager(t)
	data := randomBytes(t, 3*chunkSize)
	gate := make(chan struct{})
	src := &source{data: data, gate: gate, gateAt: chunkSize}
	d := digest.FromBytes(data)
	f, _ := m.Start(d, src.open)
	f.Release() // the client went away; the download goes on
	drained := make(chan error, 1)
	go func() { drained <- m.Drain(context.Background()) }()
	select {
	case err := <-drained:
		t.Fatalf("Drain returned (%v) while a download was running", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(gate)
	if err := <-drained; err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !bytes.Equal(c.paths[d], data) {
		t.Fatal("Drain returned before the commit")
	}
}

// TestDrainCancelsOnDeadline: when the shutdown budget runs out, Drain
// cancels the downloads, waits for them to stop, and nothing is committed
// or left in the temporary directory.
func TestDrainCancelsOnDeadline(t *testing.T) {
	dir := t.TempDir()
	m := New(Options{Dir: dir, IdleTimeout: time.Minute})
	var commits atomic.Int32
	commit := func(context.Context, digest.Digest, int64, string) error { commits.Add(1); return nil }
	data := randomBytes(t, 2*chunkSize)
	block := make(chan struct{})
	defer close(block)
	src := &source{data: data, gate: block, gateAt: chunkSize}
	f, _ := m.Start(digest.FromBytes(data), func(ctx context.Context, off int64) (Body, error) {
		b, err := src.open(ctx, off)
		b.R = io.NopCloser(&ctxReader{ctx: ctx, r: b.R})
		return b, err
	}, commit)
	f.Release()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := m.Drain(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Drain = %v, want deadline exceeded", err)
	}
	if m.Active() != 0 || commits.Load() != 0 {
		t.Fatalf("after Drain: %d active, %d commits", m.Active(), commits.Load())
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) != 0 {
		t.Fatalf("temporary files left behind: %v", left)
	}
}
