package openai_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/helix-agents/helix-go/llm"
	"github.com/helix-agents/helix-go/llm/llmtest"
	"github.com/helix-agents/helix-go/llm/openai"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func harness() llmtest.Harness {
	return llmtest.Harness{
		Provider:       "openai",
		Model:          "gpt-4o-mini",
		ReasoningModel: "o4-mini",
		Upstream:       "https://api.openai.com/v1",
		KeyEnv:         "OPENAI_API_KEY",
		Caps:           llmtest.Capabilities{ToolCallIDs: true, ToolArgDeltas: true, ReasoningTokens: true},
		New: func(c llmtest.Config) (llm.Model, error) {
			return openai.New(openai.Options{APIKey: c.APIKey, BaseURL: c.BaseURL, Model: c.Model,
				HTTPClient: c.HTTPClient, IdleTimeout: c.IdleTimeout})
		},
		CheckRequest: checkRequest,
		Malformed:    []byte("data: {\"id\":\"chatcmpl-x\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"oops\"\n\n"),
	}
}

func TestConformance(t *testing.T) {
	llmtest.Run(t, harness())
}

func FuzzStream(f *testing.F) {
	if testing.Short() {
		f.Skip("fuzzing is skipped under -short")
	}
	llmtest.Fuzz(f, harness())
}

// The conformance requests, as llmtest sends them.
const (
	system      = "You are a concise assistant."
	toolOutput  = `{"city":"Paris","tempC":18,"sky":"cloudy"}`
	weatherDesc = "Get the current weather for a city."
)

var weatherParams = map[string]any{
	"type":                 "object",
	"properties":           map[string]any{"city": map[string]any{"type": "string", "description": "City name"}},
	"required":             []any{"city"},
	"additionalProperties": false,
}

var weatherTools = []any{map[string]any{
	"type":     "function",
	"function": map[string]any{"name": "get_weather", "description": weatherDesc, "parameters": weatherParams},
}}

// topLevel are the request fields the adapter may send.
var topLevel = map[string]bool{
	"model": true, "messages": true, "stream": true, "stream_options": true, "tools": true, "tool_choice": true,
	"response_format": true, "temperature": true, "top_p": true, "seed": true, "max_completion_tokens": true,
	"stop": true, "reasoning_effort": true, "prompt_cache_key": true,
}

// checkRequest checks the Chat Completions encoding of each conformance
// request.
func checkRequest(t *testing.T, name string, i int, body []byte) {
	t.Helper()
	var b map[string]any
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatalf("request body is not a JSON object: %v", err)
	}
	for k := range b {
		if !topLevel[k] {
			t.Errorf("request has unexpected field %q", k)
		}
	}
	want := func(field string, v any) {
		t.Helper()
		if d := cmp.Diff(v, b[field]); d != "" {
			t.Errorf("request field %q (-want +got):\n%s", field, d)
		}
	}
	absent := func(fields ...string) {
		t.Helper()
		for _, f := range fields {
			if v, ok := b[f]; ok {
				t.Errorf("request field %q = %v; want it absent", f, v)
			}
		}
	}
	want("stream", true)
	want("stream_options", map[string]any{"include_usage": true})
	if name == "reasoning" {
		want("model", "o4-mini")
	} else {
		want("model", "gpt-4o-mini")
	}
	msgs, _ := b["messages"].([]any)
	if len(msgs) < 2 {
		t.Fatalf("request has %d messages; want the system prompt and the user's", len(msgs))
	}
	sys, _ := msgs[0].(map[string]any)
	if sys["role"] != "system" || !strings.HasPrefix(sys["content"].(string), system) {
		t.Errorf("first message = %v; want the system prompt", sys)
	}
	if u, _ := msgs[1].(map[string]any); u["role"] != "user" {
		t.Errorf("second message = %v; want the user's", u)
	} else if _, ok := u["content"].(string); !ok {
		t.Errorf("user message content = %v; want a string", u["content"])
	}

	switch name {
	case "tool_round_trip", "parallel_tool_calls":
		want("tools", weatherTools)
		absent("tool_choice", "response_format")
		if name == "parallel_tool_calls" || i == 0 {
			if len(msgs) != 2 {
				t.Errorf("request has %d messages; want 2", len(msgs))
			}
			break
		}
		// The second call carries the assistant's tool call and its result.
		if len(msgs) != 4 {
			t.Fatalf("second request has %d messages; want system, user, assistant, tool", len(msgs))
		}
		a := msgs[2].(map[string]any)
		calls, _ := a["tool_calls"].([]any)
		if a["role"] != "assistant" || len(calls) != 1 {
			t.Fatalf("third message = %v; want the assistant's tool call", a)
		}
		if _, ok := a["content"]; ok {
			t.Errorf("assistant message with only a tool call has content %v; want none", a["content"])
		}
		call := calls[0].(map[string]any)
		id, _ := call["id"].(string)
		if !strings.HasPrefix(id, "call_") {
			t.Errorf("tool call id = %q; want the id OpenAI gave", id)
		}
		if d := cmp.Diff(map[string]any{"type": "function", "id": id,
			"function": map[string]any{"name": "get_weather", "arguments": `{"city":"Paris"}`}}, call); d != "" {
			t.Errorf("assistant tool call (-want +got):\n%s", d)
		}
		if d := cmp.Diff(map[string]any{"role": "tool", "tool_call_id": id, "content": toolOutput}, msgs[3]); d != "" {
			t.Errorf("tool message (-want +got):\n%s", d)
		}
	case "forced_tool_choice":
		want("tools", weatherTools)
		want("tool_choice", map[string]any{"type": "function", "function": map[string]any{"name": "get_weather"}})
	case "structured_output":
		absent("tools", "tool_choice")
		want("response_format", map[string]any{
			"type": "json_schema",
			"json_schema": map[string]any{
				"name":        "city_info",
				"description": "A city and its country.",
				"strict":      true,
				"schema": map[string]any{
					"type": "object",
					"properties": map[string]any{
						"city": map[string]any{"type": "string"}, "country": map[string]any{"type": "string"},
					},
					"required":             []any{"city", "country"},
					"additionalProperties": false,
				},
			},
		})
	case "cached_tokens":
		want("prompt_cache_key", "sess_conformance")
		if n := len(sys["content"].(string)); n < 10000 {
			t.Errorf("system prompt has %d bytes; want the long one", n)
		}
	case "reasoning":
		want("reasoning_effort", "low")
		want("max_completion_tokens", float64(4096))
		absent("temperature", "max_tokens")
	case "stop_length":
		want("max_completion_tokens", float64(16))
	case "bad_request":
		want("temperature", float64(5))
	}
	if name != "cached_tokens" {
		absent("prompt_cache_key")
	}
	if name != "reasoning" {
		absent("reasoning_effort")
	}
	if name != "structured_output" {
		absent("response_format")
	}
	switch name {
	case "tool_round_trip", "parallel_tool_calls", "forced_tool_choice":
	default:
		absent("tools", "tool_choice")
	}
}
