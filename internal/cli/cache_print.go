package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/regmirror/regmirror/internal/admin"
	"github.com/regmirror/regmirror/internal/evict"
	"github.com/regmirror/regmirror/internal/prefetch"
)

// maxPrinted bounds the objects a prune prints.
const maxPrinted = 50

func printRepos(w io.Writer, repos []admin.Repo, now time.Time) error {
	if len(repos) == 0 {
		_, err := fmt.Fprintln(w, "The cache is empty.")
		return err
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "REPOSITORY / TAG\tDIGEST\tSIZE\tLAST ACCESS")
	for _, r := range repos {
		name := r.Upstream + "/" + r.Repo
		if r.Upstream == "" && r.Repo == "" {
			name = "(origin unknown: recorded by a metadata rebuild)"
		}
		fmt.Fprintf(tw, "%s\t%d objects\t%s\t%s\n", name, r.Objects, prefetch.FormatBytes(r.Bytes), ago(r.Accessed, now))
		for _, t := range r.Tags {
			size, access := prefetch.FormatBytes(t.Bytes), ago(t.Accessed, now)
			if t.Accessed.IsZero() {
				size, access = "-", "manifest not cached"
			}
			fmt.Fprintf(tw, "  :%s\t%s\t%s\t%s\n", t.Tag, shortDigest(t.Digest.String()), size, access)
		}
	}
	return tw.Flush()
}

func printStats(w io.Writer, where string, s admin.Stats, now time.Time) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "cache\t%s\n", where)
	size := prefetch.FormatBytes(s.Bytes)
	if s.MaxSize > 0 {
		size += fmt.Sprintf(" of %s (%.1f%%); sweeps evict down to %s (lowWater %g)",
			prefetch.FormatBytes(int64(s.MaxSize)), 100*float64(s.Bytes)/float64(s.MaxSize),
			prefetch.FormatBytes(int64(float64(s.MaxSize)*s.LowWater)), s.LowWater)
	} else {
		size += " (no limit: storage.maxSize is 0)"
	}
	fmt.Fprintf(tw, "size\t%s\n", size)
	maxAge := "off"
	if s.MaxAge > 0 {
		maxAge = s.MaxAge.String() + " without access"
	}
	fmt.Fprintf(tw, "max age\t%s\n", maxAge)
	fmt.Fprintf(tw, "objects\t%d: %d manifests (%s), %d blobs (%s)\n", s.Objects,
		s.Manifests, prefetch.FormatBytes(s.ManifestBytes), s.Blobs, prefetch.FormatBytes(s.BlobBytes))
	fmt.Fprintf(tw, "tags\t%d\n", s.Tags)
	if !s.OldestAccess.IsZero() {
		fmt.Fprintf(tw, "oldest access\t%s (%s)\n", s.OldestAccess.Local().Format(time.DateTime), ago(s.OldestAccess, now))
	}
	switch {
	case !s.Running:
		fmt.Fprintf(tw, "hit ratio\tunknown (the mirror is not running)\n")
	case !s.Counted:
		fmt.Fprintf(tw, "hit ratio\tunknown (the mirror has no metrics)\n")
	case s.HitRatio != nil:
		fmt.Fprintf(tw, "hit ratio\t%.1f%% (%d of %d lookups since start)\n", 100**s.HitRatio, s.Hits, s.Lookups)
	default:
		fmt.Fprintf(tw, "hit ratio\tno lookups yet\n")
	}
	if s.DiskFull {
		fmt.Fprintf(tw, "disk\tFULL: blobs are served without being cached\n")
	}
	return tw.Flush()
}

func printPrune(w io.Writer, r evict.Result, now time.Time) error {
	verb := "Evicted"
	if r.DryRun {
		verb = "Would evict"
	}
	fmt.Fprintf(w, "%s %d of %d objects (%s); the cache %s %s, was %s.\n", verb, r.Evicted, r.Objects,
		prefetch.FormatBytes(r.BytesFreed), map[bool]string{true: "would be", false: "is now"}[r.DryRun],
		prefetch.FormatBytes(r.BytesAfter), prefetch.FormatBytes(r.BytesBefore))
	if r.TagsRemoved > 0 {
		fmt.Fprintf(w, "Removed %d tags pointing at evicted manifests.\n", r.TagsRemoved)
	}
	if r.Failed > 0 {
		fmt.Fprintf(w, "%d objects could not be removed (see the log).\n", r.Failed)
	}
	if !r.DryRun || len(r.Victims) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DIGEST\tSIZE\tLAST ACCESS\tREASON\tREPOSITORY")
	for i, v := range r.Victims {
		if i == maxPrinted {
			fmt.Fprintf(tw, "… and %d more (--json lists up to 1000)\n", r.Evicted-maxPrinted)
			break
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", shortDigest(v.Digest.String()), prefetch.FormatBytes(v.Size), ago(v.Accessed, now), v.Reason, v.Repo)
	}
	return tw.Flush()
}

func printVerify(w io.Writer, r evict.VerifyResult) error {
	fmt.Fprintf(w, "Checked %d objects (%s).\n", r.Checked, prefetch.FormatBytes(r.Bytes))
	if len(r.Corrupt) == 0 {
		_, err := fmt.Fprintln(w, "Every object matches its digest.")
		return err
	}
	fmt.Fprintf(w, "%d corrupt:\n", len(r.Corrupt))
	for _, p := range r.Corrupt {
		fmt.Fprintf(w, "  %s  %s\n", p.Digest, p.Problem)
	}
	if r.Repaired > 0 {
		fmt.Fprintf(w, "Removed %d (and %d tags pointing at them); the next pull fetches them again.\n", r.Repaired, r.TagsRemoved)
	}
	return nil
}

// verifyProgress reports Verify's progress on w: a line redrawn in place on
// a terminal, else a line every 10 seconds. A call with checked < 0 ends it.
func verifyProgress(w io.Writer) func(checked int, bytes int64) {
	tty := isTerminal(w)
	var last time.Time
	drawn := false
	return func(checked int, bytes int64) {
		if checked < 0 {
			if drawn && tty {
				fmt.Fprintln(w)
			}
			return
		}
		every := 10 * time.Second
		if tty {
			every = 200 * time.Millisecond
		}
		if time.Since(last) < every {
			return
		}
		last, drawn = time.Now(), true
		if tty {
			fmt.Fprintf(w, "\r\033[Kverified %d objects, %s", checked, prefetch.FormatBytes(bytes))
		} else {
			fmt.Fprintf(w, "verified %d objects, %s\n", checked, prefetch.FormatBytes(bytes))
		}
	}
}

// isTerminal reports whether w is a terminal (a character device), so that
// progress can be redrawn in place.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// ago says how long before now t was, roughly ("3h ago").
func ago(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d/time.Hour))
	}
	return fmt.Sprintf("%dd ago", int(d/(24*time.Hour)))
}

// shortDigest shortens a digest for tables: algorithm and 12 hex digits.
func shortDigest(d string) string {
	alg, hex, ok := strings.Cut(d, ":")
	if !ok || len(hex) <= 12 {
		return d
	}
	return alg + ":" + hex[:12]
}
