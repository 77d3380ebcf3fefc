package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/server/api"
)

// StartRequest is the body of POST /start.
type StartRequest = api.StartRequest

// RunRef identifies the run a request started: pass SessionID to
// [Client.Stream] to follow it.
type RunRef = api.RunRef

// SubmitResult is the answer of POST /submit-tool-result.
type SubmitResult = api.SubmitResponse

// StatusInfo is a session's status as GET /status reports it.
type StatusInfo = helix.StatusInfo

// MessagePage is one page of a session's conversation (GET /messages).
type MessagePage = api.MessagePage

// SessionQuery filters and pages GET /sessions. The zero value lists the
// first page of all the caller's sessions.
type SessionQuery struct {
	// AgentType keeps only the sessions of this agent type, if not empty.
	AgentType string
	// Status keeps only the sessions with this status, if not empty.
	Status helix.Status
	// Offset skips that many sessions. Zero sends no offset (the server's
	// default, 0).
	Offset int
	// Limit is the page size. Zero sends no limit (the server's default).
	Limit int
}

// Session summarises one session in a [SessionPage].
type Session = api.SessionSummary

// SessionPage is one page of the caller's sessions (GET /sessions).
type SessionPage = api.SessionPage

// Checkpoint describes one checkpoint of a session.
type Checkpoint = api.CheckpointSummary

// CheckpointPage is one page of a session's checkpoints (GET /checkpoints).
type CheckpointPage = api.CheckpointPage

// Start starts a run (POST /start): a new session, or a new turn of the
// session req.SessionID. Errors match [ErrNotFound] for an unknown agent
// type and [ErrAgentRunning] if the session already runs.
func (c *Client) Start(ctx context.Context, req StartRequest) (*RunRef, error) {
	var ref RunRef
	if err := c.do(ctx, http.MethodPost, "/start", nil, req, &ref); err != nil {
		return nil, err
	}
	return &ref, nil
}

// Resume resumes an interrupted or suspended session (POST /resume), with
// a new user message if message is not empty. Errors match
// [ErrNotResumable] or [ErrAgentRunning] if the session's status does not
// allow it.
func (c *Client) Resume(ctx context.Context, sessionID, message string) (*RunRef, error) {
	body := api.ResumeRequest{SessionID: sessionID, Message: message}
	var ref RunRef
	if err := c.do(ctx, http.MethodPost, "/resume", nil, body, &ref); err != nil {
		return nil, err
	}
	return &ref, nil
}

// Interrupt asks the session's run to stop at the next safe point
// (POST /interrupt); the session can be resumed later. It returns the
// session's status when the server accepted the request, which may still
// be running: follow the stream for the end.
func (c *Client) Interrupt(ctx context.Context, sessionID, reason string) (helix.Status, error) {
	var a api.ControlResponse
	if err := c.do(ctx, http.MethodPost, "/interrupt", nil, api.ControlRequest{SessionID: sessionID, Reason: reason}, &a); err != nil {
		return "", err
	}
	return a.Status, nil
}

// Abort stops the session's run for good (POST /abort). Like
// [Client.Interrupt], it returns the status when the request was
// accepted.
func (c *Client) Abort(ctx context.Context, sessionID, reason string) (helix.Status, error) {
	var a api.ControlResponse
	if err := c.do(ctx, http.MethodPost, "/abort", nil, api.ControlRequest{SessionID: sessionID, Reason: reason}, &a); err != nil {
		return "", err
	}
	return a.Status, nil
}

// Approve answers the approval request of tool call toolCallID (POST
// /submit-tool-result, kind "approval"), with an optional reason. The run
// resumes when no other call is pending. Errors match [ErrToolNotPending]
// if the call is not waiting for approval.
func (c *Client) Approve(ctx context.Context, sessionID, toolCallID string, approved bool, reason string) (*SubmitResult, error) {
	return c.submit(ctx, api.SubmitRequest{
		SessionID: sessionID, ToolCallID: toolCallID, Kind: "approval",
		Approved: &approved, Reason: reason,
	})
}

// SubmitClientToolResult answers client tool call toolCallID (POST
// /submit-tool-result, kind "client-tool-result") with result, a JSON
// value, or with the failure errMsg if it is not empty. A nil result
// sends none; pass json.RawMessage("null") for a JSON null. Errors match
// [ErrToolNotPending] if the call is not waiting for a result.
func (c *Client) SubmitClientToolResult(ctx context.Context, sessionID, toolCallID string, result json.RawMessage, errMsg string) (*SubmitResult, error) {
	return c.submit(ctx, api.SubmitRequest{
		SessionID: sessionID, ToolCallID: toolCallID, Kind: "client-tool-result",
		Result: result, Error: errMsg,
	})
}

func (c *Client) submit(ctx context.Context, body api.SubmitRequest) (*SubmitResult, error) {
	var r SubmitResult
	if err := c.do(ctx, http.MethodPost, "/submit-tool-result", nil, body, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// Retry starts the session's failed or cut-off run again (POST /retry).
// Errors match [ErrNotResumable] if the session's status does not allow
// it.
func (c *Client) Retry(ctx context.Context, sessionID string) (*RunRef, error) {
	body := api.SessionRequest{SessionID: sessionID}
	var ref RunRef
	if err := c.do(ctx, http.MethodPost, "/retry", nil, body, &ref); err != nil {
		return nil, err
	}
	return &ref, nil
}

// StreamToken returns a short-lived token for the session's stream (POST
// /stream-token), for clients such as a browser's EventSource that cannot
// send an Authorization header, and the time it expires.
func (c *Client) StreamToken(ctx context.Context, sessionID string) (token string, expiresAt time.Time, err error) {
	body := api.SessionRequest{SessionID: sessionID}
	var a api.StreamToken
	if err := c.do(ctx, http.MethodPost, "/stream-token", nil, body, &a); err != nil {
		return "", time.Time{}, err
	}
	return a.Token, a.ExpiresAt, nil
}

// Status returns the session's status (GET /status). Errors match
// [ErrNotFound] for an unknown session or one of another principal.
func (c *Client) Status(ctx context.Context, sessionID string) (*StatusInfo, error) {
	var s StatusInfo
	if err := c.do(ctx, http.MethodGet, "/status", url.Values{"sessionId": {sessionID}}, nil, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Messages returns a page of the session's conversation (GET /messages),
// skipping offset messages and holding at most limit. Zero for offset or
// limit sends no parameter, so the server's default applies (limit 50);
// the server accepts a limit from 1 to 1000 and answers [ErrBadRequest]
// otherwise.
func (c *Client) Messages(ctx context.Context, sessionID string, offset, limit int) (*MessagePage, error) {
	q := url.Values{"sessionId": {sessionID}}
	page(q, offset, limit)
	var p MessagePage
	if err := c.do(ctx, http.MethodGet, "/messages", q, nil, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// Sessions returns a page of the caller's own sessions (GET /sessions).
func (c *Client) Sessions(ctx context.Context, query SessionQuery) (*SessionPage, error) {
	q := url.Values{}
	if query.AgentType != "" {
		q.Set("agentType", query.AgentType)
	}
	if query.Status != "" {
		q.Set("status", string(query.Status))
	}
	page(q, query.Offset, query.Limit)
	var p SessionPage
	if err := c.do(ctx, http.MethodGet, "/sessions", q, nil, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// Agent describes an agent type the caller can start (GET /agents).
type Agent = api.AgentInfo

// AgentList is the answer of GET /agents: the agents and the server's
// default agent for chat requests that name none.
type AgentList = api.AgentList

// Agents lists the agent types the caller can start (GET /agents).
func (c *Client) Agents(ctx context.Context) (*AgentList, error) {
	var l AgentList
	if err := c.do(ctx, http.MethodGet, "/agents", nil, nil, &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// Checkpoints returns a page of the session's checkpoints (GET
// /checkpoints). Zero for offset or limit sends no parameter.
func (c *Client) Checkpoints(ctx context.Context, sessionID string, offset, limit int) (*CheckpointPage, error) {
	q := url.Values{"sessionId": {sessionID}}
	page(q, offset, limit)
	var p CheckpointPage
	if err := c.do(ctx, http.MethodGet, "/checkpoints", q, nil, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// page adds the pagination parameters that are not zero to q.
func page(q url.Values, offset, limit int) {
	if offset != 0 {
		q.Set("offset", strconv.Itoa(offset))
	}
	if limit != 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
}

// Health checks liveness (GET /healthz): nil if the server answers 200.
func (c *Client) Health(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "/healthz", nil, nil, nil)
}

// Ready checks readiness (GET /readyz): nil if the server answers 200.
// Errors match [ErrUnavailable] while the server is starting or shutting
// down.
func (c *Client) Ready(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "/readyz", nil, nil, nil)
}
