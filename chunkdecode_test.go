package helix

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/helix-agents/helix-go/llm"
)

// sampleChunks has one chunk of every type, with escapes, unicode and
// payloads, as the encoder writes them.
func sampleChunks() []Chunk {
	common := Chunk{SessionID: "s-1 ü", RunID: "run-1", AgentType: "researcher", Step: 3, Timestamp: 1700000000123, Sequence: 42}
	with := func(t ChunkType, set func(*Chunk)) Chunk {
		c := common
		c.Type = t
		set(&c)
		return c
	}
	return []Chunk{
		with(ChunkRunStart, func(c *Chunk) { c.Message = "héllo \"world\"\n👋"; c.Resumed = true }),
		with(ChunkStepStart, func(*Chunk) {}),
		with(ChunkTextDelta, func(c *Chunk) { c.Delta = "line\r\n\ttab <b>&</b> \u2028 \\ / \x01" }),
		with(ChunkThinking, func(c *Chunk) { c.Content = "hmm"; c.IsComplete = true }),
		with(ChunkToolArgStreamStart, func(c *Chunk) { c.ToolCallID = "call_1"; c.ToolName = "search" }),
		with(ChunkToolArgStreamDelta, func(c *Chunk) { c.ToolCallID = "call_1"; c.ArgsDelta = `{"q":"gö` }),
		with(ChunkToolStart, func(c *Chunk) {
			c.ToolCallID = "call_1"
			c.ToolName = "search"
			c.Arguments = json.RawMessage(`{"q":"go","n":[1,2.5e3,null,true]}`)
		}),
		with(ChunkToolEnd, func(c *Chunk) {
			c.ToolCallID = "call_1"
			c.ToolName = "search"
			c.Result = json.RawMessage(`"ok"`)
			c.ToolError = "boom\n"
		}),
		with(ChunkToolApprovalRequest, func(c *Chunk) {
			c.ToolCallID = "c"
			c.ToolName = "rm"
			c.ApprovalID = "a"
			c.Input = json.RawMessage(`{"path":"/x"}`)
		}),
		with(ChunkClientToolRequest, func(c *Chunk) { c.ToolCallID = "c"; c.ToolName = "pick"; c.Input = json.RawMessage(`{}`) }),
		with(ChunkSubagentStart, func(c *Chunk) { c.ToolCallID = "c"; c.ChildSessionID = "s-1.c"; c.ChildAgentType = "kid" }),
		with(ChunkSubagentEnd, func(c *Chunk) {
			c.ToolCallID = "c"
			c.ChildSessionID = "s-1.c"
			c.ChildAgentType = "kid"
			c.Output = json.RawMessage(`{"a":1}`)
			c.Status = StatusCompleted
		}),
		with(ChunkStatePatch, func(c *Chunk) {
			c.Patches = []PatchOp{{Op: "add", Path: "/notes/-", Value: json.RawMessage(`"x"`)}}
		}),
		with(ChunkCustom, func(c *Chunk) { c.EventName = "progress"; c.Data = json.RawMessage(`[1,{"b":"c"}]`) }),
		with(ChunkStepEnd, func(c *Chunk) { c.Usage = &llm.Usage{PromptTokens: 1, CompletionTokens: 2, TotalTokens: 3} }),
		with(ChunkError, func(c *Chunk) { c.Error = &ErrorInfo{Code: "x", Category: "y", Message: "z", Retryable: true} }),
		with(ChunkOutput, func(c *Chunk) { c.Output = json.RawMessage(`42`) }),
		with(ChunkRunEnd, func(c *Chunk) {
			c.Status = StatusFailed
			c.CompletionReason = "error"
			c.Usage = &llm.Usage{TotalTokens: 9}
		}),
	}
}

// TestChunkDecodeFastPath checks that what the encoder writes takes the
// fast path and decodes exactly as encoding/json does.
func TestChunkDecodeFastPath(t *testing.T) {
	for _, c := range sampleChunks() {
		raw, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		var fast, std Chunk
		if !decodeChunkFast(&fast, raw) {
			t.Errorf("%s: the encoder's output did not take the fast path: %s", c.Type, raw)
			continue
		}
		if err := std.unmarshalStd(raw); err != nil {
			t.Fatalf("%s: %v", c.Type, err)
		}
		if !reflect.DeepEqual(fast, std) {
			t.Errorf("%s: fast decode differs from encoding/json:\nfast %+v\nstd  %+v", c.Type, fast, std)
		}
	}
}

func TestChunkDecodeFallback(t *testing.T) {
	for _, in := range []string{
		`{"Type":"text_delta","delta":"x"}`,              // case-insensitive key
		`{"type":"text_delta","step":1.0}`,               // not a plain integer
		`{"type":"tool_start","arguments":null}`,         // null
		`{"type":"text_delta","delta":"\ud800"}`,         // lone surrogate
		`{"type":"text_delta","delta":"a\xffb"}`,         // invalid UTF-8
		`{"type":"text_delta","extra":{"x":1},"step":2}`, // unknown key
	} {
		var fast Chunk
		if decodeChunkFast(&fast, []byte(in)) {
			t.Errorf("fast path accepted %s; it must leave such input to encoding/json", in)
		}
	}
}

func BenchmarkChunkUnmarshal(b *testing.B) {
	raw, _ := json.Marshal(Chunk{Type: ChunkTextDelta, SessionID: "session-123", RunID: "run-1", AgentType: "assistant",
		Step: 1, Timestamp: 1700000000000, Sequence: 99, Delta: "Hello, wor"})
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var c Chunk
			if err := c.UnmarshalJSON(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var c Chunk
			if err := c.unmarshalStd(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// FuzzChunkDecode checks the fast path against encoding/json: whenever the
// fast path accepts an input, encoding/json must accept it too and decode
// the same chunk.
func FuzzChunkDecode(f *testing.F) {
	for _, c := range sampleChunks() {
		raw, _ := json.Marshal(c)
		f.Add(raw)
	}
	f.Add([]byte(`{"type":"text_delta","delta":"\u00e9\ud83d\ude00"}`))
	f.Add([]byte(` { "type" : "x" , "step" : -0 } `))
	f.Fuzz(func(t *testing.T, data []byte) {
		var fast, std Chunk
		if !decodeChunkFast(&fast, data) {
			return
		}
		if err := std.unmarshalStd(data); err != nil {
			t.Fatalf("fast path accepted %q, encoding/json rejects it: %v", data, err)
		}
		if !reflect.DeepEqual(fast, std) {
			t.Fatalf("decodes differ for %q:\nfast %+v\nstd  %+v", data, fast, std)
		}
	})
}
