package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/helix-agents/helix-go/config"
)

// issueExample is the example of issue 5, verbatim.
const issueExample = `workspace: ./workspace            # root for the file tools
agents:
  - name: assistant
    description: General helper
    systemPrompt: You are a helpful assistant.
    model: openai:gpt-4o          # optional; falls back to --model
    maxSteps: 20
    tools: [current_time, calculator, http_fetch, read_file, list_files, write_file, delete_file]
    approval: { http_fetch: never, write_file: always }   # overrides the tool's default
    subAgents: [summarizer]
    output: { type: object, properties: { answer: { type: string } }, required: [answer] }
`

// summarizer completes the issue's example, whose sub-agent it names.
const summarizer = `  - name: summarizer
    description: Summarizes a text
    systemPrompt: Summarize the text you are given.
    output: { type: object, properties: { summary: { type: string } }, required: [summary] }
`

func TestParseIssueExample(t *testing.T) {
	// Verbatim, the example names a sub-agent it does not declare.
	_, err := config.Parse([]byte(issueExample))
	want := `config: line 10: agent "assistant": subAgents: unknown agent "summarizer" (declared agents: assistant)`
	if err == nil || err.Error() != want {
		t.Fatalf("Parse(issue example) error = %v, want %s", err, want)
	}
	f, err := config.Parse([]byte(issueExample + summarizer))
	if err != nil {
		t.Fatal(err)
	}
	want2 := &config.File{
		Workspace: "./workspace",
		Agents: []config.AgentSpec{{
			Name:         "assistant",
			Description:  "General helper",
			SystemPrompt: "You are a helpful assistant.",
			Model:        "openai:gpt-4o",
			MaxSteps:     20,
			Tools:        []string{"current_time", "calculator", "http_fetch", "read_file", "list_files", "write_file", "delete_file"},
			Approval:     map[string]string{"http_fetch": "never", "write_file": "always"},
			SubAgents:    []string{"summarizer"},
			Output: map[string]any{
				"type":       "object",
				"properties": map[string]any{"answer": map[string]any{"type": "string"}},
				"required":   []any{"answer"},
			},
		}, {
			Name:         "summarizer",
			Description:  "Summarizes a text",
			SystemPrompt: "Summarize the text you are given.",
			Output: map[string]any{
				"type":       "object",
				"properties": map[string]any{"summary": map[string]any{"type": "string"}},
				"required":   []any{"summary"},
			},
		}},
	}
	if !reflect.DeepEqual(f, want2) {
		t.Errorf("Parse = %#v\nwant %#v", f, want2)
	}
}

func TestParseErrors(t *testing.T) {
	const okOut = "{type: object, properties: {a: {type: string}}}"
	tests := []struct {
		name, yaml, want string
	}{
		{"empty", "", "config: the configuration is empty; it needs agents:"},
		{"no agents", "workspace: ./w\n", "config: no agents are declared; add at least one under agents:"},
		{"empty agents", "agents: []\n", "config: line 1: no agents are declared; add at least one under agents:"},
		{"syntax", "agents: [\n", "config: line 1: did not find expected node content"},
		{"two documents", "agents:\n  - name: a\n---\nagents: []\n", "config: line 4: a second YAML document; the configuration must be a single document"},
		{"unknown top field", "agents:\n  - name: a\nworkspce: ./w\n",
			`config: line 3: unknown field "workspce" at the top level (known fields: workspace, workspacePerPrincipal, agents)`},
		{"unknown agent field", "agents:\n  - name: a\n    system_prompt: hi\n",
			`config: line 3: unknown field "system_prompt" in an agent (known fields: name, description, systemPrompt, model, maxSteps, tools, approval, subAgents, output)`},
		{"wrong type", "agents:\n  - name: a\n    maxSteps: many\n", "config: line 3: cannot unmarshal !!str `many` into int"},
		{"top level list", "- name: a\n", "config: line 1: cannot unmarshal !!seq into config.File"},
		{"duplicate key", "agents:\n  - name: a\n    name: b\n", `config: line 3: mapping key "name" already defined at line 2`},
		{"empty name", "agents:\n  - description: x\n", "config: line 2: agents[0]: name is empty"},
		{"bad name charset", "agents:\n  - name: my agent\n", `config: line 2: agents[0]: name "my agent" has the character ' '; use only A-Z, a-z, 0-9, _ and -`},
		{"long name", "agents:\n  - name: " + strings.Repeat("a", 65) + "\n", `config: line 2: agents[0]: name "` + strings.Repeat("a", 65) + `" is longer than 64 characters`},
		{"reserved name", "agents:\n  - name: __finish__\n", `config: line 2: agents[0]: name "__finish__" is reserved`},
		{"duplicate name", "agents:\n  - name: a\n  - name: a\n", `config: line 3: agent "a" is declared twice (agents[0] and agents[1])`},
		{"bad model", "agents:\n  - name: a\n    model: gpt-4o\n", `config: line 3: agent "a": model: models: bad model spec "gpt-4o": want provider:model, e.g. openai:gpt-4o`},
		{"negative maxSteps", "agents:\n  - name: a\n    maxSteps: -1\n", `config: line 3: agent "a": maxSteps is -1; it must be 0 (the default, 50) or more`},
		{"unknown tool", "agents:\n  - name: a\n    tools: [shell]\n",
			`config: line 3: agent "a": tools: unknown tool "shell" (known tools: current_time, calculator, http_fetch, read_file, list_files, write_file, delete_file)`},
		{"duplicate tool", "agents:\n  - name: a\n    tools: [calculator, calculator]\n", `config: line 3: agent "a": tools: tool "calculator" is listed twice`},
		{"approval for missing tool", "agents:\n  - name: a\n    tools: [calculator]\n    approval: {write_file: never}\n",
			`config: line 4: agent "a": approval: tool "write_file" is not in the agent's tools`},
		{"bad approval value", "agents:\n  - name: a\n    tools: [calculator]\n    approval: {calculator: sometimes}\n",
			`config: line 4: agent "a": approval: calculator is "sometimes"; want always or never`},
		{"yaml bool approval", "agents:\n  - name: a\n    tools: [calculator]\n    approval: {calculator: true}\n",
			`config: line 4: agent "a": approval: calculator is "true"; want always or never`},
		{"self sub-agent", "agents:\n  - name: a\n    subAgents: [a]\n", `config: line 3: agent "a": subAgents: an agent cannot be its own sub-agent`},
		{"unknown sub-agent", "agents:\n  - name: a\n    subAgents: [b]\n", `config: line 3: agent "a": subAgents: unknown agent "b" (declared agents: a)`},
		{"duplicate sub-agent", "agents:\n  - name: a\n    subAgents: [b, b]\n  - name: b\n    output: " + okOut + "\n",
			`config: line 3: agent "a": subAgents: "b" is listed twice`},
		{"sub-agent without output", "agents:\n  - name: a\n    subAgents: [b]\n  - name: b\n",
			`config: line 3: agent "a": subAgents: agent "b" has no output: schema; a sub-agent needs one (its output is the tool result)`},
		{"sub-agent named like a tool", "agents:\n  - name: a\n    tools: [calculator]\n    subAgents: [calculator]\n  - name: calculator\n    output: " + okOut + "\n",
			`config: line 4: agent "a": subAgents: "calculator" has the name of one of the agent's tools`},
		{"cycle", "agents:\n  - name: a\n    subAgents: [b]\n    output: " + okOut + "\n  - name: b\n    subAgents: [c]\n    output: " + okOut + "\n  - name: c\n    subAgents: [a]\n    output: " + okOut + "\n",
			`config: line 3: agent "a": subAgents form a cycle: a -> b -> c -> a`},
		{"output not object type", "agents:\n  - name: a\n    output: {type: string}\n", `config: line 3: agent "a": output: must be a JSON Schema with type: object`},
		{"output empty", "agents:\n  - name: a\n    output: {}\n", `config: line 3: agent "a": output: must be a JSON Schema with type: object`},
		{"output scalar", "agents:\n  - name: a\n    output: answer\n", "config: line 3: cannot unmarshal !!str `answer` into map[string]interface {}"},
		{"output bad schema", "agents:\n  - name: a\n    output: {type: object, properties: {n: {type: integr}}}\n",
			`config: line 3: agent "a": output: is not a valid JSON Schema: unknown type "integr"`},
		{"output not JSON", "agents:\n  - name: a\n    output: {type: object, properties: {1: {type: string}}}\n",
			`config: line 3: agent "a": output: is not JSON-compatible: json: unsupported type: map[interface {}]interface {}`},
		{"too large", "agents: []\n" + strings.Repeat("#", config.MaxSize), "config: the configuration is larger than 1048576 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := config.Parse([]byte(tt.yaml))
			if err == nil {
				t.Fatalf("Parse = %+v, want error %s", f, tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("error:\n got %s\nwant %s", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
			if !errors.Is(err, config.ErrInvalid) {
				t.Errorf("error does not wrap ErrInvalid: %v", err)
			}
		})
	}
}

func TestLoadResolvesWorkspace(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "helix.yaml")
	write := func(ws string) {
		t.Helper()
		if err := os.WriteFile(path, []byte("workspace: "+ws+"\nagents:\n  - name: a\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("./ws")
	f, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "ws"); f.Workspace != want {
		t.Errorf("relative Workspace = %q, want %q", f.Workspace, want)
	}
	abs := filepath.Join(t.TempDir(), "elsewhere")
	write(abs)
	if f, err = config.Load(path); err != nil {
		t.Fatal(err)
	}
	if f.Workspace != abs {
		t.Errorf("absolute Workspace = %q, want %q", f.Workspace, abs)
	}
	// Parse has no file to resolve against.
	if f, err = config.Parse([]byte("workspace: ./ws\nagents:\n  - name: a\n")); err != nil || f.Workspace != "./ws" {
		t.Errorf("Parse Workspace = %q, %v; want ./ws", f.Workspace, err)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "helix.yaml")
	if err := os.WriteFile(path, []byte("agents:\n  - name: a\n    colour: red\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := config.Load(path)
	want := "config: " + path + `: line 3: unknown field "colour" in an agent`
	if err == nil || !strings.HasPrefix(err.Error(), want) || !errors.Is(err, config.ErrInvalid) {
		t.Errorf("Load error = %v, want prefix %s wrapping ErrInvalid", err, want)
	}
	_, err = config.Load(filepath.Join(dir, "missing.yaml"))
	if !errors.Is(err, os.ErrNotExist) || errors.Is(err, config.ErrInvalid) {
		t.Errorf("Load(missing) error = %v, want ErrNotExist", err)
	}
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, make([]byte, config.MaxSize+10), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err = config.Load(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("Load(big) error = %v, want size error", err)
	}
}

func TestDefault(t *testing.T) {
	f := config.Default()
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(f.Agents) != 1 {
		t.Fatalf("Default has %d agents, want 1", len(f.Agents))
	}
	a := f.Agents[0]
	if a.Name != "assistant" || a.Description != "General helper" || a.SystemPrompt == "" || a.Model != "" {
		t.Errorf("Default agent = %+v", a)
	}
	if want := []string{"current_time", "calculator"}; !reflect.DeepEqual(a.Tools, want) {
		t.Errorf("Default tools = %v, want %v", a.Tools, want)
	}
	if f.Workspace != "" {
		t.Errorf("Default workspace = %q, want none", f.Workspace)
	}
}

func TestValidateCodeBuiltFile(t *testing.T) {
	f := &config.File{Agents: []config.AgentSpec{{Name: "a", Tools: []string{"nope"}}}}
	err := f.Validate()
	if err == nil || strings.Contains(err.Error(), "line") || !strings.HasPrefix(err.Error(), `config: agent "a": tools: unknown tool "nope"`) {
		t.Errorf("Validate error = %v", err)
	}
}
