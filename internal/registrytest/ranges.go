package registrytest

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"time"
)

// rangeHandler serves blob GETs with full Range support (open-ended and
// suffix ranges, 416, Accept-Ranges), which go-containerregistry's registry
// lacks: it answers "bytes=N-" with 416. Blobs in tests are small, so the
// whole blob is fetched from next and served with http.ServeContent.
func rangeHandler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || kindOf(r.URL.Path) != "blobs" {
			next.ServeHTTP(w, r)
			return
		}
		inner := r.Clone(r.Context())
		inner.Header.Del("Range")
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, inner)
		if rec.Code != http.StatusOK {
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			_, _ = w.Write(rec.Body.Bytes())
			return
		}
		for _, k := range []string{"Content-Type", "Docker-Content-Digest"} {
			if v := rec.Header().Get(k); v != "" {
				w.Header().Set(k, v)
			}
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(rec.Body.Bytes()))
	})
}
