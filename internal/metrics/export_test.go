package metrics

// Exported for the external test that compares with internal/registry.
const (
	HeaderUpstream = headerUpstream
	HeaderCache    = headerCache
)

// KnownResult reports whether the middleware counts a cache result.
func KnownResult(s string) bool { _, ok := resultOf(s); return ok }
