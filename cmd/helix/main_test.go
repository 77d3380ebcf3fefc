package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// result is what one helix invocation did.
type result struct {
	code           int
	stdout, stderr string
}

// mapEnv returns a getenv over m.
func mapEnv(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// runHelix runs the helix command line in process.
func runHelix(t *testing.T, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), args, mapEnv(env), strings.NewReader(stdin), &stdout, &stderr)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader on different
// goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer // guarded by mu
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// textScript is a scripted model that answers with text only.
const textScript = `{"turns":[{"text":"Hello from the scripted model."},{"text":"Again."}]}`

func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	badConfig := writeFile(t, filepath.Join(dir, "helix.yaml"), "agents:\n  - name: a\n    bogus: 1\n")
	script := writeFile(t, filepath.Join(dir, "script.json"), textScript)
	model := "--model=scripted:" + script
	tests := []struct {
		name string
		args []string
		want string // in the error line
	}{
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"bad flag", []string{"serve", "--nope"}, "flag provided but not defined"},
		{"bad flag of run", []string{"run", "--bogus", "assistant", "hi"}, "flag provided but not defined"},
		{"flag without value", []string{"run", "assistant", "hi", "--store"}, "flag needs an argument"},
		{"missing args", []string{"run", "assistant"}, "want an agent and a message"},
		{"missing subcommand", []string{"sessions"}, "want a subcommand"},
		{"unknown subcommand", []string{"sessions", "rm", "x"}, `unknown subcommand "rm"`},
		{"missing session id", []string{"sessions", "show"}, "want one session ID"},
		{"bad limit", []string{"sessions", "ls", "--store=memory://", "--limit=0"}, "bad --limit"},
		{"extra serve argument", []string{"serve", "now"}, `unexpected argument "now"`},
		{"invalid config", []string{"run", "--config", badConfig, "--store=memory://", model, "assistant", "hi"}, "bogus"},
		{"missing config file", []string{"run", "--config", filepath.Join(dir, "none.yaml"), "--store=memory://", model, "assistant", "hi"}, "none.yaml"},
		{"bad model spec", []string{"run", "--model", "nonsense", "--store=memory://", "assistant", "hi"}, "bad model spec"},
		{"unknown provider", []string{"serve", "--model", "acme:large"}, "unknown provider"},
		{"missing script", []string{"run", "--model", "scripted:" + filepath.Join(dir, "nope.json"), "--store=memory://", "assistant", "hi"}, "nope.json"},
		{"bad store scheme", []string{"run", "--store", "ftp://example.com/db", model, "assistant", "hi"}, `unknown scheme "ftp"`},
		{"store URL without scheme", []string{"run", "--store", "helix.db", model, "assistant", "hi"}, "bad store URL"},
		{"bad store scheme in serve", []string{"serve", "--store", "nosql://x", model, "--allow-unauthenticated"}, `unknown scheme "nosql"`},
		{"bad api key form", []string{"serve", "--api-key", "alice"}, "--api-key"},
		{"short api key", []string{"serve", "--api-key", "alice=short"}, "--api-key"},
		{"short jwt secret", []string{"serve", "--jwt-secret", "tooshort"}, "JWT"},
		{"audience without jwt", []string{"serve", "--jwt-audience", "helix"}, "--jwt-audience"},
		{"negative jwt leeway", []string{"serve", "--jwt-secret", strings.Repeat("s", 32), "--jwt-leeway", "-1s"}, "--jwt-leeway"},
		{"huge jwt leeway", []string{"serve", "--jwt-secret", strings.Repeat("s", 32), "--jwt-leeway", "1h"}, "--jwt-leeway"},
		{"bad log level", []string{"serve", "--log-level", "loud"}, "--log-level"},
		{"bad log format", []string{"serve", "--log-format", "xml"}, "--log-format"},
		{"negative rate limit", []string{"serve", "--rate-limit", "-1"}, "--rate-limit"},
		{"bad trusted proxy", []string{"serve", "--trusted-proxy", "nowhere", model, "--store=memory://"}, "--trusted-proxy"},
		{"unknown agent", []string{"run", model, "--store=memory://", "nobody", "hi"}, `unknown agent "nobody"`},
		{"missing API key", []string{"run", "--model", "openai:gpt-4o-mini", "--store=memory://", "assistant", "hi"}, "OPENAI_API_KEY"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := runHelix(t, nil, "", tc.args...)
			if res.code != 2 {
				t.Errorf("helix %q = exit %d, want 2; stderr:\n%s", tc.args, res.code, res.stderr)
			}
			lines := strings.Split(strings.TrimRight(res.stderr, "\n"), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "helix: ") {
				t.Errorf("helix %q stderr = %q, want one line starting with \"helix: \"", tc.args, res.stderr)
			}
			if !strings.Contains(res.stderr, tc.want) {
				t.Errorf("helix %q stderr = %q, want it to mention %q", tc.args, res.stderr, tc.want)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}} {
		res := runHelix(t, nil, "", args...)
		if res.code != 0 || !strings.Contains(res.stdout, "serve") || !strings.Contains(res.stdout, "sessions") {
			t.Errorf("helix %q = %d, stdout %q; want 0 and the command list", args, res.code, res.stdout)
		}
	}
	for _, args := range [][]string{{"serve", "-h"}, {"help", "run"}, {"sessions", "ls", "--help"}} {
		res := runHelix(t, nil, "", args...)
		if res.code != 0 || !strings.Contains(res.stdout, "Usage: helix") {
			t.Errorf("helix %q = %d, stdout %q; want 0 and a usage", args, res.code, res.stdout)
		}
	}
	res := runHelix(t, nil, "", "serve", "-h")
	for _, want := range []string{"HELIX_ADDR", "HELIX_API_KEYS", "--api-key", "stream-token-secret"} {
		if !strings.Contains(res.stdout, strings.TrimPrefix(want, "--")) {
			t.Errorf("helix serve -h does not mention %s:\n%s", want, res.stdout)
		}
	}
	if res := runHelix(t, nil, ""); res.code != 2 || !strings.Contains(res.stderr, "Usage") {
		t.Errorf("helix (no args) = %d, stderr %q; want 2 and the usage", res.code, res.stderr)
	}
}

func TestVersion(t *testing.T) {
	res := runHelix(t, nil, "", "version")
	if res.code != 0 || !strings.HasPrefix(res.stdout, "helix ") || !strings.Contains(res.stdout, "go1.") {
		t.Errorf("helix version = %d, %q", res.code, res.stdout)
	}
	if res := runHelix(t, nil, "", "version", "extra"); res.code != 2 {
		t.Errorf("helix version extra = %d, want 2", res.code)
	}
}

const (
	keyAlice = "alice=alice-key-0123456789abcdef"
	keyBob   = "bob=bob-key-0123456789abcdef"
	keyCarol = "carol=carol-key-0123456789abcdef"
)

func TestServeFlagsFromEnv(t *testing.T) {
	env := map[string]string{
		"HELIX_ADDR":                  "0.0.0.0:9999",
		"HELIX_STORE":                 "memory://",
		"HELIX_CONFIG":                "/etc/helix.yaml",
		"HELIX_MODEL":                 "anthropic:claude-sonnet-4-5",
		"HELIX_API_KEYS":              keyAlice + "," + keyBob,
		"HELIX_JWT_SECRET":            strings.Repeat("s", 32),
		"HELIX_JWT_AUDIENCE":          "helix",
		"HELIX_ALLOW_UNAUTHENTICATED": "true",
		"HELIX_CORS_ORIGINS":          "https://a.example, https://b.example",
		"HELIX_RATE_LIMIT":            "5",
		"HELIX_MAX_BODY_BYTES":        "1024",
		"HELIX_LOG_LEVEL":             "debug",
		"HELIX_LOG_FORMAT":            "json",
		"HELIX_STREAM_TOKEN_SECRET":   strings.Repeat("t", 32),
	}
	o, err := parseServeFlags(nil, mapEnv(env), nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.addr != "0.0.0.0:9999" || o.storeURL != "memory://" || o.configPath != "/etc/helix.yaml" ||
		o.model != "anthropic:claude-sonnet-4-5" || !o.allowUnauthenticated || o.rateLimit != 5 || o.maxBodyBytes != 1024 ||
		o.logLevel != "debug" || o.logFormat != "json" || o.jwtAudience != "helix" || o.jwtSecret != env["HELIX_JWT_SECRET"] ||
		o.streamTokenSecret != env["HELIX_STREAM_TOKEN_SECRET"] {
		t.Errorf("parseServeFlags(env) = %+v", o)
	}
	if got, want := o.apiKeys.items(), []string{keyAlice, keyBob}; !slices.Equal(got, want) {
		t.Errorf("api keys from HELIX_API_KEYS = %q, want %q", got, want)
	}
	if got, want := o.corsOrigins.items(), []string{"https://a.example", "https://b.example"}; !slices.Equal(got, want) {
		t.Errorf("CORS origins from HELIX_CORS_ORIGINS = %q, want %q", got, want)
	}
	as, err := o.auth()
	if err != nil {
		t.Fatal(err)
	}
	if as.authn == nil || as.generatedKey != "" || len(as.secrets) != 4 {
		t.Errorf("auth from env: authn %v, generated %q, %d secrets; want keys+JWT, none generated, 4 secrets", as.authn, as.generatedKey, len(as.secrets))
	}

	// Flags win over the environment.
	o, err = parseServeFlags([]string{"--addr", "127.0.0.1:0", "--api-key", keyCarol, "--rate-limit=0",
		"--cors-origin", "https://c.example", "--allow-unauthenticated=false", "--log-format", "text"}, mapEnv(env), nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.addr != "127.0.0.1:0" || o.rateLimit != 0 || o.allowUnauthenticated || o.logFormat != "text" || o.storeURL != "memory://" {
		t.Errorf("parseServeFlags(flags, env) = %+v", o)
	}
	if got, want := o.apiKeys.items(), []string{keyCarol}; !slices.Equal(got, want) {
		t.Errorf("api keys = %q, want the flag's %q only", got, want)
	}
	if got, want := o.corsOrigins.items(), []string{"https://c.example"}; !slices.Equal(got, want) {
		t.Errorf("CORS origins = %q, want %q", got, want)
	}

	// Defaults.
	o, err = parseServeFlags(nil, mapEnv(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.addr != "127.0.0.1:8080" || o.storeURL != defaultStore || o.model != "" || o.rateLimit != 20 || o.configPath != "" {
		t.Errorf("defaults = %+v", o)
	}
	as, err = o.auth()
	if err != nil {
		t.Fatal(err)
	}
	if as.generatedKey == "" || as.authn == nil {
		t.Errorf("no credentials: generated key %q, authn %v; want a generated key", as.generatedKey, as.authn)
	}

	// A bad variable is one line naming the variable, never its value.
	_, err = parseServeFlags(nil, mapEnv(map[string]string{"HELIX_RATE_LIMIT": "fast-secret"}), nil)
	if err == nil || !strings.Contains(err.Error(), "HELIX_RATE_LIMIT") || strings.Contains(err.Error(), "fast-secret") {
		t.Errorf("bad HELIX_RATE_LIMIT: err = %v", err)
	}
	if res := runHelix(t, map[string]string{"HELIX_ALLOW_UNAUTHENTICATED": "maybe"}, "", "serve"); res.code != 2 {
		t.Errorf("bad HELIX_ALLOW_UNAUTHENTICATED: exit %d, want 2", res.code)
	}
}

func TestFlagsAfterArguments(t *testing.T) {
	var session, store string
	f := newFlagSet("x", "x", "")
	f.String(&session, "session", "", "", "")
	f.String(&store, "store", "HELIX_STORE", "d", "")
	pos, err := f.parse([]string{"agent", "--session", "s1", "hello", "world", "--", "--store", "x"}, mapEnv(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"agent", "hello", "world", "--store", "x"}; !slices.Equal(pos, want) || session != "s1" || store != "d" {
		t.Errorf("parse = %q, session %q, store %q; want %q, s1, d", pos, session, store, want)
	}
}

func TestExitCodeOneLine(t *testing.T) {
	var buf bytes.Buffer
	if code := exitCode(&buf, usagef("first\nsecond")); code != 2 || buf.String() != "helix: first ; second\n" {
		t.Errorf("exitCode(multi-line) = %d, %q", code, buf.String())
	}
}

func TestMissingKeyModel(t *testing.T) {
	ms := newModelSet(mapEnv(nil))
	m, err := ms.open(context.Background(), "anthropic:claude-sonnet-4-5")
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range m.Stream(context.Background(), nil) {
		if err == nil || !strings.Contains(err.Error(), "ANTHROPIC_API_KEY") {
			t.Errorf("Stream error = %v, want one naming ANTHROPIC_API_KEY", err)
		}
	}
	if lines := ms.missingKeys(); len(lines) != 1 || !strings.Contains(lines[0], "ANTHROPIC_API_KEY") || !strings.Contains(lines[0], offlineHint) {
		t.Errorf("missingKeys() = %q", lines)
	}
}

func TestAutoModel(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	var w strings.Builder
	if got := autoModel("anthropic:x", mapEnv(nil), &w); got != "anthropic:x" {
		t.Fatalf("explicit model replaced: %q", got)
	}
	if got := autoModel("", mapEnv(map[string]string{"OPENAI_API_KEY": "sk-test"}), &w); got != defaultModel {
		t.Fatalf("with a key: %q", got)
	}
	if got := autoModel("", mapEnv(nil), &w); got != defaultModel || w.Len() != 0 {
		t.Fatalf("no key, no demo script: %q %q", got, w.String())
	}
	if err := os.MkdirAll("examples", 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(demoScript, []byte(`{"turns":[{"text":"hi"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := autoModel("", mapEnv(nil), &w); got != "scripted:"+demoScript || !strings.Contains(w.String(), "offline") {
		t.Fatalf("no key, demo script: %q %q", got, w.String())
	}
}
