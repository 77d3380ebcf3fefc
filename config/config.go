package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/llm/models"
	"github.com/helix-agents/helix-go/tools"
)

// MaxSize is the largest configuration [Load] and [Parse] accept, in bytes.
const MaxSize = 1 << 20

// maxNameLen bounds agent names: a sub-agent's name is a tool name, and
// providers accept at most 64 characters there.
const maxNameLen = 64

// ErrInvalid is wrapped by every error about the content of a
// configuration: syntax, unknown fields, failed validation.
var ErrInvalid = errors.New("config: invalid configuration")

// File is a helix.yaml configuration.
type File struct {
	// Workspace is the directory of the file tools (read_file, list_files,
	// write_file, delete_file). [Load] resolves a relative path against the
	// directory of the configuration file; [Parse] leaves it as written.
	// It is required only when an agent uses a file tool.
	Workspace string `yaml:"workspace"`
	// WorkspacePerPrincipal gives each principal (each API key's name or
	// JWT subject) a directory of its own in the workspace, which its
	// sessions' file tools are confined to ([tools.FilesPerPrincipal]).
	// Without it the workspace is shared by everyone who may run its
	// agents.
	WorkspacePerPrincipal bool `yaml:"workspacePerPrincipal"`
	// Agents are the declared agents; names are unique.
	Agents []AgentSpec `yaml:"agents"`
}

// AgentSpec declares one agent.
type AgentSpec struct {
	// Name is the agent type, made of A-Z, a-z, 0-9, _ and - (at most 64).
	Name string `yaml:"name"`
	// Description tells a parent agent what this agent does when it is a
	// sub-agent.
	Description string `yaml:"description"`
	// SystemPrompt is the agent's system prompt.
	SystemPrompt string `yaml:"systemPrompt"`
	// Model is a model spec such as "openai:gpt-4o" (see package
	// llm/models); empty means [BuildOptions.DefaultModel].
	Model string `yaml:"model"`
	// MaxSteps caps the steps of a run; 0 means helix.DefaultMaxSteps.
	MaxSteps int `yaml:"maxSteps"`
	// Tools names built-in tools (see [tools.Names]).
	Tools []string `yaml:"tools"`
	// Approval overrides a tool's default approval by tool name: "always"
	// or "never". Only tools listed in Tools may be named.
	Approval map[string]string `yaml:"approval"`
	// SubAgents names other agents of the file that this agent may call as
	// tools. Each must declare an Output.
	SubAgents []string `yaml:"subAgents"`
	// Output, if set, is a JSON Schema with type object: the agent's typed
	// output, given through the __finish__ tool.
	Output map[string]any `yaml:"output"`
}

// Default returns the configuration used without a helix.yaml: one
// "assistant" agent with the current_time and calculator tools and no
// model of its own (it takes [BuildOptions.DefaultModel]).
//
// It deliberately has no file or network tool: those reach the disk and the
// network, so they exist only when a configuration asks for them (and names
// a workspace for the file tools).
func Default() *File {
	return &File{Agents: []AgentSpec{{
		Name:        "assistant",
		Description: "General helper",
		SystemPrompt: "You are a helpful assistant. Answer clearly and concisely. " +
			"Use the calculator tool for arithmetic and the current_time tool for the date and time; " +
			"say so when you do not know something.",
		Tools: []string{"current_time", "calculator"},
	}}}
}

// Load reads, decodes and validates the configuration file at path. A
// relative Workspace is resolved against the file's directory.
func Load(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("config: %s: %w", path, err)
	}
	cfg, err := Parse(data)
	if err != nil {
		var ie *invalidError
		if errors.As(err, &ie) {
			return nil, &invalidError{msg: path + ": " + ie.msg}
		}
		return nil, err
	}
	if cfg.Workspace != "" && !filepath.IsAbs(cfg.Workspace) {
		dir, err := filepath.Abs(filepath.Dir(path))
		if err != nil {
			return nil, fmt.Errorf("config: %s: %w", path, err)
		}
		cfg.Workspace = filepath.Join(dir, cfg.Workspace)
	}
	return cfg, nil
}

// invalidError is a one-line configuration error wrapping ErrInvalid.
type invalidError struct{ msg string }

func (e *invalidError) Error() string        { return "config: " + e.msg }
func (e *invalidError) Is(target error) bool { return target == ErrInvalid }

func invalid(format string, args ...any) error {
	return &invalidError{msg: fmt.Sprintf(format, args...)}
}

// Parse decodes and validates a configuration: one YAML document of at most
// [MaxSize] bytes, with no unknown fields.
func Parse(data []byte) (*File, error) {
	if len(data) > MaxSize {
		return nil, invalid("the configuration is larger than %d bytes", MaxSize)
	}
	// First pass: the syntax tree, for the document count and the lines of
	// validation errors.
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, invalid("the configuration is empty; it needs agents:")
		}
		return nil, invalid("%s", yamlMessage(err))
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, invalid("%s", yamlMessage(err))
	default:
		return nil, invalid("line %d: a second YAML document; the configuration must be a single document", docLine(&next))
	}
	// Second pass: strict decoding into File.
	strict := yaml.NewDecoder(bytes.NewReader(data))
	strict.KnownFields(true)
	var f File
	if err := strict.Decode(&f); err != nil {
		return nil, invalid("%s", yamlMessage(err))
	}
	if err := f.validate(linesOf(&root)); err != nil {
		return nil, err
	}
	return &f, nil
}

func docLine(n *yaml.Node) int {
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		return n.Content[0].Line
	}
	return n.Line
}

var notFound = regexp.MustCompile(`^line (\d+): field (.+) not found in type (\S+)$`)

// yamlMessage turns a yaml error into one line.
func yamlMessage(err error) string {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return strings.Join(strings.Fields(strings.TrimPrefix(err.Error(), "yaml: ")), " ")
	}
	msgs := make([]string, 0, len(te.Errors))
	for _, e := range te.Errors {
		if m := notFound.FindStringSubmatch(e); m != nil {
			where, known := "at the top level", fieldNames(File{})
			if strings.HasSuffix(m[3], "AgentSpec") {
				where, known = "in an agent", fieldNames(AgentSpec{})
			}
			e = fmt.Sprintf("line %s: unknown field %q %s (known fields: %s)", m[1], m[2], where, strings.Join(known, ", "))
		}
		msgs = append(msgs, strings.Join(strings.Fields(e), " "))
	}
	return strings.Join(msgs, "; ")
}

// fieldNames lists the YAML names of v's fields, read from the struct
// itself so that the list an error shows cannot fall behind it.
func fieldNames(v any) []string {
	var names []string
	for f := range reflect.TypeOf(v).Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if f.IsExported() && name != "" && name != "-" {
			names = append(names, name)
		}
	}
	return names
}

// lineFunc returns the line of field of agent i ("" for the agent itself,
// i < 0 for a top-level field), or 0 when unknown.
type lineFunc func(i int, field string) int

func linesOf(root *yaml.Node) lineFunc {
	return func(i int, field string) int {
		n := root
		if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
			n = n.Content[0]
		}
		if i < 0 {
			if v := mapValue(n, field); v != nil {
				return v.Line
			}
			return 0
		}
		seq := mapValue(n, "agents")
		if seq == nil || seq.Kind != yaml.SequenceNode || i >= len(seq.Content) {
			return 0
		}
		a := seq.Content[i]
		if v := mapValue(a, field); v != nil {
			return v.Line
		}
		return a.Line
	}
}

func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode || key == "" {
		return nil
	}
	for j := 0; j+1 < len(n.Content); j += 2 {
		if n.Content[j].Value == key {
			return n.Content[j+1]
		}
	}
	return nil
}

// Validate checks f as [Parse] does, for a File built in code. The error
// wraps [ErrInvalid].
func (f *File) Validate() error { return f.validate(nil) }

var fileTools = []string{"read_file", "list_files", "write_file", "delete_file"}

// usesFiles reports whether an agent of f uses a file tool.
func (f *File) usesFiles() (agent, tool string, ok bool) {
	for _, a := range f.Agents {
		for _, t := range a.Tools {
			if slices.Contains(fileTools, t) {
				return a.Name, t, true
			}
		}
	}
	return "", "", false
}

func (f *File) validate(line lineFunc) error {
	if line == nil {
		line = func(int, string) int { return 0 }
	}
	at := func(i int, field string) string {
		if n := line(i, field); n > 0 {
			return fmt.Sprintf("line %d: ", n)
		}
		return ""
	}
	if len(f.Agents) == 0 {
		return invalid("%sno agents are declared; add at least one under agents:", at(-1, "agents"))
	}
	index := make(map[string]int, len(f.Agents))
	for i, a := range f.Agents {
		if err := checkName(a.Name); err != nil {
			return invalid("%sagents[%d]: name %s", at(i, "name"), i, err)
		}
		if j, dup := index[a.Name]; dup {
			return invalid("%sagent %q is declared twice (agents[%d] and agents[%d])", at(i, "name"), a.Name, j, i)
		}
		index[a.Name] = i
	}
	known := tools.Names()
	for i, a := range f.Agents {
		where := func(field string) string { return fmt.Sprintf("%sagent %q: %s", at(i, field), a.Name, field) }
		if a.Model != "" {
			if _, err := models.Parse(a.Model); err != nil {
				return invalid("%s: %v", where("model"), err)
			}
		}
		if a.MaxSteps < 0 {
			return invalid("%s is %d; it must be 0 (the default, %d) or more", where("maxSteps"), a.MaxSteps, helix.DefaultMaxSteps)
		}
		seen := map[string]bool{}
		for _, t := range a.Tools {
			if !slices.Contains(known, t) {
				return invalid("%s: unknown tool %q (known tools: %s)", where("tools"), t, strings.Join(known, ", "))
			}
			if seen[t] {
				return invalid("%s: tool %q is listed twice", where("tools"), t)
			}
			seen[t] = true
		}
		for _, t := range sortedKeys(a.Approval) {
			if !seen[t] {
				return invalid("%s: tool %q is not in the agent's tools", where("approval"), t)
			}
			if v := a.Approval[t]; v != "always" && v != "never" {
				return invalid("%s: %s is %q; want always or never", where("approval"), t, v)
			}
		}
		subs := map[string]bool{}
		for _, s := range a.SubAgents {
			j, ok := index[s]
			switch {
			case s == a.Name:
				return invalid("%s: an agent cannot be its own sub-agent", where("subAgents"))
			case !ok:
				return invalid("%s: unknown agent %q (declared agents: %s)", where("subAgents"), s, strings.Join(names(f.Agents), ", "))
			case subs[s]:
				return invalid("%s: %q is listed twice", where("subAgents"), s)
			case seen[s]:
				return invalid("%s: %q has the name of one of the agent's tools", where("subAgents"), s)
			case f.Agents[j].Output == nil:
				return invalid("%s: agent %q has no output: schema; a sub-agent needs one (its output is the tool result)", where("subAgents"), s)
			}
			subs[s] = true
		}
		if a.Output != nil {
			if err := checkOutput(a.Output); err != nil {
				return invalid("%s: %s", where("output"), err)
			}
		}
	}
	if cycle := findCycle(f.Agents, index); cycle != nil {
		i := index[cycle[0]]
		return invalid("%sagent %q: subAgents form a cycle: %s", at(i, "subAgents"), cycle[0], strings.Join(cycle, " -> "))
	}
	return nil
}

func checkName(name string) error {
	switch {
	case name == "":
		return errors.New("is empty")
	case len(name) > maxNameLen:
		return fmt.Errorf("%q is longer than %d characters", name, maxNameLen)
	case name == helix.FinishToolName:
		return fmt.Errorf("%q is reserved", name)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return fmt.Errorf("%q has the character %q; use only A-Z, a-z, 0-9, _ and -", name, r)
		}
	}
	return nil
}

// checkOutput checks that out is a JSON Schema of type object that compiles.
func checkOutput(out map[string]any) error {
	if t, _ := out["type"].(string); t != "object" {
		return errors.New("must be a JSON Schema with type: object")
	}
	raw, err := json.Marshal(out)
	if err != nil {
		return fmt.Errorf("is not JSON-compatible: %v", err)
	}
	if _, err := helix.OutputFromSchema(raw); err != nil {
		msg := strings.TrimPrefix(err.Error(), "helix: output schema: ")
		msg = strings.TrimPrefix(strings.TrimPrefix(msg, "schema: "), "invalid JSON Schema: ")
		return fmt.Errorf("is not a valid JSON Schema: %s", msg)
	}
	return nil
}

// findCycle returns a sub-agent cycle as a path of names whose first and
// last elements are equal, or nil.
func findCycle(agents []AgentSpec, index map[string]int) []string {
	const (
		unseen = iota
		active
		done
	)
	state := make([]int, len(agents))
	var stack []string
	var visit func(i int) []string
	visit = func(i int) []string {
		state[i] = active
		stack = append(stack, agents[i].Name)
		for _, s := range agents[i].SubAgents {
			j := index[s]
			switch state[j] {
			case active:
				k := slices.Index(stack, s)
				return append(slices.Clone(stack[k:]), s)
			case unseen:
				if c := visit(j); c != nil {
					return c
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[i] = done
		return nil
	}
	for i := range agents {
		if state[i] == unseen {
			if c := visit(i); c != nil {
				return c
			}
		}
	}
	return nil
}

func names(agents []AgentSpec) []string {
	out := make([]string, len(agents))
	for i, a := range agents {
		out[i] = a.Name
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
