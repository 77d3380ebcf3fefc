package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"maps"
	"slices"
	"sync"
	"time"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/store"
	"github.com/helix-agents/helix-go/store/internal/tail"
)

// appendReq is one AppendChunks call waiting for the group commit.
type appendReq struct {
	ctx   context.Context
	id    string
	fence uint64
	// data are the chunks' JSON, without sequences, in enc. The flush
	// copies them into its log row: neither outlives the request.
	data [][]byte
	enc  []byte
	// chunks are the caller's; read only until the request is answered.
	chunks []helix.Chunk
	// The outcome goes to res, or to done if it is set (QueueChunks).
	res  chan appendRes
	done func(last int64, err error)
	// write, if set, makes this a general write (see Store.write): it
	// runs in the group commit under its own savepoint, and its chunks,
	// if any (EndRun), are appended in the same transaction if it
	// succeeds.
	write *writeOp
	// one backs data for a single chunk, the usual append.
	one [1][]byte
	// pooled: the request came from queuedReqs and goes back once
	// answered.
	pooled bool
}

// queuedReqs recycles the requests of QueueChunks, with their encoding
// buffers: a streaming run queues one per chunk, and nothing holds a
// request once its done callback has run.
var queuedReqs = sync.Pool{New: func() any { return new(appendReq) }}

// maxPooledEnc bounds the encoding buffer a recycled request keeps.
const maxPooledEnc = 4 << 10

// recycle returns a QueueChunks request to queuedReqs once answered.
func (r *appendReq) recycle() {
	if !r.pooled {
		return
	}
	enc := r.enc[:0]
	if cap(enc) > maxPooledEnc {
		enc = nil
	}
	*r = appendReq{enc: enc}
	queuedReqs.Put(r)
}

// appendRes is the outcome of an appendReq: the last sequence assigned.
type appendRes struct {
	last int64
	err  error
}

// answer hands r its outcome.
func (r *appendReq) answer(res appendRes) {
	if r.done != nil {
		r.done(res.last, res.err)
		return
	}
	r.res <- res
}

// enqueue hands r to the group-commit writer. Once it returns nil, r is
// answered exactly once: Close takes qmu before it stops the writer, so
// no request is queued after the writer's last look at the queue.
func (s *Store) enqueue(ctx context.Context, op string, r *appendReq) error {
	s.qmu.RLock()
	defer s.qmu.RUnlock()
	if s.closed.Load() {
		return fmt.Errorf("sqlitestore: %s %q: %w", op, r.id, store.ErrClosed)
	}
	select {
	case s.appq <- r:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// await waits for the outcome of a queued request, even if its context
// ends, so that the caller never sees an error for a write that was made.
func (s *Store) await(op string, r *appendReq) appendRes {
	select {
	case res := <-r.res:
		return res
	case <-s.appenderDone:
		select {
		case res := <-r.res:
			return res
		default:
			return appendRes{err: fmt.Errorf("sqlitestore: %s %q: %w", op, r.id, store.ErrClosed)}
		}
	}
}

// AppendChunks appends chunks to the session's stream and returns the last
// sequence assigned (the current last sequence if chunks is empty). Each
// chunk's Sequence is set in place. Calls from many goroutines are written
// together, in one transaction (see the package doc); each call is either
// written whole and acknowledged, or not written at all.
func (s *Store) AppendChunks(ctx context.Context, sessionID string, fence uint64, chunks []helix.Chunk) (int64, error) {
	const op = "append chunks"
	if err := s.check(ctx, op); err != nil {
		return 0, err
	}
	if len(chunks) == 0 {
		st, err := s.streamState(ctx, op, sessionID)
		if err != nil {
			return 0, err
		}
		last, newest := st.last, st.fence
		if fence != 0 && fence < newest {
			return 0, staleFence(op, sessionID, fence, newest)
		}
		return last, nil
	}
	req, err := newAppendReq(ctx, op, sessionID, fence, chunks)
	if err != nil {
		return 0, err
	}
	req.res = make(chan appendRes, 1)
	if err := s.enqueue(ctx, op, req); err != nil {
		return 0, err
	}
	res := s.await(op, req)
	if res.err != nil {
		return 0, res.err
	}
	first := res.last - int64(len(chunks)) + 1
	for i := range chunks {
		chunks[i].Sequence = first + int64(i)
	}
	return res.last, nil
}

// QueueChunks queues an append of chunks and returns at once
// ([store.ChunkQueuer]): every write goes through the one group-commit
// writer, in the order it was queued, so the append is applied before any
// write queued after it. done gets the last sequence assigned, or the
// error; it runs on the writer's goroutine.
func (s *Store) QueueChunks(ctx context.Context, sessionID string, fence uint64, chunks []helix.Chunk, done func(last int64, err error)) {
	const op = "append chunks"
	if err := s.check(ctx, op); err != nil {
		done(0, err)
		return
	}
	if len(chunks) == 0 {
		done(s.AppendChunks(ctx, sessionID, fence, nil))
		return
	}
	req := queuedReqs.Get().(*appendReq)
	if err := req.encode(ctx, op, sessionID, fence, chunks); err != nil {
		req.pooled = true
		req.recycle()
		done(0, err)
		return
	}
	req.done, req.pooled = done, true
	if err := s.enqueue(ctx, op, req); err != nil {
		req.recycle() // not queued: nobody else holds it
		done(0, err)
	}
}

// newAppendReq encodes chunks for the group commit.
func newAppendReq(ctx context.Context, op, sessionID string, fence uint64, chunks []helix.Chunk) (*appendReq, error) {
	req := &appendReq{}
	if err := req.encode(ctx, op, sessionID, fence, chunks); err != nil {
		return nil, err
	}
	return req, nil
}

// encode fills in r, an empty request (but for its encoding buffer), for
// an append of chunks.
func (r *appendReq) encode(ctx context.Context, op, sessionID string, fence uint64, chunks []helix.Chunk) error {
	r.ctx, r.id, r.fence, r.chunks = ctx, sessionID, fence, chunks
	if len(chunks) == 1 {
		r.data = r.one[:]
	} else {
		r.data = make([][]byte, len(chunks))
	}
	// One buffer for all: each chunk's JSON is sliced from it once every
	// chunk is encoded (the buffer may move as it grows).
	enc := r.enc[:0]
	var ends [1]int
	offs := ends[:0]
	if len(chunks) > 1 {
		offs = make([]int, 0, len(chunks))
	}
	for i := range chunks {
		c := chunks[i]
		c.Sequence = 0 // stored in its own column
		var err error
		enc, err = c.AppendJSON(enc)
		if err != nil {
			return fmt.Errorf("sqlitestore: %s %q: encoding chunk %d: %w", op, sessionID, i, err)
		}
		offs = append(offs, len(enc))
	}
	r.enc = enc
	start := 0
	for i, end := range offs {
		r.data[i] = enc[start:end:end]
		start = end
	}
	return nil
}

// lastSeqOf is the SQL expression for the last chunk sequence in the
// segments (not counting pending chunks, see chunklog.go) of the session
// row in scope: a seek to the end of its segments (the primary key), so
// that appends never rewrite the (large) session row.
const lastSeqOf = `(SELECT coalesce(max(last_seq), 0) FROM chunk_segs WHERE chunk_segs.sid = sessions.sid)`

// segCols are the columns a segment is inserted with, in moveRows' order.
const segCols = "sid, last_seq, first_seq, data"

// appender is the group-commit writer: it takes every queued append and
// writes them in one transaction.
func (s *Store) appender() {
	defer s.wg.Done()
	defer close(s.appenderDone)
	batch := make([]*appendReq, 0, s.o.MaxBatch)
	var lastStart time.Time

	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-s.done:
			for {
				select {
				case r := <-s.appq:
					op := "append chunks"
					if r.write != nil {
						op = r.write.op
					}
					r.answer(appendRes{err: fmt.Errorf("sqlitestore: %s %q: %w", op, r.id, store.ErrClosed)})
					r.recycle()
				default:
					return
				}
			}
		case r := <-s.appq:
			batch = append(batch[:0], r)
		}
		// The floor is for queued appends (QueueChunks), whose writers go
		// on meanwhile and send more: waiting lets them join this commit.
		// A caller of AppendChunks waits for its commit, so waiting longer
		// would only slow it (to one append per interval for a lone
		// writer) while no more of its appends can come.
		if wait := s.o.CommitInterval - time.Since(lastStart); wait > 0 && batch[0].write == nil && batch[0].done != nil {
			// Let the appends of the other busy streams join this commit.
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-s.done:
				timer.Stop()
			}
		}
		lastStart = time.Now()
	gather:
		for len(batch) < s.o.MaxBatch {
			select {
			case r := <-s.appq:
				batch = append(batch, r)
			default:
				break gather
			}
		}
		s.flush(batch)
		clear(batch)
	}
}

// appendState is what an append needs to know of its session: its row
// id, newest fencing token and last chunk sequence. The group-commit writer
// keeps it for the sessions it appended to (Store.tails), so that an
// append to a live stream costs no query. It stays true because every
// write of this store goes through that writer, on one connection (wc):
// a general write drops its session's entry (NextFence changes the
// fence), a failed batch drops them all, and so does any commit by
// another connection, which SQLite's data_version (unchanged by a
// connection's own commits) reveals at the start of each batch.
type appendState struct {
	sid   int64
	last  int64
	fence uint64
}

// maxTails bounds Store.tails; past it, the map starts over.
const maxTails = 1 << 16

// insRows are the row counts of the multi-row inserts, largest first: a
// flush writes its rows in as few statements as these allow, since each
// statement execution costs far more than a row.
var insRows = [...]int{64, 16, 4, 1}

// flushScratch is what a flush builds, kept between flushes so that its
// maps and slices are not made again for every group commit.
type flushScratch struct {
	results []appendRes
	touched []string
	staged  map[string]appendState
	lb      logBatch
	// spare are lb.adds entries of earlier batches, for reuse.
	spare []*pendEntry
	// fenceAt holds, for each session whose fence a write of the batch
	// raised, the first such write's place in the batch and the fence
	// before it.
	fenceAt map[string]fenceMark
}

// fenceMark is a session's fence before the batch's first write that
// raised it, and that write's index in the batch.
type fenceMark struct {
	index int
	fence uint64
}

// spareRows bounds the rows kept by a spare pendEntry: a rare large
// append's array is not kept.
const spareRows = 64

func newFlushScratch() flushScratch {
	return flushScratch{staged: map[string]appendState{}, fenceAt: map[string]fenceMark{},
		lb: logBatch{adds: map[string]*pendEntry{}, moved: map[string]int64{}}}
}

// flush writes a batch of appends in one transaction and answers each.
func (s *Store) flush(batch []*appendReq) {
	// The batch's scratch space is the writer's, reused (cleared) by
	// every batch.
	sc := &s.scratch
	sc.results = slices.Grow(sc.results[:0], len(batch))[:len(batch)]
	results := sc.results // cleared at the end of the last batch
	touched := sc.touched[:0]
	for _, e := range sc.lb.adds {
		// Applied (copied into Store.pend) or rolled back: reused.
		if cap(e.rows) <= spareRows {
			clear(e.rows)
			e.rows = e.rows[:0]
			sc.spare = append(sc.spare, e)
		}
	}
	clear(sc.lb.adds)
	clear(sc.lb.moved)
	clear(sc.fenceAt)
	clear(sc.staged)
	lb := &sc.lb
	lb.trunc = 0
	now := time.Now()
	err := func() error {
		s.wmu.Lock()
		defer s.wmu.Unlock()
		if s.wc.c == nil { // discarded after a failed ROLLBACK
			if err := s.openWriter(context.Background()); err != nil {
				return err
			}
			s.dataVersion = -1 // another connection's counter
		}
		tx := txn{c: s.wc}
		if _, err := tx.exec(`BEGIN IMMEDIATE`); err != nil {
			return err
		}
		committed := false
		defer func() {
			if committed {
				return
			}
			if _, err := tx.exec(`ROLLBACK`); err != nil {
				// The connection may still be inside the transaction
				// (holding the write lock): take a fresh one for the next
				// batch.
				s.o.Logger.Warn("sqlitestore: ending a failed group commit failed; the writer's connection is replaced", "error", err)
				s.wc.discard()
			}
		}()
		// Another connection (a process sharing the file) committed since
		// the tails and the pending chunks were learnt: learn them again.
		var dv int64
		if err := tx.row(`PRAGMA data_version`).Scan(&dv); err != nil {
			return err
		}
		if dv != s.dataVersion {
			clear(s.tails)
			if err := s.resyncLog(tx); err != nil {
				return err
			}
			if s.dataVersion != -1 {
				// Another process wrote: what the tail cache holds may be
				// stale (the poller cannot tell while this store writes
				// too), so subscribers read the database again.
				s.cache.Reset()
				s.hub.NotifyAll()
			}
			s.dataVersion = dv
		}
		// General writes first, each under a savepoint so that one that
		// fails leaves the others (and the appends) intact.
		var drain []string // streams whose pending chunks move now
		for i, r := range batch {
			if r.write == nil {
				continue
			}
			if err := r.ctx.Err(); err != nil {
				results[i].err = err
				continue
			}
			// The batch's first raise of a session's fence: appends queued
			// before it are checked against the fence as it was then
			// (they are applied after the writes, but come first in the
			// queue). One mark is enough: no append queued after it can
			// hold the new token, which its caller learns only once the
			// batch is answered.
			var mark *fenceMark
			if _, seen := sc.fenceAt[r.id]; r.write.fences && !seen {
				f, ok, err := s.fenceBefore(tx, r.id)
				if err != nil {
					return err
				}
				if ok {
					mark = &fenceMark{index: i, fence: f}
				}
			}
			// A write may change what appendState caches (NextFence does).
			if !r.write.keepsTail {
				delete(s.tails, r.id)
			}
			if _, err := tx.exec(`SAVEPOINT w`); err != nil {
				return err
			}
			if werr := r.write.fn(tx); werr != nil {
				results[i].err = werr
				if _, err := tx.exec(`ROLLBACK TO w`); err != nil {
					return err
				}
			} else {
				if mark != nil {
					sc.fenceAt[r.id] = *mark
				}
				if r.write.drain {
					drain = append(drain, r.id)
				}
			}
			if _, err := tx.exec(`RELEASE w`); err != nil {
				return err
			}
		}
		// Every chunk appended goes into one log row, logID.
		// The log row is built in a buffer of its own, which the pending
		// rows (until moved to segments) share instead of the requests'
		// (recycled) buffers; sized up front, so that it does not move.
		size := 0
		for _, r := range batch {
			for _, d := range r.data {
				size += len(d) + 3*binary.MaxVarintLen64
			}
		}
		logID, logBuf := s.logNext, make([]byte, 0, size)
		// The streams appended to in this batch, as they will be once it
		// commits: the tails the next batch starts from.
		staged := sc.staged
		for i, r := range batch {
			withWrite := r.write != nil
			if withWrite && (results[i].err != nil || len(r.data) == 0) {
				continue
			}
			// A write's chunks go with it: its context no longer matters,
			// and its fence was checked by the write itself, at its place
			// in the queue (a later write of the batch, applied before
			// the appends, may have raised the fence since).
			if err := r.ctx.Err(); err != nil && !withWrite {
				results[i].err = err
				continue
			}
			st, ok := staged[r.id]
			if !ok {
				st, ok = s.tails[r.id]
			}
			if !ok {
				var err error
				if st, err = s.loadTail(r.id); err != nil {
					if errors.Is(err, sql.ErrNoRows) {
						if !withWrite {
							results[i].err = notFound("append chunks", r.id)
						}
						// (A write's session was deleted by a later write
						// of the batch: its chunks went with it.)
						continue
					}
					return err
				}
			}
			fence := st.fence
			if m, ok := sc.fenceAt[r.id]; ok && i < m.index {
				fence = m.fence // queued before a write that may change it
			}
			if r.fence != 0 && r.fence < fence && !withWrite {
				results[i].err = staleFence("append chunks", r.id, r.fence, fence)
				continue
			}
			add := lb.adds[r.id]
			if add == nil {
				if n := len(sc.spare); n > 0 {
					add, sc.spare = sc.spare[n-1], sc.spare[:n-1]
					add.sid = st.sid
				} else {
					add = &pendEntry{sid: st.sid}
				}
				lb.adds[r.id] = add
			}
			for j, d := range r.data {
				seq := st.last + 1 + int64(j)
				logBuf = appendLogRecord(logBuf, st.sid, seq, d)
				add.rows = append(add.rows, pendRow{seq: seq, id: logID, data: logBuf[len(logBuf)-len(d) : len(logBuf) : len(logBuf)]})
			}
			st.last += int64(len(r.data))
			staged[r.id] = st
			results[i].last = st.last
			touched = append(touched, r.id)
		}
		if len(logBuf) > 0 {
			if _, err := s.insLog.Exec(logID, logBuf); err != nil {
				return err
			}
			s.logNext++
		}
		// Move the streams that have enough pending chunks, that stopped
		// being active, or (on a sweep) that waited too long.
		sweep := now.Sub(s.lastSweep) >= s.sweepEvery
		var rows []any    // the segments, as segCols
		var trims []int64 // retention: sid, floor pairs
		s.logMu.Lock()
		move := func(id string) {
			if _, done := lb.moved[id]; done {
				return
			}
			e, add := s.pend[id], lb.adds[id]
			if e == nil && add == nil {
				return
			}
			var last int64
			rows, last = moveRows(rows, e, add)
			lb.moved[id] = last
			if floor := last - int64(s.o.MaxChunks); s.o.MaxChunks > 0 && floor > 0 {
				sid := e.sidOf()
				if add != nil {
					sid = add.sid
				}
				trims = append(trims, sid, floor)
			}
		}
		for id, add := range lb.adds {
			if e := s.pend[id]; len(add.rows)+pendLen(e) >= moveAt {
				move(id)
			}
		}
		for _, id := range drain {
			move(id)
		}
		if sweep {
			for id, e := range s.pend {
				if now.Sub(e.since) >= s.sweepAge {
					move(id)
				}
			}
		}
		s.logMu.Unlock()
		if err := execRows(&s.insSegs, 4, rows); err != nil {
			return err
		}
		// Retention: the segments wholly older than a moved stream's
		// newest MaxChunks go (the rest of the window's floor is only not
		// read).
		for i := 0; i < len(trims); i += 2 {
			if _, err := tx.exec(`DELETE FROM chunk_segs WHERE sid = ? AND last_seq <= ?`, trims[i], trims[i+1]); err != nil {
				return err
			}
		}
		if sweep {
			// The log rows before this batch's whose chunks have all
			// moved (by the last commit: this batch's moves apply after
			// it) are deleted.
			s.logMu.Lock()
			upto := s.movedBelow(logID)
			s.logMu.Unlock()
			if upto > s.logTrunc {
				if _, err := tx.exec(`DELETE FROM chunk_log WHERE id <= ?`, upto); err != nil {
					return err
				}
				lb.trunc = upto
			}
		}
		if _, err := tx.exec(`COMMIT`); err != nil {
			return err
		}
		committed = true
		if sweep {
			s.lastSweep = now
		}
		s.commits.Add(1)
		if len(s.tails)+len(staged) > maxTails {
			clear(s.tails)
		}
		maps.Copy(s.tails, staged)
		s.applyLog(lb, now)
		return nil
	}()
	if err != nil {
		// Whatever was staged did not commit: learn the state again.
		clear(s.tails)
		s.dataVersion = -1
	}
	if err == nil {
		// The cache learns the chunks in commit order (this goroutine is
		// the only appender), before the callers get their chunks back
		// (they set the sequences in place) and before subscribers wake.
		for i, r := range batch {
			if results[i].err != nil {
				continue
			}
			if r.write != nil && r.write.creates {
				s.cache.Init(r.id, helix.StreamActive, 0)
			}
			if len(r.chunks) > 0 {
				// The caller waits for its answer (or gave its chunks
				// away, with QueueChunks): the sequences can be set in
				// place. The cache keeps the chunks themselves: those
				// given away, or a copy of the caller's.
				first := results[i].last - int64(len(r.chunks)) + 1
				for j := range r.chunks {
					r.chunks[j].Sequence = first + int64(j)
				}
				kept := r.chunks
				if r.done == nil {
					kept = slices.Clone(kept)
				}
				s.cache.Append(r.id, kept)
			}
			if r.write != nil && r.write.status != "" {
				// After the write's chunks: a status that ends the stream
				// follows them, and statuses land in commit order.
				s.cache.SetStatus(r.id, r.write.status)
				if len(r.chunks) == 0 { // (else touched already)
					touched = append(touched, r.id)
				}
			}
		}
	}
	for i, r := range batch {
		res := results[i]
		op := "append chunks"
		if r.write != nil {
			op = r.write.op
			if res.err != nil && !isSentinel(res.err) {
				res.err = s.fail(r.ctx, op, r.id, res.err)
			}
		}
		if err != nil && res.err == nil {
			res = appendRes{err: s.fail(r.ctx, op, r.id, err)}
		}
		r.answer(res)
		r.recycle()
	}
	if err == nil {
		for _, id := range touched {
			s.hub.Notify(id)
		}
	}
	clear(results) // no error kept alive until the next batch
	sc.touched = touched[:0]
}

// fenceBefore is the session's fence in t before the batch's writes of it
// run: the writer's tail of it if it has one, else read; ok is false for a
// session that does not exist.
func (s *Store) fenceBefore(t txn, id string) (fence uint64, ok bool, err error) {
	if st, ok := s.tails[id]; ok {
		return st.fence, true, nil
	}
	err = t.row(`SELECT fence FROM sessions WHERE id = ?`, id).Scan(&fence)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	return fence, err == nil, err
}

// loadTail reads what an append needs to know of a stream the writer
// has no tail for (see appendState). Out of line: its scan targets escape,
// and the flush's per-request state should not go to the heap with them.
func (s *Store) loadTail(id string) (appendState, error) {
	var st appendState
	if err := s.selStream.QueryRow(id).Scan(&st.sid, &st.fence, &st.last); err != nil {
		return st, err
	}
	st.last = max(st.last, s.pendingLast(id))
	return st, nil
}

func pendLen(e *pendEntry) int {
	if e == nil {
		return 0
	}
	return len(e.rows)
}

// ReadChunks returns up to limit chunks with sequence > after (limit <= 0:
// all), in order.
func (s *Store) ReadChunks(ctx context.Context, sessionID string, after int64, limit int) ([]helix.Chunk, error) {
	mem := s.pendingSnapshot(sessionID) // before the read's snapshot
	var out []helix.Chunk
	err := s.read(ctx, "read chunks", sessionID, func(t txn, sid int64) error {
		if s.o.MaxChunks > 0 {
			// Only the newest MaxChunks chunks are read (older segments
			// may not have been deleted yet).
			last, err := s.lastIn(t, sid, mem)
			if err != nil {
				return err
			}
			after = max(after, last-int64(s.o.MaxChunks))
		}
		rows, err := t.query(`SELECT first_seq, last_seq, data FROM chunk_segs WHERE sid = ? AND last_seq > ? ORDER BY last_seq`, sid, max(after, 0))
		if err != nil {
			return err
		}
		defer rows.Close()
		if limit > 0 {
			// Sized for a live tail (a few chunks); append grows it for
			// a catch-up read.
			out = make([]helix.Chunk, 0, min(limit, 16))
		}
		last := max(after, 0) // the last sequence read
		full := func() bool { return limit > 0 && len(out) >= limit }
		var b sql.RawBytes
		for !full() && rows.Next() {
			if err := t.canceled(); err != nil {
				return err
			}
			var first, end int64
			if err := rows.Scan(&first, &end, &b); err != nil {
				return err
			}
			var derr error
			if err := decodeSeg(b, first, end, func(seq int64, data []byte) bool {
				if seq <= last {
					return true // before after, or (never expected) repeated
				}
				if out, derr = appendDecoded(out, seq, data); derr != nil {
					return false
				}
				last = seq
				return !full()
			}); err != nil {
				return err
			}
			if derr != nil {
				return derr
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if full() {
			return nil
		}
		// Then the stream's pending chunks, which only an active stream
		// has.
		var status string
		if err := t.row(`SELECT stream_status FROM sessions WHERE sid = ?`, sid).Scan(&status); err != nil {
			return err
		}
		if status != string(helix.StreamActive) {
			return nil
		}
		pend, err := s.pendingAfter(t, sid, mem, last)
		if err != nil {
			return err
		}
		for _, r := range pend {
			if limit > 0 && len(out) >= limit {
				break
			}
			if out, err = appendDecoded(out, r.seq, r.data); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// appendDecoded appends the stored chunk seq, data to out.
func appendDecoded(out []helix.Chunk, seq int64, data []byte) ([]helix.Chunk, error) {
	out = append(out, helix.Chunk{})
	c := &out[len(out)-1]
	if err := c.UnmarshalJSON(data); err != nil {
		return out, fmt.Errorf("decoding stored chunk %d: %w", seq, err)
	}
	c.Sequence = seq
	return out, nil
}

// detachedReads are a subscription's reads: not cancelled with its context.
// A SQLite read is short and, in WAL mode, never waits for a lock, so a
// subscription that ends waits at most for one read to finish. In return,
// database/sql starts no goroutine per read to watch the context, and the
// context of every open stream holds no table of the reads it ever made.
type detachedReads struct{ s *Store }

func (d detachedReads) ReadChunks(ctx context.Context, sessionID string, after int64, limit int) ([]helix.Chunk, error) {
	return d.s.ReadChunks(context.WithoutCancel(ctx), sessionID, after, limit)
}

func (d detachedReads) StreamInfo(ctx context.Context, sessionID string) (store.StreamInfo, error) {
	return d.s.StreamInfo(context.WithoutCancel(ctx), sessionID)
}

// SetStreamStatus sets the stream's status.
func (s *Store) SetStreamStatus(ctx context.Context, sessionID string, fence uint64, status helix.StreamStatus) error {
	const op = "set stream status"
	if !store.ValidStreamStatus(status) {
		if err := s.check(ctx, op); err != nil {
			return err
		}
		return fmt.Errorf("sqlitestore: %s %q: invalid status %q", op, sessionID, status)
	}
	// A stream that stops being active has its pending chunks moved in
	// the same transaction (see chunklog.go).
	return s.submit(ctx, sessionID, &writeOp{op: op, drain: status != helix.StreamActive, status: status, keepsTail: true, fn: func(t txn) error {
		var newest uint64
		if err := t.row(`SELECT fence FROM sessions WHERE id = ?`, sessionID).Scan(&newest); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return notFound(op, sessionID)
			}
			return err
		}
		if fence != 0 && fence < newest {
			return staleFence(op, sessionID, fence, newest)
		}
		_, err := t.exec(`UPDATE sessions SET stream_status = ?, updated_ns = ? WHERE id = ?`, string(status), time.Now().UnixNano(), sessionID)
		return err
	}})
}

// EndRun commits c, appends chunks and sets the stream's status, in one
// transaction ([store.RunEnder]): one group commit instead of two.
func (s *Store) EndRun(ctx context.Context, c store.Commit, chunks []helix.Chunk, status helix.StreamStatus) (int64, error) {
	const op = "end run"
	if err := s.check(ctx, op); err != nil {
		return 0, err
	}
	commit, version, err := commitOp(c, status)
	if err != nil {
		return 0, err
	}
	id := c.Session.ID
	if !store.ValidStreamStatus(status) {
		return 0, fmt.Errorf("sqlitestore: %s %q: invalid status %q", op, id, status)
	}
	req, err := newAppendReq(ctx, op, id, c.Fence, chunks)
	if err != nil {
		return 0, err
	}
	req.res = make(chan appendRes, 1)
	// The write commits and sets the status; its chunks are appended in
	// the same transaction, with the batch's appends (see flush).
	req.write = &writeOp{op: op, drain: status != helix.StreamActive, status: status, keepsTail: true, fn: commit}
	if err := s.enqueue(ctx, op, req); err != nil {
		return 0, err
	}
	if res := s.await(op, req); res.err != nil {
		return 0, res.err
	}
	return version, nil
}

// StreamInfo returns the stream's status and its first and last
// sequences.
func (s *Store) StreamInfo(ctx context.Context, sessionID string) (store.StreamInfo, error) {
	st, err := s.streamState(ctx, "stream info", sessionID)
	if err != nil {
		return store.StreamInfo{}, err
	}
	info := store.StreamInfo{Status: helix.StreamStatus(st.status), LastSequence: st.last}
	if info.LastSequence > 0 {
		info.FirstSequence = 1
		if s.o.MaxChunks > 0 {
			info.FirstSequence = max(1, st.last-int64(s.o.MaxChunks)+1)
		}
	}
	return info, nil
}

// lastIn is the stream's last sequence in t's snapshot: its segments' and,
// for an active stream, its pending chunks' (mem is a pendingSnapshot taken
// before the snapshot).
func (s *Store) lastIn(t txn, sid int64, mem []pendRow) (int64, error) {
	var status string
	var last int64
	if err := t.row(`SELECT stream_status, `+lastSeqOf+` FROM sessions WHERE sid = ?`, sid).Scan(&status, &last); err != nil {
		return 0, err
	}
	if status != string(helix.StreamActive) {
		return last, nil
	}
	pend, err := s.pendingAfter(t, sid, mem, last)
	if n := len(pend); n > 0 {
		last = pend[n-1].seq
	}
	return last, err
}

// streamState is a stream's status, newest fencing token and last sequence.
type streamState struct {
	status string
	fence  uint64
	last   int64
}

// streamState reads the stream's status, fencing token and last sequence.
// A stream that is not active has no pending chunks, so one query answers;
// for an active one, the last pending chunk is looked up in the same
// snapshot.
func (s *Store) streamState(ctx context.Context, op, id string) (streamState, error) {
	if err := s.check(ctx, op); err != nil {
		return streamState{}, err
	}
	const q = `SELECT stream_status, fence, ` + lastSeqOf + ` FROM sessions WHERE id = ?`
	var st streamState
	if err := s.readers.row(ctx, op, q, []any{id}, &st.status, &st.fence, &st.last); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return streamState{}, notFound(op, id)
		}
		return streamState{}, s.fail(ctx, op, id, err)
	}
	if st.status != string(helix.StreamActive) {
		return st, nil
	}
	mem := s.pendingSnapshot(id) // before the read's snapshot
	err := s.read(ctx, op, id, func(t txn, sid int64) error {
		if err := t.row(q, id).Scan(&st.status, &st.fence, &st.last); err != nil {
			return err
		}
		if st.status != string(helix.StreamActive) {
			return nil
		}
		pend, err := s.pendingAfter(t, sid, mem, st.last)
		if n := len(pend); n > 0 {
			st.last = pend[n-1].seq
		}
		return err
	})
	return st, err
}

// Subscribe yields every chunk with sequence > after, then live chunks as
// they are appended (by this store at once, by other processes within the
// poll interval), with no gap and no duplicate. It ends without error once
// it has yielded every chunk and the stream status is not active; with
// ctx's error when ctx is done; and with an error wrapping
// [store.ErrClosed] when the store is closed.
func (s *Store) Subscribe(ctx context.Context, sessionID string, after int64) iter.Seq2[helix.Chunk, error] {
	return tail.Follow(ctx, detachedReads{s}, s.hub, sessionID, after, tail.Options{Cache: s.cache})
}

// PipelineAppends reports that appends wait on I/O, so writers should keep
// one in flight and batch the rest ([store.AppendPipeliner]).
func (s *Store) PipelineAppends() bool { return true }
