package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"time"
)

// files holds the page template and the static assets.
//
//go:embed assets/index.html assets/static
var files embed.FS

// asset is one static file with its validator.
type asset struct {
	body  []byte
	etag  string
	ctype string
}

// assets are the static files, hashed once at start so that URLs carry a
// version (?v=) and can be cached for long.
type assets struct {
	byName map[string]asset
}

func loadAssets() *assets {
	a := &assets{byName: make(map[string]asset)}
	sub, err := fs.Sub(files, "assets/static")
	if err != nil {
		panic(err) // the embed pattern guarantees the directory
	}
	_ = fs.WalkDir(sub, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(sub, name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ct := mime.TypeByExtension(path.Ext(name))
		if ct == "" {
			ct = "application/octet-stream"
		}
		a.byName[name] = asset{body: b, etag: `"` + hex.EncodeToString(sum[:8]) + `"`, ctype: ct}
		return nil
	})
	return a
}

// url is the versioned URL of a static file, for the template.
func (a *assets) url(name string) string {
	f, ok := a.byName[name]
	if !ok {
		return "/static/" + name
	}
	return "/static/" + name + "?v=" + f.etag[1:len(f.etag)-1]
}

func (a *assets) serve(w http.ResponseWriter, r *http.Request, name string) {
	f, ok := a.byName[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", f.ctype)
	h.Set("ETag", f.etag)
	h.Set("X-Content-Type-Options", "nosniff")
	if r.URL.Query().Get("v") != "" {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "public, max-age=300")
	}
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(f.body))
}
