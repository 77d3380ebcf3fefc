package openai_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/helix-agents/helix-go/llm"
	"github.com/helix-agents/helix-go/llm/openai"
)

// An OpenAI-compatible server (here a stand-in for Ollama or vLLM) needs
// only a BaseURL and a model name; a local server needs no key.
func ExampleNew() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, `data: {"choices":[{"index":0,"delta":{"role":"assistant","content":"Hello"}}]}

data: {"choices":[{"index":0,"delta":{"content":" there!"}}]}

data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}

data: {"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12}}

data: [DONE]

`)
	}))
	defer srv.Close()

	m, err := openai.New(openai.Options{BaseURL: srv.URL + "/v1", Model: "llama3.2"})
	if err != nil {
		log.Fatal(err)
	}
	req := &llm.Request{System: "Be brief.", Messages: []llm.Message{llm.UserMessage("Greet me.")}}
	for ev, err := range m.Stream(context.Background(), req) {
		if err != nil {
			log.Fatal(err)
		}
		switch ev.Type {
		case llm.EventTextDelta:
			fmt.Printf("%q\n", ev.Text)
		case llm.EventUsage:
			fmt.Println("tokens:", ev.Usage.TotalTokens)
		case llm.EventFinish:
			fmt.Println("finish:", ev.FinishReason)
		}
	}
	// Output:
	// "Hello"
	// " there!"
	// tokens: 12
	// finish: stop
}

// With OpenAI, pass the key (llm/models reads it from OPENAI_API_KEY).
func ExampleNew_openAI() {
	m, err := openai.New(openai.Options{APIKey: "sk-...", Model: "gpt-4o-mini", RequireAPIKey: true})
	if err != nil {
		log.Fatal(err)
	}
	var _ llm.Model = m
	fmt.Println("ready")
	// Output: ready
}
