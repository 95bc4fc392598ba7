package static

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Config says where an S3 sink writes and as whom.
type S3Config struct {
	// Endpoint is the S3 server's URL, https://HOST[:PORT]. Empty means
	// https://s3.amazonaws.com.
	Endpoint string
	// AllowHTTP allows an http:// Endpoint that is not a loopback
	// address: the credentials' signatures and every object then cross
	// the network in the clear. http:// to loopback is always allowed.
	AllowHTTP bool
	// Bucket and Prefix say where objects go: PREFIX/p/ID/checkpoint in
	// BUCKET. Prefix may be empty.
	Bucket, Prefix string
	// AccessKey, SecretKey and SessionToken (optional) are the
	// credentials; Region is the bucket's region, empty for the server's
	// default.
	AccessKey, SecretKey, SessionToken, Region string
	// RequestTimeout bounds each HTTP request to the server, its answer
	// read whole; zero means DefaultS3RequestTimeout.
	RequestTimeout time.Duration
}

// Bounds of an S3 sink's requests. minio-go waits a minute for an
// answer's headers, none for its body, and tries a request 10 times: an
// endpoint that accepts connections and never answers (blackholed), or
// trickles its answer, held a running mirror's export for 10 minutes an
// object, or for good, without counting it failed (red team, fourth
// session). Each request now ends after RequestTimeout, and is tried at
// most s3MaxTries times: such an export fails, and is tried again.
const (
	// DefaultS3RequestTimeout is S3Config.RequestTimeout's default: an
	// upload of a large bundle over a slow uplink fits in it.
	DefaultS3RequestTimeout = 5 * time.Minute
	s3MaxTries              = 3
)

// timeoutTransport gives every request a deadline that covers reading
// its answer's body: the deadline ends when the body is closed.
type timeoutTransport struct {
	rt http.RoundTripper
	d  time.Duration
}

func (t timeoutTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(r.Context(), t.d)
	resp, err := t.rt.RoundTrip(r.WithContext(ctx))
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = cancelBody{resp.Body, cancel}
	return resp, nil
}

// cancelBody ends its request's deadline when it is closed.
type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// ParseS3URL parses an export target s3://BUCKET[/PREFIX] into the
// bucket and the prefix, without a trailing slash.
func ParseS3URL(s string) (bucket, prefix string, err error) {
	rest, ok := strings.CutPrefix(s, "s3://")
	if !ok {
		return "", "", fmt.Errorf("static: %q is not an s3://BUCKET/PREFIX URL", s)
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	prefix = strings.Trim(prefix, "/")
	if !validBucket(bucket) {
		return "", "", fmt.Errorf("static: %q: a bucket name is 3 to 63 lowercase letters, digits, dots and hyphens", s)
	}
	for _, seg := range strings.Split(prefix, "/") {
		if prefix != "" && (seg == "" || seg == "." || seg == "..") {
			return "", "", fmt.Errorf("static: %q: the prefix has an empty, . or .. segment", s)
		}
	}
	return bucket, prefix, nil
}

func validBucket(b string) bool {
	if len(b) < 3 || len(b) > 63 {
		return false
	}
	for i := 0; i < len(b); i++ {
		if c := b[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// S3 is a Sink writing objects to an S3-compatible bucket, each with its
// Content-Type and Cache-Control.
type S3 struct {
	c      *minio.Client
	bucket string
	prefix string // "" or ending in "/"
}

// NewS3 returns a Sink writing to the bucket cfg names. It does not
// connect; the first List does.
func NewS3(cfg *S3Config) (*S3, error) {
	ep := cfg.Endpoint
	if ep == "" {
		ep = "https://s3.amazonaws.com"
	}
	u, err := url.Parse(ep)
	if err != nil || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return nil, fmt.Errorf("static: S3 endpoint %q: want https://HOST[:PORT]", ep)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !cfg.AllowHTTP && !loopback(u.Hostname()) {
			return nil, fmt.Errorf("static: S3 endpoint %q: http:// sends everything in the clear; use https://, or allow http explicitly", ep)
		}
	default:
		return nil, fmt.Errorf("static: S3 endpoint %q: scheme must be https or http", ep)
	}
	if cfg.AccessKey == "" || cfg.SecretKey == "" {
		return nil, errors.New("static: S3 credentials missing: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	}
	if _, _, err := ParseS3URL("s3://" + cfg.Bucket + "/" + cfg.Prefix); err != nil {
		return nil, err
	}
	tr, err := minio.DefaultTransport(u.Scheme == "https")
	if err != nil {
		return nil, fmt.Errorf("static: S3 endpoint %q: %w", ep, err)
	}
	timeout := cfg.RequestTimeout
	if timeout <= 0 {
		timeout = DefaultS3RequestTimeout
	}
	c, err := minio.New(u.Host, &minio.Options{
		Creds:      credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, cfg.SessionToken),
		Secure:     u.Scheme == "https",
		Region:     cfg.Region,
		Transport:  timeoutTransport{tr, timeout},
		MaxRetries: s3MaxTries,
	})
	if err != nil {
		return nil, fmt.Errorf("static: S3 endpoint %q: %w", ep, err)
	}
	s := &S3{c: c, bucket: cfg.Bucket}
	if p := strings.Trim(cfg.Prefix, "/"); p != "" {
		s.prefix = p + "/"
	}
	return s, nil
}

func loopback(host string) bool {
	ip := net.ParseIP(host)
	return host == "localhost" || ip != nil && ip.IsLoopback()
}

func (s *S3) String() string { return "s3://" + s.bucket + "/" + strings.TrimSuffix(s.prefix, "/") }

func (s *S3) fail(op string, err error) error {
	return fmt.Errorf("static: %s %s: %s", op, s, oneLine(err.Error()))
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// List lists the objects under the prefix.
func (s *S3) List(ctx context.Context) (map[string]bool, error) {
	out := map[string]bool{}
	for o := range s.c.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix, Recursive: true}) {
		if o.Err != nil {
			return nil, s.fail("listing", o.Err)
		}
		out[strings.TrimPrefix(o.Key, s.prefix)] = true
	}
	return out, nil
}

// Put uploads an object with its Content-Type and Cache-Control. S3
// makes an object visible whole once its upload completes.
func (s *S3) Put(ctx context.Context, o Object, data []byte) error {
	_, err := s.c.PutObject(ctx, s.bucket, s.prefix+o.Name, bytes.NewReader(data), int64(len(data)),
		minio.PutObjectOptions{ContentType: o.Type, CacheControl: o.Cache})
	if err != nil {
		return s.fail("uploading "+o.Name+" to", err)
	}
	return nil
}

// Get downloads an object of at most max bytes.
func (s *S3) Get(ctx context.Context, name string, max int64) ([]byte, error) {
	obj, err := s.c.GetObject(ctx, s.bucket, s.prefix+name, minio.GetObjectOptions{})
	if err == nil {
		defer obj.Close()
		var b []byte
		b, err = io.ReadAll(io.LimitReader(obj, max+1))
		if err == nil && int64(len(b)) > max {
			return nil, fmt.Errorf("static: %s/%s is larger than %d bytes", s, name, max)
		}
		if err == nil {
			return b, nil
		}
	}
	if minio.ToErrorResponse(err).Code == minio.NoSuchKey {
		return nil, fmt.Errorf("static: %s/%s: %w", s, name, fs.ErrNotExist)
	}
	return nil, s.fail("reading "+name+" from", err)
}

// Delete removes objects, up to 1,000 a request (S3's multi-object
// delete).
func (s *S3) Delete(ctx context.Context, names []string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	objs := make(chan minio.ObjectInfo)
	go func() {
		defer close(objs)
		for _, n := range names {
			select {
			case objs <- minio.ObjectInfo{Key: s.prefix + n}:
			case <-ctx.Done():
				return
			}
		}
	}()
	var first error
	for e := range s.c.RemoveObjects(ctx, s.bucket, objs, minio.RemoveObjectsOptions{}) {
		if first == nil && e.Err != nil {
			first = s.fail("removing "+strings.TrimPrefix(e.ObjectName, s.prefix)+" from", e.Err)
			cancel()
		}
	}
	return first
}

// Sync does nothing: an upload is durable once S3 answered it.
func (s *S3) Sync(ctx context.Context) error { return nil }
