package fill

import (
	"io"
	"os"
)

// WriteTo implements io.WriterTo. The bytes already downloaded go to w
// straight from the temporary file, through a file handle of this reader's
// own, in io.LimitedReader chunks: the shape net/http's response unwraps to
// send a file with sendfile(2), so a follower's bytes never pass through
// user space. When no such handle can be had (the file was already
// renamed into the store, or a full disk put the download in pass-through
// mode, where the tail lives in memory), it falls back to Read.
func (r *reader) WriteTo(w io.Writer) (total int64, err error) {
	src := r.f.openCopy()
	if src == nil {
		return io.Copy(w, readOnly{r})
	}
	defer src.Close()
	defer func() {
		if err == nil {
			r.f.advanced(r, io.EOF) // done: leave the pass-through bookkeeping
		}
	}()
	for {
		if r.end >= 0 && r.off >= r.end {
			return total, nil
		}
		avail, done, ferr, ch := r.f.snapshot()
		if done && ferr != nil {
			r.f.advanced(r, ferr)
			return total, ferr
		}
		if r.f.passing() {
			n, err := io.Copy(w, readOnly{r})
			return total + n, err
		}
		if r.off < avail {
			n := avail - r.off
			if r.end >= 0 {
				n = min(n, r.end-r.off)
			}
			if _, err := src.Seek(r.off, io.SeekStart); err != nil {
				r.f.advanced(r, err)
				return total, err
			}
			m, err := io.CopyN(w, src, n)
			r.off += m
			total += m
			if err != nil {
				r.f.advanced(r, err)
				return total, err
			}
			r.f.advanced(r, nil)
			continue
		}
		if done {
			return total, nil
		}
		select {
		case <-ch:
		case <-r.ctx.Done():
			r.f.advanced(r, r.ctx.Err())
			return total, r.ctx.Err()
		}
	}
}

// openCopy opens the download's temporary file again, for one follower, or
// returns nil.
func (f *Fill) openCopy() *os.File {
	f.mu.Lock()
	file, pass := f.file, f.pass.on
	f.mu.Unlock()
	of, ok := file.(*os.File)
	if !ok || pass {
		return nil
	}
	c, err := os.Open(of.Name())
	if err != nil {
		return nil // renamed into the store meanwhile: read through the shared handle
	}
	return c
}

// passing reports whether the download went to pass-through mode.
func (f *Fill) passing() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pass.on
}

// readOnly hides WriteTo, so io.Copy falls back to Read.
type readOnly struct{ r *reader }

func (o readOnly) Read(p []byte) (int, error) { return o.r.Read(p) }
