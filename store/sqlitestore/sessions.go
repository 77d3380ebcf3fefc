package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/llm"
	"github.com/helix-agents/helix-go/store"
)

// defaultPageSize is the ListSessions page size when the query's Limit is
// not positive.
const defaultPageSize = 50

// read runs fn in a read transaction (one consistent snapshot), after
// looking up the session's row id.
func (s *Store) read(ctx context.Context, op, id string, fn func(t txn, sid int64) error) error {
	if err := s.check(ctx, op); err != nil {
		return err
	}
	c, err := s.readers.get(ctx, op)
	if err != nil {
		return err
	}
	if err := c.begin(); err != nil {
		c.discard() // in a state we do not know: the next reader opens a fresh one
		s.readers.put(c)
		return s.fail(ctx, op, id, err)
	}
	defer func() {
		if err := s.readers.putAfter(c); err != nil {
			s.o.Logger.Warn("sqlitestore: ending a read transaction failed; the connection is replaced", "error", err)
		}
	}()
	t := txn{c: c, ctx: ctx}
	var sid int64
	if id != "" {
		if err := t.row(`SELECT sid FROM sessions WHERE id = ?`, id).Scan(&sid); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return notFound(op, id)
			}
			return s.fail(ctx, op, id, err)
		}
	}
	if err := fn(t, sid); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return err
		}
		return s.fail(ctx, op, id, err)
	}
	return nil
}

// write runs fn in an IMMEDIATE write transaction and commits it if fn
// returns nil. Errors fn returns that wrap a store sentinel pass through.
func (s *Store) write(ctx context.Context, op, id string, fn func(t txn) error) error {
	return s.submit(ctx, id, &writeOp{op: op, fn: fn})
}

// submit queues the write w of session id and waits for its outcome.
func (s *Store) submit(ctx context.Context, id string, w *writeOp) error {
	op := w.op
	if err := s.check(ctx, op); err != nil {
		return err
	}
	// The write joins the appender's next group commit, under a savepoint
	// of its own: concurrent writers share one COMMIT (one WAL append)
	// instead of queueing for a transaction each.
	req := &appendReq{ctx: ctx, id: id, res: make(chan appendRes, 1), write: w}
	if err := s.enqueue(ctx, op, req); err != nil {
		return err
	}
	return s.await(op, req).err
}

// writeOp is a general write queued for the group commit.
type writeOp struct {
	op string
	fn func(t txn) error
	// drain moves the session's pending chunks to its segments in
	// the same transaction, if fn succeeds.
	drain bool
	// status, if set, is the stream status fn sets: the tail cache learns
	// it once the write commits, in commit order.
	status helix.StreamStatus
	// keepsTail: fn changes neither the session's fence nor its chunks,
	// so the writer's appendState for it stays true.
	keepsTail bool
	// fences: fn raises the session's fence (NextFence).
	fences bool
	// creates: fn creates the session, with an active, empty stream,
	// which the tail cache learns in commit order (before the write's
	// chunks).
	creates bool
}

// isSentinel reports whether err wraps one of the store's sentinel errors
// (and so already names the operation).
func isSentinel(err error) bool {
	for _, t := range []error{store.ErrNotFound, store.ErrExists, store.ErrConflict, store.ErrStaleFence, store.ErrClosed} {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}

// CreateSession stores rec with Version 1 and an empty, active stream. A
// zero CreatedAt is set to the current time and a zero UpdatedAt to
// CreatedAt; rec itself is not modified. It fails with an error wrapping
// [store.ErrExists] if the id is taken.
func (s *Store) CreateSession(ctx context.Context, rec *store.Session) error {
	return s.createSession(ctx, rec, 0)
}

// CreateSessionFenced creates the session with its first fencing token,
// 1, in the same write ([store.FencedCreator]).
func (s *Store) CreateSessionFenced(ctx context.Context, rec *store.Session) (uint64, error) {
	if err := s.createSession(ctx, rec, 1); err != nil {
		return 0, err
	}
	return 1, nil
}

func (s *Store) createSession(ctx context.Context, rec *store.Session, fence uint64) error {
	const op = "create session"
	if err := s.check(ctx, op); err != nil {
		return err
	}
	id, create, err := createOp(rec, fence)
	if err != nil {
		return err
	}
	return s.submit(ctx, id, &writeOp{op: op, fn: create, creates: true})
}

// StartSession creates rec with fence 1, commits c, the session's first
// run, and appends chunks, in one transaction ([store.SessionStarter]).
func (s *Store) StartSession(ctx context.Context, rec *store.Session, c store.Commit, chunks []helix.Chunk) (int64, error) {
	const op = "start session"
	if err := s.check(ctx, op); err != nil {
		return 0, err
	}
	if c.Session == nil || c.Session.ID != rec.ID || c.Fence != 1 || c.ExpectedVersion != 1 {
		return 0, fmt.Errorf("sqlitestore: %s %q: the commit must be of the same session, with fence 1 and expected version 1", op, rec.ID)
	}
	id, create, err := createOp(rec, 1)
	if err != nil {
		return 0, err
	}
	commit, version, err := commitOp(c, "")
	if err != nil {
		return 0, err
	}
	req, err := newAppendReq(ctx, op, id, 1, chunks)
	if err != nil {
		return 0, err
	}
	req.res = make(chan appendRes, 1)
	req.write = &writeOp{op: op, creates: true, fn: func(t txn) error {
		if err := create(t); err != nil {
			return err
		}
		return commit(t)
	}}
	if err := s.enqueue(ctx, op, req); err != nil {
		return 0, err
	}
	if res := s.await(op, req); res.err != nil {
		return 0, res.err
	}
	return version, nil
}

// createOp encodes rec and returns the write that inserts it with the
// given fencing token.
func createOp(rec *store.Session, fence uint64) (id string, fn func(t txn) error, err error) {
	const op = "create session"
	c, err := store.PrepareNewSession(rec, time.Now())
	if err != nil {
		return "", nil, fmt.Errorf("sqlitestore: create session: %w", err)
	}
	data, err := json.Marshal(&c)
	if err != nil {
		return "", nil, fmt.Errorf("sqlitestore: %s %q: encoding: %w", op, rec.ID, err)
	}
	return c.ID, func(t txn) error {
		res, err := t.exec(`INSERT INTO sessions
			(id, principal, agent_type, status, created_ns, version, message_count, record, stream_status, fence, updated_ns)
			VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
			c.ID, c.Principal, c.AgentType, string(c.Status), c.CreatedAt.UnixNano(), c.MessageCount, data, string(helix.StreamActive), fence, time.Now().UnixNano())
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("sqlitestore: %s %q: %w", op, c.ID, store.ErrExists)
		}
		return nil
	}, nil
}

// GetSession returns the session or an error wrapping [store.ErrNotFound].
func (s *Store) GetSession(ctx context.Context, id string) (*store.Session, error) {
	const op = "get session"
	if err := s.check(ctx, op); err != nil {
		return nil, err
	}
	var data []byte
	if err := s.readers.row(ctx, op, `SELECT record FROM sessions WHERE id = ?`, []any{id}, &data); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, notFound(op, id)
		}
		return nil, s.fail(ctx, op, id, err)
	}
	var rec store.Session
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, fmt.Errorf("sqlitestore: %s %q: decoding the stored record: %w", op, id, err)
	}
	return &rec, nil
}

// Commit writes c in one transaction; see [store.Store.Commit]. The stored
// session keeps its original CreatedAt, and its UpdatedAt is set to the
// commit time. A checkpoint whose ID is already stored for the session fails
// the commit with an error wrapping [store.ErrExists]. Runs and checkpoints
// are stored with SessionID set to the committed session's ID.
func (s *Store) Commit(ctx context.Context, c store.Commit) (int64, error) {
	const op = "commit"
	if err := s.check(ctx, op); err != nil {
		return 0, err
	}
	fn, version, err := commitOp(c, "")
	if err != nil {
		return 0, err
	}
	if err := s.submit(ctx, c.Session.ID, &writeOp{op: op, fn: fn, keepsTail: true}); err != nil {
		return 0, err
	}
	return version, nil
}

// commitOp encodes c and returns the write that applies it (and sets the
// stream's status to stream, if that is not empty) and the session's
// version once it has.
func commitOp(c store.Commit, stream helix.StreamStatus) (fn func(t txn) error, version int64, err error) {
	const op = "commit"
	if err := c.Validate(); err != nil {
		return nil, 0, fmt.Errorf("sqlitestore: commit: %w", err)
	}
	id := c.Session.ID
	// Encode outside the transaction.
	msgs := make([][]byte, len(c.Messages))
	for i := range c.Messages {
		b, err := json.Marshal(&c.Messages[i])
		if err != nil {
			return nil, 0, fmt.Errorf("sqlitestore: %s %q: encoding message %d: %w", op, id, i, err)
		}
		msgs[i] = b
	}
	var runData, cpData []byte
	if c.Run != nil {
		run := *c.Run
		run.SessionID = id
		if runData, err = json.Marshal(&run); err != nil {
			return nil, 0, fmt.Errorf("sqlitestore: %s %q: encoding run: %w", op, id, err)
		}
	}
	if c.Checkpoint != nil {
		cp := *c.Checkpoint
		cp.SessionID = id
		if cpData, err = json.Marshal(&cp); err != nil {
			return nil, 0, fmt.Errorf("sqlitestore: %s %q: encoding checkpoint: %w", op, id, err)
		}
	}
	rec := *c.Session
	rec.Version = c.ExpectedVersion + 1
	rec.UpdatedAt = time.Now()

	return func(t txn) error {
		var sid, version, count, createdNs int64
		var fence uint64
		err := t.row(`SELECT sid, version, fence, message_count, created_ns FROM sessions WHERE id = ?`, id).
			Scan(&sid, &version, &fence, &count, &createdNs)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound(op, id)
		}
		if err != nil {
			return err
		}
		if c.Fence != 0 && c.Fence < fence {
			return staleFence(op, id, c.Fence, fence)
		}
		if version != c.ExpectedVersion {
			return fmt.Errorf("sqlitestore: %s %q: stored version %d, expected %d: %w", op, id, version, c.ExpectedVersion, store.ErrConflict)
		}
		kept := count
		if rw := c.Rewind; rw != nil {
			if int64(rw.Messages) > count {
				return fmt.Errorf("sqlitestore: %s %q: rewind to %d messages, past the %d stored: %w",
					op, id, rw.Messages, count, store.ErrConflict)
			}
			kept = int64(rw.Messages)
		}
		if want := int(kept) + len(c.Messages); rec.MessageCount != want {
			return fmt.Errorf("sqlitestore: %s %q: message count %d, want %d stored + %d new: %w",
				op, id, rec.MessageCount, kept, len(c.Messages), store.ErrConflict)
		}
		if c.Rewind != nil {
			if _, err := t.exec(`DELETE FROM messages WHERE sid = ? AND idx >= ?`, sid, kept); err != nil {
				return err
			}
			if _, err := t.exec(`DELETE FROM checkpoints WHERE sid = ? AND json_extract(CAST(data AS TEXT), '$.messageCount') > ?`, sid, kept); err != nil {
				return err
			}
			count = kept
		}
		for i, m := range msgs {
			if _, err := t.exec(`INSERT INTO messages (sid, idx, data) VALUES (?, ?, ?)`, sid, count+int64(i), m); err != nil {
				return err
			}
		}
		if runData != nil {
			if _, err := t.exec(`INSERT INTO runs (sid, ord, id, data)
				VALUES (?, (SELECT coalesce(max(ord), 0) + 1 FROM runs WHERE sid = ?), ?, ?)
				ON CONFLICT (sid, id) DO UPDATE SET data = excluded.data`, sid, sid, c.Run.ID, runData); err != nil {
				return err
			}
		}
		if cpData != nil {
			// (A refusal rolls back what this write did before it.)
			res, err := t.exec(`INSERT INTO checkpoints (sid, ord, id, data)
				VALUES (?, (SELECT coalesce(max(ord), 0) + 1 FROM checkpoints WHERE sid = ?), ?, ?)
				ON CONFLICT (sid, id) DO NOTHING`, sid, sid, c.Checkpoint.ID, cpData)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return fmt.Errorf("sqlitestore: %s %q: checkpoint %q: %w", op, id, c.Checkpoint.ID, store.ErrExists)
			}
		}
		rec.CreatedAt = time.Unix(0, createdNs).UTC()
		data, err := json.Marshal(&rec)
		if err != nil {
			return err
		}
		var status any // NULL: unchanged
		if stream != "" {
			status = string(stream)
		}
		_, err = t.exec(`UPDATE sessions SET record = ?, version = ?, status = ?, principal = ?, agent_type = ?,
			message_count = ?, control = CASE WHEN ? THEN NULL ELSE control END, updated_ns = ?,
			stream_status = coalesce(?, stream_status) WHERE sid = ?`,
			data, rec.Version, string(rec.Status), rec.Principal, rec.AgentType, rec.MessageCount, c.ClearControl, time.Now().UnixNano(), status, sid)
		return err
	}, rec.Version, nil
}

// ListSessions returns the sessions matching q, newest first: by CreatedAt
// descending, then by ID descending.
func (s *Store) ListSessions(ctx context.Context, q store.SessionQuery) (store.Page[*store.Session], error) {
	const op = "list sessions"
	var page store.Page[*store.Session]
	limit := q.Limit
	if limit <= 0 {
		limit = defaultPageSize
	}
	const where = ` WHERE (?1 = '' OR principal = ?1) AND (?2 = '' OR agent_type = ?2) AND (?3 = '' OR status = ?3)`
	args := []any{q.Principal, q.AgentType, string(q.Status)}
	err := s.read(ctx, op, "", func(t txn, _ int64) error {
		if err := t.row(`SELECT count(*) FROM sessions`+where, args...).Scan(&page.Total); err != nil {
			return err
		}
		rows, err := t.query(`SELECT record FROM sessions`+where+
			` ORDER BY created_ns DESC, id DESC LIMIT ?4 OFFSET ?5`, append(args, limit, max(q.Offset, 0))...)
		if err != nil {
			return err
		}
		page.Items, err = scanJSON(rows, func(b []byte) (*store.Session, error) {
			var rec store.Session
			return &rec, json.Unmarshal(b, &rec)
		})
		return err
	})
	if err != nil {
		return store.Page[*store.Session]{}, err
	}
	page.HasMore = max(q.Offset, 0)+len(page.Items) < page.Total
	return page, nil
}

// scanJSON decodes the single BLOB column of every row with decode.
func scanJSON[T any](rows *sql.Rows, decode func([]byte) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	var b []byte
	for rows.Next() {
		if err := rows.Scan(&b); err != nil {
			return nil, err
		}
		v, err := decode(b)
		if err != nil {
			return nil, fmt.Errorf("decoding a stored record: %w", err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// sqlLimit turns a limit where <= 0 means "all" into SQLite's -1.
func sqlLimit(limit int) int {
	if limit <= 0 {
		return -1
	}
	return limit
}

// ListMessages returns messages [offset, offset+limit) of a session; a
// limit <= 0 means all messages from offset, and an offset past the end
// gives an empty page.
func (s *Store) ListMessages(ctx context.Context, sessionID string, offset, limit int) (store.Page[llm.Message], error) {
	const op = "list messages"
	var page store.Page[llm.Message]
	offset = max(offset, 0)
	err := s.read(ctx, op, sessionID, func(t txn, sid int64) error {
		if err := t.row(`SELECT message_count FROM sessions WHERE sid = ?`, sid).Scan(&page.Total); err != nil {
			return err
		}
		rows, err := t.query(`SELECT data FROM messages WHERE sid = ? AND idx >= ? ORDER BY idx LIMIT ?`, sid, offset, sqlLimit(limit))
		if err != nil {
			return err
		}
		page.Items, err = scanJSON(rows, func(b []byte) (llm.Message, error) {
			var m llm.Message
			return m, json.Unmarshal(b, &m)
		})
		return err
	})
	if err != nil {
		return store.Page[llm.Message]{}, err
	}
	page.HasMore = offset+len(page.Items) < page.Total
	return page, nil
}

func decodeRun(b []byte) (*store.Run, error) {
	var r store.Run
	return &r, json.Unmarshal(b, &r)
}

func decodeCheckpoint(b []byte) (*store.Checkpoint, error) {
	var c store.Checkpoint
	return &c, json.Unmarshal(b, &c)
}

// one runs a query returning one BLOB and decodes it; no row is an error
// wrapping ErrNotFound naming what.
func one[T any](t txn, decode func([]byte) (T, error), what string, query string, args ...any) (T, error) {
	var zero T
	var b []byte
	if err := t.row(query, args...).Scan(&b); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return zero, fmt.Errorf("sqlitestore: %s: %w", what, store.ErrNotFound)
		}
		return zero, err
	}
	v, err := decode(b)
	if err != nil {
		return zero, fmt.Errorf("decoding the stored %s: %w", what, err)
	}
	return v, nil
}

// GetRun returns one run of a session, or an error wrapping
// [store.ErrNotFound] if the session or the run does not exist.
func (s *Store) GetRun(ctx context.Context, sessionID, runID string) (*store.Run, error) {
	var run *store.Run
	err := s.read(ctx, "get run", sessionID, func(t txn, sid int64) (err error) {
		run, err = one(t, decodeRun, fmt.Sprintf("run %q of session %q", runID, sessionID),
			`SELECT data FROM runs WHERE sid = ? AND id = ?`, sid, runID)
		return err
	})
	return run, err
}

// ListRuns returns the runs of a session, oldest first.
func (s *Store) ListRuns(ctx context.Context, sessionID string) ([]*store.Run, error) {
	var runs []*store.Run
	err := s.read(ctx, "list runs", sessionID, func(t txn, sid int64) error {
		rows, err := t.query(`SELECT data FROM runs WHERE sid = ? ORDER BY ord`, sid)
		if err != nil {
			return err
		}
		runs, err = scanJSON(rows, decodeRun)
		return err
	})
	return runs, err
}

// GetCheckpoint returns one checkpoint, or an error wrapping
// [store.ErrNotFound].
func (s *Store) GetCheckpoint(ctx context.Context, sessionID, id string) (*store.Checkpoint, error) {
	var cp *store.Checkpoint
	err := s.read(ctx, "get checkpoint", sessionID, func(t txn, sid int64) (err error) {
		cp, err = one(t, decodeCheckpoint, fmt.Sprintf("checkpoint %q of session %q", id, sessionID),
			`SELECT data FROM checkpoints WHERE sid = ? AND id = ?`, sid, id)
		return err
	})
	return cp, err
}

// LatestCheckpoint returns the newest checkpoint, or an error wrapping
// [store.ErrNotFound] if the session has none.
func (s *Store) LatestCheckpoint(ctx context.Context, sessionID string) (*store.Checkpoint, error) {
	var cp *store.Checkpoint
	err := s.read(ctx, "latest checkpoint", sessionID, func(t txn, sid int64) (err error) {
		cp, err = one(t, decodeCheckpoint, fmt.Sprintf("latest checkpoint of session %q", sessionID),
			`SELECT data FROM checkpoints WHERE sid = ? ORDER BY ord DESC LIMIT 1`, sid)
		return err
	})
	return cp, err
}

// ListCheckpoints returns checkpoints [offset, offset+limit) of a session,
// oldest first; a limit <= 0 means all from offset.
func (s *Store) ListCheckpoints(ctx context.Context, sessionID string, offset, limit int) (store.Page[*store.Checkpoint], error) {
	var page store.Page[*store.Checkpoint]
	offset = max(offset, 0)
	err := s.read(ctx, "list checkpoints", sessionID, func(t txn, sid int64) error {
		if err := t.row(`SELECT count(*) FROM checkpoints WHERE sid = ?`, sid).Scan(&page.Total); err != nil {
			return err
		}
		rows, err := t.query(`SELECT data FROM checkpoints WHERE sid = ? ORDER BY ord LIMIT ? OFFSET ?`, sid, sqlLimit(limit), offset)
		if err != nil {
			return err
		}
		page.Items, err = scanJSON(rows, decodeCheckpoint)
		return err
	})
	if err != nil {
		return store.Page[*store.Checkpoint]{}, err
	}
	page.HasMore = offset+len(page.Items) < page.Total
	return page, nil
}

// RequestControl records a durable interrupt or abort request. An abort
// replaces a pending interrupt; an interrupt leaves a pending abort in place
// (and returns nil); a request of the same kind replaces the pending one. A
// zero RequestedAt is set to the current time.
func (s *Store) RequestControl(ctx context.Context, sessionID string, r store.ControlRequest) error {
	const op = "request control"
	if err := s.check(ctx, op); err != nil {
		return err
	}
	r, err := store.PrepareControlRequest(r, time.Now())
	if err != nil {
		return fmt.Errorf("sqlitestore: %s %q: %w", op, sessionID, err)
	}
	data, err := json.Marshal(&r)
	if err != nil {
		return fmt.Errorf("sqlitestore: %s %q: encoding: %w", op, sessionID, err)
	}
	return s.submit(ctx, sessionID, &writeOp{op: op, keepsTail: true, fn: func(t txn) error {
		// An interrupt never replaces a pending abort.
		res, err := t.exec(`UPDATE sessions SET control = ?, updated_ns = ?
			WHERE id = ? AND NOT (? = 'interrupt' AND coalesce(json_extract(control, '$.kind'), '') = 'abort')`,
			string(data), time.Now().UnixNano(), sessionID, string(r.Kind))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			var one int
			if err := t.row(`SELECT 1 FROM sessions WHERE id = ?`, sessionID).Scan(&one); errors.Is(err, sql.ErrNoRows) {
				return notFound(op, sessionID)
			} else if err != nil {
				return err
			}
		}
		return nil
	}})
}

// GetControl returns the pending control request, or nil, nil if there is
// none.
func (s *Store) GetControl(ctx context.Context, sessionID string) (*store.ControlRequest, error) {
	const op = "get control"
	if err := s.check(ctx, op); err != nil {
		return nil, err
	}
	var data sql.NullString
	if err := s.readers.row(ctx, op, `SELECT control FROM sessions WHERE id = ?`, []any{sessionID}, &data); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, notFound(op, sessionID)
		}
		return nil, s.fail(ctx, op, sessionID, err)
	}
	if !data.Valid {
		return nil, nil
	}
	var r store.ControlRequest
	if err := json.Unmarshal([]byte(data.String), &r); err != nil {
		return nil, fmt.Errorf("sqlitestore: %s %q: decoding the stored request: %w", op, sessionID, err)
	}
	return &r, nil
}

// NextFence issues the session's next fencing token: 1, 2, 3, …
func (s *Store) NextFence(ctx context.Context, sessionID string) (uint64, error) {
	const op = "next fence"
	var fence uint64
	err := s.submit(ctx, sessionID, &writeOp{op: op, fences: true, fn: func(t txn) error {
		err := t.row(`UPDATE sessions SET fence = fence + 1, updated_ns = ? WHERE id = ? RETURNING fence`, time.Now().UnixNano(), sessionID).Scan(&fence)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound(op, sessionID)
		}
		return err
	}})
	return fence, err
}
