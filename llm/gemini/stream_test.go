package gemini_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/helix-agents/helix-go/llm"
	"github.com/helix-agents/helix-go/llm/gemini"
	"github.com/helix-agents/helix-go/llm/internal/httpx"
)

const testKey = "AIza-test-key-SECRET-0123456789"

// fake is a Gemini endpoint that answers every request with one canned
// response and records what it was sent.
type fake struct {
	status int
	header http.Header
	body   string

	mu    sync.Mutex
	reqs  []*http.Request
	bodys []string
}

func (f *fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.reqs = append(f.reqs, r.Clone(context.Background()))
	f.bodys = append(f.bodys, string(b))
	f.mu.Unlock()
	for k, v := range f.header {
		w.Header()[k] = v
	}
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "text/event-stream")
	}
	status := f.status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, f.body)
}

func (f *fake) requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.reqs)
}

// start serves f and returns a model pointed at it.
func start(t *testing.T, f *fake) *gemini.Model {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	m, err := gemini.New(t.Context(), gemini.Options{APIKey: testKey, BaseURL: srv.URL, HTTPClient: &http.Client{Transport: testTransport}})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// sse joins events the way Gemini frames them.
func sse(events ...string) string {
	var b strings.Builder
	for _, e := range events {
		b.WriteString("data: " + e + "\r\n\r\n")
	}
	return b.String()
}

func drain(t *testing.T, m llm.Model, req *llm.Request) ([]llm.Event, error) {
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

// render prints events compactly, one per line.
func render(evs []llm.Event) string {
	var b strings.Builder
	for _, ev := range evs {
		switch ev.Type {
		case llm.EventTextDelta:
			fmt.Fprintf(&b, "text %q\n", ev.Text)
		case llm.EventThinkingDelta:
			fmt.Fprintf(&b, "thinking %q\n", ev.Text)
		case llm.EventThinkingEnd:
			fmt.Fprintf(&b, "thinking_end %q\n", ev.Signature)
		case llm.EventToolCallStart:
			fmt.Fprintf(&b, "start %s %s\n", ev.ToolCall.ID, ev.ToolCall.Name)
		case llm.EventToolCallDelta:
			fmt.Fprintf(&b, "delta %s %s\n", ev.ToolCall.ID, ev.ArgsDelta)
		case llm.EventToolCall:
			fmt.Fprintf(&b, "call %s %s %s\n", ev.ToolCall.ID, ev.ToolCall.Name, ev.ToolCall.Arguments)
		case llm.EventUsage:
			u := ev.Usage
			fmt.Fprintf(&b, "usage %d %d %d %d %d\n", u.PromptTokens, u.CompletionTokens, u.ReasoningTokens, u.CachedTokens, u.TotalTokens)
		case llm.EventFinish:
			fmt.Fprintf(&b, "finish %s\n", ev.FinishReason)
		}
	}
	return b.String()
}

func cand(parts, finish string) string {
	f := ""
	if finish != "" {
		f = `"finishReason": "` + finish + `",`
	}
	return `{"candidates": [{"content": {"parts": [` + parts + `],"role": "model"},` + f + `"index": 0}],"usageMetadata": {"promptTokenCount": 5,"candidatesTokenCount": 2,"totalTokenCount": 7},"modelVersion": "gemini-2.5-flash","responseId": "r1"}`
}

func TestStreamDecoding(t *testing.T) {
	req := &llm.Request{Messages: []llm.Message{llm.UserMessage("hi")}}
	for _, tc := range []struct {
		name string
		body string
		want string
	}{
		{"unknown finish reason is other", sse(cand(`{"text": "Hi"}`, "SOMETHING_NEW")),
			"text \"Hi\"\nusage 5 2 0 0 7\nfinish other\n"},
		{"language is other", sse(cand(`{"text": "Hi"}`, "LANGUAGE")),
			"text \"Hi\"\nusage 5 2 0 0 7\nfinish other\n"},
		{"safety is content_filter", sse(cand(`{"text": "Hi"}`, "SAFETY")),
			"text \"Hi\"\nusage 5 2 0 0 7\nfinish content_filter\n"},
		{"recitation is content_filter", sse(cand(`{"text": "Hi"}`, "RECITATION")),
			"text \"Hi\"\nusage 5 2 0 0 7\nfinish content_filter\n"},
		{"max tokens with a call is length", sse(cand(`{"functionCall": {"name": "f","args": {"a": 1}}}`, "MAX_TOKENS")),
			"start call_1_1 f\ndelta call_1_1 {\"a\":1}\ncall call_1_1 f {\"a\":1}\nusage 5 2 0 0 7\nfinish length\n"},
		{"empty candidates tolerated",
			sse(`{"candidates": [],"modelVersion": "gemini-2.5-flash"}`, `{"modelVersion": "gemini-2.5-flash"}`, cand(`{"text": "Hi"}`, "STOP")),
			"text \"Hi\"\nusage 5 2 0 0 7\nfinish stop\n"},
		{"blocked prompt",
			sse(`{"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},"usageMetadata": {"promptTokenCount": 9,"totalTokenCount": 9},"modelVersion": "gemini-2.5-flash","responseId": "r2"}`),
			"usage 9 0 0 0 9\nfinish content_filter\n"},
		{"signature on a text part",
			sse(cand(`{"text": "Hi","thoughtSignature": "c2lnbmF0dXJl"}`, "STOP")),
			"thinking_end \"c2lnbmF0dXJl\"\ntext \"Hi\"\nusage 5 2 0 0 7\nfinish stop\n"},
		{"signature on an empty last part",
			sse(cand(`{"text": "Hi"}`, ""), cand(`{"text": "","thoughtSignature": "c2ln"}`, "STOP")),
			"text \"Hi\"\nthinking_end \"c2ln\"\nusage 5 2 0 0 7\nfinish stop\n"},
		{"thoughts close before a call that has an id",
			sse(cand(`{"text": "Let me look.","thought": true}`, ""), cand(`{"functionCall": {"id": "fc-9","name": "f","args": {}},"thoughtSignature": "c2ln"}`, "STOP")),
			"thinking \"Let me look.\"\nthinking_end \"c2ln\"\nstart fc-9 f\ndelta fc-9 {}\ncall fc-9 f {}\nusage 5 2 0 0 7\nfinish tool_calls\n"},
		{"thoughts close before text without a signature",
			sse(cand(`{"text": "Hmm.","thought": true},{"text": "Yes."}`, "STOP")),
			"thinking \"Hmm.\"\nthinking_end \"\"\ntext \"Yes.\"\nusage 5 2 0 0 7\nfinish stop\n"},
		{"thoughts only are closed at the end",
			sse(cand(`{"text": "Hmm.","thought": true}`, "MAX_TOKENS")),
			"thinking \"Hmm.\"\nthinking_end \"\"\nusage 5 2 0 0 7\nfinish length\n"},
		{"duplicate ids are replaced",
			sse(cand(`{"functionCall": {"id": "x","name": "f"}},{"functionCall": {"id": "x","name": "g"}}`, "STOP")),
			"start x f\ndelta x {}\ncall x f {}\nstart call_1_2 g\ndelta call_1_2 {}\ncall call_1_2 g {}\nusage 5 2 0 0 7\nfinish tool_calls\n"},
		{"usage without a total is summed",
			sse(`{"candidates": [{"content": {"parts": [{"text": "Hi"}],"role": "model"},"finishReason": "STOP","index": 0}],"usageMetadata": {"promptTokenCount": 5,"candidatesTokenCount": 2,"thoughtsTokenCount": 3,"cachedContentTokenCount": 4}}`),
			"text \"Hi\"\nusage 5 5 3 4 10\nfinish stop\n"},
		{"last usage wins and finish waits for the end",
			sse(cand(`{"text": "A"}`, "STOP"), `{"candidates": [{"content": {"parts": [{"text": "B"}],"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": 6,"candidatesTokenCount": 3,"totalTokenCount": 9}}`),
			"text \"A\"\ntext \"B\"\nusage 6 3 0 0 9\nfinish stop\n"},
		{"LF separators are read too",
			"data: " + cand(`{"text": "Hi"}`, "STOP") + "\n\n",
			"text \"Hi\"\nusage 5 2 0 0 7\nfinish stop\n"},
		{"second candidate ignored",
			sse(`{"candidates": [{"content": {"parts": [{"text": "B"}],"role": "model"},"index": 1},{"content": {"parts": [{"text": "A"}],"role": "model"},"finishReason": "STOP","index": 0}],"usageMetadata": {"promptTokenCount": 1,"candidatesTokenCount": 1,"totalTokenCount": 2}}`),
			"text \"A\"\nusage 1 1 0 0 2\nfinish stop\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := start(t, &fake{body: tc.body})
			evs, err := drain(t, m, req)
			if err != nil {
				t.Fatalf("Stream: %v", err)
			}
			if got := render(evs); got != tc.want {
				t.Errorf("events:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

func TestStreamFailures(t *testing.T) {
	req := &llm.Request{Messages: []llm.Message{llm.UserMessage("hi")}}
	good := cand(`{"text": "Hi"}`, "")
	for _, tc := range []struct {
		name      string
		body      string
		status    int
		code      string
		retryable bool
		cause     error  // errors.Is target, if any
		events    string // events before the error
	}{
		{name: "no finish reason", body: sse(good), retryable: true, cause: httpx.ErrTruncated, events: "text \"Hi\"\n"},
		{name: "empty body", body: "", retryable: true, cause: httpx.ErrTruncated},
		{name: "cut inside an event", body: sse(good) + `data: {"candidates": [{"content": {"par`, retryable: true, cause: httpx.ErrTruncated, events: "text \"Hi\"\n"},
		{name: "malformed event", body: sse(good) + "data: {\"candidates\": [{\"content\r\n\r\n" + sse(cand(`{"text": "!"}`, "STOP")), events: "text \"Hi\"\n"},
		{name: "wrong type", body: sse(`{"candidates": "none"}`)},
		{name: "candidate not an object", body: sse(`{"candidates": [1]}`)},
		{name: "null candidate", body: sse(`{"candidates": [null]}`)},
		{name: "not a data line", body: "event: ping\r\n\r\n" + sse(cand(`{"text": "Hi"}`, "STOP"))},
		{name: "call without a name", body: sse(cand(`{"functionCall": {"args": {}}}`, "STOP"))},
		{name: "error event mid-stream",
			body:   sse(good) + "data: {\"error\": {\"code\": 500,\"message\": \"An internal error has occurred.\",\"status\": \"INTERNAL\"}}\r\n\r\n",
			status: 500, code: "INTERNAL", retryable: true, events: "text \"Hi\"\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fake{body: tc.body}
			m := start(t, f)
			evs, err := drain(t, m, req)
			var ae *llm.APIError
			if !errors.As(err, &ae) {
				t.Fatalf("Stream ended with %v (%T); want an *llm.APIError", err, err)
			}
			if ae.Provider != "gemini" || ae.Status != tc.status || ae.Code != tc.code || ae.Retryable != tc.retryable {
				t.Errorf("error = %+v; want status %d, code %q, retryable %v", ae, tc.status, tc.code, tc.retryable)
			}
			if tc.cause != nil && !errors.Is(err, tc.cause) {
				t.Errorf("error %v does not wrap %v", err, tc.cause)
			}
			if got := render(evs); got != tc.events {
				t.Errorf("events before the error:\n%s\nwant:\n%s", got, tc.events)
			}
			if n := f.requests(); n != 1 {
				t.Errorf("%d HTTP requests; want 1 (no SDK retries or continuation)", n)
			}
		})
	}
}

func TestErrorResponses(t *testing.T) {
	req := &llm.Request{Messages: []llm.Message{llm.UserMessage("hi")}}
	retryInfo := func(d string) string {
		return `{"error": {"code": 429,"message": "Resource exhausted.","status": "RESOURCE_EXHAUSTED","details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo","retryDelay": "` + d + `"}]}}`
	}
	for _, tc := range []struct {
		name       string
		status     int
		header     http.Header
		body       string
		code       string
		retryable  bool
		retryAfter time.Duration
		message    string
	}{
		{name: "retry info", status: 429, body: retryInfo("7s"), code: "RESOURCE_EXHAUSTED", retryable: true, retryAfter: 7 * time.Second},
		{name: "fractional retry info", status: 429, body: retryInfo("45.5s"), code: "RESOURCE_EXHAUSTED", retryable: true, retryAfter: 45500 * time.Millisecond},
		{name: "header wins", status: 429, header: http.Header{"Retry-After": {"3"}}, body: retryInfo("7s"), code: "RESOURCE_EXHAUSTED", retryable: true, retryAfter: 3 * time.Second},
		{name: "unreadable retry info", status: 429, body: retryInfo("soon"), code: "RESOURCE_EXHAUSTED", retryable: true},
		{name: "permission denied", status: 403, body: `{"error": {"code": 403,"message": "Method doesn't allow unregistered callers.","status": "PERMISSION_DENIED"}}`,
			code: "PERMISSION_DENIED", message: "Method doesn't allow unregistered callers."},
		{name: "proxy page", status: 502, header: http.Header{"Content-Type": {"text/html"}}, body: "<html>" + strings.Repeat("x", 5000) + "</html>", retryable: true},
		{name: "empty body", status: 500, retryable: true},
		{name: "key echoed", status: 400, body: `{"error": {"code": 400,"message": "bad key ` + testKey + `","status": "INVALID_ARGUMENT"}}`,
			code: "INVALID_ARGUMENT", message: "bad key [redacted]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fake{status: tc.status, header: tc.header, body: tc.body}
			if tc.header == nil {
				f.header = http.Header{"Content-Type": {"application/json; charset=UTF-8"}}
			}
			m := start(t, f)
			_, err := drain(t, m, req)
			var ae *llm.APIError
			if !errors.As(err, &ae) {
				t.Fatalf("Stream ended with %v (%T); want an *llm.APIError", err, err)
			}
			if ae.Status != tc.status || ae.Code != tc.code || ae.Retryable != tc.retryable || ae.RetryAfter != tc.retryAfter {
				t.Errorf("error = status %d code %q retryable %v retryAfter %v; want %d %q %v %v",
					ae.Status, ae.Code, ae.Retryable, ae.RetryAfter, tc.status, tc.code, tc.retryable, tc.retryAfter)
			}
			if tc.message != "" && ae.Message != tc.message {
				t.Errorf("message = %q; want %q", ae.Message, tc.message)
			}
			if len(ae.Message) > 2100 {
				t.Errorf("message is %d bytes; want it capped", len(ae.Message))
			}
			if strings.Contains(err.Error(), testKey) {
				t.Errorf("error reveals the key: %v", err)
			}
			if n := f.requests(); n != 1 {
				t.Errorf("%d HTTP requests; want 1 (SDK retries must be off)", n)
			}
		})
	}
}

// A panic in the consumer's loop body is the consumer's: the adapter must
// not turn it into a stream error.
func TestConsumerPanicPropagates(t *testing.T) {
	m := start(t, &fake{body: sse(cand(`{"text": "Hi"}`, "STOP"))})
	defer func() {
		if p := recover(); p != "boom" {
			t.Errorf("recovered %v; want the consumer's panic", p)
		}
	}()
	for ev, err := range m.Stream(t.Context(), &llm.Request{Messages: []llm.Message{llm.UserMessage("hi")}}) {
		if err != nil {
			t.Fatalf("Stream: %v", err)
		}
		if ev.Type == llm.EventTextDelta {
			panic("boom")
		}
	}
	t.Fatal("the loop ended without the panic")
}

func TestCancelBeforeStart(t *testing.T) {
	f := &fake{body: sse(cand(`{"text": "Hi"}`, "STOP"))}
	m := start(t, f)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	var err error
	for _, e := range m.Stream(ctx, &llm.Request{Messages: []llm.Message{llm.UserMessage("hi")}}) {
		err = e
	}
	if !errors.Is(err, context.Canceled) || llm.IsRetryable(err) {
		t.Errorf("Stream with a cancelled ctx = %v; want context.Canceled, not retryable", err)
	}
}

func readCloser(s string) io.ReadCloser { return io.NopCloser(strings.NewReader(s)) }
