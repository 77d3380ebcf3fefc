package config_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/config"
	"github.com/helix-agents/helix-go/llm"
	"github.com/helix-agents/helix-go/llm/models"
	"github.com/helix-agents/helix-go/llm/scripted"
)

// opener is a BuildOptions.Models hook that answers every spec with a
// scripted model and records the specs in the order they are opened.
type opener struct {
	mu    sync.Mutex
	specs []string
}

func (o *opener) open(_ context.Context, spec string) (llm.Model, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.specs = append(o.specs, spec)
	return scripted.Turns(scripted.Turn{Text: "ok"}), nil
}

func mustBuild(t *testing.T, f *config.File, o config.BuildOptions) *config.Agents {
	t.Helper()
	as, err := f.Build(context.Background(), o)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	t.Cleanup(func() { as.Close() })
	return as
}

func toolNames(a *helix.Agent) []string {
	var out []string
	for _, t := range a.Tools() {
		out = append(out, t.Name())
	}
	return out
}

func needsApproval(t *testing.T, a *helix.Agent, tool string) bool {
	t.Helper()
	tl := a.Tool(tool)
	if tl == nil {
		t.Fatalf("agent %s has no tool %s", a.Name(), tool)
	}
	ok, err := tl.NeedsApproval(json.RawMessage(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func TestBuildIssueExample(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "workspace"), 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "helix.yaml")
	if err := os.WriteFile(path, []byte(issueExample+summarizer), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	var o opener
	as := mustBuild(t, f, config.BuildOptions{DefaultModel: "scripted:default.json", Models: o.open})
	if got, want := as.Names(), []string{"assistant", "summarizer"}; !slices.Equal(got, want) {
		t.Errorf("Names = %v, want %v", got, want)
	}
	// Leaves first; each distinct spec once.
	if want := []string{"scripted:default.json", "openai:gpt-4o"}; !slices.Equal(o.specs, want) {
		t.Errorf("opened %v, want %v", o.specs, want)
	}
	a := as.Get("assistant")
	if got, want := toolNames(a), []string{"current_time", "calculator", "http_fetch", "read_file", "list_files", "write_file", "delete_file", "summarizer", helix.FinishToolName}; !slices.Equal(got, want) {
		t.Errorf("assistant tools = %v, want %v", got, want)
	}
	if a.MaxSteps() != 20 || a.Description() != "General helper" || !a.HasOutput() {
		t.Errorf("assistant: maxSteps %d, description %q, output %v", a.MaxSteps(), a.Description(), a.HasOutput())
	}
	if p, _ := a.SystemPrompt(nil); p != "You are a helpful assistant." {
		t.Errorf("system prompt = %q", p)
	}
	if subs := a.SubAgents(); len(subs) != 1 || subs[0] != as.Get("summarizer") {
		t.Errorf("sub-agents = %v, want the built summarizer", subs)
	}
	if err := a.ValidateOutput(json.RawMessage(`{"answer":"42"}`)); err != nil {
		t.Errorf("ValidateOutput(valid) = %v", err)
	}
	if err := a.ValidateOutput(json.RawMessage(`{}`)); err == nil {
		t.Error("ValidateOutput({}) = nil, want a missing-answer error")
	}
	// Overrides: http_fetch never, write_file always; delete_file keeps
	// its default (approval).
	for tool, want := range map[string]bool{"http_fetch": false, "write_file": true, "delete_file": true, "read_file": false, "calculator": false} {
		if got := needsApproval(t, a, tool); got != want {
			t.Errorf("%s needs approval = %v, want %v", tool, got, want)
		}
	}
	var r helix.Registry
	if err := as.Register(&r); err != nil {
		t.Fatal(err)
	}
	if got := r.Types(); !slices.Equal(got, []string{"assistant", "summarizer"}) {
		t.Errorf("registry types = %v", got)
	}
}

func TestBuildApprovalOverrides(t *testing.T) {
	f, err := config.Parse([]byte(`agents:
  - name: a
    model: scripted:x.json
    tools: [write_file, http_fetch, delete_file]
    approval: {write_file: never, http_fetch: always}
`))
	if err != nil {
		t.Fatal(err)
	}
	f.Workspace = t.TempDir()
	var o opener
	a := mustBuild(t, f, config.BuildOptions{Models: o.open}).Get("a")
	for tool, want := range map[string]bool{"write_file": false, "http_fetch": true, "delete_file": true} {
		if got := needsApproval(t, a, tool); got != want {
			t.Errorf("%s needs approval = %v, want %v", tool, got, want)
		}
	}
	// Without an override, FetchOptions.RequireApproval applies.
	f.Agents[0].Approval = nil
	a = mustBuild(t, f, config.BuildOptions{Models: o.open}).Get("a")
	if needsApproval(t, a, "write_file") != true || needsApproval(t, a, "http_fetch") != false {
		t.Error("defaults: want write_file approval and none for http_fetch")
	}
}

func TestBuildSubAgentOrder(t *testing.T) {
	// Declared parents first; each agent has its own spec so the open order
	// shows the build order.
	f, err := config.Parse([]byte(`agents:
  - name: top
    model: scripted:top.json
    subAgents: [mid, leaf]
  - name: mid
    model: scripted:mid.json
    subAgents: [leaf]
    output: {type: object}
  - name: leaf
    model: scripted:leaf.json
    output: {type: object}
  - name: alone
    model: scripted:top.json
`))
	if err != nil {
		t.Fatal(err)
	}
	var o opener
	as := mustBuild(t, f, config.BuildOptions{Models: o.open})
	if want := []string{"scripted:leaf.json", "scripted:mid.json", "scripted:top.json"}; !slices.Equal(o.specs, want) {
		t.Errorf("open order = %v, want %v", o.specs, want)
	}
	top, mid, leaf := as.Get("top"), as.Get("mid"), as.Get("leaf")
	if s := top.SubAgents(); len(s) != 2 || s[0] != mid || s[1] != leaf {
		t.Errorf("top sub-agents = %v", s)
	}
	if s := mid.SubAgents(); len(s) != 1 || s[0] != leaf {
		t.Errorf("mid sub-agents = %v", s)
	}
	if as.Get("alone").Model() != top.Model() {
		t.Error("one spec opened twice: agents do not share the model")
	}
	var r helix.Registry
	if err := as.Register(&r); err != nil {
		t.Fatalf("Register: %v", err)
	}
}

func TestBuildCycleInCodeBuiltFile(t *testing.T) {
	out := map[string]any{"type": "object"}
	f := &config.File{Agents: []config.AgentSpec{
		{Name: "a", SubAgents: []string{"b"}, Output: out},
		{Name: "b", SubAgents: []string{"a"}, Output: out},
	}}
	var o opener
	_, err := f.Build(context.Background(), config.BuildOptions{DefaultModel: "scripted:x", Models: o.open})
	if want := `config: agent "a": subAgents form a cycle: a -> b -> a`; err == nil || err.Error() != want {
		t.Errorf("Build error = %v, want %s", err, want)
	}
	if len(o.specs) != 0 {
		t.Errorf("opened models %v before failing", o.specs)
	}
}

func TestBuildDefault(t *testing.T) {
	var o opener
	as := mustBuild(t, config.Default(), config.BuildOptions{DefaultModel: "scripted:demo.json", Models: o.open})
	a := as.Get("assistant")
	if a == nil {
		t.Fatal("no assistant")
	}
	if got := toolNames(a); !slices.Equal(got, []string{"current_time", "calculator"}) {
		t.Errorf("tools = %v", got)
	}
	if a.Model() == nil || !slices.Equal(o.specs, []string{"scripted:demo.json"}) {
		t.Errorf("model %v, opened %v", a.Model(), o.specs)
	}
	if err := as.Close(); err != nil {
		t.Errorf("Close without workspace = %v", err)
	}
}

func TestBuildErrors(t *testing.T) {
	fail := func(context.Context, string) (llm.Model, error) {
		return nil, errors.New("no such model")
	}
	var o opener
	tests := []struct {
		name string
		f    *config.File
		opts config.BuildOptions
		want string
	}{
		{"no model", config.Default(), config.BuildOptions{Models: o.open},
			`config: agent "assistant" names no model; set model: in helix.yaml or --model`},
		{"open fails", config.Default(), config.BuildOptions{DefaultModel: "openai:x", Models: fail},
			`config: agent "assistant": no such model`},
		{"no workspace", &config.File{Agents: []config.AgentSpec{{Name: "a", Tools: []string{"calculator", "read_file"}}}},
			config.BuildOptions{DefaultModel: "scripted:x", Models: o.open},
			`config: agent "a" uses read_file but no workspace is set; add workspace: to helix.yaml`},
		{"missing workspace", &config.File{Workspace: "/nonexistent/helix-ws", Agents: []config.AgentSpec{{Name: "a", Tools: []string{"write_file"}}}},
			config.BuildOptions{DefaultModel: "scripted:x", Models: o.open},
			`config: workspace /nonexistent/helix-ws does not exist; create it or change workspace in helix.yaml`},
		{"invalid", &config.File{}, config.BuildOptions{},
			`config: no agents are declared; add at least one under agents:`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			as, err := tt.f.Build(context.Background(), tt.opts)
			if err == nil {
				as.Close()
				t.Fatalf("Build succeeded, want %s", tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("error:\n got %s\nwant %s", err, tt.want)
			}
		})
	}
}

func TestBuildDefaultOpener(t *testing.T) {
	// Without a Models hook, models.Open is used: a missing key is its
	// error, still matchable.
	t.Setenv("ANTHROPIC_API_KEY", "")
	_, err := config.Default().Build(context.Background(), config.BuildOptions{DefaultModel: "anthropic:claude-sonnet-4-5"})
	if !errors.Is(err, models.ErrMissingKey) || !strings.Contains(err.Error(), "ANTHROPIC_API_KEY") {
		t.Errorf("Build error = %v, want ErrMissingKey naming ANTHROPIC_API_KEY", err)
	}
}

func TestCloseReleasesWorkspace(t *testing.T) {
	ws := t.TempDir()
	if err := os.WriteFile(filepath.Join(ws, "a.txt"), []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := &config.File{Workspace: ws, Agents: []config.AgentSpec{{Name: "a", Tools: []string{"read_file"}}}}
	var o opener
	as, err := f.Build(context.Background(), config.BuildOptions{DefaultModel: "scripted:x", Models: o.open})
	if err != nil {
		t.Fatal(err)
	}
	read := as.Get("a").Tool("read_file")
	args := json.RawMessage(`{"path":"a.txt"}`)
	if out, err := read.Execute(context.Background(), nil, args); err != nil || !strings.Contains(string(out), "hello") {
		t.Fatalf("read_file = %s, %v", out, err)
	}
	if err := as.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := read.Execute(context.Background(), nil, args); err == nil {
		t.Error("read_file after Close succeeded")
	}
	if err := as.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

// TestBuildWorkspacePerPrincipal: workspacePerPrincipal confines each
// principal's file tools to a directory of its own.
func TestBuildWorkspacePerPrincipal(t *testing.T) {
	ws := t.TempDir()
	f, err := config.Parse([]byte("workspace: " + ws + "\nworkspacePerPrincipal: true\nagents:\n  - name: a\n    tools: [write_file, read_file]\n"))
	if err != nil {
		t.Fatal(err)
	}
	var o opener
	as := mustBuild(t, f, config.BuildOptions{DefaultModel: "scripted:x", Models: o.open})
	tc := func(p string) *helix.ToolContext { return helix.NewToolContext(helix.CallInfo{Principal: p}, nil, nil) }
	write := as.Get("a").Tool("write_file")
	if _, err := write.Execute(t.Context(), tc("alice"), json.RawMessage(`{"path":"n.txt","content":"hi"}`)); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(ws, "u-alice", "n.txt")); err != nil || string(b) != "hi" {
		t.Fatalf("alice's file: %q, %v", b, err)
	}
	if out, err := as.Get("a").Tool("read_file").Execute(t.Context(), tc("bob"), json.RawMessage(`{"path":"n.txt"}`)); err == nil {
		t.Errorf("bob read alice's file: %s", out)
	}
}
