package helix

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime/debug"

	"github.com/helix-agents/helix-go/llm"
)

// HookContext tells a hook where it runs. Hooks read State (a snapshot) and
// may emit custom chunks.
type HookContext struct {
	SessionID       string
	RunID           string
	AgentType       string
	ParentSessionID string
	Step            int
	// State is the custom state when the hook runs. Do not modify it.
	State json.RawMessage
	// Emit sends a custom chunk; nil outside a run.
	Emit func(eventName string, data json.RawMessage)
}

// EmitCustom sends a custom chunk with data encoded as JSON.
func (hc *HookContext) EmitCustom(eventName string, data any) error {
	raw, err := json.Marshal(data)
	if err != nil {
		return err
	}
	if hc.Emit != nil {
		hc.Emit(eventName, raw)
	}
	return nil
}

// Hooks observe a run. Every field is optional. A hook's error fails the run
// unless BestEffort is set (then errors and panics are only logged by the
// runtime); a panic is recovered and treated as an error. Hooks run on the
// run's goroutine, except BeforeTool, OnStateChange, OnMessage (for tool
// results) and AfterTool, which run on the tool's goroutine, in this order:
// BeforeTool → execute → OnStateChange → OnMessage → AfterTool.
type Hooks struct {
	// OnAgentStart runs when a run begins (not on resume), before the first model call.
	OnAgentStart func(ctx context.Context, hc *HookContext, input Input) error
	// OnAgentResumed runs when a run resumes a session (resume, retry, or after a suspension).
	OnAgentResumed func(ctx context.Context, hc *HookContext) error
	// OnAgentComplete runs when a run completes; output is nil for a plain-text completion.
	OnAgentComplete func(ctx context.Context, hc *HookContext, output json.RawMessage) error
	// OnAgentFail runs when a run fails (aborts included).
	OnAgentFail func(ctx context.Context, hc *HookContext, err error) error
	// OnAgentSuspended runs when a run suspends or is interrupted.
	OnAgentSuspended func(ctx context.Context, hc *HookContext, status Status) error
	// OnMessage runs after a message is added to the history (assistant replies and tool results).
	OnMessage func(ctx context.Context, hc *HookContext, msg llm.Message) error
	// BeforeLLMCall runs before each model call; it may change the request.
	BeforeLLMCall func(ctx context.Context, hc *HookContext, req *llm.Request) error
	// AfterLLMCall runs after each model call with the assembled reply and its usage.
	AfterLLMCall func(ctx context.Context, hc *HookContext, reply llm.Message, usage llm.Usage) error
	// OnStateChange runs after a tool's state changes, with its patches.
	OnStateChange func(ctx context.Context, hc *HookContext, patches []PatchOp) error
	// BeforeTool runs before a tool executes (after validation and any approval).
	BeforeTool func(ctx context.Context, hc *HookContext, call llm.ToolCall) error
	// AfterTool runs after a tool executes, with its result.
	AfterTool func(ctx context.Context, hc *HookContext, call llm.ToolCall, result llm.ToolResult) error
	// BeforeSubAgent runs before a sub-agent runs.
	BeforeSubAgent func(ctx context.Context, hc *HookContext, call llm.ToolCall, childSessionID string) error
	// AfterSubAgent runs after a sub-agent's run ends (completed, failed or suspended).
	AfterSubAgent func(ctx context.Context, hc *HookContext, call llm.ToolCall, childSessionID string, status Status, output json.RawMessage) error
	// BestEffort makes errors of these hooks non-fatal.
	BestEffort bool
}

// HookSet is a list of hooks called in order: parent → agent → execution.
// Runtimes call its methods; each returns an error wrapping ErrHook from the
// first failing hook that is not best-effort. OnError, if set, receives the
// errors of best-effort hooks.
type HookSet struct {
	List    []Hooks
	OnError func(hook string, err error)
}

func (hs *HookSet) guard(i int, name string, f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &PanicError{Value: fmt.Sprint(r), Stack: debug.Stack()}
			err = fmt.Errorf("%w: %s: %w", ErrHook, name, err)
			if hs.List[i].BestEffort {
				if hs.OnError != nil {
					hs.OnError(name, err)
				}
				err = nil
			}
		}
	}()
	if err = f(); err != nil {
		err = fmt.Errorf("%w: %s: %w", ErrHook, name, err)
		if hs.List[i].BestEffort {
			if hs.OnError != nil {
				hs.OnError(name, err)
			}
			return nil
		}
	}
	return err
}

// OnAgentStart calls every OnAgentStart hook.
func (hs *HookSet) OnAgentStart(ctx context.Context, hc *HookContext, input Input) error {
	for i := range hs.List {
		if f := hs.List[i].OnAgentStart; f != nil {
			if err := hs.guard(i, "OnAgentStart", func() error { return f(ctx, hc, input) }); err != nil {
				return err
			}
		}
	}
	return nil
}

// OnAgentResumed calls every OnAgentResumed hook.
func (hs *HookSet) OnAgentResumed(ctx context.Context, hc *HookContext) error {
	for i := range hs.List {
		if f := hs.List[i].OnAgentResumed; f != nil {
			if err := hs.guard(i, "OnAgentResumed", func() error { return f(ctx, hc) }); err != nil {
				return err
			}
		}
	}
	return nil
}

// OnAgentComplete calls every OnAgentComplete hook.
func (hs *HookSet) OnAgentComplete(ctx context.Context, hc *HookContext, output json.RawMessage) error {
	for i := range hs.List {
		if f := hs.List[i].OnAgentComplete; f != nil {
			if err := hs.guard(i, "OnAgentComplete", func() error { return f(ctx, hc, output) }); err != nil {
				return err
			}
		}
	}
	return nil
}

// OnAgentFail calls every OnAgentFail hook.
func (hs *HookSet) OnAgentFail(ctx context.Context, hc *HookContext, err error) error {
	for i := range hs.List {
		if f := hs.List[i].OnAgentFail; f != nil {
			if err := hs.guard(i, "OnAgentFail", func() error { return f(ctx, hc, err) }); err != nil {
				return err
			}
		}
	}
	return nil
}

// OnAgentSuspended calls every OnAgentSuspended hook.
func (hs *HookSet) OnAgentSuspended(ctx context.Context, hc *HookContext, status Status) error {
	for i := range hs.List {
		if f := hs.List[i].OnAgentSuspended; f != nil {
			if err := hs.guard(i, "OnAgentSuspended", func() error { return f(ctx, hc, status) }); err != nil {
				return err
			}
		}
	}
	return nil
}

// OnMessage calls every OnMessage hook.
func (hs *HookSet) OnMessage(ctx context.Context, hc *HookContext, msg llm.Message) error {
	for i := range hs.List {
		if f := hs.List[i].OnMessage; f != nil {
			if err := hs.guard(i, "OnMessage", func() error { return f(ctx, hc, msg) }); err != nil {
				return err
			}
		}
	}
	return nil
}

// BeforeLLMCall calls every BeforeLLMCall hook.
func (hs *HookSet) BeforeLLMCall(ctx context.Context, hc *HookContext, req *llm.Request) error {
	for i := range hs.List {
		if f := hs.List[i].BeforeLLMCall; f != nil {
			if err := hs.guard(i, "BeforeLLMCall", func() error { return f(ctx, hc, req) }); err != nil {
				return err
			}
		}
	}
	return nil
}

// AfterLLMCall calls every AfterLLMCall hook.
func (hs *HookSet) AfterLLMCall(ctx context.Context, hc *HookContext, reply llm.Message, usage llm.Usage) error {
	for i := range hs.List {
		if f := hs.List[i].AfterLLMCall; f != nil {
			if err := hs.guard(i, "AfterLLMCall", func() error { return f(ctx, hc, reply, usage) }); err != nil {
				return err
			}
		}
	}
	return nil
}

// OnStateChange calls every OnStateChange hook.
func (hs *HookSet) OnStateChange(ctx context.Context, hc *HookContext, patches []PatchOp) error {
	for i := range hs.List {
		if f := hs.List[i].OnStateChange; f != nil {
			if err := hs.guard(i, "OnStateChange", func() error { return f(ctx, hc, patches) }); err != nil {
				return err
			}
		}
	}
	return nil
}

// BeforeTool calls every BeforeTool hook.
func (hs *HookSet) BeforeTool(ctx context.Context, hc *HookContext, call llm.ToolCall) error {
	for i := range hs.List {
		if f := hs.List[i].BeforeTool; f != nil {
			if err := hs.guard(i, "BeforeTool", func() error { return f(ctx, hc, call) }); err != nil {
				return err
			}
		}
	}
	return nil
}

// AfterTool calls every AfterTool hook.
func (hs *HookSet) AfterTool(ctx context.Context, hc *HookContext, call llm.ToolCall, result llm.ToolResult) error {
	for i := range hs.List {
		if f := hs.List[i].AfterTool; f != nil {
			if err := hs.guard(i, "AfterTool", func() error { return f(ctx, hc, call, result) }); err != nil {
				return err
			}
		}
	}
	return nil
}

// BeforeSubAgent calls every BeforeSubAgent hook.
func (hs *HookSet) BeforeSubAgent(ctx context.Context, hc *HookContext, call llm.ToolCall, childSessionID string) error {
	for i := range hs.List {
		if f := hs.List[i].BeforeSubAgent; f != nil {
			if err := hs.guard(i, "BeforeSubAgent", func() error { return f(ctx, hc, call, childSessionID) }); err != nil {
				return err
			}
		}
	}
	return nil
}

// AfterSubAgent calls every AfterSubAgent hook.
func (hs *HookSet) AfterSubAgent(ctx context.Context, hc *HookContext, call llm.ToolCall, childSessionID string, status Status, output json.RawMessage) error {
	for i := range hs.List {
		if f := hs.List[i].AfterSubAgent; f != nil {
			if err := hs.guard(i, "AfterSubAgent", func() error { return f(ctx, hc, call, childSessionID, status, output) }); err != nil {
				return err
			}
		}
	}
	return nil
}
