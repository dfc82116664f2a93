package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/regmirror/regmirror/internal/prefetch"
)

func TestPrefetchCommand(t *testing.T) {
	m := newTestMirror(t)
	idx := m.up.PushIndex(t, "library/multi", "latest", "linux/amd64", "linux/arm64")
	m.up.PushRandomImage(t, "library/app", "1", 2, 10<<10)
	list := filepath.Join(t.TempDir(), "images.txt")
	if err := os.WriteFile(list, []byte("# warm these\napp:1   # the app\n\nnope:1\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	out, errOut, err := run("prefetch", "--mirror", m.srv.URL, "--platform", "linux/arm64", "multi:latest", "--file", list)
	if err == nil || err.Error() != "1 of 3 images failed" {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(out, "3 images: 2 done, 1 failed") || !strings.Contains(out, "failed: nope:1") {
		t.Errorf("summary:\n%s", out)
	}
	if !strings.Contains(errOut, "multi:latest: done [linux/arm64]") || !strings.Contains(errOut, "app:1: 3 blobs to fetch") || !strings.Contains(errOut, "FAILED: nope:1: ") {
		t.Errorf("progress:\n%s", errOut)
	}
	im, _ := idx.IndexManifest()
	for _, desc := range im.Manifests {
		img, _ := idx.Image(desc.Digest)
		layers, _ := img.Layers()
		for _, l := range layers {
			d, _ := l.Digest()
			n, want := m.up.Counts.BlobGets(digest.Digest(d.String())), 0
			if desc.Platform.Architecture == "arm64" {
				want = 1
			}
			if n != want {
				t.Errorf("%s layer fetched %d times, want %d", desc.Platform.Architecture, n, want)
			}
		}
	}

	// Everything is cached now.
	out, _, err = run("prefetch", "--mirror", m.srv.URL, "--platform", "linux/arm64", "multi:latest", "app:1")
	if err != nil || !strings.Contains(out, "0 blobs fetched (0 B), 6 already cached") {
		t.Errorf("second prefetch: %v\n%s", err, out)
	}
	for _, args := range [][]string{{}, {"--platform", "linux", "x"}} {
		if _, _, err := run(append([]string{"prefetch"}, args...)...); err == nil {
			t.Errorf("prefetch %v: no error", args)
		}
	}
}

func TestReadImageList(t *testing.T) {
	got, err := readImageList("-", strings.NewReader("a\n  b:1  \n# c\nd # e\n\n"))
	if err != nil || !slices.Equal(got, []string{"a", "b:1", "d"}) {
		t.Errorf("got %q, %v", got, err)
	}
	if _, err := readImageList(filepath.Join(t.TempDir(), "missing"), nil); err == nil {
		t.Error("a missing list was read")
	}
}

func TestProgressView(t *testing.T) {
	for _, tty := range []bool{true, false} {
		var w bytes.Buffer
		v := &progressView{w: &w, tty: tty, image: "nginx:latest", width: 14, start: time.Now().Add(-2 * time.Second)}
		v.update(prefetch.Progress{Image: "nginx:latest", Blobs: 2, Bytes: 4 << 20, Cached: 1})
		v.last = time.Time{} // as if a few seconds had passed
		v.update(prefetch.Progress{Image: "nginx:latest", Blobs: 2, Bytes: 4 << 20, BytesDone: 1 << 20, Cached: 1})
		v.finish(prefetch.Result{Fetched: 2, Cached: 1, Bytes: 4 << 20, Platforms: []string{"linux/amd64"}}, nil)
		s := w.String()
		if !strings.Contains(s, " 25%  1.0 MiB/4.0 MiB") || !strings.Contains(s, "ETA ") || !strings.Contains(s, "done [linux/amd64]: 2 blobs fetched (4.0 MiB), 1 already cached") {
			t.Errorf("tty=%v:\n%q", tty, s)
		}
		if tty != strings.Contains(s, "[=====>") {
			t.Errorf("tty=%v: bar drawn %v:\n%q", tty, !tty, s)
		}
		if tty != strings.Contains(s, "\r") {
			t.Errorf("tty=%v: carriage returns:\n%q", tty, s)
		}
	}
}
