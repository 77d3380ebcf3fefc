package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/client"
	"github.com/helix-agents/helix-go/llm/scripted"
	"github.com/helix-agents/helix-go/runtime/local"
	"github.com/helix-agents/helix-go/server"
	"github.com/helix-agents/helix-go/server/auth"
	"github.com/helix-agents/helix-go/store/memstore"
)

const testKey = "client-test-key-0123456789"

// cuttingWriter fails every write after budget bytes, as a connection that
// drops does: the server's stream ends and the client must resume.
type cuttingWriter struct {
	http.ResponseWriter
	budget int
}

func (w *cuttingWriter) Write(p []byte) (int, error) {
	if w.budget <= 0 {
		return 0, errors.New("connection dropped")
	}
	w.budget -= len(p)
	return w.ResponseWriter.Write(p)
}

func (w *cuttingWriter) Flush() { w.ResponseWriter.(http.Flusher).Flush() }

func (w *cuttingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// realServer is the real AgentServer on memstore; every /sse response is
// cut after a varying number of bytes.
func realServer(t *testing.T) (*httptest.Server, *memstore.Store, *atomic.Int64) {
	t.Helper()
	st := memstore.New()
	agents := &helix.Registry{}
	type in struct {
		X int `json:"x"`
	}
	tool := helix.NewTool("danger", "needs approval", func(context.Context, *helix.ToolContext, in) (string, error) {
		return "ok", nil
	}, helix.RequireApproval())
	_ = agents.Register(helix.MustNewAgent(helix.AgentConfig{Name: "talker", Tools: []*helix.Tool{tool}, Model: scripted.Turns(
		scripted.Turn{Text: strings.Repeat("lorem ipsum ", 60), ChunkDelayMs: 2},
		scripted.Turn{ToolCalls: []scripted.ToolCall{{ID: "c1", Name: "danger", Arguments: json.RawMessage(`{"x":1}`)}}},
		scripted.Turn{Text: "done"},
	)}))
	rt, err := local.New(local.Options{Store: st, Agents: agents})
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := auth.ParseAPIKeys("alice=" + testKey)
	srv, err := server.New(server.Options{Runtime: rt, Authenticator: keys, DisableRateLimit: true})
	if err != nil {
		t.Fatal(err)
	}
	var conns atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/sse" {
			n := conns.Add(1)
			srv.ServeHTTP(&cuttingWriter{ResponseWriter: w, budget: 300 + int(n*137%2000)}, r)
			return
		}
		srv.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		ts.Close()
		_ = rt.Close(ctx)
		_ = st.Close()
	})
	return ts, st, &conns
}

// TestAgainstServer drives the real server through the client: a run whose
// stream is cut many times is received whole (checked against the stored
// log), then an approval round trip, status, messages, sessions and
// checkpoints.
func TestAgainstServer(t *testing.T) {
	ts, st, conns := realServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.New(ts.URL, client.Options{Token: testKey, ReconnectDelay: time.Millisecond, MaxReconnects: 50})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := c.Start(ctx, client.StartRequest{AgentType: "talker", Message: "talk"})
	if err != nil {
		t.Fatal(err)
	}
	s := c.Stream(ref.SessionID, -1)
	var got []helix.Chunk
	for ch, err := range s.Chunks(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ch)
	}
	if s.EndStatus() != helix.StatusCompleted {
		t.Fatalf("end status %q", s.EndStatus())
	}
	if conns.Load() < 5 {
		t.Fatalf("only %d connections: the stream was not cut", conns.Load())
	}
	stored, err := st.ReadChunks(ctx, ref.SessionID, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(stored) {
		t.Fatalf("got %d chunks, stored %d", len(got), len(stored))
	}
	for i := range stored {
		if got[i].Sequence != stored[i].Sequence || got[i].Delta != stored[i].Delta {
			t.Fatalf("chunk %d differs: %d %q vs %d %q", i, got[i].Sequence, got[i].Delta, stored[i].Sequence, stored[i].Delta)
		}
	}

	// Second turn: suspends for approval; approve; the resumed run ends.
	ref2, err := c.Start(ctx, client.StartRequest{AgentType: "talker", SessionID: ref.SessionID, Message: "act"})
	if err != nil {
		t.Fatal(err)
	}
	s2 := c.Stream(ref2.SessionID, -1)
	for _, err := range s2.Chunks(ctx) {
		if err != nil {
			t.Fatal(err)
		}
	}
	if s2.EndStatus() != helix.StatusSuspendedApproval {
		t.Fatalf("second turn ended %q", s2.EndStatus())
	}
	stat, err := c.Status(ctx, ref.SessionID)
	if err != nil || len(stat.Pending) != 1 || stat.Pending[0].ToolCallID != "c1" {
		t.Fatalf("status %+v %v", stat, err)
	}
	sub, err := c.Approve(ctx, ref.SessionID, "c1", true, "")
	if err != nil || !sub.Resumed {
		t.Fatalf("approve %+v %v", sub, err)
	}
	for _, err := range s2.Chunks(ctx) { // the same cursor continues
		if err != nil {
			t.Fatal(err)
		}
	}
	if s2.EndStatus() != helix.StatusCompleted {
		t.Fatalf("after approval %q", s2.EndStatus())
	}
	if _, err := c.Approve(ctx, ref.SessionID, "c1", true, ""); !errors.Is(err, client.ErrToolNotPending) {
		t.Fatalf("replayed approval: %v", err)
	}
	if _, err := c.Resume(ctx, ref.SessionID, ""); !errors.Is(err, client.ErrNotResumable) {
		t.Fatalf("resume completed: %v", err)
	}
	msgs, err := c.Messages(ctx, ref.SessionID, 0, 2)
	if err != nil || msgs.Total < 5 || len(msgs.Messages) != 2 || !msgs.HasMore {
		t.Fatalf("messages %+v %v", msgs, err)
	}
	sessions, err := c.Sessions(ctx, client.SessionQuery{AgentType: "talker"})
	if err != nil || sessions.Total != 1 {
		t.Fatalf("sessions %+v %v", sessions, err)
	}
	cps, err := c.Checkpoints(ctx, ref.SessionID, 0, 0)
	if err != nil || cps.Total == 0 {
		t.Fatalf("checkpoints %+v %v", cps, err)
	}
	if _, err := c.Status(ctx, "s_unknown"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("unknown session: %v", err)
	}
	agents, err := c.Agents(ctx)
	if err != nil || len(agents.Agents) != 1 || agents.Agents[0].Name != "talker" || agents.Agents[0].Tools[0].Name != "danger" {
		t.Fatalf("agents %+v %v", agents, err)
	}
	if err := c.Health(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Ready(ctx); err != nil {
		t.Fatal(err)
	}
}
