package chat_test

import (
	"encoding/json"
	"fmt"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/server/chat"
)

func ExampleEncoder() {
	enc := chat.NewEncoder(chat.Options{})
	for _, c := range []helix.Chunk{
		{Type: helix.ChunkRunStart, SessionID: "s_1", RunID: "run_1"},
		{Type: helix.ChunkStepStart, SessionID: "s_1", Step: 1},
		{Type: helix.ChunkTextDelta, SessionID: "s_1", Step: 1, Delta: "Hi!"},
		{Type: helix.ChunkStepEnd, SessionID: "s_1", Step: 1},
		{Type: helix.ChunkRunEnd, SessionID: "s_1", RunID: "run_1", Status: helix.StatusCompleted},
	} {
		for _, p := range enc.Encode(c) {
			data, _ := json.Marshal(p)
			fmt.Printf("data: %s\n\n", data)
		}
	}
	fmt.Printf("data: %s\n", chat.Done)
	// Output:
	// data: {"type":"start","messageId":"msg_run_1"}
	//
	// data: {"type":"start-step"}
	//
	// data: {"type":"text-start","id":"txt_1_1"}
	//
	// data: {"type":"text-delta","id":"txt_1_1","delta":"Hi!"}
	//
	// data: {"type":"text-end","id":"txt_1_1"}
	//
	// data: {"type":"finish-step"}
	//
	// data: {"type":"finish","finishReason":"stop","messageMetadata":{"sessionId":"s_1","runId":"run_1","status":"completed"}}
	//
	// data: [DONE]
}

func ExampleParseRequest() {
	body := `{"id":"s_1","trigger":"submit-message","messageId":"msg_1","messages":[
		{"id":"u1","role":"user","parts":[{"type":"text","text":"delete it"}]},
		{"id":"msg_1","role":"assistant","parts":[{"type":"step-start"},
			{"type":"tool-delete","toolCallId":"call_1","state":"approval-responded","input":{},
			 "approval":{"id":"appr_1","approved":false,"reason":"not now"}}]}]}`
	req, err := chat.ParseRequest([]byte(body))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, a := range req.Answers.Approvals {
		fmt.Printf("%s approved=%v reason=%q\n", a.ToolCallID, a.Approved, a.Reason)
	}
	// Output:
	// call_1 approved=false reason="not now"
}
