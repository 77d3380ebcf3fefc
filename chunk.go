package helix

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"

	"github.com/helix-agents/helix-go/internal/jsonpatch"
	"github.com/helix-agents/helix-go/llm"
)

// ChunkType discriminates a [Chunk].
type ChunkType string

// Chunk types of the stream wire format (DESIGN §4).
const (
	ChunkRunStart            ChunkType = "run_start"
	ChunkStepStart           ChunkType = "step_start"
	ChunkStepEnd             ChunkType = "step_end"
	ChunkTextDelta           ChunkType = "text_delta"
	ChunkThinking            ChunkType = "thinking"
	ChunkToolArgStreamStart  ChunkType = "tool_arg_stream_start"
	ChunkToolArgStreamDelta  ChunkType = "tool_arg_stream_delta"
	ChunkToolStart           ChunkType = "tool_start"
	ChunkToolEnd             ChunkType = "tool_end"
	ChunkToolApprovalRequest ChunkType = "tool_approval_request"
	ChunkClientToolRequest   ChunkType = "client_tool_request"
	ChunkSubagentStart       ChunkType = "subagent_start"
	ChunkSubagentEnd         ChunkType = "subagent_end"
	ChunkStatePatch          ChunkType = "state_patch"
	ChunkCustom              ChunkType = "custom"
	ChunkOutput              ChunkType = "output"
	ChunkError               ChunkType = "error"
	ChunkRunEnd              ChunkType = "run_end"
)

// Chunk is one event of a session's stream. Only the fields of its Type are
// meaningful; JSON encoding writes exactly the fields DESIGN §4 lists for the
// type. Sequence is assigned by the store when the chunk is appended.
type Chunk struct {
	Type      ChunkType
	SessionID string
	RunID     string
	AgentType string
	Step      int
	Timestamp int64 // Unix milliseconds
	Sequence  int64

	// run_start
	Message string // the new user message, if any ("input" on the wire)
	Resumed bool

	// text_delta; thinking
	Delta      string
	Content    string
	IsComplete bool

	// tool chunks
	ToolCallID string
	ToolName   string
	ArgsDelta  string
	Arguments  json.RawMessage // tool_start
	Input      json.RawMessage // tool_approval_request, client_tool_request
	ApprovalID string
	Result     json.RawMessage // tool_end
	Success    bool            // tool_end
	ToolError  string          // tool_end "error"

	// subagent_start / subagent_end
	ChildSessionID string
	ChildAgentType string

	// state_patch
	Patches []PatchOp

	// custom
	EventName string
	Data      json.RawMessage

	// output, subagent_end
	Output json.RawMessage

	// error
	Error *ErrorInfo

	// run_end, subagent_end
	Status           Status
	CompletionReason string
	Usage            *llm.Usage // step_end, run_end
}

// PatchOp is one RFC 6902 JSON Patch operation.
type PatchOp = jsonpatch.Op

// ErrorInfo is the sanitised description of a failure carried by an error
// chunk and by run status. It never holds a stack trace or a secret.
type ErrorInfo struct {
	Code      string `json:"code"`
	Category  string `json:"category"`
	Message   string `json:"message"`
	Retryable bool   `json:"retryable"`
}

// MarshalJSON writes the wire form of c: the common fields and the fields of
// its type.
func (c Chunk) MarshalJSON() ([]byte, error) {
	return c.AppendJSON(make([]byte, 0, 256))
}

// AppendJSON appends the wire form of c to b.
func (c *Chunk) AppendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"type":`...)
	b = strconv.AppendQuote(b, string(c.Type))
	b = appendStr(b, "sessionId", c.SessionID)
	b = appendStr(b, "runId", c.RunID)
	b = appendStr(b, "agentType", c.AgentType)
	b = append(b, `,"step":`...)
	b = strconv.AppendInt(b, int64(c.Step), 10)
	b = append(b, `,"timestamp":`...)
	b = strconv.AppendInt(b, c.Timestamp, 10)
	if c.Sequence != 0 {
		b = append(b, `,"sequence":`...)
		b = strconv.AppendInt(b, c.Sequence, 10)
	}
	var err error
	switch c.Type {
	case ChunkRunStart:
		if c.Message != "" {
			b = appendStr(b, "input", c.Message)
		}
		b = appendBool(b, "resumed", c.Resumed)
	case ChunkStepEnd:
		b, err = appendValue(b, "usage", usageOrZero(c.Usage))
	case ChunkTextDelta:
		b = appendStr(b, "delta", c.Delta)
	case ChunkThinking:
		b = appendStr(b, "content", c.Content)
		b = appendBool(b, "isComplete", c.IsComplete)
	case ChunkToolArgStreamStart:
		b = appendStr(b, "toolCallId", c.ToolCallID)
		b = appendStr(b, "toolName", c.ToolName)
	case ChunkToolArgStreamDelta:
		b = appendStr(b, "toolCallId", c.ToolCallID)
		b = appendStr(b, "argsDelta", c.ArgsDelta)
	case ChunkToolStart:
		b = appendStr(b, "toolCallId", c.ToolCallID)
		b = appendStr(b, "toolName", c.ToolName)
		b = appendRaw(b, "arguments", c.Arguments)
	case ChunkToolEnd:
		b = appendStr(b, "toolCallId", c.ToolCallID)
		b = appendStr(b, "toolName", c.ToolName)
		b = appendRaw(b, "result", c.Result)
		b = appendBool(b, "success", c.Success)
		if c.ToolError != "" {
			b = appendStr(b, "error", c.ToolError)
		}
	case ChunkToolApprovalRequest:
		b = appendStr(b, "toolCallId", c.ToolCallID)
		b = appendStr(b, "toolName", c.ToolName)
		b = appendStr(b, "approvalId", c.ApprovalID)
		b = appendRaw(b, "input", c.Input)
	case ChunkClientToolRequest:
		b = appendStr(b, "toolCallId", c.ToolCallID)
		b = appendStr(b, "toolName", c.ToolName)
		b = appendRaw(b, "input", c.Input)
	case ChunkSubagentStart, ChunkSubagentEnd:
		b = appendStr(b, "toolCallId", c.ToolCallID)
		b = appendStr(b, "childSessionId", c.ChildSessionID)
		b = appendStr(b, "childAgentType", c.ChildAgentType)
		if c.Type == ChunkSubagentEnd {
			b = appendRaw(b, "output", c.Output)
			b = appendStr(b, "status", string(c.Status))
		}
	case ChunkStatePatch:
		b, err = appendValue(b, "patches", c.Patches)
	case ChunkCustom:
		b = appendStr(b, "eventName", c.EventName)
		b = appendRaw(b, "data", c.Data)
	case ChunkOutput:
		b = appendRaw(b, "output", c.Output)
	case ChunkError:
		b, err = appendValue(b, "error", c.Error)
	case ChunkRunEnd:
		b = appendStr(b, "status", string(c.Status))
		if c.CompletionReason != "" {
			b = appendStr(b, "completionReason", c.CompletionReason)
		}
		b, err = appendValue(b, "usage", usageOrZero(c.Usage))
	}
	return append(b, '}'), err
}

func usageOrZero(u *llm.Usage) *llm.Usage {
	if u == nil {
		return &llm.Usage{}
	}
	return u
}

func appendStr(b []byte, key, v string) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return appendJSONString(b, v)
}

func appendBool(b []byte, key string, v bool) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return strconv.AppendBool(b, v)
}

func appendRaw(b []byte, key string, v json.RawMessage) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	if len(v) == 0 {
		return append(b, "null"...)
	}
	if bytes.ContainsAny(v, "\r\n\t ") {
		// A payload must never hold a raw line break (it would split an
		// SSE event); compacting also drops the other insignificant space.
		n := len(b)
		var buf bytes.Buffer
		if json.Compact(&buf, v) == nil {
			return append(b[:n], buf.Bytes()...)
		}
	}
	return append(b, v...)
}

func appendValue(b []byte, key string, v any) ([]byte, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return b, err
	}
	return appendRaw(b, key, raw), nil
}

// appendJSONString appends s as a JSON string. Like encoding/json it escapes
// <, >, & and U+2028/U+2029, so a payload never contains a raw line break.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < 0x80 {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		// U+2028 and U+2029 are E2 80 A8/A9; invalid UTF-8 becomes U+FFFD.
		if c == 0xE2 && i+2 < len(s) && s[i+1] == 0x80 && s[i+2]&^1 == 0xA8 {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[s[i+2]&0xF])
			i += 3
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// chunkWire is the decoding form of a Chunk.
type chunkWire struct {
	Type             ChunkType       `json:"type"`
	SessionID        string          `json:"sessionId"`
	RunID            string          `json:"runId"`
	AgentType        string          `json:"agentType"`
	Step             int             `json:"step"`
	Timestamp        int64           `json:"timestamp"`
	Sequence         int64           `json:"sequence"`
	Input            json.RawMessage `json:"input"`
	Resumed          bool            `json:"resumed"`
	Usage            *llm.Usage      `json:"usage"`
	Delta            string          `json:"delta"`
	Content          string          `json:"content"`
	IsComplete       bool            `json:"isComplete"`
	ToolCallID       string          `json:"toolCallId"`
	ToolName         string          `json:"toolName"`
	ArgsDelta        string          `json:"argsDelta"`
	Arguments        json.RawMessage `json:"arguments"`
	ApprovalID       string          `json:"approvalId"`
	Result           json.RawMessage `json:"result"`
	Success          bool            `json:"success"`
	Error            json.RawMessage `json:"error"`
	ChildSessionID   string          `json:"childSessionId"`
	ChildAgentType   string          `json:"childAgentType"`
	Patches          []PatchOp       `json:"patches"`
	EventName        string          `json:"eventName"`
	Data             json.RawMessage `json:"data"`
	Output           json.RawMessage `json:"output"`
	Status           Status          `json:"status"`
	CompletionReason string          `json:"completionReason"`
}

// UnmarshalJSON reads the wire form written by MarshalJSON. Chunks as
// MarshalJSON writes them take a fast path that allocates only the strings
// and payloads; anything else (unknown keys, nulls, numbers that are not
// plain integers…) is decoded by encoding/json, with the same result.
func (c *Chunk) UnmarshalJSON(data []byte) error {
	if decodeChunkFast(c, data) {
		return nil
	}
	return c.unmarshalStd(data)
}

// unmarshalStd decodes data with encoding/json.
func (c *Chunk) unmarshalStd(data []byte) error {
	var w chunkWire
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	*c = Chunk{
		Type: w.Type, SessionID: w.SessionID, RunID: w.RunID, AgentType: w.AgentType,
		Step: w.Step, Timestamp: w.Timestamp, Sequence: w.Sequence, Resumed: w.Resumed,
		Usage: w.Usage, Delta: w.Delta, Content: w.Content, IsComplete: w.IsComplete,
		ToolCallID: w.ToolCallID, ToolName: w.ToolName, ArgsDelta: w.ArgsDelta,
		Arguments: nonNull(w.Arguments), ApprovalID: w.ApprovalID, Result: nonNull(w.Result), Success: w.Success,
		ChildSessionID: w.ChildSessionID, ChildAgentType: w.ChildAgentType, Patches: w.Patches,
		EventName: w.EventName, Data: nonNull(w.Data), Output: nonNull(w.Output), Status: w.Status,
		CompletionReason: w.CompletionReason,
	}
	return c.setInputAndError(nonNull(w.Input), nonNull(w.Error))
}

// nonNull returns nil for an absent or null raw value.
func nonNull(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	return raw
}

// setInputAndError sets the fields whose wire key depends on the type:
// "input" is the run's message on run_start and a tool's input elsewhere;
// "error" is an ErrorInfo on error chunks and a tool's error string
// elsewhere.
func (c *Chunk) setInputAndError(input, errRaw json.RawMessage) error {
	if input != nil {
		if c.Type == ChunkRunStart {
			if err := json.Unmarshal(input, &c.Message); err != nil {
				return err
			}
		} else {
			c.Input = input
		}
	}
	if errRaw != nil {
		if c.Type == ChunkError {
			c.Error = new(ErrorInfo)
			if err := json.Unmarshal(errRaw, c.Error); err != nil {
				return err
			}
		} else if err := json.Unmarshal(errRaw, &c.ToolError); err != nil {
			return err
		}
	}
	return nil
}
