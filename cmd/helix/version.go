package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
)

func versionCmd(_ context.Context, c *cli, args []string) error {
	f := newFlagSet("version", "helix version", "Print the module version, the Go version and the VCS revision.")
	pos, err := f.parse(args, c.env, c.stdout)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("version: unexpected argument %q", pos[0])
	}
	fmt.Fprintln(c.stdout, versionString(debug.ReadBuildInfo()))
	return nil
}

// versionString describes the build: "helix v1.2.3 (go1.26.0 linux/amd64,
// revision 0123abcd, modified)".
func versionString(bi *debug.BuildInfo, ok bool) string {
	version, goVersion := "unknown", runtime.Version()
	revision, modified := "", false
	if ok {
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
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	out := fmt.Sprintf("helix %s (%s %s/%s", version, goVersion, runtime.GOOS, runtime.GOARCH)
	if revision != "" {
		if len(revision) > 12 {
			revision = revision[:12]
		}
		out += ", revision " + revision
		if modified {
			out += ", modified"
		}
	}
	return out + ")"
}
