package local

import (
	"context"
	"log/slog"
	"sync"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/store"
)

// chunkWriter pipelines one execution's chunk appends. add queues a chunk
// and returns at once; while one AppendChunks call is in flight, newer
// chunks gather and go together in the next call, in order. So a run is
// never paced by the store's commit latency (a store that group-commits
// every few milliseconds would otherwise cap a run at one chunk per
// commit), and a busy stream costs one store call per commit, not per
// chunk. flush waits until everything queued is stored: the execution
// calls it before each session commit and before the stream status
// changes, so the stream never lags the state it describes.
type chunkWriter struct {
	st    store.Store
	ctx   context.Context
	sid   string
	fence uint64
	log   *slog.Logger
	// pipeline: the store waits on I/O, so appends are queued and sent
	// from a goroutine; otherwise add appends directly.
	pipeline bool

	mu   sync.Mutex
	cond sync.Cond
	buf  []helix.Chunk // guarded by mu
	busy bool          // a goroutine is appending; guarded by mu
}

func newChunkWriter(ctx context.Context, st store.Store, sid string, fence uint64, log *slog.Logger) *chunkWriter {
	w := &chunkWriter{st: st, ctx: ctx, sid: sid, fence: fence, log: log}
	if p, ok := st.(store.AppendPipeliner); ok && p.PipelineAppends() {
		w.pipeline = true
	}
	w.cond.L = &w.mu
	return w
}

// add queues c for appending; for a store that answers at once (not a
// store.AppendPipeliner), it appends c before returning.
func (w *chunkWriter) add(c helix.Chunk) {
	if !w.pipeline {
		one := [1]helix.Chunk{c}
		if _, err := w.st.AppendChunks(w.ctx, w.sid, w.fence, one[:]); err != nil {
			w.log.Error("append chunks", "session", w.sid, "chunks", 1, "first", string(c.Type), "error", err)
		}
		return
	}
	w.mu.Lock()
	w.buf = append(w.buf, c)
	start := !w.busy
	w.busy = true
	w.mu.Unlock()
	if start {
		go w.run()
	}
}

// run appends what is queued until nothing is.
func (w *chunkWriter) run() {
	var batch []helix.Chunk
	for {
		w.mu.Lock()
		batch, w.buf = w.buf, batch[:0]
		if len(batch) == 0 {
			w.busy = false
			w.cond.Broadcast()
			w.mu.Unlock()
			return
		}
		w.mu.Unlock()
		if _, err := w.st.AppendChunks(w.ctx, w.sid, w.fence, batch); err != nil {
			w.log.Error("append chunks", "session", w.sid, "chunks", len(batch), "first", string(batch[0].Type), "error", err)
		}
		clear(batch)
	}
}

// flush waits until every chunk added so far is stored (or failed).
func (w *chunkWriter) flush() {
	w.mu.Lock()
	for w.busy {
		w.cond.Wait()
	}
	w.mu.Unlock()
}
