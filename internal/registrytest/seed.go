package registrytest

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"
)

// mediaTypes is one family of manifest, config, layer and index types.
type mediaTypes struct {
	manifest, config, layer, index types.MediaType
}

var (
	ociTypes    = mediaTypes{types.OCIManifestSchema1, types.OCIConfigJSON, types.OCILayer, types.OCIImageIndex}
	dockerTypes = mediaTypes{types.DockerManifestSchema2, types.DockerConfigJSON, types.DockerLayer, types.DockerManifestList}
)

// RandomImage returns an image with the given number of random gzipped
// layers of layerSize random bytes each (before compression), and a config
// for platform ("os/arch[/variant]", "" for linux/amd64) that carries a
// random label, so that every image is unique. With docker it uses Docker v2
// media types, else OCI ones.
func RandomImage(t testing.TB, layers int, layerSize int64, platform string, docker bool) v1.Image {
	t.Helper()
	mt := ociTypes
	if docker {
		mt = dockerTypes
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, mt.manifest), mt.config)
	for range layers {
		l, err := random.Layer(layerSize, mt.layer)
		if err != nil {
			t.Fatal(err)
		}
		if img, err = mutate.AppendLayers(img, l); err != nil {
			t.Fatal(err)
		}
	}
	p := parsePlatform(t, platform)
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
	cf.Config.Labels = map[string]string{"registrytest.random": randomHex()}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	return img
}

// PushRandomImage pushes a random OCI image (see RandomImage) for
// linux/amd64 as repo:tag, or by digest only when tag is "".
func (u *Upstream) PushRandomImage(t testing.TB, repo, tag string, layers int, layerSize int64) v1.Image {
	t.Helper()
	img := RandomImage(t, layers, layerSize, "", false)
	u.PushImage(t, repo, tag, img)
	return img
}

// PushIndex pushes an OCI index with one random OCI image per platform
// ("linux/amd64", "linux/arm/v7", …), each with two small layers and its
// descriptor's Platform set.
func (u *Upstream) PushIndex(t testing.TB, repo, tag string, platforms ...string) v1.ImageIndex {
	t.Helper()
	return u.pushIndex(t, repo, tag, ociTypes, platforms)
}

// PushDockerIndex is PushIndex with a Docker manifest list of Docker v2
// manifests.
func (u *Upstream) PushDockerIndex(t testing.TB, repo, tag string, platforms ...string) v1.ImageIndex {
	t.Helper()
	return u.pushIndex(t, repo, tag, dockerTypes, platforms)
}

func (u *Upstream) pushIndex(t testing.TB, repo, tag string, mt mediaTypes, platforms []string) v1.ImageIndex {
	t.Helper()
	idx := mutate.IndexMediaType(empty.Index, mt.index)
	for _, p := range platforms {
		img := RandomImage(t, 2, 512, p, mt == dockerTypes)
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: parsePlatform(t, p)},
		})
	}
	u.PushImageIndex(t, repo, tag, idx)
	return idx
}

// PushImage pushes img with its blobs as repo:tag, or by digest when tag is "".
func (u *Upstream) PushImage(t testing.TB, repo, tag string, img v1.Image) {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(u.seedRef(t, repo, tag, d), img); err != nil {
		t.Fatalf("push %s:%s: %v", repo, tag, err)
	}
}

// PushImageIndex pushes idx with its children as repo:tag, or by digest
// when tag is "".
func (u *Upstream) PushImageIndex(t testing.TB, repo, tag string, idx v1.ImageIndex) {
	t.Helper()
	d, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(u.seedRef(t, repo, tag, d), idx); err != nil {
		t.Fatalf("push index %s:%s: %v", repo, tag, err)
	}
}

// Digest returns the digest the upstream holds for repo at ref (a tag or a
// digest), asked of the seed server.
func (u *Upstream) Digest(t testing.TB, repo, ref string) digest.Digest {
	t.Helper()
	sep := ":"
	if strings.Contains(ref, ":") {
		sep = "@"
	}
	r, err := name.ParseReference(strings.TrimPrefix(u.SeedURL, "http://")+"/"+repo+sep+ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Head(r)
	if err != nil {
		t.Fatalf("head %s%s%s: %v", repo, sep, ref, err)
	}
	return digest.Digest(desc.Digest.String())
}

// seedRef is repo:tag on the seed server, or repo@d when tag is "".
func (u *Upstream) seedRef(t testing.TB, repo, tag string, d v1.Hash) name.Reference {
	t.Helper()
	s := strings.TrimPrefix(u.SeedURL, "http://") + "/" + repo
	if tag == "" {
		s += "@" + d.String()
	} else {
		s += ":" + tag
	}
	r, err := name.ParseReference(s, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func parsePlatform(t testing.TB, s string) *v1.Platform {
	t.Helper()
	if s == "" {
		s = "linux/amd64"
	}
	p, err := v1.ParsePlatform(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func randomHex() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
