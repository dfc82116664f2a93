// Package fill downloads blobs into the cache in a way that any number of
// clients can follow while the download is still running.
//
// One Fill exists per digest at a time. The first request starts it; later
// requests join it and read the bytes already written to its temporary file,
// then follow the file as it grows. They never wait for the end. The download
// runs under its own time-bounded context, so a client that goes away does
// not stop it. When the content is complete and verified against its digest
// and size, it is committed (renamed into the store); on any failure every
// follower gets an error and nothing is committed.
//
// To make sure a client never receives a complete-looking body whose digest
// turns out wrong, followers are held back from the last byte until the
// whole blob has been verified (a Content-Length response is only complete
// with its last byte).
//
// When the disk is full, a download is passed through instead of failing:
// see passthrough.go.
package fill

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"
)

// Errors a follower can see.
var (
	// ErrDigestMismatch: the upstream's bytes do not hash to the digest, or
	// their length differs from the announced size.
	ErrDigestMismatch = errors.New("upstream content does not match its digest or size")
	// ErrStalled: the upstream stopped sending for longer than the idle timeout.
	ErrStalled = errors.New("upstream transfer stalled")
)

// Body is an upstream response body as a Fill consumes it.
type Body struct {
	R io.ReadCloser
	// Size is the whole blob's size, or -1 when unknown.
	Size int64
	// Offset is where R starts within the blob.
	Offset int64
	// Resumable: the upstream serves byte ranges, so a broken transfer can
	// be resumed from where it stopped.
	Resumable bool
}

// OpenFunc opens the upstream blob at offset. Offset is 0 for the first
// call and the number of bytes already written for a resume.
type OpenFunc func(ctx context.Context, offset int64) (Body, error)

// CommitFunc makes the verified file at path the cached copy of d. It may
// move or delete the file. It runs before the Fill reports success.
type CommitFunc func(ctx context.Context, d digest.Digest, size int64, path string) error

// Options configures a Manager.
type Options struct {
	// Dir holds temporary files; on the store's filesystem, so a commit is a rename.
	Dir string
	// Timeout bounds a whole download (default 1h).
	Timeout time.Duration
	// IdleTimeout fails a download that receives no byte for this long (default 60s).
	IdleTimeout time.Duration
	Logger      *slog.Logger
}

// Manager runs at most one Fill per digest.
type Manager struct {
	opts Options

	mu    sync.Mutex
	fills map[digest.Digest]*Fill

	waiters atomic.Int64 // followers attached to a running download beyond its first

	// running counts download goroutines (Active, Drain); idle is closed
	// when it drops to zero. base is the parent of every download's
	// context, cancelled when Drain gives up waiting.
	runMu      sync.Mutex
	running    int
	idle       chan struct{}
	base       context.Context
	cancelBase context.CancelFunc

	disk        diskState // whether the disk is full (passthrough.go)
	createTemp  func(dir string) (tempFile, error)
	hashBuffers int // chunks per download (download.go)
}

// New returns a Manager.
func New(opts Options) *Manager {
	if opts.Timeout <= 0 {
		opts.Timeout = time.Hour
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 60 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	m := &Manager{opts: opts, fills: make(map[digest.Digest]*Fill), createTemp: createTempFile, hashBuffers: hashBuffers}
	m.base, m.cancelBase = context.WithCancel(context.Background())
	m.disk.now = time.Now
	return m
}

// Drain waits for every download in progress to finish (commit or fail).
// When ctx ends first, it cancels them and waits for them to stop, so that
// nothing touches the store or the temporary directory once Drain returns;
// a cancelled download commits nothing. It returns ctx's error in that case.
// Downloads started after Drain returned on ctx's end fail at once.
func (m *Manager) Drain(ctx context.Context) error {
	done := m.idleCh()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	m.cancelBase()
	<-done
	return ctx.Err()
}

// idleCh returns a channel closed once no download goroutine runs.
func (m *Manager) idleCh() <-chan struct{} {
	m.runMu.Lock()
	defer m.runMu.Unlock()
	if m.running == 0 {
		c := make(chan struct{})
		close(c)
		return c
	}
	if m.idle == nil {
		m.idle = make(chan struct{})
	}
	return m.idle
}

// spawn runs f's download on its own goroutine, counted for Drain.
func (m *Manager) spawn(f *Fill, open OpenFunc, commit CommitFunc) {
	m.runMu.Lock()
	m.running++
	m.runMu.Unlock()
	go func() {
		defer m.exited()
		f.run(open, commit)
	}()
}

func (m *Manager) exited() {
	m.runMu.Lock()
	defer m.runMu.Unlock()
	m.running--
	if m.running == 0 && m.idle != nil {
		close(m.idle)
		m.idle = nil
	}
}

// Active returns the number of downloads in progress.
func (m *Manager) Active() int64 {
	m.runMu.Lock()
	defer m.runMu.Unlock()
	return int64(m.running)
}

// Waiters returns how many requests are following a download they did not start.
func (m *Manager) Waiters() int64 { return m.waiters.Load() }

// Start returns the Fill for d, starting one with open if none is running;
// commit is called with the verified file of a download this call started.
// joined reports whether an existing download was joined. The caller must
// Release the Fill when done with it (after its readers are closed).
func (m *Manager) Start(d digest.Digest, open OpenFunc, commit CommitFunc) (f *Fill, joined bool) {
	if m.DiskFull() {
		return m.startUncached(d, open, commit), false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if f, ok := m.fills[d]; ok {
		f.refs.Add(1)
		f.joined.Store(true)
		m.waiters.Add(1)
		return f, true
	}
	f = &Fill{
		m:       m,
		digest:  d,
		size:    -1,
		ready:   make(chan struct{}),
		changed: make(chan struct{}),
	}
	f.refs.Store(2) // the caller and the download itself
	m.fills[d] = f
	m.spawn(f, open, commit)
	return f, false
}

// Fill is one download in progress (or just finished).
type Fill struct {
	m      *Manager
	digest digest.Digest
	refs   atomic.Int32
	joined atomic.Bool

	ready chan struct{} // closed once the upstream answered (size known) or failed

	mu      sync.Mutex
	file    tempFile // nil when the disk was full from the start
	started bool     // the upstream answered and the download is under way
	pass    passState
	size    int64 // -1 unknown
	written int64
	// verified: every byte is written and matches the digest. Followers
	// may read to the end from then on, while the download makes the file
	// durable and commits it; a failure after this point affects the cache
	// only, never a follower.
	verified bool
	done     bool
	err      error
	changed  chan struct{} // closed and replaced whenever written/done changes
}

// Ready waits until the upstream has answered. It returns the upstream's
// error (not found, unauthorised, unreachable) if the download could not start.
func (f *Fill) Ready(ctx context.Context) error {
	select {
	case <-f.ready:
	case <-ctx.Done():
		return ctx.Err()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.started {
		return f.err
	}
	return nil
}

// Size returns the blob size once Ready, or -1 if the upstream did not say.
func (f *Fill) Size() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.size
}

// Wait blocks until the download ended and returns its outcome.
func (f *Fill) Wait(ctx context.Context) error {
	for {
		f.mu.Lock()
		done, err, ch := f.done, f.err, f.changed
		f.mu.Unlock()
		if done {
			return err
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Release drops the caller's reference. The temporary file is closed when
// the download and every caller are done with it.
func (f *Fill) Release() {
	if f.joined.Load() {
		// Waiters counts followers, approximately: a release of any joined
		// fill's reference lowers it, bounded at zero.
		for {
			n := f.m.waiters.Load()
			if n <= 0 || f.m.waiters.CompareAndSwap(n, n-1) {
				break
			}
		}
	}
	n := f.refs.Add(-1)
	f.mu.Lock()
	f.pass.wake() // a pass-through download may be waiting for this holder
	if n == 0 && f.file != nil {
		f.file.Close()
	}
	f.mu.Unlock()
}

// NewReader returns a reader of bytes [off, end) of the blob, following the
// download. end < 0 means to the end of the blob. The reader stops with ctx.
func (f *Fill) NewReader(ctx context.Context, off, end int64) io.Reader {
	r := &reader{ctx: ctx, f: f, off: off, end: end}
	f.register(r)
	return r
}

// progress publishes n more bytes to followers.
func (f *Fill) progress(n int64) {
	f.mu.Lock()
	f.written += n
	close(f.changed)
	f.changed = make(chan struct{})
	f.mu.Unlock()
}

// finish records the outcome and wakes every follower.
func (f *Fill) finish(err error) {
	f.mu.Lock()
	f.done = true
	f.err = err
	close(f.changed)
	f.changed = make(chan struct{})
	f.mu.Unlock()
}

// snapshot returns how many bytes followers may read now, and the outcome.
func (f *Fill) snapshot() (avail int64, done bool, err error, ch <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	avail = f.written
	if f.verified {
		return avail, true, nil, f.changed
	}
	if !f.done && f.size > 0 && avail >= f.size {
		// Hold back the last byte until the digest is verified.
		avail = f.size - 1
	}
	return avail, f.done, f.err, f.changed
}

// markVerified lets followers read the whole blob: every byte is written
// and matches the digest.
func (f *Fill) markVerified() {
	f.mu.Lock()
	if f.size < 0 {
		f.size = f.written
	}
	f.verified = true
	close(f.changed)
	f.changed = make(chan struct{})
	f.mu.Unlock()
}

type reader struct {
	ctx      context.Context
	f        *Fill
	off, end int64
	stop     func() bool // unregisters on ctx end (passthrough.go)
	seen     int64       // off as last published, guarded by f.mu
}

// Read implements io.Reader; it also tells a pass-through download how far
// this reader got (passthrough.go).
func (r *reader) Read(p []byte) (int, error) {
	n, err := r.read(p)
	r.f.advanced(r, err)
	return n, err
}

func (r *reader) read(p []byte) (int, error) {
	if r.end >= 0 && r.off >= r.end {
		return 0, io.EOF
	}
	for {
		avail, done, err, ch := r.f.snapshot()
		if done && err != nil {
			return 0, err
		}
		if r.off < avail {
			n := int64(len(p))
			n = min(n, avail-r.off)
			if r.end >= 0 {
				n = min(n, r.end-r.off)
			}
			got, rerr := r.f.readAt(p[:n], r.off)
			r.off += int64(got)
			if got > 0 {
				return got, nil
			}
			if rerr != nil && rerr != io.EOF {
				return 0, rerr
			}
		}
		if done {
			return 0, io.EOF
		}
		select {
		case <-ch:
		case <-r.ctx.Done():
			return 0, r.ctx.Err()
		}
	}
}

// errorf wraps an error with the digest for logs and followers.
func (f *Fill) errorf(format string, args ...any) error {
	return fmt.Errorf("fill %s: "+format, append([]any{f.digest}, args...)...)
}
