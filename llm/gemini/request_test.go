package gemini_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/helix-agents/helix-go/llm"
	"github.com/helix-agents/helix-go/llm/gemini"
)

func ptr[T any](v T) *T { return &v }

var weather = llm.ToolSpec{Name: "get_weather", Description: "Weather.", InputSchema: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}}}`)}

// sent runs req against a fake that answers "ok" and returns the decoded
// request body and the request.
func sent(t *testing.T, req *llm.Request) (body, *http.Request) {
	t.Helper()
	f := &fake{body: sse(cand(`{"text": "ok"}`, "STOP"))}
	m := start(t, f)
	if _, err := drain(t, m, req); err != nil {
		t.Fatalf("Stream: %v", err)
	}
	if f.requests() != 1 {
		t.Fatalf("%d requests; want 1", f.requests())
	}
	var b body
	if err := json.Unmarshal([]byte(f.bodys[0]), &b); err != nil {
		t.Fatal(err)
	}
	return b, f.reqs[0]
}

func TestRequestMapping(t *testing.T) {
	sig := base64.StdEncoding.EncodeToString([]byte("signature-1"))
	sig2 := base64.StdEncoding.EncodeToString([]byte("signature-2"))
	for _, tc := range []struct {
		name string
		req  *llm.Request
		want map[string]string // JSON path (dot-separated) → JSON value
	}{
		{
			name: "system, text and a file",
			req: &llm.Request{System: "Be brief.", Messages: []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{
				llm.TextPart("Describe this."), {Type: llm.PartText}, {Type: llm.PartFile, File: &llm.File{MediaType: "image/png", Name: "x.png", Data: []byte{1, 2, 3}}},
			}}}},
			want: map[string]string{
				"systemInstruction": `{"parts":[{"text":"Be brief."}],"role":"user"}`,
				"contents":          `[{"role":"user","parts":[{"text":"Describe this."},{"inlineData":{"mimeType":"image/png","data":"AQID"}}]}]`,
			},
		},
		{
			name: "assistant thinking signature moves to the next part",
			req: &llm.Request{Messages: []llm.Message{
				llm.UserMessage("hi"),
				{Role: llm.RoleAssistant, Parts: []llm.Part{{Type: llm.PartThinking, Text: "I think.", Signature: sig}, llm.TextPart("Hello.")}},
				llm.UserMessage("again"),
			}},
			want: map[string]string{
				"contents.1": `{"role":"model","parts":[{"text":"Hello.","thoughtSignature":"` + sig + `"}]}`,
			},
		},
		{
			name: "another provider's signature is not sent; Gemini's own and untagged ones are",
			req: &llm.Request{Messages: []llm.Message{
				llm.UserMessage("hi"),
				{Role: llm.RoleAssistant, Parts: []llm.Part{{Type: llm.PartThinking, Text: "Claude thinks.", Signature: sig2, Provider: "anthropic"}, llm.TextPart("Hello.")}},
				{Role: llm.RoleAssistant, Parts: []llm.Part{{Type: llm.PartThinking, Signature: sig, Provider: "gemini"}, llm.TextPart("Again.")}},
				llm.UserMessage("again"),
			}},
			want: map[string]string{
				"contents.1": `{"role":"model","parts":[{"text":"Hello."}]}`,
				"contents.2": `{"role":"model","parts":[{"text":"Again.","thoughtSignature":"` + sig + `"}]}`,
			},
		},
		{
			name: "a trailing signature goes to the part before it; thinking text is dropped",
			req: &llm.Request{Messages: []llm.Message{
				llm.UserMessage("hi"),
				{Role: llm.RoleAssistant, Parts: []llm.Part{llm.TextPart("Hello."), {Type: llm.PartThinking, Text: "after", Signature: sig}}},
				{Role: llm.RoleAssistant, Parts: []llm.Part{{Type: llm.PartThinking, Text: "only thinking", Signature: sig2}}},
				llm.UserMessage("again"),
			}},
			want: map[string]string{
				"contents": `[{"role":"user","parts":[{"text":"hi"}]},{"role":"model","parts":[{"text":"Hello.","thoughtSignature":"` + sig + `"}]},
					{"role":"user","parts":[{"text":"again"}]}]`,
			},
		},
		{
			name: "a signature goes to the function call, not to text before it",
			req: &llm.Request{Tools: []llm.ToolSpec{weather}, Messages: []llm.Message{
				llm.UserMessage("weather?"),
				{Role: llm.RoleAssistant, Parts: []llm.Part{
					{Type: llm.PartThinking, Signature: sig}, llm.TextPart("Checking."),
					{Type: llm.PartToolCall, ToolCall: &llm.ToolCall{ID: "call_1_1", Name: "get_weather", Arguments: json.RawMessage(`{"city":"Oslo"}`)}},
				}},
			}},
			want: map[string]string{
				"contents.1": `{"role":"model","parts":[{"text":"Checking."},
					{"functionCall":{"name":"get_weather","args":{"city":"Oslo"}},"thoughtSignature":"` + sig + `"}]}`,
			},
		},
		{
			name: "two signatures keep their parts",
			req: &llm.Request{Tools: []llm.ToolSpec{weather}, Messages: []llm.Message{
				llm.UserMessage("weather?"),
				{Role: llm.RoleAssistant, Parts: []llm.Part{
					{Type: llm.PartThinking, Signature: sig2}, llm.TextPart("Checking."), {Type: llm.PartThinking, Signature: sig},
					{Type: llm.PartToolCall, ToolCall: &llm.ToolCall{ID: "call_1_1", Name: "get_weather", Arguments: json.RawMessage(`{"city":"Oslo"}`)}},
				}},
			}},
			want: map[string]string{
				"contents.1": `{"role":"model","parts":[{"text":"Checking.","thoughtSignature":"` + sig2 + `"},
					{"functionCall":{"name":"get_weather","args":{"city":"Oslo"}},"thoughtSignature":"` + sig + `"}]}`,
			},
		},
		{
			name: "parallel calls and their results",
			req: &llm.Request{Tools: []llm.ToolSpec{weather}, Messages: []llm.Message{
				llm.UserMessage("weather?"),
				{Role: llm.RoleAssistant, Parts: []llm.Part{
					{Type: llm.PartThinking, Signature: sig},
					{Type: llm.PartToolCall, ToolCall: &llm.ToolCall{ID: "call_1_1", Name: "get_weather", Arguments: json.RawMessage(`{"city":"Paris"}`)}},
					{Type: llm.PartToolCall, ToolCall: &llm.ToolCall{ID: "call_1_2", Name: "get_weather", Arguments: json.RawMessage(`"{\"city\":\"Tok"`)}},
				}},
				{Role: llm.RoleTool, Parts: []llm.Part{{Type: llm.PartToolResult, ToolResult: &llm.ToolResult{ToolCallID: "call_1_1", ToolName: "get_weather", Output: json.RawMessage(`{"tempC":18}`)}}}},
				{Role: llm.RoleTool, Parts: []llm.Part{{Type: llm.PartToolResult, ToolResult: &llm.ToolResult{ToolCallID: "call_1_2", Output: json.RawMessage(`"bad arguments"`), IsError: true}}}},
			}},
			want: map[string]string{
				"contents.1": `{"role":"model","parts":[{"functionCall":{"name":"get_weather","args":{"city":"Paris"}},"thoughtSignature":"` + sig + `"},
					{"functionCall":{"name":"get_weather"}}]}`,
				"contents.2": `{"role":"user","parts":[{"functionResponse":{"name":"get_weather","response":{"result":{"tempC":18}}}},
					{"functionResponse":{"name":"get_weather","response":{"error":"bad arguments"}}}]}`,
				"contents.3": `null`,
			},
		},
		{
			name: "ids Gemini gave are sent back",
			req: &llm.Request{Tools: []llm.ToolSpec{weather}, Messages: []llm.Message{
				llm.UserMessage("weather?"),
				{Role: llm.RoleAssistant, Parts: []llm.Part{{Type: llm.PartToolCall, ToolCall: &llm.ToolCall{ID: "fc-7", Name: "get_weather", Arguments: json.RawMessage(`{}`)}}}},
				{Role: llm.RoleTool, Parts: []llm.Part{{Type: llm.PartToolResult, ToolResult: &llm.ToolResult{ToolCallID: "fc-7", Output: json.RawMessage(`"sunny"`)}}}},
			}},
			want: map[string]string{
				"contents.1.parts.0.functionCall": `{"id":"fc-7","name":"get_weather"}`,
				"contents.2.parts.0":              `{"functionResponse":{"id":"fc-7","name":"get_weather","response":{"result":"sunny"}}}`,
			},
		},
		{
			name: "tools with choice none",
			req:  &llm.Request{Tools: []llm.ToolSpec{weather, {Name: "now"}}, ToolChoice: llm.ToolChoice{Mode: llm.ToolChoiceNone}, Messages: []llm.Message{llm.UserMessage("x")}},
			want: map[string]string{
				"tools":      `[{"functionDeclarations":[{"name":"get_weather","description":"Weather.","parametersJsonSchema":{"type":"object","properties":{"city":{"type":"string"}}}},{"name":"now"}]}]`,
				"toolConfig": `{"functionCallingConfig":{"mode":"NONE"}}`,
			},
		},
		{
			name: "choice required",
			req:  &llm.Request{Tools: []llm.ToolSpec{weather}, ToolChoice: llm.ToolChoice{Mode: llm.ToolChoiceRequired}, Messages: []llm.Message{llm.UserMessage("x")}},
			want: map[string]string{"toolConfig": `{"functionCallingConfig":{"mode":"ANY"}}`},
		},
		{
			name: "choice none without tools sends nothing",
			req:  &llm.Request{ToolChoice: llm.ToolChoice{Mode: llm.ToolChoiceNone}, Messages: []llm.Message{llm.UserMessage("x")}},
			want: map[string]string{"toolConfig": `null`, "tools": `null`},
		},
		{
			name: "sampling settings",
			req: &llm.Request{Messages: []llm.Message{llm.UserMessage("x")}, Settings: llm.Settings{
				Temperature: ptr(0.5), TopP: ptr(0.25), MaxOutputTokens: 100, StopSequences: []string{"END"}, Seed: ptr(int64(42)), ReasoningEffort: "medium",
			}},
			want: map[string]string{
				"generationConfig": `{"temperature":0.5,"topP":0.25,"maxOutputTokens":100,"stopSequences":["END"],"seed":42,
					"thinkingConfig":{"thinkingBudget":8192,"includeThoughts":true}}`,
			},
		},
		{
			name: "budget wins over effort; negative is dynamic",
			req:  &llm.Request{Messages: []llm.Message{llm.UserMessage("x")}, Settings: llm.Settings{ThinkingBudget: -5, ReasoningEffort: "high"}},
			want: map[string]string{"generationConfig.thinkingConfig": `{"thinkingBudget":-1,"includeThoughts":true}`},
		},
		{
			name: "effort minimal",
			req:  &llm.Request{Messages: []llm.Message{llm.UserMessage("x")}, Settings: llm.Settings{ReasoningEffort: "minimal"}},
			want: map[string]string{"generationConfig.thinkingConfig": `{"thinkingBudget":512,"includeThoughts":true}`},
		},
		{
			name: "cache settings send nothing",
			req:  &llm.Request{Messages: []llm.Message{llm.UserMessage("x")}, Settings: llm.Settings{Cache: llm.CacheStrategy{System: true, Tools: true, Messages: true, TTL: "1h"}}},
			want: map[string]string{"generationConfig": `{}`, "cachedContent": `null`},
		},
		{
			name: "output schema keeps its own title",
			req: &llm.Request{Messages: []llm.Message{llm.UserMessage("x")}, Output: &llm.OutputFormat{Name: "n", Description: "d",
				Schema: json.RawMessage(`{"title":"Own","type":"object","properties":{"n":{"type":"integer","maximum":12345678901}}}`)}},
			want: map[string]string{"generationConfig": `{"responseMimeType":"application/json",
				"responseJsonSchema":{"title":"Own","description":"d","type":"object","properties":{"n":{"type":"integer","maximum":12345678901}}}}`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, _ := sent(t, tc.req)
			for path, want := range tc.want {
				var p []any
				for _, k := range strings.Split(path, ".") {
					if n, err := jsonIndex(k); err == nil {
						p = append(p, n)
					} else {
						p = append(p, k)
					}
				}
				jsonEq(t, path, b.get(p...), want)
			}
		})
	}
}

func jsonIndex(s string) (int, error) {
	var n int
	err := json.Unmarshal([]byte(s), &n)
	return n, err
}

func TestRequestURLAndKey(t *testing.T) {
	_, r := sent(t, &llm.Request{Messages: []llm.Message{llm.UserMessage("x")}, Settings: llm.Settings{Model: "gemini-2.5-pro"}})
	if got, want := r.URL.String(), "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse"; got != want {
		t.Errorf("request URL = %s; want %s", got, want)
	}
	if got := r.Header.Get("x-goog-api-key"); got != testKey {
		t.Errorf("x-goog-api-key = %q; want the key", got)
	}
	if strings.Contains(r.URL.String(), testKey) {
		t.Errorf("the key is in the URL")
	}
}

// recorder answers in memory and records the request URL and key.
type recorder struct {
	url, key string
}

func (rc *recorder) RoundTrip(r *http.Request) (*http.Response, error) {
	rc.url, rc.key = r.URL.String(), r.Header.Get("x-goog-api-key")
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"text/event-stream"}},
		Body: readCloser(sse(cand(`{"text": "ok"}`, "STOP"))), Request: r}, nil
}

func TestEnvironmentIgnored(t *testing.T) {
	t.Setenv("GEMINI_API_KEY", "env-gemini-key")
	t.Setenv("GOOGLE_API_KEY", "env-google-key")
	t.Setenv("GOOGLE_GEMINI_BASE_URL", "http://env.invalid/")
	t.Setenv("GOOGLE_GENAI_USE_VERTEXAI", "true")
	t.Setenv("GOOGLE_CLOUD_PROJECT", "env-project")
	rc := &recorder{}
	m, err := gemini.New(t.Context(), gemini.Options{APIKey: testKey, HTTPClient: &http.Client{Transport: rc}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := drain(t, m, &llm.Request{Messages: []llm.Message{llm.UserMessage("x")}}); err != nil {
		t.Fatal(err)
	}
	if want := "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"; rc.url != want {
		t.Errorf("URL = %s; want %s", rc.url, want)
	}
	if rc.key != testKey {
		t.Errorf("key sent = %q; want the configured one", rc.key)
	}
}

func TestNewValidates(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts gemini.Options
		want string
	}{
		{"no key", gemini.Options{}, "APIKey"},
		{"blank key", gemini.Options{APIKey: "  "}, "APIKey"},
		{"relative base URL", gemini.Options{APIKey: "k", BaseURL: "localhost:8080"}, "BaseURL"},
		{"base URL with a key", gemini.Options{APIKey: "k", BaseURL: "https://proxy.example/?key=k"}, "BaseURL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := gemini.New(t.Context(), tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New = %v; want an error naming %s", err, tc.want)
			}
		})
	}
}

func TestBadRequests(t *testing.T) {
	user := []llm.Message{llm.UserMessage("x")}
	for _, tc := range []struct {
		name string
		req  *llm.Request
	}{
		{"nil request", nil},
		{"no messages", &llm.Request{}},
		{"only empty text", &llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{{Type: llm.PartText}}}}}},
		{"unknown role", &llm.Request{Messages: []llm.Message{{Role: "system", Parts: []llm.Part{llm.TextPart("x")}}}}},
		{"tool call in a user message", &llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{{Type: llm.PartToolCall, ToolCall: &llm.ToolCall{Name: "f"}}}}}}},
		{"tool call without a name", &llm.Request{Messages: []llm.Message{llm.UserMessage("x"), {Role: llm.RoleAssistant, Parts: []llm.Part{{Type: llm.PartToolCall, ToolCall: &llm.ToolCall{ID: "a"}}}}}}},
		{"result without a tool name", &llm.Request{Messages: []llm.Message{{Role: llm.RoleTool, Parts: []llm.Part{{Type: llm.PartToolResult, ToolResult: &llm.ToolResult{ToolCallID: "zz"}}}}}}},
		{"file without a media type", &llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{{Type: llm.PartFile, File: &llm.File{}}}}}}},
		{"choice names an unknown tool", &llm.Request{Messages: user, Tools: []llm.ToolSpec{weather}, ToolChoice: llm.ToolChoice{Mode: llm.ToolChoiceTool, Name: "nope"}}},
		{"choice required without tools", &llm.Request{Messages: user, ToolChoice: llm.ToolChoice{Mode: llm.ToolChoiceRequired}}},
		{"unknown choice mode", &llm.Request{Messages: user, Tools: []llm.ToolSpec{weather}, ToolChoice: llm.ToolChoice{Mode: "sometimes"}}},
		{"tool without a name", &llm.Request{Messages: user, Tools: []llm.ToolSpec{{}}}},
		{"schema not JSON", &llm.Request{Messages: user, Tools: []llm.ToolSpec{{Name: "f", InputSchema: json.RawMessage(`{`)}}}},
		{"output schema not an object", &llm.Request{Messages: user, Output: &llm.OutputFormat{Name: "o", Schema: json.RawMessage(`[1]`)}}},
		{"unknown effort", &llm.Request{Messages: user, Settings: llm.Settings{ReasoningEffort: "extreme"}}},
		{"seed too large", &llm.Request{Messages: user, Settings: llm.Settings{Seed: ptr(int64(1) << 40)}}},
		{"negative max tokens", &llm.Request{Messages: user, Settings: llm.Settings{MaxOutputTokens: -1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fake{body: sse(cand(`{"text": "ok"}`, "STOP"))}
			m := start(t, f)
			evs, err := drain(t, m, tc.req)
			var ae *llm.APIError
			if !errors.As(err, &ae) || ae.Provider != "gemini" || ae.Retryable || ae.Status != 0 || len(evs) != 0 {
				t.Errorf("Stream = %d events, %v; want a non-retryable gemini APIError and no events", len(evs), err)
			}
			if f.requests() != 0 {
				t.Errorf("an invalid request was sent")
			}
		})
	}
}
