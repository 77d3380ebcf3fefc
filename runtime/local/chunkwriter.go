package local

import (
	"context"
	"log/slog"
	"sync"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/store"
)

// chunkWriter sends one execution's chunks to the store, in one of three
// ways, by what the store offers:
//
//   - A [store.ChunkQueuer] (SQLite) applies writes in the order they are
//     issued: add queues each chunk and returns, and the store batches
//     them into its group commits. A session commit issued later is
//     applied after the chunks, so the execution never waits for them
//     (ordered reports this); flush waits for their outcomes.
//   - A [store.AppendPipeliner] (Redis, PostgreSQL) waits on I/O: add
//     queues the chunk and returns at once; while one AppendChunks call is
//     in flight, newer chunks gather and go together in the next call, in
//     order. So a run is never paced by the store's latency, and a busy
//     stream costs one store call per round trip, not per chunk. flush
//     waits until everything queued is stored: the execution calls it
//     before each session commit and before the stream status changes, so
//     the stream never lags the state it describes.
//   - Otherwise (memory), add appends before it returns.
type chunkWriter struct {
	st    store.Store
	ctx   context.Context
	sid   string
	fence uint64
	log   *slog.Logger
	// queue is the store as a ChunkQueuer, if it is one.
	queue store.ChunkQueuer
	// pipeline: the store waits on I/O, so appends are queued and sent
	// from a goroutine.
	pipeline bool
	// queued is the done callback of QueueChunks, made once.
	queued func(last int64, err error)

	mu       sync.Mutex
	cond     sync.Cond
	buf      []helix.Chunk // pipeline: waiting to be sent; guarded by mu
	busy     bool          // pipeline: a goroutine is appending; guarded by mu
	inflight int           // queue: chunks queued, not yet answered; guarded by mu
	slab     []helix.Chunk // queue: the rest of the block chunks are carved from; guarded by mu
}

// slabSize is how many chunks one block holds (see chunkWriter.add): a
// block stays in memory while the store's cache holds any of its chunks.
const slabSize = 16

func newChunkWriter(ctx context.Context, st store.Store, sid string, fence uint64, log *slog.Logger) *chunkWriter {
	w := &chunkWriter{st: st, ctx: ctx, sid: sid, fence: fence, log: log}
	if q, ok := st.(store.ChunkQueuer); ok {
		w.queue = q
		w.queued = w.answered
	} else if p, ok := st.(store.AppendPipeliner); ok && p.PipelineAppends() {
		w.pipeline = true
	}
	w.cond.L = &w.mu
	return w
}

// ordered reports whether the store applies the chunks added so far before
// any write issued after add returned, so that a commit need not flush
// first.
func (w *chunkWriter) ordered() bool { return w.queue != nil }

// add sends c to the store (see chunkWriter).
func (w *chunkWriter) add(c helix.Chunk) {
	switch {
	case w.queue != nil:
		// The store keeps the chunk (it owns what it is given): chunks
		// are carved from a block of slabSize, one allocation per block
		// instead of one per chunk.
		w.mu.Lock()
		w.inflight++
		if len(w.slab) == 0 {
			w.slab = make([]helix.Chunk, slabSize)
		}
		one := w.slab[:1:1]
		w.slab = w.slab[1:]
		w.mu.Unlock()
		one[0] = c
		w.queue.QueueChunks(w.ctx, w.sid, w.fence, one, w.queued)
	case w.pipeline:
		w.mu.Lock()
		w.buf = append(w.buf, c)
		start := !w.busy
		w.busy = true
		w.mu.Unlock()
		if start {
			go w.run()
		}
	default:
		one := [1]helix.Chunk{c}
		if _, err := w.st.AppendChunks(w.ctx, w.sid, w.fence, one[:]); err != nil {
			w.log.Error("append chunks", "session", w.sid, "chunks", 1, "first", string(c.Type), "error", err)
		}
	}
}

// answered is the outcome of one QueueChunks call.
func (w *chunkWriter) answered(_ int64, err error) {
	if err != nil {
		w.log.Error("append chunks", "session", w.sid, "chunks", 1, "error", err)
	}
	w.mu.Lock()
	w.inflight--
	if w.inflight == 0 {
		w.cond.Broadcast()
	}
	w.mu.Unlock()
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
	for w.busy || w.inflight > 0 {
		w.cond.Wait()
	}
	w.mu.Unlock()
}
