package evict

import (
	"context"
	"fmt"
	"time"

	"github.com/regmirror/regmirror/internal/config"
	"github.com/regmirror/regmirror/internal/meta"
)

// Usage is what the cache holds, from the metadata records.
type Usage struct {
	Bytes         int64 `json:"bytes"`
	Objects       int   `json:"objects"`
	Manifests     int   `json:"manifests"`
	ManifestBytes int64 `json:"manifestBytes"`
	Blobs         int   `json:"blobs"`
	BlobBytes     int64 `json:"blobBytes"`
	Tags          int   `json:"tags"`
	// OldestAccess is the least recent access time of any object.
	OldestAccess time.Time `json:"oldestAccess,omitzero"`
	// The configured bounds: MaxSize 0 is unlimited, MaxAge 0 is off.
	MaxSize  config.Size     `json:"maxSize"`
	LowWater float64         `json:"lowWater"`
	MaxAge   config.Duration `json:"maxAge"`
}

// Usage adds up the object records. Objects with a media type count as
// manifests (records rebuilt from disk have none until served again, so
// they count as blobs).
func (e *Evictor) Usage(ctx context.Context) (Usage, error) {
	u := Usage{MaxSize: config.Size(e.opts.MaxSize), LowWater: e.opts.LowWater, MaxAge: config.Duration(e.opts.MaxAge)}
	err := e.opts.Meta.WalkObjects(ctx, func(o meta.Object) error {
		u.Objects++
		u.Bytes += o.Size
		if o.MediaType != "" {
			u.Manifests++
			u.ManifestBytes += o.Size
		} else {
			u.Blobs++
			u.BlobBytes += o.Size
		}
		if u.OldestAccess.IsZero() || o.Accessed.Before(u.OldestAccess) {
			u.OldestAccess = o.Accessed
		}
		return nil
	})
	if err == nil {
		err = e.opts.Meta.WalkTags(ctx, func(meta.TagKey, meta.Tag) error {
			u.Tags++
			return nil
		})
	}
	if err != nil {
		return u, fmt.Errorf("cache usage: %w", err)
	}
	return u, nil
}
