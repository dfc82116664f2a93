package prefetch

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// choosePlatforms picks the children of an index for the platforms asked
// for, and names the platforms chosen.
func choosePlatforms(body []byte, platforms []string) ([]digest.Digest, []string, error) {
	var idx ocispec.Index
	if err := json.Unmarshal(body, &idx); err != nil {
		return nil, nil, fmt.Errorf("unreadable index: %w", err)
	}
	var out []digest.Digest
	var names []string
	take := func(m ocispec.Descriptor) {
		out = append(out, m.Digest)
		names = append(names, platformString(m.Platform))
	}
	if len(platforms) == 0 {
		for _, m := range idx.Manifests {
			if m.Platform != nil && m.Platform.OS == "unknown" {
				continue // attestation manifests (buildx) carry unknown/unknown
			}
			take(m)
		}
		return out, names, nil
	}
	for _, want := range platforms {
		found := false
		for _, m := range idx.Manifests {
			if matches(m.Platform, want) {
				take(m)
				found = true
				break
			}
		}
		if !found {
			return nil, nil, fmt.Errorf("the index has no %s manifest", want)
		}
	}
	return out, names, nil
}

// matches reports whether p is the platform want ("os/arch[/variant]"); a
// want without variant matches any variant.
func matches(p *ocispec.Platform, want string) bool {
	if p == nil {
		return false
	}
	parts := strings.Split(want, "/")
	if len(parts) < 2 || parts[0] != p.OS || parts[1] != p.Architecture {
		return false
	}
	return len(parts) < 3 || parts[2] == p.Variant
}

func platformString(p *ocispec.Platform) string {
	if p == nil {
		return ""
	}
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// imageBlobs lists the config and layers of the image manifests, without
// duplicates, and counts foreign layers (with URLs), which are skipped.
func imageBlobs(manifests [][]byte) ([]blob, int, error) {
	seen := make(map[digest.Digest]bool)
	var out []blob
	foreign := 0
	add := func(desc ocispec.Descriptor) {
		if seen[desc.Digest] {
			return
		}
		seen[desc.Digest] = true
		out = append(out, blob{d: desc.Digest, size: desc.Size})
	}
	for _, body := range manifests {
		var m ocispec.Manifest
		if err := json.Unmarshal(body, &m); err != nil {
			return nil, 0, fmt.Errorf("unreadable manifest: %w", err)
		}
		if m.Config.Digest == "" {
			return nil, 0, errors.New("manifest without a config (not an image?)")
		}
		if err := m.Config.Digest.Validate(); err != nil {
			return nil, 0, fmt.Errorf("config digest: %w", err)
		}
		add(m.Config)
		for _, l := range m.Layers {
			if err := l.Digest.Validate(); err != nil {
				return nil, 0, fmt.Errorf("layer digest: %w", err)
			}
			if len(l.URLs) > 0 {
				foreign++
				continue
			}
			add(l)
		}
	}
	return out, foreign, nil
}

// FormatBytes writes n in binary units ("1.5 GiB"), for progress lines.
func FormatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
