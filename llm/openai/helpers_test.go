package openai_test

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

	"github.com/helix-agents/helix-go/llm"
	"github.com/helix-agents/helix-go/llm/openai"
)

// fake is an OpenAI-compatible server answering every request with one
// response, recording what it was sent.
type fake struct {
	srv    *httptest.Server
	status int
	header http.Header
	body   string

	mu       sync.Mutex
	requests []recorded
}

type recorded struct {
	path   string
	header http.Header
	body   []byte
}

func newFake(t *testing.T, status int, header http.Header, body string) *fake {
	t.Helper()
	f := &fake{status: status, header: header, body: body}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.requests = append(f.requests, recorded{path: r.URL.Path, header: r.Header.Clone(), body: b})
		f.mu.Unlock()
		for k, v := range f.header {
			w.Header()[k] = v
		}
		if w.Header().Get("Content-Type") == "" {
			w.Header().Set("Content-Type", "text/event-stream")
		}
		w.WriteHeader(f.status)
		io.WriteString(w, f.body)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// stream serves an SSE body with status 200.
func stream(t *testing.T, body string) *fake { return newFake(t, http.StatusOK, nil, body) }

func (f *fake) model(t *testing.T, o openai.Options) *openai.Model {
	t.Helper()
	o.BaseURL = f.srv.URL + "/v1"
	m, err := openai.New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return m
}

// request returns the only request the server got.
func (f *fake) request(t *testing.T) recorded {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.requests) != 1 {
		t.Fatalf("server got %d requests; want 1", len(f.requests))
	}
	return f.requests[0]
}

func (f *fake) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.requests)
}

// collect runs one call to its end.
func collect(m llm.Model, req *llm.Request) ([]llm.Event, error) {
	var evs []llm.Event
	for ev, err := range m.Stream(context.Background(), req) {
		if err != nil {
			return evs, err
		}
		evs = append(evs, ev)
	}
	return evs, nil
}

// render prints events and the error one per line, as the conformance
// transcripts do.
func render(evs []llm.Event, err error) string {
	var b strings.Builder
	for _, ev := range evs {
		switch ev.Type {
		case llm.EventTextDelta:
			fmt.Fprintf(&b, "text %q\n", ev.Text)
		case llm.EventThinkingDelta:
			fmt.Fprintf(&b, "thinking %q\n", ev.Text)
		case llm.EventThinkingEnd:
			fmt.Fprintf(&b, "thinking_end\n")
		case llm.EventToolCallStart:
			fmt.Fprintf(&b, "start %s %s\n", ev.ToolCall.ID, ev.ToolCall.Name)
		case llm.EventToolCallDelta:
			fmt.Fprintf(&b, "delta %s %q\n", ev.ToolCall.ID, ev.ArgsDelta)
		case llm.EventToolCall:
			fmt.Fprintf(&b, "call %s %s %s\n", ev.ToolCall.ID, ev.ToolCall.Name, ev.ToolCall.Arguments)
		case llm.EventUsage:
			u := ev.Usage
			fmt.Fprintf(&b, "usage %d %d %d %d %d\n", u.PromptTokens, u.CompletionTokens, u.ReasoningTokens, u.CachedTokens, u.TotalTokens)
		case llm.EventFinish:
			fmt.Fprintf(&b, "finish %s\n", ev.FinishReason)
		}
	}
	if err != nil {
		var ae *llm.APIError
		if errors.As(err, &ae) {
			fmt.Fprintf(&b, "error status=%d code=%q retryable=%v message=%q\n", ae.Status, ae.Code, ae.Retryable, ae.Message)
		} else {
			fmt.Fprintf(&b, "error %v\n", err)
		}
	}
	return b.String()
}

// sse builds a stream body: each argument is the data of one event, or a
// raw line when it starts with ":" or "event:".
func sse(events ...string) string {
	var b strings.Builder
	for _, e := range events {
		if strings.HasPrefix(e, ":") || strings.HasPrefix(e, "event:") {
			b.WriteString(e + "\n")
			continue
		}
		b.WriteString("data: " + e + "\n\n")
	}
	return b.String()
}

// userReq is a one-message request.
func userReq(text string) *llm.Request {
	return &llm.Request{Messages: []llm.Message{llm.UserMessage(text)}}
}

// okStream is a minimal complete answer.
var okStream = sse(
	`{"choices":[{"index":0,"delta":{"content":"ok"},"finish_reason":null}]}`,
	`{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`,
	`{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}`,
	`[DONE]`)
