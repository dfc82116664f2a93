package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/regmirror/regmirror/internal/config"
	"github.com/regmirror/regmirror/internal/coord"
	"github.com/regmirror/regmirror/internal/meta"
	"github.com/regmirror/regmirror/internal/meta/bolt"
	redismeta "github.com/regmirror/regmirror/internal/meta/redis"
	"github.com/regmirror/regmirror/internal/mirror"
	"github.com/regmirror/regmirror/internal/store"
	"github.com/regmirror/regmirror/internal/store/disk"
	"github.com/regmirror/regmirror/internal/store/s3"
)

// *coord.Coordinator is what the mirror's Coord option expects.
var _ mirror.FillCoordinator = (*coord.Coordinator)(nil)

// s3IngestMaxAge: temporary S3 keys older than this are leftovers of a
// crashed node (a live one exists only between upload and copy).
const s3IngestMaxAge = time.Hour

// openBackends opens what the configuration asks for:
//
//   - the content store: the disk store under storage.path, or the S3
//     bucket of storage.s3 (driver "s3");
//   - the metadata store: Redis with coordination.redis (shared by all
//     nodes), else bbolt at <storage.path>/meta.db, rebuilt from the content
//     store's objects when needed;
//   - with coordination.redis, the Coordinator (fill locks, leader leases);
//     nil otherwise.
//
// fillDir is where downloads in progress are written: the disk store's
// ingest directory (so a commit is a rename), or <storage.path>/ingest with
// S3. An unreachable Redis does not fail start-up: the node starts with
// local coordination and picks Redis up when it answers.
func openBackends(ctx context.Context, cfg *config.Config, log *slog.Logger) (st store.Store, md meta.Store, co *coord.Coordinator, fillDir string, err error) {
	if err := os.MkdirAll(cfg.Storage.Path, 0o755); err != nil {
		return nil, nil, nil, "", fmt.Errorf("data directory: %w", err)
	}
	st, fillDir, err = openContent(ctx, cfg, log)
	if err != nil {
		return nil, nil, nil, "", err
	}
	if cfg.Coordination.Redis == "" {
		md, err = openBolt(ctx, cfg, st, log)
		return st, md, nil, fillDir, err
	}

	// go-redis logs dial failures through a process-wide logger; route
	// them to debug, since coord reports Redis health itself.
	goredis.SetLogger(redisLogger{log})
	rm, err := redismeta.Open(cfg.Coordination.Redis, redismeta.Options{Prefix: cfg.Coordination.Prefix})
	if err != nil {
		return nil, nil, nil, "", err
	}
	advertise, err := advertiseURL(cfg, log)
	if err != nil {
		rm.Close()
		return nil, nil, nil, "", err
	}
	co, err = coord.Open(cfg.Coordination.Redis, coord.Options{
		Advertise: advertise, Prefix: cfg.Coordination.Prefix, Logger: log,
		PeerToken: peerToken(cfg.Auth.Tokens),
	})
	if err != nil {
		rm.Close()
		return nil, nil, nil, "", err
	}
	if err := co.Ping(ctx); err != nil {
		log.Warn("redis unreachable at start-up; serving with local coordination until it answers", "err", err)
	} else {
		log.Info("multi-node coordination on", "advertise", advertise)
	}
	return st, rm, co, fillDir, nil
}

// openContent opens the content store and prepares the fill directory.
func openContent(ctx context.Context, cfg *config.Config, log *slog.Logger) (store.Store, string, error) {
	if cfg.Storage.Driver != "s3" {
		ds, err := disk.New(cfg.Storage.Path)
		if err != nil {
			return nil, "", err
		}
		if n, err := ds.CleanIngest(0); err != nil {
			log.Warn("cleaning temporary files failed", "err", err)
		} else if n > 0 {
			log.Info("removed temporary files left by an earlier run", "count", n)
		}
		return ds, ds.IngestDir(), nil
	}
	c := cfg.Storage.S3
	ss, err := s3.New(ctx, s3.Options{
		Endpoint: c.Endpoint, Bucket: c.Bucket, Region: c.Region,
		AccessKey: c.AccessKey, SecretKey: c.ResolveSecretKey(),
		Insecure: c.Insecure, Prefix: c.Prefix,
	})
	if err != nil {
		return nil, "", err
	}
	if n, err := ss.CleanIngest(ctx, s3IngestMaxAge); err != nil {
		log.Warn("cleaning temporary S3 keys failed", "err", err)
	} else if n > 0 {
		log.Info("removed temporary S3 keys left by a crashed node", "count", n)
	}
	// Downloads in progress stay local; this directory is this node's own.
	fillDir := filepath.Join(cfg.Storage.Path, "ingest")
	if err := os.MkdirAll(fillDir, 0o755); err != nil {
		return nil, "", fmt.Errorf("data directory: %w", err)
	}
	if n, err := cleanDir(fillDir); err != nil {
		log.Warn("cleaning temporary files failed", "err", err)
	} else if n > 0 {
		log.Info("removed temporary files left by an earlier run", "count", n)
	}
	return ss, fillDir, nil
}

// openBolt opens the embedded metadata database and records objects the
// content store has without metadata.
func openBolt(ctx context.Context, cfg *config.Config, st store.Store, log *slog.Logger) (meta.Store, error) {
	db, err := bolt.Open(filepath.Join(cfg.Storage.Path, "meta.db"))
	if err != nil {
		return nil, err
	}
	if db.Recreated() {
		log.Warn("metadata database was corrupt; rebuilding from the stored objects", "moved_to", db.CorruptPath())
	}
	if w, ok := st.(store.Walker); ok {
		if n, err := meta.Rebuild(ctx, db, w, time.Now()); err != nil {
			db.Close()
			return nil, fmt.Errorf("rebuilding metadata: %w", err)
		} else if n > 0 {
			log.Info("recorded stored objects that had no metadata", "count", n)
		}
	}
	return db, nil
}

// advertiseURL resolves coordination.advertise; when neither it nor
// listen names an address, it takes this host's first global unicast
// address (a pod has one) with the listen port.
func advertiseURL(cfg *config.Config, log *slog.Logger) (string, error) {
	u, err := cfg.AdvertiseURL()
	if err != nil || u != "" {
		return u, err
	}
	_, port, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return "", fmt.Errorf("coordination.advertise: listen %q: %w", cfg.Listen, err)
	}
	ip, err := hostAddress()
	if err != nil {
		return "", fmt.Errorf("coordination.advertise is not set and %w; set it to this node's URL as the other nodes reach it", err)
	}
	scheme := "http"
	if cfg.TLS.CertFile != "" || cfg.TLS.ACME.Enabled {
		scheme = "https"
	}
	u = scheme + "://" + net.JoinHostPort(ip.String(), port)
	log.Info("coordination.advertise not set; advertising this host's address", "advertise", u)
	return u, nil
}

// hostAddress returns the first global unicast address of an interface
// that is up, IPv4 first.
func hostAddress() (net.IP, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	var v6 net.IP
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok || !n.IP.IsGlobalUnicast() {
			continue
		}
		if n.IP.To4() != nil {
			return n.IP, nil
		}
		if v6 == nil {
			v6 = n.IP
		}
	}
	if v6 != nil {
		return v6, nil
	}
	return nil, errors.New("this host has no global unicast address")
}

// cleanDir removes the regular files in dir (downloads of a previous run).
func cleanDir(dir string) (int, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// peerToken picks the static token peers present to each other when the
// mirror requires authentication (the first of auth.tokens; "" if none:
// with htpasswd alone, peer fetches are refused and nodes fall back to
// their upstreams).
func peerToken(tokens []string) string {
	for _, t := range tokens {
		if t = strings.TrimSpace(t); t != "" {
			return t
		}
	}
	return ""
}

// closeBackends closes what openBackends returned (for Build's error paths
// and App.Close; the content stores hold nothing to close).
func closeBackends(md meta.Store, co *coord.Coordinator) error {
	var errs []error
	if md != nil {
		errs = append(errs, md.Close())
	}
	if co != nil {
		errs = append(errs, co.Close())
	}
	return errors.Join(errs...)
}

// fillCoordinator returns co as the mirror's Coord option: a nil interface
// (not an interface holding a nil pointer) for a single node.
func fillCoordinator(co *coord.Coordinator) mirror.FillCoordinator {
	if co == nil {
		return nil
	}
	return co
}

// redisLogger passes go-redis's own log lines to slog at debug level.
type redisLogger struct{ log *slog.Logger }

// Printf implements go-redis's internal.Logging.
func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.Debug(strings.TrimSpace(fmt.Sprintf(format, v...)), "component", "go-redis")
}
