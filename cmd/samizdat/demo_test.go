package main

import (
	"path/filepath"
	"testing"
)

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"d/keys/publisher.pub":  "d/keys/publisher.pub",
		"http://127.0.0.1:8080": "http://127.0.0.1:8080",
		"my demo":               "'my demo'",
		"it's":                  `'it'\''s'`,
		"":                      "''",
		"$HOME":                 "'$HOME'",
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

// TestDemoShell: paths below where the demo started are shown relative to
// it, others whole; only arguments inside the demo's directory are paths.
func TestDemoShell(t *testing.T) {
	sh := &demoShell{self: "samizdat", cwd: "/home/reader"}
	for _, tc := range []struct{ dir, want string }{
		{"/home/reader/d", "samizdat verify -t d/keys/publisher.pub d/store 127.0.0.1:8080"},
		{"/tmp/samizdat-demo-1", "samizdat verify -t /tmp/samizdat-demo-1/keys/publisher.pub /tmp/samizdat-demo-1/store 127.0.0.1:8080"},
		{"/home/reader/my demo", "samizdat verify -t 'my demo/keys/publisher.pub' 'my demo/store' 127.0.0.1:8080"},
	} {
		got := sh.cmd(tc.dir, "verify", "-t", filepath.Join(tc.dir, "keys/publisher.pub"), filepath.Join(tc.dir, "store"), "127.0.0.1:8080")
		if got != tc.want {
			t.Errorf("in %s:\n got %s\nwant %s", tc.dir, got, tc.want)
		}
	}
}
