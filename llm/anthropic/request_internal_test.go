package anthropic

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/helix-agents/helix-go/llm"
)

func ptr[T any](v T) *T { return &v }

var weather = llm.ToolSpec{
	Name:        "get_weather",
	Description: "Get the weather.",
	InputSchema: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`),
}

const weatherJSON = `{"name":"get_weather","description":"Get the weather.","input_schema":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}`

func call(id, args string) llm.Part {
	return llm.Part{Type: llm.PartToolCall, ToolCall: &llm.ToolCall{ID: id, Name: "get_weather", Arguments: json.RawMessage(args)}}
}

func result(id, output string, isErr bool) llm.Message {
	return llm.Message{Role: llm.RoleTool, Parts: []llm.Part{{Type: llm.PartToolResult,
		ToolResult: &llm.ToolResult{ToolCallID: id, ToolName: "get_weather", Output: json.RawMessage(output), IsError: isErr}}}}
}

// TestParams checks the JSON body (without "stream", which the SDK adds)
// each request maps to.
func TestParams(t *testing.T) {
	user := llm.UserMessage("hi")
	for _, tc := range []struct {
		name string
		req  llm.Request
		want string
	}{
		{
			name: "minimal",
			req:  llm.Request{Messages: []llm.Message{user}},
			want: `{"model":"claude-sonnet-4-5","max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}`,
		},
		{
			name: "settings",
			req: llm.Request{System: "Be brief.", Messages: []llm.Message{user}, Settings: llm.Settings{
				Model: "claude-opus-4-1", Temperature: ptr(0.2), TopP: ptr(0.9), MaxOutputTokens: 100,
				StopSequences: []string{"END"}, Seed: ptr(int64(7)),
			}},
			want: `{"model":"claude-opus-4-1","max_tokens":100,"temperature":0.2,"top_p":0.9,"stop_sequences":["END"],
				"system":[{"type":"text","text":"Be brief."}],
				"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}`,
		},
		{
			name: "thinking budget drops temperature",
			req:  llm.Request{Messages: []llm.Message{user}, Settings: llm.Settings{ThinkingBudget: 2000, Temperature: ptr(0.5)}},
			want: `{"model":"claude-sonnet-4-5","max_tokens":6096,"thinking":{"type":"enabled","budget_tokens":2000},
				"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}`,
		},
		{
			name: "thinking budget with explicit max tokens",
			req:  llm.Request{Messages: []llm.Message{user}, Settings: llm.Settings{ThinkingBudget: 1024, MaxOutputTokens: 4096, ReasoningEffort: "high"}},
			want: `{"model":"claude-sonnet-4-5","max_tokens":4096,"thinking":{"type":"enabled","budget_tokens":1024},
				"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}`,
		},
		{
			name: "forced tool choice drops thinking",
			req: llm.Request{Messages: []llm.Message{user}, Tools: []llm.ToolSpec{weather},
				ToolChoice: llm.ToolChoice{Mode: llm.ToolChoiceTool, Name: "get_weather"}, Settings: llm.Settings{ThinkingBudget: 2000}},
			want: `{"model":"claude-sonnet-4-5","max_tokens":4096,"tool_choice":{"type":"tool","name":"get_weather"},"tools":[` + weatherJSON + `],
				"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}`,
		},
		{
			name: "effort medium",
			req:  llm.Request{Messages: []llm.Message{user}, Settings: llm.Settings{ReasoningEffort: "medium"}},
			want: `{"model":"claude-sonnet-4-5","max_tokens":8192,"thinking":{"type":"enabled","budget_tokens":4096},
				"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}`,
		},
		{
			name: "effort high shrunk below max tokens",
			req:  llm.Request{Messages: []llm.Message{user}, Settings: llm.Settings{ReasoningEffort: "high", MaxOutputTokens: 2000}},
			want: `{"model":"claude-sonnet-4-5","max_tokens":2000,"thinking":{"type":"enabled","budget_tokens":1999},
				"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}`,
		},
		{
			name: "effort low does not fit",
			req:  llm.Request{Messages: []llm.Message{user}, Settings: llm.Settings{ReasoningEffort: "low", MaxOutputTokens: 500, Temperature: ptr(1.0)}},
			want: `{"model":"claude-sonnet-4-5","max_tokens":500,"temperature":1,
				"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}`,
		},
		{
			name: "effort minimal is no thinking",
			req:  llm.Request{Messages: []llm.Message{user}, Settings: llm.Settings{ReasoningEffort: "minimal"}},
			want: `{"model":"claude-sonnet-4-5","max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}`,
		},
		{
			name: "thinking preserved across turns",
			req: llm.Request{Messages: []llm.Message{
				user,
				{Role: llm.RoleAssistant, Parts: []llm.Part{
					llm.TextPart("Checking."),
					{Type: llm.PartThinking, Text: "The user wants weather.", Signature: "EqQBCgIYAh", Provider: "anthropic"},
					{Type: llm.PartThinking, Redacted: true, Signature: "EmwKAhgBEgy3va3pzix"}, // untagged: stored before tags
					{Type: llm.PartThinking, Text: "unsigned, from another provider"},
					{Type: llm.PartThinking, Text: "signed by Gemini", Signature: "c2lnbmF0dXJlLTE=", Provider: "gemini"},
					call("toolu_1", `{"city":"Paris"}`),
				}},
				result("toolu_1", `"sunny"`, false),
			}},
			want: `{"model":"claude-sonnet-4-5","max_tokens":4096,"messages":[
				{"role":"user","content":[{"type":"text","text":"hi"}]},
				{"role":"assistant","content":[
					{"type":"thinking","thinking":"The user wants weather.","signature":"EqQBCgIYAh"},
					{"type":"redacted_thinking","data":"EmwKAhgBEgy3va3pzix"},
					{"type":"text","text":"Checking."},
					{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city":"Paris"}}]},
				{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"sunny"}]}]}]}`,
		},
		{
			name: "tool results merged",
			req: llm.Request{Messages: []llm.Message{
				user,
				{Role: llm.RoleAssistant, Parts: []llm.Part{call("t1", `{"city":"Paris"}`), call("t2", `"{\"city\": \"Tok"`)}},
				result("t1", `{"tempC":18}`, false),
				result("t2", `"bad arguments"`, true),
				llm.UserMessage("and now?"),
			}},
			want: `{"model":"claude-sonnet-4-5","max_tokens":4096,"messages":[
				{"role":"user","content":[{"type":"text","text":"hi"}]},
				{"role":"assistant","content":[
					{"type":"tool_use","id":"t1","name":"get_weather","input":{"city":"Paris"}},
					{"type":"tool_use","id":"t2","name":"get_weather","input":{}}]},
				{"role":"user","content":[
					{"type":"tool_result","tool_use_id":"t1","content":[{"type":"text","text":"{\"tempC\":18}"}]},
					{"type":"tool_result","tool_use_id":"t2","is_error":true,"content":[{"type":"text","text":"bad arguments"}]},
					{"type":"text","text":"and now?"}]}]}`,
		},
		{
			name: "tool results first in a merged user turn",
			req: llm.Request{Messages: []llm.Message{
				user,
				{Role: llm.RoleAssistant, Parts: []llm.Part{call("t1", `{"city":"Paris"}`), call("t2", `{"city":"Rome"}`)}},
				{Role: llm.RoleUser, Parts: []llm.Part{llm.TextPart("note"), result("t1", `"sunny"`, false).Parts[0]}},
				llm.UserMessage("also"),
				result("t2", `"rain"`, false),
			}},
			want: `{"model":"claude-sonnet-4-5","max_tokens":4096,"messages":[
				{"role":"user","content":[{"type":"text","text":"hi"}]},
				{"role":"assistant","content":[
					{"type":"tool_use","id":"t1","name":"get_weather","input":{"city":"Paris"}},
					{"type":"tool_use","id":"t2","name":"get_weather","input":{"city":"Rome"}}]},
				{"role":"user","content":[
					{"type":"tool_result","tool_use_id":"t1","content":[{"type":"text","text":"sunny"}]},
					{"type":"tool_result","tool_use_id":"t2","content":[{"type":"text","text":"rain"}]},
					{"type":"text","text":"note"},
					{"type":"text","text":"also"}]}]}`,
		},
		{
			name: "empty parts and messages dropped",
			req: llm.Request{Messages: []llm.Message{
				{Role: llm.RoleUser, Parts: []llm.Part{llm.TextPart(""), llm.TextPart("hi")}},
				{Role: llm.RoleAssistant, Parts: []llm.Part{llm.TextPart("")}, Interrupted: true},
				result("t1", `""`, false),
			}},
			want: `{"model":"claude-sonnet-4-5","max_tokens":4096,"messages":[
				{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1"},{"type":"text","text":"hi"}]}]}`,
		},
		{
			name: "files",
			req: llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{
				{Type: llm.PartFile, File: &llm.File{MediaType: "image/png", Data: []byte("png")}},
				{Type: llm.PartFile, File: &llm.File{MediaType: "application/pdf", Name: "report.pdf", Data: []byte("%PDF")}},
				{Type: llm.PartFile, File: &llm.File{MediaType: "text/plain; charset=utf-8", Data: []byte("notes")}},
				llm.TextPart("Summarise."),
			}}}},
			want: `{"model":"claude-sonnet-4-5","max_tokens":4096,"messages":[{"role":"user","content":[
				{"type":"image","source":{"type":"base64","media_type":"image/png","data":"cG5n"}},
				{"type":"document","title":"report.pdf","source":{"type":"base64","media_type":"application/pdf","data":"JVBERg=="}},
				{"type":"document","source":{"type":"text","media_type":"text/plain","data":"notes"}},
				{"type":"text","text":"Summarise."}]}]}`,
		},
		{
			name: "cache system",
			req:  llm.Request{System: "sys", Messages: []llm.Message{user}, Tools: []llm.ToolSpec{weather}, Settings: llm.Settings{Cache: llm.CacheStrategy{System: true}}},
			want: `{"model":"claude-sonnet-4-5","max_tokens":4096,
				"system":[{"type":"text","text":"sys","cache_control":{"type":"ephemeral"}}],
				"tools":[` + weatherJSON + `],
				"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}`,
		},
		{
			name: "cache tools 1h",
			req: llm.Request{System: "sys", Messages: []llm.Message{user}, Tools: []llm.ToolSpec{weather, {Name: "now"}},
				Settings: llm.Settings{Cache: llm.CacheStrategy{Tools: true, TTL: "1h"}}},
			want: `{"model":"claude-sonnet-4-5","max_tokens":4096,
				"system":[{"type":"text","text":"sys"}],
				"tools":[` + weatherJSON + `,{"name":"now","input_schema":{"type":"object","properties":{}},"cache_control":{"type":"ephemeral","ttl":"1h"}}],
				"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}`,
		},
		{
			name: "cache messages",
			req: llm.Request{System: "sys", Messages: []llm.Message{
				user,
				{Role: llm.RoleAssistant, Parts: []llm.Part{call("t1", `{}`)}},
				result("t1", `"ok"`, false),
				result("t2", `"ok"`, false),
			}, Settings: llm.Settings{Cache: llm.CacheStrategy{Messages: true}}},
			want: `{"model":"claude-sonnet-4-5","max_tokens":4096,
				"system":[{"type":"text","text":"sys"}],
				"messages":[
					{"role":"user","content":[{"type":"text","text":"hi"}]},
					{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"get_weather","input":{}}]},
					{"role":"user","content":[
						{"type":"tool_result","tool_use_id":"t1","content":[{"type":"text","text":"ok"}]},
						{"type":"tool_result","tool_use_id":"t2","content":[{"type":"text","text":"ok"}],"cache_control":{"type":"ephemeral"}}]}]}`,
		},
		{
			name: "cache everything 1h",
			req: llm.Request{System: "sys", Messages: []llm.Message{user}, Tools: []llm.ToolSpec{weather},
				Settings: llm.Settings{Cache: llm.CacheStrategy{System: true, Tools: true, Messages: true, TTL: "1h"}}},
			want: `{"model":"claude-sonnet-4-5","max_tokens":4096,
				"system":[{"type":"text","text":"sys","cache_control":{"type":"ephemeral","ttl":"1h"}}],
				"tools":[{"name":"get_weather","description":"Get the weather.","input_schema":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]},"cache_control":{"type":"ephemeral","ttl":"1h"}}],
				"messages":[{"role":"user","content":[{"type":"text","text":"hi","cache_control":{"type":"ephemeral","ttl":"1h"}}]}]}`,
		},
		{
			name: "cache without a system prompt or tools",
			req:  llm.Request{Messages: []llm.Message{user}, Settings: llm.Settings{Cache: llm.CacheStrategy{System: true, Tools: true}}},
			want: `{"model":"claude-sonnet-4-5","max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}`,
		},
		{
			name: "tool choice auto",
			req:  llm.Request{Messages: []llm.Message{user}, Tools: []llm.ToolSpec{weather}},
			want: `{"model":"claude-sonnet-4-5","max_tokens":4096,"tools":[` + weatherJSON + `],
				"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}`,
		},
		{
			name: "tool choice required",
			req:  llm.Request{Messages: []llm.Message{user}, Tools: []llm.ToolSpec{weather}, ToolChoice: llm.ToolChoice{Mode: llm.ToolChoiceRequired}},
			want: `{"model":"claude-sonnet-4-5","max_tokens":4096,"tools":[` + weatherJSON + `],"tool_choice":{"type":"any"},
				"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}`,
		},
		{
			name: "tool choice none",
			req:  llm.Request{Messages: []llm.Message{user}, Tools: []llm.ToolSpec{weather}, ToolChoice: llm.ToolChoice{Mode: llm.ToolChoiceNone}},
			want: `{"model":"claude-sonnet-4-5","max_tokens":4096,"tools":[` + weatherJSON + `],"tool_choice":{"type":"none"},
				"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}`,
		},
		{
			name: "tool choice tool",
			req: llm.Request{Messages: []llm.Message{user}, Tools: []llm.ToolSpec{weather},
				ToolChoice: llm.ToolChoice{Mode: llm.ToolChoiceTool, Name: "get_weather"}},
			want: `{"model":"claude-sonnet-4-5","max_tokens":4096,"tools":[` + weatherJSON + `],"tool_choice":{"type":"tool","name":"get_weather"},
				"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}`,
		},
		{
			name: "tool choice without tools",
			req:  llm.Request{Messages: []llm.Message{user}, ToolChoice: llm.ToolChoice{Mode: llm.ToolChoiceRequired}},
			want: `{"model":"claude-sonnet-4-5","max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}`,
		},
		{
			name: "strict tool",
			req:  llm.Request{Messages: []llm.Message{user}, Tools: []llm.ToolSpec{{Name: "f", InputSchema: json.RawMessage(`{"type":"object"}`), Strict: true}}},
			want: `{"model":"claude-sonnet-4-5","max_tokens":4096,"tools":[{"name":"f","strict":true,"input_schema":{"type":"object"}}],
				"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}`,
		},
		{
			name: "output format",
			req: llm.Request{Messages: []llm.Message{user}, Output: &llm.OutputFormat{Name: "city_info", Description: "A city.",
				Schema: json.RawMessage(`{"type":"object","properties":{"pop":{"type":"number","minimum":1.50}},"required":["pop"],"additionalProperties":false}`)}},
			want: `{"model":"claude-sonnet-4-5","max_tokens":4096,"output_config":{"format":{"type":"json_schema","schema":{
				"title":"city_info","description":"A city.","type":"object","properties":{"pop":{"type":"number","minimum":1.5}},
				"required":["pop"],"additionalProperties":false}}},
				"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}`,
		},
		{
			name: "output format keeps the schema's title",
			req: llm.Request{Messages: []llm.Message{user}, Output: &llm.OutputFormat{Name: "n", Description: "d",
				Schema: json.RawMessage(`{"title":"T","description":"D","type":"object"}`)}},
			want: `{"model":"claude-sonnet-4-5","max_tokens":4096,"output_config":{"format":{"type":"json_schema","schema":{"title":"T","description":"D","type":"object"}}},
				"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := New(Options{})
			if err != nil {
				t.Fatal(err)
			}
			p, err := m.params(&tc.req)
			if err != nil {
				t.Fatalf("params: %v", err)
			}
			got, err := json.Marshal(p)
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			var g, w any
			if err := json.Unmarshal(got, &g); err != nil {
				t.Fatalf("body is not JSON: %v", err)
			}
			if err := json.Unmarshal([]byte(tc.want), &w); err != nil {
				t.Fatalf("want is not JSON: %v", err)
			}
			if diff := cmp.Diff(w, g); diff != "" {
				t.Errorf("body (-want +got):\n%s\ngot: %s", diff, got)
			}
		})
	}
}

func TestParamsInvalid(t *testing.T) {
	user := llm.UserMessage("hi")
	for _, tc := range []struct {
		name string
		req  llm.Request
	}{
		{"unknown role", llm.Request{Messages: []llm.Message{{Role: "system", Parts: []llm.Part{llm.TextPart("x")}}}}},
		{"tool choice without a name", llm.Request{Messages: []llm.Message{user}, Tools: []llm.ToolSpec{weather}, ToolChoice: llm.ToolChoice{Mode: llm.ToolChoiceTool}}},
		{"unknown tool choice", llm.Request{Messages: []llm.Message{user}, Tools: []llm.ToolSpec{weather}, ToolChoice: llm.ToolChoice{Mode: "sometimes"}}},
		{"schema not an object", llm.Request{Messages: []llm.Message{user}, Tools: []llm.ToolSpec{{Name: "f", InputSchema: json.RawMessage(`[1]`)}}}},
		{"tool without a name", llm.Request{Messages: []llm.Message{user}, Tools: []llm.ToolSpec{{InputSchema: json.RawMessage(`{}`)}}}},
		{"output schema not an object", llm.Request{Messages: []llm.Message{user}, Output: &llm.OutputFormat{Name: "x", Schema: json.RawMessage(`"x"`)}}},
		{"cache TTL", llm.Request{Messages: []llm.Message{user}, Settings: llm.Settings{Cache: llm.CacheStrategy{System: true, TTL: "2h"}}}},
		{"unsupported file", llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{{Type: llm.PartFile, File: &llm.File{MediaType: "audio/mpeg"}}}}}}},
		{"file part without a file", llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{{Type: llm.PartFile}}}}}},
		{"tool result without an id", llm.Request{Messages: []llm.Message{user, result("", `"x"`, false)}}},
		{"tool call without an id", llm.Request{Messages: []llm.Message{user, {Role: llm.RoleAssistant, Parts: []llm.Part{call("", `{}`)}}}}},
		{"tool call in a user message", llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{call("t", `{}`)}}}}},
		{"file in an assistant message", llm.Request{Messages: []llm.Message{user, {Role: llm.RoleAssistant, Parts: []llm.Part{{Type: llm.PartFile, File: &llm.File{MediaType: "image/png"}}}}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, _ := New(Options{})
			_, err := m.params(&tc.req)
			var ae *llm.APIError
			if !errors.As(err, &ae) || ae.Provider != provider || ae.Retryable || ae.Status != 0 {
				t.Errorf("params = %v; want a non-retryable anthropic APIError", err)
			}
		})
	}
}
