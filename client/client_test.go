package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/client"
	"github.com/helix-agents/helix-go/llm"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// request is what the fake server saw of one request.
type request struct {
	Method, Path string
	Query        url.Values
	Header       http.Header
	Body         string
}

// answer is what the fake server answers.
type answer struct {
	status int
	header map[string]string
	body   string
}

// newFake starts a server that records each request on the returned
// channel (before answering, so the receive happens after the request) and
// answers with a.
func newFake(t *testing.T, a answer) (*httptest.Server, <-chan request) {
	t.Helper()
	reqs := make(chan request, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		reqs <- request{r.Method, r.URL.Path, r.URL.Query(), r.Header.Clone(), string(b)}
		for k, v := range a.header {
			w.Header().Set(k, v)
		}
		if a.body != "" && w.Header().Get("Content-Type") == "" {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(a.status)
		_, _ = io.WriteString(w, a.body)
	}))
	t.Cleanup(srv.Close)
	return srv, reqs
}

func mustNew(t *testing.T, baseURL string, opts client.Options) *client.Client {
	t.Helper()
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{}
	}
	c, err := client.New(baseURL, opts)
	if err != nil {
		t.Fatalf("New(%q) = %v", baseURL, err)
	}
	return c
}

// jsonEqual reports the difference between two JSON texts, "" if they
// hold the same value.
func jsonDiff(t *testing.T, got, want string) string {
	t.Helper()
	if got == "" || want == "" {
		return cmp.Diff(want, got)
	}
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		return "got invalid JSON " + got + ": " + err.Error()
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want invalid JSON %s: %v", want, err)
	}
	return cmp.Diff(w, g)
}

func TestMethods(t *testing.T) {
	expires := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	created := time.Date(2026, 4, 1, 8, 30, 0, 0, time.UTC)
	type tokenAnswer struct {
		Token     string
		ExpiresAt time.Time
	}
	tests := []struct {
		name      string
		call      func(ctx context.Context, c *client.Client) (any, error)
		method    string
		path      string
		query     url.Values // nil: no query
		body      string     // "": no body
		answer    answer
		want      any
		wantError error
	}{
		{
			name: "start full",
			call: func(ctx context.Context, c *client.Client) (any, error) {
				return c.Start(ctx, client.StartRequest{
					AgentType: "assistant", SessionID: "s1", Message: "hi",
					State: json.RawMessage(`{"n":1}`), Metadata: map[string]string{"k": "v"},
				})
			},
			method: "POST", path: "/start",
			body:   `{"agentType":"assistant","sessionId":"s1","message":"hi","state":{"n":1},"metadata":{"k":"v"}}`,
			answer: answer{200, nil, `{"sessionId":"s1","streamId":"st1","runId":"r1"}`},
			want:   &client.RunRef{SessionID: "s1", StreamID: "st1", RunID: "r1"},
		},
		{
			name: "start minimal",
			call: func(ctx context.Context, c *client.Client) (any, error) {
				return c.Start(ctx, client.StartRequest{AgentType: "assistant", Message: "hi"})
			},
			method: "POST", path: "/start",
			body:   `{"agentType":"assistant","message":"hi"}`,
			answer: answer{200, nil, `{"sessionId":"gen","streamId":"st","runId":"r","extra":true}`},
			want:   &client.RunRef{SessionID: "gen", StreamID: "st", RunID: "r"},
		},
		{
			name: "resume with message",
			call: func(ctx context.Context, c *client.Client) (any, error) {
				return c.Resume(ctx, "s1", "go on")
			},
			method: "POST", path: "/resume",
			body:   `{"sessionId":"s1","message":"go on"}`,
			answer: answer{200, nil, `{"sessionId":"s1","streamId":"st1","runId":"r2"}`},
			want:   &client.RunRef{SessionID: "s1", StreamID: "st1", RunID: "r2"},
		},
		{
			name: "resume without message",
			call: func(ctx context.Context, c *client.Client) (any, error) {
				return c.Resume(ctx, "s1", "")
			},
			method: "POST", path: "/resume",
			body:   `{"sessionId":"s1"}`,
			answer: answer{200, nil, `{"sessionId":"s1","streamId":"st1","runId":"r2"}`},
			want:   &client.RunRef{SessionID: "s1", StreamID: "st1", RunID: "r2"},
		},
		{
			name: "interrupt",
			call: func(ctx context.Context, c *client.Client) (any, error) {
				return c.Interrupt(ctx, "s1", "user left")
			},
			method: "POST", path: "/interrupt",
			body:   `{"sessionId":"s1","reason":"user left"}`,
			answer: answer{202, nil, `{"sessionId":"s1","status":"running"}`},
			want:   helix.StatusRunning,
		},
		{
			name: "abort without reason",
			call: func(ctx context.Context, c *client.Client) (any, error) {
				return c.Abort(ctx, "s1", "")
			},
			method: "POST", path: "/abort",
			body:   `{"sessionId":"s1"}`,
			answer: answer{202, nil, `{"sessionId":"s1","status":"interrupted"}`},
			want:   helix.StatusInterrupted,
		},
		{
			name: "approve",
			call: func(ctx context.Context, c *client.Client) (any, error) {
				return c.Approve(ctx, "s1", "call_1", true, "looks fine")
			},
			method: "POST", path: "/submit-tool-result",
			body:   `{"sessionId":"s1","toolCallId":"call_1","kind":"approval","approved":true,"reason":"looks fine"}`,
			answer: answer{200, nil, `{"sessionId":"s1","resumed":true,"runId":"r3","streamId":"st1"}`},
			want:   &client.SubmitResult{SessionID: "s1", Resumed: true, RunID: "r3", StreamID: "st1"},
		},
		{
			name: "deny sends approved false",
			call: func(ctx context.Context, c *client.Client) (any, error) {
				return c.Approve(ctx, "s1", "call_1", false, "")
			},
			method: "POST", path: "/submit-tool-result",
			body:   `{"sessionId":"s1","toolCallId":"call_1","kind":"approval","approved":false}`,
			answer: answer{200, nil, `{"sessionId":"s1","resumed":false}`},
			want:   &client.SubmitResult{SessionID: "s1"},
		},
		{
			name: "client tool result",
			call: func(ctx context.Context, c *client.Client) (any, error) {
				return c.SubmitClientToolResult(ctx, "s1", "call_2", json.RawMessage(`{"lat":1.5}`), "")
			},
			method: "POST", path: "/submit-tool-result",
			body:   `{"sessionId":"s1","toolCallId":"call_2","kind":"client-tool-result","result":{"lat":1.5}}`,
			answer: answer{200, nil, `{"sessionId":"s1","resumed":true,"runId":"r4","streamId":"st1"}`},
			want:   &client.SubmitResult{SessionID: "s1", Resumed: true, RunID: "r4", StreamID: "st1"},
		},
		{
			name: "client tool error",
			call: func(ctx context.Context, c *client.Client) (any, error) {
				return c.SubmitClientToolResult(ctx, "s1", "call_2", nil, "no GPS")
			},
			method: "POST", path: "/submit-tool-result",
			body:   `{"sessionId":"s1","toolCallId":"call_2","kind":"client-tool-result","error":"no GPS"}`,
			answer: answer{200, nil, `{"sessionId":"s1","resumed":false}`},
			want:   &client.SubmitResult{SessionID: "s1"},
		},
		{
			name: "retry",
			call: func(ctx context.Context, c *client.Client) (any, error) {
				return c.Retry(ctx, "s1")
			},
			method: "POST", path: "/retry",
			body:   `{"sessionId":"s1"}`,
			answer: answer{200, nil, `{"sessionId":"s1","streamId":"st1","runId":"r5"}`},
			want:   &client.RunRef{SessionID: "s1", StreamID: "st1", RunID: "r5"},
		},
		{
			name: "stream token",
			call: func(ctx context.Context, c *client.Client) (any, error) {
				tok, exp, err := c.StreamToken(ctx, "s1")
				return tokenAnswer{tok, exp}, err
			},
			method: "POST", path: "/stream-token",
			body:   `{"sessionId":"s1"}`,
			answer: answer{200, nil, `{"token":"hst1.abc","expiresAt":"2026-05-01T12:00:00Z"}`},
			want:   tokenAnswer{"hst1.abc", expires},
		},
		{
			name: "status",
			call: func(ctx context.Context, c *client.Client) (any, error) {
				return c.Status(ctx, "s 1/x")
			},
			method: "GET", path: "/status", query: url.Values{"sessionId": {"s 1/x"}},
			answer: answer{200, nil, `{"sessionId":"s 1/x","agentType":"assistant","status":"suspended_approval","stepCount":3,
				"runId":"r1","streamSequence":42,
				"pending":[{"kind":"approval","toolCallId":"c1","toolName":"rm","approvalId":"a1","arguments":{"path":"/"}}],
				"output":{"answer":42},"error":{"code":"E","category":"provider","message":"boom","retryable":true},
				"usage":{"promptTokens":10,"completionTokens":5,"totalTokens":15},"aborted":true,"abortReason":"why"}`},
			want: &client.StatusInfo{
				SessionID: "s 1/x", AgentType: "assistant", Status: helix.StatusSuspendedApproval, StepCount: 3,
				RunID: "r1", StreamSequence: 42,
				Pending: []helix.PendingInfo{{Kind: "approval", ToolCallID: "c1", ToolName: "rm", ApprovalID: "a1",
					Arguments: json.RawMessage(`{"path":"/"}`)}},
				Output:  json.RawMessage(`{"answer":42}`),
				Error:   &helix.ErrorInfo{Code: "E", Category: "provider", Message: "boom", Retryable: true},
				Usage:   llm.Usage{PromptTokens: 10, CompletionTokens: 5, TotalTokens: 15},
				Aborted: true, AbortReason: "why",
			},
		},
		{
			name: "messages paged",
			call: func(ctx context.Context, c *client.Client) (any, error) {
				return c.Messages(ctx, "s1", 10, 2)
			},
			method: "GET", path: "/messages",
			query:  url.Values{"sessionId": {"s1"}, "offset": {"10"}, "limit": {"2"}},
			answer: answer{200, nil, `{"messages":[{"role":"user","parts":[{"type":"text","text":"hi"}]}],"total":11,"hasMore":false}`},
			want: &client.MessagePage{
				Messages: []llm.Message{llm.UserMessage("hi")}, Total: 11,
			},
		},
		{
			name: "messages defaults send no paging",
			call: func(ctx context.Context, c *client.Client) (any, error) {
				return c.Messages(ctx, "s1", 0, 0)
			},
			method: "GET", path: "/messages", query: url.Values{"sessionId": {"s1"}},
			answer: answer{200, nil, `{"messages":[],"total":0,"hasMore":false}`},
			want:   &client.MessagePage{Messages: []llm.Message{}},
		},
		{
			name: "sessions filtered",
			call: func(ctx context.Context, c *client.Client) (any, error) {
				return c.Sessions(ctx, client.SessionQuery{AgentType: "assistant", Status: helix.StatusCompleted, Offset: 5, Limit: 1})
			},
			method: "GET", path: "/sessions",
			query: url.Values{"agentType": {"assistant"}, "status": {"completed"}, "offset": {"5"}, "limit": {"1"}},
			answer: answer{200, nil, `{"sessions":[{"sessionId":"s1","agentType":"assistant","status":"completed","stepCount":2,
				"messageCount":4,"runCount":1,"parentSessionId":"p","metadata":{"k":"v"},
				"createdAt":"2026-04-01T08:30:00Z","updatedAt":"2026-05-01T12:00:00Z"}],"total":6,"hasMore":false}`},
			want: &client.SessionPage{Sessions: []client.Session{{
				SessionID: "s1", AgentType: "assistant", Status: helix.StatusCompleted, StepCount: 2,
				MessageCount: 4, RunCount: 1, ParentSessionID: "p", Metadata: map[string]string{"k": "v"},
				CreatedAt: created, UpdatedAt: expires,
			}}, Total: 6},
		},
		{
			name: "sessions all",
			call: func(ctx context.Context, c *client.Client) (any, error) {
				return c.Sessions(ctx, client.SessionQuery{})
			},
			method: "GET", path: "/sessions",
			answer: answer{200, nil, `{"sessions":[],"total":0,"hasMore":false}`},
			want:   &client.SessionPage{Sessions: []client.Session{}},
		},
		{
			name: "checkpoints",
			call: func(ctx context.Context, c *client.Client) (any, error) {
				return c.Checkpoints(ctx, "s1", 0, 100)
			},
			method: "GET", path: "/checkpoints", query: url.Values{"sessionId": {"s1"}, "limit": {"100"}},
			answer: answer{200, nil, `{"checkpoints":[{"id":"cp1","runId":"r1","step":2,"status":"running","timestamp":"2026-04-01T08:30:00Z"}],"total":1,"hasMore":true}`},
			want: &client.CheckpointPage{Checkpoints: []client.Checkpoint{{
				ID: "cp1", RunID: "r1", Step: 2, Status: helix.StatusRunning, Timestamp: created,
			}}, Total: 1, HasMore: true},
		},
		{
			name: "health",
			call: func(ctx context.Context, c *client.Client) (any, error) {
				return nil, c.Health(ctx)
			},
			method: "GET", path: "/healthz",
			answer: answer{200, map[string]string{"Content-Type": "text/plain"}, "ok"},
		},
		{
			name: "ready unavailable",
			call: func(ctx context.Context, c *client.Client) (any, error) {
				return nil, c.Ready(ctx)
			},
			method: "GET", path: "/readyz",
			answer:    answer{503, map[string]string{"Content-Type": "text/plain"}, "shutting down"},
			wantError: client.ErrUnavailable,
		},
		{
			name: "undecodable answer",
			call: func(ctx context.Context, c *client.Client) (any, error) {
				return c.Retry(ctx, "s1")
			},
			method: "POST", path: "/retry", body: `{"sessionId":"s1"}`,
			answer:    answer{200, nil, `<html>`},
			wantError: errAny,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, reqs := newFake(t, tt.answer)
			c := mustNew(t, srv.URL, client.Options{Token: "key-1"})
			got, err := tt.call(t.Context(), c)
			switch {
			case tt.wantError == errAny && err == nil:
				t.Fatalf("%s: err = nil, want an error", tt.name)
			case tt.wantError != nil && tt.wantError != errAny && !errors.Is(err, tt.wantError):
				t.Fatalf("%s: err = %v, want %v", tt.name, err, tt.wantError)
			case tt.wantError == nil && err != nil:
				t.Fatalf("%s: err = %v", tt.name, err)
			}
			if tt.wantError == nil {
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("%s: result (-want +got):\n%s", tt.name, diff)
				}
			}

			r := <-reqs
			if r.Method != tt.method || r.Path != tt.path {
				t.Errorf("request = %s %s, want %s %s", r.Method, r.Path, tt.method, tt.path)
			}
			wantQuery := tt.query
			if wantQuery == nil {
				wantQuery = url.Values{}
			}
			if diff := cmp.Diff(wantQuery, r.Query); diff != "" {
				t.Errorf("query (-want +got):\n%s", diff)
			}
			if diff := jsonDiff(t, r.Body, tt.body); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
			if got := r.Header.Get("Authorization"); got != "Bearer key-1" {
				t.Errorf("Authorization = %q, want %q", got, "Bearer key-1")
			}
			if ct := r.Header.Get("Content-Type"); (tt.body != "") != (ct == "application/json") {
				t.Errorf("Content-Type = %q with body %q", ct, tt.body)
			}
		})
	}
}

// errAny in TestMethods means any error.
var errAny = errors.New("any error")

func TestErrors(t *testing.T) {
	all := []error{
		client.ErrBadRequest, client.ErrUnauthorized, client.ErrNotFound, client.ErrConflict,
		client.ErrAgentRunning, client.ErrNotResumable, client.ErrToolNotPending, client.ErrTooLarge,
		client.ErrTooManyRequests, client.ErrInternal, client.ErrUnavailable,
	}
	tests := []struct {
		name           string
		answer         answer
		want           []error // sentinels it must match; it must match no other
		wantMessage    string
		wantRetryAfter time.Duration
		wantRetryable  bool
	}{
		{"invalid body", answer{400, nil, `{"error":"Invalid request body"}`}, []error{client.ErrBadRequest}, "Invalid request body", 0, false},
		{"invalid limit", answer{400, nil, `{"error":"Invalid limit parameter"}`}, []error{client.ErrBadRequest}, "Invalid limit parameter", 0, false},
		{"unauthorized", answer{401, nil, `{"error":"Unauthorized"}`}, []error{client.ErrUnauthorized}, "Unauthorized", 0, false},
		{"not found", answer{404, nil, `{"error":"Not found"}`}, []error{client.ErrNotFound}, "Not found", 0, false},
		{"agent running", answer{409, nil, `{"error":"Agent already running"}`}, []error{client.ErrConflict, client.ErrAgentRunning}, "Agent already running", 0, false},
		{"not resumable", answer{409, nil, `{"error":"Session is not resumable"}`}, []error{client.ErrConflict, client.ErrNotResumable}, "Session is not resumable", 0, false},
		{"tool not pending", answer{409, nil, `{"error":"Tool call is not pending"}`}, []error{client.ErrConflict, client.ErrToolNotPending}, "Tool call is not pending", 0, false},
		{"other conflict", answer{409, nil, `{"error":"Something else"}`}, []error{client.ErrConflict}, "Something else", 0, false},
		{"too large", answer{413, nil, `{"error":"Request body too large"}`}, []error{client.ErrTooLarge}, "Request body too large", 0, false},
		{"rate limited", answer{429, map[string]string{"Retry-After": "7"}, `{"error":"Too many requests"}`}, []error{client.ErrTooManyRequests}, "Too many requests", 7 * time.Second, true},
		{"rate limited bad retry-after", answer{429, map[string]string{"Retry-After": "soon"}, `{"error":"Too many requests"}`}, []error{client.ErrTooManyRequests}, "Too many requests", 0, true},
		{"internal", answer{500, nil, `{"error":"Internal server error"}`}, []error{client.ErrInternal}, "Internal server error", 0, false},
		{"shutting down", answer{503, map[string]string{"Retry-After": "2"}, `{"error":"Service unavailable"}`}, []error{client.ErrUnavailable}, "Service unavailable", 2 * time.Second, true},
		{"proxy html", answer{502, map[string]string{"Content-Type": "text/html"}, `<html>bad gateway</html>`}, []error{client.ErrUnavailable}, "Bad Gateway", 0, true},
		{"teapot", answer{418, nil, ``}, nil, "I'm a teapot", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := newFake(t, tt.answer)
			c := mustNew(t, srv.URL, client.Options{})
			_, err := c.Start(t.Context(), client.StartRequest{AgentType: "a", Message: "m"})
			var e *client.Error
			if !errors.As(err, &e) {
				t.Fatalf("Start() = %v, want a *client.Error", err)
			}
			if e.StatusCode != tt.answer.status || e.Message != tt.wantMessage || e.RetryAfter != tt.wantRetryAfter || e.Op != "POST /start" {
				t.Errorf("Start() = %#v, want status %d, message %q, RetryAfter %v", e, tt.answer.status, tt.wantMessage, tt.wantRetryAfter)
			}
			if e.Retryable() != tt.wantRetryable {
				t.Errorf("Retryable() = %v, want %v", e.Retryable(), tt.wantRetryable)
			}
			for _, s := range all {
				want := false
				for _, w := range tt.want {
					want = want || w == s
				}
				if got := errors.Is(err, s); got != want {
					t.Errorf("errors.Is(%v, %v) = %v, want %v", err, s, got, want)
				}
			}
		})
	}
}

func TestErrorString(t *testing.T) {
	e := &client.Error{Op: "GET /status", StatusCode: 404, Message: "Not found"}
	if got, want := e.Error(), "client: GET /status: 404 Not found"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		url     string
		opts    client.Options
		wantErr string // substring; "" means success
	}{
		{"http", "http://localhost:8080", client.Options{}, ""},
		{"https with prefix", "https://example.com/helix/", client.Options{}, ""},
		{"no scheme", "localhost:8080", client.Options{}, "scheme"},
		{"ftp", "ftp://example.com", client.Options{}, "scheme"},
		{"no host", "http://", client.Options{}, "no host"},
		{"query", "http://example.com?x=1", client.Options{}, "query"},
		{"bad url", "http://[::1", client.Options{}, "invalid base URL"},
		{"negative delay", "http://example.com", client.Options{ReconnectDelay: -1}, "ReconnectDelay"},
		{"negative max delay", "http://example.com", client.Options{MaxReconnectDelay: -1}, "MaxReconnectDelay"},
		{"token line break", "http://example.com", client.Options{Token: "a\nb"}, "Token"},
		{"negatives that disable", "http://example.com", client.Options{MaxReconnects: -1, Timeout: -1, IdleTimeout: -1}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := client.New(tt.url, tt.opts)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("New(%q) = %v, want nil", tt.url, err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("New(%q) = %v, want an error containing %q", tt.url, err, tt.wantErr)
			}
		})
	}
}

func TestBasePathPrefix(t *testing.T) {
	srv, reqs := newFake(t, answer{200, nil, `{"sessionId":"s1","streamId":"st","runId":"r"}`})
	c := mustNew(t, srv.URL+"/api/helix/", client.Options{})
	if _, err := c.Retry(t.Context(), "s1"); err != nil {
		t.Fatal(err)
	}
	if r := <-reqs; r.Path != "/api/helix/retry" {
		t.Errorf("path = %q, want /api/helix/retry", r.Path)
	}
}

func TestNoTokenNoAuthorization(t *testing.T) {
	srv, reqs := newFake(t, answer{200, nil, ``})
	c := mustNew(t, srv.URL, client.Options{})
	if err := c.Health(t.Context()); err != nil {
		t.Fatal(err)
	}
	if r := <-reqs; r.Header.Values("Authorization") != nil {
		t.Errorf("Authorization = %q, want none", r.Header.Values("Authorization"))
	}
}

func TestContextErrorsUnchanged(t *testing.T) {
	hang := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-hang:
		}
	}))
	defer srv.Close()
	defer close(hang)

	t.Run("canceled", func(t *testing.T) {
		c := mustNew(t, srv.URL, client.Options{})
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := c.Status(ctx, "s1"); err != context.Canceled {
			t.Errorf("Status(canceled ctx) = %v, want context.Canceled", err)
		}
	})
	t.Run("caller deadline", func(t *testing.T) {
		c := mustNew(t, srv.URL, client.Options{})
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
		defer cancel()
		if _, err := c.Status(ctx, "s1"); err != context.DeadlineExceeded {
			t.Errorf("Status(expiring ctx) = %v, want context.DeadlineExceeded", err)
		}
	})
	t.Run("Options.Timeout", func(t *testing.T) {
		c := mustNew(t, srv.URL, client.Options{Timeout: 20 * time.Millisecond})
		if _, err := c.Status(t.Context(), "s1"); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Status() past Options.Timeout = %v, want context.DeadlineExceeded", err)
		}
	})
}
