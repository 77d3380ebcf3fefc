package chat

import (
	"encoding/json"
	"fmt"
	"strings"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/llm"
)

// The framing of a UI message stream response.
const (
	// HeaderName and HeaderValue mark a response as a UI message stream;
	// the AI SDK's own servers send them.
	HeaderName  = "x-vercel-ai-ui-message-stream"
	HeaderValue = "v1"
	// Done is the data of the last event of a stream.
	Done = "[DONE]"
)

// Finish reasons of a finish part (the AI SDK's FinishReason values).
const (
	FinishStop      = "stop"
	FinishToolCalls = "tool-calls"
	FinishError     = "error"
	FinishOther     = "other"
)

// Part is one UI message stream chunk (the AI SDK's UIMessageChunk). Only
// the fields of its Type are set; its JSON (encoding/json) is the wire
// form, with no raw line break in it.
type Part struct {
	Type            string          `json:"type"`
	ID              string          `json:"id,omitempty"`
	MessageID       string          `json:"messageId,omitempty"`
	Delta           string          `json:"delta,omitempty"`
	ToolCallID      string          `json:"toolCallId,omitempty"`
	ToolName        string          `json:"toolName,omitempty"`
	InputTextDelta  string          `json:"inputTextDelta,omitempty"`
	Input           json.RawMessage `json:"input,omitempty"`
	Output          json.RawMessage `json:"output,omitempty"`
	ApprovalID      string          `json:"approvalId,omitempty"`
	ErrorText       string          `json:"errorText,omitempty"`
	Data            json.RawMessage `json:"data,omitempty"`
	FinishReason    string          `json:"finishReason,omitempty"`
	MessageMetadata *FinishMetadata `json:"messageMetadata,omitempty"`
}

// FinishMetadata is the messageMetadata of a finish part: the run that
// ended and how. The AI SDK merges it into the assistant message's
// metadata.
type FinishMetadata struct {
	SessionID        string       `json:"sessionId"`
	RunID            string       `json:"runId"`
	Status           helix.Status `json:"status"`
	CompletionReason string       `json:"completionReason,omitempty"`
	Usage            *llm.Usage   `json:"usage,omitempty"`
}

// SubagentData is the data of a data-subagent part. The part's id is the
// parent's tool call id, so the end replaces the start in the message.
type SubagentData struct {
	ToolCallID     string          `json:"toolCallId"`
	ChildSessionID string          `json:"childSessionId"`
	ChildAgentType string          `json:"childAgentType"`
	Status         string          `json:"status"` // "running", then the child's status
	Output         json.RawMessage `json:"output,omitempty"`
}

// Options configure an [Encoder]. The zero value suits a stream that starts
// a new assistant message.
type Options struct {
	// SessionID is the session whose chunks are mapped; chunks of other
	// sessions (forwarded from sub-agents) are skipped. Default: the
	// session of the first chunk.
	SessionID string
	// MessageID is the assistant message the first run continues (the id
	// of the assistant message a request answered). Default: "msg_" + the
	// run id. A later run of the stream that resumes without a new user
	// message continues the same message.
	MessageID string
	// Announced are tool calls the client already has parts for (those of
	// the assistant message a request answered): their input is not sent
	// again, only their outcome.
	Announced []string
	// Denied are tool calls whose approval the client denied: their
	// outcome is tool-output-denied.
	Denied []string
}

// Encoder maps the chunks of one stream to UI message stream parts. It is
// stateful (open text and reasoning blocks, announced tool calls) and not
// safe for concurrent use. The zero value is not usable; use [NewEncoder].
type Encoder struct {
	session   string
	firstMsg  string
	messageID string
	runOpen   bool
	stepOpen  bool
	text      string // id of the open text block, or ""
	reasoning string // id of the open reasoning block, or ""
	rsnText   strings.Builder
	n         int
	announced map[string]bool // tool-input-available sent or known to the client
	streaming map[string]bool // tool-input-start sent, input not yet available
	approvals map[string]bool // approval requested in this stream
	denied    map[string]bool
}

// NewEncoder returns an encoder for one stream.
func NewEncoder(opts Options) *Encoder {
	e := &Encoder{
		session:   opts.SessionID,
		firstMsg:  opts.MessageID,
		announced: map[string]bool{},
		streaming: map[string]bool{},
		approvals: map[string]bool{},
		denied:    map[string]bool{},
	}
	for _, id := range opts.Announced {
		e.announced[id] = true
	}
	for _, id := range opts.Denied {
		e.denied[id] = true
	}
	return e
}

// MessageID returns the id of the assistant message being built ("" before
// the first run_start).
func (e *Encoder) MessageID() string { return e.messageID }

// Encode returns the parts for c, in order; often none or one. The parts
// own no memory of c's that c's owner may change later, except the
// json.RawMessage payloads, which are shared.
func (e *Encoder) Encode(c helix.Chunk) []Part {
	if e.session == "" {
		e.session = c.SessionID
	}
	if c.SessionID != "" && c.SessionID != e.session {
		return e.child(c)
	}
	if c.ToolName == helix.FinishToolName {
		return nil // the synthetic finish tool: its output is data-output
	}
	var out []Part
	switch c.Type {
	case helix.ChunkRunStart:
		if e.runOpen {
			out = e.endRun(out)
		}
		switch {
		case e.messageID == "" && e.firstMsg != "":
			e.messageID = e.firstMsg
		case e.messageID == "" || !c.Resumed || c.Message != "":
			e.messageID = "msg_" + c.RunID
		}
		e.runOpen = true
		out = append(out, Part{Type: "start", MessageID: e.messageID})
	case helix.ChunkStepStart:
		out = e.closeBlocks(out)
		if e.stepOpen {
			out = append(out, Part{Type: "finish-step"})
		}
		e.stepOpen = true
		out = append(out, Part{Type: "start-step"})
	case helix.ChunkStepEnd:
		out = e.endStep(out)
	case helix.ChunkTextDelta:
		if c.Delta == "" {
			return nil
		}
		out = e.closeReasoning(out)
		if e.text == "" {
			e.text = e.blockID("txt", c.Step)
			out = append(out, Part{Type: "text-start", ID: e.text})
		}
		out = append(out, Part{Type: "text-delta", ID: e.text, Delta: c.Delta})
	case helix.ChunkThinking:
		out = e.thinking(out, c)
	case helix.ChunkToolArgStreamStart:
		if e.announced[c.ToolCallID] || e.streaming[c.ToolCallID] {
			return nil
		}
		out = e.closeBlocks(out)
		e.streaming[c.ToolCallID] = true
		out = append(out, Part{Type: "tool-input-start", ToolCallID: c.ToolCallID, ToolName: c.ToolName})
	case helix.ChunkToolArgStreamDelta:
		if !e.streaming[c.ToolCallID] || c.ArgsDelta == "" {
			return nil
		}
		out = append(out, Part{Type: "tool-input-delta", ToolCallID: c.ToolCallID, InputTextDelta: c.ArgsDelta})
	case helix.ChunkToolStart:
		out = e.announce(e.closeBlocks(out), c.ToolCallID, c.ToolName, c.Arguments)
	case helix.ChunkToolApprovalRequest:
		out = e.announce(e.closeBlocks(out), c.ToolCallID, c.ToolName, c.Input)
		e.approvals[c.ToolCallID] = true
		out = append(out, Part{Type: "tool-approval-request", ApprovalID: c.ApprovalID, ToolCallID: c.ToolCallID})
	case helix.ChunkClientToolRequest:
		out = e.announce(e.closeBlocks(out), c.ToolCallID, c.ToolName, c.Input)
	case helix.ChunkToolEnd:
		out = e.announce(e.closeBlocks(out), c.ToolCallID, c.ToolName, nil)
		out = append(out, e.toolOutcome(c))
	case helix.ChunkSubagentStart, helix.ChunkSubagentEnd:
		d := SubagentData{ToolCallID: c.ToolCallID, ChildSessionID: c.ChildSessionID, ChildAgentType: c.ChildAgentType, Status: "running"}
		if c.Type == helix.ChunkSubagentEnd {
			d.Status, d.Output = string(c.Status), jsonOrNil(c.Output)
		}
		out = append(out, dataPart("data-subagent", c.ToolCallID, d))
	case helix.ChunkStatePatch:
		patches := c.Patches
		if patches == nil {
			patches = []helix.PatchOp{}
		}
		out = append(out, dataPart("data-state-patch", "", struct {
			Patches []helix.PatchOp `json:"patches"`
		}{patches}))
	case helix.ChunkCustom:
		out = append(out, Part{Type: "data-" + DataName(c.EventName), Data: jsonOrNull(c.Data)})
	case helix.ChunkOutput:
		out = append(out, Part{Type: "data-output", Data: jsonOrNull(c.Output)})
	case helix.ChunkError:
		msg := "An error occurred."
		if c.Error != nil && c.Error.Message != "" {
			msg = c.Error.Message
		}
		out = append(out, Part{Type: "error", ErrorText: msg})
	case helix.ChunkRunEnd:
		out = e.endStep(out)
		e.runOpen = false
		out = append(out, Part{Type: "finish", FinishReason: finishReason(c.Status), MessageMetadata: &FinishMetadata{
			SessionID: c.SessionID, RunID: c.RunID, Status: c.Status, CompletionReason: c.CompletionReason, Usage: c.Usage,
		}})
	}
	return out
}

// Close returns the parts that end a stream cut short before its run_end:
// open blocks are closed and the run finished (without a reason). It
// returns nothing after a run_end.
func (e *Encoder) Close() []Part {
	if !e.runOpen {
		return nil
	}
	return e.endRun(nil)
}

func (e *Encoder) endRun(out []Part) []Part {
	out = e.endStep(out)
	e.runOpen = false
	return append(out, Part{Type: "finish"})
}

func (e *Encoder) endStep(out []Part) []Part {
	out = e.closeBlocks(out)
	if e.stepOpen {
		e.stepOpen = false
		out = append(out, Part{Type: "finish-step"})
	}
	return out
}

func (e *Encoder) thinking(out []Part, c helix.Chunk) []Part {
	out = e.closeText(out)
	if !c.IsComplete {
		if c.Content == "" {
			return out
		}
		if e.reasoning == "" {
			e.reasoning = e.blockID("rsn", c.Step)
			e.rsnText.Reset()
			out = append(out, Part{Type: "reasoning-start", ID: e.reasoning})
		}
		e.rsnText.WriteString(c.Content)
		return append(out, Part{Type: "reasoning-delta", ID: e.reasoning, Delta: c.Content})
	}
	// The complete chunk carries the whole block: send what the deltas
	// have not.
	if e.reasoning == "" {
		if c.Content == "" {
			return out
		}
		e.reasoning = e.blockID("rsn", c.Step)
		e.rsnText.Reset()
		out = append(out, Part{Type: "reasoning-start", ID: e.reasoning})
	}
	if rest, ok := strings.CutPrefix(c.Content, e.rsnText.String()); ok && rest != "" {
		out = append(out, Part{Type: "reasoning-delta", ID: e.reasoning, Delta: rest})
	}
	return e.closeReasoning(out)
}

func (e *Encoder) blockID(prefix string, step int) string {
	e.n++
	return fmt.Sprintf("%s_%d_%d", prefix, step, e.n)
}

func (e *Encoder) closeBlocks(out []Part) []Part {
	return e.closeReasoning(e.closeText(out))
}

func (e *Encoder) closeText(out []Part) []Part {
	if e.text != "" {
		out = append(out, Part{Type: "text-end", ID: e.text})
		e.text = ""
	}
	return out
}

func (e *Encoder) closeReasoning(out []Part) []Part {
	if e.reasoning != "" {
		out = append(out, Part{Type: "reasoning-end", ID: e.reasoning})
		e.reasoning = ""
		e.rsnText.Reset()
	}
	return out
}

// ChildCallID is the tool-call id under which the UI stream shows a call
// that a sub-agent's session childSessionID asks the client to answer (an
// approval or a client tool): the child's session id, a slash, and the
// call's own id. Session ids never contain a slash, so [SplitChildCallID]
// takes it apart again.
func ChildCallID(childSessionID, toolCallID string) string {
	return childSessionID + "/" + toolCallID
}

// SplitChildCallID returns the child session and call of an id made by
// [ChildCallID]; ok is false for an ordinary call id.
func SplitChildCallID(id string) (childSessionID, toolCallID string, ok bool) {
	child, call, ok := strings.Cut(id, "/")
	if !ok || child == "" || call == "" {
		return "", "", false
	}
	return child, call, true
}

// child maps a sub-agent's chunk, forwarded into this stream. The child's
// own work stays out of the message; only the calls it needs the client
// for are shown, as tool parts of this message: an approval request or a
// client-tool call, and later that call's outcome.
func (e *Encoder) child(c helix.Chunk) []Part {
	id := ChildCallID(c.SessionID, c.ToolCallID)
	var out []Part
	switch c.Type {
	case helix.ChunkToolApprovalRequest:
		out = e.announce(e.closeBlocks(out), id, c.ToolName, c.Input)
		e.approvals[id] = true
		out = append(out, Part{Type: "tool-approval-request", ApprovalID: c.ApprovalID, ToolCallID: id})
	case helix.ChunkClientToolRequest:
		out = e.announce(e.closeBlocks(out), id, c.ToolName, c.Input)
	case helix.ChunkToolEnd:
		if !e.announced[id] {
			return nil // a call the child ran by itself
		}
		c.ToolCallID = id
		out = append(e.closeBlocks(out), e.toolOutcome(c))
	}
	return out
}

// announce sends tool-input-available once per call (the client's tool part
// must exist before its approval request or outcome).
func (e *Encoder) announce(out []Part, id, name string, input json.RawMessage) []Part {
	if e.announced[id] {
		return out
	}
	e.announced[id] = true
	delete(e.streaming, id)
	return append(out, Part{Type: "tool-input-available", ToolCallID: id, ToolName: name, Input: jsonOrNull(input)})
}

func (e *Encoder) toolOutcome(c helix.Chunk) Part {
	switch {
	case c.Success:
		return Part{Type: "tool-output-available", ToolCallID: c.ToolCallID, Output: jsonOrNull(c.Result)}
	case e.denied[c.ToolCallID] || (e.approvals[c.ToolCallID] && c.ToolError == "denied"):
		return Part{Type: "tool-output-denied", ToolCallID: c.ToolCallID}
	}
	msg := c.ToolError
	if msg == "" {
		var s string
		if json.Unmarshal(c.Result, &s) == nil && s != "" {
			msg = s
		} else {
			msg = "The tool failed."
		}
	}
	return Part{Type: "tool-output-error", ToolCallID: c.ToolCallID, ErrorText: msg}
}

func finishReason(st helix.Status) string {
	switch {
	case st == helix.StatusCompleted:
		return FinishStop
	case st == helix.StatusFailed:
		return FinishError
	case st.Suspended():
		return FinishToolCalls
	}
	return FinishOther
}

// DataName turns a custom event name into the name of a data part
// ("data-" + name): characters other than [A-Za-z0-9_-] become "_", the
// result is at most 64 bytes, and an empty name is "custom".
func DataName(name string) string {
	if name == "" {
		return "custom"
	}
	b := []byte(name)
	if len(b) > 64 {
		b = b[:64]
	}
	for i, c := range b {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_', c == '-':
		default:
			b[i] = '_'
		}
	}
	return string(b)
}

var null = json.RawMessage("null")

// jsonOrNull returns v if it is valid JSON, else null: a part must always
// marshal.
func jsonOrNull(v json.RawMessage) json.RawMessage {
	if len(v) == 0 || !json.Valid(v) {
		return null
	}
	return v
}

func jsonOrNil(v json.RawMessage) json.RawMessage {
	if len(v) == 0 || !json.Valid(v) {
		return nil
	}
	return v
}

func dataPart(typ, id string, v any) Part {
	data, err := json.Marshal(v)
	if err != nil {
		data = null
	}
	return Part{Type: typ, ID: id, Data: data}
}
