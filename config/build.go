package config

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/llm"
	"github.com/helix-agents/helix-go/llm/models"
	"github.com/helix-agents/helix-go/tools"
)

// BuildOptions configure [File.Build]. The zero value opens models with
// [models.Open] from the process environment and requires every agent to
// name its model.
type BuildOptions struct {
	// DefaultModel is the model spec of agents that name none (the CLI's
	// --model); empty means none.
	DefaultModel string
	// Models opens a model spec; nil means [models.Open] with
	// [models.Options]{}. Build calls it once per distinct spec.
	Models func(ctx context.Context, spec string) (llm.Model, error)
	// Fetch configures the http_fetch tool. Its RequireApproval applies
	// unless an agent's approval: names http_fetch.
	Fetch tools.FetchOptions
}

// Agents are the agents built from a [File]. They are immutable and safe
// for concurrent use; Close releases the workspace of the file tools.
type Agents struct {
	byName map[string]*helix.Agent
	order  []string // file order
	files  *tools.FileTools

	closeOnce sync.Once
	closeErr  error // set by closeOnce
}

// Get returns the agent named name, or nil.
func (as *Agents) Get(name string) *helix.Agent { return as.byName[name] }

// SharedWorkspace reports whether some agent has file tools whose
// workspace every principal shares (no workspacePerPrincipal).
func (as *Agents) SharedWorkspace() bool { return as.files != nil && !as.files.PerPrincipal() }

// Names returns the agents' names in file order. The caller owns the slice.
func (as *Agents) Names() []string { return slices.Clone(as.order) }

// Register adds every agent to r.
func (as *Agents) Register(r *helix.Registry) error {
	for _, n := range as.order {
		if err := r.Register(as.byName[n]); err != nil {
			return fmt.Errorf("config: %w", err)
		}
	}
	return nil
}

// Close releases the workspace root, after which the file tools fail. Only
// the first call does anything; later ones return its result.
func (as *Agents) Close() error {
	as.closeOnce.Do(func() {
		if as.files != nil {
			as.closeErr = as.files.Close()
		}
	})
	return as.closeErr
}

// Build validates f and builds its agents: each distinct model spec is
// opened once, the workspace is opened once if an agent uses a file tool,
// and sub-agents are built before the agents that call them. The caller
// closes the result.
func (f *File) Build(ctx context.Context, o BuildOptions) (*Agents, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	open := o.Models
	if open == nil {
		open = func(ctx context.Context, spec string) (llm.Model, error) {
			return models.Open(ctx, spec, models.Options{})
		}
	}
	as := &Agents{byName: make(map[string]*helix.Agent, len(f.Agents))}
	if agent, tool, ok := f.usesFiles(); ok {
		ft, err := openWorkspace(f.Workspace, f.WorkspacePerPrincipal, agent, tool)
		if err != nil {
			return nil, err
		}
		as.files = ft
	}
	built, err := f.build(ctx, o, open, as.files)
	if err != nil {
		as.Close()
		return nil, err
	}
	as.byName = built
	as.order = names(f.Agents)
	return as, nil
}

func openWorkspace(dir string, perPrincipal bool, agent, tool string) (*tools.FileTools, error) {
	if dir == "" {
		return nil, invalid("agent %q uses %s but no workspace is set; add workspace: to helix.yaml", agent, tool)
	}
	if st, err := os.Stat(dir); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("config: workspace %s does not exist; create it or change workspace in helix.yaml", dir)
		}
		return nil, fmt.Errorf("config: workspace: %w", err)
	} else if !st.IsDir() {
		return nil, fmt.Errorf("config: workspace %s is not a directory", dir)
	}
	open := tools.Files
	if perPrincipal {
		open = tools.FilesPerPrincipal
	}
	ft, err := open(dir)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return ft, nil
}

func (f *File) build(ctx context.Context, o BuildOptions, open func(context.Context, string) (llm.Model, error), files *tools.FileTools) (map[string]*helix.Agent, error) {
	index := make(map[string]int, len(f.Agents))
	for i, a := range f.Agents {
		index[a.Name] = i
	}
	opened := map[string]llm.Model{}
	built := make(map[string]*helix.Agent, len(f.Agents))
	var buildOne func(i int) error
	buildOne = func(i int) error { // validation ruled out cycles
		spec := f.Agents[i]
		if built[spec.Name] != nil {
			return nil
		}
		for _, s := range spec.SubAgents {
			if err := buildOne(index[s]); err != nil {
				return err
			}
		}
		modelSpec := spec.Model
		if modelSpec == "" {
			modelSpec = o.DefaultModel
		}
		if modelSpec == "" {
			return invalid("agent %q names no model; set model: in helix.yaml or --model", spec.Name)
		}
		m, ok := opened[modelSpec]
		if !ok {
			var err error
			if m, err = open(ctx, modelSpec); err != nil {
				return fmt.Errorf("config: agent %q: %w", spec.Name, err)
			}
			if m == nil {
				return fmt.Errorf("config: agent %q: model %s: opener returned no model", spec.Name, modelSpec)
			}
			opened[modelSpec] = m
		}
		cfg := helix.AgentConfig{
			Name:         spec.Name,
			Description:  spec.Description,
			SystemPrompt: spec.SystemPrompt,
			Model:        m,
			MaxSteps:     spec.MaxSteps,
		}
		deps := tools.Deps{Files: files, Fetch: o.Fetch}
		if len(spec.Approval) > 0 {
			deps.Approval = make(map[string]bool, len(spec.Approval))
			for t, v := range spec.Approval {
				deps.Approval[t] = v == "always"
			}
		}
		for _, name := range spec.Tools {
			t, err := tools.ByName(name, deps)
			if err != nil {
				return fmt.Errorf("config: agent %q: %w", spec.Name, err)
			}
			cfg.Tools = append(cfg.Tools, t)
		}
		for _, s := range spec.SubAgents {
			cfg.Tools = append(cfg.Tools, helix.SubAgentTool(built[s]))
		}
		if spec.Output != nil {
			raw, err := json.Marshal(spec.Output)
			if err != nil {
				return invalid("agent %q: output: %v", spec.Name, err)
			}
			if cfg.Output, err = helix.OutputFromSchema(raw); err != nil {
				return invalid("agent %q: output: %v", spec.Name, err)
			}
		}
		a, err := helix.NewAgent(cfg)
		if err != nil {
			return fmt.Errorf("config: %w", err)
		}
		built[spec.Name] = a
		return nil
	}
	for i := range f.Agents {
		if err := buildOne(i); err != nil {
			return nil, err
		}
	}
	return built, nil
}
