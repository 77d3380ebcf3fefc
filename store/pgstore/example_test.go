package pgstore_test

import (
	"context"
	"fmt"
	"log"

	"github.com/jackc/pgx/v5/pgxpool"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/store"
	"github.com/helix-agents/helix-go/store/pgstore"
)

// Open a store by URL, write a session and its stream, and tail it.
func Example() {
	ctx := context.Background()
	st, err := pgstore.Open(ctx, "postgres://helix@localhost:5432/helix?sslmode=disable&schema=helix")
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()

	if err := st.CreateSession(ctx, &store.Session{ID: "s-1", AgentType: "assistant", Status: helix.StatusRunning}); err != nil {
		log.Fatal(err)
	}
	fence, err := st.NextFence(ctx, "s-1")
	if err != nil {
		log.Fatal(err)
	}
	chunks := []helix.Chunk{{Type: helix.ChunkTextDelta, SessionID: "s-1", Delta: "Hello"}}
	if _, err := st.AppendChunks(ctx, "s-1", fence, chunks); err != nil {
		log.Fatal(err)
	}
	if err := st.SetStreamStatus(ctx, "s-1", fence, helix.StreamEnded); err != nil {
		log.Fatal(err)
	}
	for c, err := range st.Subscribe(ctx, "s-1", 0) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(c.Sequence, c.Delta)
	}
}

// Use a pool configured by the application; the store does not close it.
func ExampleNew() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, "postgres://helix@localhost:5432/helix?sslmode=disable&pool_max_conns=16")
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	st, err := pgstore.New(ctx, pool, pgstore.Options{Schema: "tenant_a"})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	// st is a store.Store.
	var _ store.Store = st
}

// Through the store registry: importing pgstore registers the postgres
// and postgresql URL schemes.
func Example_storeOpen() {
	ctx := context.Background()
	st, err := store.Open(ctx, "postgresql://helix@localhost/helix?schema=helix&async_chunk_commit=true")
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
}
