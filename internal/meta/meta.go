// Package meta defines the mirror's metadata: tags, name resolutions, and
// what each cached object is (size, media type, where it came from, when it
// was last read). Content itself lives in internal/store.
//
// Backends: internal/meta/bolt (embedded, default) and internal/meta/redis
// (shared between nodes).
package meta

import (
	"context"
	"errors"
	"time"

	"github.com/opencontainers/go-digest"
)

// ErrNotFound: no such record.
var ErrNotFound = errors.New("metadata not found")

// TagKey names a tag on one upstream. Cache keys always carry the upstream:
// quay.io/prometheus/prometheus:v2 and docker.io/prometheus/prometheus:v2 are
// different entries.
type TagKey struct {
	Upstream string // configured upstream name, e.g. "docker.io"
	Repo     string // repository on that upstream, e.g. "library/nginx"
	Tag      string
}

// Tag is what a tag pointed at when last checked.
type Tag struct {
	Digest    digest.Digest `json:"digest"`
	MediaType string        `json:"mediaType"`
	Size      int64         `json:"size"`
	// CheckedAt is when the upstream last confirmed (or gave) this answer.
	CheckedAt time.Time `json:"checkedAt"`
}

// Object describes one object in the content store.
type Object struct {
	Digest digest.Digest `json:"digest"`
	Size   int64         `json:"size"`
	// MediaType is set for manifests, empty for blobs.
	MediaType string `json:"mediaType,omitempty"`
	// Upstream and Repo say where the object was first fetched from, so an
	// evicted object can be refetched and `cache ls` can group by upstream.
	Upstream string    `json:"upstream,omitempty"`
	Repo     string    `json:"repo,omitempty"`
	Created  time.Time `json:"created"`
	Accessed time.Time `json:"accessed"`
}

// Tags stores tag answers.
type Tags interface {
	// GetTag returns ErrNotFound when the tag is not cached.
	GetTag(ctx context.Context, k TagKey) (Tag, error)
	PutTag(ctx context.Context, k TagKey, t Tag) error
	// DeleteTag of an absent tag is not an error.
	DeleteTag(ctx context.Context, k TagKey) error
	// ListTags returns the cached tags of a repository, sorted.
	ListTags(ctx context.Context, upstream, repo string) ([]string, error)
	// WalkTags visits every cached tag.
	WalkTags(ctx context.Context, fn func(TagKey, Tag) error) error
}

// Resolutions stores which upstream an implicit name resolved to.
type Resolutions interface {
	// GetResolution returns the upstream name, or ErrNotFound.
	GetResolution(ctx context.Context, name string) (string, error)
	PutResolution(ctx context.Context, name, upstream string) error
	DeleteResolution(ctx context.Context, name string) error
}

// Objects stores per-object records.
type Objects interface {
	// GetObject returns ErrNotFound when there is no record.
	GetObject(ctx context.Context, d digest.Digest) (Object, error)
	// PutObject creates or replaces the record.
	PutObject(ctx context.Context, o Object) error
	// DeleteObject of an absent record is not an error.
	DeleteObject(ctx context.Context, d digest.Digest) error
	// Touch records access times in one batch; unknown digests are skipped.
	Touch(ctx context.Context, accessed map[digest.Digest]time.Time) error
	// WalkObjects visits every record.
	WalkObjects(ctx context.Context, fn func(Object) error) error
}

// Store is everything the mirror keeps besides content.
type Store interface {
	Tags
	Resolutions
	Objects
	Close() error
}
