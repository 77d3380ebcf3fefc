package openai_test

import (
	"cmp"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/llm/openai"
	"github.com/helix-agents/helix-go/runtime/local"
	"github.com/helix-agents/helix-go/store/memstore"
)

// TestLiveAgentLoop runs the agent loop end to end against a real
// OpenAI-compatible server (vLLM, Ollama, llama.cpp, OpenAI itself) when
// HELIX_TEST_OPENAI_BASE_URL is set: a text turn, then a turn with a tool
// call, the tool's result and the model's answer. HELIX_TEST_OPENAI_MODEL
// names the model (default gpt-4o-mini) and HELIX_TEST_OPENAI_API_KEY the
// key, if the server needs one.
func TestLiveAgentLoop(t *testing.T) {
	base := os.Getenv("HELIX_TEST_OPENAI_BASE_URL")
	if base == "" {
		t.Skip("HELIX_TEST_OPENAI_BASE_URL is not set: no OpenAI-compatible server to test against")
	}
	model, err := openai.New(openai.Options{BaseURL: base, APIKey: os.Getenv("HELIX_TEST_OPENAI_API_KEY"),
		Model: cmp.Or(os.Getenv("HELIX_TEST_OPENAI_MODEL"), "gpt-4o-mini")})
	if err != nil {
		t.Fatal(err)
	}
	var calls []string
	add := helix.NewTool("add", "Add two integers and return the sum.",
		func(ctx context.Context, tc *helix.ToolContext, in struct {
			A int `json:"a"`
			B int `json:"b"`
		}) (int, error) {
			calls = append(calls, "add")
			return in.A + in.B, nil
		})
	agent := helix.MustNewAgent(helix.AgentConfig{Name: "live", Model: model, Tools: []*helix.Tool{add}, MaxSteps: 6,
		SystemPrompt: "You are a terse assistant. Use the add tool for arithmetic."})
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	rt, err := local.New(local.Options{Store: memstore.New()})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(ctx)

	run := func(sessionID, msg string) (string, *helix.Result) {
		h, err := rt.Execute(ctx, agent, helix.Input{Message: msg}, local.WithSessionID(sessionID))
		if err != nil {
			t.Fatal(err)
		}
		var text strings.Builder
		for c, err := range h.Stream(ctx) {
			if err != nil {
				t.Fatal(err)
			}
			if c.Type == helix.ChunkTextDelta {
				text.WriteString(c.Delta)
			}
		}
		res, err := h.Result(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != helix.StatusCompleted {
			t.Fatalf("%q: run ended %s (%+v)", msg, res.Status, res.Error)
		}
		if res.Usage.PromptTokens == 0 {
			t.Errorf("%q: no usage reported", msg)
		}
		return text.String(), res
	}

	if text, _ := run("live-text", "Say hello in five words or fewer."); strings.TrimSpace(text) == "" {
		t.Errorf("text turn: empty answer")
	}
	text, _ := run("live-tool", "What is 1234 + 4321? Use the add tool, then answer with the number.")
	if len(calls) == 0 {
		t.Errorf("tool turn: the model never called add")
	}
	if !strings.Contains(strings.ReplaceAll(text, ",", ""), "5555") {
		t.Errorf("tool turn: answer %q does not carry the tool's result 5555", text)
	}
}
