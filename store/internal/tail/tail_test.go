package tail

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fake is an in-memory Reader whose writers may or may not notify.
type fake struct {
	mu     sync.Mutex
	chunks []helix.Chunk
	status helix.StreamStatus
}

func (f *fake) ReadChunks(_ context.Context, _ string, after int64, limit int) ([]helix.Chunk, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []helix.Chunk
	for _, c := range f.chunks {
		if c.Sequence > after && len(out) < limit {
			out = append(out, c)
		}
	}
	return out, nil
}

func (f *fake) StreamInfo(context.Context, string) (store.StreamInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return store.StreamInfo{Status: f.status, LastSequence: int64(len(f.chunks))}, nil
}

func (f *fake) append(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for range n {
		f.chunks = append(f.chunks, helix.Chunk{Type: helix.ChunkTextDelta, Sequence: int64(len(f.chunks) + 1)})
	}
}

func (f *fake) end() {
	f.mu.Lock()
	f.status = helix.StreamEnded
	f.mu.Unlock()
}

func follow(t *testing.T, ctx context.Context, f *fake, hub *Hub, after int64, o Options) (<-chan []helix.Chunk, <-chan error) {
	t.Helper()
	out, errc := make(chan []helix.Chunk, 1), make(chan error, 1)
	go func() {
		var got []helix.Chunk
		for c, err := range Follow(ctx, f, hub, "s", after, o) {
			if err != nil {
				errc <- err
				out <- got
				return
			}
			got = append(got, c)
		}
		errc <- nil
		out <- got
	}()
	return out, errc
}

func TestFollowNotified(t *testing.T) {
	f := &fake{status: helix.StreamActive}
	f.append(5)
	hub := NewHub()
	out, errc := follow(t, t.Context(), f, hub, 2, Options{Batch: 2, Poll: -1})
	for range 10 {
		f.append(3)
		hub.Notify("s")
		time.Sleep(time.Millisecond)
	}
	f.end()
	hub.Notify("s")
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	got := <-out
	if len(got) != 33 {
		t.Fatalf("got %d chunks, want 33", len(got))
	}
	for i, c := range got {
		if c.Sequence != int64(i+3) {
			t.Fatalf("chunk %d has sequence %d, want %d", i, c.Sequence, i+3)
		}
	}
}

// TestFollowPollsWithoutNotify covers a writer that cannot notify (another
// process): the poll interval still delivers everything.
func TestFollowPollsWithoutNotify(t *testing.T) {
	f := &fake{status: helix.StreamActive}
	out, errc := follow(t, t.Context(), f, NewHub(), 0, Options{Poll: 5 * time.Millisecond})
	f.append(4)
	f.end()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if got := <-out; len(got) != 4 {
		t.Fatalf("got %d chunks, want 4", len(got))
	}
}

func TestFollowCancelAndClose(t *testing.T) {
	f := &fake{status: helix.StreamActive}
	ctx, cancel := context.WithCancel(t.Context())
	_, errc := follow(t, ctx, f, NewHub(), 0, Options{Poll: -1})
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("after cancel: %v, want context.Canceled", err)
	}
	closed := make(chan struct{})
	_, errc = follow(t, t.Context(), f, NewHub(), 0, Options{Poll: -1, Closed: closed, ClosedErr: store.ErrClosed})
	close(closed)
	if err := <-errc; !errors.Is(err, store.ErrClosed) {
		t.Errorf("after close: %v, want ErrClosed", err)
	}
}

func TestHubRelease(t *testing.T) {
	hub := NewHub()
	ch1, rel1 := hub.Watch("a")
	_, rel2 := hub.Watch("a")
	rel1()
	rel1() // idempotent
	if !hub.Watching("a") {
		t.Fatal("released one of two watches: nobody watching")
	}
	rel2()
	if hub.Watching("a") {
		t.Fatal("all watches released: still watching")
	}
	ch3, rel3 := hub.Watch("a")
	defer rel3()
	hub.NotifyAll()
	select {
	case <-ch3:
	default:
		t.Error("NotifyAll did not wake a watcher")
	}
	select {
	case <-ch1:
		t.Error("a released, never-notified channel was closed")
	default:
	}
}

// TestFollowIteratesAgain: the sequence can be ranged over more than once,
// each time from the same starting point.
func TestFollowIteratesAgain(t *testing.T) {
	f := &fake{status: helix.StreamEnded}
	f.append(6)
	seq := Follow(t.Context(), f, NewHub(), "s", 2, Options{Batch: 3, Poll: time.Millisecond})
	for round := range 3 {
		var got []int64
		for c, err := range seq {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, c.Sequence)
		}
		if len(got) != 4 || got[0] != 3 || got[3] != 6 {
			t.Fatalf("round %d: got sequences %v, want 3..6", round, got)
		}
	}
}
