package redisstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/store"
)

var (
	_ store.SessionStarter = (*Store)(nil)
	_ store.RunEnder       = (*Store)(nil)
)

// StartSession creates rec with fencing token 1, commits c (its first run)
// and appends chunks (the run's first), in one script: atomically, in one
// round trip ([store.SessionStarter]). An existing session is refused with
// an error wrapping [store.ErrExists]; a refused commit writes nothing.
func (s *Store) StartSession(ctx context.Context, rec *store.Session, c store.Commit, chunks []helix.Chunk) (int64, error) {
	const op = "start session"
	if err := s.check(ctx, op); err != nil {
		return 0, err
	}
	created, err := store.PrepareNewSession(rec, time.Now())
	if err != nil {
		return 0, fmt.Errorf("redisstore: %s: %w", op, err)
	}
	id := created.ID
	if err := c.Validate(); err != nil {
		return 0, fmt.Errorf("redisstore: %s: %w", op, err)
	}
	if c.Session.ID != id || c.Fence != 1 || c.ExpectedVersion != 1 {
		return 0, fmt.Errorf("redisstore: %s %q: the commit is not of the new session with fence 1 and version 1: %w", op, id, store.ErrConflict)
	}
	data, err := json.Marshal(&created)
	if err != nil {
		return 0, fmt.Errorf("redisstore: %s %q: encoding: %w", op, id, err)
	}
	pieces, err := chunkPieces(op, id, chunks)
	if err != nil {
		return 0, err
	}
	head := 12 + len(pieces)
	args, err := s.commitArgs(op, c, head)
	if err != nil {
		return 0, err
	}
	copy(args, []any{data, created.CreatedAt.Format(time.RFC3339Nano), created.CreatedAt.UnixMilli(), id,
		created.Principal, created.AgentType, string(created.Status), s.ttlArg,
		s.channel, s.note(id), s.maxArg, len(chunks)})
	copy(args[12:], pieces)
	k := s.keys(id)
	last, err := s.runOneWrite(ctx, startScript, []string{k.s, k.x, s.idxKey}, args)
	s.hub.Notify(id) // also after an error: the write may have happened
	if err != nil {
		return 0, s.fail(ctx, op, id, err)
	}
	return sequenced(chunks, last, c.ExpectedVersion+1), nil
}

// EndRun commits c, appends chunks (the run's run_end, or a later run's
// run_start) with c.Fence and sets the stream's status, in one script:
// atomically, in one round trip ([store.RunEnder]). A refused commit (a
// stale fence, a conflict) writes nothing and its error wraps the sentinel
// Commit's would.
func (s *Store) EndRun(ctx context.Context, c store.Commit, chunks []helix.Chunk, status helix.StreamStatus) (int64, error) {
	const op = "end run"
	if err := s.check(ctx, op); err != nil {
		return 0, err
	}
	if err := c.Validate(); err != nil {
		return 0, fmt.Errorf("redisstore: %s: %w", op, err)
	}
	id := c.Session.ID
	if !store.ValidStreamStatus(status) {
		return 0, fmt.Errorf("redisstore: %s %q: invalid status %q", op, id, status)
	}
	pieces, err := chunkPieces(op, id, chunks)
	if err != nil {
		return 0, err
	}
	head := 5 + len(pieces)
	args, err := s.commitArgs(op, c, head)
	if err != nil {
		return 0, err
	}
	copy(args, []any{string(status), s.channel, s.note(id), s.maxArg, len(chunks)})
	copy(args[5:], pieces)
	last, err := s.runOneWrite(ctx, endRunScript, s.keys(id).both(), args)
	s.hub.Notify(id) // also after an error: the write may have happened
	if err != nil {
		return 0, s.fail(ctx, op, id, err)
	}
	return sequenced(chunks, last, c.ExpectedVersion+1), nil
}

// runOneWrite runs startScript or endRunScript and returns the last
// sequence it reports (it checked the version: the commit's).
func (s *Store) runOneWrite(ctx context.Context, sc *redis.Script, keys []string, args []any) (int64, error) {
	res, err := s.run(ctx, sc, keys, args...).Int64Slice()
	if err != nil {
		return 0, mapScriptError(err)
	}
	if len(res) != 2 {
		return 0, fmt.Errorf("the script returned %d values, want 2", len(res))
	}
	return res[1], nil
}

// sequenced sets the sequences of chunks, the last of which is last, and
// returns version.
func sequenced(chunks []helix.Chunk, last, version int64) int64 {
	first := last - int64(len(chunks)) + 1
	for i := range chunks {
		chunks[i].Sequence = first + int64(i)
	}
	return version
}

// note is this store's notification naming one session.
func (s *Store) note(id string) string {
	return s.origin + strconv.Itoa(len(id)) + ":" + id
}

// chunkPieces encodes chunks without their sequences, each in two pieces
// split where the script puts the sequence (see splitPoint).
func chunkPieces(op, id string, chunks []helix.Chunk) ([]any, error) {
	buf, offs, err := encodeSplit(op, id, nil, make([]int, 0, 2*len(chunks)+1), chunks)
	if err != nil {
		return nil, err
	}
	pieces := make([]any, 0, 2*len(chunks))
	for i := range chunks {
		pieces = append(pieces, buf[offs[2*i]:offs[2*i+1]], buf[offs[2*i+1]:offs[2*i+2]])
	}
	return pieces, nil
}
