package gemini_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/helix-agents/helix-go/llm"
	"github.com/helix-agents/helix-go/llm/gemini"
)

func Example() {
	// A stand-in for the Gemini API, answering as streamGenerateContent
	// does. Leave BaseURL empty to talk to Google.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"Hello\"}],\"role\": \"model\"},\"index\": 0}]}\r\n\r\n"+
			"data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \" there!\"}],\"role\": \"model\"},\"finishReason\": \"STOP\",\"index\": 0}],"+
			"\"usageMetadata\": {\"promptTokenCount\": 9,\"candidatesTokenCount\": 3,\"totalTokenCount\": 12}}\r\n\r\n")
	}))
	defer srv.Close()

	m, err := gemini.New(context.Background(), gemini.Options{
		APIKey:     "your-gemini-api-key", // e.g. os.Getenv("GEMINI_API_KEY")
		BaseURL:    srv.URL,
		HTTPClient: srv.Client(),
	})
	if err != nil {
		log.Fatal(err)
	}
	req := &llm.Request{System: "You are a concise assistant.", Messages: []llm.Message{llm.UserMessage("Say hello.")}}
	for ev, err := range m.Stream(context.Background(), req) {
		if err != nil {
			log.Fatal(err)
		}
		switch ev.Type {
		case llm.EventTextDelta:
			fmt.Print(ev.Text)
		case llm.EventUsage:
			fmt.Printf("\n%d tokens\n", ev.Usage.TotalTokens)
		case llm.EventFinish:
			fmt.Println(ev.FinishReason)
		}
	}
	// Output:
	// Hello there!
	// 12 tokens
	// stop
}
