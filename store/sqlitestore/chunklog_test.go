package sqlitestore_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/store"
	"github.com/helix-agents/helix-go/store/sqlitestore"
)

func openLogStore(t *testing.T, path string) *sqlitestore.Store {
	t.Helper()
	s, err := sqlitestore.Open(context.Background(), path, sqlitestore.Options{PollInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func activeSession(t *testing.T, s *sqlitestore.Store, id string) {
	t.Helper()
	ctx := context.Background()
	if err := s.CreateSession(ctx, &store.Session{ID: id, AgentType: "x", Status: helix.StatusRunning}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetStreamStatus(ctx, id, 0, helix.StreamActive); err != nil {
		t.Fatal(err)
	}
}

// appendN appends n text deltas one call at a time, numbered from first.
func appendN(t *testing.T, s *sqlitestore.Store, id string, first, n int) {
	t.Helper()
	for i := range n {
		c := []helix.Chunk{{Type: helix.ChunkTextDelta, Delta: "w" + string(rune('a'+(first+i)%26))}}
		last, err := s.AppendChunks(context.Background(), id, 0, c)
		if err != nil {
			t.Fatal(err)
		}
		if want := int64(first + i); last != want {
			t.Fatalf("append %d: last sequence %d, want %d", first+i, last, want)
		}
	}
}

// checkStream reads the whole stream and checks it holds exactly 1..n in
// order, and that StreamInfo agrees.
func checkStream(t *testing.T, s *sqlitestore.Store, id string, n int) {
	t.Helper()
	ctx := context.Background()
	got, err := s.ReadChunks(ctx, id, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Fatalf("read %d chunks, want %d", len(got), n)
	}
	for i, c := range got {
		if c.Sequence != int64(i+1) || c.Delta != "w"+string(rune('a'+(i+1)%26)) {
			t.Fatalf("chunk %d: sequence %d delta %q", i, c.Sequence, c.Delta)
		}
	}
	// A limited read from the middle crosses from the segments into the
	// log with no gap.
	if n > 3 {
		part, err := s.ReadChunks(ctx, id, int64(n-3), 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(part) != 2 || part[0].Sequence != int64(n-2) || part[1].Sequence != int64(n-1) {
			t.Fatalf("read after %d, limit 2: %+v", n-3, part)
		}
	}
	info, err := s.StreamInfo(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if info.LastSequence != int64(n) {
		t.Fatalf("StreamInfo last sequence %d, want %d", info.LastSequence, n)
	}
}

// TestChunkLogMovesWhenStreamEnds: appends stay pending in the log until
// a stream has moveAt of them, which move as one segment; ending the
// stream moves the rest in the same transaction, so segments alone hold an
// ended stream.
func TestChunkLogMovesWhenStreamEnds(t *testing.T) {
	ctx := context.Background()
	s := openLogStore(t, filepath.Join(t.TempDir(), "x.db"))
	activeSession(t, s, "a")
	appendN(t, s, "a", 1, 40)
	if p := s.Pending("a"); p != 8 {
		t.Fatalf("pending after 40 appends: %d, want 8 (32 moved together)", p)
	}
	if rows, n, err := s.Segments(ctx); err != nil || rows != 1 || n != 32 {
		t.Fatalf("segments: %d rows of %d chunks (%v), want 1 of 32", rows, n, err)
	}
	checkStream(t, s, "a", 40)
	if err := s.SetStreamStatus(ctx, "a", 0, helix.StreamEnded); err != nil {
		t.Fatal(err)
	}
	if p := s.Pending("a"); p != 0 {
		t.Fatalf("pending after the stream ended: %d", p)
	}
	if rows, n, err := s.Segments(ctx); err != nil || rows != 2 || n != 40 {
		t.Fatalf("segments after the end: %d rows of %d chunks (%v), want 2 of 40", rows, n, err)
	}
	checkStream(t, s, "a", 40)
}

// TestChunkLogSweepAndTruncate: chunks pending too long are moved, and the
// log's moved head is deleted.
func TestChunkLogSweepAndTruncate(t *testing.T) {
	ctx := context.Background()
	s := openLogStore(t, filepath.Join(t.TempDir(), "x.db"))
	s.SetSweep(time.Millisecond, time.Millisecond)
	activeSession(t, s, "a")
	activeSession(t, s, "b")
	appendN(t, s, "a", 1, 5)
	deadline := time.Now().Add(10 * time.Second)
	for {
		// Appends to b run batches, and so sweeps.
		appendN(t, s, "b", int(mustLast(t, s, "b"))+1, 1)
		n, err := s.TableRows(ctx, "chunk_log")
		if err != nil {
			t.Fatal(err)
		}
		if s.Pending("a") == 0 && n <= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s: %d of a's chunks pending, %d rows in the log", s.Pending("a"), n)
		}
		time.Sleep(2 * time.Millisecond)
	}
	checkStream(t, s, "a", 5)
}

func mustLast(t *testing.T, s *sqlitestore.Store, id string) int64 {
	t.Helper()
	info, err := s.StreamInfo(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return info.LastSequence
}

// TestChunkLogSurvivesReopen: chunks still pending when a store closes (or
// its process dies) are read back by the next store, before and after it
// writes, and appends continue their sequence.
func TestChunkLogSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	a := openLogStore(t, path)
	activeSession(t, a, "a")
	appendN(t, a, "a", 1, 10)
	if a.Pending("a") != 10 {
		t.Fatalf("pending: %d, want 10", a.Pending("a"))
	}
	a.Close()
	b := openLogStore(t, path)
	checkStream(t, b, "a", 10) // before b writes: b does not own the log
	appendN(t, b, "a", 11, 1)
	if b.Pending("a") != 11 {
		t.Fatalf("pending after reopening and appending: %d, want 11", b.Pending("a"))
	}
	checkStream(t, b, "a", 11)
}

// TestChunkLogTwoProcesses: two stores on one file take turns appending to
// the same stream; each reads the other's pending chunks and continues the
// sequence.
func TestChunkLogTwoProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	a := openLogStore(t, path)
	b := openLogStore(t, path)
	activeSession(t, a, "s")
	appendN(t, a, "s", 1, 5)
	checkStream(t, b, "s", 5)
	appendN(t, b, "s", 6, 3)
	checkStream(t, a, "s", 8)
	checkStream(t, b, "s", 8)
	appendN(t, a, "s", 9, 30) // a moves the pending chunks, b's among them
	checkStream(t, b, "s", 38)
	if err := b.SetStreamStatus(context.Background(), "s", 0, helix.StreamEnded); err != nil {
		t.Fatal(err)
	}
	checkStream(t, a, "s", 38)
	checkStream(t, b, "s", 38)
}

// TestRetentionDeletesSegments: with MaxChunks, a stream's older segments
// are deleted as it grows (at most MaxChunks plus a segment stay stored),
// reads and subscriptions return only the newest MaxChunks chunks, and a
// store opened later on the file sees the same.
func TestRetentionDeletesSegments(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "x.db")
	const keep = 100
	s, err := sqlitestore.Open(ctx, path, sqlitestore.Options{PollInterval: -1, MaxChunks: keep})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.CreateSession(ctx, &store.Session{ID: "s", AgentType: "x", Status: helix.StatusRunning}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetStreamStatus(ctx, "s", 0, helix.StreamActive); err != nil {
		t.Fatal(err)
	}
	const n = 1000
	for i := 0; i < n; i += 10 {
		batch := make([]helix.Chunk, 10)
		for j := range batch {
			batch[j] = helix.Chunk{Type: helix.ChunkTextDelta, Delta: fmt.Sprint(i + j + 1)}
		}
		if _, err := s.AppendChunks(ctx, "s", 0, batch); err != nil {
			t.Fatal(err)
		}
	}
	check := func(st *sqlitestore.Store, when string) {
		t.Helper()
		got, err := st.ReadChunks(ctx, "s", 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != keep || got[0].Sequence != n-keep+1 || got[keep-1].Sequence != n || got[0].Delta != fmt.Sprint(n-keep+1) {
			t.Fatalf("%s: ReadChunks returned %d chunks (%d..%d); want the newest %d", when, len(got), got[0].Sequence, got[len(got)-1].Sequence, keep)
		}
		info, err := st.StreamInfo(ctx, "s")
		if err != nil {
			t.Fatal(err)
		}
		if info.FirstSequence != n-keep+1 || info.LastSequence != n {
			t.Fatalf("%s: StreamInfo %d..%d, want %d..%d", when, info.FirstSequence, info.LastSequence, n-keep+1, n)
		}
		var subs []int64
		sctx, cancel := context.WithCancel(ctx)
		for c, err := range st.Subscribe(sctx, "s", 0) {
			if err != nil {
				t.Fatal(err)
			}
			subs = append(subs, c.Sequence)
			if c.Sequence == n {
				break
			}
		}
		cancel()
		if len(subs) != keep || subs[0] != n-keep+1 {
			t.Fatalf("%s: Subscribe from 0 yielded %d chunks from %d; want the newest %d", when, len(subs), subs[0], keep)
		}
	}
	check(s, "live stream")
	if err := s.SetStreamStatus(ctx, "s", 0, helix.StreamEnded); err != nil {
		t.Fatal(err)
	}
	check(s, "ended stream")
	_, chunks, err := s.Segments(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if chunks < keep || chunks > keep+64 {
		t.Fatalf("%d chunks stored in segments; want between %d and %d", chunks, keep, keep+64)
	}
	other, err := sqlitestore.Open(ctx, path, sqlitestore.Options{PollInterval: -1, MaxChunks: keep})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	check(other, "another store")
}

// TestExpire: the TTL sweep deletes the sessions last written before its
// cutoff, with everything they hold, unless they are running with their
// stream still active;
// it keeps those written since; and the store (and another one opened on
// the file) goes on writing, the kept active stream's pending chunk
// included.
func TestExpire(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "x.db")
	s, err := sqlitestore.Open(ctx, path, sqlitestore.Options{PollInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	start := func(id string) {
		t.Helper()
		if err := s.CreateSession(ctx, &store.Session{ID: id, AgentType: "x", Status: helix.StatusRunning}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AppendChunks(ctx, id, 0, []helix.Chunk{{Type: helix.ChunkTextDelta, Delta: "a"}, {Type: helix.ChunkTextDelta, Delta: "b"}}); err != nil {
			t.Fatal(err)
		}
	}
	end := func(id string) {
		t.Helper()
		if err := s.SetStreamStatus(ctx, id, 0, helix.StreamEnded); err != nil {
			t.Fatal(err)
		}
	}
	start("old")
	end("old")
	start("touched")
	end("touched")
	start("live") // running, its stream stays active, a chunk pending
	if s.Pending("live") == 0 {
		t.Fatal(`"live" has no pending chunk: the test would not cover one`)
	}
	// Created, never run: its stream is active too, but it is not running.
	if err := s.CreateSession(ctx, &store.Session{ID: "idle", AgentType: "x", Status: helix.StatusCompleted}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	cutoff := time.Now()
	time.Sleep(5 * time.Millisecond)
	if err := s.RequestControl(ctx, "touched", store.ControlRequest{Kind: store.ControlInterrupt}); err != nil { // a write after the cutoff
		t.Fatal(err)
	}
	start("new")
	n, err := s.Expire(ctx, cutoff)
	if err != nil || n != 2 {
		t.Fatalf("Expire = %d, %v; want 2 sessions deleted", n, err)
	}
	for _, id := range []string{"old", "idle"} {
		if _, err := s.GetSession(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetSession(%q) after expiry: %v, want ErrNotFound", id, err)
		}
	}
	if _, err := s.ReadChunks(ctx, "old", 0, 0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf(`ReadChunks("old") after expiry: %v, want ErrNotFound`, err)
	}
	for _, id := range []string{"touched", "live", "new"} {
		if got, err := s.ReadChunks(ctx, id, 0, 0); err != nil || len(got) != 2 {
			t.Fatalf("ReadChunks(%q) after expiry: %d chunks, %v; want 2", id, len(got), err)
		}
	}
	// Writing goes on: the live stream's pending chunks move when it ends.
	for _, id := range []string{"live", "new"} {
		if _, err := s.AppendChunks(ctx, id, 0, []helix.Chunk{{Type: helix.ChunkTextDelta, Delta: "c"}}); err != nil {
			t.Fatalf("append to %q after expiry: %v", id, err)
		}
		end(id)
	}
	other, err := sqlitestore.Open(ctx, path, sqlitestore.Options{PollInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	for _, id := range []string{"live", "new"} {
		if got, err := other.ReadChunks(ctx, id, 0, 0); err != nil || len(got) != 3 {
			t.Fatalf("another store: ReadChunks(%q) = %d chunks, %v; want 3", id, len(got), err)
		}
	}
	if _, err := other.GetSession(ctx, "old"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf(`another store: GetSession("old") = %v, want ErrNotFound`, err)
	}
}

// cancelLater is a context whose Err reports nil for its first n calls and
// context.Canceled after: a caller that gives up in the middle of a read.
type cancelLater struct {
	context.Context
	n atomic.Int32
}

func (c *cancelLater) Err() error {
	if c.n.Add(-1) >= 0 {
		return nil
	}
	return context.Canceled
}

// TestReadChunksStopsWhenCanceled: a long read stops between segment rows
// once its caller's context is done, although its statements run without
// one.
func TestReadChunksStopsWhenCanceled(t *testing.T) {
	ctx := context.Background()
	s, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "x.db"), sqlitestore.Options{PollInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.CreateSession(ctx, &store.Session{ID: "s", AgentType: "x", Status: helix.StatusRunning}); err != nil {
		t.Fatal(err)
	}
	batch := make([]helix.Chunk, 100)
	for i := range batch {
		batch[i] = helix.Chunk{Type: helix.ChunkTextDelta, Delta: "x"}
	}
	for range 5 {
		if _, err := s.AppendChunks(ctx, "s", 0, batch); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetStreamStatus(ctx, "s", 0, helix.StreamEnded); err != nil { // every chunk in segments
		t.Fatal(err)
	}
	if got, err := s.ReadChunks(ctx, "s", 0, 0); err != nil || len(got) != 500 {
		t.Fatalf("ReadChunks = %d chunks, %v; want 500", len(got), err)
	}
	c := &cancelLater{Context: ctx}
	c.n.Store(1) // the store's check before the read
	if _, err := s.ReadChunks(c, "s", 0, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("ReadChunks canceled during the read: %v, want context.Canceled", err)
	}
	if got, err := s.ReadChunks(ctx, "s", 0, 0); err != nil || len(got) != 500 {
		t.Fatalf("ReadChunks after a canceled one = %d chunks, %v; want 500", len(got), err)
	}
}
