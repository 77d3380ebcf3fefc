package pgstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/store"
)

var _ store.SessionStarter = (*Store)(nil)

// StartSession creates the session s with its first fencing token, 1,
// commits c (its first run) and appends chunks (the run's first), in one
// round trip that PostgreSQL runs as one transaction
// ([store.SessionStarter]): a pipeline of statements ended by one Sync,
// which the server commits together or not at all. An existing session id
// fails it with an error wrapping [store.ErrExists], a refused commit with
// one wrapping [store.ErrConflict]; either way nothing is written. A
// runtime starting a session waits for one round trip instead of four
// (create, fence, commit, append).
func (s *Store) StartSession(ctx context.Context, rec *store.Session, c store.Commit, chunks []helix.Chunk) (int64, error) {
	const op = "start session"
	if err := s.check(ctx, op); err != nil {
		return 0, err
	}
	created, createdData, err := newSessionRow(op, rec)
	if err != nil {
		return 0, err
	}
	if c.Session == nil || c.Session.ID != created.ID || c.Fence != 1 || c.ExpectedVersion != 1 {
		return 0, fmt.Errorf("pgstore: %s %q: the commit is not of the new session with fence 1 and version 1: %w", op, created.ID, store.ErrConflict)
	}
	args, err := commitArgs(op, c)
	if err != nil {
		return 0, err
	}
	_, data, err := encodeChunks(op, created.ID, chunks, nil, nil)
	if err != nil {
		return 0, err
	}
	id := created.ID
	b := &pgx.Batch{}
	b.Queue(s.sql.startSession, id, created.Principal, created.AgentType, string(created.Status), created.CreatedAt, created.UpdatedAt, createdData)
	s.queueRewind(b, c)
	b.Queue(s.sql.commitStrict, args...)
	if len(chunks) > 0 {
		b.Queue(s.sql.appendOne, id, int64(1), int64(len(chunks)), data, s.channel, notifyPayloads([]string{id})[0])
	}
	br := s.pool.SendBatch(ctx, b)
	var last *int64
	err = func() error {
		if _, err := br.Exec(); err != nil {
			return err
		}
		if c.Rewind != nil {
			if _, err := br.Exec(); err != nil {
				return err
			}
		}
		if _, err := br.Exec(); err != nil {
			return err
		}
		if len(chunks) > 0 {
			var one, fence, notified int64
			if err := br.QueryRow().Scan(&one, &fence, &last, &notified); err != nil {
				return err
			}
		}
		return nil
	}()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		var pe *pgconn.PgError
		switch {
		case errors.As(err, &pe) && pe.Code == "23505" && (pe.TableName == "sessions" || pe.TableName == "streams"):
			return 0, fmt.Errorf("pgstore: %s %q: %w", op, id, store.ErrExists)
		case errors.As(err, &pe) && pe.Code == "22012": // commitStrict
			return 0, fmt.Errorf("pgstore: %s %q: the first commit was refused: %w", op, id, store.ErrConflict)
		}
		return 0, s.fail(ctx, op, id, err)
	}
	if len(chunks) > 0 && (last == nil || *last != int64(len(chunks))) {
		return 0, fmt.Errorf("pgstore: %s %q: the first chunks did not get sequences 1 to %d", op, id, len(chunks))
	}
	for i := range chunks {
		chunks[i].Sequence = int64(i + 1)
	}
	return c.ExpectedVersion + 1, nil
}

// queueRewind queues the rewind of c, if it has one, to run before its
// commit in the same transaction.
func (s *Store) queueRewind(b *pgx.Batch, c store.Commit) {
	if c.Rewind != nil {
		b.Queue(s.sql.rewind, c.Session.ID, c.ExpectedVersion, int64(c.Rewind.Messages))
	}
}

var _ store.RunEnder = (*Store)(nil)

// EndRun commits c, appends chunks (the run's run_end) with c.Fence and
// sets the stream's status, in one round trip that PostgreSQL runs as one
// transaction ([store.RunEnder]). A refused commit (a stale fence, a
// conflict) writes nothing and is reported as Commit would report it. A
// runtime ending a run waits for one round trip instead of three.
func (s *Store) EndRun(ctx context.Context, c store.Commit, chunks []helix.Chunk, status helix.StreamStatus) (int64, error) {
	const op = "end run"
	if err := s.check(ctx, op); err != nil {
		return 0, err
	}
	if !store.ValidStreamStatus(status) {
		return 0, fmt.Errorf("pgstore: %s: invalid stream status %q", op, status)
	}
	args, err := commitArgs(op, c)
	if err != nil {
		return 0, err
	}
	id := c.Session.ID
	_, data, err := encodeChunks(op, id, chunks, nil, nil)
	if err != nil {
		return 0, err
	}
	payload := notifyPayloads([]string{id})[0]
	b := &pgx.Batch{}
	s.queueRewind(b, c)
	b.Queue(s.sql.commitStrict, args...)
	if len(chunks) > 0 {
		b.Queue(s.sql.appendOne, id, int64(c.Fence), int64(len(chunks)), data, s.channel, payload)
	}
	b.Queue(s.sql.setStreamStatus, id, int64(c.Fence), string(status), s.channel, payload)
	br := s.pool.SendBatch(ctx, b)
	var last *int64
	err = func() error {
		if c.Rewind != nil {
			if _, err := br.Exec(); err != nil {
				return err
			}
		}
		// No row: no such session (then nothing of the pipeline writes).
		var fence, version, stored, one int64
		var newVersion *int64
		if err := br.QueryRow().Scan(&fence, &version, &stored, &newVersion, &one); err != nil {
			return err
		}
		if len(chunks) > 0 {
			var one, fence, notified int64
			if err := br.QueryRow().Scan(&one, &fence, &last, &notified); err != nil {
				return err
			}
		}
		_, err := br.Exec()
		return err
	}()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, s.commitFailed(ctx, op, c, err)
	}
	if len(chunks) > 0 {
		if last == nil {
			return 0, fmt.Errorf("pgstore: %s %q: the run's last chunks got no sequences", op, id)
		}
		first := *last - int64(len(chunks)) + 1
		for i := range chunks {
			chunks[i].Sequence = first + int64(i)
		}
	}
	s.hub.Notify(id)
	return c.ExpectedVersion + 1, nil
}

// commitFailed is the error of a pipeline holding c's commitStrict that
// failed with err.
func (s *Store) commitFailed(ctx context.Context, op string, c store.Commit, err error) error {
	var pe *pgconn.PgError
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return notFound(op, c.Session.ID)
	case errors.As(err, &pe) && pe.Code == "22012":
		return s.refused(ctx, op, c)
	case errors.As(err, &pe) && pe.Code == "23505" && c.Checkpoint != nil && pe.TableName == "checkpoints":
		return fmt.Errorf("pgstore: %s %q: checkpoint %q: %w", op, c.Session.ID, c.Checkpoint.ID, store.ErrExists)
	}
	return s.fail(ctx, op, c.Session.ID, err)
}

// commitRewound is Commit for a commit with a rewind: the rewind and the
// commit in one round trip that PostgreSQL runs as one transaction.
func (s *Store) commitRewound(ctx context.Context, op string, c store.Commit, args []any) (int64, error) {
	b := &pgx.Batch{}
	s.queueRewind(b, c)
	b.Queue(s.sql.commitStrict, args...)
	br := s.pool.SendBatch(ctx, b)
	var newVersion *int64
	err := func() error {
		if _, err := br.Exec(); err != nil {
			return err
		}
		var fence, version, stored, one int64
		return br.QueryRow().Scan(&fence, &version, &stored, &newVersion, &one)
	}()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, s.commitFailed(ctx, op, c, err)
	}
	if newVersion == nil { // (commitStrict fails instead)
		return 0, s.refused(ctx, op, c)
	}
	return *newVersion, nil
}

// refused explains a commit that the one-write paths found refused, as
// Commit does: an unknown session, a stale fence, or a conflict.
func (s *Store) refused(ctx context.Context, op string, c store.Commit) error {
	id := c.Session.ID
	var fence, version int64
	err := s.pool.QueryRow(ctx, s.sql.fenceAndVersion, id).Scan(&fence, &version)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return notFound(op, id)
	case err != nil:
		return s.fail(ctx, op, id, err)
	case c.Fence != 0 && c.Fence < uint64(fence):
		return staleFence(op, id, c.Fence, uint64(fence))
	}
	return fmt.Errorf("pgstore: %s %q: stored version %d, expected %d, or the message count differs: %w",
		op, id, version, c.ExpectedVersion, store.ErrConflict)
}
