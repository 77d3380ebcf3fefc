package gemini_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"reflect"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/helix-agents/helix-go/llm"
	"github.com/helix-agents/helix-go/llm/gemini"
	"github.com/helix-agents/helix-go/llm/llmtest"
)

// testTransport carries every test request that brings no client of its
// own, so that TestMain can close its idle connections and then see any
// connection a stream failed to release as a leaked goroutine.
var testTransport = &http.Transport{}

func TestMain(m *testing.M) {
	code := m.Run()
	testTransport.CloseIdleConnections()
	if code == 0 {
		// genai's dependencies import opencensus, whose init starts a
		// package-lifetime worker.
		if err := goleak.Find(goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start")); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func harness() llmtest.Harness {
	return llmtest.Harness{
		Provider: "gemini",
		Model:    "gemini-2.5-flash",
		Upstream: "https://generativelanguage.googleapis.com",
		KeyEnv:   "GEMINI_API_KEY",
		New: func(c llmtest.Config) (llm.Model, error) {
			hc := c.HTTPClient
			if hc == nil {
				hc = &http.Client{Transport: testTransport}
			}
			return gemini.New(context.Background(), gemini.Options{APIKey: c.APIKey, BaseURL: c.BaseURL, Model: c.Model,
				HTTPClient: hc, IdleTimeout: c.IdleTimeout})
		},
		Caps: llmtest.Capabilities{
			// Gemini 2.5 gives function calls no id; the adapter makes them up.
			ToolCallIDs: false,
			// Function calls arrive whole, in one part.
			ToolArgDeltas: false,
			ThinkingText:  true,
			// Signatures come on function-call parts, not on thought text.
			ThinkingSignature: false,
			ReasoningTokens:   true,
		},
		CheckRequest: checkRequest,
		// Gemini answers a wrong key with 400 INVALID_ARGUMENT (API_KEY_INVALID).
		BadKeyStatus: 400,
		// An event cut inside its JSON, closed by Gemini's CRLF separator.
		Malformed: []byte("data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"oops\"\r\n\r\n"),
	}
}

func TestConformance(t *testing.T) { llmtest.Run(t, harness()) }

func FuzzStream(f *testing.F) {
	if testing.Short() {
		f.Skip("fuzz targets skip under -short")
	}
	llmtest.Fuzz(f, harness())
}

// body is a request body decoded for inspection.
type body map[string]any

// get follows a path of object keys (string) and array indexes (int).
func (b body) get(path ...any) any {
	var v any = map[string]any(b)
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			a, ok := v.([]any)
			if !ok || k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}

func jsonEq(t *testing.T, what string, got any, want string) {
	t.Helper()
	var w any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, w) {
		g, _ := json.Marshal(got)
		t.Errorf("%s = %s; want %s", what, g, want)
	}
}

// checkRequest checks the Gemini encoding of each conformance request.
func checkRequest(t *testing.T, name string, i int, raw []byte) {
	t.Helper()
	var b body
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatalf("request body is not JSON: %v", err)
	}
	if s, _ := b.get("systemInstruction", "parts", 0, "text").(string); !strings.HasPrefix(s, "You are a concise assistant.") {
		t.Errorf("systemInstruction text = %q", s)
	}
	if b.get("contents", 0, "role") != "user" {
		t.Errorf("first content role = %v; want user", b.get("contents", 0, "role"))
	}
	if b.get("cachedContent") != nil {
		t.Errorf("cachedContent sent; Gemini caches implicitly")
	}
	// The SDK-only knobs never reach the wire.
	if b.get("generationConfig", "automaticContinuation") != nil || b.get("automaticContinuation") != nil {
		t.Errorf("automaticContinuation leaked into the request")
	}
	gen := func(k string) any { return b.get("generationConfig", k) }
	switch name {
	case "text":
		jsonEq(t, "contents", b.get("contents"), `[{"role":"user","parts":[{"text":"Say hello in five words or fewer."}]}]`)
		if gen("thinkingConfig") != nil || b.get("tools") != nil || b.get("toolConfig") != nil {
			t.Errorf("plain request carries thinking or tools: %s", raw)
		}
	case "tool_round_trip":
		jsonEq(t, "tools", b.get("tools"), `[{"functionDeclarations":[{"name":"get_weather","description":"Get the current weather for a city.",
			"parametersJsonSchema":{"type":"object","properties":{"city":{"type":"string","description":"City name"}},"required":["city"],"additionalProperties":false}}]}]`)
		if b.get("toolConfig") != nil {
			t.Errorf("auto tool choice sent a toolConfig: %v", b.get("toolConfig"))
		}
		if i == 1 {
			if n := len(b.get("contents").([]any)); n != 3 {
				t.Fatalf("second request has %d contents; want user, model, user", n)
			}
			jsonEq(t, "model turn role", b.get("contents", 1, "role"), `"model"`)
			jsonEq(t, "function call", b.get("contents", 1, "parts", 0, "functionCall"), `{"name":"get_weather","args":{"city":"Paris"}}`)
			if s, _ := b.get("contents", 1, "parts", 0, "thoughtSignature").(string); !strings.HasPrefix(s, "CtQB") {
				t.Errorf("function call part lost its thoughtSignature: %q", s)
			}
			jsonEq(t, "tool result turn", b.get("contents", 2), `{"role":"user","parts":[{"functionResponse":{"name":"get_weather",
				"response":{"result":{"city":"Paris","tempC":18,"sky":"cloudy"}}}}]}`)
		}
	case "parallel_tool_calls":
		jsonEq(t, "tool names", b.get("tools", 0, "functionDeclarations", 0, "name"), `"get_weather"`)
	case "forced_tool_choice":
		jsonEq(t, "toolConfig", b.get("toolConfig"), `{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["get_weather"]}}`)
	case "structured_output":
		jsonEq(t, "responseMimeType", gen("responseMimeType"), `"application/json"`)
		jsonEq(t, "responseJsonSchema", gen("responseJsonSchema"), `{"title":"city_info","description":"A city and its country.","type":"object",
			"properties":{"city":{"type":"string"},"country":{"type":"string"}},"required":["city","country"],"additionalProperties":false}`)
	case "cached_tokens":
		if s, _ := b.get("systemInstruction", "parts", 0, "text").(string); len(s) < 4000 {
			t.Errorf("long system prompt not sent (%d bytes)", len(s))
		}
	case "reasoning":
		jsonEq(t, "thinkingConfig", gen("thinkingConfig"), `{"thinkingBudget":1024,"includeThoughts":true}`)
		jsonEq(t, "maxOutputTokens", gen("maxOutputTokens"), `4096`)
	case "stop_length":
		jsonEq(t, "maxOutputTokens", gen("maxOutputTokens"), `16`)
		if gen("thinkingConfig") != nil {
			t.Errorf("thinkingConfig sent without a budget or effort")
		}
	case "bad_request":
		jsonEq(t, "temperature", gen("temperature"), `5`)
	}
}
