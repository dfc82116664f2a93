package fill

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// fullFile is a temporary file on a disk that fills up after room bytes.
type fullFile struct {
	*os.File
	room     int64
	failSync bool
	written  int64
}

func (f *fullFile) Write(b []byte) (int, error) {
	if f.written+int64(len(b)) > f.room {
		n := int(f.room - f.written)
		n, _ = f.File.Write(b[:n])
		f.written += int64(n)
		return n, &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
	}
	n, err := f.File.Write(b)
	f.written += int64(n)
	return n, err
}

func (f *fullFile) Sync() error {
	if f.failSync {
		return &os.PathError{Op: "sync", Path: f.Name(), Err: syscall.ENOSPC}
	}
	return f.File.Sync()
}

// countHandler counts log records by message.
type countHandler struct {
	mu   sync.Mutex
	msgs map[string]int
}

func (h *countHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.msgs[r.Message]++
	h.mu.Unlock()
	return nil
}
func (h *countHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countHandler) WithGroup(string) slog.Handler      { return h }
func (h *countHandler) count(msg string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.msgs[msg]
}

// fullDisk is a Manager whose temporary files fill up after room bytes (or
// cannot be created when room < 0), with a settable clock and counted logs.
type fullDisk struct {
	*testManager
	commits *committed
	logs    *countHandler
	clock   atomic.Int64 // unix nanoseconds
}

func newFullDisk(t *testing.T, room int64, failSync bool) *fullDisk {
	t.Helper()
	m, c := newManager(t)
	fd := &fullDisk{testManager: m, commits: c, logs: &countHandler{msgs: map[string]int{}}}
	fd.clock.Store(time.Unix(1000, 0).UnixNano())
	m.opts.Logger = slog.New(fd.logs)
	m.disk.now = func() time.Time { return time.Unix(0, fd.clock.Load()) }
	m.createTemp = func(dir string) (tempFile, error) {
		if room < 0 {
			return nil, &os.PathError{Op: "open", Path: dir, Err: syscall.ENOSPC}
		}
		f, err := os.CreateTemp(dir, "fill-*")
		if err != nil {
			return nil, err
		}
		return &fullFile{File: f, room: room, failSync: failSync}, nil
	}
	return fd
}

func (fd *fullDisk) advance(d time.Duration) { fd.clock.Add(int64(d)) }

// follow starts (or joins) a download of src and reads it from offset 0,
// slowly when delay > 0.
func follow(m *fullDisk, d digest.Digest, src *source, delay time.Duration) ([]byte, error) {
	f, _ := m.Start(d, src.open)
	defer f.Release()
	if err := f.Ready(context.Background()); err != nil {
		return nil, err
	}
	r := f.NewReader(context.Background(), 0, -1)
	var out bytes.Buffer
	buf := make([]byte, 64<<10)
	for {
		n, err := r.Read(buf)
		out.Write(buf[:n])
		if err == io.EOF {
			// The reader ends once the bytes are verified; let the
			// download finish (commit or not) before looking at it.
			return out.Bytes(), f.Wait(context.Background())
		}
		if err != nil {
			return out.Bytes(), err
		}
		time.Sleep(delay)
	}
}

func TestDiskFullPassesThrough(t *testing.T) {
	cases := []struct {
		name     string
		room     int64 // bytes the disk takes; <0: no file can be created
		failSync bool
		size     int
		slow     bool
	}{
		{"fills mid-download", chunkSize + 1000, false, 5 * chunkSize, false},
		{"full from the start", -1, false, 3*chunkSize + 7, false},
		{"sync fails", 1 << 30, true, 2 * chunkSize, false},
		{"slow follower sets the pace", chunkSize, false, tailMax + 6*chunkSize, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := newFullDisk(t, tc.room, tc.failSync)
			data := randomBytes(t, tc.size)
			d := digest.FromBytes(data)
			src := &source{data: data, gate: make(chan struct{}), gateAt: chunkSize / 2}

			const n = 3
			var wg sync.WaitGroup
			got := make([][]byte, n)
			errs := make([]error, n)
			for i := range n {
				delay := time.Duration(0)
				if tc.slow && i == 0 {
					delay = time.Millisecond
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					got[i], errs[i] = follow(m, d, src, delay)
				}()
			}
			time.Sleep(50 * time.Millisecond) // let them join before the disk fills
			close(src.gate)
			wg.Wait()
			for i := range n {
				if errs[i] != nil || !bytes.Equal(got[i], data) {
					t.Fatalf("follower %d: err=%v, got %d of %d bytes (equal=%v)", i, errs[i], len(got[i]), len(data), bytes.Equal(got[i], data))
				}
			}
			if len(m.commits.paths) != 0 {
				t.Error("content was committed from a full disk")
			}
			if !m.DiskFull() {
				t.Error("DiskFull() = false after ENOSPC")
			}
			if c := m.logs.count("disk full: serving blobs without caching them"); c != 1 {
				t.Errorf("full disk logged %d times, want 1", c)
			}
		})
	}
}

func TestDiskFullNoCoalescingThenRecovers(t *testing.T) {
	m := newFullDisk(t, 0, false)
	data := randomBytes(t, chunkSize+3)
	d := digest.FromBytes(data)

	// The first download finds the disk full.
	if got, err := follow(m, d, &source{data: data}, 0); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("first: err=%v", err)
	}
	// Within fullRetry, downloads skip the disk and are not shared.
	src := &source{data: data, gate: make(chan struct{}), gateAt: 10}
	f1, _ := m.Start(d, src.open)
	f2, joined := m.Start(d, src.open)
	if joined {
		t.Error("a pass-through download was joined")
	}
	close(src.gate)
	for _, f := range []*Fill{f1, f2} {
		if got, err := readAll(context.Background(), f, 0, -1); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("pass-through: err=%v", err)
		}
		f.Release()
	}
	if src.opens.Load() != 2 {
		t.Errorf("upstream opened %d times, want 2", src.opens.Load())
	}
	// Another ENOSPC within the minute is not logged again.
	m.advance(30 * time.Second)
	m.ClearDiskFull()
	if _, err := follow(m, d, &source{data: data}, 0); err != nil {
		t.Fatal(err)
	}
	if c := m.logs.count("disk full: serving blobs without caching them"); c != 1 {
		t.Errorf("logged %d times within a minute, want 1", c)
	}
	m.advance(2 * time.Minute)
	if m.DiskFull() {
		t.Fatal("disk still counted full after fullRetry")
	}
	// Space is back: the next download caches.
	m.createTemp = createTempFile
	if _, err := follow(m, d, &source{data: data}, 0); err != nil {
		t.Fatal(err)
	}
	m.commits.mu.Lock()
	ok := bytes.Equal(m.commits.paths[d], data)
	m.commits.mu.Unlock()
	if !ok {
		t.Error("not cached once the disk had room again")
	}
	if c := m.logs.count("disk has space again: caching blobs"); c != 1 {
		t.Errorf("recovery logged %d times, want 1", c)
	}
}

func TestDiskFullAbandonedDownloadStops(t *testing.T) {
	m := newFullDisk(t, -1, false)
	data := randomBytes(t, tailMax+4*chunkSize)
	d := digest.FromBytes(data)
	f, _ := m.Start(d, (&source{data: data}).open)
	if err := f.Ready(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Open a reader, read a little, and leave.
	ctx, cancel := context.WithCancel(context.Background())
	if _, err := io.ReadFull(f.NewReader(ctx, 0, -1), make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	cancel()
	f.Release()
	done := make(chan error, 1)
	go func() { done <- f.Wait(context.Background()) }()
	select {
	case err := <-done:
		if !errors.Is(err, errAbandoned) {
			t.Fatalf("err = %v, want abandoned", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("an abandoned pass-through download kept running")
	}
}

func TestIsNoSpace(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&os.PathError{Err: syscall.ENOSPC}, true},
		{fmt.Errorf("x: %w", syscall.EDQUOT), true},
		{syscall.EIO, false},
		{nil, false},
	} {
		if got := IsNoSpace(tc.err); got != tc.want {
			t.Errorf("IsNoSpace(%v) = %v", tc.err, got)
		}
	}
}
