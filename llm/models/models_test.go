package models_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/helix-agents/helix-go/llm"
	"github.com/helix-agents/helix-go/llm/models"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    models.Spec
		wantErr string
	}{
		{in: "openai:gpt-4o", want: models.Spec{Provider: "openai", Model: "gpt-4o"}},
		{in: " Anthropic:claude-sonnet-4-5 ", want: models.Spec{Provider: "anthropic", Model: "claude-sonnet-4-5"}},
		{in: "gemini:gemini-2.5-flash", want: models.Spec{Provider: "gemini", Model: "gemini-2.5-flash"}},
		{in: "scripted:examples/demo.json", want: models.Spec{Provider: "scripted", Model: "examples/demo.json"}},
		{in: "openai:org/model:tag", want: models.Spec{Provider: "openai", Model: "org/model:tag"}},
		{in: "gpt-4o", wantErr: "want provider:model"},
		{in: "mistral:large", wantErr: `unknown provider "mistral"`},
		{in: "openai:", wantErr: "no model named"},
		{in: "", wantErr: "want provider:model"},
	} {
		got, err := models.Parse(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, models.ErrBadSpec) {
				t.Errorf("Parse(%q) = %v, %v; want ErrBadSpec mentioning %q", tc.in, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Parse(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
		if got.String() != strings.ToLower(strings.TrimSpace(tc.in))[:len(got.Provider)]+":"+got.Model {
			t.Errorf("String() = %q", got.String())
		}
	}
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestOpenMissingKey(t *testing.T) {
	for _, tc := range []struct {
		spec, names string
	}{
		{"openai:gpt-4o", "OPENAI_API_KEY"},
		{"anthropic:claude-sonnet-4-5", "ANTHROPIC_API_KEY"},
		{"gemini:gemini-2.5-flash", "GEMINI_API_KEY or GOOGLE_API_KEY"},
	} {
		m, err := models.Open(t.Context(), tc.spec, models.Options{Getenv: env(nil)})
		if m != nil || !errors.Is(err, models.ErrMissingKey) || !strings.Contains(err.Error(), tc.names) || strings.Contains(err.Error(), "\n") {
			t.Errorf("Open(%q) with no key = %v, %v; want one line naming %s", tc.spec, m, err, tc.names)
		}
	}
}

func TestOpen(t *testing.T) {
	script := filepath.Join(t.TempDir(), "s.json")
	if err := os.WriteFile(script, []byte(`{"turns":[{"text":"hi there"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	keys := env(map[string]string{"OPENAI_API_KEY": "k1", "ANTHROPIC_API_KEY": "k2", "GOOGLE_API_KEY": "k3"})
	for _, tc := range []struct {
		spec string
		env  func(string) string
	}{
		{"openai:gpt-4o", keys},
		{"openai:llama3", env(map[string]string{"OPENAI_BASE_URL": "http://127.0.0.1:11434/v1"})}, // a local server needs no key
		{"anthropic:claude-sonnet-4-5", keys},
		{"gemini:gemini-2.5-flash", keys},
		{"scripted:" + script, nil},
	} {
		m, err := models.Open(context.Background(), tc.spec, models.Options{Getenv: tc.env})
		if err != nil || m == nil {
			t.Errorf("Open(%q) = %v, %v", tc.spec, m, err)
		}
	}
	m, err := models.Open(t.Context(), "scripted:"+script, models.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var text string
	for ev, err := range m.Stream(t.Context(), &llm.Request{Messages: []llm.Message{llm.UserMessage("hello")}}) {
		if err != nil {
			t.Fatal(err)
		}
		text += ev.Text
	}
	if text != "hi there" {
		t.Errorf("scripted model answered %q", text)
	}
	if _, err := models.Open(t.Context(), "scripted:/no/such/file.json", models.Options{}); err == nil {
		t.Error("a missing script opened")
	}
}
