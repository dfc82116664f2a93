package metrics_test

import (
	"testing"

	"github.com/regmirror/regmirror/internal/metrics"
	"github.com/regmirror/regmirror/internal/mirror"
	"github.com/regmirror/regmirror/internal/registry"
)

// The middleware reads the registry's headers and cache results by value;
// this keeps the two packages in step.
func TestHeadersMatchRegistry(t *testing.T) {
	if metrics.HeaderUpstream != registry.HeaderUpstream || metrics.HeaderCache != registry.HeaderCache {
		t.Errorf("header names differ from internal/registry's")
	}
	for _, r := range []mirror.CacheResult{mirror.Hit, mirror.Revalid, mirror.Miss, mirror.Coalesced, mirror.Stale, mirror.Pass} {
		if !metrics.KnownResult(string(r)) {
			t.Errorf("cache result %q unknown to metrics", r)
		}
	}
}
