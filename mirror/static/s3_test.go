package static_test

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/samizdat-news/samizdat/mirror/static"
)

// versitygw returns the versitygw binary (github.com/versity/versitygw,
// an S3 server with a posix backend): on PATH, or where .ci/run installs
// it. Without it the test is skipped, unless SAMIZDAT_REQUIRE_S3=1.
func versitygw(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	if home, err := os.UserHomeDir(); err == nil {
		p := filepath.Join(home, ".cache", "samizdat-ci", "bin", "versitygw")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	const how = "go install github.com/versity/versitygw/cmd/versitygw@v1.8.0 (.ci/run does it into ~/.cache/samizdat-ci/bin)"
	if os.Getenv("SAMIZDAT_REQUIRE_S3") == "1" {
		t.Fatal("no versitygw on PATH or in ~/.cache/samizdat-ci/bin and SAMIZDAT_REQUIRE_S3=1; " + how)
	}
	t.Skip("no versitygw S3 server on PATH or in ~/.cache/samizdat-ci/bin; " + how)
	return ""
}

const (
	s3Access = "samizdat-test"
	s3Secret = "samizdat-test-secret"
	s3Bucket = "news"
)

// s3Server is a versitygw serving a temporary directory on loopback, with
// one bucket whose objects anyone may read.
type s3Server struct {
	endpoint string // http://127.0.0.1:PORT
	c        *minio.Client
}

func startS3(t *testing.T) *s3Server {
	t.Helper()
	bin := versitygw(t)
	addr := freePort(t)
	root := t.TempDir()
	cmd := exec.Command(bin, "--access", s3Access, "--secret", s3Secret, "--port", addr, "posix", root)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	s := &s3Server{endpoint: "http://" + addr}
	startProcess(t, s.endpoint+"/", cmd)
	var err error
	s.c, err = minio.New(addr, &minio.Options{Creds: credentials.NewStaticV4(s3Access, s3Secret, ""), Secure: false})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.c.MakeBucket(ctx, s3Bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::` + s3Bucket + `/*"]}]}`
	if err := s.c.SetBucketPolicy(ctx, s3Bucket, policy); err != nil {
		t.Fatalf("making the bucket readable by all: %v", err)
	}
	return s
}

func (s *s3Server) sink(t *testing.T, prefix string) *static.S3 {
	t.Helper()
	sink, err := static.NewS3(&static.S3Config{Endpoint: s.endpoint, Bucket: s3Bucket, Prefix: prefix, AccessKey: s3Access, SecretKey: s3Secret})
	if err != nil {
		t.Fatal(err)
	}
	return sink
}

// TestExportS3 exports to a real S3 server, checks each object's
// Content-Type and Cache-Control, exports again (nothing written), and
// has the reader fetch and verify an article from the bucket's URL.
func TestExportS3(t *testing.T) {
	s := startS3(t)
	f := newFixture(t)
	first := f.export(s.sink(t, "mirror/alpha"))
	pub := "mirror/alpha/p/" + f.alpha.ID() + "/"
	hostile := f.digest("hostile").String()
	for _, tc := range []struct{ key, typ, cache string }{
		{pub + "checkpoint", "text/plain; charset=utf-8", static.CacheCheckpoint},
		{pub + "key-statement", "text/plain; charset=utf-8", static.CacheLog},
		{pub + "tile/0/000.p/7", "application/octet-stream", static.CacheImmutable},
		{pub + "tile/entries/000.p/7", "application/octet-stream", static.CacheImmutable},
		{pub + "index/7/hostile", "application/octet-stream", static.CacheImmutable},
		{"mirror/alpha/b/" + hostile, "application/octet-stream", static.CacheImmutable},
		{"mirror/alpha/e/" + hostile + "/evil.html.png", "image/png", static.CacheImmutable},
		{pub + "a/hostile/index.html", "text/html; charset=utf-8", static.CachePage},
		{pub + "feed.atom", "application/atom+xml; charset=utf-8", static.CachePage},
		{"mirror/alpha/static/style.css", "text/css; charset=utf-8", static.CachePage},
		{"mirror/alpha/" + static.VerifierName, "text/html; charset=utf-8", static.CachePage},
	} {
		// Anonymous, as a reader or a CDN sees it.
		resp, err := http.Get(s.endpoint + "/" + s3Bucket + "/" + tc.key)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != tc.typ || resp.Header.Get("Cache-Control") != tc.cache {
			t.Errorf("%s: %s, Content-Type %q, Cache-Control %q; want 200, %q, %q", tc.key, resp.Status,
				resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"), tc.typ, tc.cache)
		}
	}
	again := f.export(s.sink(t, "mirror/alpha"))
	if again.Written != 0 || first.Written == 0 {
		t.Errorf("the second export wrote %d objects, want 0", again.Written)
	}
	fetchFrom(t, f, s.endpoint+"/"+s3Bucket+"/mirror/alpha")

	f.publish(item("new", "text/plain", "news", "en", "New article"))
	rec := &recorder{Sink: s.sink(t, "mirror/alpha")}
	f.export(rec)
	for _, name := range rec.puts {
		if strings.HasPrefix(name, "b/") && name != "b/"+f.digest("new").String() || strings.HasPrefix(name, "e/") || name == "p/"+f.alpha.ID()+"/tile/0/000.p/7" {
			t.Errorf("re-export uploaded %s again", name)
		}
	}
	// The proofs of the new size are there, and the previous size's
	// stay until the export after; then they are removed.
	rec2 := &recorder{Sink: s.sink(t, "mirror/alpha")}
	f.publish(item("new2", "text/plain", "news", "en", "New article"))
	f.export(rec2)
	for key, want := range map[string]int{pub + "index/7/hostile": http.StatusNotFound, pub + "index/8/hostile": http.StatusOK, pub + "index/9/new": http.StatusOK} {
		resp, err := http.Get(s.endpoint + "/" + s3Bucket + "/" + key)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s: %s, want %d", key, resp.Status, want)
		}
	}
	// The state (its shards, then the file naming them) goes after the
	// checkpoint; it is the exporter's, not the readers'.
	puts := slices.DeleteFunc(slices.Clone(rec.puts), func(s string) bool {
		return s == "(sync)" || strings.HasPrefix(s, "(delete) ") || strings.HasPrefix(s, static.StateShards)
	})
	if puts[len(puts)-1] != static.StateName || puts[len(puts)-2] != "p/"+f.alpha.ID()+"/checkpoint" {
		t.Errorf("the checkpoint is not the last object uploaded: %q", puts)
	}
}

// TestS3Config checks the S3 sink's refusals: each is one line.
func TestS3Config(t *testing.T) {
	for _, tc := range []struct {
		cfg  static.S3Config
		want string
	}{
		{static.S3Config{Endpoint: "http://s3.example", Bucket: "news", AccessKey: "a", SecretKey: "s"}, "in the clear"},
		{static.S3Config{Endpoint: "ftp://s3.example", Bucket: "news", AccessKey: "a", SecretKey: "s"}, "scheme"},
		{static.S3Config{Endpoint: "https://s3.example/path", Bucket: "news", AccessKey: "a", SecretKey: "s"}, "want https://HOST"},
		{static.S3Config{Bucket: "news"}, "AWS_ACCESS_KEY_ID"},
		{static.S3Config{Bucket: "N", AccessKey: "a", SecretKey: "s"}, "bucket name"},
	} {
		_, err := static.NewS3(&tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("NewS3(%+v) = %v, want one line with %q", tc.cfg, err, tc.want)
		}
	}
	for _, ok := range []static.S3Config{
		{Endpoint: "http://127.0.0.1:9000", Bucket: "news", AccessKey: "a", SecretKey: "s"},
		{Endpoint: "http://s3.example", AllowHTTP: true, Bucket: "news", AccessKey: "a", SecretKey: "s"},
		{Bucket: "news", Prefix: "a/b", AccessKey: "a", SecretKey: "s"},
	} {
		if _, err := static.NewS3(&ok); err != nil {
			t.Errorf("NewS3(%+v): %v", ok, err)
		}
	}
	for _, tc := range []struct{ url, bucket, prefix string }{
		{"s3://news", "news", ""}, {"s3://news/", "news", ""}, {"s3://news/a/b/", "news", "a/b"},
	} {
		b, p, err := static.ParseS3URL(tc.url)
		if err != nil || b != tc.bucket || p != tc.prefix {
			t.Errorf("ParseS3URL(%q) = %q, %q, %v", tc.url, b, p, err)
		}
	}
	for _, bad := range []string{"news", "s3://", "s3://UPPER/x", "s3://news/a//b", "s3://news/../x", "https://news/x"} {
		if _, _, err := static.ParseS3URL(bad); err == nil {
			t.Errorf("ParseS3URL(%q) accepted", bad)
		}
	}
}
