package helix

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sync"

	"github.com/helix-agents/helix-go/internal/schema"
	"github.com/helix-agents/helix-go/llm"
)

// DefaultMaxSteps is the step cap of an agent whose MaxSteps is 0.
const DefaultMaxSteps = 50

// PromptFunc computes a system prompt from the custom state (a JSON object).
// It is evaluated before every step.
type PromptFunc func(state json.RawMessage) (string, error)

// PromptFromState adapts a function of the typed state to a [PromptFunc].
func PromptFromState[T any](fn func(T) string) PromptFunc {
	return func(state json.RawMessage) (string, error) {
		var v T
		if err := json.Unmarshal(orEmptyObject(state), &v); err != nil {
			return "", err
		}
		return fn(v), nil
	}
}

// StateSpec describes an agent's custom state. Its zero value means an
// untyped JSON object starting empty.
type StateSpec struct {
	typ      reflect.Type
	defaults json.RawMessage
}

// StateOf declares a custom state of type T (a struct). The initial state is
// T's zero value with `jsonschema:"default=…"` tags applied; a caller may
// seed fields when starting a session.
//
// StateOf panics if T's defaults cannot be applied: a programming error.
func StateOf[T any]() StateSpec {
	var v T
	if reflect.TypeFor[T]().Kind() == reflect.Struct {
		if err := schema.SetDefaults(reflect.ValueOf(&v)); err != nil {
			panic(fmt.Sprintf("helix: StateOf[%T]: %v", v, err))
		}
	}
	emptyCollections(reflect.ValueOf(&v).Elem())
	raw, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("helix: StateOf[%T]: %v", v, err))
	}
	return StateSpec{typ: reflect.TypeFor[T](), defaults: raw}
}

// emptyCollections replaces nil slices and maps in struct fields with empty
// ones, so the initial state has [] and {} rather than null: appends made by
// parallel tools then diff to "add …/-" operations that merge.
func emptyCollections(v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			if f := v.Field(i); f.CanSet() {
				emptyCollections(f)
			}
		}
	case reflect.Slice:
		if v.IsNil() && v.Type().Elem().Kind() != reflect.Uint8 {
			v.Set(reflect.MakeSlice(v.Type(), 0, 0))
		}
	case reflect.Map:
		if v.IsNil() {
			v.Set(reflect.MakeMap(v.Type()))
		}
	}
}

// OutputSpec describes an agent's typed output. Its zero value means none.
type OutputSpec struct {
	schema *schema.Schema
}

// OutputOf declares an output of type T; it adds the __finish__ tool to the
// agent. It panics if no schema can be generated for T.
func OutputOf[T any]() OutputSpec {
	s, err := schema.ForType[T]()
	if err != nil {
		panic(fmt.Sprintf("helix: OutputOf: %v", err))
	}
	return OutputSpec{schema: s}
}

// OutputFromSchema declares an output described by a JSON Schema (for agents
// declared in configuration files).
func OutputFromSchema(jsonSchema json.RawMessage) (OutputSpec, error) {
	s, err := schema.Compile(jsonSchema)
	if err != nil {
		return OutputSpec{}, fmt.Errorf("helix: output schema: %w", err)
	}
	return OutputSpec{schema: s}, nil
}

// StepInfo describes a finished step to a StopWhen predicate.
type StepInfo struct {
	Step        int
	Message     llm.Message      // the assistant message
	ToolResults []llm.ToolResult // in the model's order
	Usage       llm.Usage        // this step's model usage
	State       json.RawMessage  // the state after the step
}

// AgentConfig defines an agent. Name is required; everything else has a
// default.
type AgentConfig struct {
	// Name is the agent type: unique in a registry, stored with sessions.
	Name string
	// Description is the default description when the agent is a sub-agent.
	Description string
	// SystemPrompt is the system prompt, unless SystemPromptFunc is set.
	SystemPrompt string
	// SystemPromptFunc computes the prompt from the state before each step.
	SystemPromptFunc PromptFunc
	// Tools the model may call. Names must be unique.
	Tools []*Tool
	// State declares the custom state (default: an untyped object).
	State StateSpec
	// Output declares a typed output and adds the __finish__ tool.
	Output OutputSpec
	// StrictOutput asks for constrained decoding of __finish__.
	StrictOutput bool
	// Model answers the agent's calls. A runtime may supply a default.
	Model llm.Model
	// Settings are the model settings (model name, temperature, …).
	Settings llm.Settings
	// Retry is the retry policy of model calls (default: 3 retries with
	// exponential backoff and jitter, honouring Retry-After).
	Retry llm.RetryPolicy
	// MaxSteps caps the steps of one run (0 means DefaultMaxSteps).
	MaxSteps int
	// StopWhen, if set, is evaluated after each step; true completes the run.
	StopWhen func(StepInfo) bool
	// Hooks observe and may veto the run (see [Hooks]).
	Hooks Hooks
}

// Agent is an immutable, validated agent definition, safe for concurrent use.
type Agent struct {
	cfg         AgentConfig
	name        string
	description string
	output      *schema.Schema
	tools       map[string]*Tool
	order       []*Tool
	specs       []llm.ToolSpec
	finish      *Tool
}

// NewAgent validates cfg and returns the agent. Errors name the bad field.
func NewAgent(cfg AgentConfig) (*Agent, error) {
	if cfg.Name == "" {
		return nil, errors.New("helix: AgentConfig.Name is empty")
	}
	if cfg.MaxSteps < 0 {
		return nil, fmt.Errorf("helix: agent %q: AgentConfig.MaxSteps is negative", cfg.Name)
	}
	a := &Agent{cfg: cfg, name: cfg.Name, description: cfg.Description, output: cfg.Output.schema, tools: map[string]*Tool{}}
	for i, t := range cfg.Tools {
		if t == nil {
			return nil, fmt.Errorf("helix: agent %q: AgentConfig.Tools[%d] is nil", cfg.Name, i)
		}
		if t.name == FinishToolName {
			return nil, fmt.Errorf("helix: agent %q: tool name %q is reserved", cfg.Name, t.name)
		}
		if _, dup := a.tools[t.name]; dup {
			return nil, fmt.Errorf("helix: agent %q: duplicate tool %q", cfg.Name, t.name)
		}
		a.tools[t.name] = t
		a.order = append(a.order, t)
	}
	if a.output != nil {
		a.finish = newFinishTool(a.output, cfg.StrictOutput)
		a.tools[FinishToolName] = a.finish
		a.order = append(a.order, a.finish)
	}
	for _, t := range a.order {
		a.specs = append(a.specs, t.spec)
	}
	return a, nil
}

// MustNewAgent is like NewAgent but panics on error; for package-level
// definitions and examples.
func MustNewAgent(cfg AgentConfig) *Agent {
	a, err := NewAgent(cfg)
	if err != nil {
		panic(err)
	}
	return a
}

// Name returns the agent type.
func (a *Agent) Name() string { return a.name }

// Description returns the agent's description.
func (a *Agent) Description() string { return a.description }

// Config returns a copy of the agent's configuration.
func (a *Agent) Config() AgentConfig {
	c := a.cfg
	c.Tools = slices.Clone(c.Tools)
	return c
}

// Tool returns the tool named name (including __finish__), or nil.
func (a *Agent) Tool(name string) *Tool { return a.tools[name] }

// Tools returns the tools offered to the model, __finish__ last if present.
// The slice must not be modified.
func (a *Agent) Tools() []*Tool { return a.order }

// ToolSpecs returns the tool specs offered to the model, computed once. The
// slice must not be modified.
func (a *Agent) ToolSpecs() []llm.ToolSpec { return a.specs }

// HasOutput reports whether the agent has a typed output.
func (a *Agent) HasOutput() bool { return a.output != nil }

// OutputSchema returns the output's JSON Schema, or nil.
func (a *Agent) OutputSchema() json.RawMessage {
	if a.output == nil {
		return nil
	}
	return a.output.JSON()
}

// ValidateOutput checks out against the output schema; the error wraps
// ErrInvalidOutput.
func (a *Agent) ValidateOutput(out json.RawMessage) error {
	if a.output == nil {
		return nil
	}
	if err := a.output.ValidateJSON(out); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidOutput, err)
	}
	return nil
}

// SystemPrompt returns the system prompt for state.
func (a *Agent) SystemPrompt(state json.RawMessage) (string, error) {
	if a.cfg.SystemPromptFunc != nil {
		return a.cfg.SystemPromptFunc(state)
	}
	return a.cfg.SystemPrompt, nil
}

// Model returns the agent's model, or nil when the runtime must supply one.
func (a *Agent) Model() llm.Model { return a.cfg.Model }

// Settings returns the model settings.
func (a *Agent) Settings() llm.Settings { return a.cfg.Settings }

// RetryPolicy returns the model-call retry policy.
func (a *Agent) RetryPolicy() llm.RetryPolicy { return a.cfg.Retry }

// MaxSteps returns the effective step cap.
func (a *Agent) MaxSteps() int {
	if a.cfg.MaxSteps == 0 {
		return DefaultMaxSteps
	}
	return a.cfg.MaxSteps
}

// StopWhen returns the stop predicate, or nil.
func (a *Agent) StopWhen() func(StepInfo) bool { return a.cfg.StopWhen }

// Hooks returns the agent's hooks.
func (a *Agent) Hooks() Hooks { return a.cfg.Hooks }

// SubAgents returns the agents of the agent's sub-agent tools.
func (a *Agent) SubAgents() []*Agent {
	var out []*Agent
	for _, t := range a.order {
		if t.subAgent != nil {
			out = append(out, t.subAgent)
		}
	}
	return out
}

// InitialState returns the state of a new session: the state type's
// defaults with seed (a struct, a map or JSON) laid over them.
func (a *Agent) InitialState(seed any) (json.RawMessage, error) {
	base := a.cfg.State.defaults
	if len(base) == 0 {
		base = json.RawMessage("{}")
	}
	if seed == nil {
		return base, nil
	}
	var raw []byte
	switch s := seed.(type) {
	case json.RawMessage:
		raw = s
	case []byte:
		raw = s
	default:
		var err error
		if raw, err = json.Marshal(seed); err != nil {
			return nil, fmt.Errorf("%w: state: %v", ErrInvalidInput, err)
		}
	}
	if string(raw) == "null" || len(raw) == 0 {
		return base, nil
	}
	if t := a.cfg.State.typ; t != nil {
		v := reflect.New(t)
		if err := json.Unmarshal(base, v.Interface()); err != nil {
			return nil, err
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(v.Interface()); err != nil {
			return nil, fmt.Errorf("%w: state: %v", ErrInvalidInput, err)
		}
		return json.Marshal(v.Interface())
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, fmt.Errorf("%w: state must be a JSON object", ErrInvalidInput)
	}
	var b map[string]any
	if err := json.Unmarshal(base, &b); err != nil {
		return nil, err
	}
	maps.Copy(b, m)
	return json.Marshal(b)
}

// FactoryContext is passed to agent factories.
type FactoryContext struct {
	SessionID string
	Principal string
}

// Factory builds an agent on demand (per session, for instance).
type Factory func(ctx context.Context, fc FactoryContext) (*Agent, error)

// Registry maps agent types to agents or factories. It is safe for
// concurrent use; its zero value is empty and ready.
type Registry struct {
	mu        sync.RWMutex
	agents    map[string]*Agent  // guarded by mu
	factories map[string]Factory // guarded by mu
}

// Register adds agent (and, recursively, its sub-agents). Registering the
// same *Agent twice is a no-op; another agent under a taken name is an error.
func (r *Registry) Register(agent *Agent) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.registerLocked(agent)
}

func (r *Registry) registerLocked(agent *Agent) error {
	if r.agents == nil {
		r.agents = map[string]*Agent{}
	}
	if old, ok := r.agents[agent.name]; ok {
		if old == agent {
			return nil
		}
		return fmt.Errorf("helix: agent %q is already registered", agent.name)
	}
	if _, ok := r.factories[agent.name]; ok {
		return fmt.Errorf("helix: agent %q is already registered as a factory", agent.name)
	}
	r.agents[agent.name] = agent
	for _, c := range agent.SubAgents() {
		if err := r.registerLocked(c); err != nil {
			return err
		}
	}
	return nil
}

// Replace registers agent under its name, replacing any previous one.
func (r *Registry) Replace(agent *Agent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.agents == nil {
		r.agents = map[string]*Agent{}
	}
	delete(r.factories, agent.name)
	r.agents[agent.name] = agent
}

// RegisterFactory adds a factory for name.
func (r *Registry) RegisterFactory(name string, f Factory) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.agents[name]; ok {
		return fmt.Errorf("helix: agent %q is already registered", name)
	}
	if _, ok := r.factories[name]; ok {
		return fmt.Errorf("helix: agent %q is already registered", name)
	}
	if r.factories == nil {
		r.factories = map[string]Factory{}
	}
	r.factories[name] = f
	return nil
}

// Resolve returns the agent for name, building it with its factory if
// needed. An unknown name is an [*AgentNotFoundError].
func (r *Registry) Resolve(ctx context.Context, name string, fc FactoryContext) (*Agent, error) {
	r.mu.RLock()
	a, f := r.agents[name], r.factories[name]
	r.mu.RUnlock()
	switch {
	case a != nil:
		return a, nil
	case f != nil:
		return f(ctx, fc)
	}
	return nil, &AgentNotFoundError{Name: name}
}

// Has reports whether name is registered.
func (r *Registry) Has(name string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	_, a := r.agents[name]
	_, f := r.factories[name]
	return a || f
}

// Unregister removes name.
func (r *Registry) Unregister(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.agents, name)
	delete(r.factories, name)
}

// Types returns the registered agent types, sorted.
func (r *Registry) Types() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := slices.Collect(maps.Keys(r.agents))
	names = append(names, slices.Collect(maps.Keys(r.factories))...)
	slices.Sort(names)
	return names
}
