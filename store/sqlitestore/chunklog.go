package sqlitestore

import (
	"bytes"
	"cmp"
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
// Appends do not go to the stream's segments (chunk_segs) directly:
// writing each append there would cost a row (and index entry) per chunk
// and touch a page per live stream per group commit, where a row costs
// SQLite far more than the chunk's bytes. Instead each group
// commit writes one chunk_log row holding every chunk it appends, to any
// stream (see records.go), and a stream's chunks move to chunk_segs in
// bulk, as one segment row: moveAt at a time, when the stream stops being
// active (in the same transaction as that status change), and for any
// chunk older than sweepAge. Log rows whose chunks have all moved are
// deleted from the log's head in bulk.
//
// So the segments always hold a prefix of every stream and the log the
// rest (its "pending" chunks). The writer keeps the pending chunks in
// memory (Store.pend), which is what lets reads find them without reading
// the log. That memory is authoritative while no other process has
// written: the writer then names itself in meta's log_owner row. A read
// trusts the memory only if the row names its store in the read's own
// snapshot; otherwise it scans the log, which moves keep short. A writer
// that notices another process's commit (PRAGMA data_version) reloads
// the pending chunks from the log and names itself again. A stream that
// is not active has no pending chunks, so the reads that end a
// subscription never look at the log.

// moveAt pending chunks of a stream are moved to its segments together.
const moveAt = 32

// Every sweepEvery, chunks pending for longer than sweepAge are moved, and
// moved rows are deleted from the log's head (Store.sweepEvery and
// Store.sweepAge, which tests shorten).
const (
	sweepEvery = 500 * time.Millisecond
	sweepAge   = 2 * time.Second
)

// pendRow is a chunk in the log, not yet in a segment: its sequence, the
// id of its log row, and its JSON.
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

// sidOf is e's stream row id, 0 for a nil e.
func (e *pendEntry) sidOf() int64 {
	if e == nil {
		return 0
	}
	return e.sid
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
func (s *Store) resyncLog(tx txn) error {
	// The log's records, by stream row id, in log order.
	bySid := map[int64][]pendRow{}
	next := int64(1)
	err := func() error {
		rows, err := tx.query(`SELECT id, data FROM chunk_log ORDER BY id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			var data []byte
			if err := rows.Scan(&id, &data); err != nil {
				return err
			}
			next = id + 1
			// A row that does not decode (a damaged file) is skipped,
			// whole, with a warning: refusing it would stop every write.
			var recs []logRecord
			if err := decodeLog(data, func(r logRecord) bool { recs = append(recs, r); return true }); err != nil {
				s.o.Logger.Warn("sqlitestore: skipping a chunk log row that does not decode", "row", id, "error", err)
				continue
			}
			for _, r := range recs {
				bySid[r.sid] = append(bySid[r.sid], pendRow{seq: r.seq, id: id, data: r.data})
			}
		}
		return rows.Err()
	}()
	if err != nil {
		return err
	}
	now := time.Now()
	pend := map[string]*pendEntry{}
	for sid, recs := range bySid {
		var id string
		var moved int64
		err := tx.row(`SELECT id, `+lastSeqOf+` FROM sessions WHERE sid = ?`, sid).Scan(&id, &moved)
		if errors.Is(err, sql.ErrNoRows) {
			continue // not a stream of this database's sessions
		}
		if err != nil {
			return err
		}
		e := &pendEntry{sid: sid, since: now}
		for _, r := range recs {
			// Skip what was moved, and a chunk logged twice (by two
			// processes).
			if r.seq <= moved || (len(e.rows) > 0 && r.seq <= e.rows[len(e.rows)-1].seq) {
				continue
			}
			e.rows = append(e.rows, r)
		}
		if len(e.rows) > 0 {
			pend[id] = e
		}
	}
	if _, err := tx.exec(`INSERT INTO meta (key, value) VALUES ('log_owner', ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, s.owner); err != nil {
		return err
	}
	s.logMu.Lock()
	s.pend = pend
	s.logMu.Unlock()
	s.logNext = next
	// Ids may start again lower than the deleted head (an empty log): the
	// next sweep's delete must not wait for them to pass it.
	s.logTrunc = 0
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
// or moved to a segment since).
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
	rows, err := t.query(`SELECT data FROM chunk_log ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []pendRow
	for rows.Next() {
		if err := t.canceled(); err != nil {
			return nil, err
		}
		var b sql.RawBytes
		if err := rows.Scan(&b); err != nil {
			return nil, err
		}
		// In log order a stream's chunks ascend; skip one logged twice
		// (by two processes). A row that does not decode is skipped, as
		// resyncLog does.
		var recs []pendRow
		if err := decodeLog(b, func(r logRecord) bool {
			if r.sid == sid && r.seq > after {
				recs = append(recs, pendRow{seq: r.seq, data: r.data})
			}
			return true
		}); err != nil {
			continue
		}
		for _, r := range recs {
			if len(out) == 0 || r.seq > out[len(out)-1].seq {
				out = append(out, pendRow{seq: r.seq, data: bytes.Clone(r.data)})
			}
		}
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
func execRows(stmts *[len(insRows)]*sql.Stmt, width int, rows []any) error {
	for k, n := range insRows {
		for len(rows) >= width*n {
			if _, err := stmts[k].Exec(rows[:width*n]...); err != nil {
				return err
			}
			rows = rows[width*n:]
		}
	}
	return nil
}

// moveRows appends the segments (as segCols) that move the stream's
// pending chunks, those in memory (e) then those this batch appends (add),
// to chunk_segs, and returns them with the last sequence moved. A segment
// holds at most segMax chunks.
func moveRows(rows []any, e, add *pendEntry) ([]any, int64) {
	var (
		sid, first, last int64
		n                int
		buf              []byte
	)
	end := func() {
		if n > 0 {
			rows = append(rows, sid, last, first, buf)
			n, buf = 0, nil
		}
	}
	var next []pendRow // add's rows, which follow e's
	if e != nil && add != nil {
		next = add.rows
	}
	for _, p := range []*pendEntry{e, add} {
		if p == nil {
			continue
		}
		sid = p.sid
		for i, r := range p.rows {
			if n == segMax || (n > 0 && r.seq != last+1) {
				end() // full, or (never expected) not consecutive
			}
			if n == 0 {
				first = r.seq
				buf = make([]byte, 0, segSize(p.rows[i:], next))
			}
			buf = appendSegRecord(buf, r.data)
			last = r.seq
			n++
		}
		next = nil
	}
	end()
	return rows, last
}

// segSize is the size of a segment of the first segMax rows of a then b.
func segSize(a, b []pendRow) int {
	size, n := 0, 0
	for _, rs := range [2][]pendRow{a, b} {
		for _, r := range rs {
			if n == segMax {
				return size
			}
			size += len(r.data) + uvarintLen(uint64(len(r.data)))
			n++
		}
	}
	return size
}

// uvarintLen is how many bytes binary.AppendUvarint writes for v.
func uvarintLen(v uint64) int {
	n := 1
	for ; v >= 0x80; v >>= 7 {
		n++
	}
	return n
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
}

// movedBelow returns the id of the newest log row below before whose
// chunks have all moved: every row below the oldest pending chunk's. The
// caller holds logMu.
func (s *Store) movedBelow(before int64) int64 {
	upto := before - 1
	for _, e := range s.pend {
		if len(e.rows) > 0 {
			upto = min(upto, e.rows[0].id-1)
		}
	}
	return upto
}
