package sqlitestore_test

import (
	"context"
	"errors"
	"fmt"
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

// twoProcesses opens two stores on one new file, as two processes would,
// and creates session id through the first; the test closes both.
func twoProcesses(t *testing.T, id string) (a, b *sqlitestore.Store) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "x.db")
	a, err := sqlitestore.Open(ctx, path, sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	b, err = sqlitestore.Open(ctx, path, sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if err := a.CreateSession(ctx, &store.Session{ID: id, AgentType: "x", Status: helix.StatusRunning}); err != nil {
		t.Fatal(err)
	}
	return a, b
}

// TestAppendStateSeesOtherProcess: store A remembers where each stream it
// appended to ends and its newest fence. Store B (another process on the
// same file) appends to the same stream and takes a new fencing token: A's
// next append must continue after B's chunk, and A's old token must be
// refused, not accepted on A's stale view.
func TestAppendStateSeesOtherProcess(t *testing.T) {
	ctx := context.Background()
	a, b := twoProcesses(t, "s")
	fence, err := a.NextFence(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	delta := func(s string) []helix.Chunk { return []helix.Chunk{{Type: helix.ChunkTextDelta, Delta: s}} }
	for i, step := range []struct {
		st   store.Store
		want int64
	}{{a, 1}, {a, 2}, {b, 3}, {a, 4}, {b, 5}, {b, 6}, {a, 7}} {
		last, err := step.st.AppendChunks(ctx, "s", fence, delta("x"))
		if err != nil || last != step.want {
			t.Fatalf("append %d: last %d, %v; want %d", i, last, err, step.want)
		}
	}
	if _, err := b.NextFence(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.AppendChunks(ctx, "s", fence, delta("late")); !errors.Is(err, store.ErrStaleFence) {
		t.Fatalf("append with the fence B superseded: %v, want ErrStaleFence", err)
	}
	got, err := a.ReadChunks(ctx, "s", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 7 {
		t.Fatalf("stored %d chunks, want 7", len(got))
	}
	for i, c := range got {
		if c.Sequence != int64(i+1) {
			t.Fatalf("chunk %d has sequence %d", i, c.Sequence)
		}
	}
}

// TestReadPoolNoDeadlock: 64 readers, in transactions and out, share one
// read connection while its statements are first prepared; with
// uncancellable contexts (subscriptions read so) nothing may wait forever.
// (An earlier read pool deadlocked here: its shared statement cache
// prepared on a second connection while the readers held them all.) Each
// round uses a fresh store.
func TestReadPoolNoDeadlock(t *testing.T) {
	ctx := context.Background()
	for round := range 20 {
		s, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "x.db"), sqlitestore.Options{ReadConns: 1, PollInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.CreateSession(ctx, &store.Session{ID: "s", AgentType: "x", Status: helix.StatusRunning}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AppendChunks(ctx, "s", 0, []helix.Chunk{{Type: helix.ChunkTextDelta, Delta: "x"}}); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 64)
		for i := range 64 {
			go func() {
				var err error
				if i%2 == 0 {
					_, err = s.StreamInfo(ctx, "s")
				} else {
					_, err = s.ReadChunks(ctx, "s", 0, 10)
				}
				done <- err
			}()
		}
		timeout := time.After(10 * time.Second)
		for range 64 {
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-timeout:
				t.Fatalf("round %d: reads still blocked after 10 s: the read pool deadlocked", round)
			}
		}
		s.Close()
	}
}

// TestReadTxStatementsCached: a read prepares the statements it needs on
// its connection once; later reads on that connection do not parse them
// again. (One read connection, so that both reads use it.)
func TestReadTxStatementsCached(t *testing.T) {
	ctx := context.Background()
	s, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "x.db"), sqlitestore.Options{PollInterval: -1, ReadConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.CreateSession(ctx, &store.Session{ID: "s", AgentType: "x", Status: helix.StatusRunning}); err != nil {
		t.Fatal(err)
	}
	before := s.CachedReadStatements()
	if _, err := s.ReadChunks(ctx, "s", 0, 10); err != nil {
		t.Fatal(err)
	}
	after := s.CachedReadStatements()
	// The session lookup and the chunk query.
	if after < before+2 {
		t.Fatalf("read statements cached: %d before a read, %d after; want both of its queries cached", before, after)
	}
	if _, err := s.ReadChunks(ctx, "s", 0, 10); err != nil {
		t.Fatal(err)
	}
	if again := s.CachedReadStatements(); again != after {
		t.Fatalf("a second read changed the cache: %d → %d statements", after, again)
	}
}

// TestStaleCacheWhileBothWrite: another process appends to a stream this
// store has cached and ends it, while this store keeps committing other
// writes (so its poller cannot tell the other process's commits from its
// own). A subscriber here still sees the new chunk and the end: the writer
// notices the foreign commit at its next batch and drops the cache.
func TestStaleCacheWhileBothWrite(t *testing.T) {
	ctx := context.Background()
	a, b := twoProcesses(t, "s")
	if err := a.SetStreamStatus(ctx, "s", 0, helix.StreamActive); err != nil {
		t.Fatal(err)
	}
	if _, err := a.AppendChunks(ctx, "s", 0, []helix.Chunk{{Type: helix.ChunkTextDelta, Delta: "1"}}); err != nil {
		t.Fatal(err)
	}
	// a keeps writing, more often than its poll interval.
	busy, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; busy.Err() == nil; i++ {
			_ = a.CreateSession(ctx, &store.Session{ID: fmt.Sprintf("other-%d", i), AgentType: "x", Status: helix.StatusCompleted})
			time.Sleep(10 * time.Millisecond)
		}
	}()
	defer func() { stop(); <-done }()
	time.Sleep(50 * time.Millisecond)
	if _, err := b.AppendChunks(ctx, "s", 0, []helix.Chunk{{Type: helix.ChunkTextDelta, Delta: "2"}}); err != nil {
		t.Fatal(err)
	}
	if err := b.SetStreamStatus(ctx, "s", 0, helix.StreamEnded); err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var got []string
	for c, err := range a.Subscribe(sctx, "s", 1) {
		if err != nil {
			t.Fatalf("subscription after chunk 1 (got %v): %v", got, err)
		}
		got = append(got, c.Delta)
	}
	if len(got) != 1 || got[0] != "2" {
		t.Fatalf("subscription after chunk 1 yielded %v, want [2] and the end", got)
	}
}
