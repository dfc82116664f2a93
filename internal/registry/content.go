package registry

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/regmirror/regmirror/internal/mirror"
	"github.com/regmirror/regmirror/internal/oci"
)

// manifest answers GET and HEAD /v2/<name>/manifests/<ref>
// (https://github.com/opencontainers/distribution-spec/blob/main/spec.md#pulling-manifests)
// with the upstream's exact bytes, media type and digest.
func (s *Server) manifest(w http.ResponseWriter, r *http.Request, rt Route) error {
	mf, err := s.m.Manifest(r.Context(), rt.Name, nsParam(r), rt.Ref)
	if err != nil {
		return err
	}
	// Canonical keys assigned directly: this is the hottest answer there is.
	h := w.Header()
	setOrigin(h, mf.Upstream, mf.Cache)
	h["Content-Type"] = []string{mf.MediaType}
	h["Docker-Content-Digest"] = []string{mf.Digest.String()}
	h["Etag"] = []string{`"` + mf.Digest.String() + `"`}
	h["Content-Length"] = []string{strconv.Itoa(len(mf.Body))}
	if r.Method == http.MethodGet {
		_, _ = w.Write(mf.Body)
	}
	return nil
}

// headBlob answers HEAD /v2/<name>/blobs/<digest> without downloading it.
func (s *Server) headBlob(w http.ResponseWriter, r *http.Request, rt Route) error {
	d, err := oci.ParseDigest(rt.Ref)
	if err != nil {
		return err
	}
	size, up, res, err := s.m.StatBlob(r.Context(), rt.Name, nsParam(r), d)
	if err != nil {
		return err
	}
	h := w.Header()
	setOrigin(h, up, res)
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Docker-Content-Digest", d.String())
	h.Set("Accept-Ranges", "bytes")
	setLength(h, size)
	return nil
}

// getBlob answers GET /v2/<name>/blobs/<digest>
// (https://github.com/opencontainers/distribution-spec/blob/main/spec.md#pulling-blobs),
// with single-range support. A cached blob goes out with http.ServeContent
// (sendfile on the disk store); a blob still downloading is streamed as it
// arrives.
func (s *Server) getBlob(w http.ResponseWriter, r *http.Request, rt Route) error {
	d, err := oci.ParseDigest(rt.Ref)
	if err != nil {
		return err
	}
	ranged := r.Header.Get("Range") != ""
	ctx := r.Context()
	if r.Header.Get(mirror.PeerHeader) != "" {
		// Another node follows this one's download: never send it back.
		ctx = mirror.WithPeerRequest(ctx)
	}
	b, err := s.m.Blob(ctx, rt.Name, nsParam(r), d, s.opts.Redirect && !ranged)
	if err != nil {
		return err
	}
	defer b.Close()
	h := w.Header()
	setOrigin(h, b.Upstream, b.Cache)
	h.Set("Docker-Content-Digest", d.String())
	switch {
	case b.RedirectURL != "":
		http.Redirect(w, r, b.RedirectURL, http.StatusTemporaryRedirect)
		return nil
	case b.Content != nil:
		h.Set("Content-Type", "application/octet-stream")
		h.Set("ETag", `"`+d.String()+`"`)
		http.ServeContent(w, r, "", time.Time{}, b.Content)
		return nil
	}
	return s.streamFill(w, r, b)
}

// streamFill sends a blob that is still downloading, following the download.
// If the download fails mid-way the response is aborted, so the client sees
// a broken transfer rather than a short body.
func (s *Server) streamFill(w http.ResponseWriter, r *http.Request, b *mirror.Blob) error {
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Accept-Ranges", "bytes")
	start, end, status := int64(0), int64(-1), http.StatusOK
	br, ok, err := parseRange(r.Header.Get("Range"), b.Size)
	if err != nil {
		h.Set("Content-Range", fmt.Sprintf("bytes */%d", b.Size))
		return err
	}
	if ok {
		start, end, status = br.start, br.end, http.StatusPartialContent
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", br.start, br.end-1, b.Size))
		setLength(h, br.end-br.start)
	} else {
		setLength(h, b.Size)
	}
	w.WriteHeader(status)
	// The reader sends what is already downloaded with sendfile
	// (io.WriterTo) and follows the download for the rest.
	if _, err := io.Copy(w, b.Reader(r.Context(), start, end)); err != nil {
		if r.Context().Err() == nil {
			s.log.Warn("blob stream aborted", "digest", b.Digest, "upstream", b.Upstream, "err", err)
		}
		panic(http.ErrAbortHandler) // headers are out: only aborting tells the client
	}
	return nil
}

// byteRange is a parsed single Range header.
type byteRange struct{ start, end int64 } // end exclusive

// parseRange parses a single "bytes=" range against size. ok is false when
// the header should be ignored (absent, multi-range, unknown size); err is a
// 416 RANGE_INVALID when it cannot be satisfied.
func parseRange(header string, size int64) (br byteRange, ok bool, err error) {
	spec, found := strings.CutPrefix(header, "bytes=")
	if header == "" || !found || strings.Contains(spec, ",") || size < 0 {
		return byteRange{}, false, nil
	}
	invalid := func() error {
		return &oci.Error{Code: oci.CodeRangeInvalid, Message: fmt.Sprintf("range %q not satisfiable for %d bytes", short(header), size)}
	}
	first, last, found := strings.Cut(spec, "-")
	if !found {
		return byteRange{}, false, invalid()
	}
	if first == "" { // suffix: the last N bytes
		n, perr := strconv.ParseInt(last, 10, 64)
		if perr != nil || n <= 0 {
			return byteRange{}, false, invalid()
		}
		return byteRange{start: max(size-n, 0), end: size}, true, nil
	}
	start, perr := strconv.ParseInt(first, 10, 64)
	if perr != nil || start < 0 || start >= size {
		return byteRange{}, false, invalid()
	}
	end := size
	if last != "" {
		e, perr := strconv.ParseInt(last, 10, 64)
		if perr != nil || e < start {
			return byteRange{}, false, invalid()
		}
		end = min(e+1, size)
	}
	return byteRange{start: start, end: end}, true, nil
}
