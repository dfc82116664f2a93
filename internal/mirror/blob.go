package mirror

import (
	"context"
	"errors"
	"io"
	"os"

	"github.com/opencontainers/go-digest"

	"github.com/regmirror/regmirror/internal/fill"
	"github.com/regmirror/regmirror/internal/meta"
	"github.com/regmirror/regmirror/internal/oci"
	"github.com/regmirror/regmirror/internal/store"
	"github.com/regmirror/regmirror/internal/upstream"
)

// Blob is a blob answer. Exactly one of Content, RedirectURL or an
// in-progress download backs it; Close releases it.
type Blob struct {
	Digest   digest.Digest
	Size     int64 // -1 when the upstream did not say
	Upstream string
	Cache    CacheResult
	// Content is the cached object (an *os.File on the disk store, so it can
	// be sent with sendfile).
	Content io.ReadSeekCloser
	// RedirectURL, when set, is where the client should fetch the object.
	RedirectURL string

	fill *fill.Fill
}

// Reader returns bytes [off, end) of an in-progress download (end < 0: to
// the end). It is valid only when Content and RedirectURL are unset.
func (b *Blob) Reader(ctx context.Context, off, end int64) io.Reader {
	return b.fill.NewReader(ctx, off, end)
}

// Close releases the blob.
func (b *Blob) Close() error {
	if b.fill != nil {
		b.fill.Release()
		return nil
	}
	if b.Content != nil {
		return b.Content.Close()
	}
	return nil
}

// Blob answers GET /v2/<name>/blobs/<digest>: the cached copy, or a
// download in progress (started, or joined if one is already running).
func (m *Mirror) Blob(ctx context.Context, name, ns string, d digest.Digest, redirect bool) (*Blob, error) {
	if err := m.checkAccess(ctx, name, ns); err != nil {
		return nil, err
	}
	if b, ok := m.cachedBlob(ctx, name, ns, d, redirect); ok {
		return b, nil
	}
	t, err := m.blobTarget(ctx, name, ns, d)
	if err != nil {
		return nil, err
	}
	up := m.opts.Upstreams[t.Upstream]
	f, joined := m.fills.Start(d, m.opener(ctx, up, t.Repo, d), m.committer(t))
	if err := f.Ready(ctx); err != nil {
		f.Release()
		m.forgetResolution(ctx, t, err)
		return nil, blobErr(err)
	}
	size := f.Size()
	res := Miss
	if joined {
		res = Coalesced
	}
	return &Blob{Digest: d, Size: size, Upstream: t.Upstream, Cache: res, fill: f}, nil
}

// StatBlob answers HEAD /v2/<name>/blobs/<digest> without downloading.
func (m *Mirror) StatBlob(ctx context.Context, name, ns string, d digest.Digest) (size int64, upstreamName string, res CacheResult, err error) {
	if err := m.checkAccess(ctx, name, ns); err != nil {
		return 0, "", "", err
	}
	if size, err := m.opts.Store.Stat(ctx, d); err == nil {
		m.access.touch(d, m.now())
		return size, m.peekUpstream(ctx, name, ns, d), Hit, nil
	}
	var probed any
	t, probed, err := m.resolve(ctx, name, ns, "b:"+d.String(), headBlob(d))
	if err != nil {
		return 0, "", "", blobErr(err)
	}
	if probed != nil {
		return probed.(int64), t.Upstream, Pass, nil
	}
	size, err = m.opts.Upstreams[t.Upstream].HeadBlob(ctx, t.Repo, d)
	if err != nil {
		m.forgetResolution(ctx, t, err)
		return 0, "", "", blobErr(err)
	}
	return size, t.Upstream, Pass, nil
}

func (m *Mirror) cachedBlob(ctx context.Context, name, ns string, d digest.Digest, redirect bool) (*Blob, bool) {
	if redirect {
		if r, ok := m.opts.Store.(store.Redirector); ok {
			if _, err := m.opts.Store.Stat(ctx, d); err == nil {
				if u, err := r.RedirectURL(ctx, d); err == nil {
					m.access.touch(d, m.now())
					return &Blob{Digest: d, Size: -1, Upstream: m.peekUpstream(ctx, name, ns, d), Cache: Hit, RedirectURL: u}, true
				}
			}
		}
	}
	rc, err := m.opts.Store.Open(ctx, d)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			m.log.Warn("opening cached blob failed; fetching again", "digest", d, "err", err)
		}
		return nil, false
	}
	size, err := rc.Seek(0, io.SeekEnd)
	if err == nil {
		_, err = rc.Seek(0, io.SeekStart)
	}
	if err != nil {
		rc.Close()
		return nil, false
	}
	m.access.touch(d, m.now())
	return &Blob{Digest: d, Size: size, Upstream: m.peekUpstream(ctx, name, ns, d), Cache: Hit, Content: rc}, true
}

// blobTarget routes a blob request. A never-resolved implicit name is
// resolved with HEADs of the blob, under the same search rules as manifests.
func (m *Mirror) blobTarget(ctx context.Context, name, ns string, d digest.Digest) (Target, error) {
	t, _, err := m.resolve(ctx, name, ns, "b:"+d.String(), headBlob(d))
	if err != nil {
		return Target{}, blobErr(err)
	}
	return t, nil
}

func headBlob(d digest.Digest) probeFunc {
	return func(ctx context.Context, up Upstream, repo string) (any, error) {
		return up.HeadBlob(ctx, repo, d)
	}
}

// opener opens the upstream blob for a download. With a Coord, the first
// open (offset 0) may come from the shared store or a peer node instead
// (openShared); a resume (offset > 0) always goes to the upstream with a
// range, so a peer that dies mid-transfer costs only the rest of the blob.
// reqCtx is the request that started the download: a peer's request never
// goes to another peer.
func (m *Mirror) opener(reqCtx context.Context, up Upstream, repo string, d digest.Digest) fill.OpenFunc {
	shared := m.opts.Coord != nil && !isPeerRequest(reqCtx)
	return func(ctx context.Context, off int64) (fill.Body, error) {
		if shared && off == 0 {
			if b, ok := m.openShared(ctx, up, repo, d); ok {
				return b, nil
			}
		}
		b, err := up.GetBlob(ctx, repo, d, off)
		if err != nil {
			return fill.Body{}, err
		}
		// Refuse oversized blobs before downloading them (and bound
		// bodies of unknown length while they arrive).
		if limit := m.maxBlobSize(up.Name()); limit > 0 {
			if b.Size > limit {
				b.Body.Close()
				return fill.Body{}, tooLarge(b.Size, limit)
			}
			b.Body = capBody(b.Body, limit-b.Offset, limit)
		}
		return fill.Body{R: b.Body, Size: b.Size, Offset: b.Offset, Resumable: b.AcceptsRanges}, nil
	}
}

// committer moves a verified download into the store and records it. A
// failure to cache is logged, not passed on: the clients following the
// download have verified bytes either way. When the store already has the
// object (another node sharing it committed first), the upload is skipped.
func (m *Mirror) committer(t Target) fill.CommitFunc {
	return func(ctx context.Context, d digest.Digest, size int64, path string) error {
		if _, err := m.opts.Store.Stat(ctx, d); err == nil {
			os.Remove(path)
			if _, err := m.opts.Meta.GetObject(ctx, d); errors.Is(err, meta.ErrNotFound) {
				now := m.now()
				o := meta.Object{Digest: d, Size: size, Upstream: t.Upstream, Repo: t.Repo, Created: now, Accessed: now}
				if err := m.opts.Meta.PutObject(ctx, o); err != nil {
					m.log.Warn("recording blob failed", "digest", d, "err", err)
				}
			}
			return nil
		}
		var err error
		if fi, ok := m.opts.Store.(store.FileImporter); ok {
			err = fi.Import(ctx, d, size, path)
		} else {
			err = putFile(ctx, m.opts.Store, d, size, path)
		}
		if err != nil {
			os.Remove(path)
			m.cacheWriteFailed(err)
			return nil
		}
		now := m.now()
		o := meta.Object{Digest: d, Size: size, Upstream: t.Upstream, Repo: t.Repo, Created: now, Accessed: now}
		if err := m.opts.Meta.PutObject(ctx, o); err != nil {
			m.log.Warn("recording blob failed", "digest", d, "err", err)
		}
		return nil
	}
}

func putFile(ctx context.Context, s store.Store, d digest.Digest, size int64, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer os.Remove(path)
	defer f.Close()
	return s.Put(ctx, d, size, f)
}

// cacheWriteFailed logs a failed cache write.
func (m *Mirror) cacheWriteFailed(err error) {
	m.log.Warn("caching blob failed; served without caching", "err", err)
}

// blobErr turns an upstream not-found into BLOB_UNKNOWN and a verification
// failure into a 502 naming the problem.
func blobErr(err error) error {
	switch {
	case upstream.IsNotFound(err):
		return &oci.Error{Code: oci.CodeBlobUnknown, Message: "blob unknown", Err: err}
	case fill.IsDigestMismatch(err):
		return &oci.Error{Code: oci.CodeUnavailable, Message: "upstream sent content that does not match the digest", Err: err}
	}
	return err
}
