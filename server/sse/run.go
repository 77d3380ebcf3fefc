package sse

import (
	"context"
	"fmt"
	"iter"
	"time"

	helix "github.com/helix-agents/helix-go"
)

// DefaultHeartbeat is the idle interval after which [Writer.Run] sends a
// ": ping" comment (DESIGN §4).
const DefaultHeartbeat = 15 * time.Second

// RunOptions configures [Writer.Run]. The zero value is ready to use.
type RunOptions struct {
	// Heartbeat is how long the stream may stay idle before Run writes a
	// ": ping" comment; the timer restarts after every write. Zero means
	// DefaultHeartbeat (15 s); a negative value disables heartbeats.
	Heartbeat time.Duration

	// EndStatus returns the status for the end event once chunks is
	// exhausted without error: the run's status, such as "completed" or
	// "suspended_approval". If it returns an error, Run returns it and
	// writes no end event. Nil means the status of the last run_end chunk
	// Run wrote; if there was none, Run writes no end event.
	EndStatus func(ctx context.Context) (string, error)
}

// Run pumps chunks onto the stream, writing each with [Writer.Chunk] and a
// heartbeat ([Writer.Ping]) whenever nothing has been written for
// opts.Heartbeat. When chunks is exhausted it writes [Writer.End] with the
// status from opts.EndStatus and returns nil.
//
// Run returns, without an end event, the first error chunks yields, the
// first write error, or ctx.Err() (unwrapped) once ctx is cancelled.
//
// chunks is consumed on a goroutine that Run starts and waits for before
// returning, so chunks must return promptly once ctx is cancelled (build it
// from the same ctx, as a store subscription built from r.Context() does).
// Run stops consuming chunks as soon as it returns: yield then returns false.
// No goroutine outlives Run.
//
// Run is the whole body of a GET /sse handler after [NewWriter]; see the
// package documentation.
func (w *Writer) Run(ctx context.Context, chunks iter.Seq2[helix.Chunk, error], opts RunOptions) error {
	type item struct {
		c   helix.Chunk
		err error
	}
	items := make(chan item)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(items)
		defer func() {
			// A panic in the sequence must not take the process down: it
			// ends this stream with an error instead.
			if p := recover(); p != nil {
				select {
				case items <- item{err: fmt.Errorf("sse: chunk sequence panicked: %v", p)}:
				case <-stop:
				}
			}
		}()
		for c, err := range chunks {
			select {
			case items <- item{c, err}:
			case <-stop:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	defer func() {
		close(stop)
		<-done
	}()

	hb := opts.Heartbeat
	if hb == 0 {
		hb = DefaultHeartbeat
	}
	var tick <-chan time.Time
	var timer *time.Timer
	if hb > 0 {
		timer = time.NewTimer(hb)
		defer timer.Stop()
		tick = timer.C
	}
	var lastStatus helix.Status
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick:
			if err := w.Ping(); err != nil {
				return err
			}
			timer.Reset(hb)
		case it, ok := <-items:
			if !ok {
				return w.end(ctx, opts, lastStatus)
			}
			if it.err != nil {
				return it.err
			}
			if err := w.Chunk(it.c); err != nil {
				return err
			}
			if it.c.Type == helix.ChunkRunEnd {
				lastStatus = it.c.Status
			}
			if timer != nil {
				timer.Reset(hb)
			}
		}
	}
}

// end writes the end event of Run.
func (w *Writer) end(ctx context.Context, opts RunOptions, last helix.Status) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	status := string(last)
	if opts.EndStatus != nil {
		s, err := opts.EndStatus(ctx)
		if err != nil {
			return err
		}
		status = s
	}
	if status == "" {
		return nil
	}
	return w.End(status)
}
