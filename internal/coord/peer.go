package coord

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/opencontainers/go-digest"
)

// PeerHeader marks a blob request one node makes to another. The receiving
// node serves the blob from its cache or its own download in progress, and
// if it has neither it downloads from the upstream itself: it never sends
// a peer request on to a third node. (The same name is mirror.PeerHeader.)
const PeerHeader = "X-Regmirror-Peer"

// maxErrorBody bounds how much of a peer's error answer is read.
const maxErrorBody = 4 << 10

// OpenPeer fetches the blob d of repository repo on upstream from the node
// at peer (its advertise URL), which is downloading it. It returns the body
// and its size (-1 when the peer did not say). The request is
// GET <peer>/v2/<repo>/blobs/<d>?ns=<upstream>: the ns parameter routes it
// to the same upstream and repository on the peer, whatever the name the
// client used.
func (c *Coordinator) OpenPeer(ctx context.Context, peer, upstream, repo string, d digest.Digest) (io.ReadCloser, int64, error) {
	u := strings.TrimSuffix(peer, "/") + "/v2/" + repo + "/blobs/" + d.String() + "?ns=" + url.QueryEscape(upstream)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("peer %s: %w", peer, err)
	}
	req.Header.Set(PeerHeader, "1")
	if c.opts.PeerToken != "" {
		req.Header.Set("Authorization", "Bearer "+c.opts.PeerToken)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("peer %s: %w", peer, err)
	}
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		resp.Body.Close()
		return nil, 0, fmt.Errorf("peer %s: GET %s: %s: %s", peer, d, resp.Status, strings.TrimSpace(string(msg)))
	}
	if got := resp.Header.Get("Docker-Content-Digest"); got != "" && got != d.String() {
		resp.Body.Close()
		return nil, 0, fmt.Errorf("peer %s: answered digest %s for %s", peer, got, d)
	}
	return resp.Body, resp.ContentLength, nil
}
