// Command helix serves Helix agents over HTTP, runs them from the terminal
// and inspects their sessions.
//
// Usage:
//
//	helix serve [flags]                     start the HTTP server
//	helix run [flags] AGENT MESSAGE         run one turn in the terminal
//	helix sessions ls|show|messages [...]   inspect stored sessions
//	helix version                           print version information
//
// Every serve flag has a HELIX_* environment equivalent; a flag wins over
// its variable. Agents come from ./helix.yaml (or --config); without one, a
// single "assistant" agent exists. Run "helix help" or "helix CMD -h" for
// details.
//
// Exit codes: 0 success, 1 a runtime failure (a failed run, a store that
// cannot be reached), 2 a mistake in the command line or the configuration
// (unknown command or flag, missing argument, invalid helix.yaml, bad model
// spec, bad store URL), which is reported on one line of standard error.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	_ "time/tzdata" // current_time works on minimal images without a zoneinfo database

	"github.com/helix-agents/helix-go/config"
	"github.com/helix-agents/helix-go/internal/smallstacks"
	"github.com/helix-agents/helix-go/llm/models"
	"github.com/helix-agents/helix-go/store"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		// Many open streams: start goroutines with small stacks (see
		// package smallstacks). Returns only if it did not re-execute.
		smallstacks.Reexec()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second signal kills the process at once
	}()
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// cli is what a command sees of the process: arguments aside, its
// environment and standard streams. Tests drive it in process.
type cli struct {
	env    func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// command is one helix subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, c *cli, args []string) error
}

func commands() []command {
	return []command{
		{"serve", "start the HTTP server", serveCmd},
		{"run", "run one turn of an agent in the terminal", runCmd},
		{"sessions", "list and inspect stored sessions (ls, show, messages)", sessionsCmd},
		{"version", "print version information", versionCmd},
		{"help", "show this help", nil},
	}
}

// run runs the helix command line args (without the program name) and
// returns the process exit code.
func run(ctx context.Context, args []string, env func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	if env == nil {
		env = func(string) string { return "" }
	}
	c := &cli{env: env, stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(rest) > 0 && rest[0] != "help" {
			// "helix help serve" is "helix serve -h".
			return run(ctx, []string{rest[0], "-h"}, env, stdin, stdout, stderr)
		}
		usage(stdout)
		return 0
	case "-v", "-version", "--version":
		name = "version"
	}
	for _, cmd := range commands() {
		if cmd.name == name && cmd.run != nil {
			return exitCode(stderr, cmd.run(ctx, c, rest))
		}
	}
	return exitCode(stderr, usagef("unknown command %q (run \"helix help\" for the list)", name))
}

func usage(w io.Writer) {
	fmt.Fprint(w, `helix runs Helix agents: an HTTP server, a terminal runner and session tools.

Usage:
  helix <command> [flags] [arguments]

Commands:
`)
	for _, cmd := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", cmd.name, cmd.summary)
	}
	fmt.Fprint(w, `
Run "helix <command> -h" for a command's flags. Quick start, offline:
  helix serve --model scripted:examples/demo.json
  helix run --model scripted:examples/demo.json assistant "What is 6*7?"
`)
}

// usageError is a mistake in the command line or the configuration: it
// exits with code 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// exitError ends the command with a code after the command has reported
// what happened (a failed run, say); msg, if set, is printed as the error.
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return e.msg }

// errHelp reports that -h was asked for and the usage printed.
var errHelp = errors.New("help requested")

// exitCode prints err on one line and maps it to an exit code.
func exitCode(stderr io.Writer, err error) int {
	if err == nil || errors.Is(err, errHelp) {
		return 0
	}
	var ee exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintf(stderr, "helix: %s\n", oneLine(ee.msg))
		}
		return ee.code
	}
	fmt.Fprintf(stderr, "helix: %s\n", oneLine(err.Error()))
	var ue usageError
	if errors.As(err, &ue) || errors.Is(err, config.ErrInvalid) || errors.Is(err, models.ErrBadSpec) ||
		errors.Is(err, store.ErrUnknownScheme) {
		return 2
	}
	return 1
}

// oneLine folds a message onto one line.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ; ")), " ")
}
