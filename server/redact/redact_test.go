package redact_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"testing/slogtest"

	"github.com/helix-agents/helix-go/server/redact"
)

// Fake credentials, shaped like real ones.
const (
	openAIKey    = "sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz012345"
	anthropicKey = "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWx-yz0123456789"
	googleKey    = "AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW"
	slackToken   = "xoxb-123456789012-abcdefABCDEF"
	jwt          = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLWJ5dGVz"
)

func TestString(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"empty", "", ""},
		{"plain", "request handled in 12ms", "request handled in 12ms"},
		{"sketch is not sk-", "a sketch of the task-runner-abcdefghijklmnopqrstu", "a sketch of the task-runner-abcdefghijklmnopqrstu"},
		{"short sk- word", "sk-learn is a library", "sk-learn is a library"},
		{"input tokens", "input_tokens=120 max_tokens=4096", "input_tokens=120 max_tokens=4096"},
		{"url without credentials", "GET https://example.com/v1/chat?limit=5", "GET https://example.com/v1/chat?limit=5"},
		{"authorization header bearer", "Authorization: Bearer key1", "Authorization: Bearer " + redact.Redacted},
		{"authorization header raw", "authorization: key1", "authorization: " + redact.Redacted},
		{"authorization header map", "map[Authorization:[Bearer key1] Accept:[*/*]]", "map[Authorization:[Bearer " + redact.Redacted + "] Accept:[*/*]]"},
		{"authorization json", `{"Authorization":"Basic dXNlcjpwYXNz"}`, `{"Authorization":"Basic ` + redact.Redacted + `"}`},
		{"bare bearer", "sent bearer abc.def-123 to upstream", "sent bearer " + redact.Redacted + " to upstream"},
		{"jwt", "token " + jwt + " expired", "token " + redact.Redacted + " expired"},
		{"unsigned jwt", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0.", redact.Redacted},
		{"openai key", "OPENAI_API_KEY is " + openAIKey, "OPENAI_API_KEY is " + redact.Redacted},
		{"anthropic key", "401 for " + anthropicKey + ".", "401 for " + redact.Redacted + "."},
		{"google key", "key " + googleKey, "key " + redact.Redacted},
		{"slack token", "posting with " + slackToken, "posting with " + redact.Redacted},
		{"dsn password", "dial postgres://helix:s3cr3t@db:5432/helix failed", "dial postgres://helix:xxxxx@db:5432/helix failed"},
		{"dsn password with @", "redis://user:p@ss@cache:6379/0", "redis://user:xxxxx@cache:6379/0"},
		{"dsn user only", "redis://tok3n@cache:6379", "redis://xxxxx@cache:6379"},
		{"url key param", "GET https://generativelanguage.googleapis.com/v1/models?key=abc123&alt=sse", "GET https://generativelanguage.googleapis.com/v1/models?key=xxxxx&alt=sse"},
		{"bare query params", "/v1/stream?sessionId=s1&token=abc123", "/v1/stream?sessionId=s1&token=xxxxx"},
		{"api_key param", "retrying with api_key=abc123 now", "retrying with api_key=xxxxx now"},
		{"password param", "host=db password=hunter22 sslmode=disable", "host=db password=xxxxx sslmode=disable"},
		{"json password", `{"user":"bob","password":"hunter22"}`, `{"user":"bob","password":"xxxxx"}`},
		{"colon form", "client_secret: abcdef", "client_secret: xxxxx"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := redact.String(tt.in)
			if got != tt.want {
				t.Errorf("String(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if again := redact.String(got); again != got {
				t.Errorf("String(%q) = %q, not idempotent", got, again)
			}
		})
	}
}

type stringer struct{ s string }

func (s stringer) String() string { return s.s }

type valuer struct{ v slog.Value }

func (v valuer) LogValue() slog.Value { return v.v }

type creds struct {
	User string
	DSN  string
}

// logJSON logs through a redacting JSON handler and returns the decoded
// line.
func logJSON(t *testing.T, o redact.Options, f func(*slog.Logger)) (string, map[string]any) {
	t.Helper()
	var buf bytes.Buffer
	h := redact.NewHandler(slog.NewJSONHandler(&buf, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey) {
				return slog.Attr{}
			}
			return a
		},
	}), o)
	f(slog.New(h))
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatalf("bad JSON %q: %v", buf.String(), err)
	}
	return buf.String(), m
}

func TestHandler(t *testing.T) {
	tests := []struct {
		name string
		log  func(*slog.Logger)
		want string
	}{
		{"message", func(l *slog.Logger) { l.Info("calling with Bearer " + openAIKey) },
			`{"msg":"calling with Bearer [REDACTED]"}`},
		{"string attr", func(l *slog.Logger) { l.Info("open", "dsn", "postgres://u:pw@h/db") },
			`{"msg":"open","dsn":"postgres://u:xxxxx@h/db"}`},
		{"secret keys", func(l *slog.Logger) {
			l.Info("cfg", "password", "p", "apiKey", 42, "access_token", "t", "Cookie", "c", "jwt_secret", "s",
				"Authorization", "x", "input_tokens", 7, "keyword", "kw")
		}, `{"msg":"cfg","password":"[REDACTED]","apiKey":"[REDACTED]","access_token":"[REDACTED]","Cookie":"[REDACTED]","jwt_secret":"[REDACTED]","Authorization":"[REDACTED]","input_tokens":7,"keyword":"kw"}`},
		{"secret key on group", func(l *slog.Logger) { l.Info("m", slog.Group("credentials", "user", "u", "pass", "p")) },
			`{"msg":"m","credentials":"[REDACTED]"}`},
		{"error", func(l *slog.Logger) {
			l.Error("failed", "err", fmt.Errorf("provider: %w", errors.New("401 invalid key "+anthropicKey)))
		}, `{"msg":"failed","err":"provider: 401 invalid key [REDACTED]"}`},
		{"stringer", func(l *slog.Logger) { l.Info("m", "url", stringer{"https://u:pw@h/"}) },
			`{"msg":"m","url":"https://u:xxxxx@h/"}`},
		{"log valuer", func(l *slog.Logger) { l.Info("m", "v", valuer{slog.StringValue(jwt)}) },
			`{"msg":"m","v":"[REDACTED]"}`},
		{"struct value", func(l *slog.Logger) { l.Info("m", "c", creds{"bob", "redis://:pw@h"}) },
			`{"msg":"m","c":"{User:bob DSN:redis://:xxxxx@h}"}`},
		{"clean struct kept", func(l *slog.Logger) { l.Info("m", "c", creds{"bob", "redis://h"}) },
			`{"msg":"m","c":{"User":"bob","DSN":"redis://h"}}`},
		{"nested groups", func(l *slog.Logger) {
			l.Info("m", slog.Group("req", "path", "/x?token=abc", slog.Group("hdr", "auth", "Bearer abc", "x_api_key", "k")))
		}, `{"msg":"m","req":{"path":"/x?token=xxxxx","hdr":{"auth":"Bearer [REDACTED]","x_api_key":"[REDACTED]"}}}`},
		{"with attrs and group", func(l *slog.Logger) {
			l.With("store", "postgres://u:pw@h/db", "token", "t").WithGroup("run").With("key", "k").
				Info("step", "note", "using "+googleKey, "n", 1)
		}, `{"msg":"step","store":"postgres://u:xxxxx@h/db","token":"[REDACTED]","run":{"key":"[REDACTED]","note":"using [REDACTED]","n":1}}`},
		{"known secret", func(l *slog.Logger) { l.Info("key1value is odd", "v", "x-key1value-y", "n", 3) },
			`{"msg":"[REDACTED] is odd","v":"x-[REDACTED]-y","n":3}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := logJSON(t, redact.Options{Secrets: []string{"key1value", "short"}}, tt.log)
			if strings.TrimSpace(got) != tt.want {
				t.Errorf("logged\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

// TestShortSecretsIgnored checks that very short secrets are not replaced
// everywhere.
func TestShortSecretsIgnored(t *testing.T) {
	got, _ := logJSON(t, redact.Options{Secrets: []string{"a", ""}}, func(l *slog.Logger) { l.Info("a cat") })
	if !strings.Contains(got, `"a cat"`) {
		t.Errorf("logged %s, want message unchanged", got)
	}
}

// TestSlogtest checks the wrapper against the slog.Handler contract.
func TestSlogtest(t *testing.T) {
	var buf bytes.Buffer
	newHandler := func(*testing.T) slog.Handler {
		buf.Reset()
		return redact.NewHandler(slog.NewJSONHandler(&buf, nil), redact.Options{})
	}
	result := func(t *testing.T) map[string]any {
		var m map[string]any
		if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	slogtest.Run(t, newHandler, result)
}

func BenchmarkHandler(b *testing.B) {
	ctx := context.Background()
	for _, bc := range []struct {
		name string
		h    slog.Handler
	}{
		{"plain", slog.NewJSONHandler(io.Discard, nil)},
		{"redacting", redact.NewHandler(slog.NewJSONHandler(io.Discard, nil), redact.Options{Secrets: []string{"configured-api-key-1", "configured-api-key-2"}})},
	} {
		l := slog.New(bc.h).With("component", "server")
		b.Run(bc.name+"/clean", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				l.LogAttrs(ctx, slog.LevelInfo, "request handled",
					slog.String("method", "POST"), slog.String("path", "/start"),
					slog.Int("status", 200), slog.String("requestId", "01J8Z3Q4X7R2"),
					slog.String("principal", "alice"), slog.Float64("ms", 12.5))
			}
		})
		b.Run(bc.name+"/secret", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				l.LogAttrs(ctx, slog.LevelError, "provider call failed",
					slog.String("path", "/start"), slog.Int("status", 500),
					slog.Any("err", errors.New("401: invalid x-api-key "+anthropicKey)),
					slog.String("store", "postgres://helix:s3cr3t@db/helix"))
			}
		})
	}
}
