package scripted_test

import (
	"context"
	"fmt"

	"github.com/helix-agents/helix-go/llm"
	"github.com/helix-agents/helix-go/llm/scripted"
)

func ExampleParse() {
	m, _ := scripted.Parse([]byte(`{"turns":[{"text":"Hello there"}]}`))
	req := &llm.Request{Messages: []llm.Message{llm.UserMessage("hi")}}
	for ev, err := range m.Stream(context.Background(), req) {
		if err != nil {
			break
		}
		if ev.Type == llm.EventTextDelta {
			fmt.Printf("%q\n", ev.Text)
		}
	}
	// Output:
	// "Hello"
	// " there"
}
