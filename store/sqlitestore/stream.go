package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"iter"
	"maps"
	"runtime"
	"strings"
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
	data  [][]byte // the chunks' JSON, without sequences
	// chunks are the caller's; read only until res is sent.
	chunks []helix.Chunk
	res    chan appendRes
	// write, if set, makes this a general write (see Store.write) instead
	// of an append: it runs in the group commit under its own savepoint.
	write *writeOp
}

// appendRes is the outcome of an appendReq: the last sequence assigned.
type appendRes struct {
	last int64
	err  error
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
		var last int64
		var newest uint64
		if err := s.rs.row(ctx, `SELECT fence, `+lastSeqOf+` FROM sessions WHERE id = ?`, sessionID).Scan(&newest, &last); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return 0, notFound(op, sessionID)
			}
			return 0, s.fail(ctx, op, sessionID, err)
		}
		if fence != 0 && fence < newest {
			return 0, staleFence(op, sessionID, fence, newest)
		}
		return last, nil
	}
	req := &appendReq{ctx: ctx, id: sessionID, fence: fence, data: make([][]byte, len(chunks)), chunks: chunks, res: make(chan appendRes, 1)}
	for i := range chunks {
		c := chunks[i]
		c.Sequence = 0 // stored in its own column
		b, err := c.AppendJSON(make([]byte, 0, 192))
		if err != nil {
			return 0, fmt.Errorf("sqlitestore: %s %q: encoding chunk %d: %w", op, sessionID, i, err)
		}
		req.data[i] = b
	}
	select {
	case s.appq <- req:
	case <-s.done:
		return 0, fmt.Errorf("sqlitestore: %s %q: %w", op, sessionID, store.ErrClosed)
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	// Once queued, wait for the outcome even if ctx ends, so that the
	// caller never sees an error for chunks that were written.
	var res appendRes
	select {
	case res = <-req.res:
	case <-s.appenderDone:
		select {
		case res = <-req.res:
		default:
			return 0, fmt.Errorf("sqlitestore: %s %q: %w", op, sessionID, store.ErrClosed)
		}
	}
	if res.err != nil {
		return 0, res.err
	}
	first := res.last - int64(len(chunks)) + 1
	for i := range chunks {
		chunks[i].Sequence = first + int64(i)
	}
	return res.last, nil
}

// lastSeqOf is the SQL expression for the last chunk sequence of the
// session row in scope: a seek to the end of its chunks (the primary key),
// so that appends never rewrite the (large) session row. The sessions
// table's last_seq column is no longer maintained.
const lastSeqOf = `(SELECT coalesce(max(seq), 0) FROM chunks WHERE chunks.sid = sessions.sid)`

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
					r.res <- appendRes{err: fmt.Errorf("sqlitestore: %s %q: %w", op, r.id, store.ErrClosed)}
				default:
					return
				}
			}
		case r := <-s.appq:
			batch = append(batch[:0], r)
		}
		if wait := s.o.CommitInterval - time.Since(lastStart); wait > 0 && batch[0].write == nil {
			// Let the appends of the other busy streams join this commit.
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-s.done:
				timer.Stop()
			}
		}
		lastStart = time.Now()
		// Writers woken by the previous flush may not have run yet: let
		// them queue their next append before taking the batch, once.
		runtime.Gosched()
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

// insRows are the row counts of the multi-row chunk inserts, largest
// first: a flush writes its rows in as few statements as these allow, since
// each statement execution costs far more than a row.
var insRows = [...]int{64, 16, 4, 1}

// insertChunksSQL returns an INSERT of n chunk rows.
func insertChunksSQL(n int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO chunks (sid, seq, data) VALUES (?, ?, ?)`)
	for range n - 1 {
		b.WriteString(`, (?, ?, ?)`)
	}
	return b.String()
}

// flush writes a batch of appends in one transaction and answers each.
func (s *Store) flush(batch []*appendReq) {
	results := make([]appendRes, len(batch))
	touched := make([]string, 0, len(batch))
	err := func() error {
		ctx := context.Background()
		s.wmu.Lock()
		defer s.wmu.Unlock()
		tx, err := s.wc.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		// Another connection (a process sharing the file) committed since
		// the tails were learnt: forget them.
		var dv int64
		if err := tx.QueryRowContext(ctx, `PRAGMA data_version`).Scan(&dv); err != nil {
			return err
		}
		if dv != s.dataVersion {
			clear(s.tails)
			s.dataVersion = dv
		}
		// General writes first, each under a savepoint so that one that
		// fails leaves the others (and the appends) intact.
		for i, r := range batch {
			if r.write == nil {
				continue
			}
			if err := r.ctx.Err(); err != nil {
				results[i].err = err
				continue
			}
			// A write may change what appendState caches (NextFence does).
			delete(s.tails, r.id)
			if _, err := tx.ExecContext(ctx, `SAVEPOINT w`); err != nil {
				return err
			}
			if werr := r.write.fn(txn{r.ctx, tx, s.ws, nil}); werr != nil {
				results[i].err = werr
				if _, err := tx.ExecContext(ctx, `ROLLBACK TO w`); err != nil {
					return err
				}
			}
			if _, err := tx.ExecContext(ctx, `RELEASE w`); err != nil {
				return err
			}
		}
		var sel *sql.Stmt
		var rows []any // sid, seq, data of every chunk to insert
		// The streams appended to in this batch, as they will be once it
		// commits: the tails the next batch starts from.
		staged := map[string]appendState{}
		for i, r := range batch {
			if r.write != nil {
				continue
			}
			if err := r.ctx.Err(); err != nil {
				results[i].err = err
				continue
			}
			st, ok := staged[r.id]
			if !ok {
				st, ok = s.tails[r.id]
			}
			if !ok {
				if sel == nil {
					sel = tx.Stmt(s.selStream)
				}
				if err := sel.QueryRowContext(ctx, r.id).Scan(&st.sid, &st.fence, &st.last); err != nil {
					if errors.Is(err, sql.ErrNoRows) {
						results[i].err = notFound("append chunks", r.id)
						continue
					}
					return err
				}
			}
			if r.fence != 0 && r.fence < st.fence {
				results[i].err = staleFence("append chunks", r.id, r.fence, st.fence)
				continue
			}
			for j, d := range r.data {
				rows = append(rows, st.sid, st.last+1+int64(j), d)
			}
			st.last += int64(len(r.data))
			staged[r.id] = st
			results[i].last = st.last
			touched = append(touched, r.id)
		}
		for k, n := range insRows {
			var ins *sql.Stmt
			for len(rows) >= 3*n {
				if ins == nil {
					ins = tx.Stmt(s.insChunks[k])
				}
				if _, err := ins.ExecContext(ctx, rows[:3*n]...); err != nil {
					return err
				}
				rows = rows[3*n:]
			}
		}
		if err := tx.Commit(); err != nil {
			return err
		}
		s.commits.Add(1)
		if len(s.tails)+len(staged) > maxTails {
			clear(s.tails)
		}
		maps.Copy(s.tails, staged)
		return nil
	}()
	if err != nil {
		// Whatever was staged did not commit.
		clear(s.tails)
	}
	if err == nil {
		// The cache learns the chunks in commit order (this goroutine is
		// the only appender), before the callers get their chunks back
		// (they set the sequences in place) and before subscribers wake.
		for i, r := range batch {
			if results[i].err != nil || r.write != nil {
				continue
			}
			first := results[i].last - int64(len(r.chunks)) + 1
			cc := make([]helix.Chunk, len(r.chunks))
			for j := range r.chunks {
				cc[j] = r.chunks[j]
				cc[j].Sequence = first + int64(j)
			}
			s.cache.Append(r.id, cc)
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
		r.res <- res
	}
	if err == nil {
		for _, id := range touched {
			s.hub.Notify(id)
		}
	}
}

// ReadChunks returns up to limit chunks with sequence > after (limit <= 0:
// all), in order.
func (s *Store) ReadChunks(ctx context.Context, sessionID string, after int64, limit int) ([]helix.Chunk, error) {
	var out []helix.Chunk
	err := s.read(ctx, "read chunks", sessionID, func(t txn, sid int64) error {
		rows, err := t.query(`SELECT seq, data FROM chunks WHERE sid = ? AND seq > ? ORDER BY seq LIMIT ?`, sid, max(after, 0), sqlLimit(limit))
		if err != nil {
			return err
		}
		defer rows.Close()
		if limit > 0 {
			// Sized for a live tail (a few chunks); append grows it for
			// a catch-up read.
			out = make([]helix.Chunk, 0, min(limit, 16))
		}
		var b sql.RawBytes
		for rows.Next() {
			var seq int64
			if err := rows.Scan(&seq, &b); err != nil {
				return err
			}
			out = append(out, helix.Chunk{})
			c := &out[len(out)-1]
			if err := c.UnmarshalJSON(b); err != nil {
				return fmt.Errorf("decoding stored chunk %d: %w", seq, err)
			}
			c.Sequence = seq
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
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
	err := s.write(ctx, op, sessionID, func(t txn) error {
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
		_, err := t.exec(`UPDATE sessions SET stream_status = ? WHERE id = ?`, string(status), sessionID)
		return err
	})
	if err == nil {
		s.cache.SetStatus(sessionID, status)
		s.hub.Notify(sessionID)
	}
	return err
}

// StreamInfo returns the stream's status and its first and last
// sequences.
func (s *Store) StreamInfo(ctx context.Context, sessionID string) (store.StreamInfo, error) {
	const op = "stream info"
	if err := s.check(ctx, op); err != nil {
		return store.StreamInfo{}, err
	}
	var info store.StreamInfo
	var status string
	if err := s.rs.row(ctx, `SELECT stream_status, `+lastSeqOf+` FROM sessions WHERE id = ?`, sessionID).Scan(&status, &info.LastSequence); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return store.StreamInfo{}, notFound(op, sessionID)
		}
		return store.StreamInfo{}, s.fail(ctx, op, sessionID, err)
	}
	info.Status = helix.StreamStatus(status)
	if info.LastSequence > 0 {
		info.FirstSequence = 1
	}
	return info, nil
}

// Subscribe yields every chunk with sequence > after, then live chunks as
// they are appended (by this store at once, by other processes within the
// poll interval), with no gap and no duplicate. It ends without error once
// it has yielded every chunk and the stream status is not active; with
// ctx's error when ctx is done; and with an error wrapping
// [store.ErrClosed] when the store is closed.
func (s *Store) Subscribe(ctx context.Context, sessionID string, after int64) iter.Seq2[helix.Chunk, error] {
	return tail.Follow(ctx, detachedReads{s}, s.hub, sessionID, after, tail.Options{
		Cache:     s.cache,
		Closed:    s.done,
		ClosedErr: fmt.Errorf("sqlitestore: subscribe %q: %w", sessionID, store.ErrClosed),
	})
}

// PipelineAppends reports that appends wait on I/O, so writers should keep
// one in flight and batch the rest ([store.AppendPipeliner]).
func (s *Store) PipelineAppends() bool { return true }
