package sse_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/server/sse"
)

func Example() {
	rec := httptest.NewRecorder() // the handler's http.ResponseWriter
	w, err := sse.NewWriter(rec)
	if err != nil {
		panic(err)
	}
	chunks := func(yield func(helix.Chunk, error) bool) {
		yield(helix.Chunk{Type: helix.ChunkTextDelta, SessionID: "s1", RunID: "r1",
			AgentType: "chat", Step: 1, Timestamp: 1700000000000, Sequence: 7, Delta: "Hi\n"}, nil)
	}
	err = w.Run(context.Background(), chunks, sse.RunOptions{
		EndStatus: func(context.Context) (string, error) { return "completed", nil },
	})
	fmt.Println(rec.Header().Get("Content-Type"), err)
	fmt.Print(rec.Body)

	for ev, err := range sse.Decode(strings.NewReader(rec.Body.String())) {
		fmt.Printf("%q %q %v\n", ev.ID, ev.Name, err)
	}
	// Output:
	// text/event-stream <nil>
	// id: 7
	// event: chunk
	// data: {"type":"text_delta","sessionId":"s1","runId":"r1","agentType":"chat","step":1,"timestamp":1700000000000,"sequence":7,"delta":"Hi\n"}
	//
	// event: end
	// data: {"status":"completed"}
	//
	// "7" "chunk" <nil>
	// "" "end" <nil>
}

func ExampleParseResume() {
	r := httptest.NewRequest("GET", "/sse?sessionId=s1&after=41", nil)
	fmt.Println(sse.ParseResume(r))
	r.Header.Set("Last-Event-ID", "57") // an EventSource reconnect: the header wins
	fmt.Println(sse.ParseResume(r))
	r = httptest.NewRequest("GET", "/sse?after=-1", nil)
	_, _, err := sse.ParseResume(r)
	fmt.Println(err)
	// Output:
	// 41 true <nil>
	// 57 true <nil>
	// sse: invalid resume point: after "-1" is not a non-negative integer
}
