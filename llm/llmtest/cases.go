package llmtest

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/helix-agents/helix-go/llm"
)

// The requests every adapter is tested with. Their wording is what the
// recorded cassettes answered; change it and re-record.
const (
	system      = "You are a concise assistant."
	weatherName = "get_weather"
	toolOutput  = `{"city":"Paris","tempC":18,"sky":"cloudy"}`
)

var weatherTool = llm.ToolSpec{
	Name:        weatherName,
	Description: "Get the current weather for a city.",
	InputSchema: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string","description":"City name"}},"required":["city"],"additionalProperties":false}`),
}

var cityInfo = &llm.OutputFormat{
	Name:        "city_info",
	Description: "A city and its country.",
	Schema:      json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"},"country":{"type":"string"}},"required":["city","country"],"additionalProperties":false}`),
	Strict:      true,
}

// longSystem is a system prompt long enough (over 1024 tokens) for every
// provider's prompt cache.
var longSystem = system + " Reference material follows.\n" +
	strings.Repeat("The Helix agent server streams every step of an agent run, persists sessions, pauses for approvals and survives restarts. ", 90)

// A Case is one conformance case: the requests it sends (one per model call,
// answered by the cassettes <name>.1.http, <name>.2.http, …) and what the
// answers must satisfy.
type Case struct {
	Name string
	// Doc says what the case shows.
	Doc string
	// Calls is the number of model calls (cassettes).
	Calls int
	// Recordable is false for answers a real API cannot be made to give on
	// demand (rate limits, overload): -record keeps their cassettes.
	Recordable bool
	// BadKey makes the request with a wrong key (and records it that way).
	BadKey bool
	// Request builds the request of call i (0-based) from earlier answers.
	Request func(i int, prev []Call) *llm.Request
	// Check judges the calls; the answers of successful calls have already
	// been checked for well-formedness.
	Check func(t *testing.T, h *Harness, calls []Call)
	// WantError says the call fails (no well-formedness check).
	WantError bool
	// Reasoning marks a case that needs a reasoning model: its requests
	// name Harness.ReasoningModel when the harness sets one.
	Reasoning bool
}

func userReq(text string) *llm.Request {
	return &llm.Request{SessionID: "sess_conformance", AgentType: "conformance", System: system,
		Messages: []llm.Message{llm.UserMessage(text)}}
}

// Cases returns the conformance cases that replay cassettes, in order.
func Cases() []Case {
	return []Case{
		{
			Name: "text", Doc: "plain text answer, stop reason stop, usage", Calls: 1, Recordable: true,
			Request: func(int, []Call) *llm.Request { return userReq("Say hello in five words or fewer.") },
			Check: func(t *testing.T, h *Harness, c []Call) {
				a := c[0].Answer()
				if strings.TrimSpace(a.Text) == "" {
					t.Errorf("empty answer text")
				}
				wantFinish(t, a, llm.FinishStop)
				wantInBody(t, c[0], system, "Say hello in five words or fewer.", h.Model)
			},
		},
		{
			Name: "streamed_assembly", Doc: "a long answer arrives in many deltas that assemble in order", Calls: 1, Recordable: true,
			Request: func(int, []Call) *llm.Request {
				return userReq("Count from 1 to 30, separated by single spaces, and nothing else.")
			},
			Check: func(t *testing.T, h *Harness, c []Call) {
				a := c[0].Answer()
				if a.TextDeltas < 3 {
					t.Errorf("answer came in %d text deltas; want a streamed answer (≥ 3)", a.TextDeltas)
				}
				if !strings.Contains(a.Text, "1 2 3 4 5") || !strings.Contains(a.Text, "28 29 30") {
					t.Errorf("assembled text %q is not the count 1…30 in order", a.Text)
				}
				wantFinish(t, a, llm.FinishStop)
			},
		},
		{
			Name: "tool_round_trip", Doc: "a tool call, then the tool's result sent back and the model's answer", Calls: 2, Recordable: true,
			Request: func(i int, prev []Call) *llm.Request {
				r := userReq("What is the weather in Paris right now? Use the tool.")
				r.Tools = []llm.ToolSpec{weatherTool}
				if i == 1 {
					r.Messages = append(r.Messages, prev[0].Answer().Message)
					for _, tc := range prev[0].Answer().ToolCalls {
						r.Messages = append(r.Messages, llm.Message{Role: llm.RoleTool, Parts: []llm.Part{{Type: llm.PartToolResult,
							ToolResult: &llm.ToolResult{ToolCallID: tc.ID, ToolName: tc.Name, Output: json.RawMessage(toolOutput)}}}})
					}
				}
				return r
			},
			Check: func(t *testing.T, h *Harness, c []Call) {
				a := c[0].Answer()
				wantFinish(t, a, llm.FinishToolCalls)
				if len(a.ToolCalls) != 1 {
					t.Fatalf("first answer has %d tool calls; want 1", len(a.ToolCalls))
				}
				tc := a.ToolCalls[0]
				wantCall(t, tc, "Paris")
				wantInBody(t, c[0], weatherName, "Get the current weather for a city.")
				// The second request carries the call and its result.
				wantInBody(t, c[1], weatherName, "cloudy", "18")
				if h.Caps.ToolCallIDs {
					wantInBody(t, c[1], tc.ID)
				}
				b := c[1].Answer()
				wantFinish(t, b, llm.FinishStop)
				if !strings.Contains(strings.ToLower(b.Text), "18") && !strings.Contains(strings.ToLower(b.Text), "cloud") {
					t.Errorf("final answer %q does not use the tool result", b.Text)
				}
			},
		},
		{
			Name: "parallel_tool_calls", Doc: "two tool calls in one answer, each reassembled from its own deltas", Calls: 1, Recordable: true,
			Request: func(int, []Call) *llm.Request {
				r := userReq("What is the weather in Paris and in Tokyo? Call the tool for both cities at once.")
				r.Tools = []llm.ToolSpec{weatherTool}
				return r
			},
			Check: func(t *testing.T, h *Harness, c []Call) {
				a := c[0].Answer()
				wantFinish(t, a, llm.FinishToolCalls)
				if len(a.ToolCalls) != 2 {
					t.Fatalf("answer has %d tool calls; want 2", len(a.ToolCalls))
				}
				wantCall(t, a.ToolCalls[0], "Paris")
				wantCall(t, a.ToolCalls[1], "Tokyo")
			},
		},
		{
			Name: "forced_tool_choice", Doc: "tool choice naming one tool makes the model call it", Calls: 1, Recordable: true,
			Request: func(int, []Call) *llm.Request {
				r := userReq("Tell me something about Rome.")
				r.Tools = []llm.ToolSpec{weatherTool}
				r.ToolChoice = llm.ToolChoice{Mode: llm.ToolChoiceTool, Name: weatherName}
				return r
			},
			Check: func(t *testing.T, h *Harness, c []Call) {
				a := c[0].Answer()
				if len(a.ToolCalls) != 1 {
					t.Fatalf("answer has %d tool calls; want 1", len(a.ToolCalls))
				}
				wantCall(t, a.ToolCalls[0], "Rome")
			},
		},
		{
			Name: "structured_output", Doc: "an output schema makes the answer a matching JSON object", Calls: 1, Recordable: true,
			Request: func(int, []Call) *llm.Request {
				r := userReq("What is the capital of France? Answer as JSON.")
				r.Output = cityInfo
				return r
			},
			Check: func(t *testing.T, h *Harness, c []Call) {
				a := c[0].Answer()
				wantFinish(t, a, llm.FinishStop)
				var v struct {
					City    string `json:"city"`
					Country string `json:"country"`
				}
				if err := json.Unmarshal([]byte(a.Text), &v); err != nil {
					t.Fatalf("answer %q is not the JSON object asked for: %v", a.Text, err)
				}
				if v.City != "Paris" || v.Country != "France" {
					t.Errorf("answer = %+v; want Paris, France", v)
				}
				wantInBody(t, c[0], "city_info", `"country"`)
			},
		},
		{
			Name: "cached_tokens", Doc: "a cached prompt prefix is reported in usage", Calls: 1, Recordable: true,
			Request: func(int, []Call) *llm.Request {
				r := userReq("Reply with the single word: ready.")
				r.System = longSystem
				r.Settings.Cache = llm.CacheStrategy{System: true, Messages: true}
				return r
			},
			Check: func(t *testing.T, h *Harness, c []Call) {
				u := c[0].Answer().Usage
				if u.CachedTokens <= 0 {
					t.Errorf("usage %+v reports no cached tokens", u)
				}
			},
		},
		{
			Name: "reasoning", Doc: "a reasoning request reports its thinking (text or token count)", Calls: 1, Recordable: true, Reasoning: true,
			Request: func(int, []Call) *llm.Request {
				r := userReq("What is 17 * 23? Think it through, then give just the number.")
				r.Settings.ReasoningEffort = "low"
				r.Settings.ThinkingBudget = 1024
				r.Settings.MaxOutputTokens = 4096
				return r
			},
			Check: func(t *testing.T, h *Harness, c []Call) {
				a := c[0].Answer()
				if !strings.Contains(a.Text, "391") {
					t.Errorf("answer %q lacks 391", a.Text)
				}
				if h.Caps.ThinkingText {
					if strings.TrimSpace(a.Thinking) == "" || a.ThinkingEnds == 0 {
						t.Errorf("no thinking text (deltas %q, ends %d)", a.Thinking, a.ThinkingEnds)
					}
					if h.Caps.ThinkingSignature && a.Signature == "" {
						t.Errorf("thinking block has no signature")
					}
					if a.Signature != "" && a.SignatureProvider != h.Provider {
						t.Errorf("signature tagged with provider %q, want %q (the adapter's own)", a.SignatureProvider, h.Provider)
					}
				}
				if h.Caps.ReasoningTokens && a.Usage.ReasoningTokens <= 0 {
					t.Errorf("usage %+v reports no reasoning tokens", a.Usage)
				}
				if !h.Caps.ThinkingText && !h.Caps.ReasoningTokens {
					t.Errorf("harness declares neither ThinkingText nor ReasoningTokens")
				}
			},
		},
		{
			Name: "stop_length", Doc: "an answer cut by the token limit finishes with length", Calls: 1, Recordable: true,
			Request: func(int, []Call) *llm.Request {
				r := userReq("Write a long poem about the sea.")
				r.Settings.MaxOutputTokens = 16
				return r
			},
			Check: func(t *testing.T, h *Harness, c []Call) {
				wantFinish(t, c[0].Answer(), llm.FinishLength)
			},
		},
		{
			Name: "rate_limited", Doc: "429 is a retryable APIError carrying Retry-After", Calls: 1, WantError: true,
			Request: func(int, []Call) *llm.Request { return userReq("Say hello in five words or fewer.") },
			Check: func(t *testing.T, h *Harness, c []Call) {
				ae := wantAPIError(t, h, c[0], 429, true)
				if ae != nil && ae.RetryAfter != 7*time.Second {
					t.Errorf("RetryAfter = %v; want 7s (the cassette's Retry-After)", ae.RetryAfter)
				}
			},
		},
		{
			Name: "unauthorized", Doc: "a wrong key is a non-retryable APIError (401, or the provider's status for it)", Calls: 1, WantError: true, Recordable: true, BadKey: true,
			Request: func(int, []Call) *llm.Request { return userReq("Say hello in five words or fewer.") },
			Check: func(t *testing.T, h *Harness, c []Call) {
				wantAPIError(t, h, c[0], h.badKeyStatus(), false)
			},
		},
		{
			Name: "overloaded", Doc: "an overloaded or failing server (5xx) is retryable", Calls: 1, WantError: true,
			Request: func(int, []Call) *llm.Request { return userReq("Say hello in five words or fewer.") },
			Check: func(t *testing.T, h *Harness, c []Call) {
				wantAPIError(t, h, c[0], 0, true)
			},
		},
		{
			Name: "bad_request", Doc: "400 (an out-of-range temperature) is a non-retryable APIError", Calls: 1, WantError: true, Recordable: true,
			Request: func(int, []Call) *llm.Request {
				r := userReq("Say hello in five words or fewer.")
				bad := 5.0
				r.Settings.Temperature = &bad
				return r
			},
			Check: func(t *testing.T, h *Harness, c []Call) {
				wantAPIError(t, h, c[0], 400, false)
			},
		},
	}
}
