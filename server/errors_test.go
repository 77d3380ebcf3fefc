package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/server/auth"
	"github.com/helix-agents/helix-go/store"
)

func TestStatusOf(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
		body   string
	}{
		{"bad request", ErrBadRequest, 400, `{"error":"Invalid request body"}`},
		{"invalid offset", ErrInvalidOffset, 400, `{"error":"Invalid offset parameter"}`},
		{"invalid limit", ErrInvalidLimit, 400, `{"error":"Invalid limit parameter"}`},
		{"unauthorized", ErrUnauthorized, 401, `{"error":"Unauthorized"}`},
		{"not found", ErrNotFound, 404, `{"error":"Not found"}`},
		{"agent running", ErrAgentRunning, 409, `{"error":"Agent already running"}`},
		{"not resumable", ErrNotResumable, 409, `{"error":"Session is not resumable"}`},
		{"tool not pending", ErrToolNotPending, 409, `{"error":"Tool call is not pending"}`},
		{"too large", ErrTooLarge, 413, `{"error":"Request body too large"}`},
		{"too many", ErrTooManyRequests, 429, `{"error":"Too many requests"}`},
		{"unknown", errors.New("boom"), 500, `{"error":"Internal server error"}`},
		{"nil", nil, 500, `{"error":"Internal server error"}`},

		{"auth.ErrUnauthenticated", fmt.Errorf("auth: bad token: %w", auth.ErrUnauthenticated), 401, `{"error":"Unauthorized"}`},
		{"helix.ErrInvalidInput", fmt.Errorf("x: %w", helix.ErrInvalidInput), 400, `{"error":"Invalid request body"}`},
		{"store.ErrNotFound", fmt.Errorf("store: get session %q: %w", "s1", store.ErrNotFound), 404, `{"error":"Not found"}`},
		{"helix.ErrSessionNotFound", helix.ErrSessionNotFound, 404, `{"error":"Not found"}`},
		{"helix.ErrAgentNotFound", &helix.AgentNotFoundError{Name: "nope"}, 404, `{"error":"Not found"}`},
		{"helix.ErrNotPending", helix.ErrNotPending, 409, `{"error":"Tool call is not pending"}`},
		{"helix.ErrNotResumable", helix.ErrNotResumable, 409, `{"error":"Session is not resumable"}`},
		{"helix.ErrAlreadyRunning", helix.ErrAlreadyRunning, 409, `{"error":"Agent already running"}`},
		{"store.ErrConflict", fmt.Errorf("store: commit: %w", store.ErrConflict), 409, `{"error":"Agent already running"}`},
		{"MaxBytesError", &http.MaxBytesError{Limit: 10}, 413, `{"error":"Request body too large"}`},

		{"store.ErrExists unmapped", store.ErrExists, 500, `{"error":"Internal server error"}`},
		{"store.ErrStaleFence unmapped", store.ErrStaleFence, 500, `{"error":"Internal server error"}`},
		{"store.ErrClosed unmapped", store.ErrClosed, 500, `{"error":"Internal server error"}`},
		{"context.Canceled unmapped", context.Canceled, 500, `{"error":"Internal server error"}`},
		{"helix.ErrMaxSteps unmapped", helix.ErrMaxSteps, 500, `{"error":"Internal server error"}`},

		{"ErrForbidden", fmt.Errorf("ws: %w", ErrForbidden), 403, `{"error":"Forbidden"}`},
		{"401 wins over 404", errors.Join(store.ErrNotFound, auth.ErrUnauthenticated), 401, `{"error":"Unauthorized"}`},
		{"retry-after keeps mapping", WithRetryAfter(ErrNotFound, time.Second), 404, `{"error":"Not found"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := statusOf(tt.err)
			if status != tt.status || body != tt.body {
				t.Errorf("statusOf(%v) = %d, %s; want %d, %s", tt.err, status, body, tt.status, tt.body)
			}
			if !json.Valid([]byte(body)) {
				t.Errorf("statusOf(%v) body %s is not valid JSON", tt.err, body)
			}
		})
	}
}

// TestStatusTableBodies checks every row against DESIGN §5: the status
// goes with its body, and every body is {"error":<string>}.
func TestStatusTableBodies(t *testing.T) {
	want := map[string]int{
		bodyBadRequest: 400, bodyInvalidOffset: 400, bodyInvalidLimit: 400,
		bodyUnauthorized: 401, bodyForbidden: 403, bodyNotFound: 404, bodyAgentRunning: 409,
		bodyNotResumable: 409, bodyToolNotPend: 409, bodyTooLarge: 413,
		bodyTooMany: 429, bodyInternal: 500, bodyUnavailable: 503,
	}
	for _, row := range statusTable {
		if want[row.body] != row.status {
			t.Errorf("row %v: status %d with body %s, want %d", row.target, row.status, row.body, want[row.body])
		}
		var v map[string]string
		if err := json.Unmarshal([]byte(row.body), &v); err != nil || len(v) != 1 || v["error"] == "" {
			t.Errorf("row %v: body %s is not {\"error\":string}", row.target, row.body)
		}
	}
}

type logLine struct {
	Level     string `json:"level"`
	Msg       string `json:"msg"`
	RequestID string `json:"request_id"`
	Method    string `json:"method"`
	Path      string `json:"path"`
	Status    int    `json:"status"`
	Error     string `json:"error"`
}

func mustWriteError(t *testing.T, r *http.Request, err error) (*httptest.ResponseRecorder, logLine, string) {
	t.Helper()
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	w := httptest.NewRecorder()
	writeError(w, r, log, err)
	var line logLine
	if jerr := json.Unmarshal(buf.Bytes(), &line); jerr != nil {
		t.Fatalf("log output %q: %v", buf.String(), jerr)
	}
	return w, line, buf.String()
}

func TestWriteError(t *testing.T) {
	const secret = "sk-live-hunter2"
	tests := []struct {
		name       string
		err        error
		status     int
		body       string
		level      string
		retryAfter string
	}{
		{"internal", fmt.Errorf("pg: connect postgres://u:%s@db: %w", secret, errors.New("refused")), 500, bodyInternal, "ERROR", ""},
		{"bad request", fmt.Errorf("%w: field apiKey %s", ErrBadRequest, secret), 400, bodyBadRequest, "INFO", ""},
		{"unauthorized", fmt.Errorf("auth: key %s: %w", secret, auth.ErrUnauthenticated), 401, bodyUnauthorized, "INFO", ""},
		{"not found", store.ErrNotFound, 404, bodyNotFound, "INFO", ""},
		{"too large", ErrTooLarge, 413, bodyTooLarge, "INFO", ""},
		{"429 default", ErrTooManyRequests, 429, bodyTooMany, "INFO", "1"},
		{"429 rounds up", WithRetryAfter(ErrTooManyRequests, 1500*time.Millisecond), 429, bodyTooMany, "INFO", "2"},
		{"429 whole", WithRetryAfter(ErrTooManyRequests, 30*time.Second), 429, bodyTooMany, "INFO", "30"},
		{"429 sub-second", WithRetryAfter(ErrTooManyRequests, 10*time.Millisecond), 429, bodyTooMany, "INFO", "1"},
		{"429 nil err", WithRetryAfter(nil, 5*time.Second), 429, bodyTooMany, "INFO", "5"},
		{"429 wrapped", fmt.Errorf("principal p: %w", WithRetryAfter(ErrTooManyRequests, 3*time.Second)), 429, bodyTooMany, "INFO", "3"},
		{"retry-after ignored off 429", WithRetryAfter(ErrNotFound, 3*time.Second), 404, bodyNotFound, "INFO", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/status?sessionId=s1&token="+secret, nil)
			r = r.WithContext(NewContextWithRequestID(r.Context(), "req-123"))
			w, line, raw := mustWriteError(t, r, tt.err)

			res := w.Result()
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != tt.status || string(body) != tt.body {
				t.Errorf("writeError(%v) = %d %q; want %d %q", tt.err, res.StatusCode, body, tt.status, tt.body)
			}
			for k, v := range map[string]string{
				"Content-Type":           "application/json",
				"X-Content-Type-Options": "nosniff",
				"X-Request-Id":           "req-123",
				"Retry-After":            tt.retryAfter,
			} {
				if got := res.Header.Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
			if strings.Contains(string(body), secret) {
				t.Errorf("body %q leaks the secret", body)
			}
			if strings.Contains(raw, "token=") {
				t.Errorf("log %q contains the query", raw)
			}
			if line.RequestID != "req-123" || line.Level != tt.level || line.Status != tt.status ||
				line.Method != "GET" || line.Path != "/status" {
				t.Errorf("log line = %+v; want request_id req-123, level %s, status %d, GET /status", line, tt.level, tt.status)
			}
			if tt.err != nil && line.Error != tt.err.Error() {
				t.Errorf("log error = %q, want full error %q", line.Error, tt.err.Error())
			}
		})
	}
}

func TestWriteErrorRequestIDFromHeader(t *testing.T) {
	tests := []struct {
		name, header, want string
	}{
		{"valid", "abc-DEF_1.2:3", "abc-DEF_1.2:3"},
		{"absent", "", ""},
		{"injection", "x\nlevel=ERROR", ""},
		{"space", "a b", ""},
		{"too long", strings.Repeat("a", 129), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/start", nil)
			if tt.header != "" {
				r.Header[RequestIDHeader] = []string{tt.header}
			}
			w, line, _ := mustWriteError(t, r, ErrBadRequest)
			if line.RequestID != tt.want || w.Header().Get(RequestIDHeader) != tt.want {
				t.Errorf("request id: log %q, header %q; want %q", line.RequestID, w.Header().Get(RequestIDHeader), tt.want)
			}
		})
	}
}

func TestWriteErrorContextIDWins(t *testing.T) {
	r := httptest.NewRequest("POST", "/start", nil)
	r.Header.Set(RequestIDHeader, "from-header")
	r = r.WithContext(NewContextWithRequestID(r.Context(), "from-ctx"))
	_, line, _ := mustWriteError(t, r, ErrBadRequest)
	if line.RequestID != "from-ctx" {
		t.Errorf("request id = %q, want from-ctx", line.RequestID)
	}
}

func TestWriteErrorNilLogger(t *testing.T) {
	r := httptest.NewRequest("GET", "/status", nil)
	w := httptest.NewRecorder()
	old := slog.Default()
	var buf bytes.Buffer
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, nil)))
	t.Cleanup(func() { slog.SetDefault(old) })
	writeError(w, r, nil, errors.New("boom"))
	if w.Code != 500 || !strings.Contains(buf.String(), "boom") {
		t.Errorf("writeError with nil logger: code %d, log %q", w.Code, buf.String())
	}
}

func TestRequestID(t *testing.T) {
	if got := RequestID(context.Background()); got != "" {
		t.Errorf("RequestID(empty ctx) = %q, want \"\"", got)
	}
	ctx := NewContextWithRequestID(context.Background(), "r1")
	if got := RequestID(ctx); got != "r1" {
		t.Errorf("RequestID = %q, want r1", got)
	}
}

func TestWithRetryAfterUnwraps(t *testing.T) {
	base := fmt.Errorf("limit: %w", ErrTooManyRequests)
	err := WithRetryAfter(base, time.Second)
	if !errors.Is(err, ErrTooManyRequests) || err.Error() != base.Error() {
		t.Errorf("WithRetryAfter(%v) = %v; want same text, errors.Is ErrTooManyRequests", base, err)
	}
}
