package memstore_test

import (
	"context"
	"fmt"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/llm"
	"github.com/helix-agents/helix-go/store"
	"github.com/helix-agents/helix-go/store/memstore"
)

func Example() {
	ctx := context.Background()
	st := memstore.New()
	defer st.Close()

	// Create a session, then commit a step: two messages, compare-and-set
	// on the version just loaded.
	if err := st.CreateSession(ctx, &store.Session{ID: "s-1", AgentType: "assistant", Status: helix.StatusRunning}); err != nil {
		panic(err)
	}
	s, _ := st.GetSession(ctx, "s-1")
	s.MessageCount = 2
	version, err := st.Commit(ctx, store.Commit{
		Session:         s,
		ExpectedVersion: s.Version,
		Messages:        []llm.Message{llm.UserMessage("Hi"), {Role: llm.RoleAssistant, Parts: []llm.Part{llm.TextPart("Hello!")}}},
	})
	fmt.Println("version:", version, err)

	// A second writer that loaded the old version loses.
	_, err = st.Commit(ctx, store.Commit{Session: s, ExpectedVersion: s.Version})
	fmt.Println("stale commit:", err)

	// Stream the reply, end the stream, and replay it.
	fence, _ := st.NextFence(ctx, "s-1")
	chunks := []helix.Chunk{
		{Type: helix.ChunkTextDelta, Delta: "Hel"},
		{Type: helix.ChunkTextDelta, Delta: "lo!"},
	}
	last, _ := st.AppendChunks(ctx, "s-1", fence, chunks)
	_ = st.SetStreamStatus(ctx, "s-1", fence, helix.StreamEnded)
	fmt.Println("last sequence:", last)
	for c, err := range st.Subscribe(ctx, "s-1", 0) {
		if err != nil {
			panic(err)
		}
		fmt.Println(c.Sequence, c.Delta)
	}
	// Output:
	// version: 2 <nil>
	// stale commit: memstore: commit "s-1": stored version 2, expected 1: store: version conflict
	// last sequence: 2
	// 1 Hel
	// 2 lo!
}
