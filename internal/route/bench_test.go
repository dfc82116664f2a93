package route

import "testing"

// BenchmarkRoute measures one routing decision per rule; run with
// go test -bench=Route -benchmem ./internal/route/.
func BenchmarkRoute(b *testing.B) {
	r := testRouter(b)
	for _, bc := range []struct{ label, name, ns string }{
		{"ns", "library/nginx", "docker.io"},
		{"prefix", "gcr.io/distroless/static", ""},
		{"rule", "prometheus/node-exporter", ""},
		{"implicit", "bitnami/redis", ""},
		{"unknown-registry", "evil.example/x", ""},
	} {
		b.Run(bc.label, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.Route(bc.name, bc.ns); err != nil && bc.label != "unknown-registry" {
					b.Fatal(err)
				}
			}
		})
	}
}
