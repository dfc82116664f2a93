package mirror

import "context"

// FlushAccess writes the access times batched in memory to the metadata
// store now, so that eviction decides on current access times.
func (m *Mirror) FlushAccess(ctx context.Context) error { return m.access.Flush(ctx) }
