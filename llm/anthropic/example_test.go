package anthropic_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/helix-agents/helix-go/llm"
	"github.com/helix-agents/helix-go/llm/anthropic"
)

// answer is what the stand-in server streams, in the Messages API's format.
const answer = `event: message_start
data: {"type":"message_start","message":{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":18,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" there!"}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":5}}

event: message_stop
data: {"type":"message_stop"}

`

func Example() {
	// A stand-in for https://api.anthropic.com, so that the example runs
	// offline. Real use leaves BaseURL empty and sets APIKey.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
		_, _ = io.WriteString(w, answer)
	}))
	defer srv.Close()

	m, err := anthropic.New(anthropic.Options{APIKey: "sk-ant-…", BaseURL: srv.URL, Model: "claude-sonnet-4-5"})
	if err != nil {
		fmt.Println(err)
		return
	}
	req := &llm.Request{
		System:   "You are a concise assistant.",
		Messages: []llm.Message{llm.UserMessage("Say hello.")},
		Settings: llm.Settings{MaxOutputTokens: 256},
	}
	for ev, err := range m.Stream(context.Background(), req) {
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		switch ev.Type {
		case llm.EventTextDelta:
			fmt.Print(ev.Text)
		case llm.EventUsage:
			fmt.Printf("\n%d prompt + %d completion tokens\n", ev.Usage.PromptTokens, ev.Usage.CompletionTokens)
		case llm.EventFinish:
			fmt.Println("finish:", ev.FinishReason)
		}
	}
	// Output:
	// Hello there!
	// 18 prompt + 5 completion tokens
	// finish: stop
}
