package cli

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/regmirror/regmirror/internal/prefetch"
)

const prefetchLong = `Warm a running mirror's cache: pull images through it, the way a client does
(HTTP GETs of their manifests and blobs), so that a prefetch joins downloads
live clients started and follows the mirror's routing and access rules.
Images are written as users write them for this mirror: nginx:latest,
gcr.io/distroless/static:latest, quay.io/prometheus/prometheus@sha256:….

For a multi-platform image only the --platform manifests and their blobs are
fetched (by default every platform in the index except attestations). Blobs
the mirror already has are not downloaded again. On a terminal each image
gets a progress bar; otherwise progress is printed as plain lines. The exit
status is non-zero if any image failed.`

// newPrefetch returns `regmirror prefetch`.
func newPrefetch() *cobra.Command {
	var (
		platforms []string
		file      string
		mirror    string
		parallel  int
	)
	cmd := &cobra.Command{
		Use:   "prefetch IMAGE... [--platform linux/amd64,linux/arm64] [--file LIST] [--mirror URL]",
		Short: "Warm the cache by pulling images through a running mirror",
		Long:  prefetchLong,
		Example: "  regmirror prefetch nginx:latest gcr.io/distroless/static:latest --platform linux/amd64,linux/arm64\n" +
			"  regmirror prefetch --file images.txt --mirror http://mirror.internal:5000",
		RunE: func(cmd *cobra.Command, args []string) error {
			images := append([]string(nil), args...)
			if file != "" {
				listed, err := readImageList(file, cmd.InOrStdin())
				if err != nil {
					return err
				}
				images = append(images, listed...)
			}
			if len(images) == 0 {
				return fmt.Errorf("no image given: name images as arguments or in --file")
			}
			for _, p := range platforms {
				if n := strings.Count(p, "/"); n < 1 || n > 2 || strings.HasSuffix(p, "/") || strings.HasPrefix(p, "/") {
					return fmt.Errorf("--platform %q: want os/arch[/variant], e.g. linux/arm64", p)
				}
			}
			c := &prefetch.Client{Base: mirror, Parallel: parallel}
			return runPrefetch(cmd, c, images, platforms)
		},
	}
	cmd.Flags().StringSliceVar(&platforms, "platform", nil, "platforms to fetch from multi-platform images, comma-separated or repeated (os/arch[/variant]); default: all")
	cmd.Flags().StringVarP(&file, "file", "f", "", "read more images from this file, one per line (# starts a comment; - reads standard input)")
	cmd.Flags().StringVar(&mirror, "mirror", prefetch.DefaultMirror, "URL of the running mirror")
	cmd.Flags().IntVar(&parallel, "parallel", prefetch.DefaultParallel, "blobs of one image fetched at once")
	return cmd
}

// readImageList reads image references, one per line, from path ("-":
// stdin), skipping blank lines and # comments.
func readImageList(path string, stdin io.Reader) ([]string, error) {
	r := stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	var out []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}

// runPrefetch pulls the images one after another, showing progress on
// stderr and a summary on stdout.
func runPrefetch(cmd *cobra.Command, c *prefetch.Client, images, platforms []string) error {
	out, errw := cmd.OutOrStdout(), cmd.ErrOrStderr()
	tty := isTerminal(errw)
	width := 0
	for _, img := range images {
		width = max(width, len(img))
	}
	var failed []string
	var bytes int64
	var fetched, cached int
	for _, img := range images {
		v := &progressView{w: errw, tty: tty, image: img, width: width, start: time.Now()}
		res, err := c.Image(cmd.Context(), img, platforms, v.update)
		v.finish(res, err)
		if err != nil {
			failed = append(failed, withImage(img, err))
			continue
		}
		bytes += res.Bytes
		fetched += res.Fetched
		cached += res.Cached
	}
	fmt.Fprintf(out, "%d images: %d done, %d failed; %d blobs fetched (%s), %d already cached\n",
		len(images), len(images)-len(failed), len(failed), fetched, prefetch.FormatBytes(bytes), cached)
	for _, f := range failed {
		fmt.Fprintf(out, "failed: %s\n", f)
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d images failed", len(failed), len(images))
	}
	return nil
}

// progressView shows one image's progress: a bar redrawn in place on a
// terminal, else a plain line every few seconds.
type progressView struct {
	w     io.Writer
	tty   bool
	image string
	width int
	start time.Time

	last    time.Time
	started bool
	p       prefetch.Progress
}

func (v *progressView) update(p prefetch.Progress) {
	v.p = p
	now := time.Now()
	if !v.started {
		v.started = true
		if !v.tty {
			fmt.Fprintf(v.w, "%s: %d blobs to fetch (%s), %d already cached\n", v.image, p.Blobs, prefetch.FormatBytes(p.Bytes), p.Cached)
			v.last = now // the next line in a few seconds
		}
	}
	every := 5 * time.Second
	if v.tty {
		every = 100 * time.Millisecond
	}
	if now.Sub(v.last) < every {
		return
	}
	v.last = now
	if v.tty {
		fmt.Fprintf(v.w, "\r\033[K%s", v.line(now))
	} else {
		fmt.Fprintf(v.w, "%s: %s\n", v.image, v.stats(now))
	}
}

// line is the terminal line: name, bar, then the figures.
func (v *progressView) line(now time.Time) string {
	const barWidth = 24
	frac := 0.0
	if v.p.Bytes > 0 {
		frac = float64(v.p.BytesDone) / float64(v.p.Bytes)
	}
	fill := int(frac * barWidth)
	bar := strings.Repeat("=", fill) + strings.Repeat(" ", barWidth-fill)
	if fill > 0 && fill < barWidth {
		bar = strings.Repeat("=", fill-1) + ">" + strings.Repeat(" ", barWidth-fill)
	}
	return fmt.Sprintf("%-*s [%s] %s", v.width, v.image, bar, v.stats(now))
}

// stats is "45%  12.3 MiB/27.1 MiB  8.2 MiB/s  ETA 2s".
func (v *progressView) stats(now time.Time) string {
	p := v.p
	pct := 100
	if p.Bytes > 0 {
		pct = int(100 * p.BytesDone / p.Bytes)
	}
	elapsed := now.Sub(v.start).Seconds()
	speed := 0.0
	if elapsed > 0 {
		speed = float64(p.BytesDone) / elapsed
	}
	eta := "-"
	if speed > 0 {
		eta = time.Duration(float64(p.Bytes-p.BytesDone) / speed * float64(time.Second)).Round(time.Second).String()
	}
	return fmt.Sprintf("%3d%%  %s/%s  %s/s  ETA %s", pct, prefetch.FormatBytes(p.BytesDone), prefetch.FormatBytes(p.Bytes), prefetch.FormatBytes(int64(speed)), eta)
}

// finish prints the image's outcome.
func (v *progressView) finish(res prefetch.Result, err error) {
	if v.tty && v.started {
		fmt.Fprint(v.w, "\r\033[K")
	}
	if err != nil {
		fmt.Fprintf(v.w, "FAILED: %s\n", withImage(v.image, err))
		return
	}
	plat := ""
	if len(res.Platforms) > 0 {
		plat = " [" + strings.Join(res.Platforms, ", ") + "]"
	}
	fmt.Fprintf(v.w, "%s: done%s: %d blobs fetched (%s), %d already cached, in %s\n", v.image, plat,
		res.Fetched, prefetch.FormatBytes(res.Bytes), res.Cached, res.Duration.Round(time.Millisecond))
}

// withImage names img in err's message, unless the message starts with it.
func withImage(img string, err error) string {
	if msg := err.Error(); strings.HasPrefix(msg, img) {
		return msg
	}
	return img + ": " + err.Error()
}
