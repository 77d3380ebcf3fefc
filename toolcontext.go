package helix

import (
	"encoding/json"
	"fmt"
	"sync"

	"github.com/helix-agents/helix-go/internal/jsonpatch"
	"github.com/helix-agents/helix-go/llm"
)

// CallInfo identifies a tool call.
type CallInfo struct {
	SessionID string
	// Principal is the session's owner (empty for a session made without
	// one), for tools that keep each principal's data apart.
	Principal  string
	RunID      string
	AgentType  string
	ToolCallID string
	ToolName   string
	Step       int
}

// ToolContext is what a tool sees of its run: ids, the custom state, a way
// to change it, custom events and usage. Cancellation arrives through the
// ctx passed to the tool. A ToolContext is safe for concurrent use by the
// goroutines of one tool call.
type ToolContext struct {
	CallInfo

	mu      sync.Mutex
	state   json.RawMessage // guarded by mu
	patches []PatchOp       // guarded by mu
	usage   llm.Usage       // guarded by mu
	emit    func(eventName string, data json.RawMessage)
}

// NewToolContext returns a context for one tool call that sees state (a JSON
// object) and sends custom events to emit. It is for runtimes.
func NewToolContext(info CallInfo, state json.RawMessage, emit func(eventName string, data json.RawMessage)) *ToolContext {
	return &ToolContext{CallInfo: info, state: state, emit: emit}
}

// StateJSON returns the custom state as this call sees it: the state at the
// start of the step plus the call's own updates.
func (tc *ToolContext) StateJSON() json.RawMessage {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	return tc.state
}

// Patches returns the call's state changes as RFC 6902 operations.
func (tc *ToolContext) Patches() []PatchOp {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	return tc.patches
}

// Usage returns the usage the tool recorded.
func (tc *ToolContext) Usage() llm.Usage {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	return tc.usage
}

// RecordUsage adds u to the run's usage (for tools that call models).
func (tc *ToolContext) RecordUsage(u llm.Usage) {
	tc.mu.Lock()
	tc.usage.Add(u)
	tc.mu.Unlock()
}

// Emit sends a custom chunk with eventName and data (encoded as JSON).
func (tc *ToolContext) Emit(eventName string, data any) error {
	raw, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("helix: emit %q: %w", eventName, err)
	}
	if tc.emit != nil {
		tc.emit(eventName, raw)
	}
	return nil
}

// UpdateJSON replaces the call's view of the state with next and records
// the difference as patches. It is the untyped form of [UpdateState].
func (tc *ToolContext) UpdateJSON(next json.RawMessage) error {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	return tc.updateLocked(next)
}

func (tc *ToolContext) updateLocked(next json.RawMessage) error {
	prev, err := jsonpatch.Decode(orEmptyObject(tc.state))
	if err != nil {
		return fmt.Errorf("helix: update state: %w", err)
	}
	cur, err := jsonpatch.Decode(next)
	if err != nil {
		return fmt.Errorf("helix: update state: %w", err)
	}
	ops, err := jsonpatch.Diff(prev, cur)
	if err != nil {
		return fmt.Errorf("helix: update state: %w", err)
	}
	tc.patches = append(tc.patches, ops...)
	tc.state = next
	return nil
}

// GetState decodes the custom state as tc's call sees it into a T.
func GetState[T any](tc *ToolContext) (T, error) {
	var v T
	if err := json.Unmarshal(orEmptyObject(tc.StateJSON()), &v); err != nil {
		return v, fmt.Errorf("helix: get state: %w", err)
	}
	return v, nil
}

// UpdateState decodes the state into a T, lets fn change it, and records the
// change as RFC 6902 patches. Appends to arrays become "add …/-" operations,
// so parallel tools appending to one array all keep their items. The change
// is streamed as a state_patch chunk and committed with the step.
func UpdateState[T any](tc *ToolContext, fn func(*T) error) error {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	var v T
	if err := json.Unmarshal(orEmptyObject(tc.state), &v); err != nil {
		return fmt.Errorf("helix: update state: %w", err)
	}
	if err := fn(&v); err != nil {
		return err
	}
	next, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("helix: update state: %w", err)
	}
	return tc.updateLocked(next)
}

func orEmptyObject(b json.RawMessage) json.RawMessage {
	if len(b) == 0 {
		return json.RawMessage("{}")
	}
	return b
}

// ApplyPatches applies ops to the JSON document state and returns the
// result. It is for runtimes merging a step's changes.
func ApplyPatches(state json.RawMessage, ops []PatchOp) (json.RawMessage, error) {
	if len(ops) == 0 {
		return state, nil
	}
	doc, err := jsonpatch.Decode(orEmptyObject(state))
	if err != nil {
		return nil, err
	}
	doc, err = jsonpatch.Apply(doc, ops)
	if err != nil {
		return nil, err
	}
	return json.Marshal(doc)
}
