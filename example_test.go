package helix_test

import (
	"context"
	"fmt"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/llm/scripted"
	"github.com/helix-agents/helix-go/runtime/local"
	"github.com/helix-agents/helix-go/store/memstore"
)

func Example() {
	type addIn struct {
		A int `json:"a" jsonschema:"required,description=first addend"`
		B int `json:"b" jsonschema:"required,description=second addend"`
	}
	add := helix.NewTool("add", "Add two integers",
		func(ctx context.Context, tc *helix.ToolContext, in addIn) (int, error) { return in.A + in.B, nil })
	model := scripted.Turns(
		scripted.Turn{ToolCalls: []scripted.ToolCall{{Name: "add", Arguments: []byte(`{"a":2,"b":3}`)}}},
		scripted.Turn{Text: "2 + 3 = 5"},
	)
	agent := helix.MustNewAgent(helix.AgentConfig{Name: "calc", SystemPrompt: "You add.", Tools: []*helix.Tool{add}, Model: model})

	ctx := context.Background()
	rt, _ := local.New(local.Options{Store: memstore.New()})
	defer rt.Close(ctx)
	h, _ := rt.Execute(ctx, agent, helix.Input{Message: "What is 2+3?"})
	for c, err := range h.Stream(ctx) {
		if err != nil {
			break
		}
		switch c.Type {
		case helix.ChunkToolEnd:
			fmt.Printf("%s → %s\n", c.ToolName, c.Result)
		case helix.ChunkTextDelta:
			fmt.Print(c.Delta)
		}
	}
	res, _ := h.Result(ctx)
	fmt.Println("\n" + string(res.Status))
	// Output:
	// add → 5
	// 2 + 3 = 5
	// completed
}
