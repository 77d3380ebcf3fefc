// Package smallstacks runs a server process with the Go runtime's
// adaptive initial goroutine stack size turned off.
//
// The runtime starts new goroutines with the average stack use it saw at
// the last GC, rounded up to a power of two. A server holding many open
// streams (each a handler goroutine a few KiB deep) thereby starts every
// goroutine, net/http's small per-connection readers included, at 4 KiB
// instead of 2: about 2 KiB more per open stream, for no measurable CPU
// gain (docs/benchmarks.md measures both). The setting exists only as the
// GODEBUG environment variable read at process start (a //go:debug
// directive does not accept it), so a server re-executes itself with it.
package smallstacks

import (
	"os"
	"strings"
	"syscall"
)

// Setting is the GODEBUG setting this package adds.
const Setting = "adaptivestackstart=0"

// Reexec replaces the process with itself (same arguments, same PID) under
// GODEBUG=…,adaptivestackstart=0. It returns, changing nothing, when
// GODEBUG already sets adaptivestackstart (the operator's choice stands,
// and the re-executed process stops here) or when re-executing fails.
func Reexec() {
	env, ok := Environ(os.Environ())
	if !ok {
		return
	}
	exe, err := os.Executable()
	if err != nil {
		return
	}
	_ = syscall.Exec(exe, os.Args, env) // returns only on failure
}

// Environ returns environ with [Setting] added to GODEBUG (the variable
// moved last), and false, with environ unchanged, if GODEBUG already sets
// adaptivestackstart.
func Environ(environ []string) ([]string, bool) {
	out := make([]string, 0, len(environ)+1)
	godebug := ""
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, "GODEBUG="); ok {
			godebug = v
			continue
		}
		out = append(out, kv)
	}
	for setting := range strings.SplitSeq(godebug, ",") {
		if strings.HasPrefix(strings.TrimSpace(setting), "adaptivestackstart=") {
			return environ, false
		}
	}
	if godebug != "" {
		godebug += ","
	}
	return append(out, "GODEBUG="+godebug+Setting), true
}
