package s3

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/minio/minio-go/v7"
)

// object is what Open returns: a seekable reader of one object. It holds
// one open GET body at a time; a Read at another position than the body's
// closes it and opens a ranged GET from there. Seeking itself makes no
// request, so http.ServeContent's seek-to-end-and-back costs nothing.
type object struct {
	ctx  context.Context // the Open call's: the reader lives within it
	s    *Store
	key  string
	size int64

	pos     int64         // position of the next Read
	body    io.ReadCloser // nil, or a body positioned at bodyPos
	bodyPos int64
	closed  bool
}

// Read implements io.Reader.
func (o *object) Read(p []byte) (int, error) {
	if o.closed {
		return 0, errors.New("s3 store: read of a closed object")
	}
	if o.pos >= o.size {
		return 0, io.EOF
	}
	if o.body == nil || o.bodyPos != o.pos {
		if err := o.reopen(); err != nil {
			return 0, err
		}
	}
	if left := o.size - o.pos; int64(len(p)) > left {
		p = p[:left]
	}
	n, err := o.body.Read(p)
	o.pos += int64(n)
	o.bodyPos += int64(n)
	if err == io.EOF && o.pos < o.size {
		err = fmt.Errorf("%s: body ended at %d of %d bytes: %w", o.key, o.pos, o.size, io.ErrUnexpectedEOF)
	}
	if err == io.EOF {
		err = nil // the caller sees io.EOF on its next Read, at o.size
	}
	return n, err
}

// reopen replaces the body with a ranged GET from pos.
func (o *object) reopen() error {
	if o.body != nil {
		o.body.Close()
		o.body = nil
	}
	opts := minio.GetObjectOptions{}
	if o.pos > 0 {
		if err := opts.SetRange(o.pos, 0); err != nil {
			return err
		}
	}
	body, _, _, err := o.s.core.GetObject(o.ctx, o.s.bucket, o.key, opts)
	if err != nil {
		return fmt.Errorf("%s at %d: %w", o.key, o.pos, err)
	}
	o.body, o.bodyPos = body, o.pos
	return nil
}

// Seek implements io.Seeker. Positions past the end are allowed; reading
// there returns io.EOF.
func (o *object) Seek(offset int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = o.pos + offset
	case io.SeekEnd:
		abs = o.size + offset
	default:
		return 0, fmt.Errorf("s3 store: seek: invalid whence %d", whence)
	}
	if abs < 0 {
		return 0, fmt.Errorf("s3 store: seek to negative position %d", abs)
	}
	o.pos = abs
	return abs, nil
}

// Close implements io.Closer.
func (o *object) Close() error {
	o.closed = true
	if o.body == nil {
		return nil
	}
	err := o.body.Close()
	o.body = nil
	return err
}
