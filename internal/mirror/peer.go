package mirror

import (
	"context"
	"errors"
	"io"

	"github.com/opencontainers/go-digest"

	"github.com/regmirror/regmirror/internal/fill"
	"github.com/regmirror/regmirror/internal/store"
)

// PeerHeader marks a blob request from another mirror node that shares this
// one's store (internal/coord sends it). The registry layer passes it on
// with WithPeerRequest.
const PeerHeader = "X-Regmirror-Peer"

// FillCoordinator decides, across mirror nodes sharing one store, which node
// downloads a blob from the upstream (implemented by *coord.Coordinator).
type FillCoordinator interface {
	// AcquireFill returns a non-nil release when this node should download
	// d (call it when the download ended), or else the base URL of the node
	// that is downloading it. Coordination failures come back as a no-op
	// release: download locally.
	AcquireFill(ctx context.Context, d digest.Digest) (release func(), peer string)
	// OpenPeer streams d from the node at peer, which serves it from its own
	// download. size is -1 when unknown.
	OpenPeer(ctx context.Context, peer, upstream, repo string, d digest.Digest) (body io.ReadCloser, size int64, err error)
}

type peerRequestKey struct{}

// WithPeerRequest marks ctx as a request from a peer node: a download it
// starts goes to the upstream itself, never to another peer, so peer
// requests cannot loop.
func WithPeerRequest(ctx context.Context) context.Context {
	return context.WithValue(ctx, peerRequestKey{}, true)
}

// isPeerRequest reports whether ctx came through WithPeerRequest.
func isPeerRequest(ctx context.Context) bool {
	v, _ := ctx.Value(peerRequestKey{}).(bool)
	return v
}

// openShared opens the first bytes of a download on a node that shares its
// store: from the store if another node finished d meanwhile, from the peer
// that holds d's fill lock, or (ok == false) from the upstream, as the lock
// holder or as the fallback when coordination or the peer fails. A
// download this node holds the lock for releases it when the fill's
// context ends, after the commit.
func (m *Mirror) openShared(ctx context.Context, up Upstream, repo string, d digest.Digest) (b fill.Body, ok bool) {
	release, peer := m.opts.Coord.AcquireFill(ctx, d)
	if release != nil {
		go func() {
			<-ctx.Done()
			release()
		}()
	}
	// Another node may have committed d between this node's cache miss and
	// now (and released its lock, which is how this one got it).
	if b, ok := m.openStored(ctx, d); ok {
		return b, true
	}
	if peer == "" {
		return fill.Body{}, false
	}
	body, size, err := m.opts.Coord.OpenPeer(ctx, peer, up.Name(), repo, d)
	if err != nil {
		m.log.Warn("streaming blob from peer failed; fetching from upstream", "digest", d, "peer", peer, "err", err)
		if b, ok := m.openStored(ctx, d); ok { // the peer just finished
			return b, true
		}
		return fill.Body{}, false
	}
	// Resumable: if the peer goes away mid-transfer, the fill reopens at
	// the offset written, and the opener sends offsets > 0 to the upstream.
	return fill.Body{R: body, Size: size, Resumable: true}, true
}

// openStored opens d from the store as a download body, if it is there.
func (m *Mirror) openStored(ctx context.Context, d digest.Digest) (fill.Body, bool) {
	rc, err := m.opts.Store.Open(ctx, d)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			m.log.Warn("opening stored blob failed", "digest", d, "err", err)
		}
		return fill.Body{}, false
	}
	size, err := rc.Seek(0, io.SeekEnd)
	if err == nil {
		_, err = rc.Seek(0, io.SeekStart)
	}
	if err != nil {
		rc.Close()
		return fill.Body{}, false
	}
	return fill.Body{R: rc, Size: size, Resumable: true}, true
}
