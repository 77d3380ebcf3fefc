package local

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/llm"
	"github.com/helix-agents/helix-go/store"
)

type startKind uint8

const (
	startExecute startKind = iota
	startResume
	startRetry
)

type startSpec struct {
	kind    startKind
	message string
	userMsg *llm.Message
	input   helix.Input
	hooks   []helix.Hooks
	// parent is set for a sub-agent run: chunks are forwarded to it.
	parent *execution
	// fence, if not 0, was issued with the session's creation
	// (store.FencedCreator): the run uses it instead of a NextFence.
	fence uint64
	// create, if set, is the new session as it is to be created, in the
	// write that commits the run (store.SessionStarter).
	create *store.Session
	// rewind, if set, takes the history back with the run's first commit
	// (Regenerate); sess.MessageCount is already the rewound count.
	rewind *store.Rewind
}

// execution is one run: it owns the session (by fence) until it ends.
type execution struct {
	rt    *Runtime
	agent *helix.Agent
	model llm.Model
	spec  startSpec

	ctx    context.Context // cancelled with a *stopRequest or errShutdown
	bg     context.Context // ctx without its cancellation, for final writes
	cancel context.CancelCauseFunc
	ar     *activeRun

	sess    *store.Session
	run     *store.Run
	fence   uint64
	msgs    []llm.Message // full history
	unsaved int           // messages at the end of msgs not yet committed
	hooks   helix.HookSet
	fwd     func(helix.Chunk) // forwards chunks to the parent's stream
	started *helix.Chunk      // the run_start stored with the session's start, if it was
	chunks  *chunkWriter      // created by the first append
	step    int
	forced  bool
	// polled is when the store was last asked for a control request made
	// by another process (the run's start, which cleared any, counts as
	// one); startStep is e.step when the loop began.
	polled    time.Time
	startStep int
}

func (r *Runtime) prepare(ctx context.Context, agent *helix.Agent, sess *store.Session, spec startSpec) (*execution, error) {
	r.mu.Lock()
	for {
		if r.closed {
			r.mu.Unlock()
			return nil, errors.New("local: runtime is closed")
		}
		prev, busy := r.active[sess.ID]
		if !busy {
			break
		}
		prevRun := prev.runID
		r.mu.Unlock()
		// A run that has ended (the session read from the store says
		// so: it is not running, and that run is its current one) may
		// still be winding down here, storing its last chunks. A start
		// or resume right after its end, as when a client answers an
		// approval as soon as it sees the run_end, waits for it instead
		// of failing.
		// (A run still being prepared has no id yet, and a session that
		// never ran has no current run: neither is waited for.)
		if sess.Status == helix.StatusRunning || prevRun == "" || prevRun != sess.CurrentRunID {
			return nil, fmt.Errorf("local: session %q: %w", sess.ID, helix.ErrAlreadyRunning)
		}
		select {
		case <-prev.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		r.mu.Lock()
	}
	ar := &activeRun{done: make(chan struct{})}
	r.active[sess.ID] = ar
	r.mu.Unlock()
	e, err := r.prepareLocked(ctx, agent, sess, spec, ar)
	if err != nil {
		r.mu.Lock()
		delete(r.active, sess.ID)
		r.mu.Unlock()
		close(ar.done) // nobody waits for a run that never started
		return nil, err
	}
	return e, nil
}

func (r *Runtime) prepareLocked(ctx context.Context, agent *helix.Agent, sess *store.Session, spec startSpec, ar *activeRun) (*execution, error) {
	fence := spec.fence
	var err error
	if fence == 0 {
		if fence, err = r.st.NextFence(ctx, sess.ID); err != nil {
			return nil, err
		}
	}
	// A session's first run finds its stream as CreateSession left it:
	// active and empty. Later runs read where it is and reactivate it.
	firstRun := sess.RunCount == 0
	var info store.StreamInfo
	if !firstRun {
		if info, err = r.st.StreamInfo(ctx, sess.ID); err != nil {
			return nil, err
		}
	}
	now := r.now()
	run := &store.Run{
		ID: r.newID("run_"), SessionID: sess.ID, Turn: sess.RunCount + 1, Status: helix.StatusRunning,
		StartSequence: info.LastSequence, Resumed: spec.kind != startExecute, StartedAt: now,
	}
	prevStatus := sess.Status
	sess.Status = helix.StatusRunning
	sess.CurrentRunID = run.ID
	sess.CurrentRunStart = run.StartSequence
	sess.RunCount++
	sess.UpdatedAt = now
	if spec.kind != startResume || prevStatus == helix.StatusInterrupted {
		sess.Error = nil
	}
	if spec.kind != startResume {
		sess.StepCount = 0
		sess.Output = nil
	}
	commit := store.Commit{Session: sess, ExpectedVersion: sess.Version, Fence: fence, Run: run, ClearControl: true, Rewind: spec.rewind}
	if spec.userMsg != nil {
		commit.Messages = []llm.Message{*spec.userMsg}
		sess.MessageCount++
	}
	var (
		v       int64
		started *helix.Chunk // run_start, if stored with the start
	)
	// The run's first chunk goes with the start where the store can: a
	// client that subscribes once the start is answered finds it there.
	first := [1]helix.Chunk{{Type: helix.ChunkRunStart, SessionID: sess.ID, RunID: run.ID, AgentType: agent.Name(),
		Step: sess.StepCount, Timestamp: now.UnixMilli(), Message: spec.message, Resumed: spec.kind != startExecute}}
	ender, oneWrite := r.st.(store.RunEnder)
	switch {
	case spec.create != nil:
		v, err = r.st.(store.SessionStarter).StartSession(ctx, spec.create, commit, first[:])
		started = &first[0]
		if errors.Is(err, store.ErrExists) {
			return nil, fmt.Errorf("local: session %q: %w", sess.ID, helix.ErrAlreadyRunning)
		}
	case !firstRun && oneWrite:
		// A later run: the commit, its run_start and the stream made
		// active again in one write, so that no subscriber finds the
		// session running while its stream still shows the last run's
		// end (it would end at once, with the status "running").
		v, err = ender.EndRun(ctx, commit, first[:], helix.StreamActive)
		started = &first[0]
	default:
		v, err = r.st.Commit(ctx, commit)
	}
	if err != nil {
		if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrStaleFence) {
			return nil, fmt.Errorf("local: session %q: %w", sess.ID, helix.ErrAlreadyRunning)
		}
		return nil, err
	}
	sess.Version = v
	if !firstRun && started == nil {
		if err := r.st.SetStreamStatus(ctx, sess.ID, fence, helix.StreamActive); err != nil {
			return nil, err
		}
	}
	var page store.Page[llm.Message]
	if sess.MessageCount == len(commit.Messages) {
		// A new session: its history is what was just committed.
		page.Items, page.Total = commit.Messages, len(commit.Messages)
	} else if page, err = r.st.ListMessages(ctx, sess.ID, 0, 0); err != nil {
		return nil, err
	}
	model := agent.Model()
	if model == nil {
		model = r.model
	}
	e := &execution{
		rt: r, agent: agent, model: model, spec: spec, ar: ar, sess: sess, run: run, fence: fence,
		msgs: page.Items, step: sess.StepCount, started: started,
	}
	r.mu.Lock()
	ar.runID = run.ID // read by prepare and ActiveRun under mu
	ar.principal, ar.startSeq = sess.Principal, run.StartSequence
	r.mu.Unlock()
	base := r.base
	if spec.parent != nil {
		base = spec.parent.ctx
	}
	e.ctx, e.cancel = context.WithCancelCause(base)
	e.bg = context.WithoutCancel(e.ctx)
	ar.cancel = e.cancel
	e.hooks = helix.HookSet{OnError: func(hook string, err error) {
		r.log.Warn("best-effort hook failed", "hook", hook, "session", sess.ID, "error", err)
	}}
	if spec.parent != nil {
		e.hooks.List = append(e.hooks.List, spec.parent.hooks.List...)
	} else {
		e.hooks.List = append(e.hooks.List, r.hooks...)
	}
	e.hooks.List = append(e.hooks.List, agent.Hooks())
	e.hooks.List = append(e.hooks.List, spec.hooks...)
	return e, nil
}

func (r *Runtime) start(ctx context.Context, agent *helix.Agent, sess *store.Session, spec startSpec) (*Handle, error) {
	e, err := r.prepare(ctx, agent, sess, spec)
	if err != nil {
		return nil, err
	}
	h := &Handle{rt: r, sessionID: sess.ID, runID: e.run.ID, startSeq: e.run.StartSequence, ar: e.ar}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		e.execute()
	}()
	return h, nil
}

// execute runs the loop and releases the session.
func (e *execution) execute() *helix.Result {
	defer func() {
		e.cancel(nil)
		e.rt.mu.Lock()
		delete(e.rt.active, e.sess.ID)
		e.rt.mu.Unlock()
		close(e.ar.done)
	}()
	res := e.loopSafe()
	e.flushChunks()
	e.ar.result = res
	return res
}

// loopSafe turns a panic anywhere in the loop into a failed run.
func (e *execution) loopSafe() (res *helix.Result) {
	defer func() {
		if p := recover(); p != nil {
			e.rt.log.Error("run panicked", "session", e.sess.ID, "run", e.run.ID, "panic", fmt.Sprint(p))
			res = e.fail(internalError(fmt.Errorf("panic: %v", p)))
		}
	}()
	return e.loop()
}

// outcome ends a step: nil means continue with the next step.
type outcome func() *helix.Result

func (e *execution) loop() *helix.Result {
	e.polled, e.startStep = e.rt.now(), e.step
	hc := e.hookContext()
	if e.started == nil {
		e.emit(helix.Chunk{Type: helix.ChunkRunStart, Message: e.spec.message, Resumed: e.spec.kind != startExecute})
	} else if e.fwd != nil {
		// Stored with the start; a parent's stream gets it now. (Child
		// sessions are created apart from their first run today, so this
		// is for a child's later run, started in one write.)
		e.fwd(*e.started)
	}
	var err error
	if e.spec.kind == startExecute {
		err = e.hooks.OnAgentStart(e.ctx, hc, e.spec.input)
	} else {
		err = e.hooks.OnAgentResumed(e.ctx, hc)
	}
	if err != nil {
		return e.fail(err)
	}
	if e.spec.userMsg != nil {
		if err := e.hooks.OnMessage(e.ctx, hc, *e.spec.userMsg); err != nil {
			return e.fail(err)
		}
	}
	if sus := e.sess.Suspension; sus != nil {
		if out := e.drain(sus); out != nil {
			return out()
		}
	}
	for {
		if out := e.checkStop(); out != nil {
			return out()
		}
		if e.step >= e.agent.MaxSteps() {
			if !e.agent.HasOutput() || e.forced {
				return e.fail(&runError{info: helix.ErrorInfo{Code: helix.CodeMaxSteps, Category: helix.CategoryRuntime,
					Message: fmt.Sprintf("the run reached its limit of %d steps", e.agent.MaxSteps())}, err: helix.ErrMaxSteps})
			}
			e.forced = true
		}
		if out := e.doStep(); out != nil {
			return out()
		}
	}
}

// checkStop honours a durable interrupt/abort request or a cancellation.
func (e *execution) checkStop() outcome {
	if cause := context.Cause(e.ctx); cause != nil {
		return e.stopFor(cause)
	}
	// Before the first step the run's start has just cleared any request:
	// the store is asked only if the interval has passed. Before every
	// later step it is asked (a step is a model call: the read is cheap
	// beside it).
	if e.step == e.startStep && !e.pollDue() {
		return nil
	}
	e.polled = e.rt.now()
	req, err := e.rt.st.GetControl(e.ctx, e.sess.ID)
	if err != nil {
		return func() *helix.Result { return e.fail(internalError(err)) }
	}
	if req != nil {
		return e.stopFor(&stopRequest{kind: req.Kind, reason: req.Reason})
	}
	return nil
}

// pollDue reports whether the store should be asked for another process's
// control request now (and records that it is). In-process requests cancel
// e.ctx at once; another process's are seen within pollEv.
func (e *execution) pollDue() bool {
	now := e.rt.now()
	if now.Sub(e.polled) < e.rt.pollEv {
		return false
	}
	e.polled = now
	return true
}

func (e *execution) stopFor(cause error) outcome {
	var sr *stopRequest
	switch {
	case errors.As(cause, &sr) && sr.kind == store.ControlAbort:
		return func() *helix.Result { return e.abort(sr.reason) }
	case errors.Is(cause, errShutdown):
		return func() *helix.Result { return e.interrupt(ReasonShutdown) }
	default: // interrupt, parent stopping
		return func() *helix.Result { return e.interrupt("") }
	}
}

func (e *execution) hookContext() *helix.HookContext {
	return &helix.HookContext{
		SessionID: e.sess.ID, RunID: e.run.ID, AgentType: e.agent.Name(), ParentSessionID: e.sess.ParentSessionID,
		Step: e.step, State: e.sess.State, Emit: e.emitCustom,
	}
}

func (e *execution) emitCustom(name string, data json.RawMessage) {
	e.emit(helix.Chunk{Type: helix.ChunkCustom, EventName: name, Data: data})
}

// stamp fills a chunk's common fields.
func (e *execution) stamp(c *helix.Chunk) {
	c.SessionID, c.RunID, c.AgentType, c.Step = e.sess.ID, e.run.ID, e.agent.Name(), e.step
	c.Timestamp = e.rt.now().UnixMilli()
}

// emit stamps c, appends it to the session's stream and forwards it to the
// parent's stream for a sub-agent.
func (e *execution) emit(c helix.Chunk) {
	e.stamp(&c)
	e.append(c)
}

func (e *execution) append(c helix.Chunk) {
	if e.chunks == nil {
		e.chunks = newChunkWriter(e.bg, e.rt.st, e.sess.ID, e.fence, e.rt.log)
	}
	e.chunks.add(c)
	if e.fwd != nil {
		e.fwd(c)
	}
}

// flushChunks waits until every chunk emitted so far is stored.
func (e *execution) flushChunks() {
	if e.chunks != nil {
		e.chunks.flush()
	}
}

// orderChunks makes sure that every chunk emitted so far is applied before
// the store write that follows: by waiting for them, unless the store
// applies writes in the order they are issued.
func (e *execution) orderChunks() {
	if e.chunks != nil && !e.chunks.ordered() {
		e.chunks.flush()
	}
}

// commit writes the session with the unsaved messages, the run and a
// checkpoint, atomically.
func (e *execution) commit(checkpoint bool) error {
	v, err := e.rt.st.Commit(e.bg, e.newCommit(checkpoint))
	if err != nil {
		return err
	}
	e.committed(v)
	return nil
}

// committed records that the session was stored at version v.
func (e *execution) committed(v int64) {
	e.sess.Version = v
	e.unsaved = 0
}

// newCommit is the commit of the session as it is: the unsaved messages,
// the run and, if asked, a checkpoint. The chunks emitted so far are
// ordered before it.
func (e *execution) newCommit(checkpoint bool) store.Commit {
	now := e.rt.now()
	e.sess.UpdatedAt = now
	e.sess.StepCount = e.step
	e.run.StepCount = e.step
	e.run.Status = e.sess.Status
	e.orderChunks() // the stream is stored up to the state it describes
	c := store.Commit{Session: e.sess, ExpectedVersion: e.sess.Version, Fence: e.fence, Run: e.run,
		Messages: e.msgs[len(e.msgs)-e.unsaved:]}
	if checkpoint {
		suffix := e.rt.newID("")
		if len(suffix) > 6 {
			suffix = suffix[len(suffix)-6:]
		}
		c.Checkpoint = &store.Checkpoint{
			ID:        fmt.Sprintf("cpv1-%s-s%d-t%d-%s", e.sess.ID, e.step, now.UnixMilli(), suffix),
			SessionID: e.sess.ID, RunID: e.run.ID, Step: e.step, Status: e.sess.Status, State: e.sess.State,
			MessageCount: e.sess.MessageCount, Usage: e.sess.Usage, Suspension: e.sess.Suspension,
			Output: e.sess.Output, Error: e.sess.Error, CreatedAt: now,
		}
	}
	return c
}

// addMessage appends m to the history (committed with the step) and calls
// OnMessage.
func (e *execution) addMessage(m llm.Message) {
	e.msgs = append(e.msgs, m)
	e.unsaved++
	e.sess.MessageCount++
}

// runError carries a sanitised description for the error chunk.
type runError struct {
	info helix.ErrorInfo
	err  error
}

func (r *runError) Error() string { return r.err.Error() }
func (r *runError) Unwrap() error { return r.err }

func internalError(err error) error {
	return &runError{info: helix.ErrorInfo{Code: helix.CodeInternal, Category: helix.CategoryRuntime, Message: "internal error"}, err: err}
}

// sanitize describes err without internal details or secrets.
func sanitize(err error) helix.ErrorInfo {
	var re *runError
	if errors.As(err, &re) {
		return re.info
	}
	var ae *llm.APIError
	if errors.As(err, &ae) {
		msg := "the model call failed"
		if ae.Status != 0 {
			msg = fmt.Sprintf("the model provider answered with status %d", ae.Status)
		}
		if ae.Code == "script_exhausted" {
			msg = "the scripted model has no more turns"
		}
		code := helix.CodeModelError
		if safeCode(ae.Code) {
			code = ae.Code
		}
		return helix.ErrorInfo{Code: code, Category: helix.CategoryLLM, Message: msg, Retryable: ae.Retryable}
	}
	if errors.Is(err, helix.ErrHook) {
		return helix.ErrorInfo{Code: helix.CodeHookError, Category: helix.CategoryHook, Message: "a hook failed"}
	}
	return helix.ErrorInfo{Code: helix.CodeInternal, Category: helix.CategoryRuntime, Message: "internal error"}
}

// safeCode reports whether a provider's error code may be shown to
// clients as it is: 1 to 64 of [A-Za-z0-9_.-], as the providers' own
// codes are ("rate_limit_exceeded", "RESOURCE_EXHAUSTED"). Anything else
// (an OpenAI-compatible server may put any text there) becomes
// model_error.
func safeCode(code string) bool {
	if code == "" || len(code) > 64 {
		return false
	}
	for i := range len(code) {
		switch c := code[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_', c == '.', c == '-':
		default:
			return false
		}
	}
	return true
}

// end finishes the run with the session's current status: commit, run_end,
// stream status; in one write if the store can (store.RunEnder).
func (e *execution) end(reason string) *helix.Result {
	e.run.CompletionReason = reason
	e.run.EndedAt = e.rt.now()
	e.run.Error = e.sess.Error
	usage := e.run.Usage
	c := helix.Chunk{Type: helix.ChunkRunEnd, Status: e.sess.Status, CompletionReason: reason, Usage: &usage}
	status := helix.StreamStatusFor(e.sess.Status)
	if re, ok := e.rt.st.(store.RunEnder); ok {
		e.stamp(&c)
		end := [1]helix.Chunk{c}
		v, err := re.EndRun(e.bg, e.newCommit(true), end[:], status)
		if err == nil {
			e.committed(v)
			if e.fwd != nil {
				e.fwd(c)
			}
			return e.result()
		}
		if e.superseded(err) {
			return e.result()
		}
		// Nothing was written (an outage, say): the stream is still told
		// how the run ended, as far as the store lets it.
		e.append(c)
	} else {
		if err := e.commit(true); err != nil && e.superseded(err) {
			return e.result()
		}
		e.emit(c)
	}
	e.orderChunks()
	if err := e.rt.st.SetStreamStatus(e.bg, e.sess.ID, e.fence, status); err != nil {
		e.rt.log.Error("set stream status", "session", e.sess.ID, "error", err)
	}
	return e.result()
}

// superseded logs a failed end-of-run commit and reports whether it failed
// because another owner took the session over, so that the run writes
// nothing more.
func (e *execution) superseded(err error) bool {
	e.rt.log.Error("commit run end", "session", e.sess.ID, "run", e.run.ID, "error", err)
	return errors.Is(err, store.ErrStaleFence) || errors.Is(err, store.ErrConflict)
}

func (e *execution) result() *helix.Result {
	return &helix.Result{
		SessionID: e.sess.ID, RunID: e.run.ID, AgentType: e.agent.Name(), Status: e.sess.Status,
		CompletionReason: e.run.CompletionReason, Output: e.sess.Output, Error: e.sess.Error,
		StepCount: e.step, Usage: e.run.Usage, SessionUsage: e.sess.Usage, Pending: pendingInfo(e.sess),
		Aborted: e.sess.Aborted,
	}
}

func (e *execution) complete(reason string, output json.RawMessage) *helix.Result {
	if output != nil {
		e.sess.Output = output
		e.emit(helix.Chunk{Type: helix.ChunkOutput, Output: output})
	}
	if err := e.hooks.OnAgentComplete(e.ctx, e.hookContext(), output); err != nil {
		return e.fail(err)
	}
	e.sess.Status = helix.StatusCompleted
	return e.end(reason)
}

func (e *execution) fail(err error) *helix.Result {
	info := sanitize(err)
	e.rt.log.Warn("run failed", "session", e.sess.ID, "run", e.run.ID, "code", info.Code, "error", err)
	e.emit(helix.Chunk{Type: helix.ChunkError, Error: &info})
	if herr := e.hooks.OnAgentFail(e.bg, e.hookContext(), err); herr != nil {
		e.rt.log.Warn("OnAgentFail hook failed", "session", e.sess.ID, "error", herr)
	}
	e.sess.Status = helix.StatusFailed
	e.sess.Error = &info
	return e.end("")
}

func (e *execution) abort(reason string) *helix.Result {
	e.sess.Aborted, e.sess.AbortReason = true, reason
	e.sess.Suspension = nil
	return e.fail(&runError{info: helix.ErrorInfo{Code: helix.CodeAborted, Category: helix.CategoryCancelation, Message: "run aborted"}, err: helix.ErrAborted})
}

func (e *execution) interrupt(reason string) *helix.Result {
	e.sess.Status = helix.StatusInterrupted
	if err := e.hooks.OnAgentSuspended(e.bg, e.hookContext(), helix.StatusInterrupted); err != nil {
		return e.fail(err)
	}
	return e.end(reason)
}

func (e *execution) suspend(sus *store.Suspension) *helix.Result {
	e.sess.Suspension = sus
	e.sess.Status = suspendedStatus(sus)
	if err := e.hooks.OnAgentSuspended(e.ctx, e.hookContext(), e.sess.Status); err != nil {
		return e.fail(err)
	}
	return e.end("")
}

func suspendedStatus(sus *store.Suspension) helix.Status {
	kinds := map[store.PendingKind]bool{}
	for _, p := range sus.Pending {
		if p.Resolution == nil || p.Kind == store.PendingSubAgent {
			kinds[p.Kind] = true
		}
	}
	switch {
	case len(kinds) > 1:
		return helix.StatusSuspendedStepPartial
	case kinds[store.PendingApproval]:
		return helix.StatusSuspendedApproval
	case kinds[store.PendingClientTool]:
		return helix.StatusSuspendedClientTool
	case kinds[store.PendingSubAgent]:
		return helix.StatusSuspendedAwaitingChildren
	}
	return helix.StatusSuspendedStepPartial
}

func digest(args json.RawMessage) string {
	sum := sha256.Sum256(args)
	return hex.EncodeToString(sum[:])
}
