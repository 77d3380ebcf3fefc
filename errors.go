package helix

import (
	"errors"
	"fmt"
)

// Sentinel errors of the agent API. Runtimes return errors that satisfy
// errors.Is with these.
var (
	// ErrAgentNotFound: no agent is registered under the name.
	ErrAgentNotFound = errors.New("helix: agent not found")
	// ErrSessionNotFound: no session has the id.
	ErrSessionNotFound = errors.New("helix: session not found")
	// ErrAlreadyRunning: the session has a running run.
	ErrAlreadyRunning = errors.New("helix: agent already running")
	// ErrNotResumable: the session's status does not allow resume or retry.
	ErrNotResumable = errors.New("helix: session is not resumable")
	// ErrNotPending: a tool result or approval names a call that is not
	// pending (unknown, or already resolved).
	ErrNotPending = errors.New("helix: tool call is not pending")
	// ErrMaxSteps: the run reached MaxSteps without finishing.
	ErrMaxSteps = errors.New("helix: max steps reached")
	// ErrUnknownTool: the model called a tool the agent does not have.
	ErrUnknownTool = errors.New("helix: unknown tool")
	// ErrInvalidArguments: tool arguments do not match the input schema.
	ErrInvalidArguments = errors.New("helix: invalid tool arguments")
	// ErrInvalidOutput: the output does not match the output schema.
	ErrInvalidOutput = errors.New("helix: invalid output")
	// ErrToolPanic: a tool panicked; the panic was recovered.
	ErrToolPanic = errors.New("helix: tool panicked")
	// ErrHook: a hook failed or panicked.
	ErrHook = errors.New("helix: hook failed")
	// ErrAborted: the run was aborted.
	ErrAborted = errors.New("helix: run aborted")
	// ErrInvalidInput: a request to the runtime is malformed (too long an
	// id, too large a result, …).
	ErrInvalidInput = errors.New("helix: invalid input")
)

// AgentNotFoundError reports an agent type that a registry cannot resolve.
// It satisfies errors.Is(err, ErrAgentNotFound).
type AgentNotFoundError struct {
	Name string
}

func (e *AgentNotFoundError) Error() string {
	return fmt.Sprintf("helix: agent %q not found", e.Name)
}

// Is reports whether target is ErrAgentNotFound.
func (e *AgentNotFoundError) Is(target error) bool { return target == ErrAgentNotFound }

// Error codes and categories used in [ErrorInfo].
const (
	CodeModelError      = "model_error"
	CodeMaxSteps        = "max_steps"
	CodeAborted         = "aborted"
	CodeHookError       = "hook_error"
	CodeInvalidOutput   = "invalid_output"
	CodeInternal        = "internal_error"
	CategoryLLM         = "llm"
	CategoryRuntime     = "runtime"
	CategoryHook        = "hook"
	CategoryValidation  = "validation"
	CategoryCancelation = "cancellation"
)
