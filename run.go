package helix

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/helix-agents/helix-go/llm"
)

// Input starts a run.
type Input struct {
	// Message is the new user message (may be empty on a resume).
	Message string
	// Files are attached to the user message (images, documents).
	Files []llm.File
	// State seeds the custom state of a new session (a struct, a map or
	// JSON); ignored for an existing session.
	State any
	// Metadata is stored with a new session.
	Metadata map[string]string
}

// Result is the outcome of a run.
type Result struct {
	SessionID        string
	RunID            string
	AgentType        string
	Status           Status
	CompletionReason string
	Output           json.RawMessage
	Error            *ErrorInfo
	StepCount        int
	// Usage is the run's usage; SessionUsage the session's over all runs.
	Usage        llm.Usage
	SessionUsage llm.Usage
	// Pending lists the calls a suspended run waits for.
	Pending []PendingInfo
	Aborted bool
}

// PendingInfo describes a call a suspended run waits for.
type PendingInfo struct {
	Kind           string          `json:"kind"` // "approval", "client_tool", "subagent"
	ToolCallID     string          `json:"toolCallId"`
	ToolName       string          `json:"toolName"`
	ApprovalID     string          `json:"approvalId,omitempty"`
	Arguments      json.RawMessage `json:"arguments"`
	ChildSessionID string          `json:"childSessionId,omitempty"`
}

// StatusInfo is a session's status, as a runtime's Status method and the
// server's GET /status report it.
type StatusInfo struct {
	SessionID      string        `json:"sessionId"`
	AgentType      string        `json:"agentType"`
	Status         Status        `json:"status"`
	StepCount      int           `json:"stepCount"`
	RunID          string        `json:"runId"`
	StreamSequence int64         `json:"streamSequence"`
	Pending        []PendingInfo `json:"pending"`
	// Output is the run's structured output, a JSON value, if any.
	Output      json.RawMessage `json:"output,omitempty"`
	Error       *ErrorInfo      `json:"error,omitempty"`
	Usage       llm.Usage       `json:"usage"`
	Aborted     bool            `json:"aborted,omitempty"`
	AbortReason string          `json:"abortReason,omitempty"`
}

// OutputAs decodes the result's output into a T.
func OutputAs[T any](r *Result) (T, error) {
	var v T
	if r == nil || len(r.Output) == 0 {
		return v, errors.New("helix: result has no output")
	}
	if err := json.Unmarshal(r.Output, &v); err != nil {
		return v, fmt.Errorf("helix: decode output: %w", err)
	}
	return v, nil
}

// SubmissionKind says what a [ToolSubmission] answers.
type SubmissionKind string

// Submission kinds (wire values of /submit-tool-result).
const (
	SubmitApproval         SubmissionKind = "approval"
	SubmitClientToolResult SubmissionKind = "client-tool-result"
)

// Limits of a client tool submission (DESIGN §3.8).
const (
	MaxToolCallIDLen  = 256
	MaxToolErrorLen   = 8 << 10
	MaxToolResultSize = 1 << 20
)

// ToolSubmission answers a pending call: an approval decision or a client
// tool's result.
type ToolSubmission struct {
	Kind       SubmissionKind
	ToolCallID string
	// Approved and Reason answer an approval.
	Approved bool
	Reason   string
	// Result (JSON) or Error answer a client tool.
	Result json.RawMessage
	Error  string
}

// Validate checks the submission's shape and size limits; the error wraps
// ErrInvalidInput.
func (s *ToolSubmission) Validate() error {
	switch {
	case s.Kind != SubmitApproval && s.Kind != SubmitClientToolResult:
		return fmt.Errorf("%w: unknown submission kind %q", ErrInvalidInput, s.Kind)
	case s.ToolCallID == "" || len(s.ToolCallID) > MaxToolCallIDLen:
		return fmt.Errorf("%w: tool call id must be 1 to %d bytes", ErrInvalidInput, MaxToolCallIDLen)
	case len(s.Error) > MaxToolErrorLen:
		return fmt.Errorf("%w: error longer than %d bytes", ErrInvalidInput, MaxToolErrorLen)
	case ToolResultSize(s.Result) > MaxToolResultSize:
		return fmt.Errorf("%w: result larger than %d bytes", ErrInvalidInput, MaxToolResultSize)
	case len(s.Reason) > MaxToolErrorLen:
		return fmt.Errorf("%w: reason longer than %d bytes", ErrInvalidInput, MaxToolErrorLen)
	case len(s.Result) > 0 && !json.Valid(s.Result):
		return fmt.Errorf("%w: result is not JSON", ErrInvalidInput)
	}
	return nil
}

// ToolResultSize is the size of a tool's JSON result as it is stored and
// streamed: encoding/json writes <, > and & as six-byte escapes and U+2028
// and U+2029 as six bytes instead of three, so a result can grow sixfold
// on the way. [MaxToolResultSize] bounds this size.
func ToolResultSize(result json.RawMessage) int {
	n := len(result)
	for i := 0; i < len(result); i++ {
		switch c := result[i]; {
		case c == '<' || c == '>' || c == '&':
			n += 5
		case c == 0xE2 && i+2 < len(result) && result[i+1] == 0x80 && (result[i+2] == 0xA8 || result[i+2] == 0xA9):
			n += 3
		}
	}
	return n
}
