package sqlitestore_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/llm"
	"github.com/helix-agents/helix-go/store"
	"github.com/helix-agents/helix-go/store/sqlitestore"
)

func openTemp(t *testing.T) *sqlitestore.Store {
	t.Helper()
	return openTempWith(t, sqlitestore.Options{})
}

func openTempWith(t *testing.T, o sqlitestore.Options) *sqlitestore.Store {
	t.Helper()
	st, err := sqlitestore.Open(t.Context(), filepath.Join(t.TempDir(), "x.db"), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// oneBatch is a commit interval long enough for every request a test
// queues right after a queued append to join the group commit the append
// opens.
var oneBatch = sqlitestore.Options{CommitInterval: 400 * time.Millisecond}

// outcome records what a QueueChunks done callback was given.
type outcome struct {
	last int64
	err  error
}

// TestQueueChunksOrdered: chunks queued without waiting are applied before
// the writes issued after them, so the stream never lags the state a later
// write describes, and each queued append is answered once, in order.
func TestQueueChunksOrdered(t *testing.T) {
	ctx := t.Context()
	st := openTemp(t)
	var q store.ChunkQueuer = st
	if err := st.CreateSession(ctx, &store.Session{ID: "s", AgentType: "x", Status: helix.StatusRunning}); err != nil {
		t.Fatal(err)
	}
	var (
		mu  sync.Mutex
		got []outcome
	)
	done := func(last int64, err error) {
		mu.Lock()
		got = append(got, outcome{last, err})
		mu.Unlock()
	}
	for _, d := range []string{"a", "b", "c"} {
		q.QueueChunks(ctx, "s", 0, []helix.Chunk{{Type: helix.ChunkTextDelta, Delta: d}}, done)
	}
	// Not waited for: this status change is queued after the chunks.
	if err := st.SetStreamStatus(ctx, "s", 0, helix.StreamEnded); err != nil {
		t.Fatal(err)
	}
	chunks, err := st.ReadChunks(ctx, "s", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(chunks) != 3 || chunks[0].Delta != "a" || chunks[2].Delta != "c" || chunks[2].Sequence != 3 {
		t.Fatalf("after the status change, the stream holds %+v; want a, b, c as 1..3", chunks)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 3 {
		t.Fatalf("done called %d times before the later write returned, want 3", len(got))
	}
	for i, o := range got {
		if o.err != nil || o.last != int64(i+1) {
			t.Errorf("append %d answered (%d, %v), want (%d, nil)", i, o.last, o.err, i+1)
		}
	}
}

// TestQueueChunksRefused: a stale fence, an unknown session and a closed
// store are answered through done, never silently dropped.
func TestQueueChunksRefused(t *testing.T) {
	ctx := t.Context()
	st := openTemp(t)
	if _, err := st.CreateSessionFenced(ctx, &store.Session{ID: "s", AgentType: "x", Status: helix.StatusRunning}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.NextFence(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	wait := func(sid string, fence uint64) error {
		ch := make(chan error, 2)
		st.QueueChunks(ctx, sid, fence, []helix.Chunk{{Type: helix.ChunkTextDelta, Delta: "x"}}, func(_ int64, err error) { ch <- err })
		return <-ch
	}
	if err := wait("s", 1); !errors.Is(err, store.ErrStaleFence) {
		t.Errorf("stale fence: %v, want ErrStaleFence", err)
	}
	if err := wait("nope", 0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown session: %v, want ErrNotFound", err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if err := wait("s", 2); !errors.Is(err, store.ErrClosed) {
		t.Errorf("closed store: %v, want ErrClosed", err)
	}
}

// TestQueueChunksRacingClose: appends queued while the store closes are
// each answered exactly once, written or refused with ErrClosed.
func TestQueueChunksRacingClose(t *testing.T) {
	ctx := t.Context()
	st := openTemp(t)
	if err := st.CreateSession(ctx, &store.Session{ID: "s", AgentType: "x", Status: helix.StatusRunning}); err != nil {
		t.Fatal(err)
	}
	const writers, each = 4, 200
	var answered, failed atomic.Int64
	var wg sync.WaitGroup
	started := make(chan struct{})
	var once sync.Once
	for range writers {
		wg.Go(func() {
			for range each {
				st.QueueChunks(ctx, "s", 0, []helix.Chunk{{Type: helix.ChunkTextDelta, Delta: "x"}}, func(_ int64, err error) {
					answered.Add(1)
					once.Do(func() { close(started) })
					if err != nil {
						if !errors.Is(err, store.ErrClosed) {
							t.Errorf("append failed with %v, want ErrClosed or success", err)
						}
						failed.Add(1)
					}
				})
			}
		})
	}
	<-started // some appends are answered: close while others are queued
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if n := answered.Load(); n != writers*each {
		t.Fatalf("%d of %d queued appends answered", n, writers*each)
	}
	if failed.Load() == writers*each {
		t.Fatal("every append was refused: the store closed before any was written")
	}
	t.Logf("%d of %d appends refused as the store closed", failed.Load(), writers*each)
}

// TestStartSession: a started session's first chunk is served to a
// subscriber at once (the tail cache learnt the stream, then its chunk, in
// commit order); the rest of StartSession's contract is the conformance
// suite's StartSession case.
func TestStartSession(t *testing.T) {
	ctx := t.Context()
	st := openTemp(t)
	s := &store.Session{ID: "s", AgentType: "x", Status: helix.StatusRunning, CurrentRunID: "run_1", RunCount: 1, MessageCount: 1}
	c := store.Commit{Session: s, ExpectedVersion: 1, Fence: 1, Run: &store.Run{ID: "run_1", Turn: 1, Status: helix.StatusRunning},
		Messages: []llm.Message{llm.UserMessage("hi")}}
	if _, err := st.StartSession(ctx, &store.Session{ID: "s", AgentType: "x", Status: helix.StatusCompleted}, c,
		[]helix.Chunk{{Type: helix.ChunkRunStart, Message: "hi"}}); err != nil {
		t.Fatal(err)
	}
	for c, err := range st.Subscribe(ctx, "s", 0) {
		if err != nil || c.Sequence != 1 || c.Type != helix.ChunkRunStart || c.Message != "hi" {
			t.Errorf("first chunk %+v, %v; want the run_start at 1", c, err)
		}
		break
	}
}

// TestEndRun: the run's last chunks come after the chunks queued before
// the end, in the same group commit as the state they describe, and a
// subscriber gets them and ends.
func TestEndRun(t *testing.T) {
	ctx := t.Context()
	st := openTemp(t)
	var re store.RunEnder = st
	sess := &store.Session{ID: "s", AgentType: "x", Status: helix.StatusCompleted}
	run := func(status helix.Status) store.Commit {
		s := *sess
		s.Status, s.CurrentRunID, s.RunCount, s.MessageCount = status, "run_1", 1, 1
		return store.Commit{Session: &s, ExpectedVersion: 1, Fence: 1,
			Run:      &store.Run{ID: "run_1", Turn: 1, Status: status},
			Messages: []llm.Message{llm.UserMessage("hi")}}
	}
	if _, err := st.StartSession(ctx, sess, run(helix.StatusRunning), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AppendChunks(ctx, "s", 1, []helix.Chunk{{Type: helix.ChunkRunStart}}); err != nil {
		t.Fatal(err)
	}
	got := make(chan []int64, 1)
	go func() {
		var seqs []int64
		for c, err := range st.Subscribe(ctx, "s", 0) {
			if err != nil {
				t.Error(err)
				break
			}
			seqs = append(seqs, c.Sequence)
		}
		got <- seqs
	}()

	// A chunk queued before the end comes before the end's chunks.
	queued := make(chan error, 1)
	st.QueueChunks(ctx, "s", 1, []helix.Chunk{{Type: helix.ChunkStepEnd}}, func(_ int64, err error) { queued <- err })
	end := run(helix.StatusCompleted)
	end.ExpectedVersion, end.Messages, end.Session.MessageCount = 2, []llm.Message{llm.UserMessage("bye")}, 2
	last := []helix.Chunk{{Type: helix.ChunkRunEnd, Status: helix.StatusCompleted}}
	v, err := re.EndRun(ctx, end, last, helix.StreamEnded)
	if err != nil || v != 3 {
		t.Fatalf("EndRun = %d, %v; want 3, nil", v, err)
	}
	if err := <-queued; err != nil {
		t.Fatal(err)
	}
	if last[0].Sequence != 3 {
		t.Errorf("run_end got sequence %d, want 3 (after run_start and the queued step_end)", last[0].Sequence)
	}
	if seqs := <-got; len(seqs) != 3 || seqs[2] != 3 {
		t.Errorf("the subscriber got %v, want [1 2 3] and its end", seqs)
	}
	info, err := st.StreamInfo(ctx, "s")
	if err != nil || info.Status != helix.StreamEnded || info.LastSequence != 3 {
		t.Errorf("StreamInfo = %+v, %v; want ended at 3", info, err)
	}
	if s, err := st.GetSession(ctx, "s"); err != nil || s.Version != 3 || s.Status != helix.StatusCompleted || s.MessageCount != 2 {
		t.Errorf("GetSession = %+v, %v; want version 3, completed, 2 messages", s, err)
	}
	chunks, err := st.ReadChunks(ctx, "s", 0, 0)
	if err != nil || len(chunks) != 3 || chunks[2].Type != helix.ChunkRunEnd {
		t.Errorf("ReadChunks = %d chunks, %v; want run_end third", len(chunks), err)
	}

	// A refused end writes nothing: the conformance suite's EndRun case.
}

// TestEndRunBeforeNextFence: an EndRun and a NextFence of the same session
// queued in that order into one group commit both succeed, with the end's
// chunks: the fence the end was written under was current at its place in
// the queue. (The first version checked the chunks against the fence after
// the whole batch's writes, refused them, and failed the batch, handing
// every other request in it a stale-fence error.)
func TestEndRunBeforeNextFence(t *testing.T) {
	ctx := t.Context()
	st := openTempWith(t, oneBatch)
	start := func(id string) store.Commit {
		s := &store.Session{ID: id, AgentType: "x", Status: helix.StatusCompleted}
		c := *s
		c.Status, c.CurrentRunID, c.RunCount, c.MessageCount = helix.StatusRunning, "run_1", 1, 1
		commit := store.Commit{Session: &c, ExpectedVersion: 1, Fence: 1, Run: &store.Run{ID: "run_1", Turn: 1, Status: helix.StatusRunning},
			Messages: []llm.Message{llm.UserMessage("hi")}}
		if _, err := st.StartSession(ctx, s, commit, nil); err != nil {
			t.Fatal(err)
		}
		return commit
	}
	end := start("s")
	start("other")

	queued := make(chan error, 1)
	st.QueueChunks(ctx, "other", 1, []helix.Chunk{{Type: helix.ChunkRunStart}}, func(_ int64, err error) { queued <- err })
	end.ExpectedVersion, end.Session.Status, end.Messages = 2, helix.StatusCompleted, nil
	ended := make(chan error, 1)
	go func() {
		_, err := st.EndRun(ctx, end, []helix.Chunk{{Type: helix.ChunkRunEnd, Status: helix.StatusCompleted}}, helix.StreamEnded)
		ended <- err
	}()
	time.Sleep(100 * time.Millisecond) // the EndRun is queued first
	fence, err := st.NextFence(ctx, "s")
	if err != nil || fence != 2 {
		t.Errorf("NextFence = %d, %v; want 2, nil", fence, err)
	}
	if err := <-ended; err != nil {
		t.Errorf("EndRun: %v", err)
	}
	if err := <-queued; err != nil {
		t.Errorf("the other session's append: %v", err)
	}
	info, err := st.StreamInfo(ctx, "s")
	if err != nil || info.Status != helix.StreamEnded || info.LastSequence != 1 {
		t.Errorf("StreamInfo = %+v, %v; want ended with the run_end at 1", info, err)
	}
	if s, err := st.GetSession(ctx, "s"); err != nil || s.Status != helix.StatusCompleted || s.Version != 3 {
		t.Errorf("GetSession: %+v, %v; want completed at version 3", s, err)
	}
}

// TestQueuedChunksBeforeNextFence: chunks queued before another writer's
// NextFence, in the same group commit, are appended (they came first),
// while chunks queued after it with the old fence are refused. (The
// appends of a batch are applied after its writes: the first version
// checked them all against the new fence.)
func TestQueuedChunksBeforeNextFence(t *testing.T) {
	ctx := t.Context()
	st := openTempWith(t, oneBatch)
	fence, err := st.CreateSessionFenced(ctx, &store.Session{ID: "s", AgentType: "x", Status: helix.StatusRunning})
	if err != nil {
		t.Fatal(err)
	}
	before := make(chan error, 2)
	st.QueueChunks(ctx, "s", fence, []helix.Chunk{{Type: helix.ChunkRunStart}}, func(_ int64, err error) { before <- err })
	// A write that does not raise the fence, between the appends.
	control := make(chan error, 1)
	go func() {
		control <- st.RequestControl(ctx, "s", store.ControlRequest{Kind: store.ControlInterrupt})
	}()
	time.Sleep(50 * time.Millisecond) // the RequestControl is queued
	st.QueueChunks(ctx, "s", fence, []helix.Chunk{{Type: helix.ChunkStepStart}}, func(_ int64, err error) { before <- err })
	next := make(chan error, 1)
	go func() {
		_, err := st.NextFence(ctx, "s")
		next <- err
	}()
	time.Sleep(50 * time.Millisecond) // the NextFence is queued
	after := make(chan error, 1)
	st.QueueChunks(ctx, "s", fence, []helix.Chunk{{Type: helix.ChunkStepEnd}}, func(_ int64, err error) { after <- err })
	if err := <-next; err != nil {
		t.Fatal(err)
	}
	if err := <-control; err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := <-before; err != nil {
			t.Errorf("chunks queued before the NextFence: %v, want appended", err)
		}
	}
	if err := <-after; !errors.Is(err, store.ErrStaleFence) {
		t.Errorf("chunks queued after the NextFence with the old fence: %v, want ErrStaleFence", err)
	}
	if chunks, err := st.ReadChunks(ctx, "s", 0, 0); err != nil || len(chunks) != 2 || chunks[1].Type != helix.ChunkStepStart {
		t.Errorf("ReadChunks = %+v, %v; want the run_start and the step_start", chunks, err)
	}
}

// TestQueuedChunksKeepTheirData: queued appends reuse their requests and
// encoding buffers once answered; the chunks they stored, pending in
// memory or moved to segments, keep their own bytes.
func TestQueuedChunksKeepTheirData(t *testing.T) {
	// One P: a request put back by the writer is the one the next queued
	// append gets (sync.Pool caches per P).
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	ctx := t.Context()
	st := openTemp(t)
	ids := []string{"s1", "s2", "s3"}
	for _, id := range ids {
		if err := st.CreateSession(ctx, &store.Session{ID: id, AgentType: "x", Status: helix.StatusRunning}); err != nil {
			t.Fatal(err)
		}
	}
	const rounds = 20 // fewer than a segment's worth: the chunks stay pending
	for i := range rounds {
		var wg sync.WaitGroup
		for _, id := range ids {
			wg.Add(1)
			c := []helix.Chunk{{Type: helix.ChunkTextDelta, Delta: fmt.Sprintf("%s-%02d", id, i)}}
			st.QueueChunks(ctx, id, 0, c, func(_ int64, err error) {
				if err != nil {
					t.Error(err)
				}
				wg.Done()
			})
		}
		wg.Wait() // answered: the requests go back to the pool
	}
	check := func(when string) {
		t.Helper()
		for _, id := range ids {
			chunks, err := st.ReadChunks(ctx, id, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(chunks) != rounds {
				t.Fatalf("%s: %s holds %d chunks, want %d", when, id, len(chunks), rounds)
			}
			for i, c := range chunks {
				if want := fmt.Sprintf("%s-%02d", id, i); c.Delta != want || c.Sequence != int64(i+1) {
					t.Errorf("%s: %s chunk %d is %d %q, want %d %q", when, id, i, c.Sequence, c.Delta, i+1, want)
				}
			}
		}
	}
	check("pending")
	for _, id := range ids { // the stream's end moves its chunks to segments
		if err := st.SetStreamStatus(ctx, id, 0, helix.StreamEnded); err != nil {
			t.Fatal(err)
		}
	}
	check("moved")
}
