// Package s3 is the content store on S3-compatible object storage (AWS S3,
// MinIO, SeaweedFS, Ceph RGW, ...), through minio-go. Several mirror nodes
// can share one bucket.
//
// Layout under the configured prefix (which may be empty):
//
//	<prefix>
//	├── blobs/
//	│   ├── sha256/
//	│   │   └── e3b0c442…b855        one object per blob or manifest: blobs/<algorithm>/<hex>
//	│   └── sha512/
//	│       └── cf83e135…7a3e
//	└── ingest/
//	    └── 3f9a…0c (random)         uploads being verified; removed on success and on
//	                                 error; leftovers of a crash go with CleanIngest
//
// Visibility: an object appears under blobs/ only after it was uploaded in
// full to a temporary key under ingest/ while its digest and size were
// checked, and then copied server-side to its final key. A reader never
// sees a partial or unverified object. S3 has no directories, so there is no
// fan-out level as on disk.
package s3

import (
	"context"
	// go-digest only knows the algorithms whose hash is linked in.
	_ "crypto/sha256"
	_ "crypto/sha512"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/opencontainers/go-digest"

	"github.com/regmirror/regmirror/internal/oci"
	"github.com/regmirror/regmirror/internal/store"
)

// Key prefixes under Options.Prefix.
const (
	blobsDir  = "blobs/"
	ingestDir = "ingest/"
	// DefaultPresignExpiry is how long a redirect URL stays valid.
	DefaultPresignExpiry = 15 * time.Minute
	// cleanupTimeout bounds removing a temporary key after a failed or
	// cancelled upload (the caller's context may be done by then).
	cleanupTimeout = 30 * time.Second
)

// Compile-time checks of the interfaces the S3 store implements.
var (
	_ store.Store        = (*Store)(nil)
	_ store.FileImporter = (*Store)(nil)
	_ store.Deleter      = (*Store)(nil)
	_ store.Walker       = (*Store)(nil)
	_ store.Redirector   = (*Store)(nil)
)

// Options configures New. Endpoint and Bucket are required.
type Options struct {
	// Endpoint is host[:port] of the S3 API. An http:// or https:// URL is
	// accepted too and sets Insecure accordingly.
	Endpoint string
	Bucket   string
	Region   string
	// AccessKey and SecretKey are static credentials. With no AccessKey the
	// usual chain is tried: AWS_* and MINIO_* environment variables, the AWS
	// credentials file, then the instance or pod role (IAM/IRSA).
	AccessKey, SecretKey string
	// Insecure talks plain HTTP to the endpoint.
	Insecure bool
	// Prefix is prepended to every key ("mirror/" keeps the objects under
	// mirror/blobs/...). A missing trailing slash is added.
	Prefix string
	// PresignExpiry is the lifetime of RedirectURL's URLs (default 15m).
	PresignExpiry time.Duration
	// Transport overrides the HTTP transport (tests).
	Transport http.RoundTripper
}

// Store is a content-addressed store in an S3 bucket. It is safe for
// concurrent use, also by several processes sharing the bucket.
type Store struct {
	c       *minio.Client
	core    minio.Core
	bucket  string
	prefix  string
	presign time.Duration

	mu   sync.Mutex
	puts map[digest.Digest]*upload // uploads in progress in this process
}

// New returns a store on opts.Bucket, which must exist: New checks that it
// does (so a wrong endpoint, bucket or credentials fail at start-up).
func New(ctx context.Context, opts Options) (*Store, error) {
	s, err := newStore(opts)
	if err != nil {
		return nil, err
	}
	ok, err := s.c.BucketExists(ctx, s.bucket)
	if err != nil {
		return nil, fmt.Errorf("s3 store: checking bucket %s at %s: %w", s.bucket, opts.Endpoint, err)
	}
	if !ok {
		return nil, fmt.Errorf("s3 store: bucket %s does not exist at %s", s.bucket, opts.Endpoint)
	}
	return s, nil
}

// newStore builds the client without contacting the server.
func newStore(opts Options) (*Store, error) {
	if opts.Bucket == "" {
		return nil, errors.New("s3 store: bucket is required")
	}
	endpoint, secure, err := parseEndpoint(opts.Endpoint, !opts.Insecure)
	if err != nil {
		return nil, err
	}
	var creds *credentials.Credentials
	if opts.AccessKey != "" {
		creds = credentials.NewStaticV4(opts.AccessKey, opts.SecretKey, "")
	} else {
		creds = credentials.NewChainCredentials([]credentials.Provider{
			&credentials.EnvAWS{}, &credentials.EnvMinio{}, &credentials.FileAWSCredentials{}, &credentials.IAM{},
		})
	}
	c, err := minio.New(endpoint, &minio.Options{
		Creds: creds, Secure: secure, Region: opts.Region, Transport: opts.Transport,
	})
	if err != nil {
		return nil, fmt.Errorf("s3 store: %w", err)
	}
	prefix := opts.Prefix
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	presign := opts.PresignExpiry
	if presign <= 0 {
		presign = DefaultPresignExpiry
	}
	return &Store{c: c, core: minio.Core{Client: c}, bucket: opts.Bucket, prefix: prefix, presign: presign, puts: map[digest.Digest]*upload{}}, nil
}

// parseEndpoint accepts host[:port] or an http(s) URL without a path.
func parseEndpoint(s string, secure bool) (host string, tls bool, err error) {
	if s == "" {
		return "", false, errors.New("s3 store: endpoint is required")
	}
	if !strings.Contains(s, "://") {
		return s, secure, nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return "", false, fmt.Errorf("s3 store: endpoint %q is not host[:port] or an http(s) URL without a path", s)
	}
	return u.Host, u.Scheme == "https", nil
}

// Key returns the object key of d: <prefix>blobs/<algorithm>/<hex>. It
// fails with DIGEST_INVALID for anything but a valid digest of an available
// algorithm, so no digest can name a key outside blobs/.
func (s *Store) Key(d digest.Digest) (string, error) {
	if err := d.Validate(); err != nil {
		return "", &oci.Error{Code: oci.CodeDigestInvalid, Message: fmt.Sprintf("invalid digest %q", string(d)), Err: err}
	}
	return s.prefix + blobsDir + string(d.Algorithm()) + "/" + d.Encoded(), nil
}

// Stat returns the size of the object d, or an error wrapping
// store.ErrNotFound.
func (s *Store) Stat(ctx context.Context, d digest.Digest) (int64, error) {
	key, err := s.Key(d)
	if err != nil {
		return 0, err
	}
	info, err := s.c.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return 0, notFound(d, err)
	}
	return info.Size, nil
}

// Open returns a reader of the object d, or an error wrapping
// store.ErrNotFound. The object's first GET is made here, so a missing
// object is reported at once; after a Seek the next Read issues a ranged
// GET from the new position. The reader stops with ctx.
func (s *Store) Open(ctx context.Context, d digest.Digest) (io.ReadSeekCloser, error) {
	key, err := s.Key(d)
	if err != nil {
		return nil, err
	}
	body, info, _, err := s.core.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, notFound(d, err)
	}
	return &object{ctx: ctx, s: s, key: key, size: info.Size, body: body}, nil
}

// Delete removes the object d. Deleting an absent object is not an error.
func (s *Store) Delete(ctx context.Context, d digest.Digest) error {
	key, err := s.Key(d)
	if err != nil {
		return err
	}
	if err := s.c.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{}); err != nil && !isNotFound(err) {
		return fmt.Errorf("delete %s: %w", d, err)
	}
	return nil
}

// RedirectURL returns a presigned GET URL of the object d, valid for
// Options.PresignExpiry. It does not check that the object exists.
func (s *Store) RedirectURL(ctx context.Context, d digest.Digest) (string, error) {
	key, err := s.Key(d)
	if err != nil {
		return "", err
	}
	u, err := s.c.PresignedGetObject(ctx, s.bucket, key, s.presign, nil)
	if err != nil {
		return "", fmt.Errorf("presign %s: %w", d, err)
	}
	return u.String(), nil
}

// notFound wraps store.ErrNotFound for a missing key and passes any other
// error through with the digest.
func notFound(d digest.Digest, err error) error {
	if isNotFound(err) {
		return fmt.Errorf("%s: %w", d, store.ErrNotFound)
	}
	return fmt.Errorf("%s: %w", d, err)
}

// isNotFound reports whether err is S3's answer for a missing key.
func isNotFound(err error) bool {
	r := minio.ToErrorResponse(err)
	return r.StatusCode == http.StatusNotFound || r.Code == minio.NoSuchKey || r.Code == "NotFound"
}
