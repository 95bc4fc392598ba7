package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

func runVersion(e *env, args []string) error {
	fs := newFlags(e, "version", "")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("version takes no arguments")
	}
	bi, _ := debug.ReadBuildInfo()
	fmt.Fprintln(e.stdout, versionLine(bi))
	return nil
}

// versionLine says which samizdat this is, from its build info (nil if
// the binary has none): the module version ("(devel)" when built from a
// checkout), the source revision and its time when the build recorded
// them, whether the checkout had changes, and the Go toolchain, for
// example
//
//	samizdat v1.2.0, revision 0a4f015c…, 2026-12-01T10:00:00Z, go1.26.8 linux/amd64
func versionLine(bi *debug.BuildInfo) string {
	version, goVersion := "(unknown)", runtime.Version()
	var revision, revTime string
	var modified bool
	if bi != nil {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		if bi.GoVersion != "" {
			goVersion = bi.GoVersion
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				revision = s.Value
			case "vcs.time":
				revTime = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	parts := []string{"samizdat " + version}
	if revision != "" {
		parts = append(parts, "revision "+revision)
	}
	if revTime != "" {
		parts = append(parts, revTime)
	}
	if modified {
		parts = append(parts, "modified")
	}
	parts = append(parts, goVersion+" "+runtime.GOOS+"/"+runtime.GOARCH)
	return strings.Join(parts, ", ")
}
