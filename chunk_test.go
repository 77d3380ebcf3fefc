package helix_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/llm"
)

func TestChunkJSONRoundTrip(t *testing.T) {
	u := &llm.Usage{PromptTokens: 3, CompletionTokens: 4, TotalTokens: 7}
	chunks := []helix.Chunk{
		{Type: helix.ChunkRunStart, Message: "hi\nthere\u2028<b>", Resumed: true},
		{Type: helix.ChunkTextDelta, Delta: "tab\there \"quoted\" \x01"},
		{Type: helix.ChunkThinking, Content: "hmm", IsComplete: true},
		{Type: helix.ChunkToolStart, ToolCallID: "c1", ToolName: "t", Arguments: json.RawMessage(`{"a":1}`)},
		{Type: helix.ChunkToolEnd, ToolCallID: "c1", ToolName: "t", Result: json.RawMessage(`"x"`), ToolError: "bad"},
		{Type: helix.ChunkToolApprovalRequest, ToolCallID: "c1", ToolName: "t", ApprovalID: "a1", Input: json.RawMessage(`{}`)},
		{Type: helix.ChunkSubagentEnd, ToolCallID: "c1", ChildSessionID: "s.c1", ChildAgentType: "k", Output: json.RawMessage(`{"s":1}`), Status: helix.StatusCompleted},
		{Type: helix.ChunkStatePatch, Patches: []helix.PatchOp{{Op: "add", Path: "/items/-", Value: json.RawMessage(`"a"`)}}},
		{Type: helix.ChunkCustom, EventName: "e", Data: json.RawMessage(`[1,2]`)},
		{Type: helix.ChunkError, Error: &helix.ErrorInfo{Code: "model_error", Category: "llm", Message: "m", Retryable: true}},
		{Type: helix.ChunkRunEnd, Status: helix.StatusCompleted, CompletionReason: "stop", Usage: u},
	}
	for _, c := range chunks {
		c.SessionID, c.RunID, c.AgentType, c.Step, c.Timestamp, c.Sequence = "s", "r", "a", 2, 1700000000000, 9
		raw, err := json.Marshal(c)
		if err != nil {
			t.Fatalf("%s: %v", c.Type, err)
		}
		if bytes.ContainsAny(raw, "\r\n") || bytes.Contains(raw, []byte("\u2028")) {
			t.Errorf("%s: raw line break in %s", c.Type, raw)
		}
		if !json.Valid(raw) {
			t.Fatalf("%s: invalid JSON %s", c.Type, raw)
		}
		var back helix.Chunk
		if err := json.Unmarshal(raw, &back); err != nil {
			t.Fatalf("%s: %v", c.Type, err)
		}
		if c.Type == helix.ChunkTextDelta {
			c.Delta = "tab\there \"quoted\" \x01"
		}
		if !reflect.DeepEqual(back, c) {
			t.Errorf("%s: round trip\n got %+v\nwant %+v\njson %s", c.Type, back, c, raw)
		}
	}
}

func TestChunkWireFields(t *testing.T) {
	// tool_end always carries success, even when false; run_end always usage.
	raw, _ := json.Marshal(helix.Chunk{Type: helix.ChunkToolEnd, ToolCallID: "c", ToolName: "t", Result: json.RawMessage(`1`)})
	var m map[string]any
	json.Unmarshal(raw, &m)
	if v, ok := m["success"]; !ok || v != false {
		t.Errorf("tool_end without success: %s", raw)
	}
	if _, ok := m["sequence"]; ok {
		t.Errorf("an unstored chunk has no sequence: %s", raw)
	}
	raw, _ = json.Marshal(helix.Chunk{Type: helix.ChunkRunEnd, Status: helix.StatusFailed})
	json.Unmarshal(raw, &m)
	if _, ok := m["usage"]; !ok {
		t.Errorf("run_end without usage: %s", raw)
	}
}

func FuzzChunkJSON(f *testing.F) {
	f.Add([]byte(`{"type":"run_start","input":"hi","resumed":true}`))
	f.Add([]byte(`{"type":"tool_end","result":{"a":[1]},"success":false,"error":"x"}`))
	f.Add([]byte(`{"type":"error","error":{"code":"c","category":"k","message":"m","retryable":true}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var c helix.Chunk
		if json.Unmarshal(data, &c) != nil {
			return
		}
		raw, err := json.Marshal(c)
		if err != nil {
			return
		}
		if bytes.ContainsAny(raw, "\r\n") {
			t.Fatalf("raw line break in %q", raw)
		}
		var back helix.Chunk
		if err := json.Unmarshal(raw, &back); err != nil {
			t.Fatalf("re-decoding %s: %v", raw, err)
		}
	})
}
