package mirror

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

// exampleConfig is where the example file lives, beside the systemd unit
// and the container file.
const exampleConfig = "../dist/mirror.toml"

// configKeys returns the TOML keys of Config, in order.
func configKeys() []string {
	var keys []string
	t := reflect.TypeFor[Config]()
	for i := range t.NumField() {
		if k := t.Field(i).Tag.Get("toml"); k != "" && k != "-" {
			keys = append(keys, k)
		}
	}
	return keys
}

// TestExampleConfig loads dist/mirror.toml, checks it holds every setting,
// and that it reads as the Config it documents.
func TestExampleConfig(t *testing.T) {
	c, err := LoadConfig(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Store:               "/var/lib/samizdat",
		Trust:               []string{"/etc/samizdat/publishers/example-news.pub"},
		HTTP:                "127.0.0.1:8080",
		QUIC:                ":4433",
		TCP:                 ":4433",
		Metrics:             "127.0.0.1:9464",
		HTTPMaxConns:        16384,
		HTTPMaxConnsPerAddr: 256,
		Peers:               []string{},
		PeerURLs:            []string{},
		ShutdownTimeout:     10 * time.Second,
		LogLevel:            "info",
		LogFormat:           "text",
		MemoryLimitMB:       64,
		ExportEvery:         time.Minute,
		file:                exampleConfig,
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("LoadConfig(%s) =\n%+v\nwant\n%+v", exampleConfig, c, want)
	}
	if err := c.Check(); err != nil {
		t.Errorf("the example does not pass Check: %v", err)
	}
	data, err := os.ReadFile(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range configKeys() {
		if !regexp.MustCompile(`(?m)^` + k + ` = `).Match(data) {
			t.Errorf("%s does not set %s", exampleConfig, k)
		}
	}
	// Its values are the defaults where it says so: written out with
	// defaults filled in, it reads back the same.
	var buf bytes.Buffer
	if err := c.WriteTOML(&buf); err != nil {
		t.Fatal(err)
	}
	back, err := parseConfig(exampleConfig, "/", buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, want) {
		t.Errorf("WriteTOML of the example reads back as\n%+v\nwant\n%+v", back, want)
	}
}

// TestWriteTOMLRoundTrip writes a Config with every field set and reads it
// back; the zero Config reads back with its defaults filled in.
func TestWriteTOMLRoundTrip(t *testing.T) {
	full := &Config{
		Store: "/s", Trust: []string{"/a.pub", "/b.pub"}, HTTP: ":1", HTTPS: ":2", TLSCert: "/c", TLSKey: "/k",
		QUIC: ":3", TCP: ":4", Metrics: ":5", Peers: []string{"quic://p:1", "tcp://q:2#" + strings.Repeat("ab", 32)},
		PublicURL: "https://me.example/", PeerURLs: []string{"h3://you.example:443"}, QuotaMB: 7,
		ShutdownTimeout: 1500 * time.Millisecond, LogLevel: "debug", LogFormat: "json", MemoryLimitMB: -1,
		ExportStatic: "s3://bucket/news", ExportEvery: 90 * time.Second, ExportIndexProofs: 100,
		S3Endpoint: "http://10.0.0.1:9000", S3AllowHTTP: true,
	}
	for _, c := range []*Config{full, {}} {
		var buf bytes.Buffer
		if err := c.WriteTOML(&buf); err != nil {
			t.Fatal(err)
		}
		back, err := parseConfig("", "/", buf.Bytes())
		if err != nil {
			t.Fatalf("%v\n%s", err, buf.Bytes())
		}
		want := c.withDefaults()
		for _, l := range []*[]string{&want.Trust, &want.Peers, &want.PeerURLs} {
			if *l == nil {
				*l = []string{}
			}
		}
		if !reflect.DeepEqual(back, want) {
			t.Errorf("read back\n%+v\nwant\n%+v\nfrom\n%s", back, want, buf.Bytes())
		}
		for _, k := range configKeys() {
			if !regexp.MustCompile(`(?m)^` + k + ` = `).Match(buf.Bytes()) {
				t.Errorf("WriteTOML leaves out %s:\n%s", k, buf.Bytes())
			}
		}
	}
}

// TestLoadConfigRelativePaths: a file's relative paths are its folder's,
// and its absolute ones and its addresses stay as they are.
func TestLoadConfigRelativePaths(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "etc", "samizdat")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(sub, "mirror.toml")
	data := `store = "store"
trust = ["pubs/a.pub", "../b.pub", "/abs/c.pub"]
tls_cert = "tls/cert.pem"
tls_key = "/abs/key.pem"
http = "localhost:8080"
`
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	// Read through a relative path from another folder.
	t.Chdir(dir)
	c, err := LoadConfig(filepath.Join("etc", "samizdat", "mirror.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Store != filepath.Join(sub, "store") {
		t.Errorf("store = %q, want %q", c.Store, filepath.Join(sub, "store"))
	}
	wantTrust := []string{filepath.Join(sub, "pubs", "a.pub"), filepath.Join(dir, "etc", "b.pub"), "/abs/c.pub"}
	if !reflect.DeepEqual(c.Trust, wantTrust) {
		t.Errorf("trust = %q, want %q", c.Trust, wantTrust)
	}
	if c.TLSCert != filepath.Join(sub, "tls", "cert.pem") || c.TLSKey != "/abs/key.pem" {
		t.Errorf("tls_cert, tls_key = %q, %q", c.TLSCert, c.TLSKey)
	}
	if c.HTTP != "localhost:8080" {
		t.Errorf("http = %q", c.HTTP)
	}
}

// TestLoadConfigErrors: every mistake in a file is a *ConfigError naming
// the file, in one line.
func TestLoadConfigErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, data, key, err string
	}{
		{"unknown key", "store = \"s\"\npeerz = []\n", "", "unknown setting(s): peerz"},
		{"unknown table", "[web]\nrate = 1\n", "", "unknown setting(s): web, web.rate"},
		{"syntax", "store = \"s\n", "", "toml: line 1"},
		{"type", "quota_mb = \"lots\"\n", "", "incompatible types"},
		{"list type", "trust = \"a.pub\"\n", "", "incompatible types"},
		{"bad duration", "shutdown_timeout = \"soon\"\n", "", `invalid duration: "soon"`},
		{"integer duration", "shutdown_timeout = 5\n", "shutdown_timeout", "want a duration in quotes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".toml")
			if err := os.WriteFile(path, []byte(tc.data), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := LoadConfig(path)
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("LoadConfig = %v, want a *ConfigError", err)
			}
			if ce.File != path || ce.Key != tc.key || !strings.Contains(err.Error(), tc.err) || strings.Contains(err.Error(), "\n") {
				t.Errorf("LoadConfig = %q (file %q, key %q), want one line in %s, key %q, saying %q", err, ce.File, ce.Key, path, tc.key, tc.err)
			}
		})
	}
	big := filepath.Join(dir, "big.toml")
	if err := os.WriteFile(big, bytes.Repeat([]byte("# comment\n"), MaxConfigSize/10+1), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("LoadConfig of %d bytes = %v, want too large", MaxConfigSize+10, err)
	}
	if _, err := LoadConfig(filepath.Join(dir, "none.toml")); err == nil || err.Error() != filepath.Join(dir, "none.toml")+": no such file or directory" {
		t.Errorf("LoadConfig of a missing file = %v", err)
	}
}

// TestConfigCheck: each value Check refuses, by key.
func TestConfigCheck(t *testing.T) {
	valid := func() *Config { return &Config{Store: "s", Trust: []string{"a.pub"}, QUIC: ":4433"} }
	if err := valid().Check(); err != nil {
		t.Fatalf("a valid config: %v", err)
	}
	for _, tc := range []struct {
		key  string
		edit func(c *Config)
	}{
		{"store", func(c *Config) { c.Store = "" }},
		{"trust", func(c *Config) { c.Trust = nil }},
		{"trust", func(c *Config) { c.Trust = []string{""} }},
		{"", func(c *Config) { c.QUIC = "" }},
		{"https", func(c *Config) { c.HTTPS = ":443" }},
		{"https", func(c *Config) { c.HTTPS, c.TLSCert = ":443", "c.pem" }},
		{"https", func(c *Config) { c.TLSKey = "k.pem" }},
		{"quota_mb", func(c *Config) { c.QuotaMB = -1 }},
		{"quota_mb", func(c *Config) { c.QuotaMB = maxMB + 1 }},
		{"memory_limit_mb", func(c *Config) { c.MemoryLimitMB = -2 }},
		{"memory_limit_mb", func(c *Config) { c.MemoryLimitMB = math.MaxInt64 }},
		{"shutdown_timeout", func(c *Config) { c.ShutdownTimeout = -time.Second }},
		{"http", func(c *Config) { c.HTTP = "localhost" }},
		{"https", func(c *Config) { c.HTTPS, c.TLSCert, c.TLSKey = "443", "c", "k" }},
		{"quic", func(c *Config) { c.QUIC = "[::1" }},
		{"tcp", func(c *Config) { c.TCP = "a:b:c" }},
		{"metrics", func(c *Config) { c.Metrics = "9464" }},
		{"peers", func(c *Config) { c.Peers = []string{"http://p:1"} }},
		{"peers", func(c *Config) { c.Peers = []string{"quic://p:1#00"} }},
		{"public_url", func(c *Config) { c.PublicURL = "ftp://me.example/" }},
		{"peer_urls", func(c *Config) { c.PeerURLs = []string{"https://u@p.example/"} }},
		{"peer_urls", func(c *Config) { c.PeerURLs = make([]string, 65) }},
		{"log_level", func(c *Config) { c.LogLevel = "loud" }},
		{"log_format", func(c *Config) { c.LogFormat = "xml" }},
		{"export_every", func(c *Config) { c.ExportStatic, c.ExportEvery = "out", time.Millisecond }},
		{"export_every", func(c *Config) { c.ExportStatic, c.ExportEvery = "out", -time.Minute }},
		{"export_index_proofs", func(c *Config) { c.ExportStatic, c.ExportIndexProofs = "out", -2 }},
		{"export_static", func(c *Config) { c.ExportStatic, c.S3Endpoint = "out", "https://s3.example" }},
		{"export_static", func(c *Config) { c.S3AllowHTTP = true }},
		{"export_static", func(c *Config) { c.ExportStatic = "s3://B/news" }},
		{"export_static", func(c *Config) { c.ExportStatic = "s3://bucket/a/../b" }},
	} {
		c := valid()
		tc.edit(c)
		err := c.Check()
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Key != tc.key || ce.File != "" {
			t.Errorf("%+v: Check = %v, want a *ConfigError for key %q", c, err, tc.key)
			continue
		}
		if strings.Contains(err.Error(), "\n") || !strings.HasPrefix(err.Error(), "mirror: config: ") {
			t.Errorf("Check = %q, want one line starting mirror: config:", err)
		}
	}
	// A config read from a file names it.
	c := valid()
	c.file, c.QuotaMB = "m.toml", -1
	if err := c.Check(); err == nil || err.Error() != "m.toml: quota_mb: must not be negative, not -1" {
		t.Errorf("Check of a file's config = %v", err)
	}
}

// FuzzParseConfig: no file makes parseConfig panic, and what it accepts
// writes out and reads back the same.
func FuzzParseConfig(f *testing.F) {
	if data, err := os.ReadFile(exampleConfig); err == nil {
		f.Add(data)
	}
	f.Add([]byte("store = \"s\"\ntrust = [\"a\", \"/b\"]\nshutdown_timeout = \"1m\"\n"))
	f.Add([]byte("quota_mb = 9223372036854775807\n"))
	f.Add([]byte("[x]\ny = 1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := parseConfig("f.toml", "/d", data)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error of more than one line: %q", err)
			}
			return
		}
		var buf bytes.Buffer
		if err := c.WriteTOML(&buf); err != nil {
			t.Fatal(err)
		}
		back, err := parseConfig("f.toml", "/d", buf.Bytes())
		if err != nil {
			t.Fatalf("%v\n%s", err, buf.Bytes())
		}
		var again bytes.Buffer
		if err := back.WriteTOML(&again); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), again.Bytes()) {
			t.Errorf("written twice differs:\n%s\n%s", buf.Bytes(), again.Bytes())
		}
	})
}

func TestParsePeer(t *testing.T) {
	key := strings.Repeat("0f", 32)
	for _, tc := range []struct {
		in, addr string
		pinned   bool
		err      string
	}{
		{"quic://m.example:4433", "quic://m.example:4433", false, ""},
		{"tcp://[2001:db8::1]:4433", "tcp://[2001:db8::1]:4433", false, ""},
		{"m.example:4433", "m.example:4433", false, ""},
		{"quic://m.example:4433#" + key, "quic://m.example:4433", true, ""},
		{"http://m.example:80", "", false, "want quic://HOST:PORT or tcp://HOST:PORT"},
		{"quic://m.example", "", false, "missing port"},
		{"quic://:4433", "", false, "want HOST:PORT"},
		{"m.example:", "", false, "want HOST:PORT"},
		{"quic://m.example:4433#" + key[:62], "", false, "64 hex digits"},
		{"quic://m.example:4433#" + strings.Repeat("zz", 32), "", false, "64 hex digits"},
		{"", "", false, "missing port"},
	} {
		p, err := ParsePeer(tc.in)
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.HasPrefix(err.Error(), "mirror: peer ") {
				t.Errorf("ParsePeer(%q) = %v, want an error saying %q", tc.in, err, tc.err)
			}
		case err != nil:
			t.Errorf("ParsePeer(%q): %v", tc.in, err)
		case p.Addr != tc.addr || (p.Key != nil) != tc.pinned:
			t.Errorf("ParsePeer(%q) = %+v, want address %q, pinned %v", tc.in, p, tc.addr, tc.pinned)
		}
	}
}

func FuzzParsePeer(f *testing.F) {
	f.Add("quic://m.example:4433#" + strings.Repeat("0f", 32))
	f.Add("tcp://[::1]:1")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePeer(s)
		if err != nil {
			return
		}
		if !strings.HasPrefix(s, p.Addr) {
			t.Errorf("ParsePeer(%q).Addr = %q, not a prefix", s, p.Addr)
		}
	})
}
