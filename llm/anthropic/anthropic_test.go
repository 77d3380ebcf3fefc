package anthropic_test

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/helix-agents/helix-go/llm"
	"github.com/helix-agents/helix-go/llm/anthropic"
	"github.com/helix-agents/helix-go/llm/llmtest"
)

func harness() llmtest.Harness {
	return llmtest.Harness{
		Provider: "anthropic",
		Model:    "claude-sonnet-4-5",
		Upstream: "https://api.anthropic.com",
		KeyEnv:   "ANTHROPIC_API_KEY",
		Caps: llmtest.Capabilities{
			ToolCallIDs:       true,
			ToolArgDeltas:     true,
			ThinkingText:      true,
			ThinkingSignature: true,
		},
		New: func(c llmtest.Config) (llm.Model, error) {
			return anthropic.New(anthropic.Options{APIKey: c.APIKey, BaseURL: c.BaseURL, Model: c.Model,
				HTTPClient: c.HTTPClient, IdleTimeout: c.IdleTimeout})
		},
		CheckRequest: checkRequest,
		Malformed:    []byte("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"oops\"\n\n"),
	}
}

func TestConformance(t *testing.T) {
	llmtest.Run(t, harness())
}

func FuzzStream(f *testing.F) {
	if testing.Short() {
		f.Skip("fuzzing skipped in -short mode")
	}
	llmtest.Fuzz(f, harness())
}

// wireRequest is the part of a Messages request body the checks read.
type wireRequest struct {
	Model         string          `json:"model"`
	MaxTokens     int             `json:"max_tokens"`
	Stream        *bool           `json:"stream"`
	Temperature   *float64        `json:"temperature"`
	System        []wireBlock     `json:"system"`
	Messages      []wireMessage   `json:"messages"`
	Tools         []wireTool      `json:"tools"`
	ToolChoice    json.RawMessage `json:"tool_choice"`
	Thinking      json.RawMessage `json:"thinking"`
	OutputConfig  json.RawMessage `json:"output_config"`
	StopSequences []string        `json:"stop_sequences"`
}

type wireMessage struct {
	Role    string      `json:"role"`
	Content []wireBlock `json:"content"`
}

type wireBlock struct {
	Type         string          `json:"type"`
	Text         string          `json:"text"`
	ID           string          `json:"id"`
	Name         string          `json:"name"`
	Input        json.RawMessage `json:"input"`
	ToolUseID    string          `json:"tool_use_id"`
	Content      []wireBlock     `json:"content"`
	IsError      bool            `json:"is_error"`
	Thinking     string          `json:"thinking"`
	Signature    string          `json:"signature"`
	Data         string          `json:"data"`
	CacheControl json.RawMessage `json:"cache_control"`
	Source       json.RawMessage `json:"source"`
	Title        string          `json:"title"`
}

type wireTool struct {
	Name         string          `json:"name"`
	Description  string          `json:"description"`
	InputSchema  json.RawMessage `json:"input_schema"`
	Strict       bool            `json:"strict"`
	CacheControl json.RawMessage `json:"cache_control"`
}

func decodeRequest(t *testing.T, body []byte) wireRequest {
	t.Helper()
	var r wireRequest
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("request body is not JSON: %v\n%s", err, body)
	}
	return r
}

// jsonEqual reports whether a and b are the same JSON value.
func jsonEqual(t *testing.T, a json.RawMessage, b string) bool {
	t.Helper()
	if len(a) == 0 {
		return b == ""
	}
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("not JSON: %s", a)
	}
	if err := json.Unmarshal([]byte(b), &y); err != nil {
		t.Fatalf("not JSON: %s", b)
	}
	return cmp.Equal(x, y)
}

func wantJSON(t *testing.T, what string, got json.RawMessage, want string) {
	t.Helper()
	if !jsonEqual(t, got, want) {
		t.Errorf("%s = %s; want %s", what, got, want)
	}
}

// checkRequest checks the Anthropic encoding of each conformance request.
func checkRequest(t *testing.T, name string, i int, body []byte) {
	r := decodeRequest(t, body)
	if r.Stream == nil || !*r.Stream {
		t.Errorf("stream is not true")
	}
	if r.Model != "claude-sonnet-4-5" {
		t.Errorf("model = %q; want claude-sonnet-4-5", r.Model)
	}
	if len(r.System) != 1 || r.System[0].Type != "text" || r.System[0].Text == "" {
		t.Errorf("system = %+v; want one text block", r.System)
	}
	if len(r.Messages) == 0 || r.Messages[0].Role != "user" {
		t.Fatalf("messages = %+v; want a first user message", r.Messages)
	}
	wantMax := 4096
	switch name {
	case "tool_round_trip", "parallel_tool_calls", "forced_tool_choice":
		if len(r.Tools) != 1 || r.Tools[0].Name != "get_weather" || r.Tools[0].Description == "" {
			t.Fatalf("tools = %+v; want get_weather with its description", r.Tools)
		}
		wantJSON(t, "input_schema", r.Tools[0].InputSchema,
			`{"type":"object","properties":{"city":{"type":"string","description":"City name"}},"required":["city"],"additionalProperties":false}`)
		if name == "forced_tool_choice" {
			wantJSON(t, "tool_choice", r.ToolChoice, `{"type":"tool","name":"get_weather"}`)
		} else if r.ToolChoice != nil {
			t.Errorf("tool_choice = %s; want none sent (auto)", r.ToolChoice)
		}
		if name == "tool_round_trip" && i == 1 {
			checkToolRoundTrip(t, r)
		}
	case "structured_output":
		wantJSON(t, "output_config", r.OutputConfig, `{"format":{"type":"json_schema","schema":{
			"title":"city_info","description":"A city and its country.","type":"object",
			"properties":{"city":{"type":"string"},"country":{"type":"string"}},
			"required":["city","country"],"additionalProperties":false}}}`)
	case "cached_tokens":
		wantJSON(t, "system cache_control", r.System[0].CacheControl, `{"type":"ephemeral"}`)
		last := r.Messages[len(r.Messages)-1].Content
		wantJSON(t, "cache_control of the last message block", last[len(last)-1].CacheControl, `{"type":"ephemeral"}`)
	case "reasoning":
		wantJSON(t, "thinking", r.Thinking, `{"type":"enabled","budget_tokens":1024}`)
		if r.Temperature != nil {
			t.Errorf("temperature sent with thinking")
		}
	case "stop_length":
		wantMax = 16
	case "bad_request":
		if r.Temperature == nil || *r.Temperature != 5 {
			t.Errorf("temperature = %v; want 5", r.Temperature)
		}
	}
	if name != "reasoning" && r.Thinking != nil {
		t.Errorf("thinking = %s; want none", r.Thinking)
	}
	if name != "structured_output" && r.OutputConfig != nil {
		t.Errorf("output_config = %s; want none", r.OutputConfig)
	}
	if name != "cached_tokens" && r.System[0].CacheControl != nil {
		t.Errorf("system cache_control = %s; want none", r.System[0].CacheControl)
	}
	if r.MaxTokens != wantMax {
		t.Errorf("max_tokens = %d; want %d", r.MaxTokens, wantMax)
	}
}

// checkToolRoundTrip checks the second request of tool_round_trip: the
// assistant's text and tool_use, then a user message with its tool_result.
func checkToolRoundTrip(t *testing.T, r wireRequest) {
	t.Helper()
	if len(r.Messages) != 3 {
		t.Fatalf("%d messages; want user, assistant, user (tool result)", len(r.Messages))
	}
	a, u := r.Messages[1], r.Messages[2]
	if a.Role != "assistant" || len(a.Content) != 2 || a.Content[0].Type != "text" || a.Content[1].Type != "tool_use" {
		t.Fatalf("assistant message = %+v; want text then tool_use", a)
	}
	use := a.Content[1]
	if use.ID == "" || use.Name != "get_weather" {
		t.Errorf("tool_use = %+v", use)
	}
	wantJSON(t, "tool_use input", use.Input, `{"city":"Paris"}`)
	if u.Role != "user" || len(u.Content) != 1 {
		t.Fatalf("tool result message = %+v; want one user block", u)
	}
	res := u.Content[0]
	if res.Type != "tool_result" || res.ToolUseID != use.ID || res.IsError {
		t.Errorf("tool result = %+v; want a tool_result for %s", res, use.ID)
	}
	if len(res.Content) != 1 || res.Content[0].Type != "text" || res.Content[0].Text != `{"city":"Paris","tempC":18,"sky":"cloudy"}` {
		t.Errorf("tool result content = %+v; want the tool output as text", res.Content)
	}
}
