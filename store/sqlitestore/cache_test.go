package sqlitestore_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/store"
	"github.com/helix-agents/helix-go/store/sqlitestore"
)

// TestTailCacheSeesOtherProcess: store A's tail cache holds a stream it
// ended; store B (another process on the same file) reopens the stream
// and appends. A subscriber on A must get B's chunk, not end early on A's
// stale view.
func TestTailCacheSeesOtherProcess(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "x.db")
	a, err := sqlitestore.Open(ctx, path, sqlitestore.Options{PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := sqlitestore.Open(ctx, path, sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := a.CreateSession(ctx, &store.Session{ID: "s", AgentType: "x", Status: helix.StatusRunning}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.AppendChunks(ctx, "s", 0, []helix.Chunk{{Type: helix.ChunkTextDelta, Delta: "1"}, {Type: helix.ChunkTextDelta, Delta: "2"}}); err != nil {
		t.Fatal(err)
	}
	if err := a.SetStreamStatus(ctx, "s", 0, helix.StreamEnded); err != nil {
		t.Fatal(err)
	}
	if err := b.SetStreamStatus(ctx, "s", 0, helix.StreamActive); err != nil {
		t.Fatal(err)
	}
	if _, err := b.AppendChunks(ctx, "s", 0, []helix.Chunk{{Type: helix.ChunkTextDelta, Delta: "3"}}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // A's poller notices the foreign commit
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for c, err := range a.Subscribe(sctx, "s", 2) {
		if err != nil {
			t.Fatalf("subscribe ended with %v before chunk 3", err)
		}
		if c.Sequence != 3 || c.Delta != "3" {
			t.Fatalf("got chunk %d %q, want 3", c.Sequence, c.Delta)
		}
		return
	}
	t.Fatal("the subscription ended without chunk 3: A's cache answered with a stale status")
}

func TestCreateSessionFenced(t *testing.T) {
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "x.db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var fc store.FencedCreator = st
	fence, err := fc.CreateSessionFenced(ctx, &store.Session{ID: "s", AgentType: "x", Status: helix.StatusRunning})
	if err != nil || fence != 1 {
		t.Fatalf("CreateSessionFenced = %d, %v", fence, err)
	}
	if _, err := fc.CreateSessionFenced(ctx, &store.Session{ID: "s", AgentType: "x", Status: helix.StatusRunning}); !errors.Is(err, store.ErrExists) {
		t.Fatalf("second create: %v", err)
	}
	if _, err := st.AppendChunks(ctx, "s", 1, []helix.Chunk{{Type: helix.ChunkTextDelta, Delta: "a"}}); err != nil {
		t.Fatalf("append with the issued fence: %v", err)
	}
	next, err := st.NextFence(ctx, "s")
	if err != nil || next != 2 {
		t.Fatalf("NextFence after a fenced create = %d, %v", next, err)
	}
	if _, err := st.AppendChunks(ctx, "s", 1, []helix.Chunk{{Type: helix.ChunkTextDelta, Delta: "b"}}); !errors.Is(err, store.ErrStaleFence) {
		t.Fatalf("append with the old fence: %v", err)
	}
}
