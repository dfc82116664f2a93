package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/regmirror/regmirror/internal/admin"
	"github.com/regmirror/regmirror/internal/config"
	"github.com/regmirror/regmirror/internal/evict"
	"github.com/regmirror/regmirror/internal/meta/bolt"
	"github.com/regmirror/regmirror/internal/store/disk"
)

const cacheLong = `Inspect and maintain the cache.

Each command works on the data directory of a stopped mirror. When a mirror
is running on that directory (it holds the lock of <data>/meta.db), the
command goes through the running mirror's admin API instead, at admin.listen
from the configuration (default 127.0.0.1:5001) or --admin. With the admin
API off, stop the mirror first. A cache on S3 or with Redis metadata is
shared by running nodes: the commands always go through the admin API then.

While a command works on a stopped mirror's directory, a mirror started on
it waits one second for the lock, then fails: run long commands (verify)
while the mirror is stopped, or through the API of the running one.`

// newCache returns `regmirror cache` and its subcommands.
func newCache() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cache",
		Short: "Inspect and maintain the cache (ls, stats, prune, verify)",
		Long:  cacheLong,
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newCacheLs(), newCacheStats(), newCachePrune(), newCacheVerify())
	return cmd
}

// lockWait is how long a cache command waits for the metadata database's
// lock before it concludes that a mirror is running.
const lockWait = 250 * time.Millisecond

// cacheFlags are the flags of every cache command.
type cacheFlags struct {
	configFlags
	admin string
	json  bool
}

func (f *cacheFlags) register(cmd *cobra.Command) {
	f.configFlags.register(cmd)
	cmd.Flags().StringVar(&f.admin, "admin", "", "admin API of a running mirror (host:port or URL); overrides admin.listen from the configuration")
	cmd.Flags().BoolVar(&f.json, "json", false, "print the result as JSON")
}

// cacheTarget is what a cache command works on.
type cacheTarget struct {
	ops   admin.Ops
	where string // for humans: which directory or which API
	local bool   // on the data directory (a stopped mirror)
	close func() error
}

// open finds the cache: the data directory when no mirror holds it, else
// the running mirror's admin API.
func (f *cacheFlags) open(ctx context.Context, stderr io.Writer) (*cacheTarget, error) {
	cfg, err := f.load()
	if err != nil {
		return nil, err
	}
	addr := cfg.Admin.Listen
	if f.admin != "" {
		addr = f.admin
	}
	if cfg.Storage.Driver == "s3" || cfg.Coordination.Redis != "" {
		return remoteTarget(addr, "the cache is shared (S3 or Redis)")
	}
	dir := cfg.Storage.Path
	dbPath := filepath.Join(dir, "meta.db")
	if _, err := os.Stat(dbPath); err != nil {
		return nil, fmt.Errorf("no cache in %s (%s: %w); check --data or --config", dir, dbPath, err)
	}
	db, err := bolt.Open(dbPath, bolt.WithLockTimeout(lockWait))
	if errors.Is(err, bolt.ErrLocked) {
		return remoteTarget(addr, "a mirror is running on "+dir)
	}
	if err != nil {
		return nil, err
	}
	if db.Recreated() {
		fmt.Fprintf(stderr, "warning: the metadata database was corrupt and was moved to %s; start the mirror to rebuild it from the stored objects\n", db.CorruptPath())
	}
	ds, err := disk.New(dir)
	if err != nil {
		db.Close()
		return nil, err
	}
	ev := evict.New(evict.Options{
		Store: ds, Meta: db,
		MaxSize: int64(cfg.Storage.MaxSize), LowWater: cfg.Storage.LowWater, MaxAge: cfg.Cache.MaxAge.D(),
	})
	return &cacheTarget{
		ops:   &admin.Local{Evictor: ev, Meta: db, Store: ds},
		where: "data directory " + dir + " (mirror stopped)",
		local: true,
		close: db.Close,
	}, nil
}

func remoteTarget(addr, why string) (*cacheTarget, error) {
	if addr == "" || addr == "off" {
		return nil, fmt.Errorf("%s and its admin API is off (admin.listen): stop the mirror, or enable the admin API, or give --admin", why)
	}
	url := admin.BaseURL(addr)
	return &cacheTarget{ops: admin.NewClient(addr, nil), where: "running mirror (admin API at " + url + ")", close: func() error { return nil }}, nil
}

// withCache runs fn on the cache the flags name.
func withCache(cmd *cobra.Command, f *cacheFlags, fn func(t *cacheTarget) error) error {
	t, err := f.open(cmd.Context(), cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	err = fn(t)
	return errors.Join(err, t.close())
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// show prints an operation's result: JSON with --json, else with text.
func show[T any](cmd *cobra.Command, f *cacheFlags, v T, err error, text func(io.Writer, T) error) error {
	if err != nil {
		return err
	}
	if f.json {
		return printJSON(cmd.OutOrStdout(), v)
	}
	return text(cmd.OutOrStdout(), v)
}

func newCacheLs() *cobra.Command {
	var f cacheFlags
	var upstream string
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List cached repositories and tags, with size and last access",
		Long: "List the cached repositories (grouped by upstream) and their tags. A repository's size\n" +
			"counts the objects first fetched for it; a tag's size is its image's cached manifest,\n" +
			"config and layers (for an index, of every cached platform). Objects recorded by a\n" +
			"metadata rebuild have no known origin and are listed apart.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withCache(cmd, &f, func(t *cacheTarget) error {
				repos, err := t.ops.List(cmd.Context(), upstream)
				return show(cmd, &f, repos, err, func(w io.Writer, r []admin.Repo) error { return printRepos(w, r, time.Now()) })
			})
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&upstream, "upstream", "", "only this upstream (its configured name, e.g. docker.io)")
	return cmd
}

func newCacheStats() *cobra.Command {
	var f cacheFlags
	cmd := &cobra.Command{
		Use:   "stats",
		Short: "Show the cache's size against its limit, object counts and the hit ratio",
		Long: "Show the cache's total size against storage.maxSize, the object and tag counts, and,\n" +
			"when the mirror is running, its hit ratio since start and whether its disk is full.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withCache(cmd, &f, func(t *cacheTarget) error {
				s, err := t.ops.Stats(cmd.Context())
				return show(cmd, &f, s, err, func(w io.Writer, s admin.Stats) error { return printStats(w, t.where, s, time.Now()) })
			})
		},
	}
	f.register(cmd)
	return cmd
}

func newCachePrune() *cobra.Command {
	var f cacheFlags
	var olderThan, toSize string
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "prune (--older-than DURATION | --to-size SIZE) [--dry-run]",
		Short: "Evict objects not accessed for a while, or down to a size",
		Long: "Evict cached objects: those not accessed for --older-than, and/or the least recently\n" +
			"accessed ones until the cache is at most --to-size. Tags pointing at evicted manifests\n" +
			"are removed. Evicted images are simply fetched again on their next pull. The limits\n" +
			"in the configuration (storage.maxSize, cache.maxAge) do not apply to a prune.",
		Example: "  regmirror cache prune --older-than 720h --dry-run\n  regmirror cache prune --to-size 10GiB -c /etc/regmirror.yaml",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req := admin.PruneRequest{DryRun: dryRun}
			if olderThan == "" && toSize == "" {
				return errors.New("give --older-than, --to-size or both")
			}
			if olderThan != "" {
				d, err := config.ParseDuration(olderThan)
				if err != nil || d <= 0 {
					return fmt.Errorf("--older-than: want a positive duration such as 720h: %q", olderThan)
				}
				req.OlderThan = d
			}
			if toSize != "" {
				s, err := config.ParseSize(toSize)
				if err != nil {
					return fmt.Errorf("--to-size: %w", err)
				}
				req.ToSize = &s
			}
			return withCache(cmd, &f, func(t *cacheTarget) error {
				res, err := t.ops.Prune(cmd.Context(), req)
				return show(cmd, &f, res, err, func(w io.Writer, r evict.Result) error { return printPrune(w, r, time.Now()) })
			})
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&olderThan, "older-than", "", "evict objects not accessed for this long (a Go duration: 720h, 90m)")
	cmd.Flags().StringVar(&toSize, "to-size", "", "evict the least recently accessed objects until the cache is at most this size (10GiB, 500MB, bytes)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "list what would be evicted without removing anything")
	return cmd
}

// errCorrupt makes verify exit non-zero when it found damage it left.
var errCorrupt = errors.New("corrupt objects found; run with --repair to remove them (they are fetched again on the next pull)")

func newCacheVerify() *cobra.Command {
	var f cacheFlags
	var repair bool
	cmd := &cobra.Command{
		Use:   "verify [--repair]",
		Short: "Re-hash every cached object and report (or remove) corrupt ones",
		Long: "Read every cached object, hash it and compare it with its digest and recorded size.\n" +
			"Corrupt objects are listed; with --repair they are removed (content, record and the\n" +
			"tags pointing at them) so that the next pull fetches a good copy. The exit status is\n" +
			"non-zero when corrupt objects were found and not repaired. Reads the whole cache.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withCache(cmd, &f, func(t *cacheTarget) error {
				opts := evict.VerifyOptions{Repair: repair}
				if t.local && !f.json {
					opts.Progress = verifyProgress(cmd.ErrOrStderr())
				}
				res, err := t.ops.Verify(cmd.Context(), opts)
				if opts.Progress != nil {
					opts.Progress(-1, 0) // end the progress line
				}
				err = show(cmd, &f, res, err, printVerify)
				if err == nil && len(res.Corrupt) > res.Repaired {
					err = errCorrupt
				}
				return err
			})
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&repair, "repair", false, "remove corrupt objects, so that the next pull fetches them again")
	return cmd
}
