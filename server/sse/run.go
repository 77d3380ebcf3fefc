package sse

import (
	"context"
	"fmt"
	"iter"
	"sync"
	"time"

	helix "github.com/helix-agents/helix-go"
)

// DefaultHeartbeat is the idle interval after which [Writer.Run] sends a
// ": ping" comment (DESIGN §4).
const DefaultHeartbeat = 15 * time.Second

// RunOptions configures [Writer.Run]. The zero value is ready to use.
type RunOptions struct {
	// Heartbeat is how long the stream may stay idle before Run writes a
	// ": ping" comment; the interval restarts after every write. Zero means
	// DefaultHeartbeat (15 s); a negative value disables heartbeats.
	Heartbeat time.Duration

	// EndStatus returns the status for the end event once chunks is
	// exhausted without error, if Run wrote no run_end chunk (a stream
	// resumed after its run ended): the run's status, such as "completed"
	// or "suspended_approval". If it returns an error, Run returns it and
	// writes no end event. Otherwise the end event carries the status of
	// the last run_end chunk written; with neither, Run writes no end
	// event.
	EndStatus func(ctx context.Context) (string, error)

	// Cancel, if set, is called when a heartbeat cannot be written (the
	// client is gone), to stop the chunks sequence, which Run then no
	// longer waits on: typically the cancel func of the context chunks was
	// built from.
	Cancel func()
}

// Run pumps chunks onto the stream, writing each with [Writer.Chunk] and a
// heartbeat ([Writer.Ping]) whenever nothing has been written for
// opts.Heartbeat. When chunks is exhausted it writes [Writer.End] with the
// run's status (its run_end's, else opts.EndStatus's) and returns nil.
//
// Run returns, without an end event, the first error chunks yields, the
// first write error, an error for a panic in chunks, or ctx.Err()
// (unwrapped) once ctx is cancelled.
//
// chunks is consumed on the calling goroutine, so chunks must return
// promptly once ctx is cancelled (build it from the same ctx, as a store
// subscription built from r.Context() does). Heartbeats are written from a
// timer, so an idle stream costs no goroutine of its own; if a heartbeat
// cannot be written, opts.Cancel (if set) is called so that chunks stops
// waiting, and Run returns the write error. No goroutine outlives Run.
//
// Run is the whole body of a GET /sse handler after [NewWriter]; see the
// package documentation.
func (w *Writer) Run(ctx context.Context, chunks iter.Seq2[helix.Chunk, error], opts RunOptions) error {
	hb := opts.Heartbeat
	if hb == 0 {
		hb = DefaultHeartbeat
	}
	// mu serialises the writes of this goroutine and of the heartbeat
	// timer's callbacks. The timer is not reset on every write (a timer
	// operation per chunk is measurable on a busy server): a write records
	// its time, and a callback that finds a write within hb re-arms for
	// the rest of the interval instead of pinging.
	var (
		mu        sync.Mutex
		stopped   bool
		pingErr   error
		timer     *time.Timer
		lastWrite time.Time
	)
	if hb > 0 {
		lastWrite = time.Now()
		timer = time.AfterFunc(hb, func() {
			mu.Lock()
			defer mu.Unlock()
			if stopped || pingErr != nil {
				return
			}
			if idle := time.Since(lastWrite); idle < hb {
				timer.Reset(hb - idle)
				return
			}
			if err := w.Ping(); err != nil {
				pingErr = err
				if opts.Cancel != nil {
					opts.Cancel()
				}
				return
			}
			lastWrite = time.Now()
			timer.Reset(hb)
		})
	}
	stop := func() {
		mu.Lock()
		stopped = true
		mu.Unlock()
		if timer != nil {
			timer.Stop()
		}
	}
	var last helix.Status
	err := func() (err error) {
		defer func() {
			// A panic in the sequence must not take the process down: it
			// ends this stream with an error instead.
			if p := recover(); p != nil {
				err = fmt.Errorf("sse: chunk sequence panicked: %v", p)
			}
		}()
		for c, cerr := range chunks {
			if cerr != nil {
				return cerr
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			mu.Lock()
			if pingErr != nil {
				mu.Unlock()
				return pingErr
			}
			werr := w.Chunk(c)
			if timer != nil {
				lastWrite = time.Now()
			}
			mu.Unlock()
			if werr != nil {
				return werr
			}
			if c.Type == helix.ChunkRunEnd {
				last = c.Status
			}
		}
		return nil
	}()
	stop()
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	if err == nil {
		err = pingErr
	}
	if err != nil {
		return err
	}
	return w.end(ctx, opts, last)
}

// end writes the end event of Run.
func (w *Writer) end(ctx context.Context, opts RunOptions, last helix.Status) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	status := string(last)
	if status == "" && opts.EndStatus != nil {
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
