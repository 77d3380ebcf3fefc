// Package local runs agents in process: one goroutine per run, with the
// store providing durability. Every step is checkpointed; approvals, client
// tools and sub-agents suspend durably (nothing waits in memory), and
// interrupt and abort requests are durable, so another process (or this one
// after a restart) can pick a session up where it stopped.
package local

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"sync"
	"time"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/llm"
	"github.com/helix-agents/helix-go/store"
)

// Options configure a [Runtime]. Store is required; every other field has a
// default.
type Options struct {
	// Store persists sessions and streams.
	Store store.Store
	// Agents resolves agent types on resume and retry. Execute registers the
	// agents it runs. Default: a new empty registry.
	Agents *helix.Registry
	// DefaultModel answers agents that have no model.
	DefaultModel llm.Model
	// Logger receives run failures and best-effort hook errors (default
	// slog.Default()).
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// NewID returns a fresh id with the given prefix (default: prefix + 16
	// random hex digits).
	NewID func(prefix string) string
	// Hooks run for every agent, before the agent's own hooks.
	Hooks []helix.Hooks
	// ControlPollInterval is how often a streaming model call checks the
	// store for an interrupt or abort made by another process (default
	// 1s). A run also checks before every step but its first (its start
	// cleared any earlier request), so a one-step run shorter than the
	// interval never asks. In-process requests take effect at once.
	ControlPollInterval time.Duration
	// ScrubToolError, if set, rewrites the text of a tool's error before it
	// is stored, streamed (tool_end) and sent to the model, so a secret in
	// an error (a DSN password in a driver's message, say) goes nowhere.
	// Servers pass a redactor here (see package server/redact).
	ScrubToolError func(string) string
}

// Runtime executes agents in process. It is safe for concurrent use.
type Runtime struct {
	st     store.Store
	reg    *helix.Registry
	model  llm.Model
	log    *slog.Logger
	now    func() time.Time
	newID  func(string) string
	hooks  []helix.Hooks
	pollEv time.Duration
	scrubF func(string) string

	base   context.Context
	cancel context.CancelCauseFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	active map[string]*activeRun // guarded by mu; by session id
	closed bool                  // guarded by mu
}

type activeRun struct {
	runID string // guarded by Runtime.mu
	// principal owns the session; startSeq is the stream position before
	// the run. Both are set with runID and never change.
	principal string
	startSeq  int64
	cancel    context.CancelCauseFunc
	done      chan struct{}
	result    *helix.Result // set before done is closed
}

// Errors used as cancellation causes.
var (
	errShutdown = errors.New("local: runtime closed")
)

type stopRequest struct {
	kind   store.ControlKind
	reason string
}

func (s *stopRequest) Error() string { return "local: run stopped: " + string(s.kind) }

// New returns a runtime. It fails if Options.Store is nil.
func New(opts Options) (*Runtime, error) {
	if opts.Store == nil {
		return nil, errors.New("local: Options.Store is nil")
	}
	r := &Runtime{
		st: opts.Store, reg: opts.Agents, model: opts.DefaultModel, log: opts.Logger,
		now: opts.Now, newID: opts.NewID, hooks: opts.Hooks, pollEv: opts.ControlPollInterval,
		scrubF: opts.ScrubToolError, active: map[string]*activeRun{},
	}
	if r.reg == nil {
		r.reg = &helix.Registry{}
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.newID == nil {
		r.newID = randomID
	}
	if r.pollEv <= 0 {
		r.pollEv = time.Second
	}
	r.base, r.cancel = context.WithCancelCause(context.Background())
	return r, nil
}

// scrub applies Options.ScrubToolError.
func (r *Runtime) scrub(s string) string {
	if r.scrubF == nil {
		return s
	}
	return r.scrubF(s)
}

func randomID(prefix string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// Agents returns the runtime's registry.
func (r *Runtime) Agents() *helix.Registry { return r.reg }

// Store returns the runtime's store.
func (r *Runtime) Store() store.Store { return r.st }

// Close stops accepting runs, interrupts running ones (each keeps what it
// had streamed and can be resumed) and waits for them until ctx is done.
func (r *Runtime) Close(ctx context.Context) error {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.cancel(errShutdown)
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ExecuteOption varies one Execute call.
type ExecuteOption func(*executeOptions)

type executeOptions struct {
	sessionID string
	principal string
	hooks     []helix.Hooks
}

// WithSessionID runs in the given session: a new one is created, an
// existing one gets a new turn with its full history.
func WithSessionID(id string) ExecuteOption { return func(o *executeOptions) { o.sessionID = id } }

// WithPrincipal records the owner of a new session; for an existing
// session it must be the owner (else ErrSessionNotFound).
func WithPrincipal(p string) ExecuteOption { return func(o *executeOptions) { o.principal = p } }

// WithHooks adds execution hooks, called after the agent's own.
func WithHooks(h helix.Hooks) ExecuteOption {
	return func(o *executeOptions) { o.hooks = append(o.hooks, h) }
}

// Handle is a started run.
type Handle struct {
	rt        *Runtime
	sessionID string
	runID     string
	startSeq  int64
	ar        *activeRun
}

// SessionID returns the run's session.
func (h *Handle) SessionID() string { return h.sessionID }

// RunID returns the run's id.
func (h *Handle) RunID() string { return h.runID }

// StartSequence returns the stream position at the run's start.
func (h *Handle) StartSequence() int64 { return h.startSeq }

// Stream yields the run's chunks from its first one (or after sequence
// after, if given) and ends after the run's run_end chunk. Stopping early is
// allowed.
func (h *Handle) Stream(ctx context.Context, after ...int64) iter.Seq2[helix.Chunk, error] {
	from := h.startSeq
	if len(after) > 0 {
		from = after[0]
	}
	return func(yield func(helix.Chunk, error) bool) {
		for c, err := range h.rt.st.Subscribe(ctx, h.sessionID, from) {
			if !yield(c, err) || err != nil {
				return
			}
			if c.Type == helix.ChunkRunEnd && c.RunID == h.runID && c.SessionID == h.sessionID {
				return
			}
		}
	}
}

// Result waits for the run to end (complete, fail, suspend or stop) and
// returns its outcome.
func (h *Handle) Result(ctx context.Context) (*helix.Result, error) {
	select {
	case <-h.ar.done:
		return h.ar.result, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Interrupt asks the run's session to stop softly; see [Runtime.Interrupt].
func (h *Handle) Interrupt(ctx context.Context, reason string) error {
	_, err := h.rt.Interrupt(ctx, h.sessionID, reason)
	return err
}

// Abort stops the run's session for good; see [Runtime.Abort].
func (h *Handle) Abort(ctx context.Context, reason string) error {
	_, err := h.rt.Abort(ctx, h.sessionID, reason)
	return err
}

// Execute starts a run of agent with input: in a new session, or as a new
// turn of an existing one (WithSessionID). It returns once the run is
// recorded and its stream is active; the run goes on in the background
// until it ends, whatever happens to ctx (stop it with Interrupt or Abort).
//
// Errors: ErrAlreadyRunning if the session is running or suspended,
// ErrInvalidInput for a bad seed state or an agent without a model.
func (r *Runtime) Execute(ctx context.Context, agent *helix.Agent, in helix.Input, opts ...ExecuteOption) (*Handle, error) {
	var o executeOptions
	for _, f := range opts {
		f(&o)
	}
	if err := r.register(agent); err != nil {
		return nil, err
	}
	// A session id of our own making is new: no need to look it up (the
	// create below refuses an existing one all the same).
	fresh := o.sessionID == ""
	if fresh {
		o.sessionID = r.newID("s_")
	}
	var fence uint64 // issued with the session's creation, if the store can
	var create *store.Session
	var sess *store.Session
	var err error
	if !fresh {
		sess, err = r.st.GetSession(ctx, o.sessionID)
	}
	switch {
	case fresh || errors.Is(err, store.ErrNotFound):
		state, serr := agent.InitialState(in.State)
		if serr != nil {
			return nil, serr
		}
		now := r.now()
		sess = &store.Session{
			ID: o.sessionID, AgentType: agent.Name(), Principal: o.principal, Status: helix.StatusCompleted,
			State: state, Metadata: in.Metadata, CreatedAt: now, UpdatedAt: now,
		}
		if _, ok := r.st.(store.SessionStarter); ok {
			// Created with the run's first commit, in one write.
			created := *sess
			create, fence, err = &created, 1, nil
		} else if fc, ok := r.st.(store.FencedCreator); ok {
			fence, err = fc.CreateSessionFenced(ctx, sess)
		} else {
			err = r.st.CreateSession(ctx, sess)
		}
		if err != nil {
			if errors.Is(err, store.ErrExists) {
				return nil, fmt.Errorf("local: session %q: %w", o.sessionID, helix.ErrAlreadyRunning)
			}
			return nil, err
		}
		sess.Version = 1
	case err != nil:
		return nil, err
	default:
		if o.principal != "" && sess.Principal != o.principal {
			// Another principal's session: the caller may not even learn it exists.
			return nil, fmt.Errorf("local: session %q: %w", sess.ID, helix.ErrSessionNotFound)
		}
		if sess.AgentType != agent.Name() {
			return nil, fmt.Errorf("%w: session %q belongs to agent %q", helix.ErrInvalidInput, sess.ID, sess.AgentType)
		}
		if sess.Status == helix.StatusRunning || sess.Status.Suspended() {
			return nil, fmt.Errorf("local: session %q is %s: %w", sess.ID, sess.Status, helix.ErrAlreadyRunning)
		}
		if sess.Aborted {
			sess.Aborted, sess.AbortReason = false, ""
		}
	}
	msg := llm.UserMessage(in.Message)
	for _, f := range in.Files {
		msg.Parts = append(msg.Parts, llm.Part{Type: llm.PartFile, File: &f})
	}
	return r.start(ctx, agent, sess, startSpec{kind: startExecute, message: in.Message, userMsg: &msg, input: in, hooks: o.hooks, fence: fence, create: create})
}

func (r *Runtime) register(agent *helix.Agent) error {
	if agent == nil {
		return fmt.Errorf("%w: nil agent", helix.ErrInvalidInput)
	}
	if agent.Model() == nil && r.model == nil {
		return fmt.Errorf("%w: agent %q has no model and the runtime has no default", helix.ErrInvalidInput, agent.Name())
	}
	if err := r.reg.Register(agent); err != nil {
		r.reg.Replace(agent)
		for _, c := range agent.SubAgents() {
			_ = r.reg.Register(c)
		}
	}
	return nil
}

// ResumeOptions vary a resume.
type ResumeOptions struct {
	// Message, if set, is added as a new user message before continuing
	// (only for an interrupted session).
	Message string
}

// Resume continues an interrupted session, or a suspended one whose pending
// calls are all answered. The stream is kept. A sub-agent's session resumes
// through its parent. Errors: ErrSessionNotFound, ErrAlreadyRunning,
// ErrNotResumable.
func (r *Runtime) Resume(ctx context.Context, sessionID string, opts ResumeOptions) (*Handle, error) {
	sess, err := r.getSession(ctx, sessionID)
	if err != nil {
		return nil, err
	}
	root, err := r.resumeRoot(ctx, sess)
	if err != nil {
		return nil, err
	}
	if root.ID != sess.ID {
		opts.Message = ""
		sess = root
	}
	switch {
	case sess.Status == helix.StatusRunning:
		return nil, fmt.Errorf("local: session %q: %w", sessionID, helix.ErrAlreadyRunning)
	case sess.Status == helix.StatusInterrupted:
	case sess.Status.Suspended():
		ready, err := r.ready(ctx, sess)
		if err != nil {
			return nil, err
		}
		if !ready {
			return nil, fmt.Errorf("local: session %q has unanswered tool calls: %w", sessionID, helix.ErrNotResumable)
		}
		if opts.Message != "" {
			return nil, fmt.Errorf("%w: a suspended session cannot take a message", helix.ErrInvalidInput)
		}
	default:
		return nil, fmt.Errorf("local: session %q is %s: %w", sessionID, sess.Status, helix.ErrNotResumable)
	}
	agent, err := r.reg.Resolve(ctx, sess.AgentType, helix.FactoryContext{SessionID: sess.ID, Principal: sess.Principal})
	if err != nil {
		return nil, err
	}
	spec := startSpec{kind: startResume, message: opts.Message}
	if opts.Message != "" {
		m := llm.UserMessage(opts.Message)
		spec.userMsg = &m
	}
	return r.start(ctx, agent, sess, spec)
}

// Retry re-drives a failed run (not an aborted one) or a run cut off by a
// crash, from the last checkpoint, with a fresh step budget.
func (r *Runtime) Retry(ctx context.Context, sessionID string) (*Handle, error) {
	sess, err := r.getSession(ctx, sessionID)
	if err != nil {
		return nil, err
	}
	if sess.ParentSessionID != "" {
		return nil, fmt.Errorf("local: session %q is a sub-agent's: %w", sessionID, helix.ErrNotResumable)
	}
	switch {
	case sess.Status == helix.StatusFailed && !sess.Aborted:
	case sess.Status == helix.StatusRunning && !r.isActive(sessionID):
		// Cut off: nobody in this process runs it.
	case sess.Status == helix.StatusRunning:
		return nil, fmt.Errorf("local: session %q: %w", sessionID, helix.ErrAlreadyRunning)
	default:
		return nil, fmt.Errorf("local: session %q is %s: %w", sessionID, sess.Status, helix.ErrNotResumable)
	}
	agent, err := r.reg.Resolve(ctx, sess.AgentType, helix.FactoryContext{SessionID: sess.ID, Principal: sess.Principal})
	if err != nil {
		return nil, err
	}
	sess.Error = nil
	return r.start(ctx, agent, sess, startSpec{kind: startRetry})
}

// Regenerate answers a session's last user message again, as a new turn:
// the conversation goes back to just after that message (the answer and
// anything after it are dropped from the history, with the checkpoints
// that count them: see [store.Rewind]) and a new run answers it. The
// session's custom state goes back to the newest checkpoint before that
// message; a first turn's has none, and keeps its state. The stream and
// the run records are kept: they are the record of what happened. Only
// the session's owner may regenerate it (WithPrincipal; WithSessionID is
// ignored).
//
// Errors: ErrSessionNotFound; ErrAlreadyRunning if the session is running
// or suspended; ErrNotResumable for a sub-agent's session; ErrInvalidInput
// when the history has no user message.
func (r *Runtime) Regenerate(ctx context.Context, sessionID string, opts ...ExecuteOption) (*Handle, error) {
	var o executeOptions
	for _, f := range opts {
		f(&o)
	}
	sess, err := r.getSession(ctx, sessionID)
	if err != nil {
		return nil, err
	}
	switch {
	case o.principal != "" && sess.Principal != o.principal:
		return nil, fmt.Errorf("local: session %q: %w", sessionID, helix.ErrSessionNotFound)
	case sess.ParentSessionID != "":
		return nil, fmt.Errorf("local: session %q is a sub-agent's: %w", sessionID, helix.ErrNotResumable)
	case sess.Status == helix.StatusRunning || sess.Status.Suspended():
		return nil, fmt.Errorf("local: session %q is %s: %w", sessionID, sess.Status, helix.ErrAlreadyRunning)
	}
	msgs, err := r.st.ListMessages(ctx, sessionID, 0, 0)
	if err != nil {
		return nil, err
	}
	last := -1
	for i := len(msgs.Items) - 1; i >= 0; i-- {
		if msgs.Items[i].Role == llm.RoleUser {
			last = i
			break
		}
	}
	if last < 0 {
		return nil, fmt.Errorf("%w: session %q has no user message to answer again", helix.ErrInvalidInput, sessionID)
	}
	cp, err := r.checkpointBefore(ctx, sessionID, last)
	if err != nil {
		return nil, err
	}
	if cp != nil {
		sess.State = cp.State
	}
	agent, err := r.reg.Resolve(ctx, sess.AgentType, helix.FactoryContext{SessionID: sess.ID, Principal: sess.Principal})
	if err != nil {
		return nil, err
	}
	sess.Aborted, sess.AbortReason = false, ""
	sess.MessageCount = last + 1
	text := msgs.Items[last].Text()
	return r.start(ctx, agent, sess, startSpec{kind: startExecute, message: text, input: helix.Input{Message: text},
		hooks: o.hooks, rewind: &store.Rewind{Messages: last + 1}})
}

// checkpointBefore returns the session's newest checkpoint that counts at
// most n messages, or nil: it reads the checkpoints newest first, a page
// at a time.
func (r *Runtime) checkpointBefore(ctx context.Context, sessionID string, n int) (*store.Checkpoint, error) {
	const pageSize = 50
	page, err := r.st.ListCheckpoints(ctx, sessionID, 0, 1)
	if err != nil {
		return nil, err
	}
	for end := page.Total; end > 0; end -= pageSize {
		from := max(end-pageSize, 0)
		page, err := r.st.ListCheckpoints(ctx, sessionID, from, end-from)
		if err != nil {
			return nil, err
		}
		for i := len(page.Items) - 1; i >= 0; i-- {
			if cp := page.Items[i]; cp.MessageCount <= n {
				return cp, nil
			}
		}
	}
	return nil, nil
}

func (r *Runtime) isActive(sessionID string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.active[sessionID]
	return ok
}

func (r *Runtime) getSession(ctx context.Context, id string) (*store.Session, error) {
	s, err := r.st.GetSession(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("local: session %q: %w", id, helix.ErrSessionNotFound)
	}
	return s, err
}

// resumeRoot climbs from a sub-agent's session to the ancestor that waits
// for it: resuming a child resumes its parent, which resumes the child.
func (r *Runtime) resumeRoot(ctx context.Context, sess *store.Session) (*store.Session, error) {
	for depth := 0; sess.ParentSessionID != "" && depth < 32; depth++ {
		parent, err := r.getSession(ctx, sess.ParentSessionID)
		if err != nil {
			return nil, err
		}
		if parent.Status != helix.StatusSuspendedAwaitingChildren {
			break
		}
		sess = parent
	}
	return sess, nil
}

// ready reports whether every pending call of a suspended session has its
// answer (for children: whether the child can go on).
func (r *Runtime) ready(ctx context.Context, sess *store.Session) (bool, error) {
	if sess.Suspension == nil {
		return sess.Status == helix.StatusInterrupted || !sess.Status.Suspended(), nil
	}
	for _, p := range sess.Suspension.Pending {
		switch p.Kind {
		case store.PendingSubAgent:
			child, err := r.getSession(ctx, p.ChildSessionID)
			if err != nil {
				return false, err
			}
			if child.Status.Suspended() {
				ok, err := r.ready(ctx, child)
				if err != nil || !ok {
					return false, err
				}
			}
		default:
			if p.Resolution == nil {
				return false, nil
			}
		}
	}
	return true, nil
}

// SubmitToolResult answers a pending approval or client tool call of a
// suspended session. When nothing else is pending the session resumes and
// the new run's handle is returned; otherwise the handle is nil.
// Errors: ErrInvalidInput, ErrSessionNotFound, ErrNotPending.
func (r *Runtime) SubmitToolResult(ctx context.Context, sessionID string, sub helix.ToolSubmission) (*Handle, error) {
	if err := sub.Validate(); err != nil {
		return nil, err
	}
	want := store.PendingApproval
	if sub.Kind == helix.SubmitClientToolResult {
		want = store.PendingClientTool
	}
	for attempt := 0; ; attempt++ {
		sess, err := r.getSession(ctx, sessionID)
		if err != nil {
			return nil, err
		}
		var p *store.PendingCall
		if sess.Status.Suspended() && sess.Suspension != nil {
			for i := range sess.Suspension.Pending {
				c := &sess.Suspension.Pending[i]
				if c.ToolCallID == sub.ToolCallID && c.Kind == want && c.Resolution == nil {
					p = c
				}
			}
		}
		if p == nil {
			return nil, fmt.Errorf("local: session %q, call %q: %w", sessionID, sub.ToolCallID, helix.ErrNotPending)
		}
		p.Resolution = &store.Resolution{Approved: sub.Approved, Reason: sub.Reason, Result: sub.Result, Error: sub.Error, At: r.now()}
		if sub.Kind == helix.SubmitClientToolResult && len(sub.Result) == 0 && sub.Error == "" {
			p.Resolution.Result = []byte("null")
		}
		sess.UpdatedAt = r.now()
		_, err = r.st.Commit(ctx, store.Commit{Session: sess, ExpectedVersion: sess.Version})
		if errors.Is(err, store.ErrConflict) && attempt < 5 {
			continue
		}
		if err != nil {
			return nil, err
		}
		root, err := r.resumeRoot(ctx, sess)
		if err != nil {
			return nil, err
		}
		ready, err := r.ready(ctx, root)
		if err != nil || !ready {
			return nil, err
		}
		h, err := r.Resume(ctx, root.ID, ResumeOptions{})
		if errors.Is(err, helix.ErrAlreadyRunning) || errors.Is(err, helix.ErrNotResumable) {
			return nil, nil // another submitter resumed it first
		}
		return h, err
	}
}

// Interrupt records a durable request to stop the session's run softly at
// its next safe point (mid-stream included). The run ends interrupted and can
// be resumed. It returns the session's status after the request.
func (r *Runtime) Interrupt(ctx context.Context, sessionID, reason string) (helix.Status, error) {
	return r.control(ctx, sessionID, store.ControlInterrupt, reason)
}

// Abort stops the session's run for good: it ends failed with aborted set
// and cannot be resumed. A suspended or interrupted session is aborted at
// once.
func (r *Runtime) Abort(ctx context.Context, sessionID, reason string) (helix.Status, error) {
	return r.control(ctx, sessionID, store.ControlAbort, reason)
}

func (r *Runtime) control(ctx context.Context, sessionID string, kind store.ControlKind, reason string) (helix.Status, error) {
	sess, err := r.getSession(ctx, sessionID)
	if err != nil {
		return "", err
	}
	if sess.Status != helix.StatusRunning {
		if kind == store.ControlAbort && (sess.Status.Suspended() || sess.Status == helix.StatusInterrupted) {
			return r.abortIdle(ctx, sess, reason)
		}
		return sess.Status, nil
	}
	if err := r.st.RequestControl(ctx, sessionID, store.ControlRequest{Kind: kind, Reason: reason, RequestedAt: r.now()}); err != nil {
		return "", err
	}
	r.mu.Lock()
	ar := r.active[sessionID]
	r.mu.Unlock()
	if ar != nil {
		ar.cancel(&stopRequest{kind: kind, reason: reason})
	}
	return sess.Status, nil
}

// abortIdle aborts a session that no run owns.
func (r *Runtime) abortIdle(ctx context.Context, sess *store.Session, reason string) (helix.Status, error) {
	fence, err := r.st.NextFence(ctx, sess.ID)
	if err != nil {
		return "", err
	}
	sess.Status, sess.Aborted, sess.AbortReason = helix.StatusFailed, true, reason
	sess.Error = &helix.ErrorInfo{Code: helix.CodeAborted, Category: helix.CategoryCancelation, Message: "run aborted"}
	sess.Suspension = nil
	sess.UpdatedAt = r.now()
	c := store.Commit{Session: sess, ExpectedVersion: sess.Version, Fence: fence, ClearControl: true}
	if run, err := r.st.GetRun(ctx, sess.ID, sess.CurrentRunID); err == nil {
		run.Status, run.Error, run.EndedAt = helix.StatusFailed, sess.Error, r.now()
		c.Run = run
	}
	if _, err := r.st.Commit(ctx, c); err != nil {
		return "", err
	}
	if err := r.st.SetStreamStatus(ctx, sess.ID, fence, helix.StreamFailed); err != nil {
		return "", err
	}
	return helix.StatusFailed, nil
}

// Status returns the session's status. Error: ErrSessionNotFound.
func (r *Runtime) Status(ctx context.Context, sessionID string) (*helix.StatusInfo, error) {
	sess, err := r.getSession(ctx, sessionID)
	if err != nil {
		return nil, err
	}
	info, err := r.st.StreamInfo(ctx, sessionID)
	if err != nil {
		return nil, err
	}
	return &helix.StatusInfo{
		SessionID: sess.ID, AgentType: sess.AgentType, Status: sess.Status, StepCount: sess.StepCount,
		RunID: sess.CurrentRunID, StreamSequence: info.LastSequence, Pending: pendingInfo(sess),
		Output: sess.Output, Error: sess.Error, Usage: sess.Usage, Aborted: sess.Aborted, AbortReason: sess.AbortReason,
	}, nil
}

func pendingInfo(sess *store.Session) []helix.PendingInfo {
	out := []helix.PendingInfo{}
	if sess.Suspension == nil {
		return out
	}
	for _, p := range sess.Suspension.Pending {
		if p.Resolution != nil {
			continue
		}
		out = append(out, helix.PendingInfo{Kind: string(p.Kind), ToolCallID: p.ToolCallID, ToolName: p.ToolName,
			ApprovalID: p.ApprovalID, Arguments: p.Arguments, ChildSessionID: p.ChildSessionID})
	}
	return out
}

// Messages returns a page of the session's messages.
func (r *Runtime) Messages(ctx context.Context, sessionID string, offset, limit int) (store.Page[llm.Message], error) {
	if _, err := r.getSession(ctx, sessionID); err != nil {
		return store.Page[llm.Message]{}, err
	}
	return r.st.ListMessages(ctx, sessionID, offset, limit)
}

// ActiveRun reports whether this runtime is executing a run of the session
// and, if so, the session's owner and the stream position before the run:
// what a stream of the run needs to know, without a store read. The run may
// end at any time after the call.
func (r *Runtime) ActiveRun(sessionID string) (principal string, startSeq int64, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ar := r.active[sessionID]
	if ar == nil || ar.runID == "" {
		return "", 0, false
	}
	return ar.principal, ar.startSeq, true
}

// Stream yields the session's chunks with sequence > after, then live ones,
// until the stream is no longer active. A negative after starts at the
// current run's first chunk.
func (r *Runtime) Stream(ctx context.Context, sessionID string, after int64) iter.Seq2[helix.Chunk, error] {
	return func(yield func(helix.Chunk, error) bool) {
		if after < 0 {
			sess, err := r.getSession(ctx, sessionID)
			if err != nil {
				yield(helix.Chunk{}, err)
				return
			}
			after = 0
			if run, err := r.st.GetRun(ctx, sessionID, sess.CurrentRunID); err == nil {
				after = run.StartSequence
			}
		}
		for c, err := range r.st.Subscribe(ctx, sessionID, after) {
			if !yield(c, err) {
				return
			}
		}
	}
}

// ReasonShutdown is the completion reason of a run interrupted because its
// runtime was closed ([Runtime.Close]); [Runtime.ResumeShutdown] picks such
// runs up again.
const ReasonShutdown = "shutdown"

// ResumeShutdown resumes every top-level session whose last run was
// interrupted by a runtime's Close (completion reason ReasonShutdown), so
// runs stopped by a graceful restart continue, on the same stream, in this
// process. A session that another process resumed first is skipped. It
// returns the ids of the sessions resumed.
func (r *Runtime) ResumeShutdown(ctx context.Context) ([]string, error) {
	var ids []string
	for offset := 0; ; {
		page, err := r.st.ListSessions(ctx, store.SessionQuery{Status: helix.StatusInterrupted, Offset: offset, Limit: 200})
		if err != nil {
			return ids, err
		}
		skipped := 0 // resumed sessions leave the filter; skipped ones stay
		for _, sess := range page.Items {
			skipped++
			if sess.ParentSessionID != "" || sess.CurrentRunID == "" {
				continue
			}
			run, err := r.st.GetRun(ctx, sess.ID, sess.CurrentRunID)
			if err != nil || run.CompletionReason != ReasonShutdown {
				continue
			}
			if _, err := r.Resume(ctx, sess.ID, ResumeOptions{}); err != nil {
				if errors.Is(err, helix.ErrAlreadyRunning) || errors.Is(err, helix.ErrNotResumable) {
					continue
				}
				return ids, fmt.Errorf("local: resume %s after shutdown: %w", sess.ID, err)
			}
			ids = append(ids, sess.ID)
			skipped--
		}
		if !page.HasMore {
			return ids, nil
		}
		offset += skipped
	}
}

// ReasonCrash is the completion reason that [Runtime.RecoverCrashed]
// records for a run a crash cut off.
const ReasonCrash = "crash"

// RecoverCrashed deals with the sessions the store says are running but
// that no process runs: those a crash (a killed or failed process) cut off.
// It acts only while the store vouches that no other process uses it
// ([store.ExclusiveLocker]: SQLite opened by this process alone, which
// others then wait for); otherwise another process may be running them,
// and it does nothing. Each such session's run is ended as interrupted,
// with completion reason [ReasonCrash] (a run_end on its stream), and
// each top-level one is then resumed from its last checkpoint, on the
// same stream, unless the run before the cut-off one was cut off too (a
// session that brings the process down is not re-driven into a crash
// loop: it stays interrupted, for a client to resume), or an interrupt or
// abort was asked for meanwhile. A sub-agent's session is resumed by its
// parent's run if it calls it again. Failures are logged and skipped. It
// returns the ids of the sessions resumed.
func (r *Runtime) RecoverCrashed(ctx context.Context) ([]string, error) {
	el, ok := r.st.(store.ExclusiveLocker)
	if !ok {
		return nil, nil
	}
	release, ok := el.LockExclusive()
	if !ok {
		return nil, nil
	}
	defer release()
	// Every cut-off session first (a page at a time, but acting on none
	// before all are known: resumed ones leave the filter).
	var cut []*store.Session
	for offset := 0; ; {
		page, err := r.st.ListSessions(ctx, store.SessionQuery{Status: helix.StatusRunning, Offset: offset, Limit: 200})
		if err != nil {
			return nil, err
		}
		for _, sess := range page.Items {
			if !r.isActive(sess.ID) {
				cut = append(cut, sess)
			}
		}
		if !page.HasMore {
			break
		}
		offset += len(page.Items)
	}
	var ids []string
	for _, sess := range cut {
		if err := r.endCutOff(ctx, sess); err != nil {
			r.log.Error("ending a run a crash cut off", "session", sess.ID, "error", err)
			continue
		}
		if sess.ParentSessionID != "" {
			continue
		}
		if ctl, err := r.st.GetControl(ctx, sess.ID); err == nil && ctl != nil {
			// An interrupt or abort was asked for while nothing ran it.
			r.log.Warn("a run a crash cut off has a stop request pending: it is left interrupted", "session", sess.ID, "request", string(ctl.Kind))
			continue
		}
		if r.crashedBefore(ctx, sess.ID) {
			r.log.Warn("a run a crash cut off follows another that was: it is left interrupted, not re-driven", "session", sess.ID)
			continue
		}
		if _, err := r.Resume(ctx, sess.ID, ResumeOptions{}); err != nil {
			r.log.Error("resuming a run a crash cut off", "session", sess.ID, "error", err)
			continue
		}
		ids = append(ids, sess.ID)
	}
	return ids, nil
}

// endCutOff ends the current run of sess, which a crash cut off, as
// interrupted (ReasonCrash): the session, its run record, a run_end on
// its stream and the stream's status, under a new fencing token.
func (r *Runtime) endCutOff(ctx context.Context, sess *store.Session) error {
	fence, err := r.st.NextFence(ctx, sess.ID)
	if err != nil {
		return err
	}
	now := r.now()
	sess.Status = helix.StatusInterrupted
	sess.UpdatedAt = now
	c := store.Commit{Session: sess, ExpectedVersion: sess.Version, Fence: fence}
	end := helix.Chunk{Type: helix.ChunkRunEnd, SessionID: sess.ID, RunID: sess.CurrentRunID, AgentType: sess.AgentType,
		Step: sess.StepCount, Timestamp: now.UnixMilli(), Status: helix.StatusInterrupted, CompletionReason: ReasonCrash}
	if sess.CurrentRunID != "" {
		run, err := r.st.GetRun(ctx, sess.ID, sess.CurrentRunID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if run != nil {
			run.Status, run.CompletionReason, run.EndedAt = helix.StatusInterrupted, ReasonCrash, now
			c.Run = run
			u := run.Usage
			end.Usage = &u
		}
	}
	chunks, status := []helix.Chunk{end}, helix.StreamStatusFor(helix.StatusInterrupted)
	if re, ok := r.st.(store.RunEnder); ok {
		v, err := re.EndRun(ctx, c, chunks, status)
		if err == nil {
			sess.Version = v
		}
		return err
	}
	v, err := r.st.Commit(ctx, c)
	if err != nil {
		return err
	}
	sess.Version = v
	if _, err := r.st.AppendChunks(ctx, sess.ID, fence, chunks); err != nil {
		return err
	}
	return r.st.SetStreamStatus(ctx, sess.ID, fence, status)
}

// crashedBefore reports whether the run before the session's current one
// was cut off by a crash too.
func (r *Runtime) crashedBefore(ctx context.Context, id string) bool {
	runs, err := r.st.ListRuns(ctx, id)
	return err == nil && len(runs) >= 2 && runs[len(runs)-2].CompletionReason == ReasonCrash
}

// Wait blocks until the session has no run in this process or ctx is done.
func (r *Runtime) Wait(ctx context.Context, sessionID string) error {
	r.mu.Lock()
	ar := r.active[sessionID]
	r.mu.Unlock()
	if ar == nil {
		return nil
	}
	select {
	case <-ar.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
