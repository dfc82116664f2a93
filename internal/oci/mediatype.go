package oci

import (
	"encoding/json"
	"strings"
)

// Manifest media types regmirror asks upstreams for, always the same list
// whatever the client asked for, so that one cached answer serves every client.
const (
	MediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	MediaTypeOCIManifest        = "application/vnd.oci.image.manifest.v1+json"
	MediaTypeOCIIndex           = "application/vnd.oci.image.index.v1+json"
)

// ManifestAccept is the Accept header value sent upstream for manifests.
var ManifestAccept = strings.Join([]string{
	MediaTypeOCIIndex, MediaTypeDockerManifestList, MediaTypeOCIManifest, MediaTypeDockerManifest,
}, ", ")

// MaxManifestSize bounds what is read of a manifest, upstream or client side
// (distribution uses 4 MiB too).
const MaxManifestSize = 4 << 20

// IsIndex reports whether mt is an index or manifest list media type.
func IsIndex(mt string) bool {
	return mt == MediaTypeOCIIndex || mt == MediaTypeDockerManifestList
}

// SniffManifestType works out a manifest's media type from its content: the
// mediaType field when present, else OCI index or OCI manifest by shape. Used
// when the metadata database was lost and the type must be rebuilt from the
// bytes on disk.
func SniffManifestType(b []byte) string {
	var m struct {
		MediaType     string            `json:"mediaType"`
		SchemaVersion int               `json:"schemaVersion"`
		Manifests     []json.RawMessage `json:"manifests"`
		Config        json.RawMessage   `json:"config"`
		Layers        json.RawMessage   `json:"layers"`
	}
	if json.Unmarshal(b, &m) != nil {
		return ""
	}
	switch {
	case m.SchemaVersion != 2:
		return ""
	case m.MediaType != "":
		return m.MediaType
	case m.Manifests != nil:
		return MediaTypeOCIIndex
	case m.Config != nil || m.Layers != nil:
		return MediaTypeOCIManifest
	}
	return ""
}
