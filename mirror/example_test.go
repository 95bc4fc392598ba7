package mirror_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"os"
	"path/filepath"

	"github.com/samizdat-news/samizdat/keys"
	"github.com/samizdat-news/samizdat/mirror"
)

// ExampleStart starts a mirror that carries one publisher and serves
// plain HTTP on a loopback port chosen by the system.
func ExampleStart() {
	dir, err := os.MkdirTemp("", "mirror-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	root, err := keys.Generate(nil, "example-news", keys.RoleRoot)
	if err != nil {
		log.Fatal(err)
	}
	pub := filepath.Join(dir, "publisher.pub")
	if err := os.WriteFile(pub, []byte(root.Public().String()+"\n"), 0o644); err != nil {
		log.Fatal(err)
	}

	m, err := mirror.Start(context.Background(), &mirror.Config{
		Store: filepath.Join(dir, "store"),
		Trust: []string{pub},
		HTTP:  "127.0.0.1:0",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Shutdown(context.Background())

	resp, err := http.Get("http://" + m.HTTPAddr() + "/healthz")
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println(resp.Status)
	// Output: 200 OK
}

// ExampleConfig_Check shows a mistake reported before anything starts.
func ExampleConfig_Check() {
	c := &mirror.Config{Store: "/var/lib/samizdat", Trust: []string{"example-news.pub"}, HTTP: "localhost"}
	fmt.Println(c.Check())
	// Output: mirror: config: http: want HOST:PORT or :PORT: missing port in address
}

// ExampleConfig_WriteTOML prints a Config as a mirror.toml file, every
// default filled in.
func ExampleConfig_WriteTOML() {
	c := &mirror.Config{Store: "/var/lib/samizdat", Trust: []string{"/etc/samizdat/example-news.pub"}, QUIC: ":4433"}
	if err := c.WriteTOML(os.Stdout); err != nil {
		log.Fatal(err)
	}
	// Output:
	// store = "/var/lib/samizdat"
	// trust = ["/etc/samizdat/example-news.pub"]
	// http = ""
	// https = ""
	// tls_cert = ""
	// tls_key = ""
	// quic = ":4433"
	// tcp = ""
	// metrics = ""
	// http_max_conns = 16384
	// http_max_conns_per_addr = 256
	// peers = []
	// public_url = ""
	// peer_urls = []
	// quota_mb = 0
	// export_static = ""
	// export_every = "1m0s"
	// export_index_proofs = 0
	// s3_endpoint = ""
	// s3_allow_http = false
	// shutdown_timeout = "10s"
	// log_level = "info"
	// log_format = "text"
	// memory_limit_mb = 64
}
