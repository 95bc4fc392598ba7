package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const distFollowUnit = "../../dist/samizdat-follow.service"

// sandboxSettings are the settings of dist/samizdat-mirror.service that
// sandbox it; dist/samizdat-follow.service must have the same.
var sandboxSettings = []string{
	"DynamicUser", "StateDirectoryMode", "UMask", "ProtectSystem", "ProtectHome", "PrivateTmp", "PrivateDevices", "PrivateMounts",
	"ProtectProc", "NoNewPrivileges", "CapabilityBoundingSet", "AmbientCapabilities", "RestrictSUIDSGID", "LockPersonality",
	"MemoryDenyWriteExecute", "RestrictRealtime", "RestrictNamespaces", "ProtectKernelTunables", "ProtectKernelModules",
	"ProtectKernelLogs", "ProtectControlGroups", "ProtectClock", "ProtectHostname", "RestrictAddressFamilies",
	"SystemCallArchitectures", "SystemCallFilter", "SystemCallErrorNumber", "KillSignal", "Restart", "RestartPreventExitStatus",
}

// TestFollowSystemdUnit checks dist/samizdat-follow.service: the mirror
// unit's sandboxing, key files and passphrase as credentials, a store in
// its state directory, flags that follow knows, and, where systemd-analyze
// is installed, that systemd accepts it and rates its exposure at most 2.0.
func TestFollowSystemdUnit(t *testing.T) {
	mu, fu := unitSettings(t, distUnit), unitSettings(t, distFollowUnit)
	for _, k := range sandboxSettings {
		if strings.Join(fu[k], "\n") != strings.Join(mu[k], "\n") {
			t.Errorf("%s=%q, but the mirror's unit has %q", k, fu[k], mu[k])
		}
	}
	creds := map[string]bool{}
	for _, c := range fu["LoadCredential"] {
		name, path, _ := strings.Cut(c, ":")
		creds[name] = true
		if !strings.HasPrefix(path, "/etc/samizdat/") {
			t.Errorf("LoadCredential=%s: want a file under /etc/samizdat", c)
		}
	}
	for _, want := range []string{pubFile, statementFile, signKeyFile, "passphrase"} {
		if !creds[want] {
			t.Errorf("no LoadCredential for %s", want)
		}
	}
	if creds[rootKeyFile] {
		t.Errorf("the unit loads %s, which belongs offline", rootKeyFile)
	}
	exec := fu["ExecStart"][0]
	for _, want := range []string{"/usr/local/bin/samizdat follow ", " -k %d ", " --passphrase-file %d/passphrase ", " -s /var/lib/" + fu["StateDirectory"][0] + "/store ", " $SAMIZDAT_FOLLOW_FLAGS"} {
		if !strings.Contains(exec+" ", want) {
			t.Errorf("ExecStart=%s lacks %q", exec, want)
		}
	}
	// Every flag it gives is one of follow's.
	_, help, _ := runCode(t, context.Background(), "follow", "--help")
	for _, f := range regexp.MustCompile(` --?([a-z-]+)`).FindAllStringSubmatch(exec, -1) {
		if !strings.Contains(help, "\n  -"+f[1]+" ") && !strings.Contains(help, "\n  -"+f[1]+"\n") {
			t.Errorf("ExecStart gives -%s, which follow does not know:\n%s", f[1], help)
		}
	}
	checkUnitWithSystemd(t, distFollowUnit)
}

// checkUnitWithSystemd runs systemd-analyze verify and security over a
// unit file, with this test's binary in the place of samizdat.
func checkUnitWithSystemd(t *testing.T, path string) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed (Debian: apt-get install systemd)")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	unit := filepath.Join(t.TempDir(), filepath.Base(path))
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
