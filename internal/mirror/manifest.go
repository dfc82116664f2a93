package mirror

import (
	"bytes"
	"context"
	"errors"
	"io"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/regmirror/regmirror/internal/meta"
	"github.com/regmirror/regmirror/internal/oci"
	"github.com/regmirror/regmirror/internal/upstream"
)

// fetchTimeout bounds a shared manifest or tag exchange with an upstream.
const fetchTimeout = 2 * time.Minute

// Manifest is a manifest answer: the exact upstream bytes.
type Manifest struct {
	Body      []byte
	MediaType string
	Digest    digest.Digest
	Upstream  string
	Cache     CacheResult
}

// Manifest answers GET/HEAD /v2/<name>/manifests/<ref>.
func (m *Mirror) Manifest(ctx context.Context, name, ns, ref string) (*Manifest, error) {
	if oci.IsDigest(ref) {
		d, err := oci.ParseDigest(ref)
		if err != nil {
			return nil, err
		}
		return m.manifestByDigest(ctx, name, ns, d)
	}
	if !oci.ValidTag(ref) {
		return nil, oci.NewError(oci.CodeManifestInvalid, "invalid tag %q", truncate(ref))
	}
	return m.manifestByTag(ctx, name, ns, ref)
}

func (m *Mirror) manifestByDigest(ctx context.Context, name, ns string, d digest.Digest) (*Manifest, error) {
	if err := m.checkAccess(ctx, name, ns); err != nil {
		return nil, err
	}
	if mf, ok := m.cachedManifest(ctx, d); ok {
		mf.Upstream = m.peekUpstream(ctx, name, ns, d)
		mf.Cache = Hit
		m.access.touch(d, m.now())
		return mf, nil
	}
	fetch := func(ctx context.Context, up Upstream, repo string) (any, error) {
		return up.GetManifest(ctx, repo, d.String())
	}
	t, v, err := m.resolve(ctx, name, ns, "m:"+d.String(), fetch)
	if err != nil {
		return nil, manifestErr(err)
	}
	up := m.opts.Upstreams[t.Upstream]
	if v == nil {
		v, err, _ = m.flight.Do("manifest\x00"+d.String(), func() (any, error) {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
			defer cancel()
			return fetch(ctx, up, t.Repo)
		})
		if err != nil {
			m.forgetResolution(ctx, t, err)
			return nil, manifestErr(err)
		}
	}
	um := v.(*upstream.Manifest)
	m.saveManifest(ctx, t, um)
	return &Manifest{Body: um.Body, MediaType: um.MediaType, Digest: um.Digest, Upstream: t.Upstream, Cache: Miss}, nil
}

func (m *Mirror) manifestByTag(ctx context.Context, name, ns, tag string) (*Manifest, error) {
	fetch := func(ctx context.Context, up Upstream, repo string) (any, error) {
		return up.GetManifest(ctx, repo, tag)
	}
	t, v, err := m.resolve(ctx, name, ns, "m:"+tag, fetch)
	if err != nil {
		return nil, manifestErr(err)
	}
	key := meta.TagKey{Upstream: t.Upstream, Repo: t.Repo, Tag: tag}
	if v != nil { // the implicit search just fetched it
		return m.storeTagAnswer(ctx, t, key, v.(*upstream.Manifest)), nil
	}

	entry, ok := m.cachedTag(ctx, key)
	if now := m.now(); ok && now.Sub(entry.CheckedAt) < m.opts.TagTTL {
		if mf, found := m.cachedManifest(ctx, entry.Digest); found {
			mf.Upstream, mf.Cache = t.Upstream, Hit
			m.access.touch(entry.Digest, now)
			return mf, nil
		}
	}
	up := m.opts.Upstreams[t.Upstream]
	flightKey := "tag\x00" + t.Upstream + "\x00" + t.Repo + "\x00" + tag
	v, err, _ = m.flight.Do(flightKey, func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
		defer cancel()
		if ok {
			return m.revalidate(ctx, t, up, key, entry)
		}
		um, err := up.GetManifest(ctx, t.Repo, tag)
		if err != nil {
			return nil, err
		}
		return m.storeTagAnswer(ctx, t, key, um), nil
	})
	if err == nil {
		mf := *v.(*Manifest) // a copy: the shared answer is read by several callers
		return &mf, nil
	}
	if ok && !upstream.IsNotFound(err) && !isClientGone(ctx, err) {
		if mf, found := m.cachedManifest(ctx, entry.Digest); found {
			m.log.Warn("upstream failed; serving stale tag", "upstream", t.Upstream, "repo", t.Repo, "tag", tag, "err", err)
			mf.Upstream, mf.Cache = t.Upstream, Stale
			return mf, nil
		}
	}
	m.forgetResolution(ctx, t, err)
	return nil, manifestErr(err)
}

// revalidate asks the upstream (HEAD) whether a cached tag still points at
// the same digest, and refetches only if it moved. A definite not-found
// removes the tag.
func (m *Mirror) revalidate(ctx context.Context, t Target, up Upstream, key meta.TagKey, entry meta.Tag) (*Manifest, error) {
	head, err := up.HeadManifest(ctx, t.Repo, key.Tag)
	if err != nil {
		if upstream.IsNotFound(err) {
			m.hot.removeTag(key)
			_ = m.opts.Meta.DeleteTag(ctx, key)
		}
		return nil, err
	}
	if head.Digest == entry.Digest {
		if mf, found := m.cachedManifest(ctx, entry.Digest); found {
			entry.CheckedAt = m.now()
			m.putTag(ctx, key, entry)
			mf.Upstream, mf.Cache = t.Upstream, Revalid
			return mf, nil
		}
	}
	um, err := up.GetManifest(ctx, t.Repo, head.Digest.String())
	if err != nil {
		return nil, err
	}
	return m.storeTagAnswer(ctx, t, key, um), nil
}

// storeTagAnswer caches a manifest fetched for a tag and points the tag at it.
func (m *Mirror) storeTagAnswer(ctx context.Context, t Target, key meta.TagKey, um *upstream.Manifest) *Manifest {
	m.saveManifest(ctx, t, um)
	m.putTag(ctx, key, meta.Tag{Digest: um.Digest, MediaType: um.MediaType, Size: int64(len(um.Body)), CheckedAt: m.now()})
	return &Manifest{Body: um.Body, MediaType: um.MediaType, Digest: um.Digest, Upstream: t.Upstream, Cache: Miss}
}

// saveManifest writes a verified manifest to the store and records it. A
// failure to cache is logged, not fatal: the client still gets its answer.
func (m *Mirror) saveManifest(ctx context.Context, t Target, um *upstream.Manifest) {
	now := m.now()
	m.hot.putManifest(um.Digest, um.Body, um.MediaType)
	if err := m.opts.Store.Put(ctx, um.Digest, int64(len(um.Body)), bytes.NewReader(um.Body)); err != nil {
		m.log.Warn("caching manifest failed", "digest", um.Digest, "err", err)
		return
	}
	o := meta.Object{Digest: um.Digest, Size: int64(len(um.Body)), MediaType: um.MediaType,
		Upstream: t.Upstream, Repo: t.Repo, Created: now, Accessed: now}
	if err := m.opts.Meta.PutObject(ctx, o); err != nil {
		m.log.Warn("recording manifest failed", "digest", um.Digest, "err", err)
	}
}

func (m *Mirror) putTag(ctx context.Context, key meta.TagKey, t meta.Tag) {
	m.hot.putTag(key, t)
	if err := m.opts.Meta.PutTag(ctx, key, t); err != nil {
		m.log.Warn("recording tag failed", "tag", key, "err", err)
	}
}

func (m *Mirror) cachedTag(ctx context.Context, key meta.TagKey) (meta.Tag, bool) {
	if t, ok := m.hot.getTag(key); ok {
		return t, true
	}
	t, err := m.opts.Meta.GetTag(ctx, key)
	if err != nil {
		return meta.Tag{}, false
	}
	m.hot.putTag(key, t)
	return t, true
}

// cachedManifest returns a cached manifest by digest: from memory, else from
// the store (its media type from the metadata, or sniffed from the bytes
// when the metadata was rebuilt).
func (m *Mirror) cachedManifest(ctx context.Context, d digest.Digest) (*Manifest, bool) {
	if body, mt, ok := m.hot.getManifest(d); ok {
		return &Manifest{Body: body, MediaType: mt, Digest: d}, true
	}
	rc, err := m.opts.Store.Open(ctx, d)
	if err != nil {
		return nil, false
	}
	defer rc.Close()
	body, err := io.ReadAll(io.LimitReader(rc, oci.MaxManifestSize+1))
	if err != nil || len(body) > oci.MaxManifestSize || d.Algorithm().FromBytes(body) != d {
		m.log.Warn("cached manifest unreadable or corrupt; refetching", "digest", d, "err", err)
		return nil, false
	}
	mt := ""
	if o, err := m.opts.Meta.GetObject(ctx, d); err == nil {
		mt = o.MediaType
	}
	if mt == "" {
		mt = oci.SniffManifestType(body)
		if mt == "" {
			return nil, false // a blob, not a manifest
		}
	}
	m.hot.putManifest(d, body, mt)
	return &Manifest{Body: body, MediaType: mt, Digest: d}, true
}

// peekUpstream names the upstream for a cache hit without contacting any:
// the routed or remembered one, else the one the object came from.
func (m *Mirror) peekUpstream(ctx context.Context, name, ns string, d digest.Digest) string {
	if dec, err := m.opts.Router.Route(name, ns); err == nil {
		if dec.Upstream != "" {
			return dec.Upstream
		}
		if up, ok := m.res.get(ctx, name); ok {
			return up
		}
	}
	if o, err := m.opts.Meta.GetObject(ctx, d); err == nil {
		return o.Upstream
	}
	return ""
}

// manifestErr turns an upstream not-found into MANIFEST_UNKNOWN; other
// errors pass through for the registry layer to map.
func manifestErr(err error) error {
	if upstream.IsNotFound(err) {
		return &oci.Error{Code: oci.CodeManifestUnknown, Message: "manifest unknown", Err: err}
	}
	return err
}

func isClientGone(ctx context.Context, err error) bool {
	return ctx.Err() != nil && errors.Is(err, context.Canceled)
}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
