package registry

import (
	"net/http"
	"strconv"

	"github.com/regmirror/regmirror/internal/mirror"
	"github.com/regmirror/regmirror/internal/oci"
)

// maxTagsPage bounds n, so one request cannot ask for an unbounded answer.
const maxTagsPage = 10000

// tags answers GET /v2/<name>/tags/list with n/last pagination
// (https://github.com/opencontainers/distribution-spec/blob/main/spec.md#listing-tags).
func (s *Server) tags(w http.ResponseWriter, r *http.Request, rt Route) error {
	q := r.URL.Query()
	n := 0
	if v := q.Get("n"); v != "" {
		var err error
		n, err = strconv.Atoi(v)
		if err != nil || n < 0 {
			return oci.NewError(oci.CodeUnsupported, "invalid n %q", short(v)).WithStatus(http.StatusBadRequest)
		}
		n = min(n, maxTagsPage)
	}
	last := q.Get("last")
	if n == 0 && q.Has("n") {
		// n=0 asks for an empty page.
		return s.writeJSON(w, r, encodeEmptyTags(rt.Name), "", "")
	}
	tl, err := s.m.Tags(r.Context(), rt.Name, q.Get("ns"), n, last)
	if err != nil {
		return err
	}
	setOrigin(w.Header(), tl.Upstream, tl.Cache)
	return s.writeJSON(w, r, tl.Body, "application/json", tl.Link)
}

// referrers answers GET /v2/<name>/referrers/<digest>
// (https://github.com/opencontainers/distribution-spec/blob/main/spec.md#listing-referrers).
func (s *Server) referrers(w http.ResponseWriter, r *http.Request, rt Route) error {
	d, err := oci.ParseDigest(rt.Ref)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	ref, err := s.m.Referrers(r.Context(), rt.Name, q.Get("ns"), d, q.Get("artifactType"))
	if err != nil {
		return err
	}
	setOrigin(w.Header(), ref.Upstream, mirror.Pass)
	return s.writeJSON(w, r, ref.Body, ref.MediaType, "")
}

func (s *Server) writeJSON(w http.ResponseWriter, r *http.Request, body []byte, contentType, link string) error {
	h := w.Header()
	if contentType == "" {
		contentType = "application/json"
	}
	h.Set("Content-Type", contentType)
	if link != "" {
		h.Set("Link", link)
	}
	setLength(h, int64(len(body)))
	if r.Method == http.MethodGet {
		_, _ = w.Write(body)
	}
	return nil
}

func encodeEmptyTags(name string) []byte {
	return []byte(`{"name":"` + name + `","tags":[]}`)
}
