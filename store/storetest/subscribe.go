package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	helix "github.com/helix-agents/helix-go"
)

func subscribeCases() []testCase {
	return []testCase{
		{"SubscribeCatchUpThenLive", testSubscribeCatchUpThenLive},
		{"SubscribeEndsWhenNotActive", testSubscribeEndsWhenNotActive},
		{"SubscribeWakesOnStatusChange", testSubscribeWakesOnStatusChange},
		{"SubscribeCancel", testSubscribeCancel},
		{"SubscribeCancelWhileCatchingUp", testSubscribeCancelWhileCatchingUp},
		{"SubscribeStopEarly", testSubscribeStopEarly},
	}
}

// testSubscribeCatchUpThenLive subscribes at several positions while a
// writer appends: each subscriber must see every chunk after its position
// exactly once, in order, across the switch from stored to live chunks, and
// end once the writer ends the stream.
func testSubscribeCatchUpThenLive(t *testing.T, e *env) {
	e.newSession(t, "s-1")
	e.appendChunks(t, "s-1", deltas("s-1", 0, 10)...)
	ctx, cancel := context.WithTimeout(e.ctx, waitTimeout)
	defer cancel()
	const total = 300
	afters := []int64{0, 3, 10, 50, total}
	subs := make([]<-chan subResult, len(afters))
	for i, after := range afters {
		subs[i] = subscribeAsync(ctx, e.st, "s-1", after)
	}
	writerErr := make(chan error, 1)
	go func() {
		seq := int64(10)
		for seq < total {
			n := min(1+seq%5, total-seq)
			if _, err := e.st.AppendChunks(ctx, "s-1", 0, deltas("s-1", seq, int(n))); err != nil {
				writerErr <- err
				return
			}
			seq += n
			if seq%40 < 5 {
				time.Sleep(time.Millisecond) // let subscribers catch up and wait
			}
		}
		writerErr <- e.st.SetStreamStatus(ctx, "s-1", 0, helix.StreamEnded)
	}()
	select {
	case err := <-writerErr:
		must(t, err, "writer")
	case <-ctx.Done():
		t.Fatalf("writer did not finish: %v", ctx.Err())
	}
	for i, after := range afters {
		what := fmt.Sprintf("Subscribe(after %d) with a concurrent writer", after)
		r := await(t, subs[i], waitTimeout, what)
		if r.err != nil {
			t.Errorf("%s ended with %v, want no error once the stream ended", what, r.err)
		}
		if want := total - after; int64(len(r.chunks)) != want {
			t.Errorf("%s yielded %d chunks, want %d", what, len(r.chunks), want)
		}
		checkSequences(t, r.chunks, after, what)
	}
}

func testSubscribeEndsWhenNotActive(t *testing.T, e *env) {
	for _, status := range []helix.StreamStatus{helix.StreamPaused, helix.StreamEnded, helix.StreamFailed} {
		id := "s-" + string(status)
		e.newSession(t, id)
		e.appendChunks(t, id, deltas(id, 0, 5)...)
		must(t, e.st.SetStreamStatus(e.ctx, id, 0, status), "SetStreamStatus(%s)", status)
		for _, after := range []int64{0, 2, 5, 9} {
			what := fmt.Sprintf("Subscribe(after %d) to a %s stream of 5 chunks", after, status)
			r := await(t, subscribeAsync(e.ctx, e.st, id, after), waitTimeout, what)
			if r.err != nil {
				t.Errorf("%s ended with %v, want no error", what, r.err)
			}
			if want := max(5-after, 0); int64(len(r.chunks)) != want {
				t.Errorf("%s yielded %d chunks, want %d", what, len(r.chunks), want)
			}
			checkSequences(t, r.chunks, after, what)
		}
	}
}

// testSubscribeWakesOnStatusChange checks that a waiting subscriber sees new
// chunks and then ends when the status leaves active.
func testSubscribeWakesOnStatusChange(t *testing.T, e *env) {
	for _, status := range []helix.StreamStatus{helix.StreamPaused, helix.StreamEnded, helix.StreamFailed} {
		for _, n := range []int{0, 2} {
			id := fmt.Sprintf("s-%s-%d", status, n)
			e.newSession(t, id)
			what := fmt.Sprintf("a waiting Subscribe when %d chunks are appended and the status becomes %s", n, status)
			ch := subscribeAsync(e.ctx, e.st, id, 0)
			time.Sleep(20 * time.Millisecond) // let it wait
			if n > 0 {
				e.appendChunks(t, id, deltas(id, 0, n)...)
				time.Sleep(5 * time.Millisecond)
			}
			must(t, e.st.SetStreamStatus(e.ctx, id, 0, status), "SetStreamStatus(%s)", status)
			r := await(t, ch, waitTimeout, what)
			if r.err != nil {
				t.Errorf("%s: ended with %v, want no error", what, r.err)
			}
			if len(r.chunks) != n {
				t.Errorf("%s: yielded %d chunks, want %d", what, len(r.chunks), n)
			}
			checkSequences(t, r.chunks, 0, what)
		}
	}
}

func testSubscribeCancel(t *testing.T, e *env) {
	e.newSession(t, "s-1")
	e.appendChunks(t, "s-1", deltas("s-1", 0, 2)...)
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	got := make(chan helix.Chunk, 10)
	done := make(chan error, 1)
	yieldsAfterErr := 0
	go func() {
		var first error
		for c, err := range e.st.Subscribe(ctx, "s-1", 0) {
			if first != nil {
				yieldsAfterErr++
				continue
			}
			if err != nil {
				first = err
				continue
			}
			got <- c
		}
		done <- first
	}()
	for i := range 2 {
		select {
		case <-got:
		case <-time.After(waitTimeout):
			t.Fatalf("Subscribe did not yield stored chunk %d", i+1)
		}
	}
	time.Sleep(20 * time.Millisecond) // let it wait for live chunks
	cancel()
	start := time.Now()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Subscribe after its context was cancelled ended with %v, want context.Canceled", err)
		}
		if yieldsAfterErr != 0 {
			t.Errorf("Subscribe yielded %d more values after its error; it must end", yieldsAfterErr)
		}
	case <-time.After(prompt):
		t.Fatalf("Subscribe did not end within %v of its context being cancelled", prompt)
	}
	if d := time.Since(start); d > prompt {
		t.Errorf("Subscribe took %v to notice the cancelled context", d)
	}
}

// testSubscribeStopEarly stops consuming in the middle of stored and of live
// chunks. The store must not yield again (range-over-func would panic) and
// must keep working; backends check for leaked goroutines themselves.
func testSubscribeStopEarly(t *testing.T, e *env) {
	e.newSession(t, "s-1")
	e.appendChunks(t, "s-1", deltas("s-1", 0, 10)...)
	n := 0
	for c, err := range e.st.Subscribe(e.ctx, "s-1", 0) {
		must(t, err, "Subscribe")
		n++
		if c.Sequence == 3 {
			break
		}
	}
	if n != 3 {
		t.Errorf("Subscribe yielded %d chunks up to sequence 3, want 3", n)
	}

	stopped := make(chan error, 1)
	go func() {
		for c, err := range e.st.Subscribe(e.ctx, "s-1", 10) {
			if err != nil {
				stopped <- err
				return
			}
			if c.Sequence != 11 {
				stopped <- fmt.Errorf("first live chunk has sequence %d, want 11", c.Sequence)
				return
			}
			break
		}
		stopped <- nil
	}()
	time.Sleep(20 * time.Millisecond)
	e.appendChunks(t, "s-1", deltas("s-1", 10, 2)...)
	select {
	case err := <-stopped:
		must(t, err, "Subscribe stopped after a live chunk")
	case <-time.After(waitTimeout):
		t.Fatalf("a subscriber did not receive a live chunk within %v", waitTimeout)
	}
	e.appendChunks(t, "s-1", deltas("s-1", 12, 3)...)
	got, err := e.st.ReadChunks(e.ctx, "s-1", 0, 0)
	must(t, err, "ReadChunks after subscribers stopped early")
	checkSequences(t, got, 0, "ReadChunks after subscribers stopped early")
	if len(got) != 15 {
		t.Errorf("ReadChunks returned %d chunks, want 15", len(got))
	}
}

// testSubscribeCancelWhileCatchingUp cancels a subscription while stored
// chunks remain: it must end with context.Canceled without yielding all of
// them first.
func testSubscribeCancelWhileCatchingUp(t *testing.T, e *env) {
	e.newSession(t, "s-1")
	const n = 10000
	for i := int64(0); i < n; i += 1000 {
		e.appendChunks(t, "s-1", deltas("s-1", i, 1000)...)
	}
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	var got int
	var err error
	for _, err = range e.st.Subscribe(ctx, "s-1", 0) {
		if err != nil {
			break
		}
		got++
		cancel()
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Subscribe cancelled while catching up ended with %v, want context.Canceled", err)
	}
	if got >= n {
		t.Errorf("Subscribe cancelled after its first chunk yielded all %d stored chunks before noticing", got)
	}
}
