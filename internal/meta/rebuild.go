package meta

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/regmirror/regmirror/internal/store"
)

// ObjectBatcher is implemented by Objects backends that can write many
// records in one transaction. Rebuild uses it when available: one commit per
// batch instead of one per object.
type ObjectBatcher interface {
	// PutObjects creates or replaces every record in objs, atomically.
	PutObjects(ctx context.Context, objs []Object) error
}

// rebuildBatch is how many records Rebuild writes per PutObjects call.
const rebuildBatch = 512

// Rebuild creates an Object record for every object that the store has and
// db lacks: Size from the store, Created and Accessed set to now, MediaType,
// Upstream and Repo left empty (the mirror sniffs manifest types when it
// next serves one). Existing records are left as they are, and records of
// objects the store no longer has are not removed. It returns how many
// records it created. Call it after the metadata database was recreated
// (bolt's Recreated) or to repair drift.
func Rebuild(ctx context.Context, db Objects, w store.Walker, now time.Time) (n int, err error) {
	batcher, _ := db.(ObjectBatcher)
	var pending []Object
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		if err := batcher.PutObjects(ctx, pending); err != nil {
			return err
		}
		n += len(pending)
		pending = pending[:0]
		return nil
	}

	err = w.Walk(ctx, func(d digest.Digest, size int64) error {
		_, err := db.GetObject(ctx, d)
		if err == nil {
			return nil
		}
		if !errors.Is(err, ErrNotFound) {
			return err
		}
		o := Object{Digest: d, Size: size, Created: now, Accessed: now}
		if batcher == nil {
			if err := db.PutObject(ctx, o); err != nil {
				return err
			}
			n++
			return nil
		}
		pending = append(pending, o)
		if len(pending) >= rebuildBatch {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return n, fmt.Errorf("rebuild metadata: %w", err)
	}
	return n, nil
}
