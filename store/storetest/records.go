package storetest

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/llm"
	"github.com/helix-agents/helix-go/store"
)

// This file builds records with every field set, for round trips.

// patches returns a JSON Patch list built from its wire form, so that the
// suite does not depend on the layout of helix.PatchOp.
func patches(t testing.TB) []helix.PatchOp {
	t.Helper()
	var ops []helix.PatchOp
	const wire = `[{"op":"replace","path":"/count","value":4},{"op":"add","path":"/tags/-","value":"c"},{"op":"remove","path":"/nested/ok"}]`
	if err := json.Unmarshal([]byte(wire), &ops); err != nil {
		t.Fatalf("decoding test patches: %v", err)
	}
	return ops
}

func fullSuspension(t testing.TB) *store.Suspension {
	return &store.Suspension{
		Step: 3,
		Calls: []llm.ToolCall{
			{ID: "call-1", Name: "search", Arguments: json.RawMessage(`{"q":"go generics"}`)},
			{ID: "call-2", Name: "delete_file", Arguments: json.RawMessage(`{"path":"/tmp/x"}`)},
			{ID: "call-3", Name: "pick_color", Arguments: json.RawMessage(`{}`)},
			{ID: "call-4", Name: "sub_research", Arguments: json.RawMessage(`{"topic":"rust"}`)},
		},
		Results: map[string]llm.ToolResult{
			"call-1": {ToolCallID: "call-1", ToolName: "search", Output: json.RawMessage(`["a","b"]`)},
		},
		Pending: []store.PendingCall{
			{Kind: store.PendingApproval, ToolCallID: "call-2", ToolName: "delete_file",
				Arguments: json.RawMessage(`{"path":"/tmp/x"}`), ArgsDigest: "sha256:abc", ApprovalID: "appr-1",
				Resolution: &store.Resolution{Approved: true, Reason: "looks fine", At: base.Add(2 * time.Second)},
				CreatedAt:  base.Add(time.Second)},
			{Kind: store.PendingClientTool, ToolCallID: "call-3", ToolName: "pick_color",
				Arguments: json.RawMessage(`{}`),
				Resolution: &store.Resolution{Result: json.RawMessage(`{"color":"red"}`), Error: "partial",
					At: base.Add(3 * time.Second)},
				CreatedAt: base.Add(time.Second)},
			{Kind: store.PendingSubAgent, ToolCallID: "call-4", ToolName: "sub_research",
				Arguments: json.RawMessage(`{"topic":"rust"}`), ChildSessionID: "child-1", CreatedAt: base.Add(time.Second)},
		},
		Patches: patches(t),
	}
}

// fullSession returns a session with every field set (but Version, which
// the store assigns, and MessageCount, which must match the messages).
func fullSession(t testing.TB, id string) *store.Session {
	return &store.Session{
		ID:               id,
		AgentType:        "researcher",
		Principal:        "user-1",
		ParentSessionID:  "parent-1",
		ParentToolCallID: "call-9",
		Status:           helix.StatusSuspendedApproval,
		State:            json.RawMessage(`{"topic":"go","count":3,"tags":["a","b"],"nested":{"ok":true},"n":1.5}`),
		Output:           json.RawMessage(`{"answer":42}`),
		Error:            &helix.ErrorInfo{Code: "tool_failed", Category: "tool", Message: "boom", Retryable: true},
		StepCount:        4,
		CurrentRunID:     "run-1",
		RunCount:         1,
		Aborted:          true,
		AbortReason:      "user asked",
		Suspension:       fullSuspension(t),
		Usage:            llm.Usage{PromptTokens: 100, CompletionTokens: 20, ReasoningTokens: 5, CachedTokens: 50, TotalTokens: 120},
		Metadata:         map[string]string{"team": "core", "empty": "", "k/with:odd chars": "v"},
		CreatedAt:        base,
		UpdatedAt:        base.Add(time.Second),
	}
}

// allPartsMessages returns messages using every part type, including file
// bytes of every byte value.
func allPartsMessages() []llm.Message {
	data := make([]byte, 256)
	for i := range data {
		data[i] = byte(i)
	}
	return []llm.Message{
		{Role: llm.RoleUser, Parts: []llm.Part{
			llm.TextPart("What is in this picture?"),
			{Type: llm.PartFile, File: &llm.File{MediaType: "image/png", Name: "pixel.png", Data: data}},
		}},
		{Role: llm.RoleAssistant, Parts: []llm.Part{
			{Type: llm.PartThinking, Text: "Let me look it up.", Signature: "c2lnbmF0dXJl"},
			llm.TextPart("Searching."),
			{Type: llm.PartToolCall, ToolCall: &llm.ToolCall{ID: "call-1", Name: "search", Arguments: json.RawMessage(`{"q":"pixel"}`)}},
		}},
		{Role: llm.RoleTool, Parts: []llm.Part{
			{Type: llm.PartToolResult, ToolResult: &llm.ToolResult{ToolCallID: "call-1", ToolName: "search",
				Output: json.RawMessage(`"a single red pixel"`), IsError: true}},
		}},
		{Role: llm.RoleAssistant, Parts: []llm.Part{llm.TextPart("It is a red pi")}, Interrupted: true},
	}
}

// textMessages returns n user messages "m<from>", "m<from+1>", …
func textMessages(from, n int) []llm.Message {
	out := make([]llm.Message, n)
	for i := range out {
		out[i] = llm.UserMessage("m" + itoa(from+i))
	}
	return out
}

func itoa(i int) string { return strconv.Itoa(i) }

func fullRun(id string) *store.Run {
	return &store.Run{
		ID: id, SessionID: "ignored-by-some", Turn: 1, Status: helix.StatusFailed, StepCount: 2,
		StartSequence: 7, CompletionReason: helix.CompletionMaxSteps, Resumed: true,
		Error:     &helix.ErrorInfo{Code: "model_error", Category: "model", Message: "rate limited"},
		Usage:     llm.Usage{PromptTokens: 10, CompletionTokens: 5, TotalTokens: 15},
		StartedAt: base, EndedAt: base.Add(time.Minute),
	}
}

func fullCheckpoint(t testing.TB, id, runID string, step int) *store.Checkpoint {
	return &store.Checkpoint{
		ID: id, RunID: runID, Step: step, Status: helix.StatusSuspendedClientTool,
		State:        json.RawMessage(`{"step":` + itoa(step) + `}`),
		MessageCount: 4,
		Usage:        llm.Usage{PromptTokens: 1, CompletionTokens: 2, TotalTokens: 3},
		Suspension:   fullSuspension(t),
		Output:       json.RawMessage(`"done"`),
		Error:        &helix.ErrorInfo{Code: "c", Category: "x", Message: "m"},
		CreatedAt:    base.Add(time.Duration(step) * time.Second),
	}
}

// allChunks returns chunks of many types, each with exactly the fields its
// type carries on the wire.
func allChunks(t testing.TB, id string) []helix.Chunk {
	common := func(typ helix.ChunkType) helix.Chunk {
		return helix.Chunk{Type: typ, SessionID: id, RunID: "run-1", AgentType: "researcher", Step: 1, Timestamp: base.UnixMilli()}
	}
	var out []helix.Chunk
	add := func(typ helix.ChunkType, set func(c *helix.Chunk)) {
		c := common(typ)
		if set != nil {
			set(&c)
		}
		out = append(out, c)
	}
	add(helix.ChunkRunStart, func(c *helix.Chunk) { c.Message = "hello"; c.Resumed = true })
	add(helix.ChunkStepStart, nil)
	add(helix.ChunkThinking, func(c *helix.Chunk) { c.Content = "pondering"; c.IsComplete = true })
	add(helix.ChunkTextDelta, func(c *helix.Chunk) { c.Delta = "Hel" })
	add(helix.ChunkToolArgStreamStart, func(c *helix.Chunk) { c.ToolCallID = "call-1"; c.ToolName = "search" })
	add(helix.ChunkToolArgStreamDelta, func(c *helix.Chunk) { c.ToolCallID = "call-1"; c.ArgsDelta = `{"q":` })
	add(helix.ChunkToolStart, func(c *helix.Chunk) {
		c.ToolCallID = "call-1"
		c.ToolName = "search"
		c.Arguments = json.RawMessage(`{"q":"go"}`)
	})
	add(helix.ChunkToolEnd, func(c *helix.Chunk) {
		c.ToolCallID = "call-1"
		c.ToolName = "search"
		c.Result = json.RawMessage(`{"hits":3}`)
		c.ToolError = "partial failure"
	})
	add(helix.ChunkToolApprovalRequest, func(c *helix.Chunk) {
		c.ToolCallID = "call-2"
		c.ToolName = "delete_file"
		c.ApprovalID = "appr-1"
		c.Input = json.RawMessage(`{"path":"/tmp/x"}`)
	})
	add(helix.ChunkClientToolRequest, func(c *helix.Chunk) {
		c.ToolCallID = "call-3"
		c.ToolName = "pick_color"
		c.Input = json.RawMessage(`{}`)
	})
	add(helix.ChunkSubagentStart, func(c *helix.Chunk) {
		c.ToolCallID = "call-4"
		c.ChildSessionID = "child-1"
		c.ChildAgentType = "researcher"
	})
	add(helix.ChunkSubagentEnd, func(c *helix.Chunk) {
		c.ToolCallID = "call-4"
		c.ChildSessionID = "child-1"
		c.ChildAgentType = "researcher"
		c.Output = json.RawMessage(`{"summary":"ok"}`)
		c.Status = helix.StatusCompleted
	})
	add(helix.ChunkStatePatch, func(c *helix.Chunk) { c.Patches = patches(t) })
	add(helix.ChunkCustom, func(c *helix.Chunk) { c.EventName = "progress"; c.Data = json.RawMessage(`{"pct":50}`) })
	add(helix.ChunkStepEnd, func(c *helix.Chunk) { c.Usage = &llm.Usage{PromptTokens: 3, CompletionTokens: 4, TotalTokens: 7} })
	add(helix.ChunkError, func(c *helix.Chunk) {
		c.Error = &helix.ErrorInfo{Code: "tool_failed", Category: "tool", Message: "boom", Retryable: true}
	})
	add(helix.ChunkOutput, func(c *helix.Chunk) { c.Output = json.RawMessage(`{"answer":42}`) })
	add(helix.ChunkRunEnd, func(c *helix.Chunk) {
		c.Status = helix.StatusCompleted
		c.CompletionReason = helix.CompletionOutput
		c.Usage = &llm.Usage{PromptTokens: 30, CompletionTokens: 40, TotalTokens: 70}
	})
	return out
}
