package main

import (
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/mirror"
)

// The packaging files, from this package's folder.
const (
	distUnit          = "../../dist/samizdat-mirror.service"
	distContainerfile = "../../dist/Containerfile"
	distConfig        = "../../dist/mirror.toml"
)

// unitSettings returns the settings of a systemd unit file, each key's
// values in order.
func unitSettings(t *testing.T, path string) map[string][]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := map[string][]string{}
	for line := range strings.Lines(string(data)) {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: not a setting: %q", path, line)
		}
		s[k] = append(s[k], v)
	}
	return s
}

// TestSystemdUnit checks dist/samizdat-mirror.service: its sandboxing,
// that it agrees with dist/mirror.toml, and, where systemd-analyze is
// installed, that systemd accepts it and rates its exposure at most 2.0.
func TestSystemdUnit(t *testing.T) {
	u := unitSettings(t, distUnit)
	for k, want := range map[string]string{
		"DynamicUser":             "yes",
		"StateDirectory":          "samizdat",
		"ConfigurationDirectory":  "samizdat",
		"ProtectSystem":           "strict",
		"ProtectHome":             "yes",
		"PrivateTmp":              "yes",
		"PrivateDevices":          "yes",
		"NoNewPrivileges":         "yes",
		"CapabilityBoundingSet":   "",
		"AmbientCapabilities":     "",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
		"SystemCallFilter":        "@system-service",
		"MemoryDenyWriteExecute":  "yes",
		"KillSignal":              "SIGTERM",
		"ExecStart":               "/usr/local/bin/samizdat mirror --config /etc/samizdat/mirror.toml",
	} {
		if v, ok := u[k]; !ok || v[0] != want {
			t.Errorf("%s=%q, want %q", k, v, want)
		}
	}
	if n, err := strconv.Atoi(u["LimitNOFILE"][0]); err != nil || n < 8192 {
		t.Errorf("LimitNOFILE=%v, want at least 8192", u["LimitNOFILE"])
	}
	// The example config fits the unit: its store is the state directory,
	// and the shutdown ends well before systemd kills the mirror.
	c, err := mirror.LoadConfig(distConfig)
	if err != nil {
		t.Fatal(err)
	}
	if c.Store != "/var/lib/"+u["StateDirectory"][0] {
		t.Errorf("%s: store %q is not the unit's StateDirectory", distConfig, c.Store)
	}
	stop, err := time.ParseDuration(u["TimeoutStopSec"][0])
	if err != nil || stop < 2*c.ShutdownTimeout {
		t.Errorf("TimeoutStopSec=%v, want at least twice shutdown_timeout (%v)", u["TimeoutStopSec"], c.ShutdownTimeout)
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed (Debian: apt-get install systemd)")
	}
	// verify wants ExecStart's binary to exist: the unit is checked as
	// installed, with this test's own binary in the place of samizdat.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(distUnit)
	if err != nil {
		t.Fatal(err)
	}
	unit := filepath.Join(t.TempDir(), "samizdat-mirror.service")
	if err := os.WriteFile(unit, []byte(strings.ReplaceAll(string(data), "/usr/local/bin/samizdat", self)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(analyze, "verify", unit).CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err := exec.Command(analyze, "security", "--offline=true", "--threshold=20", unit).CombinedOutput()
	level := regexp.MustCompile(`Overall exposure level for \S+: (\S+)`).FindSubmatch(out)
	if err != nil || level == nil {
		t.Errorf("systemd-analyze security: %v; exposure above 2.0 or not rated:\n%s", err, out)
	} else {
		t.Logf("systemd-analyze security: exposure %s", level[1])
	}
}

// TestContainerfile checks dist/Containerfile: a multi-stage build whose
// image runs as a numeric non-root user, and whose build command, run
// here, makes a static binary.
func TestContainerfile(t *testing.T) {
	data, err := os.ReadFile(distContainerfile)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	froms := regexp.MustCompile(`(?m)^FROM (\S+)`).FindAllStringSubmatch(text, -1)
	if len(froms) != 2 || !regexp.MustCompile(`^(gcr\.io/distroless/static\S*|scratch)$`).MatchString(froms[1][1]) {
		t.Errorf("stages %v: want a build stage and a distroless/static or scratch image", froms)
	}
	users := regexp.MustCompile(`(?m)^USER (\S+)$`).FindAllStringSubmatch(text, -1)
	if len(users) != 1 || !regexp.MustCompile(`^[1-9][0-9]*:[1-9][0-9]*$`).MatchString(users[0][1]) {
		t.Errorf("USER %v: want one numeric, non-root UID:GID", users)
	}
	build := regexp.MustCompile(`(?m)^RUN (CGO_ENABLED=0 go build .*) -o /out/samizdat \./cmd/samizdat`).FindStringSubmatch(text)
	if build == nil {
		t.Fatalf("%s: no RUN CGO_ENABLED=0 go build ... -o /out/samizdat ./cmd/samizdat", distContainerfile)
	}
	if testing.Short() {
		t.Skip("builds samizdat; skipped with -short")
	}
	// The same command, from the repository's top folder.
	bin := filepath.Join(t.TempDir(), "samizdat")
	cmd := exec.Command("sh", "-c", fmt.Sprintf("%s -o %s ./cmd/samizdat", build[1], bin))
	cmd.Dir = "../.."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", build[1], err, out)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("the binary is dynamically linked (%v)", p.Type)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary needs %v", libs)
	}
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "samizdat ") {
		t.Errorf("samizdat version: %v %s", err, out)
	}
}
