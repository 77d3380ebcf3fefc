package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/llm"
	"github.com/helix-agents/helix-go/runtime/local"
	"github.com/helix-agents/helix-go/server/api"
	"github.com/helix-agents/helix-go/server/auth"
	"github.com/helix-agents/helix-go/store"
)

// ErrUnavailable: the server is shutting down or not ready
// (503 Service unavailable, with Retry-After).
var ErrUnavailable = errors.New("server: service unavailable")

// SessionIDHeader carries the session id of a run-starting response, for
// clients that read headers (exposed through CORS).
const SessionIDHeader = "X-Session-Id"

// Limits on request fields, beyond the body limit.
const (
	maxIDLen       = 128
	maxReasonLen   = 4 << 10
	maxMetadata    = 64
	maxMetaKeyLen  = 128
	maxMetaValLen  = 4 << 10
	maxAgentLen    = 128
	streamIDPrefix = ""
)

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "req_" + hex.EncodeToString(b[:])
}

// validID reports whether id is a plausible session or tool-call id:
// 1–128 characters of [A-Za-z0-9._:-]. Ids end up in logs, headers and
// store keys, so nothing else is accepted.
func validID(id string) bool { return validRequestID(id) }

// newSessionIDOK reports whether a client may name a new session id: a
// valid id without '.', which the runtime reserves for sub-agent sessions
// ("<parent>.<tool call>"), so that no client can create the session a
// sub-agent call of another principal's run would use.
func newSessionIDOK(id string) bool { return validID(id) && !strings.Contains(id, ".") }

func badRequest(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadRequest, fmt.Sprintf(format, args...))
}

// ownedSession loads a session of p, or fails with ErrNotFound for an
// unknown session and for another principal's: no existence oracle.
func (s *Server) ownedSession(ctx context.Context, p auth.Principal, id string) (*store.Session, error) {
	if !validID(id) {
		return nil, badRequest("bad session id")
	}
	sess, err := s.rt.Store().GetSession(ctx, id)
	if err != nil {
		return nil, err
	}
	if sess.Principal != p.ID {
		return nil, fmt.Errorf("%w: session %s belongs to another principal", ErrNotFound, id)
	}
	return sess, nil
}

// streamSession reads and checks ?sessionId= of a stream route (SSE,
// WebSocket) and returns the session's id and where its current run's
// stream starts (its runStart, asked for only when the client gave no
// position). A session this process is running for p is answered from the
// runtime without a store read: its owner never changes. Anything else
// (another principal's run included) takes the store's answer, so the
// errors are those of querySession.
func (s *Server) streamSession(r *http.Request, p auth.Principal) (id string, runStart func(context.Context) int64, err error) {
	q := r.URL.Query()
	if len(q["sessionId"]) != 1 {
		return "", nil, badRequest("sessionId must be given once")
	}
	id = q.Get("sessionId")
	if validID(id) {
		if owner, start, ok := s.rt.ActiveRun(id); ok && owner == p.ID {
			return id, func(context.Context) int64 { return start }, nil
		}
	}
	sess, err := s.ownedSession(r.Context(), p, id)
	if err != nil {
		return "", nil, err
	}
	return sess.ID, func(ctx context.Context) int64 { return s.runStart(ctx, sess) }, nil
}

// querySession reads and checks ?sessionId= of a GET route.
func (s *Server) querySession(r *http.Request, p auth.Principal) (*store.Session, error) {
	q := r.URL.Query()
	if len(q["sessionId"]) != 1 {
		return nil, badRequest("sessionId must be given once")
	}
	return s.ownedSession(r.Context(), p, q.Get("sessionId"))
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("server: encode response: %w", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(data, '\n'))
	return nil
}

func writeRun(w http.ResponseWriter, h *local.Handle) error {
	w.Header().Set(SessionIDHeader, h.SessionID())
	return writeJSON(w, http.StatusOK, api.RunRef{SessionID: h.SessionID(), StreamID: h.SessionID(), RunID: h.RunID()})
}

func (s *Server) checkAccepting() error {
	if s.isDraining() {
		return WithRetryAfter(fmt.Errorf("%w: shutting down", ErrUnavailable), 2*time.Second)
	}
	return nil
}

func validateStart(req *api.StartRequest) error {
	switch {
	case req.AgentType == "" || len(req.AgentType) > maxAgentLen:
		return badRequest("agentType is required (≤ %d bytes)", maxAgentLen)
	case req.Message == "":
		return badRequest("message is required")
	case req.SessionID != "" && !validID(req.SessionID):
		return badRequest("bad sessionId (1–128 of A-Z a-z 0-9 _ : -)")
	case len(req.Metadata) > maxMetadata:
		return badRequest("more than %d metadata entries", maxMetadata)
	}
	for k, v := range req.Metadata {
		if k == "" || len(k) > maxMetaKeyLen || len(v) > maxMetaValLen {
			return badRequest("metadata entry too long or empty key")
		}
	}
	if len(req.State) > 0 && string(req.State) != "null" && req.State[0] != '{' {
		return badRequest("state must be a JSON object")
	}
	return nil
}

func (s *Server) handleStart(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req api.StartRequest
	if err := decodeJSON(w, r, s.opts.MaxBodyBytes, &req); err != nil {
		return err
	}
	if err := validateStart(&req); err != nil {
		return err
	}
	if err := s.checkAccepting(); err != nil {
		return err
	}
	return s.start(w, r, p, req)
}

func (s *Server) start(w http.ResponseWriter, r *http.Request, p auth.Principal, req api.StartRequest) error {
	ctx := r.Context()
	if req.SessionID != "" {
		sess, err := s.ownedSession(ctx, p, req.SessionID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			// A new session: the client may not name it as the runtime
			// names sub-agents' sessions. (An existing top-level session
			// of an older version may have a '.' in its id.)
			if !newSessionIDOK(req.SessionID) {
				return badRequest("bad sessionId for a new session (1–128 of A-Z a-z 0-9 _ : -)")
			}
		case err != nil:
			return err
		case sess.ParentSessionID != "":
			return fmt.Errorf("%w: %s is a sub-agent's session", ErrNotResumable, sess.ID)
		}
	}
	agent, err := s.rt.Agents().Resolve(ctx, req.AgentType, helix.FactoryContext{SessionID: req.SessionID, Principal: p.ID})
	if err != nil {
		return err
	}
	in := helix.Input{Message: req.Message, Metadata: req.Metadata}
	if len(req.State) > 0 && string(req.State) != "null" {
		in.State = req.State
	}
	opts := []local.ExecuteOption{local.WithPrincipal(p.ID)}
	if req.SessionID != "" {
		opts = append(opts, local.WithSessionID(req.SessionID))
	}
	h, err := s.rt.Execute(ctx, agent, in, opts...)
	if err != nil {
		return err
	}
	return writeRun(w, h)
}

// decodeOwned decodes the body of r into req, then checks that the
// session it names (*id, read after decoding) belongs to p and, when
// starts, that the server still accepts new work.
func decodeOwned[T any](s *Server, w http.ResponseWriter, r *http.Request, p auth.Principal, req *T, id *string, starts bool) error {
	if err := decodeJSON(w, r, s.opts.MaxBodyBytes, req); err != nil {
		return err
	}
	if _, err := s.ownedSession(r.Context(), p, *id); err != nil {
		return err
	}
	if starts {
		return s.checkAccepting()
	}
	return nil
}

func (s *Server) handleResume(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req api.ResumeRequest
	if err := decodeOwned(s, w, r, p, &req, &req.SessionID, true); err != nil {
		return err
	}
	h, err := s.rt.Resume(r.Context(), req.SessionID, local.ResumeOptions{Message: req.Message})
	if err != nil {
		return err
	}
	return writeRun(w, h)
}

func (s *Server) handleInterrupt(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	return s.control(w, r, p, s.rt.Interrupt)
}

func (s *Server) handleAbort(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	return s.control(w, r, p, s.rt.Abort)
}

func (s *Server) control(w http.ResponseWriter, r *http.Request, p auth.Principal,
	do func(ctx context.Context, sessionID, reason string) (helix.Status, error)) error {
	var req api.ControlRequest
	if err := decodeOwned(s, w, r, p, &req, &req.SessionID, false); err != nil {
		return err
	}
	if len(req.Reason) > maxReasonLen {
		return badRequest("reason longer than %d bytes", maxReasonLen)
	}
	st, err := do(r.Context(), req.SessionID, req.Reason)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, api.ControlResponse{SessionID: req.SessionID, Status: st})
}

// toSubmission checks the kind-specific fields: an approval needs
// approved and no result; a client tool result needs result or error.
func toSubmission(req *api.SubmitRequest) (helix.ToolSubmission, error) {
	sub := helix.ToolSubmission{Kind: helix.SubmissionKind(req.Kind), ToolCallID: req.ToolCallID, Reason: req.Reason,
		Result: req.Result, Error: req.Error}
	switch sub.Kind {
	case helix.SubmitApproval:
		if req.Approved == nil || len(req.Result) > 0 || req.Error != "" {
			return sub, badRequest("an approval takes approved (and an optional reason) only")
		}
		sub.Approved = *req.Approved
	case helix.SubmitClientToolResult:
		if req.Approved != nil || req.Reason != "" {
			return sub, badRequest("a client tool result takes result or error only")
		}
	default:
		return sub, badRequest("unknown kind")
	}
	if len(req.Reason) > maxReasonLen {
		return sub, badRequest("reason longer than %d bytes", maxReasonLen)
	}
	if err := sub.Validate(); err != nil {
		return sub, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	return sub, nil
}

func (s *Server) handleSubmit(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req api.SubmitRequest
	if err := decodeJSON(w, r, s.opts.MaxBodyBytes, &req); err != nil {
		return err
	}
	sub, err := toSubmission(&req)
	if err != nil {
		return err
	}
	if _, err := s.ownedSession(r.Context(), p, req.SessionID); err != nil {
		return err
	}
	if err := s.checkAccepting(); err != nil {
		return err
	}
	h, err := s.rt.SubmitToolResult(r.Context(), req.SessionID, sub)
	if err != nil {
		return err
	}
	resp := api.SubmitResponse{SessionID: req.SessionID}
	if h != nil {
		resp.Resumed, resp.RunID, resp.StreamID = true, h.RunID(), h.SessionID()
		w.Header().Set(SessionIDHeader, h.SessionID())
	}
	return writeJSON(w, http.StatusOK, resp)
}

func (s *Server) handleRetry(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req api.SessionRequest
	if err := decodeOwned(s, w, r, p, &req, &req.SessionID, true); err != nil {
		return err
	}
	h, err := s.rt.Retry(r.Context(), req.SessionID)
	if err != nil {
		return err
	}
	return writeRun(w, h)
}

// streamTokenTTL is the life of tokens issued by POST /stream-token: long
// enough to open (and reopen) an EventSource, short enough to be useless
// when leaked later.
const streamTokenTTL = 5 * time.Minute

func (s *Server) handleStreamToken(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req api.SessionRequest
	if err := decodeJSON(w, r, s.opts.MaxBodyBytes, &req); err != nil {
		return err
	}
	if s.opts.StreamTokens == nil {
		return fmt.Errorf("%w: stream tokens are not enabled", ErrNotFound)
	}
	if _, err := s.ownedSession(r.Context(), p, req.SessionID); err != nil {
		return err
	}
	tok, err := s.opts.StreamTokens.Issue(p.ID, req.SessionID, streamTokenTTL)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, api.StreamToken{Token: tok, ExpiresAt: time.Now().Add(streamTokenTTL).UTC().Truncate(time.Second)})
}

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	sess, err := s.querySession(r, p)
	if err != nil {
		return err
	}
	info, err := s.rt.Status(r.Context(), sess.ID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, info)
}

func (s *Server) handleMessages(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	offset, limit, err := parsePagination(r.URL.Query())
	if err != nil {
		return err
	}
	sess, err := s.querySession(r, p)
	if err != nil {
		return err
	}
	page, err := s.rt.Messages(r.Context(), sess.ID, offset, limit)
	if err != nil {
		return err
	}
	if page.Items == nil {
		page.Items = []llm.Message{}
	}
	return writeJSON(w, http.StatusOK, api.MessagePage{Messages: page.Items, Total: page.Total, HasMore: page.HasMore})
}

func (s *Server) handleSessions(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	q := r.URL.Query()
	offset, limit, err := parsePagination(q)
	if err != nil {
		return err
	}
	if len(q["agentType"]) > 1 || len(q["status"]) > 1 || len(q.Get("agentType")) > maxAgentLen {
		return badRequest("bad agentType or status filter")
	}
	status := helix.Status(q.Get("status"))
	if status != "" && !knownStatus(status) {
		return badRequest("unknown status %q", status)
	}
	page, err := s.rt.Store().ListSessions(r.Context(), store.SessionQuery{
		Principal: p.ID, AgentType: q.Get("agentType"), Status: status, Offset: offset, Limit: limit,
	})
	if err != nil {
		return err
	}
	out := api.SessionPage{Sessions: make([]api.SessionSummary, 0, len(page.Items)), Total: page.Total, HasMore: page.HasMore}
	for _, ss := range page.Items {
		out.Sessions = append(out.Sessions, api.SessionSummary{
			SessionID: ss.ID, AgentType: ss.AgentType, Status: ss.Status, StepCount: ss.StepCount,
			MessageCount: ss.MessageCount, RunCount: ss.RunCount, ParentSessionID: ss.ParentSessionID,
			Metadata: ss.Metadata, CreatedAt: ss.CreatedAt, UpdatedAt: ss.UpdatedAt,
		})
	}
	return writeJSON(w, http.StatusOK, out)
}

func knownStatus(st helix.Status) bool {
	switch st {
	case helix.StatusRunning, helix.StatusCompleted, helix.StatusFailed, helix.StatusInterrupted,
		helix.StatusSuspendedApproval, helix.StatusSuspendedClientTool, helix.StatusSuspendedAwaitingChildren,
		helix.StatusSuspendedStepPartial:
		return true
	}
	return false
}

func (s *Server) handleCheckpoints(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	offset, limit, err := parsePagination(r.URL.Query())
	if err != nil {
		return err
	}
	sess, err := s.querySession(r, p)
	if err != nil {
		return err
	}
	page, err := s.rt.Store().ListCheckpoints(r.Context(), sess.ID, offset, limit)
	if err != nil {
		return err
	}
	out := api.CheckpointPage{Checkpoints: make([]api.CheckpointSummary, 0, len(page.Items)), Total: page.Total, HasMore: page.HasMore}
	for _, c := range page.Items {
		out.Checkpoints = append(out.Checkpoints, api.CheckpointSummary{ID: c.ID, RunID: c.RunID, Step: c.Step, Status: c.Status, Timestamp: c.CreatedAt})
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if len(s.opts.MetricsPrincipals) > 0 && !slices.Contains(s.opts.MetricsPrincipals, p.ID) {
		return fmt.Errorf("%w: metrics for principal %s", ErrNotFound, p.ID)
	}
	s.metrics.handler().ServeHTTP(w, r)
	return nil
}

func (s *Server) handleHealthz(w http.ResponseWriter, _ *http.Request, _ auth.Principal) error {
	return writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	if err := s.checkAccepting(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.ready(ctx); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// ready is Options.Ready, or a store round trip: looking up a session id
// that cannot exist must answer "not found".
func (s *Server) ready(ctx context.Context) error {
	if s.opts.Ready != nil {
		return s.opts.Ready(ctx)
	}
	_, err := s.rt.Store().GetSession(ctx, "readyz-probe")
	if err == nil || errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

// handleAgents lists the agent types the caller can start (a factory that
// fails for the caller is left out).
func (s *Server) handleAgents(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	reg := s.rt.Agents()
	out := api.AgentList{Agents: []api.AgentInfo{}, Default: s.opts.DefaultAgent}
	for _, name := range reg.Types() {
		a, err := reg.Resolve(r.Context(), name, helix.FactoryContext{Principal: p.ID})
		if err != nil {
			continue
		}
		info := api.AgentInfo{Name: a.Name(), Description: a.Description(), Tools: []api.ToolInfo{}, HasOutput: a.HasOutput()}
		for _, t := range a.Tools() {
			if t.IsFinish() {
				continue
			}
			info.Tools = append(info.Tools, api.ToolInfo{Name: t.Name(), Description: t.Description()})
		}
		out.Agents = append(out.Agents, info)
	}
	return writeJSON(w, http.StatusOK, out)
}
