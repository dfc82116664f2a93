package serve

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/regmirror/regmirror/internal/registrytest"
)

// pacedWriter sends a response in small pieces with a pause between them.
type pacedWriter struct {
	http.ResponseWriter
	piece int
	pause time.Duration
}

func (s *pacedWriter) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		k := min(s.piece, len(b))
		w, err := s.ResponseWriter.Write(b[:k])
		n += w
		if err != nil {
			return n, err
		}
		http.NewResponseController(s.ResponseWriter).Flush()
		b = b[k:]
		time.Sleep(s.pause)
	}
	return n, nil
}

// mirrorProc is a regmirror binary serving one configuration.
type mirrorProc struct {
	t    *testing.T
	bin  string
	cfg  string
	url  string
	cmd  *exec.Cmd
	logs bytes.Buffer
}

func (p *mirrorProc) start() {
	p.t.Helper()
	p.logs.Reset()
	p.cmd = exec.Command(p.bin, "serve", "--config", p.cfg)
	p.cmd.Stdout, p.cmd.Stderr = &p.logs, &p.logs
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(p.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("mirror did not come up: %v\n%s", err, p.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *mirrorProc) kill() {
	_ = p.cmd.Process.Kill() // SIGKILL
	_ = p.cmd.Wait()
}

func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestKillDuringDownload kills a real mirror process (SIGKILL) half-way
// through a cold pull of a large blob, restarts it, and pulls again: no
// partial object is ever visible, no temporary file survives the restart,
// and the blob verifies.
func TestKillDuringDownload(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	p, _, layer, data := slowBlobMirror(t, 8<<20, true, "log:\n  level: debug\n")

	// A cold pull; kill the mirror once the client has 1 MiB.
	blobURL := p.url + "/v2/library/big/blobs/" + layer.String()
	resp, err := http.Get(blobURL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(io.Discard, resp.Body, 1<<20); err != nil {
		t.Fatalf("reading the first MiB: %v\n%s", err, p.logs.String())
	}
	p.kill()
	if _, err := io.Copy(io.Discard, resp.Body); err == nil {
		t.Error("the client got a complete-looking body from a killed mirror")
	}
	resp.Body.Close()

	object := filepath.Join(data, "blobs", "sha256", layer.Encoded()[:2], layer.Encoded())
	if _, err := os.Stat(object); err == nil {
		t.Fatal("a partial download is visible as an object")
	}
	if left, _ := filepath.Glob(filepath.Join(data, "ingest", "*")); len(left) == 0 {
		t.Log("no temporary file at the kill (the download had not written yet?)")
	}

	p.start()
	if left, _ := filepath.Glob(filepath.Join(data, "ingest", "*")); len(left) > 0 {
		t.Errorf("temporary files survived the restart: %v", left)
	}
	for i := range 2 { // a miss, then a hit
		got := sha256OfGET(t, blobURL)
		if got != layer {
			t.Fatalf("pull %d after restart: content hashes to %s, want %s", i, got, layer)
		}
	}
	if b, err := os.ReadFile(object); err != nil || digest.FromBytes(b) != layer {
		t.Errorf("cached object: err %v, verifies %v", err, err == nil && digest.FromBytes(b) == layer)
	}
}

// slowBlobMirror builds the binary and starts it in front of an upstream
// holding library/big with one layer of size bytes, whose GETs of that layer
// are paced (64 KiB every 20 ms; only the first GET when firstOnly). extra
// is appended to the configuration. It returns the running mirror (killed at
// cleanup), the upstream, the layer's digest and the data directory.
func slowBlobMirror(t *testing.T, size int64, firstOnly bool, extra string) (*mirrorProc, *registrytest.Upstream, digest.Digest, string) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "regmirror")
	build := exec.Command("go", "build", "-o", bin, "github.com/regmirror/regmirror/cmd/regmirror")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	var big atomic.Value // digest.Digest of the layer to throttle
	var slowed atomic.Int32
	throttle := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			d, _ := big.Load().(digest.Digest)
			if r.Method == http.MethodGet && d != "" && strings.HasSuffix(r.URL.Path, d.String()) && (slowed.Add(1) == 1 || !firstOnly) {
				w = &pacedWriter{ResponseWriter: w, piece: 64 << 10, pause: 20 * time.Millisecond}
			}
			next.ServeHTTP(w, r)
		})
	}
	up := registrytest.New(t, registrytest.WithHandlerWrap(throttle))
	img := up.PushRandomImage(t, "library/big", "latest", 1, size)
	layer := blobsOf(t, img)[1]
	big.Store(layer)

	data := t.TempDir()
	addr := freeLoopbackAddr(t)
	cfgPath := filepath.Join(t.TempDir(), "regmirror.yaml")
	cfg := fmt.Sprintf("listen: %s\nstorage:\n  path: %s\nadmin:\n  listen: \"off\"\n%supstreams:\n  - name: docker.io\n    endpoint: %s\n", addr, data, extra, up.URL)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	p := &mirrorProc{t: t, bin: bin, cfg: cfgPath, url: "http://" + addr}
	p.start()
	t.Cleanup(p.kill)
	return p, up, layer, data
}

// sha256OfGET GETs url and returns the sha256 digest of the body.
func sha256OfGET(t *testing.T, url string) digest.Digest {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	h := sha256.New()
	if _, err := io.Copy(h, resp.Body); err != nil {
		t.Fatal(err)
	}
	return digest.Digest("sha256:" + hex.EncodeToString(h.Sum(nil)))
}
