// Command research runs a small research agent offline: a search tool that
// records sources in typed state, and a typed report as output, answered by
// the scripted model (no API key, no network).
//
//	go run ./examples/research
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"strings"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/llm/scripted"
	"github.com/helix-agents/helix-go/runtime/local"
	"github.com/helix-agents/helix-go/store/memstore"
)

// Findings is the agent's custom state.
type Findings struct {
	Sources []string `json:"sources"`
	Depth   string   `json:"depth" jsonschema:"default=quick,enum=quick,enum=thorough"`
}

// Report is the agent's typed output.
type Report struct {
	Title   string   `json:"title" jsonschema:"description=a short title"`
	Summary string   `json:"summary" jsonschema:"description=two or three sentences"`
	Sources []string `json:"sources" jsonschema:"description=the URLs relied on"`
}

type searchIn struct {
	Query string `json:"query" jsonschema:"required,description=search terms"`
	Limit *int   `json:"limit" jsonschema:"description=maximum results (default 3),minimum=1,maximum=10"`
}

type hit struct {
	Title string `json:"title"`
	URL   string `json:"url"`
}

// corpus stands in for a search engine so the example runs offline.
var corpus = []hit{
	{"Go 1.23 range-over-func iterators", "https://go.dev/blog/range-functions"},
	{"Structured logging with slog", "https://go.dev/blog/slog"},
	{"Iterators in the standard library", "https://pkg.go.dev/iter"},
	{"Profile-guided optimization", "https://go.dev/doc/pgo"},
}

var search = helix.NewTool("search", "Search a small offline corpus of Go articles",
	func(ctx context.Context, tc *helix.ToolContext, in searchIn) ([]hit, error) {
		limit := 3
		if in.Limit != nil {
			limit = *in.Limit
		}
		var hits []hit
		for _, h := range corpus {
			for w := range strings.FieldsSeq(strings.ToLower(in.Query)) {
				if strings.Contains(strings.ToLower(h.Title), w) {
					hits = append(hits, h)
					break
				}
			}
			if len(hits) == limit {
				break
			}
		}
		err := helix.UpdateState(tc, func(f *Findings) error {
			for _, h := range hits {
				f.Sources = append(f.Sources, h.URL)
			}
			return nil
		})
		return hits, err
	})

const script = `{"turns":[
 {"thinking":"I should search for iterator material first.","text":"Searching for sources.",
  "toolCalls":[{"name":"search","arguments":{"query":"iterators","limit":2}}]},
 {"toolCalls":[{"name":"__finish__","arguments":{
   "title":"Iterators in Go",
   "summary":"Go 1.23 added range-over-func iterators; the iter package defines Seq and Seq2, which Helix uses for every stream.",
   "sources":["https://go.dev/blog/range-functions","https://pkg.go.dev/iter"]}}]}
]}`

func main() {
	if err := run(context.Background()); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context) error {
	model, err := scripted.Parse([]byte(script))
	if err != nil {
		return err
	}
	agent, err := helix.NewAgent(helix.AgentConfig{
		Name:        "researcher",
		Description: "Finds sources and writes a short report",
		SystemPromptFunc: helix.PromptFromState(func(f Findings) string {
			return fmt.Sprintf("You are a %s researcher. Sources so far: %d.", f.Depth, len(f.Sources))
		}),
		Tools:    []*helix.Tool{search},
		State:    helix.StateOf[Findings](),
		Output:   helix.OutputOf[Report](),
		Model:    model,
		MaxSteps: 10,
	})
	if err != nil {
		return err
	}
	st := memstore.New()
	defer st.Close()
	rt, err := local.New(local.Options{Store: st})
	if err != nil {
		return err
	}
	defer rt.Close(ctx)

	h, err := rt.Execute(ctx, agent, helix.Input{Message: "What are Go iterators?"})
	if err != nil {
		return err
	}
	out := os.Stdout
	for c, err := range h.Stream(ctx) {
		if err != nil {
			return err
		}
		switch c.Type {
		case helix.ChunkThinking:
			if c.IsComplete {
				fmt.Fprintf(out, "[thinking] %s\n", c.Content)
			}
		case helix.ChunkTextDelta:
			fmt.Fprint(out, c.Delta)
		case helix.ChunkToolStart:
			fmt.Fprintf(out, "\n→ %s %s\n", c.ToolName, c.Arguments)
		case helix.ChunkToolEnd:
			fmt.Fprintf(out, "← %s %s\n", c.ToolName, c.Result)
		case helix.ChunkStatePatch:
			fmt.Fprintf(out, "  state: %d change(s)\n", len(c.Patches))
		case helix.ChunkRunEnd:
			fmt.Fprintf(out, "run %s (%s), %d tokens\n", c.Status, c.CompletionReason, c.Usage.TotalTokens)
		}
	}
	res, err := h.Result(ctx)
	if err != nil {
		return err
	}
	report, err := helix.OutputAs[Report](res)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\n# %s\n%s\nSources: %s\n", report.Title, report.Summary, strings.Join(report.Sources, ", "))
	return nil
}
