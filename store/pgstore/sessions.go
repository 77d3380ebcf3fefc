package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/helix-agents/helix-go/llm"
	"github.com/helix-agents/helix-go/store"
)

// defaultPageSize is the ListSessions page size when the query's Limit is
// not positive.
const defaultPageSize = 50

// CreateSession stores rec with Version 1 and an empty, active stream. A
// zero CreatedAt is set to the current time and a zero UpdatedAt to
// CreatedAt; rec itself is not modified. It fails with an error wrapping
// [store.ErrExists] if the id is taken.
func (s *Store) CreateSession(ctx context.Context, rec *store.Session) error {
	const op = "create session"
	if err := s.check(ctx, op); err != nil {
		return err
	}
	c, data, err := newSessionRow(op, rec)
	if err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, s.sql.createSession, c.ID, c.Principal, c.AgentType, string(c.Status), c.CreatedAt, c.UpdatedAt, data)
	if err != nil {
		return s.fail(ctx, op, rec.ID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("pgstore: %s %q: %w", op, rec.ID, store.ErrExists)
	}
	return nil
}

// newSessionRow prepares rec as a new session (store.PrepareNewSession),
// checks the text its columns hold and encodes its record.
func newSessionRow(op string, rec *store.Session) (store.Session, []byte, error) {
	c, err := store.PrepareNewSession(rec, time.Now())
	if err != nil {
		return c, nil, fmt.Errorf("pgstore: %s: %w", op, err)
	}
	for _, f := range [...]struct{ what, v string }{
		{"session id", c.ID}, {"principal", c.Principal}, {"agent type", c.AgentType}, {"status", string(c.Status)},
	} {
		if !validText(f.v) {
			return c, nil, badText(op, f.what, f.v)
		}
	}
	data, err := json.Marshal(&c)
	if err != nil {
		return c, nil, fmt.Errorf("pgstore: %s %q: encoding the session: %w", op, c.ID, err)
	}
	return c, data, nil
}

// decodeSession decodes a sessions row's record and overrides the fields
// the columns own.
func decodeSession(data []byte, version int64, created, updated time.Time) (*store.Session, error) {
	rec := new(store.Session)
	if err := json.Unmarshal(data, rec); err != nil {
		return nil, fmt.Errorf("decoding the session record: %w", err)
	}
	rec.Version = version
	rec.CreatedAt = created.UTC()
	rec.UpdatedAt = updated.UTC()
	return rec, nil
}

// GetSession returns the session or an error wrapping [store.ErrNotFound].
func (s *Store) GetSession(ctx context.Context, id string) (*store.Session, error) {
	const op = "get session"
	if err := s.check(ctx, op); err != nil {
		return nil, err
	}
	if !validText(id) {
		return nil, notFound(op, id)
	}
	var (
		data             []byte
		version          int64
		created, updated time.Time
	)
	err := s.pool.QueryRow(ctx, s.sql.getSession, id).Scan(&data, &version, &created, &updated)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound(op, id)
	}
	if err != nil {
		return nil, s.fail(ctx, op, id, err)
	}
	rec, err := decodeSession(data, version, created, updated)
	if err != nil {
		return nil, fmt.Errorf("pgstore: %s %q: %w", op, id, err)
	}
	return rec, nil
}

// commitArgs checks c and encodes it as the arguments of the commit
// statement (see statements.commit).
func commitArgs(op string, c store.Commit) ([]any, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("pgstore: commit: %w", err)
	}
	rec := c.Session
	id := rec.ID
	if !validText(id) {
		return nil, notFound(op, id)
	}
	for _, f := range [...]struct{ what, v string }{
		{"principal", rec.Principal}, {"agent type", rec.AgentType}, {"status", string(rec.Status)},
	} {
		if !validText(f.v) {
			return nil, badText(op, f.what, f.v)
		}
	}

	recData, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("pgstore: %s %q: encoding the session: %w", op, id, err)
	}
	msgs := make([][]byte, len(c.Messages))
	for i := range c.Messages {
		if msgs[i], err = json.Marshal(&c.Messages[i]); err != nil {
			return nil, fmt.Errorf("pgstore: %s %q: encoding message %d: %w", op, id, i, err)
		}
	}
	var runID, cpID *string
	var runData, cpData []byte
	if c.Run != nil {
		if !validText(c.Run.ID) {
			return nil, badText(op, "run id", c.Run.ID)
		}
		run := *c.Run
		run.SessionID = id
		if runData, err = json.Marshal(&run); err != nil {
			return nil, fmt.Errorf("pgstore: %s %q: encoding run %q: %w", op, id, run.ID, err)
		}
		runID = &run.ID
	}
	if c.Checkpoint != nil {
		if !validText(c.Checkpoint.ID) {
			return nil, badText(op, "checkpoint id", c.Checkpoint.ID)
		}
		cp := *c.Checkpoint
		cp.SessionID = id
		if cpData, err = json.Marshal(&cp); err != nil {
			return nil, fmt.Errorf("pgstore: %s %q: encoding checkpoint %q: %w", op, id, cp.ID, err)
		}
		cpID = &cp.ID
	}
	return []any{id, rec.Principal, rec.AgentType, string(rec.Status), recData,
		c.ExpectedVersion, int64(c.Fence), rec.MessageCount, msgs, len(msgs),
		runID, runData, cpID, cpData, c.ClearControl}, nil
}

// Commit writes c atomically, in one statement; see [store.Store.Commit].
// The stored session keeps its original CreatedAt, and its UpdatedAt is
// set to the commit time (the database's clock). A checkpoint whose ID is
// already stored for the session fails the commit with an error wrapping
// [store.ErrExists]. Runs and checkpoints are stored with SessionID set to
// the committed session's ID.
func (s *Store) Commit(ctx context.Context, c store.Commit) (int64, error) {
	const op = "commit"
	if err := s.check(ctx, op); err != nil {
		return 0, err
	}
	args, err := commitArgs(op, c)
	if err != nil {
		return 0, err
	}
	if c.Rewind != nil {
		return s.commitRewound(ctx, op, c, args)
	}
	id := c.Session.ID
	rec := c.Session
	var cpID *string
	if c.Checkpoint != nil {
		cpID = &c.Checkpoint.ID
	}
	msgs := c.Messages

	// A failed update is explained from the statement's snapshot, which
	// may predate the change that failed it (a newer token or version
	// committed while the update waited for the row lock); then the
	// statement runs again and the new snapshot tells.
	for attempt := 0; ; attempt++ {
		var (
			fence, version int64
			stored         int
			newVersion     *int64
		)
		err := s.pool.QueryRow(ctx, s.sql.commit, args...).Scan(&fence, &version, &stored, &newVersion)
		if errors.Is(err, pgx.ErrNoRows) {
			return 0, notFound(op, id)
		}
		if err != nil {
			var pe *pgconn.PgError
			if errors.As(err, &pe) && pe.Code == "23505" && cpID != nil && pe.TableName == "checkpoints" {
				return 0, fmt.Errorf("pgstore: %s %q: checkpoint %q: %w", op, id, *cpID, store.ErrExists)
			}
			return 0, s.fail(ctx, op, id, err)
		}
		if newVersion != nil {
			return *newVersion, nil
		}
		switch {
		case c.Fence != 0 && c.Fence < uint64(fence):
			return 0, staleFence(op, id, c.Fence, uint64(fence))
		case version != c.ExpectedVersion:
			return 0, fmt.Errorf("pgstore: %s %q: stored version %d, expected %d: %w",
				op, id, version, c.ExpectedVersion, store.ErrConflict)
		case rec.MessageCount != stored+len(msgs):
			return 0, fmt.Errorf("pgstore: %s %q: message count %d, want %d stored + %d new: %w",
				op, id, rec.MessageCount, stored, len(msgs), store.ErrConflict)
		case attempt >= 3:
			return 0, fmt.Errorf("pgstore: %s %q: the session changed while committing: %w", op, id, store.ErrConflict)
		}
	}
}

// ListSessions returns the sessions matching q, newest first: by
// CreatedAt descending, then by ID descending (byte order). Total counts
// every match.
func (s *Store) ListSessions(ctx context.Context, q store.SessionQuery) (store.Page[*store.Session], error) {
	const op = "list sessions"
	var page store.Page[*store.Session]
	if err := s.check(ctx, op); err != nil {
		return page, err
	}
	mask := 0
	args := make([]any, 0, 5)
	for i, v := range [...]string{q.Principal, q.AgentType, string(q.Status)} {
		if v == "" {
			continue
		}
		if !validText(v) {
			return store.Page[*store.Session]{Items: []*store.Session{}}, nil // matches nothing
		}
		mask |= 1 << i
		args = append(args, v)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = defaultPageSize
	}
	offset := max(q.Offset, 0)
	args = append(args, int64(offset), int64(limit))
	rows, err := s.pool.Query(ctx, s.sql.listSessions[mask], args...)
	if err != nil {
		return page, s.fail(ctx, op, "", err)
	}
	defer rows.Close()
	page.Items = []*store.Session{}
	for rows.Next() {
		var (
			total            int64
			data             []byte
			version          *int64
			created, updated *time.Time
		)
		if err := rows.Scan(&total, &data, &version, &created, &updated); err != nil {
			return page, s.fail(ctx, op, "", err)
		}
		page.Total = int(total)
		if version == nil {
			continue // no session on this page
		}
		rec, err := decodeSession(data, *version, *created, *updated)
		if err != nil {
			return page, fmt.Errorf("pgstore: %s: %w", op, err)
		}
		page.Items = append(page.Items, rec)
	}
	if err := rows.Err(); err != nil {
		return page, s.fail(ctx, op, "", err)
	}
	page.HasMore = offset+len(page.Items) < page.Total
	return page, nil
}

// limitArg is the LIMIT parameter for a limit where <= 0 means all.
func limitArg(limit int) any {
	if limit <= 0 {
		return nil
	}
	return int64(limit)
}

// scanDocs runs a query whose rows are (count, document) or (document)
// after a join on the sessions row, and decodes each document with decode.
// It reports found == false when the session does not exist. NULL
// documents (the join found nothing) are skipped.
func (s *Store) scanDocs(ctx context.Context, op, id, sql string, withCount bool, decode func([]byte) error, args ...any) (count int, found bool, err error) {
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return 0, false, s.fail(ctx, op, id, err)
	}
	defer rows.Close()
	for rows.Next() {
		found = true
		var data []byte
		if withCount {
			var n int32
			if err := rows.Scan(&n, &data); err != nil {
				return 0, false, s.fail(ctx, op, id, err)
			}
			count = int(n)
		} else if err := rows.Scan(&data); err != nil {
			return 0, false, s.fail(ctx, op, id, err)
		}
		if data == nil {
			continue
		}
		if err := decode(data); err != nil {
			return 0, false, fmt.Errorf("pgstore: %s %q: decoding: %w", op, id, err)
		}
	}
	if err := rows.Err(); err != nil {
		return 0, false, s.fail(ctx, op, id, err)
	}
	return count, found, nil
}

// ListMessages returns messages [offset, offset+limit) of a session; a
// limit <= 0 means all messages from offset, and an offset past the end
// gives an empty page.
func (s *Store) ListMessages(ctx context.Context, sessionID string, offset, limit int) (store.Page[llm.Message], error) {
	const op = "list messages"
	if err := s.check(ctx, op); err != nil {
		return store.Page[llm.Message]{}, err
	}
	if !validText(sessionID) {
		return store.Page[llm.Message]{}, notFound(op, sessionID)
	}
	offset = max(offset, 0)
	items := []llm.Message{}
	n, found, err := s.scanDocs(ctx, op, sessionID, s.sql.listMessages, true, func(b []byte) error {
		var m llm.Message
		if err := json.Unmarshal(b, &m); err != nil {
			return err
		}
		items = append(items, m)
		return nil
	}, sessionID, offset, limitArg(limit))
	if err != nil {
		return store.Page[llm.Message]{}, err
	}
	if !found {
		return store.Page[llm.Message]{}, notFound(op, sessionID)
	}
	return store.Page[llm.Message]{Items: items, Total: n, HasMore: min(offset, n)+len(items) < n}, nil
}

// GetRun returns one run, or an error wrapping [store.ErrNotFound] if the
// session or the run does not exist.
func (s *Store) GetRun(ctx context.Context, sessionID, runID string) (*store.Run, error) {
	const op = "get run"
	if err := s.check(ctx, op); err != nil {
		return nil, err
	}
	if !validText(sessionID) {
		return nil, notFound(op, sessionID)
	}
	key := runID
	if !validText(key) {
		key = "" // matches no run; the query still tells whether the session exists
	}
	var run *store.Run
	_, found, err := s.scanDocs(ctx, op, sessionID, s.sql.getRun, false, func(b []byte) error {
		run = new(store.Run)
		return json.Unmarshal(b, run)
	}, sessionID, key)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, notFound(op, sessionID)
	}
	if run == nil {
		return nil, fmt.Errorf("pgstore: %s %q of session %q: %w", op, runID, sessionID, store.ErrNotFound)
	}
	return run, nil
}

// ListRuns returns all runs of a session in the order they were first
// stored (oldest first).
func (s *Store) ListRuns(ctx context.Context, sessionID string) ([]*store.Run, error) {
	const op = "list runs"
	if err := s.check(ctx, op); err != nil {
		return nil, err
	}
	if !validText(sessionID) {
		return nil, notFound(op, sessionID)
	}
	runs := []*store.Run{}
	_, found, err := s.scanDocs(ctx, op, sessionID, s.sql.listRuns, false, func(b []byte) error {
		r := new(store.Run)
		if err := json.Unmarshal(b, r); err != nil {
			return err
		}
		runs = append(runs, r)
		return nil
	}, sessionID)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, notFound(op, sessionID)
	}
	return runs, nil
}

// GetCheckpoint returns one checkpoint, or an error wrapping
// [store.ErrNotFound].
func (s *Store) GetCheckpoint(ctx context.Context, sessionID, id string) (*store.Checkpoint, error) {
	return s.oneCheckpoint(ctx, "get checkpoint", s.sql.getCheckpoint, sessionID, id, true)
}

// LatestCheckpoint returns the newest checkpoint of a session, or an error
// wrapping [store.ErrNotFound] if the session has none.
func (s *Store) LatestCheckpoint(ctx context.Context, sessionID string) (*store.Checkpoint, error) {
	return s.oneCheckpoint(ctx, "latest checkpoint", s.sql.latestCheckpoint, sessionID, "", false)
}

// oneCheckpoint runs a query returning at most one checkpoint, by id if
// byID.
func (s *Store) oneCheckpoint(ctx context.Context, op, sql, sessionID, id string, byID bool) (*store.Checkpoint, error) {
	if err := s.check(ctx, op); err != nil {
		return nil, err
	}
	if !validText(sessionID) {
		return nil, notFound(op, sessionID)
	}
	args := []any{sessionID}
	if byID {
		key := id
		if !validText(key) {
			key = "" // matches no checkpoint; the query still tells whether the session exists
		}
		args = append(args, key)
	}
	var cp *store.Checkpoint
	_, found, err := s.scanDocs(ctx, op, sessionID, sql, false, func(b []byte) error {
		cp = new(store.Checkpoint)
		return json.Unmarshal(b, cp)
	}, args...)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, notFound(op, sessionID)
	}
	if cp == nil {
		if !byID {
			return nil, fmt.Errorf("pgstore: %s of session %q: none stored: %w", op, sessionID, store.ErrNotFound)
		}
		return nil, fmt.Errorf("pgstore: %s %q of session %q: %w", op, id, sessionID, store.ErrNotFound)
	}
	return cp, nil
}

// ListCheckpoints returns checkpoints [offset, offset+limit) of a session,
// oldest first; a limit <= 0 means all from offset.
func (s *Store) ListCheckpoints(ctx context.Context, sessionID string, offset, limit int) (store.Page[*store.Checkpoint], error) {
	const op = "list checkpoints"
	if err := s.check(ctx, op); err != nil {
		return store.Page[*store.Checkpoint]{}, err
	}
	if !validText(sessionID) {
		return store.Page[*store.Checkpoint]{}, notFound(op, sessionID)
	}
	offset = max(offset, 0)
	items := []*store.Checkpoint{}
	n, found, err := s.scanDocs(ctx, op, sessionID, s.sql.listCheckpoints, true, func(b []byte) error {
		cp := new(store.Checkpoint)
		if err := json.Unmarshal(b, cp); err != nil {
			return err
		}
		items = append(items, cp)
		return nil
	}, sessionID, offset, limitArg(limit))
	if err != nil {
		return store.Page[*store.Checkpoint]{}, err
	}
	if !found {
		return store.Page[*store.Checkpoint]{}, notFound(op, sessionID)
	}
	return store.Page[*store.Checkpoint]{Items: items, Total: n, HasMore: min(offset, n)+len(items) < n}, nil
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
		return fmt.Errorf("pgstore: %s %q: %w", op, sessionID, err)
	}
	if !validText(sessionID) {
		return notFound(op, sessionID)
	}
	data, err := json.Marshal(&r)
	if err != nil {
		return fmt.Errorf("pgstore: %s %q: encoding: %w", op, sessionID, err)
	}
	tag, err := s.pool.Exec(ctx, s.sql.requestControl, sessionID, string(r.Kind), data)
	if err != nil {
		return s.fail(ctx, op, sessionID, err)
	}
	if tag.RowsAffected() == 0 {
		return notFound(op, sessionID)
	}
	return nil
}

// GetControl returns the pending control request, or nil, nil if there is
// none.
func (s *Store) GetControl(ctx context.Context, sessionID string) (*store.ControlRequest, error) {
	const op = "get control"
	if err := s.check(ctx, op); err != nil {
		return nil, err
	}
	if !validText(sessionID) {
		return nil, notFound(op, sessionID)
	}
	var data []byte
	err := s.pool.QueryRow(ctx, s.sql.getControl, sessionID).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound(op, sessionID)
	}
	if err != nil {
		return nil, s.fail(ctx, op, sessionID, err)
	}
	if data == nil {
		return nil, nil
	}
	r := new(store.ControlRequest)
	if err := json.Unmarshal(data, r); err != nil {
		return nil, fmt.Errorf("pgstore: %s %q: decoding: %w", op, sessionID, err)
	}
	return r, nil
}

// NextFence issues the session's next fencing token: 1, 2, 3, … The
// counter is the session row's, shared by every process.
func (s *Store) NextFence(ctx context.Context, sessionID string) (uint64, error) {
	const op = "next fence"
	if err := s.check(ctx, op); err != nil {
		return 0, err
	}
	if !validText(sessionID) {
		return 0, notFound(op, sessionID)
	}
	var f int64
	err := s.pool.QueryRow(ctx, s.sql.nextFence, sessionID).Scan(&f)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, notFound(op, sessionID)
	}
	if err != nil {
		return 0, s.fail(ctx, op, sessionID, err)
	}
	return uint64(f), nil
}
