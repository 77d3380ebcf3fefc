package openai_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/helix-agents/helix-go/llm"
	"github.com/helix-agents/helix-go/llm/openai"
)

// Chunks as compatible servers send them: only the fields that matter.
const (
	finishStop  = `{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`
	finishTools = `{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}`
	usage       = `{"choices":[],"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}}`
	done        = `[DONE]`
)

func delta(d string) string {
	return `{"choices":[{"index":0,"delta":` + d + `,"finish_reason":null}]}`
}

func TestStreamCompat(t *testing.T) {
	for _, tc := range []struct {
		name string
		body string
		req  *llm.Request
		want string
	}{
		{
			name: "missing_tool_call_ids",
			body: sse(
				delta(`{"tool_calls":[{"index":0,"function":{"name":"a","arguments":""}}]}`),
				delta(`{"tool_calls":[{"index":1,"function":{"name":"b","arguments":"{}"}}]}`),
				delta(`{"tool_calls":[{"index":0,"function":{"arguments":"{\"x\":1}"}}]}`),
				finishTools, usage, done),
			want: "start call_1 a\nstart call_2 b\ndelta call_2 \"{}\"\ndelta call_1 \"{\\\"x\\\":1}\"\n" +
				"call call_1 a {\"x\":1}\ncall call_2 b {}\nusage 10 5 0 0 15\nfinish tool_calls\n",
		},
		{
			name: "generated_ids_follow_the_conversation",
			req: &llm.Request{Messages: []llm.Message{
				llm.UserMessage("go"),
				{Role: llm.RoleAssistant, Parts: []llm.Part{{Type: llm.PartToolCall, ToolCall: &llm.ToolCall{ID: "call_1", Name: "a"}}}},
				{Role: llm.RoleTool, Parts: []llm.Part{{Type: llm.PartToolResult, ToolResult: &llm.ToolResult{ToolCallID: "call_1", Output: json.RawMessage(`1`)}}}},
			}},
			body: sse(delta(`{"tool_calls":[{"index":0,"function":{"name":"a","arguments":"{}"}}]}`), finishTools, usage, done),
			want: "start call_2 a\ndelta call_2 \"{}\"\ncall call_2 a {}\nusage 10 5 0 0 15\nfinish tool_calls\n",
		},
		{
			name: "repeated_ids",
			body: sse(
				delta(`{"tool_calls":[{"index":0,"id":"call_0","function":{"name":"a","arguments":"{}"}}]}`),
				delta(`{"tool_calls":[{"index":1,"id":"call_0","function":{"name":"b","arguments":"{}"}}]}`),
				finishTools, usage, done),
			want: "start call_0 a\ndelta call_0 \"{}\"\nstart call_0_2 b\ndelta call_0_2 \"{}\"\n" +
				"call call_0 a {}\ncall call_0_2 b {}\nusage 10 5 0 0 15\nfinish tool_calls\n",
		},
		{
			name: "every_call_at_index_0",
			body: sse(
				delta(`{"tool_calls":[{"index":0,"id":"x1","function":{"name":"a","arguments":"{\"n\":"}}]}`),
				delta(`{"tool_calls":[{"index":0,"function":{"arguments":"1}"}}]}`),
				delta(`{"tool_calls":[{"index":0,"id":"x2","function":{"name":"a","arguments":"{\"n\":2}"}}]}`),
				finishTools, usage, done),
			want: "start x1 a\ndelta x1 \"{\\\"n\\\":\"\ndelta x1 \"1}\"\nstart x2 a\ndelta x2 \"{\\\"n\\\":2}\"\n" +
				"call x1 a {\"n\":1}\ncall x2 a {\"n\":2}\nusage 10 5 0 0 15\nfinish tool_calls\n",
		},
		{
			name: "no_index_no_ids_two_named_calls",
			body: sse(
				delta(`{"tool_calls":[{"function":{"name":"a","arguments":"{\"q\":1}"}}]}`),
				delta(`{"tool_calls":[{"function":{"name":"b","arguments":"{\"q\":2}"}}]}`),
				finishTools, usage, done),
			want: "start call_1 a\ndelta call_1 \"{\\\"q\\\":1}\"\nstart call_2 b\ndelta call_2 \"{\\\"q\\\":2}\"\n" +
				"call call_1 a {\"q\":1}\ncall call_2 b {\"q\":2}\nusage 10 5 0 0 15\nfinish tool_calls\n",
		},
		{
			name: "no_index_no_ids_same_name_split_arguments",
			body: sse(
				delta(`{"tool_calls":[{"function":{"name":"a","arguments":"{\"q\":"}}]}`),
				delta(`{"tool_calls":[{"function":{"arguments":"1}"}}]}`),
				delta(`{"tool_calls":[{"function":{"name":"a","arguments":"{\"q\":2}"}}]}`),
				finishTools, usage, done),
			want: "start call_1 a\ndelta call_1 \"{\\\"q\\\":\"\ndelta call_1 \"1}\"\nstart call_2 a\ndelta call_2 \"{\\\"q\\\":2}\"\n" +
				"call call_1 a {\"q\":1}\ncall call_2 a {\"q\":2}\nusage 10 5 0 0 15\nfinish tool_calls\n",
		},
		{
			name: "name_repeated_in_every_delta_of_one_call",
			body: sse(
				delta(`{"tool_calls":[{"index":0,"id":"c","function":{"name":"a","arguments":"{\"q\""}}]}`),
				delta(`{"tool_calls":[{"index":0,"id":"c","function":{"name":"a","arguments":":1}"}}]}`),
				finishTools, usage, done),
			want: "start c a\ndelta c \"{\\\"q\\\"\"\ndelta c \":1}\"\ncall c a {\"q\":1}\nusage 10 5 0 0 15\nfinish tool_calls\n",
		},
		{
			name: "index_0_for_both_calls_with_repeated_ids",
			body: sse(
				delta(`{"tool_calls":[{"index":0,"id":"call_0","function":{"name":"a","arguments":"{\"q\":1}"}}]}`),
				delta(`{"tool_calls":[{"index":0,"id":"call_0","function":{"name":"b","arguments":"{\"q\":2}"}}]}`),
				finishTools, usage, done),
			want: "start call_0 a\ndelta call_0 \"{\\\"q\\\":1}\"\nstart call_0_2 b\ndelta call_0_2 \"{\\\"q\\\":2}\"\n" +
				"call call_0 a {\"q\":1}\ncall call_0_2 b {\"q\":2}\nusage 10 5 0 0 15\nfinish tool_calls\n",
		},
		{
			name: "interleaved_by_index",
			body: sse(
				delta(`{"tool_calls":[{"index":0,"id":"c1","function":{"name":"a","arguments":"{\"q\":"}}]}`),
				delta(`{"tool_calls":[{"index":1,"id":"c2","function":{"name":"b","arguments":"{\"q\":"}}]}`),
				delta(`{"tool_calls":[{"index":0,"function":{"arguments":"1}"}}]}`),
				delta(`{"tool_calls":[{"index":1,"function":{"arguments":"2}"}}]}`),
				finishTools, usage, done),
			want: "start c1 a\ndelta c1 \"{\\\"q\\\":\"\nstart c2 b\ndelta c2 \"{\\\"q\\\":\"\ndelta c1 \"1}\"\ndelta c2 \"2}\"\n" +
				"call c1 a {\"q\":1}\ncall c2 b {\"q\":2}\nusage 10 5 0 0 15\nfinish tool_calls\n",
		},
		{
			name: "deltas_without_index",
			body: sse(
				delta(`{"tool_calls":[{"id":"t1","type":"function","function":{"name":"a","arguments":"{\"q\""}}]}`),
				delta(`{"tool_calls":[{"function":{"arguments":":\"x\"}"}}]}`),
				delta(`{"tool_calls":[{"id":"t2","type":"function","function":{"name":"b"}}]}`),
				delta(`{"tool_calls":[{"id":"t2","function":{"arguments":"{}"}}]}`),
				finishTools, usage, done),
			want: "start t1 a\ndelta t1 \"{\\\"q\\\"\"\ndelta t1 \":\\\"x\\\"}\"\nstart t2 b\ndelta t2 \"{}\"\n" +
				"call t1 a {\"q\":\"x\"}\ncall t2 b {}\nusage 10 5 0 0 15\nfinish tool_calls\n",
		},
		{
			name: "arguments_before_the_name",
			body: sse(
				delta(`{"tool_calls":[{"index":0,"id":"c","function":{"arguments":"{\"a\""}}]}`),
				delta(`{"tool_calls":[{"index":0,"function":{"name":"f","arguments":":1}"}}]}`),
				finishTools, usage, done),
			want: "start c f\ndelta c \"{\\\"a\\\":1}\"\ncall c f {\"a\":1}\nusage 10 5 0 0 15\nfinish tool_calls\n",
		},
		{
			name: "id_after_the_first_delta",
			body: sse(
				delta(`{"tool_calls":[{"index":0,"function":{"arguments":"{"}}]}`),
				delta(`{"tool_calls":[{"index":0,"id":"late","function":{"name":"f","arguments":"}"}}]}`),
				finishTools, usage, done),
			want: "start late f\ndelta late \"{}\"\ncall late f {}\nusage 10 5 0 0 15\nfinish tool_calls\n",
		},
		{
			name: "arguments_not_json",
			body: sse(delta(`{"tool_calls":[{"index":0,"id":"c","function":{"name":"f","arguments":"{\"city\": \"Par"}}]}`),
				finishTools, usage, done),
			want: "start c f\ndelta c \"{\\\"city\\\": \\\"Par\"\ncall c f \"{\\\"city\\\": \\\"Par\"\nusage 10 5 0 0 15\nfinish tool_calls\n",
		},
		{
			name: "no_arguments",
			body: sse(delta(`{"tool_calls":[{"index":0,"id":"c","function":{"name":"f"}}]}`), finishTools, usage, done),
			want: "start c f\ncall c f {}\nusage 10 5 0 0 15\nfinish tool_calls\n",
		},
		{
			name: "stop_with_tool_calls",
			body: sse(delta(`{"tool_calls":[{"index":0,"id":"c","function":{"name":"f","arguments":"{}"}}]}`), finishStop, usage, done),
			want: "start c f\ndelta c \"{}\"\ncall c f {}\nusage 10 5 0 0 15\nfinish tool_calls\n",
		},
		{
			name: "usage_absent",
			body: sse(delta(`{"content":"hi"}`), finishStop, done),
			want: "text \"hi\"\nfinish stop\n",
		},
		{
			name: "usage_in_the_finish_chunk_without_done",
			body: sse(delta(`{"content":"hi"}`),
				`{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":4,"completion_tokens":1}}`),
			want: "text \"hi\"\nusage 4 1 0 0 5\nfinish stop\n",
		},
		{
			name: "usage_in_every_chunk",
			body: sse(
				`{"choices":[{"index":0,"delta":{"content":"a"}}],"usage":{"prompt_tokens":4,"completion_tokens":1,"total_tokens":5}}`,
				`{"choices":[{"index":0,"delta":{"content":"b"}}],"usage":{"prompt_tokens":4,"completion_tokens":2,"total_tokens":6}}`,
				`{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":4,"completion_tokens":2,"total_tokens":6}}`),
			want: "text \"a\"\ntext \"b\"\nusage 4 2 0 0 6\nfinish stop\n",
		},
		{
			name: "usage_details",
			body: sse(delta(`{"content":"x"}`), finishStop,
				`{"choices":[],"usage":{"prompt_tokens":2000,"completion_tokens":300,"total_tokens":2300,"prompt_tokens_details":{"cached_tokens":1024},"completion_tokens_details":{"reasoning_tokens":256}}}`,
				done),
			want: "text \"x\"\nusage 2000 300 256 1024 2300\nfinish stop\n",
		},
		{
			name: "reasoning_content",
			body: sse(
				delta(`{"role":"assistant","content":null,"reasoning_content":"Let me"}`),
				delta(`{"content":null,"reasoning_content":" think."}`),
				delta(`{"content":"42","reasoning_content":null}`),
				finishStop, usage, done),
			want: "thinking \"Let me\"\nthinking \" think.\"\nthinking_end\ntext \"42\"\nusage 10 5 0 0 15\nfinish stop\n",
		},
		{
			name: "reasoning_field_then_tool_call",
			body: sse(
				delta(`{"reasoning":"Use the tool."}`),
				delta(`{"tool_calls":[{"index":0,"id":"c","function":{"name":"f","arguments":"{}"}}]}`),
				finishTools, usage, done),
			want: "thinking \"Use the tool.\"\nthinking_end\nstart c f\ndelta c \"{}\"\ncall c f {}\nusage 10 5 0 0 15\nfinish tool_calls\n",
		},
		{
			name: "both_reasoning_fields",
			body: sse(delta(`{"reasoning_content":"once","reasoning":"once"}`), delta(`{"content":"ok"}`), finishStop, usage, done),
			want: "thinking \"once\"\nthinking_end\ntext \"ok\"\nusage 10 5 0 0 15\nfinish stop\n",
		},
		{
			name: "reasoning_only",
			body: sse(delta(`{"reasoning_content":"hmm"}`), `{"choices":[{"index":0,"delta":{},"finish_reason":"length"}]}`, usage, done),
			want: "thinking \"hmm\"\nthinking_end\nusage 10 5 0 0 15\nfinish length\n",
		},
		{
			name: "refusal",
			body: sse(delta(`{"content":null,"refusal":"I can't help with that."}`), finishStop, usage, done),
			want: "text \"I can't help with that.\"\nusage 10 5 0 0 15\nfinish stop\n",
		},
		{
			name: "finish_reasons",
			body: sse(delta(`{"content":"x"}`), `{"choices":[{"index":0,"delta":{},"finish_reason":"eos"}]}`, usage, done),
			want: "text \"x\"\nusage 10 5 0 0 15\nfinish other\n",
		},
		{
			name: "content_filter",
			body: sse(delta(`{"content":"x"}`), `{"choices":[{"index":0,"delta":{},"finish_reason":"content_filter"}]}`, usage, done),
			want: "text \"x\"\nusage 10 5 0 0 15\nfinish content_filter\n",
		},
		{
			name: "function_call_finish",
			body: sse(delta(`{"tool_calls":[{"index":0,"id":"c","function":{"name":"f","arguments":"{}"}}]}`),
				`{"choices":[{"index":0,"delta":{},"finish_reason":"function_call"}]}`, usage, done),
			want: "start c f\ndelta c \"{}\"\ncall c f {}\nusage 10 5 0 0 15\nfinish tool_calls\n",
		},
		{
			name: "extra_fields_comments_empty_choices_and_crlf",
			body: strings.ReplaceAll(sse(
				": keep-alive",
				`{"id":"x","object":"chat.completion.chunk","choices":[],"prompt_filter_results":[{"prompt_index":0}]}`,
				`{"id":"x","choices":[{"index":0,"delta":{"content":"a","x_extra":{"k":[1]}},"logprobs":null,"finish_reason":null,"stop_reason":null}],"x_groq":{"id":"req"}}`,
				`{"choices":[{"index":1,"delta":{"content":"other choice"}}]}`,
				`{"choices":[{"index":0,"delta":{"content":""},"finish_reason":"stop"}]}`,
				usage, done), "\n", "\r\n"),
			want: "text \"a\"\nusage 10 5 0 0 15\nfinish stop\n",
		},
		{
			name: "after_done",
			body: sse(delta(`{"content":"a"}`), finishStop, usage, done, delta(`{"content":"ignored"}`)),
			want: "text \"a\"\nusage 10 5 0 0 15\nfinish stop\n",
		},
		{
			name: "usage_absent_and_no_done_is_truncated",
			body: sse(delta(`{"content":"hi"}`), finishStop),
			want: "text \"hi\"\nerror status=0 code=\"\" retryable=true message=\"stream ended before the answer was complete\"\n",
		},
		{
			name: "no_finish_reason_is_truncated",
			body: sse(delta(`{"content":"hi"}`), usage, done),
			want: "text \"hi\"\nerror status=0 code=\"\" retryable=true message=\"stream ended before the answer was complete\"\n",
		},
		{
			name: "empty_body_is_truncated",
			body: "",
			want: "error status=0 code=\"\" retryable=true message=\"stream ended before the answer was complete\"\n",
		},
		{
			name: "tool_call_without_name",
			body: sse(delta(`{"tool_calls":[{"index":0,"id":"c","function":{"arguments":"{}"}}]}`), finishTools, usage, done),
			want: "error status=0 code=\"\" retryable=false message=\"malformed stream: a tool call has no function name\"\n",
		},
		{
			name: "malformed_json",
			body: sse(delta(`{"content":"a"}`), `{"choices":[`, finishStop, usage, done),
			want: "text \"a\"\nerror status=0 code=\"\" retryable=false message=\"malformed stream: event is not JSON (offset 13): unexpected end of JSON input\"\n",
		},
		{
			name: "not_an_object",
			body: sse(`[1,2]`, finishStop, usage, done),
			want: "error status=0 code=\"\" retryable=false message=\"malformed stream: event is a JSON array, not a chunk object: json: cannot unmarshal array into Go value of type openai.ChatCompletionChunk\"\n",
		},
		{
			name: "error_event",
			body: sse(delta(`{"content":"a"}`),
				`{"error":{"message":"The server had an error while processing your request. Sorry about that!","type":"server_error","param":null,"code":null}}`),
			want: "text \"a\"\nerror status=0 code=\"server_error\" retryable=true message=\"error event in stream: The server had an error while processing your request. Sorry about that!\"\n",
		},
		{
			name: "error_event_with_a_numeric_code",
			body: sse("event: error", `{"error":{"object":"error","message":"context too long","type":"BadRequestError","param":null,"code":400}}`),
			want: "error status=0 code=\"BadRequestError\" retryable=false message=\"error event in stream: context too long\"\n",
		},
		{
			name: "error_event_as_text",
			body: sse(`{"error":"model crashed"}`),
			want: "error status=0 code=\"\" retryable=false message=\"error event in stream: model crashed\"\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := tc.req
			if req == nil {
				req = userReq("hi")
			}
			evs, err := collect(stream(t, tc.body).model(t, openai.Options{}), req)
			if d := cmp.Diff(tc.want, render(evs, err)); d != "" {
				t.Errorf("events (-want +got):\n%s", d)
			}
		})
	}
}

func TestErrorStatus(t *testing.T) {
	const key = "sk-secret-key-0123456789"
	for _, tc := range []struct {
		name   string
		status int
		header http.Header
		body   string
		want   llm.APIError
	}{
		{
			name: "openai_with_retry_after_ms", status: 429,
			header: http.Header{"Retry-After-Ms": {"1500"}, "Retry-After": {"2"}, "Content-Type": {"application/json"}},
			body:   `{"error":{"message":"Rate limit reached.","type":"tokens","param":null,"code":"rate_limit_exceeded"}}`,
			want:   llm.APIError{Status: 429, Code: "rate_limit_exceeded", Message: "Rate limit reached.", RetryAfter: 1500 * time.Millisecond, Retryable: true},
		},
		{
			name: "code_falls_back_to_type", status: 500,
			body: `{"error":{"message":"boom","type":"server_error","param":null,"code":null}}`,
			want: llm.APIError{Status: 500, Code: "server_error", Message: "boom", Retryable: true},
		},
		{
			name: "key_in_the_message_is_redacted", status: 401,
			body: `{"error":{"message":"Incorrect API key provided: ` + key + `.","type":"invalid_request_error","code":"invalid_api_key"}}`,
			want: llm.APIError{Status: 401, Code: "invalid_api_key", Message: "Incorrect API key provided: [redacted]."},
		},
		{
			name: "ollama", status: 404,
			body: `{"error":"model \"llama9\" not found, try pulling it first"}`,
			want: llm.APIError{Status: 404, Message: `model "llama9" not found, try pulling it first`},
		},
		{
			name: "vllm", status: 400,
			body: `{"object":"error","message":"max_tokens is too large","type":"BadRequestError","param":null,"code":400}`,
			want: llm.APIError{Status: 400, Code: "BadRequestError", Message: "max_tokens is too large"},
		},
		{
			name: "fastapi_detail", status: 422,
			body: `{"detail":"Unprocessable"}`,
			want: llm.APIError{Status: 422, Message: "Unprocessable"},
		},
		{
			name: "html_from_a_proxy", status: 502, header: http.Header{"Content-Type": {"text/html"}},
			body: "<html>\n<head><title>502 Bad Gateway</title></head>\n<body>nginx</body>\n</html>\n",
			want: llm.APIError{Status: 502, Message: "<html> <head><title>502 Bad Gateway</title></head> <body>nginx</body> </html>", Retryable: true},
		},
		{
			name: "empty_body", status: 503, header: http.Header{"Retry-After": {"Wed, 21 Oct 2065 07:28:00 GMT"}},
			want: llm.APIError{Status: 503, Message: "Service Unavailable", Retryable: true},
		},
		{
			name: "conflict", status: 409,
			body: `{"error":{"message":"busy"}}`,
			want: llm.APIError{Status: 409, Message: "busy", Retryable: true},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, tc.status, tc.header, tc.body)
			_, err := collect(f.model(t, openai.Options{APIKey: key}), userReq("hi"))
			var ae *llm.APIError
			if !errors.As(err, &ae) {
				t.Fatalf("error %v (%T); want an *llm.APIError", err, err)
			}
			got := *ae
			if tc.name == "empty_body" && got.RetryAfter < time.Hour {
				t.Errorf("RetryAfter = %v; want the time until the Retry-After date", got.RetryAfter)
			}
			if tc.name == "empty_body" {
				got.RetryAfter = 0
			}
			tc.want.Provider = "openai"
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("APIError (-want +got):\n%s", d)
			}
			if strings.Contains(err.Error(), key) {
				t.Errorf("error reveals the key: %v", err)
			}
			if n := f.count(); n != 1 {
				t.Errorf("server got %d requests; want 1 (no SDK retries)", n)
			}
		})
	}
}

func TestErrorBodyIsBounded(t *testing.T) {
	f := newFake(t, 500, nil, strings.Repeat("x", 1<<20))
	_, err := collect(f.model(t, openai.Options{}), userReq("hi"))
	var ae *llm.APIError
	if !errors.As(err, &ae) || len(ae.Message) > 400 || !ae.Retryable {
		t.Fatalf("error = %v; want a retryable APIError with a short message", err)
	}
}

func TestCancelledBeforeTheCall(t *testing.T) {
	f := stream(t, okStream)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var got error
	for _, err := range f.model(t, openai.Options{}).Stream(ctx, userReq("hi")) {
		got = err
	}
	if !errors.Is(got, context.Canceled) || llm.IsRetryable(got) {
		t.Fatalf("Stream with a cancelled context ended with %v; want context.Canceled", got)
	}
}

func TestModelIsSafeForConcurrentUse(t *testing.T) {
	f := stream(t, okStream)
	m := f.model(t, openai.Options{})
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			_, err := collect(m, userReq("hi"))
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
