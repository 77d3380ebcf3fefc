package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"sync"
	"time"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/runtime/local"
	"github.com/helix-agents/helix-go/server/auth"
	"github.com/helix-agents/helix-go/server/chat"
	"github.com/helix-agents/helix-go/server/sse"
	"github.com/helix-agents/helix-go/store"
)

// handleChat is POST /chat/{sessionId}, and POST /chat with the session id
// in the body's id (DefaultChatTransport's own convention: POST to api,
// reconnect with GET api/{id}/stream, so api "/chat" needs no
// configuration): the AI SDK UI message stream of the run the request
// starts (a new turn, a resume after an interrupt) or resumes (the answers
// to pending approvals and client tools).
func (s *Server) handleChat(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	ctx := r.Context()
	id := r.PathValue("sessionId")
	if id != "" && !validID(id) {
		return badRequest("bad session id")
	}
	var raw json.RawMessage
	if err := decodeJSON(w, r, s.opts.MaxBodyBytes, &raw); err != nil {
		return err
	}
	req, err := chat.ParseRequest(raw)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	switch {
	case id == "" && !validID(req.ID):
		return badRequest("POST /chat needs a valid id in the body")
	case id == "":
		id = req.ID
	case req.ID != "" && req.ID != id:
		return badRequest("chat id does not match the path")
	}
	if err := checkMetadata(req.Metadata); err != nil {
		return err
	}
	agentType, err := chatAgentType(r, req)
	if err != nil {
		return err
	}
	sess, err := s.ownedSession(ctx, p, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		sess = nil
	case err != nil:
		return err
	case sess.ParentSessionID != "":
		return fmt.Errorf("%w: %s is a sub-agent's session", ErrNotResumable, sess.ID)
	case agentType != "" && agentType != sess.AgentType:
		return badRequest("session %s belongs to another agent", sess.ID)
	}
	if sess == nil && !newSessionIDOK(id) {
		return badRequest("bad session id for a new session (1–128 of A-Z a-z 0-9 _ : -)")
	}
	end, err := s.beginStream("chat")
	if err != nil {
		return err
	}
	defer end()

	var h *local.Handle
	opts := chat.Options{SessionID: id}
	if req.Answers == nil {
		h, err = s.chatTurn(ctx, p, id, sess, agentType, req)
	} else {
		h, err = s.chatAnswers(ctx, id, sess, req.Answers)
		opts.Announced = req.Answers.ToolCallIDs
		if chat.ValidMessageID(req.Answers.MessageID) {
			opts.MessageID = req.Answers.MessageID
		}
		for _, a := range req.Answers.Approvals {
			if !a.Approved {
				opts.Denied = append(opts.Denied, a.ToolCallID)
			}
		}
	}
	if err != nil {
		return err
	}
	w.Header().Set(SessionIDHeader, id)
	if h == nil {
		// Some answers were taken but others are still pending: nothing
		// runs, the message is unchanged.
		return s.writeChatIdle(w, r, id, opts.MessageID)
	}
	return s.streamChat(w, r, h.Stream, opts)
}

// chatTurn starts a new turn with the request's text, or resumes an
// interrupted session with it; a regenerate-message answers the session's
// last user message again, in place of the answer it had.
func (s *Server) chatTurn(ctx context.Context, p auth.Principal, id string, sess *store.Session, agentType string, req *chat.Request) (*local.Handle, error) {
	if sess != nil && req.Trigger == chat.TriggerRegenerate {
		return s.rt.Regenerate(ctx, id, local.WithPrincipal(p.ID))
	}
	if sess != nil && sess.Status == helix.StatusInterrupted {
		return s.rt.Resume(ctx, id, local.ResumeOptions{Message: req.Text})
	}
	name := agentType
	if sess != nil {
		name = sess.AgentType
	}
	if name == "" {
		name = s.opts.DefaultAgent
	}
	if name == "" {
		return nil, badRequest("no agentType and no default agent")
	}
	agent, err := s.rt.Agents().Resolve(ctx, name, helix.FactoryContext{SessionID: id, Principal: p.ID})
	if err != nil {
		return nil, err
	}
	return s.rt.Execute(ctx, agent, helix.Input{Message: req.Text, Metadata: req.Metadata},
		local.WithPrincipal(p.ID), local.WithSessionID(id))
}

// chatAnswers submits the request's answers to the session's pending
// calls. Answers for calls that are not pending (already answered, server
// tools' outputs, unknown calls) are skipped. It returns the resumed run,
// or nil when calls are still pending; ErrToolNotPending when the request
// answered nothing.
func (s *Server) chatAnswers(ctx context.Context, id string, sess *store.Session, a *chat.Answers) (*local.Handle, error) {
	if sess == nil {
		return nil, fmt.Errorf("%w: answers for unknown session %s", ErrNotFound, id)
	}
	if sess.Status == helix.StatusRunning {
		return nil, fmt.Errorf("%w: session %s", ErrAgentRunning, id)
	}
	// The pending calls the request may answer, by their id in the UI
	// stream: the session's own, and, if the request names any call of a
	// sub-agent (see chat.ChildCallID), those of the sub-agent sessions its
	// pending sub-agent calls wait on, at any depth. The walk follows the
	// stored calls, never the request's ids, so what a request costs does
	// not grow with what it names.
	wantChildren := false
	for _, tid := range a.ToolCallIDs {
		if _, _, ok := chat.SplitChildCallID(tid); ok {
			wantChildren = true
			break
		}
	}
	pending := map[string]pendingCall{}
	walk := []string{id}
	for n := 0; len(walk) > 0 && n < maxPendingSessions; n++ {
		sid := walk[0]
		walk = walk[1:]
		info, err := s.rt.Status(ctx, sid)
		if err != nil {
			return nil, err
		}
		for _, pi := range info.Pending {
			key := pi.ToolCallID
			if sid != id {
				key = chat.ChildCallID(sid, pi.ToolCallID)
			}
			pending[key] = pendingCall{session: sid, info: pi}
			if wantChildren && pi.Kind == string(store.PendingSubAgent) && s.isChild(ctx, pi.ChildSessionID, sid, sess.Principal) {
				walk = append(walk, pi.ChildSessionID)
			}
		}
	}
	type answer struct {
		session string
		sub     helix.ToolSubmission
	}
	var subs []answer
	for _, ap := range a.Approvals {
		if pc, ok := pending[ap.ToolCallID]; ok && pc.info.Kind == "approval" && (pc.info.ApprovalID == "" || pc.info.ApprovalID == ap.ApprovalID) {
			sub := ap.Submission()
			sub.ToolCallID = pc.info.ToolCallID
			subs = append(subs, answer{pc.session, sub})
		}
	}
	for _, o := range a.Outputs {
		if pc, ok := pending[o.ToolCallID]; ok && pc.info.Kind == "client_tool" {
			sub := o.Submission()
			sub.ToolCallID = pc.info.ToolCallID
			subs = append(subs, answer{pc.session, sub})
		}
	}
	var h *local.Handle
	taken := 0
	for _, sub := range subs {
		hh, err := s.rt.SubmitToolResult(ctx, sub.session, sub.sub)
		switch {
		case errors.Is(err, helix.ErrNotPending):
			continue // answered meanwhile
		case err != nil:
			return nil, err
		}
		taken++
		if hh != nil {
			h = hh
		}
	}
	if taken == 0 {
		return nil, fmt.Errorf("%w: the request answers no pending call of %s", ErrToolNotPending, id)
	}
	return h, nil
}

// pendingCall is a call a /chat request may answer: its session (the
// chat's, or one of its sub-agents') and what is pending.
type pendingCall struct {
	session string
	info    helix.PendingInfo
}

// isChild reports whether session child is a sub-agent session of parent
// with the same owner: a stored pending call is followed only to a session
// that is really its child.
func (s *Server) isChild(ctx context.Context, child, parent, principal string) bool {
	if !validID(child) {
		return false
	}
	c, err := s.rt.Store().GetSession(ctx, child)
	return err == nil && c.ParentSessionID == parent && c.Principal == principal
}

// maxPendingSessions bounds the sessions a /chat request's answers are
// looked for in: its own and those of its waiting sub-agents.
const maxPendingSessions = 64

// chatAgentType is the agentType of the body or of ?agentType= (they must
// agree when both are given).
func chatAgentType(r *http.Request, req *chat.Request) (string, error) {
	q := r.URL.Query()["agentType"]
	switch {
	case len(q) > 1:
		return "", badRequest("agentType given more than once")
	case len(q) == 0:
		return req.AgentType, nil
	case q[0] == "" || len(q[0]) > maxAgentLen:
		return "", badRequest("bad agentType parameter")
	case req.AgentType != "" && req.AgentType != q[0]:
		return "", badRequest("agentType of the body and the query differ")
	}
	return q[0], nil
}

func checkMetadata(md map[string]string) error {
	if len(md) > maxMetadata {
		return badRequest("more than %d metadata entries", maxMetadata)
	}
	for k, v := range md {
		if k == "" || len(k) > maxMetaKeyLen || len(v) > maxMetaValLen {
			return badRequest("metadata entry too long or empty key")
		}
	}
	return nil
}

// handleChatStream is GET /chat/{sessionId}/stream: after a reload, the
// client reattaches to the running turn. The stream replays the turn from
// its first run (so the client rebuilds the whole assistant message), then
// follows it live. 204 when nothing runs.
func (s *Server) handleChatStream(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	ctx := r.Context()
	sess, err := s.ownedSession(ctx, p, r.PathValue("sessionId"))
	if err != nil {
		return err
	}
	if sess.Status != helix.StatusRunning {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	after, err := s.turnStart(ctx, sess)
	if err != nil {
		return err
	}
	end, err := s.beginStream("chat")
	if err != nil {
		return err
	}
	defer end()
	w.Header().Set(SessionIDHeader, sess.ID)
	return s.streamChat(w, r, func(ctx context.Context, _ ...int64) iter.Seq2[helix.Chunk, error] {
		return s.rt.Stream(ctx, sess.ID, after)
	}, chat.Options{SessionID: sess.ID})
}

// turnStart returns the stream position before the first run of the
// session's current turn: the current run, or, while it resumes earlier
// runs without a new user message (after approvals or client tools), the
// first of them. Every run of a turn builds one assistant message.
func (s *Server) turnStart(ctx context.Context, sess *store.Session) (int64, error) {
	runs, err := s.rt.Store().ListRuns(ctx, sess.ID)
	if err != nil {
		return 0, err
	}
	i := len(runs) - 1
	for i >= 0 && runs[i].ID != sess.CurrentRunID {
		i--
	}
	if i < 0 {
		return -1, nil // the current run's first chunk
	}
	for ; i > 0 && runs[i].Resumed; i-- {
		first, err := s.rt.Store().ReadChunks(ctx, sess.ID, runs[i].StartSequence, 1)
		if err != nil {
			return 0, err
		}
		if len(first) == 1 && first[0].Type == helix.ChunkRunStart && first[0].Message != "" {
			break // resumed with a new user message: a new assistant message
		}
	}
	return runs[i].StartSequence, nil
}

// writeChatIdle answers a request whose answers were taken while other
// calls are still pending: an empty assistant turn.
func (s *Server) writeChatIdle(w http.ResponseWriter, r *http.Request, id, messageID string) error {
	w.Header().Set(chat.HeaderName, chat.HeaderValue)
	sw, err := sse.NewWriter(w)
	if err != nil {
		return err
	}
	sw.SetWriteTimeout(streamWriteTimeout)
	st := helix.StatusSuspendedApproval
	if info, err := s.rt.Status(r.Context(), id); err == nil {
		st = info.Status
	}
	for _, p := range []chat.Part{{Type: "start", MessageID: messageID}, {Type: "finish", FinishReason: chat.FinishToolCalls,
		MessageMetadata: &chat.FinishMetadata{SessionID: id, Status: st}}} {
		if err := writePart(sw, p); err != nil {
			return err
		}
	}
	return sw.Event("", []byte(chat.Done))
}

// streamChat writes the UI message stream of a run's chunks, then [DONE].
// On server shutdown the stream just ends (no finish, no [DONE]); the run
// goes on, and the client can reattach with GET /chat/{id}/stream.
func (s *Server) streamChat(w http.ResponseWriter, r *http.Request,
	stream func(ctx context.Context, after ...int64) iter.Seq2[helix.Chunk, error], opts chat.Options) error {
	w.Header().Set(chat.HeaderName, chat.HeaderValue)
	sw, err := sse.NewWriter(w)
	if err != nil {
		return err
	}
	sw.SetWriteTimeout(streamWriteTimeout)
	ctx, stop := s.streamContext(r.Context())
	defer stop()
	enc := chat.NewEncoder(opts)
	err = s.pumpChat(ctx, sw, stream(ctx), enc)
	switch {
	case errors.Is(context.Cause(ctx), errDraining):
		return nil
	case err != nil && r.Context().Err() == nil:
		return err
	case err != nil:
		return nil // the client went away
	}
	for _, p := range enc.Close() {
		if err := writePart(sw, p); err != nil {
			return err
		}
	}
	return sw.Event("", []byte(chat.Done))
}

// pumpChat encodes chunks onto sw until they end, with heartbeat comments
// while idle. chunks is consumed on a goroutine that pumpChat waits for;
// it must end promptly once ctx is done.
func (s *Server) pumpChat(ctx context.Context, sw *sse.Writer, chunks iter.Seq2[helix.Chunk, error], enc *chat.Encoder) error {
	type item struct {
		c   helix.Chunk
		err error
	}
	items := make(chan item)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(items)
		for c, err := range chunks {
			select {
			case items <- item{c, err}:
			case <-done:
				return
			}
			if err != nil {
				return
			}
		}
	})
	defer func() { close(done); wg.Wait() }()
	ping := time.NewTicker(s.opts.Heartbeat)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ping.C:
			if err := sw.Ping(); err != nil {
				return err
			}
		case it, ok := <-items:
			if !ok {
				return ctx.Err()
			}
			if it.err != nil {
				return it.err
			}
			for _, p := range enc.Encode(it.c) {
				if err := writePart(sw, p); err != nil {
					return err
				}
			}
		}
	}
}

func writePart(sw *sse.Writer, p chat.Part) error {
	data, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("server: encode chat part: %w", err)
	}
	return sw.Event("", data)
}
