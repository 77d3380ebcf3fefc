package redisstore_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/redis/go-redis/v9"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/store"
	"github.com/helix-agents/helix-go/store/redisstore"
)

// Example opens a store from a URL, creates a session, appends to its
// stream and follows the stream until it ends. It needs a Redis server, so
// it is compiled but not run.
func Example() {
	ctx := context.Background()
	st, err := redisstore.Open(ctx, "redis://127.0.0.1:6379/0?prefix=myapp:&ttl=168h&max_chunks=10000")
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
	go func() {
		// Another process could be the writer: subscribers of every store
		// sharing the prefix are woken through Redis Pub/Sub.
		chunks := []helix.Chunk{
			{Type: helix.ChunkTextDelta, SessionID: "s-1", Delta: "Hello, "},
			{Type: helix.ChunkTextDelta, SessionID: "s-1", Delta: "world"},
		}
		if _, err := st.AppendChunks(ctx, "s-1", fence, chunks); err != nil {
			log.Print(err)
		}
		if err := st.SetStreamStatus(ctx, "s-1", fence, helix.StreamEnded); err != nil {
			log.Print(err)
		}
	}()
	for c, err := range st.Subscribe(ctx, "s-1", 0) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Print(c.Delta)
	}
	fmt.Println()
}

// ExampleNew builds a store on a client the application owns, here a
// Sentinel-managed primary.
func ExampleNew() {
	client := redis.NewFailoverClient(&redis.FailoverOptions{
		MasterName:    "mymaster",
		SentinelAddrs: []string{"sentinel-1:26379", "sentinel-2:26379", "sentinel-3:26379"},
	})
	defer client.Close() // after the store: Close leaves the client open

	st, err := redisstore.New(client, redisstore.Options{
		KeyPrefix: "myapp:",
		TTL:       7 * 24 * time.Hour,
		MaxChunks: 10000,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()

	// Or, with the URL schemes registered by importing the package:
	//	st, err := store.Open(ctx, "redis://:password@127.0.0.1:6379/0")
}
