package coord

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/regmirror/regmirror/internal/meta/redis/redistest"
	"github.com/regmirror/regmirror/internal/mirror"
)

// *Coordinator is the mirror's FillCoordinator.
var _ mirror.FillCoordinator = (*Coordinator)(nil)

func TestPeerHeaderMatchesMirror(t *testing.T) {
	if PeerHeader != mirror.PeerHeader {
		t.Fatalf("coord.PeerHeader %q != mirror.PeerHeader %q", PeerHeader, mirror.PeerHeader)
	}
}

// newTest returns a coordinator for node advertising url, on srv under
// prefix, closed at the end.
func newTest(t *testing.T, srv *redistest.Server, prefix, url string, opts ...func(*Options)) *Coordinator {
	t.Helper()
	o := Options{Advertise: url, Prefix: prefix}
	for _, f := range opts {
		f(&o)
	}
	c, err := Open(srv.URL, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func testPrefix() string { return fmt.Sprintf("t%x:", rand.Uint64()) }

func TestFillLock(t *testing.T) {
	srv := redistest.Start(t)
	p := testPrefix()
	a := newTest(t, srv, p, "http://10.0.0.1:5000")
	b := newTest(t, srv, p, "http://10.0.0.2:5000/") // trailing slash is dropped
	ctx := context.Background()
	d := digest.FromString("blob")

	release, peer := a.AcquireFill(ctx, d)
	if release == nil || peer != "" {
		t.Fatalf("first AcquireFill = %v, %q; want the lock", release != nil, peer)
	}
	if r, peer := b.AcquireFill(ctx, d); r != nil || peer != "http://10.0.0.1:5000" {
		t.Fatalf("second node: release %v, peer %q; want node A's URL", r != nil, peer)
	}
	// Another digest is another lock.
	if r, peer := b.AcquireFill(ctx, digest.FromString("other")); r == nil || peer != "" {
		t.Fatalf("other digest: release %v, peer %q", r != nil, peer)
	} else {
		r()
	}
	release()
	release() // idempotent
	r, peer := b.AcquireFill(ctx, d)
	if r == nil || peer != "" {
		t.Fatalf("after release: release %v, peer %q; want the lock", r != nil, peer)
	}
	if _, peer := a.AcquireFill(ctx, d); peer != "http://10.0.0.2:5000" {
		t.Fatalf("node A sees holder %q, want node B", peer)
	}
	r()
}

func TestFillLockStaleOwnURL(t *testing.T) {
	srv := redistest.Start(t)
	p := testPrefix()
	before := newTest(t, srv, p, "http://10.0.0.1:5000")
	d := digest.FromString("blob")
	if r, _ := before.AcquireFill(context.Background(), d); r == nil {
		t.Fatal("no lock")
	}
	// The node restarted: same URL, new process. The old lock must not make
	// it wait for (or stream from) itself.
	after := newTest(t, srv, p, "http://10.0.0.1:5000")
	r, peer := after.AcquireFill(context.Background(), d)
	if r == nil || peer != "" {
		t.Fatalf("restarted node: release %v, peer %q; want a no-op release and the upstream", r != nil, peer)
	}
	r()
}

func TestFillLockRefreshAndExpiry(t *testing.T) {
	srv := redistest.Start(t)
	p := testPrefix()
	ttl := func(o *Options) { o.FillLockTTL = 300 * time.Millisecond }
	a := newTest(t, srv, p, "http://10.0.0.1:5000", ttl)
	b := newTest(t, srv, p, "http://10.0.0.2:5000", ttl)
	d := digest.FromString("slow blob")
	release, _ := a.AcquireFill(context.Background(), d)
	time.Sleep(time.Second) // > ttl: only the refresh keeps it
	if _, peer := b.AcquireFill(context.Background(), d); peer != "http://10.0.0.1:5000" {
		t.Fatalf("lock not refreshed: node B sees %q", peer)
	}
	// A lock that expired and was taken over is not deleted by the old
	// holder's release.
	key := p + "fill:" + d.String()
	if err := a.rdb.Set(context.Background(), key, "x http://10.0.0.3:5000", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	release()
	if v, err := a.rdb.Get(context.Background(), key).Result(); err != nil || v != "x http://10.0.0.3:5000" {
		t.Fatalf("release deleted another holder's lock: %q, %v", v, err)
	}
}

func TestRedisDown(t *testing.T) {
	srv := redistest.Start(t)
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	c := newTest(t, srv, testPrefix(), "http://10.0.0.1:5000", func(o *Options) { o.Logger = log })
	if err := c.Ping(context.Background()); err != nil || !c.Healthy() {
		t.Fatalf("Ping = %v, Healthy %v", err, c.Healthy())
	}
	srv.Stop()
	start := time.Now()
	for range 3 {
		r, peer := c.AcquireFill(context.Background(), digest.FromString("b"))
		if r == nil || peer != "" {
			t.Fatalf("Redis down: release %v, peer %q; want to fetch locally", r != nil, peer)
		}
		r()
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("3 lock attempts with Redis down took %s", took)
	}
	if c.Healthy() {
		t.Error("Healthy with Redis down")
	}
	if c.IsLeader(context.Background(), "evict") {
		t.Error("leader with Redis down")
	}
	if n := strings.Count(logs.String(), "redis unreachable"); n != 1 {
		t.Errorf("outage logged %d times, want once:\n%s", n, logs.String())
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(context.Background()); err != nil || !c.Healthy() {
		t.Fatalf("after restart: Ping = %v, Healthy %v", err, c.Healthy())
	}
	if !strings.Contains(logs.String(), "redis reachable again") {
		t.Errorf("recovery not logged:\n%s", logs.String())
	}
}

func TestIsLeader(t *testing.T) {
	srv := redistest.Start(t)
	p := testPrefix()
	lease := func(o *Options) { o.LeaseTTL = 400 * time.Millisecond }
	a := newTest(t, srv, p, "http://10.0.0.1:5000", lease)
	b := newTest(t, srv, p, "http://10.0.0.2:5000", lease)
	ctx := context.Background()
	if !a.IsLeader(ctx, "evict") {
		t.Fatal("first node is not leader")
	}
	if b.IsLeader(ctx, "evict") {
		t.Fatal("two leaders")
	}
	if !b.IsLeader(ctx, "other-job") {
		t.Fatal("leases are per name")
	}
	for range 4 { // renewals keep it past the TTL
		time.Sleep(150 * time.Millisecond)
		if !a.IsLeader(ctx, "evict") || b.IsLeader(ctx, "evict") {
			t.Fatal("lease not kept by renewal")
		}
	}
	time.Sleep(600 * time.Millisecond) // A stops renewing: it expires
	if !b.IsLeader(ctx, "evict") {
		t.Fatal("no takeover after the lease expired")
	}
	if a.IsLeader(ctx, "evict") {
		t.Fatal("old leader still leader")
	}
	// Close hands the lease over at once.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if !a.IsLeader(ctx, "evict") {
		t.Fatal("no takeover after the leader closed")
	}
}

func TestOpenPeer(t *testing.T) {
	body := []byte("layer bytes")
	d := digest.FromBytes(body)
	var gotPath, gotQuery, gotHeader, gotAuth string
	peer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath, gotQuery, gotHeader, gotAuth = r.URL.Path, r.URL.RawQuery, r.Header.Get(PeerHeader), r.Header.Get("Authorization")
		switch {
		case strings.Contains(r.URL.Path, "missing"):
			http.Error(w, `{"errors":[{"code":"BLOB_UNKNOWN"}]}`, http.StatusNotFound)
		case strings.Contains(r.URL.Path, "liar"):
			w.Header().Set("Docker-Content-Digest", digest.FromString("else").String())
			_, _ = w.Write(body)
		default:
			w.Header().Set("Docker-Content-Digest", d.String())
			_, _ = w.Write(body)
		}
	}))
	defer peer.Close()
	srv := redistest.Start(t)
	c := newTest(t, srv, testPrefix(), "http://10.0.0.1:5000", func(o *Options) { o.PeerToken = "s3cret" })
	ctx := context.Background()

	rc, size, err := c.OpenPeer(ctx, peer.URL+"/", "docker.io", "library/nginx", d)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, body) || size != int64(len(body)) {
		t.Fatalf("body %q size %d", got, size)
	}
	if gotPath != "/v2/library/nginx/blobs/"+d.String() || gotQuery != "ns=docker.io" || gotHeader != "1" || gotAuth != "Bearer s3cret" {
		t.Fatalf("request: path %s query %s header %q auth %q", gotPath, gotQuery, gotHeader, gotAuth)
	}
	for _, repo := range []string{"missing/repo", "liar/repo"} {
		if rc, _, err := c.OpenPeer(ctx, peer.URL, "docker.io", repo, d); err == nil {
			rc.Close()
			t.Errorf("OpenPeer(%s) succeeded", repo)
		}
	}
	if _, _, err := c.OpenPeer(ctx, "http://127.0.0.1:1", "docker.io", "x", d); err == nil {
		t.Error("OpenPeer to a dead peer succeeded")
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
