package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/opencontainers/go-digest"

	"github.com/regmirror/regmirror/internal/oci"
	"github.com/regmirror/regmirror/internal/store"
	"github.com/regmirror/regmirror/internal/store/s3/s3test"
	"github.com/regmirror/regmirror/internal/store/storetest"
)

// weed is the SeaweedFS server shared by this package's tests.
var weed s3test.Lazy

func TestMain(m *testing.M) {
	code := m.Run()
	weed.Stop()
	os.Exit(code)
}

// testBucket is created once per package run, on first use.
var testBucket = struct {
	name string
	err  error
	done bool
}{}

// newTestStore returns a store under a fresh random prefix of a shared
// bucket: empty, and isolated from the other tests.
func newTestStore(t *testing.T) *Store {
	t.Helper()
	srv := weed.Get(t)
	ctx := context.Background()
	if !testBucket.done {
		testBucket.name, testBucket.err = srv.MakeBucket(ctx)
		testBucket.done = true
	}
	if testBucket.err != nil {
		t.Fatal(testBucket.err)
	}
	s, err := New(ctx, Options{
		Endpoint: srv.Endpoint, Bucket: testBucket.name, Region: s3test.Region,
		AccessKey: s3test.AccessKey, SecretKey: s3test.SecretKey, Insecure: true,
		Prefix: fmt.Sprintf("t%016x", rand.Uint64()), // no trailing slash: New adds it
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// ingestKeys lists the temporary keys present.
func ingestKeys(t *testing.T, s *Store) []string {
	t.Helper()
	var keys []string
	for o := range s.c.ListObjects(context.Background(), s.bucket, minio.ListObjectsOptions{Prefix: s.prefix + ingestDir, Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		keys = append(keys, o.Key)
	}
	return keys
}

func TestConformance(t *testing.T) {
	storetest.Options{
		LeftoverCheck: func(t *testing.T, s store.Store) {
			for _, k := range ingestKeys(t, s.(*Store)) {
				t.Errorf("temporary key left behind: %s", k)
			}
		},
	}.Run(t, func(t *testing.T) store.Store { return newTestStore(t) })
}

func TestKey(t *testing.T) {
	tests := []struct {
		prefix string
		d      digest.Digest
		want   string
	}{
		{"", "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
			"blobs/sha256/e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{"mirror", "sha256:0000000000000000000000000000000000000000000000000000000000000000",
			"mirror/blobs/sha256/0000000000000000000000000000000000000000000000000000000000000000"},
		{"a/b/", "sha512:cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e",
			"a/b/blobs/sha512/cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"},
	}
	for _, tt := range tests {
		s, err := newStore(Options{Endpoint: "127.0.0.1:1", Bucket: "b", AccessKey: "k", Prefix: tt.prefix})
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Key(tt.d)
		if err != nil || got != tt.want {
			t.Errorf("Key(%s) with prefix %q = %q, %v; want %q", tt.d, tt.prefix, got, err, tt.want)
		}
		if d, ok := parseKey(strings.TrimPrefix(got, s.prefix+blobsDir)); !ok || d != tt.d {
			t.Errorf("parseKey(%q) = %s, %v", got, d, ok)
		}
	}
	s, _ := newStore(Options{Endpoint: "127.0.0.1:1", Bucket: "b", AccessKey: "k"})
	for _, bad := range []digest.Digest{"", "sha256:../../x", "md5:d41d8cd98f00b204e9800998ecf8427e", "sha256:ABC"} {
		var oe *oci.Error
		if _, err := s.Key(bad); !errors.As(err, &oe) || oe.Code != oci.CodeDigestInvalid {
			t.Errorf("Key(%q) error = %v, want DIGEST_INVALID", bad, err)
		}
	}
}

func TestParseEndpoint(t *testing.T) {
	tests := []struct {
		in, host string
		tls, ok  bool
	}{
		{"s3.amazonaws.com", "s3.amazonaws.com", true, true},
		{"127.0.0.1:8333", "127.0.0.1:8333", true, true},
		{"http://minio:9000", "minio:9000", false, true},
		{"https://minio:9000/", "minio:9000", true, true},
		{"https://minio:9000/bucket", "", false, false},
		{"ftp://x", "", false, false},
		{"", "", false, false},
	}
	for _, tt := range tests {
		host, tls, err := parseEndpoint(tt.in, true)
		if (err == nil) != tt.ok || host != tt.host || (tt.ok && tls != tt.tls) {
			t.Errorf("parseEndpoint(%q) = %q, %v, %v", tt.in, host, tls, err)
		}
	}
}

func TestRedirectURL(t *testing.T) {
	s := newTestStore(t)
	data := []byte("served by the object store itself")
	d := digest.FromBytes(data)
	if err := s.Put(context.Background(), d, int64(len(data)), bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	u, err := s.RedirectURL(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(u, "X-Amz-Expires=900") {
		t.Errorf("presigned URL %s does not expire in 15 minutes", u)
	}
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !bytes.Equal(got, data) {
		t.Fatalf("GET presigned URL: %d %q", resp.StatusCode, got)
	}
}

func TestCleanIngest(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	tmp := s.tempKey()
	if _, err := s.c.PutObject(ctx, s.bucket, tmp, strings.NewReader("left by a crash"), 15, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.CleanIngest(ctx, time.Hour); err != nil || n != 0 {
		t.Fatalf("CleanIngest(1h) of a fresh key = %d, %v; want 0", n, err)
	}
	if n, err := s.CleanIngest(ctx, -time.Minute); err != nil || n != 1 {
		t.Fatalf("CleanIngest(0) = %d, %v; want 1", n, err)
	}
	if keys := ingestKeys(t, s); len(keys) != 0 {
		t.Fatalf("left: %v", keys)
	}
}

// TestReaderRequests checks that Open costs one GET and that reading after
// a seek reads the right bytes (the ranged re-open).
func TestReaderReopen(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	d := digest.FromBytes(data)
	if err := s.Put(ctx, d, int64(len(data)), bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	rc, err := s.Open(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	head := make([]byte, 100)
	if _, err := io.ReadFull(rc, head); err != nil || !bytes.Equal(head, data[:100]) {
		t.Fatalf("head: %v", err)
	}
	if _, err := rc.Seek(-10, io.SeekEnd); err != nil {
		t.Fatal(err)
	}
	tail, err := io.ReadAll(rc)
	if err != nil || !bytes.Equal(tail, data[len(data)-10:]) {
		t.Fatalf("tail = %v, %v", tail, err)
	}
	if err := rc.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := rc.Read(head); err == nil {
		t.Fatal("Read after Close succeeded")
	}
}

func TestNewMissingBucket(t *testing.T) {
	srv := weed.Get(t)
	_, err := New(context.Background(), Options{
		Endpoint: srv.Endpoint, Bucket: "no-such-bucket-here", Region: s3test.Region,
		AccessKey: s3test.AccessKey, SecretKey: s3test.SecretKey, Insecure: true,
	})
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("New on a missing bucket: %v", err)
	}
	_, err = New(context.Background(), Options{
		Endpoint: srv.Endpoint, Bucket: "no-such-bucket-here", Region: s3test.Region,
		AccessKey: s3test.AccessKey, SecretKey: "wrong", Insecure: true,
	})
	if err == nil {
		t.Fatal("New with a wrong secret succeeded")
	}
}

// TestConcurrentPutTwoNodes runs concurrent writers of one digest through
// two Store values on one bucket and prefix, as two mirror nodes would.
func TestConcurrentPutTwoNodes(t *testing.T) {
	a := newTestStore(t)
	b, err := New(context.Background(), Options{
		Endpoint: weed.Get(t).Endpoint, Bucket: a.bucket, Region: s3test.Region,
		AccessKey: s3test.AccessKey, SecretKey: s3test.SecretKey, Insecure: true, Prefix: a.prefix,
	})
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("two nodes, one object "), 10000)
	d := digest.FromBytes(data)
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		s := []*Store{a, b}[i%2]
		wg.Go(func() { errs[i] = s.Put(context.Background(), d, int64(len(data)), bytes.NewReader(data)) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("writer %d: %v", i, err)
		}
	}
	rc, err := b.Open(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if got, _ := io.ReadAll(rc); !bytes.Equal(got, data) {
		t.Fatal("content differs")
	}
	if keys := ingestKeys(t, a); len(keys) != 0 {
		t.Fatalf("temporary keys left: %v", keys)
	}
}

// TestPutAfterFailedWriter: a writer whose stream fails does not make the
// writers waiting for it fail; one of them uploads instead.
func TestPutAfterFailedWriter(t *testing.T) {
	s := newTestStore(t)
	data := bytes.Repeat([]byte("retry "), 50000)
	d := digest.FromBytes(data)
	started := make(chan struct{})
	failing := &gatedReader{r: bytes.NewReader(data[:1000]), started: started, gate: make(chan struct{})}
	done := make(chan error, 1)
	go func() { done <- s.Put(context.Background(), d, int64(len(data)), failing) }()
	<-started // the failing writer holds the claim
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Go(func() { errs[i] = s.Put(context.Background(), d, int64(len(data)), bytes.NewReader(data)) })
	}
	time.Sleep(50 * time.Millisecond) // let them queue behind the first
	close(failing.gate)
	if err := <-done; err == nil {
		t.Fatal("Put from a short stream succeeded")
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("waiting writer %d: %v", i, err)
		}
	}
	if size, err := s.Stat(context.Background(), d); err != nil || size != int64(len(data)) {
		t.Fatalf("Stat = %d, %v", size, err)
	}
}

// gatedReader signals its first Read, then blocks until gate is closed
// before serving r.
type gatedReader struct {
	r       io.Reader
	started chan struct{}
	gate    chan struct{}
	once    sync.Once
}

func (g *gatedReader) Read(p []byte) (int, error) {
	g.once.Do(func() { close(g.started) })
	<-g.gate
	return g.r.Read(p)
}
