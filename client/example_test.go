package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/client"
)

// exampleServer stands in for a Helix server: it starts a run and streams
// its chunks.
func exampleServer() *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /start", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"sessionId":"s1","streamId":"s1","runId":"r1"}`)
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"error":"Not found"}`)
	})
	mux.HandleFunc("GET /sse", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, `id: 1
event: chunk
data: {"type":"run_start","sessionId":"s1","runId":"r1","agentType":"assistant","step":0,"timestamp":0,"sequence":1,"input":"Hi","resumed":false}

id: 2
event: chunk
data: {"type":"text_delta","sessionId":"s1","runId":"r1","agentType":"assistant","step":1,"timestamp":0,"sequence":2,"delta":"Hello"}

: ping

id: 3
event: chunk
data: {"type":"text_delta","sessionId":"s1","runId":"r1","agentType":"assistant","step":1,"timestamp":0,"sequence":3,"delta":", world"}

event: end
data: {"status":"completed"}

`)
	})
	return httptest.NewServer(mux)
}

func Example() {
	srv := exampleServer()
	defer srv.Close()
	ctx := context.Background()

	c, err := client.New(srv.URL, client.Options{Token: "my-api-key"})
	if err != nil {
		fmt.Println(err)
		return
	}
	run, err := c.Start(ctx, client.StartRequest{AgentType: "assistant", Message: "Hi"})
	if err != nil {
		fmt.Println(err)
		return
	}
	st := c.Stream(run.SessionID, -1)
	for chunk, err := range st.Chunks(ctx) {
		if err != nil {
			fmt.Println("stream:", err)
			return
		}
		if chunk.Type == helix.ChunkTextDelta {
			fmt.Print(chunk.Delta)
		}
	}
	fmt.Println()
	fmt.Println("status:", st.EndStatus(), "last sequence:", st.LastSequence())

	_, err = c.Status(ctx, "no-such-session")
	fmt.Println(errors.Is(err, client.ErrNotFound), err)
	// Output:
	// Hello, world
	// status: completed last sequence: 3
	// true client: GET /status: 404 Not found
}
