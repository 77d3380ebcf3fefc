package sse_test

import (
	"context"
	"errors"
	"iter"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/server/sse"
)

// chanWriter hands every write to the test over a channel, so a test can
// follow a running stream without sharing a buffer.
type chanWriter struct {
	discard
	writes chan string
}

func (w chanWriter) Write(b []byte) (int, error) {
	w.writes <- string(b)
	return len(b), nil
}

func newChanWriter(t *testing.T) (*sse.Writer, chan string) {
	t.Helper()
	cw := chanWriter{discard{http.Header{}}, make(chan string, 100)}
	w, err := sse.NewWriter(cw)
	if err != nil {
		t.Fatal(err)
	}
	return w, cw.writes
}

func seqOf(chunks ...helix.Chunk) iter.Seq2[helix.Chunk, error] {
	return func(yield func(helix.Chunk, error) bool) {
		for _, c := range chunks {
			if !yield(c, nil) {
				return
			}
		}
	}
}

func drain(ch chan string) string {
	var b strings.Builder
	for {
		select {
		case s := <-ch:
			b.WriteString(s)
		default:
			return b.String()
		}
	}
}

func TestRunEnds(t *testing.T) {
	runEnd := helix.Chunk{Type: helix.ChunkRunEnd, Sequence: 2, Status: helix.StatusCompleted}
	callback := sse.RunOptions{EndStatus: func(context.Context) (string, error) { return "suspended_approval", nil }}
	tests := []struct {
		name    string
		chunks  []helix.Chunk
		opts    sse.RunOptions
		wantEnd string
	}{
		{"status of run_end", []helix.Chunk{textDelta(1, "x"), runEnd}, sse.RunOptions{}, "event: end\ndata: {\"status\":\"completed\"}\n\n"},
		{"run_end before the callback", []helix.Chunk{textDelta(1, "x"), runEnd}, callback, "event: end\ndata: {\"status\":\"completed\"}\n\n"},
		{"callback without run_end", []helix.Chunk{textDelta(1, "x"), textDelta(2, "y")}, callback,
			"event: end\ndata: {\"status\":\"suspended_approval\"}\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, writes := newChanWriter(t)
			if err := w.Run(t.Context(), seqOf(tt.chunks...), tt.opts); err != nil {
				t.Fatal(err)
			}
			got := drain(writes)
			if !strings.HasPrefix(got, "id: 1\n") || !strings.Contains(got, "id: 2\n") || !strings.HasSuffix(got, tt.wantEnd) {
				t.Errorf("stream %q, want chunks 1, 2 then %q", got, tt.wantEnd)
			}
		})
	}
}

func TestRunNoStatusNoEnd(t *testing.T) {
	w, writes := newChanWriter(t)
	if err := w.Run(t.Context(), seqOf(textDelta(1, "x")), sse.RunOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := drain(writes); strings.Contains(got, "event: end") {
		t.Errorf("end event without a status: %q", got)
	}
}

func TestRunErrors(t *testing.T) {
	boom := errors.New("boom")
	failing := func(yield func(helix.Chunk, error) bool) {
		if yield(textDelta(1, "x"), nil) {
			yield(helix.Chunk{}, boom)
		}
	}
	w, writes := newChanWriter(t)
	if err := w.Run(t.Context(), failing, sse.RunOptions{}); !errors.Is(err, boom) {
		t.Errorf("Run(seq failing) = %v, want boom", err)
	}
	if got := drain(writes); strings.Contains(got, "end") {
		t.Errorf("end event after an error: %q", got)
	}

	w, _ = newChanWriter(t)
	opts := sse.RunOptions{EndStatus: func(context.Context) (string, error) { return "", boom }}
	if err := w.Run(t.Context(), seqOf(), opts); !errors.Is(err, boom) {
		t.Errorf("Run(EndStatus failing) = %v, want boom", err)
	}

	w, _ = newChanWriter(t)
	if err := w.Run(t.Context(), seqOf(textDelta(0, "x")), opts); !errors.Is(err, sse.ErrNoSequence) {
		t.Errorf("Run(chunk without sequence) = %v, want ErrNoSequence", err)
	}
}

// A panic inside the chunk sequence ends the stream with an error; the
// process survives.
func TestRunSequencePanics(t *testing.T) {
	panicking := func(yield func(helix.Chunk, error) bool) {
		if yield(textDelta(1, "x"), nil) {
			panic("sequence bug")
		}
	}
	w, _ := newChanWriter(t)
	if err := w.Run(t.Context(), panicking, sse.RunOptions{}); err == nil || !strings.Contains(err.Error(), "panicked") {
		t.Errorf("Run(panicking seq) = %v, want an error saying it panicked", err)
	}
}

// After a write error Run stops the sequence: its yield returns false.
func TestRunStopsSequence(t *testing.T) {
	w, err := sse.NewWriter(failingWriter{discard{http.Header{}}})
	if err != nil {
		t.Fatal(err)
	}
	stopped := make(chan bool, 1)
	seq := func(yield func(helix.Chunk, error) bool) {
		for i := int64(1); ; i++ {
			if !yield(textDelta(i, "x"), nil) {
				stopped <- true
				return
			}
		}
	}
	if err := w.Run(t.Context(), seq, sse.RunOptions{}); err == nil {
		t.Fatal("Run on a broken connection = nil")
	}
	select {
	case <-stopped:
	default:
		t.Error("sequence still running after Run returned")
	}
}

func TestRunHeartbeatAndCancel(t *testing.T) {
	defer goleak.VerifyNone(t)
	w, writes := newChanWriter(t)
	ctx, cancel := context.WithCancel(t.Context())
	release := make(chan struct{})
	seq := func(yield func(helix.Chunk, error) bool) {
		if !yield(textDelta(1, "x"), nil) {
			return
		}
		select { // idle: a live subscription waiting for the run
		case <-release:
		case <-ctx.Done():
			return
		}
		if !yield(textDelta(2, "y"), nil) {
			return
		}
		<-ctx.Done() // waits for more until the client goes away
	}
	errc := make(chan error, 1)
	go func() { errc <- w.Run(ctx, seq, sse.RunOptions{Heartbeat: 5 * time.Millisecond}) }()

	next := func() string {
		t.Helper()
		select {
		case got := <-writes:
			return got
		case <-time.After(10 * time.Second):
			t.Fatal("timed out waiting for a write")
			return ""
		}
	}
	expect := func(want string, skipPings bool) {
		t.Helper()
		got := next()
		for skipPings && got == ": ping\n\n" { // a heartbeat may win the race
			got = next()
		}
		if !strings.HasPrefix(got, want) {
			t.Fatalf("wrote %q, want %q…", got, want)
		}
	}
	expect("id: 1\n", true)
	expect(": ping\n\n", false)
	expect(": ping\n\n", false)
	close(release)
	expect("id: 2\n", true)
	expect(": ping\n\n", false)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("Run after cancel = %v, want context.Canceled", err)
	}
}

func TestRunHeartbeatDisabled(t *testing.T) {
	w, writes := newChanWriter(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Millisecond)
	defer cancel()
	seq := func(yield func(helix.Chunk, error) bool) { <-ctx.Done() }
	if err := w.Run(ctx, seq, sse.RunOptions{Heartbeat: -1}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Run = %v, want DeadlineExceeded", err)
	}
	if got := drain(writes); got != "" {
		t.Errorf("wrote %q with heartbeats disabled", got)
	}
}

type failingWriter struct{ discard }

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }
