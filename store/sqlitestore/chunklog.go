package sqlitestore

import (
	"cmp"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"time"
)

// The chunk log.
//
// Appends do not go to the chunks table directly. That table is clustered
// by (session, sequence), so a group commit that appends to N live streams
// rewrites N of its leaf pages: about one 4 KiB WAL page per chunk when
// streams emit a chunk every few tens of milliseconds. Instead the
// group-commit writer inserts chunks into chunk_log, a table in insertion
// order, where a commit touches only its last page or two; and it moves a
// stream's chunks to the chunks table in bulk (moveAt at a time, one or
// two leaf pages), when the stream stops being active (in the same
// transaction as that status change), and for any chunk older than
// sweepAge. Moved rows are deleted from the log's head in bulk.
//
// So the chunks table always holds a prefix of every stream and the log
// the rest (its "pending" chunks). The writer keeps the pending chunks in
// memory (Store.pend), which is what lets reads find them without an index
// on the log. That memory is authoritative while no other process has
// written: the writer then names itself in meta's log_owner row. A read
// trusts the memory only if the row names its store in the read's own
// snapshot; otherwise it scans the log, which moves keep short. A writer
// that notices another process's commit (PRAGMA data_version) reloads
// the pending chunks from the log and names itself again. A stream that
// is not active has no pending chunks, so the reads that end a
// subscription never look at the log.

// moveAt pending chunks of a stream are moved to the chunks table
// together.
const moveAt = 32

// Every sweepEvery, chunks pending for longer than sweepAge are moved, and
// moved rows are deleted from the log's head (Store.sweepEvery and
// Store.sweepAge, which tests shorten).
const (
	sweepEvery = 500 * time.Millisecond
	sweepAge   = 2 * time.Second
)

// pendRow is a chunk in the log, not yet in the chunks table.
type pendRow struct {
	seq, id int64
	data    []byte
}

// pendEntry is a stream's pending chunks, in sequence order.
type pendEntry struct {
	sid   int64
	rows  []pendRow
	since time.Time // when its oldest pending chunk was appended
}

// logBatch is what one group commit changes of the log, applied to
// Store.pend once it has committed.
type logBatch struct {
	adds  map[string]*pendEntry // appended rows (sid and rows)
	moved map[string]int64      // streams moved, up to this sequence
	trunc int64                 // log rows deleted up to this id
}

func newOwnerID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// resyncLog reloads the pending chunks from the log and names this store
// its owner, in the writer's transaction tx.
func (s *Store) resyncLog(tx *sql.Tx) error {
	ctx := context.Background()
	pend := map[string]*pendEntry{}
	rows, err := tx.QueryContext(ctx, `SELECT l.id, l.sid, l.seq, l.data, s.id FROM chunk_log l JOIN sessions s ON s.sid = l.sid
		WHERE l.seq > (SELECT coalesce(max(c.seq), 0) FROM chunks c WHERE c.sid = l.sid) ORDER BY l.sid, l.seq`)
	if err != nil {
		return err
	}
	defer rows.Close()
	now := time.Now()
	for rows.Next() {
		var r pendRow
		var sid int64
		var id string
		if err := rows.Scan(&r.id, &sid, &r.seq, &r.data, &id); err != nil {
			return err
		}
		e := pend[id]
		if e == nil {
			e = &pendEntry{sid: sid, since: now}
			pend[id] = e
		}
		if n := len(e.rows); n > 0 && e.rows[n-1].seq == r.seq {
			continue // the same chunk logged twice (by two processes)
		}
		e.rows = append(e.rows, r)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	var next int64
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(id), 0) + 1 FROM chunk_log`).Scan(&next); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES ('log_owner', ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, s.owner); err != nil {
		return err
	}
	s.logMu.Lock()
	s.pend = pend
	s.logMu.Unlock()
	s.logNext = next
	s.truncTo = 0 // known again once this batch commits
	return nil
}

// pendingLast returns the sequence of the stream's last pending chunk, or
// 0; for the writer, whose view is authoritative.
func (s *Store) pendingLast(id string) int64 {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	if e := s.pend[id]; e != nil && len(e.rows) > 0 {
		return e.rows[len(e.rows)-1].seq
	}
	return 0
}

// pendingSnapshot returns a copy of the stream's pending chunks as this
// store knows them. A reader takes it before its transaction's snapshot,
// so that everything it lists is committed in that snapshot (in the log,
// or moved to the chunks table since).
func (s *Store) pendingSnapshot(id string) []pendRow {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	if e := s.pend[id]; e != nil {
		return slices.Clone(e.rows)
	}
	return nil
}

// pendingAfter returns the stream's pending chunks with sequence > after,
// in order, as of t's snapshot: from mem (a pendingSnapshot) when this
// store owns the log in that snapshot, else from a scan of the log (which
// may repeat chunks already moved: the caller skips sequences it has).
func (s *Store) pendingAfter(t txn, sid int64, mem []pendRow, after int64) ([]pendRow, error) {
	var owner string
	err := t.row(`SELECT value FROM meta WHERE key = 'log_owner'`).Scan(&owner)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	if owner == s.owner {
		return mem[firstAfter(mem, after):], nil
	}
	rows, err := t.query(`SELECT seq, data FROM chunk_log WHERE sid = ? AND seq > ? ORDER BY seq`, sid, after)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []pendRow
	for rows.Next() {
		var r pendRow
		if err := rows.Scan(&r.seq, &r.data); err != nil {
			return nil, err
		}
		if n := len(out); n > 0 && out[n-1].seq == r.seq {
			continue
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// firstAfter returns the index of the first of rows (in sequence order)
// with sequence > seq, or len(rows).
func firstAfter(rows []pendRow, seq int64) int {
	i, _ := slices.BinarySearchFunc(rows, seq+1, func(r pendRow, seq int64) int { return cmp.Compare(r.seq, seq) })
	return i
}

// insertRowsSQL returns an INSERT of n rows of the given columns into
// table (with an optional conflict clause after INSERT).
func insertRowsSQL(verb, table, cols string, n int) string {
	ph := "(" + strings.TrimSuffix(strings.Repeat("?, ", strings.Count(cols, ",")+1), ", ") + ")"
	var b strings.Builder
	b.WriteString(verb + " INTO " + table + " (" + cols + ") VALUES " + ph)
	for range n - 1 {
		b.WriteString(", " + ph)
	}
	return b.String()
}

// execRows runs the multi-row statements stmts (insRows[k] rows each) over
// rows (width values per row), in as few executions as they allow.
func execRows(tx *sql.Tx, stmts *[len(insRows)]*sql.Stmt, width int, rows []any) error {
	for k, n := range insRows {
		var st *sql.Stmt
		for len(rows) >= width*n {
			if st == nil {
				st = tx.Stmt(stmts[k])
			}
			if _, err := st.Exec(rows[:width*n]...); err != nil {
				return err
			}
			rows = rows[width*n:]
		}
	}
	return nil
}

// moveRows returns the rows (sid, seq, data) that move the stream's pending
// chunks, those in memory (e) then those this batch appends (add), to the
// chunks table, and the last sequence moved.
func moveRows(rows []any, e, add *pendEntry) ([]any, int64) {
	var last int64
	for _, p := range []*pendEntry{e, add} {
		if p == nil {
			continue
		}
		for _, r := range p.rows {
			rows = append(rows, p.sid, r.seq, r.data)
			last = r.seq
		}
	}
	return rows, last
}

// applyLog applies a committed batch's changes to the pending chunks and
// works out how far the log's head may be deleted.
func (s *Store) applyLog(b *logBatch, now time.Time) {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	for id, add := range b.adds {
		e := s.pend[id]
		if e == nil {
			e = &pendEntry{sid: add.sid, since: now}
			s.pend[id] = e
		} else if len(e.rows) == 0 {
			e.since = now
		}
		e.rows = append(e.rows, add.rows...)
	}
	for id, upto := range b.moved {
		e := s.pend[id]
		if e == nil {
			continue
		}
		i := firstAfter(e.rows, upto)
		if i == len(e.rows) {
			delete(s.pend, id)
			continue
		}
		e.rows = slices.Delete(e.rows, 0, i)
		e.since = now
	}
	if b.trunc > 0 {
		s.logTrunc = b.trunc
	}
	// Every row below the oldest pending one has been moved.
	truncTo := s.logNext - 1
	for _, e := range s.pend {
		if len(e.rows) > 0 {
			truncTo = min(truncTo, e.rows[0].id-1)
		}
	}
	s.truncTo = truncTo
}
