package openai_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/helix-agents/helix-go/llm"
	"github.com/helix-agents/helix-go/llm/openai"
)

func ptr[T any](v T) *T { return &v }

var weather = llm.ToolSpec{
	Name:        "get_weather",
	Description: "Get the weather.",
	InputSchema: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string","maxLength":12345678901234567}},"required":["city"]}`),
}

func TestRequestMapping(t *testing.T) {
	weatherFn := map[string]any{
		"type": "function",
		"function": map[string]any{
			"name": "get_weather", "description": "Get the weather.",
			"parameters": map[string]any{
				"type":       "object",
				"properties": map[string]any{"city": map[string]any{"type": "string", "maxLength": json.Number("12345678901234567")}},
				"required":   []any{"city"},
			},
		},
	}
	png := &llm.File{MediaType: "image/png", Data: []byte("PNG!")}
	pdf := &llm.File{MediaType: "application/pdf", Name: "report.pdf", Data: []byte("%PDF")}
	wav := &llm.File{MediaType: "audio/wav", Data: []byte("RIFF")}
	call := &llm.ToolCall{ID: "call_a", Name: "get_weather", Arguments: json.RawMessage(`{"city":"Oslo"}`)}

	for _, tc := range []struct {
		name   string
		opts   openai.Options
		req    *llm.Request
		want   map[string]any // fields of the body
		absent []string
	}{
		{
			name: "defaults",
			req:  &llm.Request{System: "Be brief.", Messages: []llm.Message{llm.UserMessage("hi")}},
			want: map[string]any{
				"model":          "gpt-4o-mini",
				"stream":         true,
				"stream_options": map[string]any{"include_usage": true},
				"messages": []any{
					map[string]any{"role": "system", "content": "Be brief."},
					map[string]any{"role": "user", "content": "hi"},
				},
			},
			absent: []string{"tools", "tool_choice", "response_format", "temperature", "top_p", "seed", "stop",
				"max_completion_tokens", "max_tokens", "reasoning_effort", "prompt_cache_key", "parallel_tool_calls"},
		},
		{
			name: "options_model_and_developer_role",
			opts: openai.Options{Model: "llama3.2", SystemRole: "developer"},
			req:  &llm.Request{System: "Be brief.", Messages: []llm.Message{llm.UserMessage("hi")}},
			want: map[string]any{
				"model":    "llama3.2",
				"messages": []any{map[string]any{"role": "developer", "content": "Be brief."}, map[string]any{"role": "user", "content": "hi"}},
			},
		},
		{
			name: "settings",
			opts: openai.Options{Model: "gpt-4o"},
			req: &llm.Request{Messages: []llm.Message{llm.UserMessage("hi")}, Settings: llm.Settings{
				Model: "gpt-4.1", Temperature: ptr(0.0), TopP: ptr(0.5), Seed: ptr(int64(42)), MaxOutputTokens: 100,
				StopSequences: []string{"END"}, ReasoningEffort: "high", ThinkingBudget: 2048,
			}},
			want: map[string]any{
				"model": "gpt-4.1", "temperature": 0.0, "top_p": 0.5, "seed": 42.0, "max_completion_tokens": 100.0,
				"stop": []any{"END"}, "reasoning_effort": "high",
			},
			absent: []string{"max_tokens", "thinking"},
		},
		{
			name:   "legacy_max_tokens",
			opts:   openai.Options{LegacyMaxTokens: true},
			req:    &llm.Request{Messages: []llm.Message{llm.UserMessage("hi")}, Settings: llm.Settings{MaxOutputTokens: 7}},
			want:   map[string]any{"max_tokens": 7.0},
			absent: []string{"max_completion_tokens"},
		},
		{
			name: "cache_sends_the_session_as_prompt_cache_key",
			req: &llm.Request{SessionID: "s1", Messages: []llm.Message{llm.UserMessage("hi")},
				Settings: llm.Settings{Cache: llm.CacheStrategy{System: true}}},
			want: map[string]any{"prompt_cache_key": "s1"},
		},
		{
			name:   "no_cache_no_key",
			req:    &llm.Request{SessionID: "s1", Messages: []llm.Message{llm.UserMessage("hi")}},
			absent: []string{"prompt_cache_key"},
		},
		{
			name:   "tool_choice_auto",
			req:    &llm.Request{Messages: []llm.Message{llm.UserMessage("hi")}, Tools: []llm.ToolSpec{weather}},
			want:   map[string]any{"tools": []any{weatherFn}},
			absent: []string{"tool_choice"},
		},
		{
			name: "tool_choice_none",
			req: &llm.Request{Messages: []llm.Message{llm.UserMessage("hi")}, Tools: []llm.ToolSpec{weather},
				ToolChoice: llm.ToolChoice{Mode: llm.ToolChoiceNone}},
			want: map[string]any{"tool_choice": "none"},
		},
		{
			name:   "tool_choice_none_without_tools",
			req:    &llm.Request{Messages: []llm.Message{llm.UserMessage("hi")}, ToolChoice: llm.ToolChoice{Mode: llm.ToolChoiceNone}},
			absent: []string{"tool_choice", "tools"},
		},
		{
			name: "tool_choice_required",
			req: &llm.Request{Messages: []llm.Message{llm.UserMessage("hi")}, Tools: []llm.ToolSpec{weather},
				ToolChoice: llm.ToolChoice{Mode: llm.ToolChoiceRequired}},
			want: map[string]any{"tool_choice": "required"},
		},
		{
			name: "tool_choice_named",
			req: &llm.Request{Messages: []llm.Message{llm.UserMessage("hi")}, Tools: []llm.ToolSpec{weather},
				ToolChoice: llm.ToolChoice{Mode: llm.ToolChoiceTool, Name: "get_weather"}},
			want: map[string]any{"tool_choice": map[string]any{"type": "function", "function": map[string]any{"name": "get_weather"}}},
		},
		{
			name: "strict_tool_and_empty_schema",
			req: &llm.Request{Messages: []llm.Message{llm.UserMessage("hi")},
				Tools: []llm.ToolSpec{{Name: "now", Strict: true}}},
			want: map[string]any{"tools": []any{map[string]any{"type": "function", "function": map[string]any{
				"name": "now", "strict": true, "parameters": map[string]any{"type": "object", "properties": map[string]any{},
					"required": []any{}, "additionalProperties": false},
			}}}},
		},
		{
			name: "strict_tool_with_optional_field_sent_non_strict",
			req: &llm.Request{Messages: []llm.Message{llm.UserMessage("hi")},
				Tools: []llm.ToolSpec{{Name: "f", Strict: true, InputSchema: json.RawMessage(
					`{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"string"}},"required":["a"],"additionalProperties":false}`)}}},
			want: map[string]any{"tools": []any{map[string]any{"type": "function", "function": map[string]any{
				"name": "f", "strict": false, "parameters": map[string]any{"type": "object",
					"properties": map[string]any{"a": map[string]any{"type": "string"}, "b": map[string]any{"type": "string"}},
					"required":   []any{"a"}, "additionalProperties": false},
			}}}},
		},
		{
			name: "strict_output_format",
			req: &llm.Request{Messages: []llm.Message{llm.UserMessage("hi")},
				Output: &llm.OutputFormat{Strict: true, Schema: json.RawMessage(`{"type":"object","properties":{"a":{"type":"string"}},"required":["a"],"additionalProperties":false}`)}},
			want: map[string]any{"response_format": map[string]any{"type": "json_schema",
				"json_schema": map[string]any{"name": "output", "strict": true, "schema": map[string]any{"type": "object",
					"properties": map[string]any{"a": map[string]any{"type": "string"}}, "required": []any{"a"}, "additionalProperties": false}}}},
		},
		{
			name: "strict_output_format_sent_non_strict",
			req: &llm.Request{Messages: []llm.Message{llm.UserMessage("hi")},
				Output: &llm.OutputFormat{Strict: true, Schema: json.RawMessage(`{"type":"object","properties":{"a":{"type":"string"}}}`)}},
			want: map[string]any{"response_format": map[string]any{"type": "json_schema",
				"json_schema": map[string]any{"name": "output", "strict": false, "schema": map[string]any{"type": "object",
					"properties": map[string]any{"a": map[string]any{"type": "string"}}}}}},
		},
		{
			name: "output_format",
			req: &llm.Request{Messages: []llm.Message{llm.UserMessage("hi")},
				Output: &llm.OutputFormat{Schema: json.RawMessage(`{"type":"object"}`)}},
			want: map[string]any{"response_format": map[string]any{"type": "json_schema",
				"json_schema": map[string]any{"name": "output", "schema": map[string]any{"type": "object"}}}},
		},
		{
			name: "files_in_a_user_message",
			req: &llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{
				llm.TextPart("What is this?"), {Type: llm.PartFile, File: png}, {Type: llm.PartFile, File: pdf},
				{Type: llm.PartFile, File: wav},
			}}}},
			want: map[string]any{"messages": []any{map[string]any{"role": "user", "content": []any{
				map[string]any{"type": "text", "text": "What is this?"},
				map[string]any{"type": "image_url", "image_url": map[string]any{"url": "data:image/png;base64,UE5HIQ=="}},
				map[string]any{"type": "file", "file": map[string]any{"filename": "report.pdf", "file_data": "data:application/pdf;base64,JVBERg=="}},
				map[string]any{"type": "input_audio", "input_audio": map[string]any{"data": "UklGRg==", "format": "wav"}},
			}}}},
		},
		{
			name: "several_text_parts",
			req: &llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{
				llm.TextPart("one"), llm.TextPart("two"),
			}}}},
			want: map[string]any{"messages": []any{map[string]any{"role": "user", "content": []any{
				map[string]any{"type": "text", "text": "one"}, map[string]any{"type": "text", "text": "two"},
			}}}},
		},
		{
			name: "history_with_thinking_tool_calls_and_results",
			req: &llm.Request{Messages: []llm.Message{
				llm.UserMessage("Weather in Oslo?"),
				{Role: llm.RoleAssistant, Parts: []llm.Part{
					{Type: llm.PartThinking, Text: "I should call the tool.", Signature: "sig"},
					llm.TextPart("Let me check."),
					{Type: llm.PartToolCall, ToolCall: call},
					{Type: llm.PartToolCall, ToolCall: &llm.ToolCall{ID: "call_b", Name: "now"}},
				}},
				{Role: llm.RoleTool, Parts: []llm.Part{
					{Type: llm.PartToolResult, ToolResult: &llm.ToolResult{ToolCallID: "call_a", ToolName: "get_weather", Output: json.RawMessage(`{"tempC":3}`)}},
					{Type: llm.PartToolResult, ToolResult: &llm.ToolResult{ToolCallID: "call_b", ToolName: "now", Output: json.RawMessage(`"noon"`), IsError: true}},
				}},
				{Role: llm.RoleAssistant, Parts: []llm.Part{{Type: llm.PartThinking, Text: "only thinking"}}},
				{Role: llm.RoleAssistant, Parts: []llm.Part{{Type: llm.PartThinking, Text: "hmm"}, llm.TextPart("It is 3 °C.")}, Interrupted: true},
			}},
			want: map[string]any{"messages": []any{
				map[string]any{"role": "user", "content": "Weather in Oslo?"},
				map[string]any{"role": "assistant", "content": "Let me check.", "tool_calls": []any{
					map[string]any{"id": "call_a", "type": "function", "function": map[string]any{"name": "get_weather", "arguments": `{"city":"Oslo"}`}},
					map[string]any{"id": "call_b", "type": "function", "function": map[string]any{"name": "now", "arguments": `{}`}},
				}},
				map[string]any{"role": "tool", "tool_call_id": "call_a", "content": `{"tempC":3}`},
				map[string]any{"role": "tool", "tool_call_id": "call_b", "content": "noon"},
				map[string]any{"role": "assistant", "content": "It is 3 °C."},
			}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := stream(t, okStream)
			m := f.model(t, tc.opts)
			if _, err := collect(m, tc.req); err != nil {
				t.Fatalf("Stream: %v", err)
			}
			body := decodeNumbers(t, f)
			for k, want := range tc.want {
				if d := cmp.Diff(normalize(want), body[k]); d != "" {
					t.Errorf("field %q (-want +got):\n%s", k, d)
				}
			}
			for _, k := range tc.absent {
				if v, ok := body[k]; ok {
					t.Errorf("field %q = %v; want it absent", k, v)
				}
			}
		})
	}
}

// decodeNumbers decodes the request body keeping numbers exact.
func decodeNumbers(t *testing.T, f *fake) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(string(f.request(t).body)))
	dec.UseNumber()
	var v map[string]any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// normalize turns the float64 literals of a want value into json.Number,
// as decodeNumbers reads them.
func normalize(v any) any {
	switch v := v.(type) {
	case float64:
		b, _ := json.Marshal(v)
		return json.Number(b)
	case map[string]any:
		out := map[string]any{}
		for k, e := range v {
			out[k] = normalize(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = normalize(e)
		}
		return out
	}
	return v
}

func TestRequestErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		req  *llm.Request
		want string
	}{
		{"nil_request", nil, "nil request"},
		{"unknown_role", &llm.Request{Messages: []llm.Message{{Role: "system", Parts: []llm.Part{llm.TextPart("x")}}}}, "unknown role"},
		{"file_in_assistant_message", &llm.Request{Messages: []llm.Message{{Role: llm.RoleAssistant, Parts: []llm.Part{
			{Type: llm.PartFile, File: &llm.File{MediaType: "image/png"}}}}}}, "user messages only"},
		{"unsupported_file", &llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{
			{Type: llm.PartFile, File: &llm.File{MediaType: "application/zip", Name: "a.zip"}}}}}}, "does not take"},
		{"tool_call_in_user_message", &llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{
			{Type: llm.PartToolCall, ToolCall: &llm.ToolCall{ID: "c", Name: "f"}}}}}}, "tool call in a user message"},
		{"unknown_part", &llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{{Type: "video"}}}}}, "unknown part type"},
		{"bad_schema", &llm.Request{Messages: []llm.Message{llm.UserMessage("x")},
			Tools: []llm.ToolSpec{{Name: "f", InputSchema: json.RawMessage(`[1]`)}}}, "input schema"},
		{"bad_output_schema", &llm.Request{Messages: []llm.Message{llm.UserMessage("x")},
			Output: &llm.OutputFormat{Name: "o", Schema: json.RawMessage(`{`)}}, "not JSON"},
		{"named_tool_not_offered", &llm.Request{Messages: []llm.Message{llm.UserMessage("x")}, Tools: []llm.ToolSpec{weather},
			ToolChoice: llm.ToolChoice{Mode: llm.ToolChoiceTool, Name: "nope"}}, "does not offer"},
		{"required_without_tools", &llm.Request{Messages: []llm.Message{llm.UserMessage("x")},
			ToolChoice: llm.ToolChoice{Mode: llm.ToolChoiceRequired}}, "offers no tools"},
		{"unknown_tool_choice", &llm.Request{Messages: []llm.Message{llm.UserMessage("x")}, Tools: []llm.ToolSpec{weather},
			ToolChoice: llm.ToolChoice{Mode: "any"}}, "unknown tool choice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := stream(t, okStream)
			_, err := collect(f.model(t, openai.Options{}), tc.req)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Stream error = %v; want one mentioning %q", err, tc.want)
			}
			var ae *llm.APIError
			if !errors.As(err, &ae) || ae.Provider != "openai" || ae.Status != 0 || ae.Retryable || llm.IsRetryable(err) {
				t.Errorf("a request the adapter cannot encode gave %#v; want a non-retryable *llm.APIError from openai", err)
			}
			if n := f.count(); n != 0 {
				t.Errorf("server got %d requests; want none", n)
			}
		})
	}
}

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts openai.Options
		want string
	}{
		{"zero_value", openai.Options{}, ""},
		{"local_server_without_key", openai.Options{BaseURL: "http://localhost:11434/v1", Model: "llama3.2"}, ""},
		{"require_key", openai.Options{RequireAPIKey: true}, "APIKey is empty"},
		{"require_key_given", openai.Options{RequireAPIKey: true, APIKey: "sk-x"}, ""},
		{"relative_base_url", openai.Options{BaseURL: "api.openai.com/v1"}, "BaseURL"},
		{"ftp_base_url", openai.Options{BaseURL: "ftp://example.com/v1"}, "BaseURL"},
		{"bad_system_role", openai.Options{SystemRole: "assistant"}, "SystemRole"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := openai.New(tc.opts)
			switch {
			case tc.want == "" && (err != nil || m == nil):
				t.Fatalf("New(%+v) = %v, %v; want a model", tc.opts, m, err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("New(%+v) error = %v; want one mentioning %q", tc.opts, err, tc.want)
			}
		})
	}
}

func TestHeaders(t *testing.T) {
	t.Run("key_and_extra_headers", func(t *testing.T) {
		f := stream(t, okStream)
		m := f.model(t, openai.Options{APIKey: "sk-test-123", Header: map[string][]string{
			"Openai-Organization": {"org-1"}, "X-Multi": {"a", "b"},
		}})
		if _, err := collect(m, userReq("hi")); err != nil {
			t.Fatal(err)
		}
		r := f.request(t)
		h := r.header
		if got := h.Get("Authorization"); got != "Bearer sk-test-123" {
			t.Errorf("Authorization = %q; want the bearer key", got)
		}
		if got := h.Get("OpenAI-Organization"); got != "org-1" {
			t.Errorf("OpenAI-Organization = %q; want org-1", got)
		}
		if got := h.Values("X-Multi"); !cmp.Equal(got, []string{"a", "b"}) {
			t.Errorf("X-Multi = %q; want [a b]", got)
		}
		if r.path != "/v1/chat/completions" {
			t.Errorf("path = %q; want /v1/chat/completions", r.path)
		}
	})
	t.Run("no_key_no_authorization", func(t *testing.T) {
		t.Setenv("OPENAI_API_KEY", "sk-from-the-environment")
		t.Setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/v1")
		f := stream(t, okStream)
		if _, err := collect(f.model(t, openai.Options{}), userReq("hi")); err != nil {
			t.Fatal(err)
		}
		if got := f.request(t).header.Get("Authorization"); got != "" {
			t.Errorf("Authorization = %q; want none (New must not read OPENAI_API_KEY)", got)
		}
	})
}

// TestStrictSchema checks which schemas are sent with strict true, for tools
// and for the output format alike: strict mode refuses, with a 400, a schema
// whose objects do not list every property as required and forbid
// additional ones.
func TestStrictSchema(t *testing.T) {
	obj := func(props, required string) string {
		return `{"type":"object","properties":{` + props + `},"required":[` + required + `],"additionalProperties":false}`
	}
	leaf := obj(`"x":{"type":"string"}`, `"x"`)
	for _, tc := range []struct {
		name   string
		schema string
		want   bool
	}{
		{"all_required", obj(`"a":{"type":"string"},"b":{"type":["integer","null"]}`, `"a","b"`), true},
		{"no_properties", `{"type":"object","properties":{},"additionalProperties":false}`, true},
		{"nested_in_properties_items_anyof_defs", `{"type":"object","properties":{"o":` + leaf +
			`,"l":{"type":"array","items":` + leaf + `},"u":{"anyOf":[` + leaf + `,{"type":"null"}]},"r":{"$ref":"#/$defs/d"}},` +
			`"required":["o","l","u","r"],"additionalProperties":false,"$defs":{"d":` + leaf + `}}`, true},
		{"optional_field", obj(`"a":{"type":"string"},"b":{"type":"string"}`, `"a"`), false},
		{"no_required", `{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":false}`, false},
		{"additional_properties_missing", `{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]}`, false},
		{"additional_properties_true", `{"type":"object","properties":{"a":{"type":"string"}},"required":["a"],"additionalProperties":true}`, false},
		{"additional_properties_schema", `{"type":"object","properties":{},"additionalProperties":{"type":"string"}}`, false},
		{"object_without_properties", `{"type":"object"}`, false},
		{"nested_object_optional", obj(`"o":`+obj(`"x":{"type":"string"}`, ``), `"o"`), false},
		{"nested_in_items", obj(`"l":{"type":"array","items":{"type":"object","properties":{"x":{"type":"string"}}}}`, `"l"`), false},
		{"nested_in_anyof", obj(`"u":{"anyOf":[{"type":"object","properties":{"x":{"type":"string"}},"required":["x"]}]}`, `"u"`), false},
		{"nested_in_defs", `{"type":"object","properties":{},"additionalProperties":false,"$defs":{"d":{"type":"object"}}}`, false},
		{"unsupported_keyword", obj(`"a":{"allOf":[{"type":"string"}]}`, `"a"`), false},
		{"boolean_subschema", obj(`"a":true`, `"a"`), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !json.Valid([]byte(tc.schema)) {
				t.Fatalf("test schema is not JSON: %s", tc.schema)
			}
			f := stream(t, okStream)
			req := &llm.Request{Messages: []llm.Message{llm.UserMessage("hi")},
				Tools:  []llm.ToolSpec{{Name: "f", Strict: true, InputSchema: json.RawMessage(tc.schema)}},
				Output: &llm.OutputFormat{Strict: true, Schema: json.RawMessage(tc.schema)}}
			if _, err := collect(f.model(t, openai.Options{}), req); err != nil {
				t.Fatal(err)
			}
			body := decodeNumbers(t, f)
			fn := body["tools"].([]any)[0].(map[string]any)["function"].(map[string]any)
			if got := fn["strict"]; got != tc.want {
				t.Errorf("tool strict = %v; want %v", got, tc.want)
			}
			js := body["response_format"].(map[string]any)["json_schema"].(map[string]any)
			if got := js["strict"]; got != tc.want {
				t.Errorf("response_format strict = %v; want %v", got, tc.want)
			}
			var sent, given any
			_ = json.Unmarshal([]byte(tc.schema), &given)
			b, _ := json.Marshal(fn["parameters"])
			_ = json.Unmarshal(b, &sent)
			if d := cmp.Diff(given, sent); d != "" {
				t.Errorf("tool schema changed (-given +sent):\n%s", d)
			}
		})
	}
}
