package local_test

import (
	"context"
	"fmt"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/llm/scripted"
	"github.com/helix-agents/helix-go/runtime/local"
	"github.com/helix-agents/helix-go/store/memstore"
)

// An approval-gated tool suspends the run durably; answering the approval
// resumes it.
func ExampleRuntime_SubmitToolResult() {
	del := helix.NewTool("delete_file", "Delete a file",
		func(ctx context.Context, tc *helix.ToolContext, in struct {
			Path string `json:"path"`
		}) (string, error) {
			return "deleted " + in.Path, nil
		}, helix.RequireApproval())
	model := scripted.Turns(
		scripted.Turn{ToolCalls: []scripted.ToolCall{{Name: "delete_file", Arguments: []byte(`{"path":"/tmp/old.log"}`)}}},
		scripted.Turn{Text: "Done."},
	)
	agent := helix.MustNewAgent(helix.AgentConfig{Name: "janitor", Tools: []*helix.Tool{del}, Model: model})
	ctx := context.Background()
	rt, _ := local.New(local.Options{Store: memstore.New()})
	defer rt.Close(ctx)

	h, _ := rt.Execute(ctx, agent, helix.Input{Message: "Clean up"}, local.WithSessionID("s1"))
	res, _ := h.Result(ctx)
	fmt.Println(res.Status, res.Pending[0].ToolName)

	h, _ = rt.SubmitToolResult(ctx, "s1", helix.ToolSubmission{Kind: helix.SubmitApproval, ToolCallID: res.Pending[0].ToolCallID, Approved: true})
	res, _ = h.Result(ctx)
	fmt.Println(res.Status)
	// Output:
	// suspended_approval delete_file
	// completed
}
