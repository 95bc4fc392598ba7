package netlimit_test

import (
	"net"
	"testing"

	"github.com/samizdat-news/samizdat/internal/netlimit"
)

// FuzzParseAddr: ParseAddr never panics, what it accepts has a key that
// holds it, and a TCP address of it gives the same key.
func FuzzParseAddr(f *testing.F) {
	for _, s := range []string{"203.0.113.5:80", "[2001:db8::1]:443", "[::ffff:127.0.0.1]:1", "2001:db8::1", "[fe80::1%eth0]:80", "@", "", "1.2.3.4:99999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, ok := netlimit.ParseAddr(s)
		if !ok {
			return
		}
		if !a.IsValid() || a.Is4In6() {
			t.Fatalf("ParseAddr(%q) = %v", s, a)
		}
		k := netlimit.Key(a)
		if !k.Contains(a.WithZone("")) {
			t.Fatalf("Key(%v) = %v does not hold it", a, k)
		}
		b, ok := netlimit.AddrOf(&net.TCPAddr{IP: a.AsSlice(), Port: 1})
		if !ok || netlimit.Key(b) != k {
			t.Fatalf("AddrOf of %v: %v, %v", a, b, ok)
		}
	})
}
