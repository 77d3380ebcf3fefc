package tools

import (
	"errors"
	"fmt"
	"strings"
	"time"

	helix "github.com/helix-agents/helix-go"
)

// ErrUnknownTool is wrapped by the error of [ByName] for a name that is not
// a built-in tool.
var ErrUnknownTool = errors.New("tools: unknown tool")

// Deps is what [ByName] needs to build the tools.
type Deps struct {
	// Files is the workspace of the file tools; the caller opens it with
	// [Files] and closes it. Nil makes asking for a file tool an error.
	Files *FileTools
	// Fetch configures http_fetch. Its RequireApproval is ignored when
	// Approval names http_fetch.
	Fetch FetchOptions
	// Approval overrides a tool's default approval by tool name: true
	// requires approval of every call, false of none. Tools it does not
	// name keep their default (only write_file and delete_file require
	// approval). Nil means no overrides.
	Approval map[string]bool
}

type builder struct {
	name    string
	approve bool // the default
	build   func(d Deps, approve bool) (*helix.Tool, error)
}

var builders = []builder{
	{"current_time", false, func(_ Deps, a bool) (*helix.Tool, error) { return currentTime(time.Now, a), nil }},
	{"calculator", false, func(_ Deps, a bool) (*helix.Tool, error) { return calculator(a), nil }},
	{"http_fetch", false, func(d Deps, a bool) (*helix.Tool, error) {
		o := d.Fetch
		o.RequireApproval = a
		return HTTPFetch(o), nil
	}},
	{"read_file", false, fileBuilder((*FileTools).readFile)},
	{"list_files", false, fileBuilder((*FileTools).listFiles)},
	{"write_file", true, fileBuilder((*FileTools).writeFile)},
	{"delete_file", true, fileBuilder((*FileTools).deleteFile)},
}

func fileBuilder(method func(*FileTools, bool) *helix.Tool) func(Deps, bool) (*helix.Tool, error) {
	return func(d Deps, a bool) (*helix.Tool, error) {
		if d.Files == nil {
			return nil, errors.New("no workspace is configured for the file tools")
		}
		return method(d.Files, a), nil
	}
}

// Names returns the names of the built-in tools, in a fixed order. The
// caller owns the slice.
func Names() []string {
	names := make([]string, len(builders))
	for i, b := range builders {
		names[i] = b.name
	}
	return names
}

// ByName returns the built-in tool named name, built with deps. An unknown
// name is an error wrapping [ErrUnknownTool] that lists the known names; a
// file tool without deps.Files is an error too.
func ByName(name string, deps Deps) (*helix.Tool, error) {
	for _, b := range builders {
		if b.name != name {
			continue
		}
		approve := b.approve
		if a, ok := deps.Approval[name]; ok {
			approve = a
		} else if name == "http_fetch" {
			approve = deps.Fetch.RequireApproval
		}
		t, err := b.build(deps, approve)
		if err != nil {
			return nil, fmt.Errorf("tools: %s: %w", name, err)
		}
		return t, nil
	}
	return nil, fmt.Errorf("%w %q (known tools: %s)", ErrUnknownTool, name, strings.Join(Names(), ", "))
}
