package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// cmdPull pulls one image the way docker does: the manifest by tag, the
// platform manifest when that is an index, the config, then the layers with
// -parallel downloads at a time.
func cmdPull(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("pull", flag.ContinueOnError)
	lb := addLabels(fs)
	reg := fs.String("registry", "", "base URL of the registry or mirror (http://127.0.0.1:PORT)")
	repo := fs.String("repo", "library/bench", "repository as the client names it")
	ref := fs.String("ref", "latest", "tag or digest")
	parallel := fs.Int("parallel", 3, "concurrent layer downloads (docker's default is 3)")
	verify := fs.Bool("verify", true, "check every blob's sha256, as docker does")
	plat := fs.String("platform", "linux/amd64", "platform to pick from an index")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *reg == "" {
		return errors.New("pull: -registry is required")
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	r := pull(ctx, newClient(*parallel+1), pullSpec{base: *reg, repo: *repo, ref: *ref, parallel: *parallel, verify: *verify, platform: *plat})
	return lb.emit(stdout, r)
}

// pullSpec says what to pull and how.
type pullSpec struct {
	base, repo, ref string
	parallel        int
	verify          bool
	platform        string // os/arch
}

// pull runs one pull and measures it: the total time, the time until the
// image manifest was in hand, and the time to the first byte of the
// biggest layer (also as an absolute clock value, to compare with the
// upstream's end of transfer).
func pull(ctx context.Context, c *http.Client, s pullSpec) Result {
	r := Result{Kind: "pull"}
	start := time.Now()
	m, err := getManifest(ctx, c, s.base, s.repo, s.ref)
	if err == nil && m.isIndex() {
		var child string
		child, err = pickPlatform(m, s.platform)
		if err == nil {
			m, err = getManifest(ctx, c, s.base, s.repo, child)
		}
	}
	if err == nil && m.Config == nil {
		err = fmt.Errorf("manifest %s has no config", s.ref)
	}
	if err != nil {
		r.noteErr(err)
		return r
	}
	r.ManifestMS = ms(time.Since(start))

	big := 0
	for i, l := range m.Layers {
		if l.Size > m.Layers[big].Size {
			big = i
		}
	}
	blobs := append([]descriptor{*m.Config}, m.Layers...)
	stats, errs := fetchAll(ctx, c, s, blobs)
	for i, st := range stats {
		r.Bytes += st.bytes
		r.noteErr(errs[i])
	}
	r.TotalMS = ms(time.Since(start))
	if len(m.Layers) > 0 {
		bs := stats[big+1]
		r.BigDigest, r.BigSize = m.Layers[big].Digest, m.Layers[big].Size
		if !bs.firstByte.IsZero() {
			r.BigTTFBMS = ms(bs.firstByte.Sub(start))
			r.BigFirstByteNS = bs.firstByte.UnixNano()
		}
	}
	return r
}

// fetchAll downloads blobs in order, s.parallel at a time (the first one,
// the config, before any layer starts, as docker does).
func fetchAll(ctx context.Context, c *http.Client, s pullSpec, blobs []descriptor) ([]fetchStats, []error) {
	stats := make([]fetchStats, len(blobs))
	errs := make([]error, len(blobs))
	get := func(i int, buf []byte) {
		url := s.base + "/v2/" + s.repo + "/blobs/" + blobs[i].Digest
		stats[i], errs[i] = getBlob(ctx, c, url, blobs[i].Digest, blobs[i].Size, s.verify, buf)
	}
	if len(blobs) == 0 {
		return stats, errs
	}
	get(0, make([]byte, readBufSize))
	next := make(chan int)
	var wg sync.WaitGroup
	for range max(s.parallel, 1) {
		wg.Go(func() {
			buf := make([]byte, readBufSize)
			for i := range next {
				get(i, buf)
			}
		})
	}
	for i := 1; i < len(blobs); i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	return stats, errs
}

// pickPlatform returns the digest of the index entry for os/arch.
func pickPlatform(idx *manifest, osArch string) (string, error) {
	for _, d := range idx.Manifests {
		if d.Platform != nil && d.Platform.OS+"/"+d.Platform.Architecture == osArch {
			return d.Digest, nil
		}
	}
	return "", fmt.Errorf("index has no %s manifest", osArch)
}
