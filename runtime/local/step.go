package local

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/llm"
	"github.com/helix-agents/helix-go/store"
)

// doStep runs one step: a model call and the tools it asks for.
func (e *execution) doStep() outcome {
	e.step++
	e.emit(helix.Chunk{Type: helix.ChunkStepStart})
	hc := e.hookContext()
	prompt, err := e.agent.SystemPrompt(e.sess.State)
	if err != nil {
		return e.failed(internalError(fmt.Errorf("system prompt: %w", err)))
	}
	req := &llm.Request{
		SessionID: e.sess.ID, AgentType: e.agent.Name(), System: prompt, Messages: e.msgs,
		Tools: e.agent.ToolSpecs(), Settings: e.agent.Settings(),
	}
	if e.forced {
		req.Tools = []llm.ToolSpec{e.agent.Tool(helix.FinishToolName).Spec()}
		req.ToolChoice = llm.ToolChoice{Mode: llm.ToolChoiceTool, Name: helix.FinishToolName}
	}
	if err := e.hooks.BeforeLLMCall(e.ctx, hc, req); err != nil {
		return e.failed(err)
	}
	reply, usage, err := e.callModel(req)
	if err != nil {
		if cause := context.Cause(e.ctx); cause != nil {
			return e.stopMidStream(reply, usage, cause)
		}
		return e.failed(err)
	}
	if err := e.hooks.AfterLLMCall(e.ctx, hc, reply, usage); err != nil {
		return e.failed(err)
	}
	e.addMessage(reply)
	if err := e.hooks.OnMessage(e.ctx, hc, reply); err != nil {
		return e.failed(err)
	}
	calls := reply.ToolCalls()
	if len(calls) == 0 {
		e.addUsage(usage)
		if !e.agent.HasOutput() {
			// The run completes with this step: the run's end commits
			// the step and its checkpoint, once.
			e.emit(helix.Chunk{Type: helix.ChunkStepEnd, Usage: &usage})
			return func() *helix.Result { return e.complete(helix.CompletionStop, nil) }
		}
		if err := e.commit(true); err != nil {
			return e.failed(internalError(err))
		}
		e.emit(helix.Chunk{Type: helix.ChunkStepEnd, Usage: &usage})
		switch {
		case e.stopWhen(reply, nil, usage):
			return func() *helix.Result { return e.complete(helix.CompletionStopWhen, nil) }
		}
		return nil
	}
	return e.runJobs(e.classify(calls), usage, reply, nil)
}

func (e *execution) failed(err error) outcome {
	return func() *helix.Result { return e.fail(err) }
}

func (e *execution) stopWhen(reply llm.Message, results []llm.ToolResult, usage llm.Usage) bool {
	f := e.agent.StopWhen()
	return f != nil && f(helix.StepInfo{Step: e.step, Message: reply, ToolResults: results, Usage: usage, State: e.sess.State})
}

func (e *execution) addUsage(u llm.Usage) {
	e.run.Usage.Add(u)
	e.sess.Usage.Add(u)
}

// callModel streams one model call, emitting chunks as events arrive. On
// failure it returns what had arrived so far.
func (e *execution) callModel(req *llm.Request) (llm.Message, llm.Usage, error) {
	var (
		text, thinking strings.Builder
		parts          []llm.Part
		calls          []llm.Part
		usage          llm.Usage
	)
	assemble := func() llm.Message {
		m := llm.Message{Role: llm.RoleAssistant, Parts: parts}
		if text.Len() > 0 {
			m.Parts = append(m.Parts, llm.TextPart(text.String()))
		}
		m.Parts = append(m.Parts, calls...)
		return m
	}
	onRetry := func(attempt int, err error, wait time.Duration) {
		e.rt.log.Warn("model call failed; retrying", "session", e.sess.ID, "attempt", attempt, "wait", wait, "error", err)
	}
	for ev, err := range llm.StreamWithRetry(e.ctx, e.model, req, e.agent.RetryPolicy(), onRetry) {
		if err != nil {
			return assemble(), usage, err
		}
		switch ev.Type {
		case llm.EventTextDelta:
			text.WriteString(ev.Text)
			e.emit(helix.Chunk{Type: helix.ChunkTextDelta, Delta: ev.Text})
		case llm.EventThinkingDelta:
			thinking.WriteString(ev.Text)
			e.emit(helix.Chunk{Type: helix.ChunkThinking, Content: ev.Text})
		case llm.EventThinkingEnd:
			parts = append(parts, llm.Part{Type: llm.PartThinking, Text: thinking.String(), Signature: ev.Signature, Provider: ev.Provider, Redacted: ev.Redacted})
			e.emit(helix.Chunk{Type: helix.ChunkThinking, Content: thinking.String(), IsComplete: true})
			thinking.Reset()
		case llm.EventToolCallStart:
			e.emit(helix.Chunk{Type: helix.ChunkToolArgStreamStart, ToolCallID: ev.ToolCall.ID, ToolName: ev.ToolCall.Name})
		case llm.EventToolCallDelta:
			e.emit(helix.Chunk{Type: helix.ChunkToolArgStreamDelta, ToolCallID: ev.ToolCall.ID, ArgsDelta: ev.ArgsDelta})
		case llm.EventToolCall:
			c := ev.ToolCall
			calls = append(calls, llm.Part{Type: llm.PartToolCall, ToolCall: &c})
		case llm.EventUsage:
			usage = ev.Usage
		}
		if e.pollDue() {
			if r, err := e.rt.st.GetControl(e.ctx, e.sess.ID); err == nil && r != nil {
				e.cancel(&stopRequest{kind: r.Kind, reason: r.Reason})
			}
		}
	}
	if thinking.Len() > 0 { // a provider that never closed its block
		parts = append(parts, llm.Part{Type: llm.PartThinking, Text: thinking.String()})
	}
	if err := context.Cause(e.ctx); err != nil {
		return assemble(), usage, err
	}
	return assemble(), usage, nil
}

// stopMidStream keeps the partial reply (flagged interrupted, reasoning
// dropped), answers its tool calls with "not executed", and stops.
func (e *execution) stopMidStream(partial llm.Message, usage llm.Usage, cause error) outcome {
	var kept []llm.Part
	for _, p := range partial.Parts {
		if p.Type != llm.PartThinking {
			kept = append(kept, p)
		}
	}
	if len(kept) > 0 {
		partial.Parts, partial.Interrupted = kept, true
		e.addMessage(partial)
		for _, c := range partial.ToolCalls() {
			out, _ := json.Marshal("not executed: run stopped")
			e.addMessage(toolMessage(llm.ToolResult{ToolCallID: c.ID, ToolName: c.Name, Output: out, IsError: true}))
		}
	}
	e.addUsage(usage)
	e.emit(helix.Chunk{Type: helix.ChunkStepEnd, Usage: &usage})
	return e.stopFor(cause)
}

func toolMessage(r llm.ToolResult) llm.Message {
	return llm.Message{Role: llm.RoleTool, Parts: []llm.Part{{Type: llm.PartToolResult, ToolResult: &r}}}
}

type jobMode uint8

const (
	modeResult   jobMode = iota // the result is known
	modeExec                    // run a server tool
	modeSubAgent                // run (or resume) a sub-agent
	modePending                 // wait for an approval or a client
)

// job is one tool call of a step.
type job struct {
	call    llm.ToolCall
	tool    *helix.Tool
	mode    jobMode
	result  llm.ToolResult
	errText string
	// silent jobs emit nothing (their chunks went out before a suspension).
	silent    bool
	skipStart bool
	notified  bool // OnMessage already called for the result
	pending   *store.PendingCall
	finish    bool
	output    json.RawMessage
	patches   []helix.PatchOp
	usage     llm.Usage
	err       error // a hook failure: fails the run
}

// errorResult is a failed call's result: msg, cut to helix.MaxToolErrorLen
// bytes (a client tool's limit) at a character boundary.
func errorResult(call llm.ToolCall, msg string) llm.ToolResult {
	out, _ := json.Marshal(capError(msg))
	return llm.ToolResult{ToolCallID: call.ID, ToolName: call.Name, Output: out, IsError: true}
}

// capError cuts msg to helix.MaxToolErrorLen bytes at a character
// boundary.
func capError(msg string) string {
	if len(msg) <= helix.MaxToolErrorLen {
		return msg
	}
	msg = msg[:helix.MaxToolErrorLen]
	// Drop a last character the cut split (a valid U+FFFD stays).
	for i := 1; i <= utf8.UTFMax && i <= len(msg); i++ {
		if utf8.RuneStart(msg[len(msg)-i]) {
			if r, size := utf8.DecodeRuneInString(msg[len(msg)-i:]); r == utf8.RuneError && size == 1 {
				msg = msg[:len(msg)-i]
			}
			break
		}
	}
	return msg
}

// tooLarge is the error text of a result over helix.MaxToolResultSize, or
// "" if it is within the limit.
func tooLarge(what string, out json.RawMessage) string {
	if n := helix.ToolResultSize(out); n > helix.MaxToolResultSize {
		return fmt.Sprintf("%s is %d bytes once encoded, larger than %d bytes", what, n, helix.MaxToolResultSize)
	}
	return ""
}

var acknowledged = json.RawMessage(`{"acknowledged":true}`)

// classify decides what to do with each new tool call.
func (e *execution) classify(calls []llm.ToolCall) []*job {
	jobs := make([]*job, len(calls))
	for i, call := range calls {
		if len(bytes.TrimSpace(call.Arguments)) == 0 {
			call.Arguments = json.RawMessage("{}")
		}
		j := &job{call: call, tool: e.agent.Tool(call.Name)}
		jobs[i] = j
		t := j.tool
		if t == nil {
			msg := fmt.Sprintf("unknown tool %q", call.Name)
			j.result, j.errText = errorResult(call, msg), msg
			continue
		}
		if err := t.ValidateArguments(call.Arguments); err != nil {
			msg := err.Error()
			j.result, j.errText = errorResult(call, msg), msg
			continue
		}
		if call.Name == helix.FinishToolName {
			j.result = llm.ToolResult{ToolCallID: call.ID, ToolName: call.Name, Output: acknowledged}
			j.finish, j.output = true, compactJSON(call.Arguments)
			continue
		}
		switch t.Kind() {
		case helix.ToolClient:
			j.mode = modePending
			j.pending = &store.PendingCall{Kind: store.PendingClientTool, ToolCallID: call.ID, ToolName: call.Name,
				Arguments: call.Arguments, CreatedAt: e.rt.now()}
			continue
		case helix.ToolSubAgent:
			j.mode = modeSubAgent
		default:
			j.mode = modeExec
		}
		need, err := t.NeedsApproval(call.Arguments)
		if err != nil {
			msg := "approval check failed: " + e.rt.scrub(err.Error())
			j.mode, j.result, j.errText = modeResult, errorResult(call, msg), msg
			continue
		}
		if need {
			j.mode = modePending
			j.pending = &store.PendingCall{Kind: store.PendingApproval, ToolCallID: call.ID, ToolName: call.Name,
				Arguments: call.Arguments, ArgsDigest: digest(compactJSON(call.Arguments)), ApprovalID: e.rt.newID("appr_"), CreatedAt: e.rt.now()}
		}
	}
	return jobs
}

func compactJSON(raw json.RawMessage) json.RawMessage {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return raw
	}
	return b.Bytes()
}

// drain continues a suspended step: answered calls run or get their
// results, children resume.
func (e *execution) drain(sus *store.Suspension) outcome {
	e.step = sus.Step
	byID := map[string]*store.PendingCall{}
	for i := range sus.Pending {
		byID[sus.Pending[i].ToolCallID] = &sus.Pending[i]
	}
	jobs := make([]*job, len(sus.Calls))
	for i, call := range sus.Calls {
		j := &job{call: call, tool: e.agent.Tool(call.Name)}
		jobs[i] = j
		if r, ok := sus.Results[call.ID]; ok {
			j.result, j.silent, j.notified = r, true, true
			if j.tool != nil && j.tool.IsFinish() && !r.IsError {
				j.finish, j.output = true, r.Output
				if call.Name == helix.FinishToolName {
					j.output = compactJSON(call.Arguments)
				}
			}
			continue
		}
		p := byID[call.ID]
		if p == nil || j.tool == nil { // cannot happen with a consistent record
			j.result = errorResult(call, "not executed: run stopped")
			continue
		}
		j.pending = p
		switch {
		case p.Kind == store.PendingSubAgent:
			j.mode = modeSubAgent
		case p.Resolution == nil:
			j.mode, j.silent = modePending, true
		case p.Kind == store.PendingApproval && !p.Resolution.Approved:
			msg := "The user denied this tool call."
			if p.Resolution.Reason != "" {
				msg += " Reason: " + p.Resolution.Reason
			}
			j.result, j.errText = errorResult(call, msg), "denied"
		case p.Kind == store.PendingApproval:
			// Compared compacted: a store may keep the arguments as the model
			// sent them or re-encode them (SQLite's JSON columns do).
			args := compactJSON(call.Arguments)
			if digest(args) != p.ArgsDigest || !bytes.Equal(args, compactJSON(p.Arguments)) {
				j.result, j.errText = errorResult(call, "approval does not match the call's arguments"), "approval mismatch"
				continue
			}
			j.mode = modeExec
			if j.tool.Kind() == helix.ToolSubAgent {
				j.mode = modeSubAgent
			}
		case p.Kind == store.PendingClientTool:
			j.skipStart = true
			if p.Resolution.Error != "" {
				j.result, j.errText = errorResult(call, p.Resolution.Error), p.Resolution.Error
			} else {
				j.result = llm.ToolResult{ToolCallID: call.ID, ToolName: call.Name, Output: p.Resolution.Result}
			}
		}
	}
	reply := llm.Message{Role: llm.RoleAssistant}
	for _, c := range sus.Calls {
		c := c
		reply.Parts = append(reply.Parts, llm.Part{Type: llm.PartToolCall, ToolCall: &c})
	}
	return e.runJobs(jobs, llm.Usage{}, reply, sus.Patches)
}

// ordered forwards the chunks of parallel jobs in the jobs' order: job i's
// chunks go out live while every job before it has finished, and are held
// until then otherwise.
type ordered struct {
	mu   sync.Mutex
	head int               // guarded by mu
	bufs [][]helix.Chunk   // guarded by mu
	done []bool            // guarded by mu
	sink func(helix.Chunk) // called with mu held
}

func (o *ordered) send(i int, c helix.Chunk) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if i == o.head {
		o.sink(c)
		return
	}
	o.bufs[i] = append(o.bufs[i], c)
}

func (o *ordered) finish(i int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.done[i] = true
	for o.head < len(o.done) && o.done[o.head] {
		o.head++
		if o.head < len(o.done) {
			for _, c := range o.bufs[o.head] {
				o.sink(c)
			}
			o.bufs[o.head] = nil
		}
	}
}

// runJobs runs a step's tool calls (in parallel where they run code), then
// commits the step or suspends it.
func (e *execution) runJobs(jobs []*job, usage llm.Usage, reply llm.Message, prior []helix.PatchOp) outcome {
	o := &ordered{bufs: make([][]helix.Chunk, len(jobs)), done: make([]bool, len(jobs)), sink: e.append}
	parallel := 0
	for _, j := range jobs {
		if j.mode == modeExec || j.mode == modeSubAgent {
			parallel++
		}
	}
	var wg sync.WaitGroup
	for i, j := range jobs {
		if parallel > 1 && (j.mode == modeExec || j.mode == modeSubAgent) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				e.runJob(o, i, j)
			}()
			continue
		}
		e.runJob(o, i, j)
	}
	wg.Wait()

	var (
		pending bool
		results = make([]llm.ToolResult, 0, len(jobs))
		patches = prior
	)
	for _, j := range jobs {
		usage.Add(j.usage)
		patches = append(patches, j.patches...)
		if j.err != nil {
			e.addUsage(usage)
			return e.failed(j.err)
		}
		if j.mode == modePending {
			pending = true
		}
	}
	if pending {
		sus := &store.Suspension{Step: e.step, Results: map[string]llm.ToolResult{}, Patches: patches}
		for _, j := range jobs {
			sus.Calls = append(sus.Calls, j.call)
			if j.mode == modePending {
				sus.Pending = append(sus.Pending, *j.pending)
			} else {
				sus.Results[j.call.ID] = j.result
			}
		}
		e.addUsage(usage)
		e.sess.Suspension = sus
		e.emit(helix.Chunk{Type: helix.ChunkStepEnd, Usage: &usage})
		if cause := context.Cause(e.ctx); cause != nil {
			return e.stopFor(cause)
		}
		return func() *helix.Result { return e.suspend(sus) }
	}
	hc := e.hookContext()
	var finish *job
	for _, j := range jobs {
		results = append(results, j.result)
		m := toolMessage(j.result)
		e.addMessage(m)
		if !j.notified {
			if err := e.hooks.OnMessage(e.ctx, hc, m); err != nil {
				return e.failed(err)
			}
		}
		if j.finish && finish == nil {
			finish = j
		}
	}
	if len(patches) > 0 {
		state, err := helix.ApplyPatches(e.sess.State, patches)
		if err != nil {
			return e.failed(internalError(fmt.Errorf("merge state: %w", err)))
		}
		e.sess.State = state
	}
	e.sess.Suspension = nil
	e.addUsage(usage)
	if err := e.commit(true); err != nil {
		return e.failed(internalError(err))
	}
	e.emit(helix.Chunk{Type: helix.ChunkStepEnd, Usage: &usage})
	switch {
	case finish != nil:
		reason := helix.CompletionOutput
		if e.forced {
			reason = helix.CompletionMaxSteps
		}
		return func() *helix.Result { return e.complete(reason, finish.output) }
	case e.stopWhen(reply, results, usage):
		return func() *helix.Result { return e.complete(helix.CompletionStopWhen, nil) }
	}
	return nil
}

// runJob runs one job, sending its chunks through o.
func (e *execution) runJob(o *ordered, i int, j *job) {
	defer o.finish(i)
	defer func() {
		if p := recover(); p != nil {
			j.err = internalError(fmt.Errorf("tool %q: panic: %v", j.call.Name, p))
		}
	}()
	send := func(c helix.Chunk) {
		e.stamp(&c)
		o.send(i, c)
	}
	switch j.mode {
	case modeResult:
		if j.silent {
			return
		}
		if !j.skipStart {
			send(helix.Chunk{Type: helix.ChunkToolStart, ToolCallID: j.call.ID, ToolName: j.call.Name, Arguments: j.call.Arguments})
		}
		send(toolEnd(j))
	case modePending:
		if j.silent {
			return
		}
		p := j.pending
		if p.Kind == store.PendingApproval {
			send(helix.Chunk{Type: helix.ChunkToolApprovalRequest, ToolCallID: p.ToolCallID, ToolName: p.ToolName, ApprovalID: p.ApprovalID, Input: p.Arguments})
		} else {
			send(helix.Chunk{Type: helix.ChunkClientToolRequest, ToolCallID: p.ToolCallID, ToolName: p.ToolName, Input: p.Arguments})
		}
	case modeExec:
		e.execTool(j, send)
	case modeSubAgent:
		e.runSubAgent(o, i, j, send)
	}
}

func toolEnd(j *job) helix.Chunk {
	return helix.Chunk{Type: helix.ChunkToolEnd, ToolCallID: j.call.ID, ToolName: j.call.Name, Result: j.result.Output,
		Success: !j.result.IsError, ToolError: capError(j.errText)}
}

// execTool runs a server tool with the hooks in the canonical order:
// BeforeTool → execute → OnStateChange → OnMessage → AfterTool.
func (e *execution) execTool(j *job, send func(helix.Chunk)) {
	call := j.call
	hc := e.hookContext()
	hc.Emit = func(name string, data json.RawMessage) {
		send(helix.Chunk{Type: helix.ChunkCustom, EventName: name, Data: data})
	}
	send(helix.Chunk{Type: helix.ChunkToolStart, ToolCallID: call.ID, ToolName: call.Name, Arguments: call.Arguments})
	if j.err = e.hooks.BeforeTool(e.ctx, hc, call); j.err != nil {
		return
	}
	tc := helix.NewToolContext(helix.CallInfo{SessionID: e.sess.ID, Principal: e.sess.Principal, RunID: e.run.ID, AgentType: e.agent.Name(),
		ToolCallID: call.ID, ToolName: call.Name, Step: e.step}, e.sess.State, hc.Emit)
	out, err := j.tool.ExecuteValidated(e.ctx, tc, call.Arguments)
	if err != nil {
		msg := e.rt.scrub(err.Error())
		var pe *helix.PanicError
		if errors.As(err, &pe) {
			e.rt.log.Error("tool panicked", "session", e.sess.ID, "tool", call.Name, "panic", pe.Value, "stack", string(pe.Stack))
			msg = "the tool failed unexpectedly"
		}
		j.result, j.errText = errorResult(call, msg), msg
	} else if msg := tooLarge("the tool's result", out); msg != "" {
		// The limit a client tool's result has: a server tool's result is
		// stored, streamed and sent to the model just the same.
		j.result, j.errText = errorResult(call, msg), msg
	} else {
		j.result = llm.ToolResult{ToolCallID: call.ID, ToolName: call.Name, Output: out}
		if j.tool.IsFinish() {
			j.finish, j.output = true, out
		}
	}
	j.usage = tc.Usage()
	if j.patches = tc.Patches(); len(j.patches) > 0 {
		send(helix.Chunk{Type: helix.ChunkStatePatch, Patches: j.patches})
		if j.err = e.hooks.OnStateChange(e.ctx, hc, j.patches); j.err != nil {
			return
		}
	}
	send(toolEnd(j))
	j.notified = true
	if j.err = e.hooks.OnMessage(e.ctx, hc, toolMessage(j.result)); j.err != nil {
		return
	}
	j.err = e.hooks.AfterTool(e.ctx, hc, call, j.result)
}

// runSubAgent runs (or resumes) a child agent in its own session; its chunks
// are forwarded between subagent_start and subagent_end.
func (e *execution) runSubAgent(o *ordered, i int, j *job, send func(helix.Chunk)) {
	call, child := j.call, j.tool.SubAgent()
	childID := e.sess.ID + "." + call.ID
	if j.pending != nil && j.pending.ChildSessionID != "" {
		childID = j.pending.ChildSessionID
	}
	hc := e.hookContext()
	// Like any tool call, the sub-agent call starts with tool_start (its
	// tool_end follows subagent_end).
	send(helix.Chunk{Type: helix.ChunkToolStart, ToolCallID: call.ID, ToolName: call.Name, Arguments: call.Arguments})
	if j.err = e.hooks.BeforeSubAgent(e.ctx, hc, call, childID); j.err != nil {
		return
	}
	send(helix.Chunk{Type: helix.ChunkSubagentStart, ToolCallID: call.ID, ChildSessionID: childID, ChildAgentType: child.Name()})
	res, err := e.rt.runChild(e, child, childID, call, func(c helix.Chunk) {
		c.Sequence = 0
		o.send(i, c)
	})
	if err != nil {
		e.rt.log.Error("sub-agent", "session", e.sess.ID, "child", childID, "error", err)
		res = &helix.Result{Status: helix.StatusFailed, Error: &helix.ErrorInfo{Code: helix.CodeInternal, Message: "internal error"}}
	}
	j.usage = res.Usage
	send(helix.Chunk{Type: helix.ChunkSubagentEnd, ToolCallID: call.ID, ChildSessionID: childID, ChildAgentType: child.Name(),
		Output: res.Output, Status: res.Status})
	switch {
	case res.Status == helix.StatusCompleted:
		j.result = llm.ToolResult{ToolCallID: call.ID, ToolName: call.Name, Output: res.Output}
		if len(res.Output) == 0 {
			j.result.Output = json.RawMessage("null")
		} else if msg := tooLarge("the sub-agent's output", res.Output); msg != "" {
			j.result, j.errText = errorResult(call, msg), msg
		}
	case res.Status == helix.StatusFailed:
		msg := "the sub-agent failed"
		if res.Error != nil {
			msg += ": " + res.Error.Message
		}
		j.result, j.errText = errorResult(call, msg), msg
	default: // suspended or interrupted: the parent waits for it
		j.mode = modePending
		j.pending = &store.PendingCall{Kind: store.PendingSubAgent, ToolCallID: call.ID, ToolName: call.Name,
			Arguments: call.Arguments, ChildSessionID: childID, CreatedAt: e.rt.now()}
	}
	if j.err = e.hooks.AfterSubAgent(e.ctx, hc, call, childID, res.Status, res.Output); j.err != nil {
		return
	}
	if j.mode != modePending {
		send(toolEnd(j))
		j.notified = true
		j.err = e.hooks.OnMessage(e.ctx, hc, toolMessage(j.result))
	}
}

// runChild runs a sub-agent's session synchronously: a new session for a
// first call, a resume for a suspended or interrupted child, or the stored
// outcome of a child that already ended.
func (r *Runtime) runChild(parent *execution, child *helix.Agent, childID string, call llm.ToolCall, fwd func(helix.Chunk)) (*helix.Result, error) {
	ctx := context.WithoutCancel(parent.ctx)
	sess, err := r.st.GetSession(ctx, childID)
	spec := startSpec{parent: parent}
	switch {
	case errors.Is(err, store.ErrNotFound):
		var in helix.SubAgentInput
		_ = json.Unmarshal(call.Arguments, &in)
		state, err := child.InitialState(nil)
		if err != nil {
			return nil, err
		}
		now := r.now()
		sess = &store.Session{ID: childID, AgentType: child.Name(), Principal: parent.sess.Principal,
			ParentSessionID: parent.sess.ID, ParentToolCallID: call.ID, Status: helix.StatusCompleted,
			State: state, CreatedAt: now, UpdatedAt: now}
		if err := r.st.CreateSession(ctx, sess); err != nil {
			return nil, err
		}
		sess.Version = 1
		msg := llm.UserMessage(in.Message)
		spec.kind, spec.message, spec.userMsg = startExecute, in.Message, &msg
		spec.input = helix.Input{Message: in.Message}
	case err != nil:
		return nil, err
	case sess.ParentSessionID != parent.sess.ID || sess.ParentToolCallID != call.ID ||
		sess.Principal != parent.sess.Principal || sess.AgentType != child.Name():
		// Not this call's child: a session someone else created under the
		// id this call's child would have. It is neither resumed nor
		// reported as the child's outcome.
		return nil, fmt.Errorf("local: sub-agent session %q exists but is not the child of session %q call %q",
			childID, parent.sess.ID, call.ID)
	case sess.Status == helix.StatusRunning && !r.isActive(childID):
		// Cut off by a crash with its parent, which is being re-driven
		// (Retry): so is the child, from its own last checkpoint.
		spec.kind = startRetry
	case sess.Status.Suspended() || sess.Status == helix.StatusInterrupted:
		ready, err := r.ready(ctx, sess)
		if err != nil {
			return nil, err
		}
		if !ready {
			return &helix.Result{SessionID: sess.ID, Status: sess.Status}, nil
		}
		spec.kind = startResume
	default: // completed or failed already
		return &helix.Result{SessionID: sess.ID, Status: sess.Status, Output: sess.Output, Error: sess.Error}, nil
	}
	e, err := r.prepare(ctx, child, sess, spec)
	if err != nil {
		return nil, err
	}
	e.fwd = fwd
	return e.execute(), nil
}
