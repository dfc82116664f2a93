package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/regmirror/regmirror/internal/registrytest"
)

func TestLoadMix(t *testing.T) {
	u := registrytest.New(t)
	u.PushIndex(t, "library/load", "latest", "linux/amd64", "linux/arm64")
	out := filepath.Join(t.TempDir(), "r.json")
	var stdout bytes.Buffer
	err := run([]string{"-registry", u.URL, "-repo", "library/load", "-c", "8", "-d", "300ms", "-verify",
		"-pid", itoa(os.Getpid()), "-json", out}, &stdout)
	if err != nil {
		t.Fatalf("%v\n%s", err, stdout.String())
	}
	var r result
	b, _ := os.ReadFile(out)
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if r.Kinds["manifest"].Requests == 0 || r.Kinds["blob"].Requests == 0 || r.Errors != 0 || r.PeakRSSKiB == 0 {
		t.Fatalf("result %+v", r)
	}
	if !strings.Contains(stdout.String(), "0 errors") {
		t.Fatalf("summary: %s", stdout.String())
	}
}

func TestLoadMixCountsErrors(t *testing.T) {
	u := registrytest.New(t)
	u.PushRandomImage(t, "library/load", "latest", 1, 1024)
	u2 := u.URL
	u.Stop() // discovery fails against a dead registry
	if err := run([]string{"-registry", u2, "-c", "2", "-d", "100ms"}, &bytes.Buffer{}); err == nil {
		t.Fatal("no error against a stopped registry")
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }
