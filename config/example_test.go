package config_test

import (
	"context"
	"fmt"

	"github.com/helix-agents/helix-go/config"
	"github.com/helix-agents/helix-go/llm"
	"github.com/helix-agents/helix-go/llm/scripted"
)

func Example() {
	f, err := config.Parse([]byte(`
agents:
  - name: researcher
    description: Answers questions, with help
    systemPrompt: You answer questions.
    tools: [calculator]
    subAgents: [summarizer]
  - name: summarizer
    description: Summarizes a text
    systemPrompt: Summarize the text you are given.
    model: scripted:summarizer.json
    output: { type: object, properties: { summary: { type: string } }, required: [summary] }
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	agents, err := f.Build(context.Background(), config.BuildOptions{
		DefaultModel: "scripted:demo.json", // the CLI's --model
		// Offline: every spec gets a scripted model.
		Models: func(_ context.Context, spec string) (llm.Model, error) {
			return scripted.Turns(scripted.Turn{Text: "Hello from " + spec}), nil
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer agents.Close()
	for _, name := range agents.Names() {
		a := agents.Get(name)
		var tools []string
		for _, t := range a.Tools() {
			tools = append(tools, t.Name())
		}
		fmt.Printf("%s: tools %v, output %v\n", name, tools, a.HasOutput())
	}

	_, err = config.Parse([]byte("agents:\n  - name: a\n    tools: [shell]\n"))
	fmt.Println(err)
	// Output:
	// researcher: tools [calculator summarizer], output false
	// summarizer: tools [__finish__], output true
	// config: line 3: agent "a": tools: unknown tool "shell" (known tools: current_time, calculator, http_fetch, read_file, list_files, write_file, delete_file)
}
