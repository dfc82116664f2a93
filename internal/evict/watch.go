package evict

import (
	"context"

	"github.com/regmirror/regmirror/internal/meta"
)

// Watch returns m with PutObject reporting each stored object to e.Added,
// so that a commit that pushes the cache past its limit triggers a sweep
// without waiting for the next interval. Give the mirror the returned store;
// give the Evictor m itself.
func (e *Evictor) Watch(m meta.Store) meta.Store { return &watched{Store: m, e: e} }

type watched struct {
	meta.Store
	e *Evictor
}

// PutObject implements meta.Objects.
func (w *watched) PutObject(ctx context.Context, o meta.Object) error {
	err := w.Store.PutObject(ctx, o)
	if err == nil {
		w.e.Added(o.Size)
	}
	return err
}
