package fill

// Full disk.
//
// When the temporary file cannot be created or written because the
// filesystem is full (ENOSPC, or EDQUOT for a quota), the download does not
// fail. It goes on in pass-through mode: the bytes already in the file stay
// readable there, and the rest passes through a small in-memory window
// (tailMax) that the download only advances once every follower has read past
// its start, so the slowest follower sets the pace. The content is still
// verified (followers never see the last byte of a wrong blob), but it is not
// committed. At the switch the Fill leaves the Manager's map: later requests
// start downloads of their own.
//
// The Manager remembers the full disk for fullRetry. Downloads started in
// that time skip the disk and pass through from the first byte, one upstream
// transfer per request (no coalescing: a later request could not read bytes
// the window already dropped). After fullRetry, or after ClearDiskFull
// (eviction freed space), the next download tries the disk again. A full
// disk is logged at most once per logEvery, and the return to caching once.

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/opencontainers/go-digest"
)

const (
	// fullRetry is how long downloads skip a disk found full.
	fullRetry = time.Minute
	// logEvery bounds how often a full disk is logged.
	logEvery = time.Minute
	// tailMax bounds the memory of one pass-through download.
	tailMax = 16 * chunkSize
)

// Errors of pass-through downloads.
var (
	errFellBehind = errors.New("reader fell behind a pass-through download")
	errAbandoned  = errors.New("disk full and no client left to pass the download to")
)

// IsNoSpace reports whether err says the filesystem is full (ENOSPC) or a
// disk quota is exhausted (EDQUOT).
func IsNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// tempFile is what a Fill needs of its temporary file: an *os.File, or a
// test's file that fails on demand.
type tempFile interface {
	io.Writer
	io.ReaderAt
	Sync() error
	Close() error
	Name() string
}

func createTempFile(dir string) (tempFile, error) {
	f, err := os.CreateTemp(dir, "fill-*")
	if err != nil {
		return nil, err // an untyped nil: callers compare the interface with nil
	}
	return f, nil
}

// diskState remembers a full disk.
type diskState struct {
	now func() time.Time

	mu      sync.Mutex
	until   time.Time // the disk counts as full until then
	logged  time.Time // last warning
	episode bool      // a full disk was reported and nothing was cached since
}

// DiskFull reports whether downloads are passed through without caching
// because the disk was found full less than a minute ago.
func (m *Manager) DiskFull() bool {
	m.disk.mu.Lock()
	defer m.disk.mu.Unlock()
	return m.disk.now().Before(m.disk.until)
}

// ClearDiskFull forgets a full disk, so that the next download tries to
// cache again. Call it after freeing space (eviction).
func (m *Manager) ClearDiskFull() {
	m.disk.mu.Lock()
	m.disk.until = time.Time{}
	m.disk.mu.Unlock()
}

// noSpace records a full disk and logs it, at most once per logEvery.
func (m *Manager) noSpace(err error) {
	d := &m.disk
	d.mu.Lock()
	now := d.now()
	d.until = now.Add(fullRetry)
	d.episode = true
	warn := d.logged.IsZero() || now.Sub(d.logged) >= logEvery
	if warn {
		d.logged = now
	}
	d.mu.Unlock()
	if warn {
		m.opts.Logger.Warn("disk full: serving blobs without caching them", "dir", m.opts.Dir, "retry_in", fullRetry.String(), "err", err)
	}
}

// cachedAgain notes a successful commit, logging the end of a full-disk
// episode.
func (m *Manager) cachedAgain() {
	d := &m.disk
	d.mu.Lock()
	was := d.episode
	d.episode = false
	d.mu.Unlock()
	if was {
		m.opts.Logger.Info("disk has space again: caching blobs")
	}
}

// startUncached starts a download that passes through from its first byte,
// outside the map (nobody joins it).
func (m *Manager) startUncached(d digest.Digest, open OpenFunc, commit CommitFunc) *Fill {
	f := &Fill{m: m, digest: d, size: -1, ready: make(chan struct{}), changed: make(chan struct{})}
	f.pass.on = true
	f.refs.Store(2) // the caller and the download itself
	m.spawn(f, open, commit)
	return f
}

// detach removes f from the map if it is still there.
func (m *Manager) detach(f *Fill) {
	m.mu.Lock()
	if m.fills[f.digest] == f {
		delete(m.fills, f.digest)
	}
	m.mu.Unlock()
}

// passState is a Fill's pass-through window and its readers, guarded by the
// Fill's mu.
type passState struct {
	on      bool  // nothing will be committed; bytes past fileLen are in chunks
	fileLen int64 // bytes of the blob in the file
	start   int64 // blob offset of chunks[0]
	chunks  [][]byte
	held    int64 // bytes in chunks

	readers map[*reader]struct{} // open readers, and how far each got (seen)
	drained chan struct{}        // closed when a reader advances or leaves
}

// wake tells a waiting download that a reader moved or left.
func (p *passState) wake() {
	if p.drained != nil {
		close(p.drained)
		p.drained = nil
	}
}

func (p *passState) waitCh() <-chan struct{} {
	if p.drained == nil {
		p.drained = make(chan struct{})
	}
	return p.drained
}

// drop releases the chunks every reader has passed. Nothing is dropped
// while a holder of the Fill has no open reader: it may still open one at
// any offset.
func (p *passState) drop(holders int) {
	if len(p.readers) < holders {
		return
	}
	low := int64(math.MaxInt64)
	for r := range p.readers {
		low = min(low, r.seen)
	}
	for len(p.chunks) > 0 && p.start+int64(len(p.chunks[0])) <= low {
		n := int64(len(p.chunks[0]))
		p.chunks[0] = nil
		p.chunks = p.chunks[1:]
		p.start += n
		p.held -= n
	}
}

// copyAt copies window bytes at off into b.
func (p *passState) copyAt(b []byte, off int64) (int, error) {
	if off < p.start {
		return 0, errFellBehind
	}
	pos := p.start
	for _, c := range p.chunks {
		end := pos + int64(len(c))
		if off < end {
			return copy(b, c[off-pos:]), nil
		}
		pos = end
	}
	return 0, nil
}

// uncached reports whether the download passes through.
func (f *Fill) uncached() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pass.on
}

// passThrough switches the download to pass-through after err (a full disk).
func (f *Fill) passThrough(err error) {
	f.mu.Lock()
	f.pass.on = true
	f.pass.fileLen = f.written
	f.pass.start = f.written
	f.mu.Unlock()
	f.m.detach(f)
	f.m.noSpace(err)
}

// write appends b to the blob: to the file, or once the disk is full, to
// the pass-through window. Waiting for slow readers does not count as a
// stalled upstream.
func (f *Fill) write(ctx context.Context, b []byte, watchdog *time.Timer) error {
	if !f.uncached() {
		_, err := f.file.Write(b)
		if err == nil {
			return nil
		}
		if !IsNoSpace(err) {
			return f.errorf("write: %w", err)
		}
		// Bytes of b the file took before failing are ignored: fileLen
		// ends before b.
		f.passThrough(err)
	}
	watchdog.Stop()
	defer watchdog.Reset(f.m.opts.IdleTimeout)
	return f.buffer(ctx, b)
}

// buffer appends b to the window, waiting while the window is full.
func (f *Fill) buffer(ctx context.Context, b []byte) error {
	for {
		holders := int(f.refs.Load()) - 1 // the download holds one reference
		if holders <= 0 {
			return f.errorf("%w", errAbandoned)
		}
		f.mu.Lock()
		p := &f.pass
		p.drop(holders)
		if p.held == 0 || p.held+int64(len(b)) <= tailMax {
			p.chunks = append(p.chunks, bytes.Clone(b))
			p.held += int64(len(b))
			f.mu.Unlock()
			return nil
		}
		ch := p.waitCh()
		f.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return f.errorf("waiting for clients to read: %w", ctx.Err())
		}
	}
}

// sync makes the file durable before commit. A full disk at this point
// still lets the followers have their (verified) bytes from the file.
func (f *Fill) sync() error {
	if f.uncached() {
		return nil
	}
	err := f.file.Sync()
	if err == nil {
		return nil
	}
	if IsNoSpace(err) {
		f.passThrough(err)
		return nil
	}
	return f.errorf("sync: %w", err)
}

// readAt reads blob bytes at off: from the file, or from the window.
func (f *Fill) readAt(b []byte, off int64) (int, error) {
	f.mu.Lock()
	if f.pass.on && off >= f.pass.fileLen {
		n, err := f.pass.copyAt(b, off)
		f.mu.Unlock()
		return n, err
	}
	if f.pass.on {
		b = b[:min(int64(len(b)), f.pass.fileLen-off)]
	}
	file := f.file
	f.mu.Unlock()
	return file.ReadAt(b, off)
}

// register adds r to the readers a pass-through download waits for, until
// it reads to its end, fails, or its context ends.
func (f *Fill) register(r *reader) {
	f.mu.Lock()
	if f.pass.readers == nil {
		f.pass.readers = make(map[*reader]struct{})
	}
	r.seen = r.off
	f.pass.readers[r] = struct{}{}
	f.mu.Unlock()
	r.stop = context.AfterFunc(r.ctx, func() { f.unregister(r) })
}

func (f *Fill) unregister(r *reader) {
	f.mu.Lock()
	delete(f.pass.readers, r)
	f.pass.wake()
	f.mu.Unlock()
}

// advanced publishes how far r got, after a Read that returned err.
func (f *Fill) advanced(r *reader, err error) {
	if err != nil {
		r.stop()
		f.unregister(r)
		return
	}
	f.mu.Lock()
	r.seen = r.off
	if f.pass.on {
		f.pass.wake()
	}
	f.mu.Unlock()
}
