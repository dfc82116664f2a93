package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The homepage in a real browser: headless Chromium driven through its
// command line (--dump-dom after the script ran, --screenshot), with a fake
// status and a fake /api/resolve on the same server.

func chromiumBinary(t *testing.T) string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("chromium is not installed (apt-get install chromium); skipping the browser test")
	return ""
}

// artifactDir is test/artifacts under the repository root.
func artifactDir(t *testing.T) string {
	dir, err := filepath.Abs(filepath.Join("..", "..", "test", "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browserServer serves the homepage, a fake resolver and a page with a
// deliberate script error (to prove the console check works).
func browserServer(t *testing.T, publicURL string) (*httptest.Server, *atomic.Int64) {
	var polls atomic.Int64
	opts := fixtureOptions(func(ctx context.Context) Status {
		st := fakeStatus(ctx)
		st.Downloads = polls.Add(1) // 1 when rendered, 2 after the first poll
		st.Time = time.Now()
		return st
	})
	opts.PublicURL = publicURL
	mux := http.NewServeMux()
	home := New(opts)
	mux.Handle("GET /{$}", home)
	mux.Handle("GET /static/", home)
	mux.Handle("GET /api/status", home)
	mux.HandleFunc("GET /api/resolve", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		img := r.URL.Query().Get("image")
		if img != "nginx" {
			w.WriteHeader(http.StatusNotFound)
			_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": "NAME_UNKNOWN", "message": "no upstream has " + img}}})
			return
		}
		host := r.Host
		if publicURL != "" {
			host = strings.TrimPrefix(publicURL, "https://")
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"image": img, "upstream": "docker.io", "repository": "library/nginx",
			"reference": "latest", "how": "implicit", "pull": "docker pull " + host + "/nginx:latest"})
	})
	mux.HandleFunc("GET /broken", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, "<!doctype html><title>broken</title><script>noSuchFunction();</script>")
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, &polls
}

type browserRun struct {
	stdout, stderr string
}

// consoleErrors are the console lines that fail the test: uncaught
// exceptions and console.error from the page's own origin.
var consoleErrors = regexp.MustCompile(`(?m)^.*(Uncaught|:ERROR:CONSOLE|Refused to (load|execute|apply)|Failed to load resource).*$`)

func (b browserRun) errors(origin string) []string {
	var out []string
	for _, line := range consoleErrors.FindAllString(b.stderr, -1) {
		if strings.Contains(line, "CONSOLE") || strings.Contains(line, origin) || strings.Contains(line, "Uncaught") || strings.Contains(line, "Refused") {
			out = append(out, line)
		}
	}
	return out
}

func runChromium(t *testing.T, bin string, args ...string) browserRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--no-default-browser-check",
		"--no-proxy-server", "--disable-dev-shm-usage", "--hide-scrollbars",
		"--user-data-dir=" + t.TempDir(), "--enable-logging=stderr", "--v=0"}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
	}
	return browserRun{stdout: stdout.String(), stderr: stderr.String()}
}

func TestBrowser(t *testing.T) {
	bin := chromiumBinary(t)
	srv, polls := browserServer(t, "")
	host := strings.TrimPrefix(srv.URL, "http://")
	art := artifactDir(t)

	t.Run("console check catches errors", func(t *testing.T) {
		r := runChromium(t, bin, "--virtual-time-budget=1000", "--dump-dom", srv.URL+"/broken")
		if len(r.errors(srv.URL)) == 0 {
			t.Fatalf("a page with a script error produced no console error line; stderr:\n%s", r.stderr)
		}
	})

	t.Run("english", func(t *testing.T) {
		polls.Store(0)
		r := runChromium(t, bin, "--virtual-time-budget=3000", "--dump-dom", srv.URL+"/?q=nginx&lang=en")
		if errs := r.errors(srv.URL); len(errs) > 0 {
			t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
		}
		dom := r.stdout
		_ = os.WriteFile(filepath.Join(art, "homepage-en.html"), []byte(dom), 0o644)
		for _, u := range fixtureOptions(nil).Upstreams {
			if !strings.Contains(dom, `<tr data-upstream="`+u.Name+`">`) {
				t.Errorf("upstream table lacks %s", u.Name)
			}
		}
		result := between(dom, `id="resolve-result"`, "</section>")
		if !strings.Contains(result, "resolve-result ok") || !strings.Contains(result, "docker pull "+host+"/nginx:latest") {
			t.Errorf("resolver did not show the pull command for nginx:\n%s", result)
		}
		for _, want := range []string{"docker.io", "library/nginx", "searching the registries in order"} {
			if !strings.Contains(result, want) {
				t.Errorf("resolver result lacks %q", want)
			}
		}
		snippets := strings.Count(dom, `class="snippet"`)
		if buttons := strings.Count(dom, `class="copy"`); buttons != snippets || buttons < 10 {
			t.Errorf("%d copy buttons for %d snippets", buttons, snippets)
		}
		if strings.Contains(dom, `id="theme-toggle" type="button" hidden`) {
			t.Error("theme toggle still hidden after the script ran")
		}
		// The status refreshed without a reload: the page was rendered with
		// downloads=1 and a poll brought 2.
		stat := between(dom, `data-field="downloads"`, "</div>")
		if !strings.Contains(stat, ">2 (+3)") {
			t.Errorf("status not refreshed by polling (polls=%d): %q", polls.Load(), stat)
		}
	})

	t.Run("chinese from Accept-Language", func(t *testing.T) {
		r := runChromium(t, bin, "--lang=zh-CN", "--accept-lang=zh-CN,zh", "--virtual-time-budget=3000", "--dump-dom", srv.URL+"/?q=nginx")
		if errs := r.errors(srv.URL); len(errs) > 0 {
			t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
		}
		dom := r.stdout
		_ = os.WriteFile(filepath.Join(art, "homepage-zh.html"), []byte(dom), 0o644)
		if !strings.Contains(dom, `<html lang="zh-CN"`) {
			t.Fatalf("page not in Chinese for a Chinese browser")
		}
		result := between(dom, `id="resolve-result"`, "</section>")
		for _, want := range []string{"docker pull " + host + "/nginx:latest", "上游仓库", "按顺序查找各仓库", "复制"} {
			if !strings.Contains(result, want) {
				t.Errorf("resolver result lacks %q:\n%s", want, result)
			}
		}
		if !strings.Contains(dom, `<tr data-upstream="gcr.io">`) {
			t.Error("upstream table missing")
		}
	})

	t.Run("resolver error", func(t *testing.T) {
		r := runChromium(t, bin, "--virtual-time-budget=3000", "--dump-dom", srv.URL+"/?q=nosuch/image&lang=en")
		result := between(r.stdout, `id="resolve-result"`, "</section>")
		if !strings.Contains(result, "resolve-result error") || !strings.Contains(result, "NAME_UNKNOWN: no upstream has nosuch/image") {
			t.Errorf("resolver error not shown:\n%s", result)
		}
		// A 404 of the API is expected here; script errors are not.
		for _, l := range r.errors(srv.URL) {
			if !strings.Contains(l, "Failed to load resource") {
				t.Errorf("console error: %s", l)
			}
		}
	})

	shots := []struct {
		name, size, url string
		dark            bool
	}{
		{"homepage-desktop.png", "1280,900", "/?q=nginx&lang=en", false},
		{"homepage-phone.png", "390,844", "/?q=nginx&lang=en", false},
		{"homepage-desktop-zh.png", "1280,900", "/?q=nginx&lang=zh", false},
		{"homepage-phone-zh.png", "390,844", "/?q=nginx&lang=zh", false},
		{"homepage-desktop-dark.png", "1280,900", "/?q=nginx&lang=en", true},
		{"homepage-phone-dark.png", "390,844", "/?lang=zh", true},
	}
	for _, s := range shots {
		t.Run("screenshot "+s.name, func(t *testing.T) {
			out := filepath.Join(art, s.name)
			_ = os.Remove(out)
			args := []string{"--virtual-time-budget=3000", "--window-size=" + s.size, "--screenshot=" + out}
			if s.dark {
				args = append(args, "--force-dark-mode", "--blink-settings=preferredColorScheme=0")
			}
			r := runChromium(t, bin, append(args, srv.URL+s.url)...)
			if errs := r.errors(srv.URL); len(errs) > 0 {
				t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
			}
			fi, err := os.Stat(out)
			if err != nil || fi.Size() < 10000 {
				t.Errorf("screenshot %s missing or tiny: %v", out, err)
			}
		})
	}
}

// TestREADMEScreenshot refreshes docs/img/homepage.png (the README's
// picture, with a public https address) when REGMIRROR_UPDATE_SCREENSHOT=1.
func TestREADMEScreenshot(t *testing.T) {
	if os.Getenv("REGMIRROR_UPDATE_SCREENSHOT") == "" {
		t.Skip("set REGMIRROR_UPDATE_SCREENSHOT=1 to refresh docs/img/homepage.png")
	}
	bin := chromiumBinary(t)
	srv, _ := browserServer(t, "https://mirror.example.org")
	out, err := filepath.Abs(filepath.Join("..", "..", "docs", "img", "homepage.png"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		t.Fatal(err)
	}
	runChromium(t, bin, "--virtual-time-budget=3000", "--window-size=1280,900", "--screenshot="+out, srv.URL+"/?q=nginx&lang=en")
	if fi, err := os.Stat(out); err != nil || fi.Size() < 10000 {
		t.Fatalf("screenshot %s: %v", out, err)
	}
}

// between returns the text of s from the first from up to the next to.
func between(s, from, to string) string {
	i := strings.Index(s, from)
	if i < 0 {
		return ""
	}
	s = s[i:]
	if j := strings.Index(s, to); j >= 0 {
		return s[:j]
	}
	return s
}
