package sqlitestore

import (
	"context"
	"path/filepath"
	"testing"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/store"
)

// TestDiscardedReadConn: a read connection left inside a transaction (a
// ROLLBACK that failed) is discarded, not pooled again: the next reader
// gets a fresh connection and can begin a transaction.
func TestDiscardedReadConn(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "x.db"), Options{PollInterval: -1, ReadConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.CreateSession(ctx, &store.Session{ID: "s", AgentType: "x", Status: helix.StatusRunning}); err != nil {
		t.Fatal(err)
	}
	c, err := s.readers.get(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.begin(); err != nil {
		t.Fatal(err)
	}
	var one int
	if err := (txn{c: c}).row(`SELECT 1 FROM sessions`).Scan(&one); err != nil {
		t.Fatal(err)
	}
	c.discard() // as putAfter does when ROLLBACK fails
	s.readers.put(c)
	for range 3 {
		if _, err := s.ListRuns(ctx, "s"); err != nil {
			t.Fatalf("a read after the connection was discarded: %v", err)
		}
	}
}

// TestDiscardedWriterConn: a writer connection left inside a transaction
// (holding the write lock) is discarded and the next group commit takes a
// fresh one; another store on the file can write too.
func TestDiscardedWriterConn(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "x.db")
	s, err := Open(ctx, path, Options{PollInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.wmu.Lock()
	if _, err := (txn{c: s.wc}).exec(`BEGIN IMMEDIATE`); err != nil {
		s.wmu.Unlock()
		t.Fatal(err)
	}
	s.wc.discard() // as the group commit does when ROLLBACK fails
	s.wmu.Unlock()
	if err := s.CreateSession(ctx, &store.Session{ID: "a", AgentType: "x", Status: helix.StatusRunning}); err != nil {
		t.Fatalf("a write after the writer's connection was discarded: %v", err)
	}
	if _, err := s.AppendChunks(ctx, "a", 0, []helix.Chunk{{Type: helix.ChunkTextDelta, Delta: "x"}}); err != nil {
		t.Fatalf("an append after the writer's connection was discarded: %v", err)
	}
	other, err := Open(ctx, path, Options{PollInterval: -1, BusyTimeout: 2e9})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := other.CreateSession(ctx, &store.Session{ID: "b", AgentType: "x", Status: helix.StatusRunning}); err != nil {
		t.Fatalf("another store's write: %v (the write lock was not released)", err)
	}
}
