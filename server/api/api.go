// Package api defines the JSON bodies of the AgentServer's HTTP API
// (DESIGN §5): package server decodes requests into them and answers with
// them, and package client sends and reads the same types, so the two
// cannot drift apart. Optional request fields carry omitempty, which
// changes nothing for decoding.
package api

import (
	"encoding/json"
	"time"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/llm"
)

// StartRequest is the body of POST /start.
type StartRequest struct {
	// AgentType names the agent to run. Required.
	AgentType string `json:"agentType"`
	// SessionID continues an existing session with a new turn, or names
	// the new session. Empty lets the server choose.
	SessionID string `json:"sessionId,omitempty"`
	// Message is the user message.
	Message string `json:"message"`
	// State is the initial agent state, a JSON value. Nil sends none.
	State json.RawMessage `json:"state,omitempty"`
	// Metadata is stored with a new session.
	Metadata map[string]string `json:"metadata,omitempty"`
}

// ResumeRequest is the body of POST /resume.
type ResumeRequest struct {
	SessionID string `json:"sessionId"`
	// Message, if not empty, is a new user message to resume with.
	Message string `json:"message,omitempty"`
}

// SessionRequest is the body of the routes that take only a session:
// POST /retry and POST /stream-token.
type SessionRequest struct {
	SessionID string `json:"sessionId"`
}

// ControlRequest is the body of POST /interrupt and POST /abort.
type ControlRequest struct {
	SessionID string `json:"sessionId"`
	Reason    string `json:"reason,omitempty"`
}

// SubmitRequest is the body of POST /submit-tool-result.
type SubmitRequest struct {
	SessionID  string `json:"sessionId"`
	ToolCallID string `json:"toolCallId"`
	// Kind is "approval" or "client-tool-result".
	Kind string `json:"kind"`
	// Approved answers an approval; required for that kind.
	Approved *bool  `json:"approved,omitempty"`
	Reason   string `json:"reason,omitempty"`
	// Result is a client tool's result, a JSON value; Error its failure.
	Result json.RawMessage `json:"result,omitempty"`
	Error  string          `json:"error,omitempty"`
}

// RunRef is the answer of the routes that start a run (POST /start,
// /resume, /retry): follow SessionID's stream.
type RunRef struct {
	SessionID string `json:"sessionId"`
	StreamID  string `json:"streamId"`
	RunID     string `json:"runId"`
}

// ControlResponse is the 202 answer of POST /interrupt and /abort: the
// session's status when the request was accepted.
type ControlResponse struct {
	SessionID string       `json:"sessionId"`
	Status    helix.Status `json:"status"`
}

// SubmitResponse is the answer of POST /submit-tool-result.
type SubmitResponse struct {
	SessionID string `json:"sessionId"`
	// Resumed is true when this answer was the last one pending and the
	// run restarted; RunID and StreamID then identify the new run.
	Resumed  bool   `json:"resumed"`
	RunID    string `json:"runId,omitempty"`
	StreamID string `json:"streamId,omitempty"`
}

// StreamToken is the answer of POST /stream-token.
type StreamToken struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// MessagePage is one page of a session's conversation (GET /messages).
type MessagePage struct {
	Messages []llm.Message `json:"messages"`
	// Total is the number of messages of the session.
	Total int `json:"total"`
	// HasMore is true when messages follow this page.
	HasMore bool `json:"hasMore"`
}

// SessionSummary is one entry of GET /sessions.
type SessionSummary struct {
	SessionID       string            `json:"sessionId"`
	AgentType       string            `json:"agentType"`
	Status          helix.Status      `json:"status"`
	StepCount       int               `json:"stepCount"`
	MessageCount    int               `json:"messageCount"`
	RunCount        int               `json:"runCount"`
	ParentSessionID string            `json:"parentSessionId,omitempty"`
	Metadata        map[string]string `json:"metadata,omitempty"`
	CreatedAt       time.Time         `json:"createdAt"`
	UpdatedAt       time.Time         `json:"updatedAt"`
}

// SessionPage is one page of the caller's sessions (GET /sessions).
type SessionPage struct {
	Sessions []SessionSummary `json:"sessions"`
	Total    int              `json:"total"`
	HasMore  bool             `json:"hasMore"`
}

// CheckpointSummary is one entry of GET /checkpoints.
type CheckpointSummary struct {
	ID        string       `json:"id"`
	RunID     string       `json:"runId"`
	Step      int          `json:"step"`
	Status    helix.Status `json:"status"`
	Timestamp time.Time    `json:"timestamp"`
}

// CheckpointPage is one page of a session's checkpoints (GET /checkpoints).
type CheckpointPage struct {
	Checkpoints []CheckpointSummary `json:"checkpoints"`
	Total       int                 `json:"total"`
	HasMore     bool                `json:"hasMore"`
}

// AgentInfo describes an agent type the caller can start (GET /agents).
type AgentInfo struct {
	Name        string     `json:"name"`
	Description string     `json:"description,omitempty"`
	Tools       []ToolInfo `json:"tools"`
	HasOutput   bool       `json:"hasOutput"`
}

// ToolInfo describes one tool of an agent.
type ToolInfo struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
}

// AgentList is the answer of GET /agents: the agents and the server's
// default agent for chat requests that name none.
type AgentList struct {
	Agents  []AgentInfo `json:"agents"`
	Default string      `json:"default,omitempty"`
}
