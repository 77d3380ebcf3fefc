package server_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/llm/scripted"
	"github.com/helix-agents/helix-go/runtime/local"
	"github.com/helix-agents/helix-go/server"
	"github.com/helix-agents/helix-go/server/auth"
	"github.com/helix-agents/helix-go/store/memstore"
)

// A server with one agent and one API key, started on httptest: start a
// run, then read its stream to the end.
func ExampleNew() {
	st := memstore.New()
	defer st.Close()
	agents := &helix.Registry{}
	_ = agents.Register(helix.MustNewAgent(helix.AgentConfig{
		Name: "greeter", Model: scripted.Turns(scripted.Turn{Text: "Hello there"}),
	}))
	rt, err := local.New(local.Options{Store: st, Agents: agents})
	if err != nil {
		log.Fatal(err)
	}
	defer rt.Close(context.Background())
	keys, err := auth.ParseAPIKeys("alice=alice-secret-key-0123456789")
	if err != nil {
		log.Fatal(err)
	}
	srv, err := server.New(server.Options{Runtime: rt, Authenticator: keys})
	if err != nil {
		log.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()

	call := func(method, path, body string) string {
		req, _ := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer alice-secret-key-0123456789")
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		defer res.Body.Close()
		data, _ := io.ReadAll(res.Body)
		return string(data)
	}
	started := call("POST", "/start", `{"agentType":"greeter","message":"hi"}`)
	id := started[strings.Index(started, `"sessionId":"`)+13:]
	id = id[:strings.IndexByte(id, '"')]
	stream := call("GET", "/sse?sessionId="+id, "")
	fmt.Println(strings.Count(stream, "event: chunk") > 0, strings.HasSuffix(stream, "event: end\ndata: {\"status\":\"completed\"}\n\n"))
	// Output: true true
}
