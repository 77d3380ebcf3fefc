package helix

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/helix-agents/helix-go/internal/schema"
	"github.com/helix-agents/helix-go/llm"
)

// ToolKind says who runs a tool.
type ToolKind uint8

// Tool kinds.
const (
	// ToolServer tools run in the runtime's process.
	ToolServer ToolKind = iota
	// ToolClient tools run in the client (a browser); the run suspends until
	// the client submits the result.
	ToolClient
	// ToolSubAgent tools run another agent in its own session.
	ToolSubAgent
)

// FinishToolName is the name of the tool added to agents with an output type.
const FinishToolName = "__finish__"

// Tool is a function the model may call. Tools are immutable after
// construction and safe for concurrent use.
type Tool struct {
	name        string
	description string
	kind        ToolKind
	input       *schema.Schema
	output      *schema.Schema // nil when the output type is unknown
	exec        func(ctx context.Context, tc *ToolContext, args json.RawMessage) (json.RawMessage, error)
	approval    func(args json.RawMessage) (bool, error)
	finishWith  bool
	strict      bool
	subAgent    *Agent
	spec        llm.ToolSpec
}

// ToolOption configures a tool built by [NewTool], [ClientTool] or
// [SubAgentTool].
type ToolOption func(*Tool)

// RequireApproval makes every call of the tool wait for a human approval.
func RequireApproval() ToolOption {
	return func(t *Tool) { t.approval = func(json.RawMessage) (bool, error) { return true, nil } }
}

// RequireApprovalIf makes a call wait for approval when pred holds for its
// (validated) arguments.
func RequireApprovalIf[In any](pred func(In) bool) ToolOption {
	return func(t *Tool) {
		t.approval = func(args json.RawMessage) (bool, error) {
			var in In
			if err := json.Unmarshal(args, &in); err != nil {
				return false, err
			}
			return pred(in), nil
		}
	}
}

// FinishWith makes the tool's result the run's output: the run completes
// after the tool runs.
func FinishWith() ToolOption { return func(t *Tool) { t.finishWith = true } }

// Strict asks providers that support it for constrained decoding of the
// tool's arguments.
func Strict() ToolOption { return func(t *Tool) { t.strict = true } }

// NewTool returns a tool that runs fn. The input and output JSON Schemas are
// generated from In and Out (see internal/schema for the struct tags:
// `jsonschema:"required,description=…,enum=…,default=…"`). Arguments are
// validated against the input schema before fn runs. A string result is kept
// verbatim. A panic in fn is recovered and becomes a tool error.
//
// NewTool panics if name is empty or a schema cannot be generated: both are
// programming errors found at start-up.
func NewTool[In, Out any](name, description string, fn func(ctx context.Context, tc *ToolContext, in In) (Out, error), opts ...ToolOption) *Tool {
	t := newTool[In](name, description, ToolServer)
	if out, err := schema.ForType[Out](); err == nil {
		t.output = out
	}
	t.exec = func(ctx context.Context, tc *ToolContext, args json.RawMessage) (json.RawMessage, error) {
		var in In
		if err := json.Unmarshal(args, &in); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidArguments, err)
		}
		out, err := fn(ctx, tc, in)
		if err != nil {
			return nil, err
		}
		return encodeResult(out)
	}
	return t.apply(opts)
}

// ClientTool returns a tool that the client runs: the run suspends with
// status suspended_client_tool until the result is submitted.
func ClientTool[In any](name, description string, opts ...ToolOption) *Tool {
	t := newTool[In](name, description, ToolClient)
	t.apply(opts)
	if t.approval != nil {
		panic("helix: ClientTool " + name + ": a client tool cannot require approval")
	}
	return t
}

// SubAgentInput is the default input of a sub-agent tool.
type SubAgentInput struct {
	Message string `json:"message" jsonschema:"required,description=The task for the sub-agent"`
}

// SubAgentTool returns a tool that runs child in its own session with the
// call's message as input; the child's output is the tool result. The child
// must have an output type. The tool is named after the child.
func SubAgentTool(child *Agent, opts ...ToolOption) *Tool {
	if child == nil || child.output == nil {
		panic("helix: SubAgentTool needs an agent with an output type")
	}
	t := newTool[SubAgentInput](child.name, child.description, ToolSubAgent)
	t.subAgent = child
	t.output = child.output
	return t.apply(opts)
}

func newTool[In any](name, description string, kind ToolKind) *Tool {
	if name == "" {
		panic("helix: tool name is empty")
	}
	in, err := schema.ForType[In]()
	if err != nil {
		panic(fmt.Sprintf("helix: tool %q: input schema: %v", name, err))
	}
	return &Tool{name: name, description: description, kind: kind, input: in}
}

func (t *Tool) apply(opts []ToolOption) *Tool {
	for _, o := range opts {
		o(t)
	}
	t.spec = llm.ToolSpec{Name: t.name, Description: t.description, InputSchema: t.input.JSON(), Strict: t.strict}
	return t
}

// newFinishTool returns the __finish__ tool for an output schema.
func newFinishTool(out *schema.Schema, strict bool) *Tool {
	t := &Tool{
		name:        FinishToolName,
		description: "Call this tool with the final answer when the task is done.",
		input:       out,
		output:      out,
		strict:      strict,
	}
	return t.apply(nil)
}

// Name returns the tool's name.
func (t *Tool) Name() string { return t.name }

// Description returns the tool's description.
func (t *Tool) Description() string { return t.description }

// Kind says who runs the tool.
func (t *Tool) Kind() ToolKind { return t.kind }

// IsFinish reports whether a successful call of the tool completes the run
// (the __finish__ tool and FinishWith tools).
func (t *Tool) IsFinish() bool { return t.finishWith || t.name == FinishToolName }

// SubAgent returns the child agent of a sub-agent tool, or nil.
func (t *Tool) SubAgent() *Agent { return t.subAgent }

// Spec returns the tool as offered to a model.
func (t *Tool) Spec() llm.ToolSpec { return t.spec }

// InputSchema returns the JSON Schema of the tool's arguments.
func (t *Tool) InputSchema() json.RawMessage { return t.input.JSON() }

// OutputSchema returns the JSON Schema of the tool's result, or nil when
// unknown.
func (t *Tool) OutputSchema() json.RawMessage {
	if t.output == nil {
		return nil
	}
	return t.output.JSON()
}

// ValidateArguments checks args against the input schema. The error wraps
// ErrInvalidArguments and says what is wrong, for the model to fix its call.
func (t *Tool) ValidateArguments(args json.RawMessage) error {
	if len(bytes.TrimSpace(args)) == 0 {
		args = json.RawMessage(`{}`)
	}
	if err := t.input.ValidateJSON(args); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidArguments, err)
	}
	return nil
}

// NeedsApproval reports whether a call with args must wait for approval.
func (t *Tool) NeedsApproval(args json.RawMessage) (bool, error) {
	if t.approval == nil {
		return false, nil
	}
	return t.approval(args)
}

// Execute validates args and runs a server tool. A panic is recovered and
// returned as an error wrapping ErrToolPanic (the stack is in the error's
// Stack field for logging, never in the message). Execute is for runtimes.
func (t *Tool) Execute(ctx context.Context, tc *ToolContext, args json.RawMessage) (result json.RawMessage, err error) {
	if t.exec == nil {
		return nil, fmt.Errorf("helix: tool %q cannot run on the server", t.name)
	}
	if len(bytes.TrimSpace(args)) == 0 {
		args = json.RawMessage(`{}`)
	}
	if err := t.ValidateArguments(args); err != nil {
		return nil, err
	}
	return t.ExecuteValidated(ctx, tc, args)
}

// ExecuteValidated is Execute for arguments that already passed
// [Tool.ValidateArguments] (runtimes validate once, before approval).
func (t *Tool) ExecuteValidated(ctx context.Context, tc *ToolContext, args json.RawMessage) (result json.RawMessage, err error) {
	if t.exec == nil {
		return nil, fmt.Errorf("helix: tool %q cannot run on the server", t.name)
	}
	defer func() {
		if r := recover(); r != nil {
			result, err = nil, &PanicError{Value: fmt.Sprint(r), Stack: debug.Stack()}
		}
	}()
	return t.exec(ctx, tc, args)
}

// PanicError is a recovered panic of a tool or hook. Its message names no
// stack; Stack is for the server log.
type PanicError struct {
	Value string
	Stack []byte
}

func (e *PanicError) Error() string { return "panic: " + e.Value }

// Is reports whether target is ErrToolPanic.
func (e *PanicError) Is(target error) bool { return target == ErrToolPanic }

// encodeResult encodes a tool's output; a string (or a type whose underlying
// type is string) is kept verbatim as a JSON string.
func encodeResult(v any) (json.RawMessage, error) {
	switch x := v.(type) {
	case json.RawMessage:
		if len(x) == 0 {
			return json.RawMessage("null"), nil
		}
		if !json.Valid(x) {
			return nil, errors.New("helix: tool returned invalid JSON")
		}
		return x, nil
	case string:
		return json.Marshal(x)
	}
	return json.Marshal(v)
}
