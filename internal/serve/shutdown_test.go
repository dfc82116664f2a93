package serve

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/regmirror/regmirror/internal/registrytest"
)

// TestSIGTERMLetsColdPullFinish sends SIGTERM to a real mirror process
// while a client is in the middle of a cold pull of a slow blob: the mirror
// stops accepting, the pull completes with the right bytes, and the blob is
// in the cache afterwards (a restarted mirror serves it with the upstream
// gone).
func TestSIGTERMLetsColdPullFinish(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := filepath.Join(t.TempDir(), "regmirror")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/regmirror/regmirror/cmd/regmirror").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	var big atomic.Value
	throttle := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if d, _ := big.Load().(digest.Digest); r.Method == http.MethodGet && d != "" && strings.HasSuffix(r.URL.Path, d.String()) {
				w = &pacedWriter{ResponseWriter: w, piece: 128 << 10, pause: 20 * time.Millisecond}
			}
			next.ServeHTTP(w, r)
		})
	}
	up := registrytest.New(t, registrytest.WithHandlerWrap(throttle))
	img := up.PushRandomImage(t, "library/slow", "latest", 1, 4<<20)
	layer := blobsOf(t, img)[1]
	big.Store(layer)

	data := t.TempDir()
	addr := freeLoopbackAddr(t)
	cfgPath := filepath.Join(t.TempDir(), "regmirror.yaml")
	cfg := fmt.Sprintf("listen: %s\nstorage:\n  path: %s\nadmin:\n  listen: \"off\"\nserver:\n  shutdownTimeout: 30s\nupstreams:\n  - name: docker.io\n    endpoint: %s\n", addr, data, up.URL)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	p := &mirrorProc{t: t, bin: bin, cfg: cfgPath, url: "http://" + addr}
	p.start()
	t.Cleanup(p.kill)

	resp, err := http.Get(p.url + "/v2/library/slow/blobs/" + layer.String())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	h := sha256.New()
	if _, err := io.CopyN(h, resp.Body, 256<<10); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(h, resp.Body); err != nil {
		t.Fatalf("the pull broke at SIGTERM: %v\n%s", err, p.logs.String())
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != layer.String() {
		t.Fatalf("pulled %s, want %s", got, layer)
	}
	waited := make(chan error, 1)
	go func() { waited <- p.cmd.Wait() }()
	select {
	case err := <-waited:
		if err != nil {
			t.Fatalf("mirror exited with %v\n%s", err, p.logs.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("mirror did not exit after SIGTERM")
	}

	// The object was committed: a restarted mirror serves it without the upstream.
	up.Stop()
	p.start()
	resp2, err := http.Get(p.url + "/v2/library/slow/blobs/" + layer.String())
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	if resp2.StatusCode != 200 || resp2.Header.Get("X-Mirror-Cache") != "hit" {
		t.Fatalf("after restart: status %d cache %q", resp2.StatusCode, resp2.Header.Get("X-Mirror-Cache"))
	}
}
