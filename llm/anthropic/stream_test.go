package anthropic_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/helix-agents/helix-go/llm"
	"github.com/helix-agents/helix-go/llm/anthropic"
	"github.com/helix-agents/helix-go/llm/internal/httpx"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const testKey = "sk-ant-test-SECRET-key"

// fakeAPI answers every request in memory and records what it was sent.
type fakeAPI struct {
	status int
	header http.Header
	body   string

	mu     sync.Mutex
	reqs   []*http.Request // guarded by mu
	closed bool            // guarded by mu; the response body was closed
}

func (f *fakeAPI) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	f.mu.Lock()
	f.reqs = append(f.reqs, r)
	f.mu.Unlock()
	h := f.header
	if h == nil {
		h = http.Header{"Content-Type": {"text/event-stream; charset=utf-8"}}
	}
	status := f.status
	if status == 0 {
		status = http.StatusOK
	}
	return &http.Response{StatusCode: status, Status: fmt.Sprint(status), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: &trackedBody{r: strings.NewReader(f.body), f: f}, ContentLength: -1, Request: r}, nil
}

type trackedBody struct {
	r io.Reader
	f *fakeAPI
}

func (b *trackedBody) Read(p []byte) (int, error) { return b.r.Read(p) }

func (b *trackedBody) Close() error {
	b.f.mu.Lock()
	b.f.closed = true
	b.f.mu.Unlock()
	return nil
}

func (f *fakeAPI) model(t *testing.T) *anthropic.Model {
	t.Helper()
	m, err := anthropic.New(anthropic.Options{APIKey: testKey, BaseURL: "http://anthropic.test", HTTPClient: &http.Client{Transport: f}})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func run(t *testing.T, m llm.Model, req *llm.Request) ([]llm.Event, error) {
	t.Helper()
	var evs []llm.Event
	for ev, err := range m.Stream(t.Context(), req) {
		if err != nil {
			return evs, err
		}
		evs = append(evs, ev)
	}
	return evs, nil
}

func hello() *llm.Request {
	return &llm.Request{Messages: []llm.Message{llm.UserMessage("hi")}}
}

// sse builds a stream body from data lines: each line's "type" is its
// event name.
func sse(lines ...string) string {
	var b strings.Builder
	for _, l := range lines {
		name := "message"
		if i := strings.Index(l, `"type":"`); i >= 0 {
			rest := l[i+len(`"type":"`):]
			name = rest[:strings.IndexByte(rest, '"')]
		}
		fmt.Fprintf(&b, "event: %s\ndata: %s\n\n", name, l)
	}
	return b.String()
}

const (
	msgStart  = `{"type":"message_start","message":{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":10,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1}}}`
	msgStop   = `{"type":"message_stop"}`
	textStart = `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`
	textStop  = `{"type":"content_block_stop","index":0}`
)

func textDelta(s string) string {
	return fmt.Sprintf(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":%q}}`, s)
}

func msgDelta(reason string, out int) string {
	return fmt.Sprintf(`{"type":"message_delta","delta":{"stop_reason":%q,"stop_sequence":null},"usage":{"output_tokens":%d}}`, reason, out)
}

func TestStreamEvents(t *testing.T) {
	usage := func(p, c int64) llm.Event {
		return llm.Event{Type: llm.EventUsage, Usage: llm.Usage{PromptTokens: p, CompletionTokens: c, TotalTokens: p + c}}
	}
	finish := func(r llm.FinishReason) llm.Event { return llm.Event{Type: llm.EventFinish, FinishReason: r} }
	text := func(s string) llm.Event { return llm.Event{Type: llm.EventTextDelta, Text: s} }
	for _, tc := range []struct {
		name string
		body string
		want []llm.Event
	}{
		{
			name: "tool input not JSON",
			body: sse(msgStart,
				`{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{}}}`,
				`{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"city\": \"Par"}}`,
				`{"type":"content_block_stop","index":0}`,
				msgDelta("tool_use", 5), msgStop),
			want: []llm.Event{
				{Type: llm.EventToolCallStart, ToolCall: llm.ToolCall{ID: "toolu_1", Name: "get_weather"}},
				{Type: llm.EventToolCallDelta, ToolCall: llm.ToolCall{ID: "toolu_1", Name: "get_weather"}, ArgsDelta: `{"city": "Par`},
				{Type: llm.EventToolCall, ToolCall: llm.ToolCall{ID: "toolu_1", Name: "get_weather", Arguments: []byte(`"{\"city\": \"Par"`)}},
				usage(10, 5), finish(llm.FinishToolCalls),
			},
		},
		{
			name: "tool without arguments",
			body: sse(msgStart,
				`{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_1","name":"now","input":{}}}`,
				`{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":""}}`,
				`{"type":"content_block_stop","index":0}`,
				msgDelta("tool_use", 5), msgStop),
			want: []llm.Event{
				{Type: llm.EventToolCallStart, ToolCall: llm.ToolCall{ID: "toolu_1", Name: "now"}},
				{Type: llm.EventToolCall, ToolCall: llm.ToolCall{ID: "toolu_1", Name: "now", Arguments: []byte(`{}`)}},
				usage(10, 5), finish(llm.FinishToolCalls),
			},
		},
		{
			name: "tool input only in content_block_start",
			body: sse(msgStart,
				`{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city":"Oslo"}}}`,
				`{"type":"content_block_stop","index":0}`,
				msgDelta("tool_use", 5), msgStop),
			want: []llm.Event{
				{Type: llm.EventToolCallStart, ToolCall: llm.ToolCall{ID: "toolu_1", Name: "get_weather"}},
				{Type: llm.EventToolCall, ToolCall: llm.ToolCall{ID: "toolu_1", Name: "get_weather", Arguments: []byte(`{"city":"Oslo"}`)}},
				usage(10, 5), finish(llm.FinishToolCalls),
			},
		},
		{
			name: "unknown stop reason",
			body: sse(msgStart, textStart, textDelta("hi"), textStop, msgDelta("brand_new_reason", 2), msgStop),
			want: []llm.Event{text("hi"), usage(10, 2), finish(llm.FinishOther)},
		},
		{
			name: "pause_turn",
			body: sse(msgStart, textStart, textDelta("hi"), textStop, msgDelta("pause_turn", 2), msgStop),
			want: []llm.Event{text("hi"), usage(10, 2), finish(llm.FinishOther)},
		},
		{
			name: "refusal",
			body: sse(msgStart, textStart, textStop, msgDelta("refusal", 2), msgStop),
			want: []llm.Event{usage(10, 2), finish(llm.FinishContentFilter)},
		},
		{
			name: "stop_sequence",
			body: sse(msgStart, textStart, textDelta("a"), textStop, msgDelta("stop_sequence", 2), msgStop),
			want: []llm.Event{text("a"), usage(10, 2), finish(llm.FinishStop)},
		},
		{
			name: "context window exceeded",
			body: sse(msgStart, textStart, textDelta("a"), textStop, msgDelta("model_context_window_exceeded", 2), msgStop),
			want: []llm.Event{text("a"), usage(10, 2), finish(llm.FinishLength)},
		},
		{
			name: "no stop reason",
			body: sse(msgStart, textStart, textDelta("a"), textStop, msgStop),
			want: []llm.Event{text("a"), usage(10, 1), finish(llm.FinishOther)},
		},
		{
			name: "ping and unknown events are skipped",
			body: "event: ping\ndata: {\"type\": \"ping\"}\n\n" + sse(msgStart, textStart, `{"type":"brand_new_event","index":0}`, textDelta("a"),
				`{"type":"content_block_delta","index":0,"delta":{"type":"citations_delta","citation":{}}}`,
				textStop) + "event: ping\ndata: {\"type\": \"ping\"}\n\n" + sse(msgDelta("end_turn", 2), msgStop),
			want: []llm.Event{text("a"), usage(10, 2), finish(llm.FinishStop)},
		},
		{
			name: "redacted thinking",
			body: sse(msgStart,
				`{"type":"content_block_start","index":0,"content_block":{"type":"redacted_thinking","data":"EmwKAhgBEgy3va3pzix"}}`,
				`{"type":"content_block_stop","index":0}`,
				`{"type":"content_block_start","index":1,"content_block":{"type":"thinking","thinking":"","signature":""}}`,
				`{"type":"content_block_delta","index":1,"delta":{"type":"thinking_delta","thinking":"hmm"}}`,
				`{"type":"content_block_delta","index":1,"delta":{"type":"signature_delta","signature":"c2ln"}}`,
				`{"type":"content_block_stop","index":1}`,
				`{"type":"content_block_start","index":2,"content_block":{"type":"text","text":""}}`,
				`{"type":"content_block_delta","index":2,"delta":{"type":"text_delta","text":"ok"}}`,
				`{"type":"content_block_stop","index":2}`,
				msgDelta("end_turn", 9), msgStop),
			want: []llm.Event{
				{Type: llm.EventThinkingEnd, Redacted: true, Signature: "EmwKAhgBEgy3va3pzix", Provider: "anthropic"},
				{Type: llm.EventThinkingDelta, Text: "hmm"},
				{Type: llm.EventThinkingEnd, Signature: "c2ln", Provider: "anthropic"},
				text("ok"), usage(10, 9), finish(llm.FinishStop),
			},
		},
		{
			name: "interleaved blocks",
			body: sse(msgStart, textStart,
				`{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"f","input":{}}}`,
				textDelta("a"),
				`{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{}"}}`,
				textStop, `{"type":"content_block_stop","index":1}`, msgDelta("tool_use", 3), msgStop),
			want: []llm.Event{
				{Type: llm.EventToolCallStart, ToolCall: llm.ToolCall{ID: "toolu_1", Name: "f"}},
				text("a"),
				{Type: llm.EventToolCallDelta, ToolCall: llm.ToolCall{ID: "toolu_1", Name: "f"}, ArgsDelta: "{}"},
				{Type: llm.EventToolCall, ToolCall: llm.ToolCall{ID: "toolu_1", Name: "f", Arguments: []byte("{}")}},
				usage(10, 3), finish(llm.FinishToolCalls),
			},
		},
		{
			name: "cumulative usage in message_delta",
			body: sse(msgStart, textStart, textDelta("a"), textStop,
				`{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"input_tokens":12,"cache_creation_input_tokens":100,"cache_read_input_tokens":300,"output_tokens":40,"output_tokens_details":{"thinking_tokens":25}}}`,
				`{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":50}}`,
				msgStop),
			want: []llm.Event{text("a"),
				{Type: llm.EventUsage, Usage: llm.Usage{PromptTokens: 412, CachedTokens: 300, CacheWriteTokens: 100, CompletionTokens: 50, ReasoningTokens: 25, TotalTokens: 462}},
				finish(llm.FinishStop)},
		},
		{
			name: "text in content_block_start",
			body: sse(msgStart, `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":"Let me "}}`,
				textDelta("see."), textStop, msgDelta("end_turn", 3), msgStop),
			want: []llm.Event{text("Let me "), text("see."), usage(10, 3), finish(llm.FinishStop)},
		},
		{
			name: "data after message_stop is ignored",
			body: sse(msgStart, textStart, textDelta("a"), textStop, msgDelta("end_turn", 2), msgStop, textDelta("late")),
			want: []llm.Event{text("a"), usage(10, 2), finish(llm.FinishStop)},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeAPI{body: tc.body}
			got, err := run(t, f.model(t), hello())
			if err != nil {
				t.Fatalf("Stream: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStreamErrors(t *testing.T) {
	partial := sse(msgStart, textStart, textDelta("Hel"))
	for _, tc := range []struct {
		name      string
		body      string
		status    int
		code      string
		retryable bool
		cause     error
	}{
		{
			name:   "mid-stream overloaded",
			body:   partial + "event: error\ndata: {\"type\":\"error\",\"error\":{\"details\":null,\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n",
			status: 529, code: "overloaded_error", retryable: true,
		},
		{
			name:   "mid-stream api_error",
			body:   partial + "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"Internal server error\"}}\n\n",
			status: 500, code: "api_error", retryable: true,
		},
		{
			name:   "mid-stream invalid_request_error",
			body:   partial + "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\",\"message\":\"bad\"}}\n\n",
			status: 400, code: "invalid_request_error",
		},
		{
			name: "mid-stream unknown error type",
			body: partial + "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"brand_new_error\",\"message\":\"?\"}}\n\n",
			code: "brand_new_error",
		},
		{name: "error event not JSON", body: partial + "event: error\ndata: overloaded\n\n"},
		{name: "truncated", body: partial, retryable: true, cause: httpx.ErrTruncated},
		{name: "truncated mid-event", body: partial + "event: content_block_delta\ndata: {\"type\":\"content_", retryable: true, cause: httpx.ErrTruncated},
		{name: "empty body", body: "", retryable: true, cause: httpx.ErrTruncated},
		{name: "invalid JSON", body: partial + "event: content_block_delta\ndata: {\"type\":\n\n"},
		{name: "event before message_start", body: sse(textStart, textDelta("a"))},
		{name: "delta for a block not open", body: sse(msgStart, textDelta("a"))},
		{name: "delta of the wrong kind", body: sse(msgStart, textStart, `{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{"}}`)},
		{name: "block started twice", body: sse(msgStart, textStart, textStart)},
		{name: "stop for a block not open", body: sse(msgStart, textStop)},
		{name: "index missing", body: sse(msgStart, `{"type":"content_block_start","content_block":{"type":"text","text":""}}`)},
		{name: "index of the wrong type", body: sse(msgStart, `{"type":"content_block_start","index":"x","content_block":{"type":"text","text":""}}`)},
		{name: "tool_use without id", body: sse(msgStart, `{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","name":"f","input":{}}}`)},
		{
			name: "tool_use id twice",
			body: sse(msgStart,
				`{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"t","name":"f","input":{}}}`,
				`{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"t","name":"f","input":{}}}`),
		},
		{name: "message_stop with a block open", body: sse(msgStart, textStart, textDelta("a"), msgStop)},
		{name: "second message_start", body: sse(msgStart, msgStart)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeAPI{body: tc.body}
			evs, err := run(t, f.model(t), hello())
			var ae *llm.APIError
			if !errors.As(err, &ae) {
				t.Fatalf("Stream ended with %v (events %+v); want an *llm.APIError", err, evs)
			}
			if ae.Provider != "anthropic" || ae.Status != tc.status || ae.Code != tc.code || ae.Retryable != tc.retryable {
				t.Errorf("APIError = {Provider:%q Status:%d Code:%q Retryable:%v}; want {anthropic %d %q %v} (%v)",
					ae.Provider, ae.Status, ae.Code, ae.Retryable, tc.status, tc.code, tc.retryable, err)
			}
			if tc.cause != nil && !errors.Is(err, tc.cause) {
				t.Errorf("error %v does not wrap %v", err, tc.cause)
			}
			for _, ev := range evs {
				if ev.Type == llm.EventFinish {
					t.Errorf("EventFinish before the error")
				}
			}
			if !f.closed {
				t.Errorf("response body not closed")
			}
		})
	}
}

func TestHTTPErrors(t *testing.T) {
	for _, tc := range []struct {
		name       string
		status     int
		header     http.Header
		body       string
		code, msg  string
		retryable  bool
		retryAfter time.Duration
	}{
		{
			name: "rate limited", status: 429,
			header: http.Header{"Content-Type": {"application/json"}, "Retry-After": {"7"}},
			body:   `{"type":"error","error":{"type":"rate_limit_error","message":"slow down"},"request_id":"req_011C"}`,
			code:   "rate_limit_error", msg: "slow down", retryable: true, retryAfter: 7 * time.Second,
		},
		{
			name: "overloaded", status: 529,
			body: `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`,
			code: "overloaded_error", msg: "Overloaded", retryable: true,
		},
		{
			name: "proxy page", status: 502, header: http.Header{"Content-Type": {"text/html"}},
			body: "<html>bad gateway</html>", msg: "<html>bad gateway</html>", retryable: true,
		},
		{
			name: "key echoed by a proxy", status: 401, header: http.Header{"Content-Type": {"text/plain"}},
			body: "bad key " + testKey, msg: "bad key [redacted]",
		},
		{name: "empty body", status: 403, msg: "Forbidden"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeAPI{status: tc.status, header: tc.header, body: tc.body}
			if f.header == nil {
				f.header = http.Header{"Content-Type": {"application/json"}}
			}
			_, err := run(t, f.model(t), hello())
			var ae *llm.APIError
			if !errors.As(err, &ae) {
				t.Fatalf("Stream ended with %v; want an *llm.APIError", err)
			}
			want := llm.APIError{Provider: "anthropic", Status: tc.status, Code: tc.code, Message: tc.msg, Retryable: tc.retryable, RetryAfter: tc.retryAfter}
			got := *ae
			got.Err = nil
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("APIError (-want +got):\n%s", diff)
			}
			if strings.Contains(err.Error(), testKey) {
				t.Errorf("error reveals the key: %v", err)
			}
			if len(f.reqs) != 1 {
				t.Errorf("%d requests; want 1 (no SDK retries)", len(f.reqs))
			}
		})
	}
}

func TestStopEarlyClosesBody(t *testing.T) {
	f := &fakeAPI{body: sse(msgStart, textStart, textDelta("a"), textDelta("b"), textStop, msgDelta("end_turn", 2), msgStop)}
	for ev, err := range f.model(t).Stream(t.Context(), hello()) {
		if err != nil || ev.Type == llm.EventTextDelta {
			break
		}
	}
	if !f.closed {
		t.Errorf("response body not closed after the consumer stopped")
	}
}

func TestCancelledContext(t *testing.T) {
	f := &fakeAPI{body: sse(msgStart, textStart, textDelta("a"), textDelta("b"), textStop, msgDelta("end_turn", 2), msgStop)}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var err error
	for ev, e := range f.model(t).Stream(ctx, hello()) {
		if e != nil {
			err = e
			break
		}
		if ev.Type == llm.EventTextDelta {
			cancel() // the rest of the body is already buffered
		}
	}
	if !errors.Is(err, context.Canceled) || llm.IsRetryable(err) {
		t.Errorf("Stream after cancel ended with %v; want context.Canceled", err)
	}
	if !f.closed {
		t.Errorf("response body not closed")
	}
}

func TestRequestHeaders(t *testing.T) {
	t.Setenv("ANTHROPIC_API_KEY", "sk-from-env")
	t.Setenv("ANTHROPIC_AUTH_TOKEN", "tok-from-env")
	f := &fakeAPI{body: sse(msgStart, textStart, textDelta("a"), textStop, msgDelta("end_turn", 2), msgStop)}
	m, err := anthropic.New(anthropic.Options{BaseURL: "http://anthropic.test/proxy", HTTPClient: &http.Client{Transport: f}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, m, hello()); err != nil {
		t.Fatal(err)
	}
	r := f.reqs[0]
	if r.URL.String() != "http://anthropic.test/proxy/v1/messages" {
		t.Errorf("URL = %s; want http://anthropic.test/proxy/v1/messages", r.URL)
	}
	if k, a := r.Header.Get("X-Api-Key"), r.Header.Get("Authorization"); k != "" || a != "" {
		t.Errorf("credentials from the environment were sent: x-api-key %q, authorization %q", k, a)
	}
	if v := r.Header.Get("Anthropic-Version"); v == "" {
		t.Errorf("no anthropic-version header")
	}
}

func TestNew(t *testing.T) {
	for _, o := range []anthropic.Options{
		{MaxTokens: -1},
		{BaseURL: "api.anthropic.com"},
		{BaseURL: "ftp://api.anthropic.com"},
		{BaseURL: "http://[::1"},
	} {
		if _, err := anthropic.New(o); err == nil {
			t.Errorf("New(%+v) succeeded; want an error", o)
		}
	}
	if _, err := anthropic.New(anthropic.Options{}); err != nil {
		t.Errorf("New(zero Options) = %v", err)
	}
}
