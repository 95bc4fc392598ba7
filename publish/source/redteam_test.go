package source

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestCheckPublicRanges lists addresses a hostile page's images (or a
// feed's links, which cmd/samizdat dials through CheckPublic) may name,
// and whether the publisher may dial them. The ranges net.IP's methods
// miss are here too: RFC 6598 shared space (Alibaba Cloud's metadata
// service, Tailscale), 0.0.0.0/8, reserved space and NAT64 addresses of
// private ones. They are checked without dialing: only loopback may be
// dialed in tests, and these are not loopback.
func TestCheckPublicRanges(t *testing.T) {
	for _, tc := range []struct {
		addr   string
		public bool
	}{
		{"127.0.0.1:80", false},
		{"127.0.0.2:80", false},
		{"[::1]:80", false},
		{"[::ffff:127.0.0.1]:80", false},
		{"0.0.0.0:80", false},
		{"[::]:80", false},
		{"10.1.2.3:80", false},
		{"172.16.0.1:80", false},
		{"192.168.1.1:80", false},
		{"169.254.169.254:80", false},
		{"[fd00:ec2::254]:80", false},
		{"[fe80::1]:80", false},
		{"224.0.0.1:80", false},
		{"100.100.100.200:80", false}, // Alibaba Cloud metadata
		{"100.64.0.1:80", false},
		{"100.127.255.254:80", false},
		{"0.1.2.3:80", false},
		{"192.0.0.170:80", false},
		{"198.18.0.1:80", false},
		{"255.255.255.255:80", false},
		{"240.0.0.1:80", false},
		{"[64:ff9b::a9fe:a9fe]:80", false}, // NAT64 of 169.254.169.254
		{"[64:ff9b::7f00:1]:80", false},
		{"[64:ff9b::a00:1]:80", false},
		{"[::ffff:100.100.100.200]:80", false},
		{"93.184.216.34:443", true},
		{"100.63.255.255:443", true},
		{"100.128.0.1:443", true},
		{"[2606:2800:220:1:248:1893:25c8:1946]:443", true},
		{"[64:ff9b::5db8:d822]:443", true}, // NAT64 of a public address
	} {
		err := CheckPublic(tc.addr)
		if (err == nil) != tc.public {
			t.Errorf("CheckPublic(%s) = %v, want public %v", tc.addr, err, tc.public)
		}
	}
}

// TestReplacementCharsetNotSigned is a hostile page, fetched over
// loopback, that declares a charset the standard maps to the
// "replacement" encoding (ISO-2022-KR, HZ-GB-2312...), which decodes a
// whole page as one U+FFFD: the page must be read as the UTF-8 it is,
// with a warning, not signed as one replacement character.
func TestReplacementCharsetNotSigned(t *testing.T) {
	const page = `<!DOCTYPE html><html lang="en"><head><meta charset="%s"><title>Kept title</title></head><body><article><p>The article's own words, which must survive.</p></article></body></html>`
	for _, cs := range []string{"iso-2022-kr", "hz-gb-2312", "csiso2022kr"} {
		for _, inHeader := range []bool{false, true} {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				ct := "text/html"
				if inHeader {
					ct += "; charset=" + cs
				}
				w.Header().Set("Content-Type", ct)
				fmt.Fprintf(w, page, cs)
			}))
			resp, err := http.Get(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			data, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			srv.Close()
			if err != nil {
				t.Fatal(err)
			}
			a, err := FromHTML(data, resp.Header.Get("Content-Type"), srv.URL+"/", &Options{Raw: true})
			if err != nil {
				t.Fatalf("%s: %v", cs, err)
			}
			if body := string(a.Files[0].Data); !strings.Contains(body, "The article's own words") || a.Meta.Title != "Kept title" {
				t.Errorf("%s (header %v): title %q, body %q", cs, inHeader, a.Meta.Title, body)
			}
			if !strings.Contains(strings.Join(a.Warnings, "\n"), "browsers refuse to read") {
				t.Errorf("%s (header %v): no warning: %q", cs, inHeader, a.Warnings)
			}
		}
	}
}
