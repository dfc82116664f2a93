package fill

import (
	"context"
	"errors"
	"io"
	"os"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
)

// chunkSize is how much is written to the file before followers are woken.
// Small enough for a quick first byte, large enough to keep wake-ups rare.
const chunkSize = 256 << 10

// hashBuffers is how many chunks a download has: one being read from the
// upstream and written to the file while the others wait to be hashed.
// With 1 the download and the hashing take turns (a benchmark compares).
const hashBuffers = 3

var bufPool = sync.Pool{New: func() any { b := make([]byte, chunkSize); return &b }}

// hasher computes a download's digest on a goroutine of its own, so that
// hashing one chunk overlaps reading and writing the next: on a fast
// upstream the download is bound by the slower of the two, not their sum.
// Chunks go round between the download (buffer, write) and the hasher in
// order, n of them.
type hasher struct {
	d      digest.Digest
	free   chan *[]byte
	queue  chan []byte
	done   chan struct{}
	sum    []byte
	closed bool
}

func startHasher(d digest.Digest, n int) *hasher {
	h := &hasher{d: d, free: make(chan *[]byte, n), queue: make(chan []byte, n), done: make(chan struct{})}
	for range n {
		h.free <- bufPool.Get().(*[]byte)
	}
	go func() {
		defer close(h.done)
		w := d.Algorithm().Hash()
		for b := range h.queue {
			w.Write(b)
			b = b[:cap(b)]
			h.free <- &b
		}
		h.sum = w.Sum(nil)
	}()
	return h
}

// buffer returns a free chunk, waiting for the hasher if none is.
func (h *hasher) buffer() []byte { return *<-h.free }

// write queues b, a chunk from buffer, for hashing (b may be empty).
func (h *hasher) write(b []byte) { h.queue <- b }

// stop ends the hasher and returns its chunks to the pool; idempotent.
// Only the download's goroutine calls it.
func (h *hasher) stop() {
	if h.closed {
		return
	}
	h.closed = true
	close(h.queue)
	<-h.done
	// A chunk the download held when it failed is left to the collector.
	for {
		select {
		case b := <-h.free:
			bufPool.Put(b)
		default:
			return
		}
	}
}

// matches reports whether everything written hashes to the digest.
func (h *hasher) matches() bool {
	h.stop()
	return h.d.Algorithm().Encode(h.sum) == h.d.Encoded()
}

// run performs the download: open upstream, write to a temporary file while
// hashing, resume once on a broken transfer when the upstream serves ranges,
// verify, commit, and publish the outcome.
func (f *Fill) run(open OpenFunc, commit CommitFunc) {
	m := f.m
	ctx, cancel := context.WithTimeout(m.base, m.opts.Timeout)
	defer cancel()

	err := f.download(ctx, cancel, open)
	uncached := f.uncached()
	if err == nil && !uncached {
		err = commit(ctx, f.digest, f.written, f.file.Name())
		if err != nil {
			err = f.errorf("commit: %w", err)
		} else {
			m.cachedAgain()
		}
	}
	if (err != nil || uncached) && f.file != nil {
		os.Remove(f.file.Name())
	}
	if err != nil {
		m.opts.Logger.Warn("blob download failed", "digest", f.digest, "written", f.written, "err", err)
	}

	// Leave the map before waking followers: a request that arrives after
	// this point finds the committed object in the store (or starts afresh).
	m.detach(f)

	select {
	case <-f.ready:
	default:
		f.mu.Lock()
		f.err = err
		f.mu.Unlock()
		close(f.ready)
	}
	f.finish(err)
	f.Release()
}

func (f *Fill) download(ctx context.Context, cancel context.CancelFunc, open OpenFunc) error {
	body, err := open(ctx, 0)
	if err != nil {
		return err
	}
	var file tempFile
	if !f.uncached() {
		file, err = f.m.createTemp(f.m.opts.Dir)
		if IsNoSpace(err) {
			f.passThrough(err)
		} else if err != nil {
			body.R.Close()
			return f.errorf("create temporary file: %w", err)
		}
	}
	f.mu.Lock()
	f.file = file
	f.size = body.Size
	f.started = true
	f.mu.Unlock()
	close(f.ready)

	// A watchdog fails the transfer when no byte arrives for IdleTimeout.
	var stalled bool
	var smu sync.Mutex
	watchdog := time.AfterFunc(f.m.opts.IdleTimeout, func() {
		smu.Lock()
		stalled = true
		smu.Unlock()
		cancel()
	})
	defer watchdog.Stop()

	hash := startHasher(f.digest, f.m.hashBuffers)
	defer hash.stop()
	resumed := false
	for {
		buf := hash.buffer()
		n, rerr := io.ReadFull(body.R, buf)
		if n > 0 {
			watchdog.Reset(f.m.opts.IdleTimeout)
			if f.size >= 0 && f.written+int64(n) > f.size {
				body.R.Close()
				return f.errorf("upstream sent more than %d bytes: %w", f.size, ErrDigestMismatch)
			}
			if werr := f.write(ctx, buf[:n], watchdog); werr != nil {
				body.R.Close()
				return werr
			}
			f.progress(int64(n))
		}
		hash.write(buf[:n]) // hands buf over
		if rerr == nil {
			continue
		}
		body.R.Close()
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			if f.size < 0 || f.written == f.size {
				break
			}
			rerr = io.ErrUnexpectedEOF
		}
		smu.Lock()
		isStall := stalled
		smu.Unlock()
		if isStall {
			return f.errorf("after %d bytes: %w", f.written, ErrStalled)
		}
		// A broken transfer: resume once from where it stopped, if we can.
		if resumed || !body.Resumable || f.written == 0 || ctx.Err() != nil {
			return f.errorf("after %d bytes: %w", f.written, rerr)
		}
		resumed = true
		f.m.opts.Logger.Info("resuming broken blob download", "digest", f.digest, "offset", f.written, "err", rerr)
		next, err := open(ctx, f.written)
		if err != nil {
			return f.errorf("resume at %d: %w", f.written, err)
		}
		if next.Offset != f.written {
			next.R.Close()
			return f.errorf("resume at %d: upstream answered from offset %d", f.written, next.Offset)
		}
		body = next
	}

	if f.size >= 0 && f.written != f.size {
		return f.errorf("got %d of %d bytes: %w", f.written, f.size, ErrDigestMismatch)
	}
	if !hash.matches() {
		return f.errorf("%w", ErrDigestMismatch)
	}
	// The bytes are right: followers may have the last one now, and need
	// not wait for the disk. The cache gets the file only once it is durable.
	f.markVerified()
	return f.sync()
}

// IsDigestMismatch reports whether err is a verification failure.
func IsDigestMismatch(err error) bool { return errors.Is(err, ErrDigestMismatch) }
