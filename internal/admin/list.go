package admin

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/regmirror/regmirror/internal/meta"
	"github.com/regmirror/regmirror/internal/oci"
	"github.com/regmirror/regmirror/internal/store"
)

// Repo is one cached repository.
type Repo struct {
	// Upstream and Repo are empty for objects recorded by a metadata
	// rebuild, whose origin is unknown.
	Upstream string `json:"upstream"`
	Repo     string `json:"repo"`
	Tags     []Tag  `json:"tags,omitempty"`
	// Objects and Bytes count the objects first fetched for this
	// repository (a blob shared by several counts once, for the first).
	Objects int   `json:"objects"`
	Bytes   int64 `json:"bytes"`
	// Accessed is the most recent access of any of those objects.
	Accessed time.Time `json:"accessed,omitzero"`
}

// Tag is one cached tag.
type Tag struct {
	Tag       string        `json:"tag"`
	Digest    digest.Digest `json:"digest"`
	MediaType string        `json:"mediaType"`
	CheckedAt time.Time     `json:"checkedAt"`
	// Bytes is what the tag's image has in the cache: its manifest and the
	// cached objects it references (for an index, of every cached platform).
	Bytes int64 `json:"bytes"`
	// Accessed is the manifest's last access; zero when it is not cached.
	Accessed time.Time `json:"accessed,omitzero"`
}

// List returns the cached repositories (of one upstream when upstream is
// not ""), sorted by upstream and name, each with its sorted tags.
func List(ctx context.Context, m meta.Store, s store.Store, upstream string) ([]Repo, error) {
	objs := make(map[digest.Digest]meta.Object)
	repos := make(map[[2]string]*Repo)
	repo := func(up, name string) *Repo {
		k := [2]string{up, name}
		if repos[k] == nil {
			repos[k] = &Repo{Upstream: up, Repo: name}
		}
		return repos[k]
	}
	err := m.WalkObjects(ctx, func(o meta.Object) error {
		objs[o.Digest] = o
		if upstream != "" && o.Upstream != upstream {
			return nil
		}
		r := repo(o.Upstream, o.Repo)
		r.Objects++
		r.Bytes += o.Size
		if o.Accessed.After(r.Accessed) {
			r.Accessed = o.Accessed
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = m.WalkTags(ctx, func(k meta.TagKey, t meta.Tag) error {
		if upstream != "" && k.Upstream != upstream {
			return nil
		}
		tag := Tag{Tag: k.Tag, Digest: t.Digest, MediaType: t.MediaType, CheckedAt: t.CheckedAt}
		if o, ok := objs[t.Digest]; ok {
			tag.Accessed = o.Accessed
			tag.Bytes = imageBytes(ctx, s, objs, t.Digest)
		}
		r := repo(k.Upstream, k.Repo)
		r.Tags = append(r.Tags, tag)
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]Repo, 0, len(repos))
	for _, r := range repos {
		slices.SortFunc(r.Tags, func(a, b Tag) int { return cmp.Compare(a.Tag, b.Tag) })
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b Repo) int {
		return cmp.Or(cmp.Compare(a.Upstream, b.Upstream), cmp.Compare(a.Repo, b.Repo))
	})
	return out, nil
}

// imageBytes adds up the cached objects of the image or index d: the
// manifest, its config and layers, and for an index its children. Only
// manifests are read (never a layer).
func imageBytes(ctx context.Context, s store.Store, objs map[digest.Digest]meta.Object, d digest.Digest) int64 {
	seen := make(map[digest.Digest]bool)
	var walk func(d digest.Digest, manifest bool)
	walk = func(d digest.Digest, manifest bool) {
		if _, ok := objs[d]; !ok || seen[d] {
			return
		}
		seen[d] = true
		if !manifest {
			return
		}
		children, blobs, err := references(ctx, s, d)
		if err != nil {
			return // unreadable: count the manifest alone
		}
		for _, c := range children {
			walk(c, true)
		}
		for _, b := range blobs {
			walk(b, false)
		}
	}
	walk(d, true)
	var n int64
	for d := range seen {
		n += objs[d].Size
	}
	return n
}

// references reads the cached manifest d and returns what it points at:
// the children of an index, or the config and layers of an image.
func references(ctx context.Context, s store.Store, d digest.Digest) (children, blobs []digest.Digest, err error) {
	rc, err := s.Open(ctx, d)
	if err != nil {
		return nil, nil, err
	}
	defer rc.Close()
	body, err := io.ReadAll(io.LimitReader(rc, oci.MaxManifestSize+1))
	if err != nil {
		return nil, nil, err
	}
	if len(body) > oci.MaxManifestSize {
		return nil, nil, errors.New("too large for a manifest")
	}
	var m struct {
		Manifests []ocispec.Descriptor `json:"manifests"`
		Config    *ocispec.Descriptor  `json:"config"`
		Layers    []ocispec.Descriptor `json:"layers"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, nil, err
	}
	for _, desc := range m.Manifests {
		children = append(children, desc.Digest)
	}
	for _, desc := range m.Layers {
		blobs = append(blobs, desc.Digest)
	}
	if m.Config != nil {
		blobs = append(blobs, m.Config.Digest)
	}
	return children, blobs, nil
}
