// Package metatest is the conformance suite that every meta.Store backend
// runs from its own tests:
//
//	func TestConformance(t *testing.T) {
//		metatest.Run(t, func(t *testing.T) meta.Store { return openTestDB(t) })
//	}
package metatest

import (
	"context"
	// digest.FromString needs the hash linked in.
	_ "crypto/sha256"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/regmirror/regmirror/internal/meta"
)

// Run runs the suite. open must return a new, empty store each time it is
// called and close it when the test ends (t.Cleanup).
func Run(t *testing.T, open func(t *testing.T) meta.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s meta.Store)
	}{
		{"Tags", testTags},
		{"ListTagsScope", testListTagsScope},
		{"WalkTags", testWalkTags},
		{"Resolutions", testResolutions},
		{"Objects", testObjects},
		{"Touch", testTouch},
		{"WalkObjects", testWalkObjects},
		{"WalkWhileWriting", testWalkWhileWriting},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open(t)) })
	}
}

// at returns a fixed time, h hours after a base, in UTC with nanoseconds,
// so that a lossy encoding of times shows.
func at(h int) time.Time {
	return time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC).Add(time.Duration(h) * time.Hour)
}

// dg returns a distinct valid digest for i.
func dg(i int) digest.Digest { return digest.FromString(fmt.Sprintf("object %d", i)) }

func testTags(t *testing.T, s meta.Store) {
	ctx := context.Background()
	k := meta.TagKey{Upstream: "docker.io", Repo: "library/nginx", Tag: "latest"}
	if _, err := s.GetTag(ctx, k); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("GetTag of absent tag: %v, want ErrNotFound", err)
	}
	want := meta.Tag{Digest: dg(1), MediaType: "application/vnd.oci.image.index.v1+json", Size: 1234, CheckedAt: at(0)}
	if err := s.PutTag(ctx, k, want); err != nil {
		t.Fatalf("PutTag: %v", err)
	}
	got, err := s.GetTag(ctx, k)
	if err != nil {
		t.Fatalf("GetTag: %v", err)
	}
	assertTag(t, got, want)

	// Replace.
	want = meta.Tag{Digest: dg(2), MediaType: "application/vnd.docker.distribution.manifest.v2+json", Size: 99, CheckedAt: at(1)}
	if err := s.PutTag(ctx, k, want); err != nil {
		t.Fatalf("PutTag (replace): %v", err)
	}
	got, err = s.GetTag(ctx, k)
	if err != nil {
		t.Fatalf("GetTag: %v", err)
	}
	assertTag(t, got, want)

	// The same repo and tag on another upstream is another entry.
	if _, err := s.GetTag(ctx, meta.TagKey{Upstream: "quay.io", Repo: k.Repo, Tag: k.Tag}); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("GetTag on another upstream: %v, want ErrNotFound", err)
	}

	if err := s.DeleteTag(ctx, k); err != nil {
		t.Fatalf("DeleteTag: %v", err)
	}
	if _, err := s.GetTag(ctx, k); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("GetTag after delete: %v, want ErrNotFound", err)
	}
	if err := s.DeleteTag(ctx, k); err != nil {
		t.Fatalf("DeleteTag of absent tag: %v", err)
	}
}

func testListTagsScope(t *testing.T, s meta.Store) {
	ctx := context.Background()
	put := []meta.TagKey{
		{Upstream: "docker.io", Repo: "a", Tag: "v2"},
		{Upstream: "docker.io", Repo: "a", Tag: "latest"},
		{Upstream: "docker.io", Repo: "a", Tag: "V1"},
		{Upstream: "docker.io", Repo: "a/b", Tag: "inner"},
		{Upstream: "docker.io", Repo: "ab", Tag: "longer"},
		{Upstream: "docker.io", Repo: "x", Tag: "docker"},
		{Upstream: "quay.io", Repo: "x", Tag: "quay"},
		{Upstream: "quay.io", Repo: "a", Tag: "other-upstream"},
		{Upstream: "docker.iox", Repo: "a", Tag: "upstream-prefix"},
	}
	for i, k := range put {
		if err := s.PutTag(ctx, k, meta.Tag{Digest: dg(i), CheckedAt: at(i)}); err != nil {
			t.Fatalf("PutTag(%v): %v", k, err)
		}
	}
	tests := []struct {
		upstream, repo string
		want           []string
	}{
		{"docker.io", "a", []string{"V1", "latest", "v2"}},
		{"docker.io", "a/b", []string{"inner"}},
		{"docker.io", "ab", []string{"longer"}},
		{"docker.io", "x", []string{"docker"}},
		{"quay.io", "x", []string{"quay"}},
		{"quay.io", "a", []string{"other-upstream"}},
		{"docker.iox", "a", []string{"upstream-prefix"}},
		{"docker.io", "nothing", nil},
		{"gcr.io", "a", nil},
	}
	for _, tt := range tests {
		got, err := s.ListTags(ctx, tt.upstream, tt.repo)
		if err != nil {
			t.Fatalf("ListTags(%s, %s): %v", tt.upstream, tt.repo, err)
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.want) || len(got) != len(tt.want) {
			t.Errorf("ListTags(%s, %s) = %q, want %q", tt.upstream, tt.repo, got, tt.want)
		}
	}
}

func testWalkTags(t *testing.T, s meta.Store) {
	ctx := context.Background()
	want := map[meta.TagKey]meta.Tag{}
	for i, k := range []meta.TagKey{
		{Upstream: "docker.io", Repo: "library/nginx", Tag: "1"},
		{Upstream: "docker.io", Repo: "library/nginx", Tag: "2"},
		{Upstream: "ghcr.io", Repo: "org/app", Tag: "main"},
	} {
		tag := meta.Tag{Digest: dg(i), Size: int64(i), CheckedAt: at(i)}
		want[k] = tag
		if err := s.PutTag(ctx, k, tag); err != nil {
			t.Fatal(err)
		}
	}
	got := map[meta.TagKey]meta.Tag{}
	if err := s.WalkTags(ctx, func(k meta.TagKey, tag meta.Tag) error {
		if _, dup := got[k]; dup {
			t.Errorf("WalkTags visited %v twice", k)
		}
		got[k] = tag
		return nil
	}); err != nil {
		t.Fatalf("WalkTags: %v", err)
	}
	if len(got) != len(want) {
		t.Fatalf("WalkTags visited %d tags, want %d", len(got), len(want))
	}
	for k, w := range want {
		assertTag(t, got[k], w)
	}
	stop := errors.New("stop")
	calls := 0
	if err := s.WalkTags(ctx, func(meta.TagKey, meta.Tag) error { calls++; return stop }); !errors.Is(err, stop) || calls != 1 {
		t.Errorf("WalkTags with failing fn: %v after %d calls, want %v after 1", err, calls, stop)
	}
}

func testResolutions(t *testing.T, s meta.Store) {
	ctx := context.Background()
	if _, err := s.GetResolution(ctx, "nginx"); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("GetResolution of absent name: %v, want ErrNotFound", err)
	}
	for _, up := range []string{"docker.io", "quay.io"} { // put, then replace
		if err := s.PutResolution(ctx, "nginx", up); err != nil {
			t.Fatalf("PutResolution: %v", err)
		}
		if got, err := s.GetResolution(ctx, "nginx"); err != nil || got != up {
			t.Fatalf("GetResolution = %q, %v; want %q", got, err, up)
		}
	}
	if err := s.PutResolution(ctx, "org/app", "ghcr.io"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteResolution(ctx, "nginx"); err != nil {
		t.Fatalf("DeleteResolution: %v", err)
	}
	if _, err := s.GetResolution(ctx, "nginx"); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("GetResolution after delete: %v, want ErrNotFound", err)
	}
	if err := s.DeleteResolution(ctx, "nginx"); err != nil {
		t.Fatalf("DeleteResolution of absent name: %v", err)
	}
	if got, err := s.GetResolution(ctx, "org/app"); err != nil || got != "ghcr.io" {
		t.Fatalf("GetResolution(org/app) = %q, %v", got, err)
	}
}

// assertTag compares tags, times by instant.
func assertTag(t *testing.T, got, want meta.Tag) {
	t.Helper()
	if got.Digest != want.Digest || got.MediaType != want.MediaType || got.Size != want.Size || !got.CheckedAt.Equal(want.CheckedAt) {
		t.Errorf("tag = %+v, want %+v", got, want)
	}
}
