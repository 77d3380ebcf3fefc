package tail

import (
	"context"
	"errors"
	"slices"
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
	reads  int // ReadChunks calls
	infos  int // StreamInfo calls
}

func (f *fake) ReadChunks(_ context.Context, _ string, after int64, limit int) ([]helix.Chunk, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
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
	f.infos++
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
	hub := NewHub()
	_, errc = follow(t, t.Context(), f, hub, 0, Options{Poll: -1})
	hub.Close(store.ErrClosed)
	if err := <-errc; !errors.Is(err, store.ErrClosed) {
		t.Errorf("after close: %v, want ErrClosed", err)
	}
	// A subscription that starts on a closed hub ends at once.
	_, errc = follow(t, t.Context(), f, hub, 0, Options{Poll: -1})
	if err := <-errc; !errors.Is(err, store.ErrClosed) {
		t.Errorf("on a closed hub: %v, want ErrClosed", err)
	}
}

func TestHubRelease(t *testing.T) {
	hub := NewHub()
	w1 := hub.Watch("a")
	w2 := hub.Watch("a")
	w1.Close()
	w1.Close() // idempotent
	if !hub.Watching("a") {
		t.Fatal("released one of two watches: nobody watching")
	}
	w2.Close()
	if hub.Watching("a") {
		t.Fatal("all watches released: still watching")
	}
	w3 := hub.Watch("a")
	defer w3.Close()
	hub.NotifyAll()
	select {
	case <-w3.C():
	default:
		t.Error("NotifyAll did not wake a watcher")
	}
	select {
	case <-w1.C():
		t.Error("a released watcher was woken")
	default:
	}
}

// TestHubWakeups: a notification sent while nobody receives is kept, later
// ones merge into it, and each registration of a session is woken, in
// whatever order they were made and closed.
func TestHubWakeups(t *testing.T) {
	hub := NewHub()
	ws := []*Waiter{hub.Watch("a"), hub.Watch("a"), hub.Watch("a")}
	other := hub.Watch("b")
	defer other.Close()
	pending := func(w *Waiter) bool {
		select {
		case <-w.C():
			return true
		default:
			return false
		}
	}
	hub.Notify("a")
	hub.Notify("a")
	for i, w := range ws {
		if !pending(w) {
			t.Errorf("waiter %d: not woken", i)
		}
		if pending(w) {
			t.Errorf("waiter %d: two notifications gave two wake-ups", i)
		}
	}
	if pending(other) {
		t.Error("a notification of a woke b")
	}
	ws[1].Close() // from the middle of the list
	hub.Notify("a")
	if !pending(ws[0]) || !pending(ws[2]) || pending(ws[1]) {
		t.Error("after closing the middle waiter: the others must wake, it must not")
	}
	ws[2].Close() // the head (the newest)
	ws[0].Close()
	if hub.Watching("a") {
		t.Error("every waiter of a closed: still watching")
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

// TestFollowSkipsEmptyReads: when StreamInfo shows nothing after what was
// yielded, Follow does not read the chunks: a subscription from the end of
// an ended stream, or a poll of a quiet one, costs one StreamInfo.
func TestFollowSkipsEmptyReads(t *testing.T) {
	f := &fake{status: helix.StreamEnded}
	f.append(3)
	n := 0
	for _, err := range Follow(t.Context(), f, NewHub(), "s", 3, Options{Poll: -1}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 0 || f.reads != 0 {
		t.Fatalf("from the end of an ended stream: %d chunks, %d ReadChunks calls; want none", n, f.reads)
	}
	for _, err := range Follow(t.Context(), f, NewHub(), "s", 1, Options{Poll: -1}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 2 || f.reads != 1 {
		t.Fatalf("from sequence 1: %d chunks, %d ReadChunks calls; want 2 and 1", n, f.reads)
	}
}

// TestFollowEndFromCache: at the end of a stream whose chunks the cache
// holds, Follow asks the backend only for the stream's state; it reads the
// backend's chunks only for what the cache lacks.
func TestFollowEndFromCache(t *testing.T) {
	tests := []struct {
		name      string
		backend   int // chunks the backend holds
		wantReads int
	}{
		{"cache holds every chunk", 3, 0},
		{"backend holds one more", 4, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fake{status: helix.StreamEnded}
			f.append(tt.backend)
			c := NewCache(0, 0)
			c.Init("s", helix.StreamActive, 0)
			c.Append("s", f.chunks[:3])
			c.SetStatus("s", helix.StreamEnded)
			var got []int64
			for ch, err := range Follow(t.Context(), f, NewHub(), "s", 0, Options{Poll: -1, Cache: c}) {
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, ch.Sequence)
			}
			if len(got) != tt.backend || got[len(got)-1] != int64(tt.backend) {
				t.Fatalf("yielded %v, want 1..%d", got, tt.backend)
			}
			if f.reads != tt.wantReads {
				t.Fatalf("%d ReadChunks calls, want %d", f.reads, tt.wantReads)
			}
		})
	}
}

// TestFollowLiveEndFromCache: a subscription that has seen the stream
// active takes the end from the cache, which learnt it from this process's
// commit: the usual end of a live stream reads nothing from the backend.
// One whose first read finds the end in the cache still asks the backend
// (TestFollowEndFromCache).
func TestFollowLiveEndFromCache(t *testing.T) {
	f := &fake{status: helix.StreamActive}
	f.append(3)
	c := NewCache(0, 0)
	c.Init("s", helix.StreamActive, 0)
	c.Append("s", slices.Clone(f.chunks))
	hub := NewHub()
	var got []int64
	for ch, err := range Follow(t.Context(), f, hub, "s", 0, Options{Poll: -1, Cache: c}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ch.Sequence)
		if ch.Sequence == 3 {
			// The run ends in this process, after the subscription has
			// read the stream active.
			f.end()
			c.SetStatus("s", helix.StreamEnded)
			hub.Notify("s")
		}
	}
	if !slices.Equal(got, []int64{1, 2, 3}) {
		t.Fatalf("yielded %v, want 1..3", got)
	}
	if f.infos != 0 || f.reads != 0 {
		t.Fatalf("%d StreamInfo and %d ReadChunks calls, want none", f.infos, f.reads)
	}
}
