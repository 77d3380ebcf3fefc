package redisstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/helix-agents/helix-go/llm"
	"github.com/helix-agents/helix-go/store"
)

// defaultPageSize is the ListSessions page size when the query's Limit is
// not positive.
const defaultPageSize = 50

// listBatch is how many sessions ListSessions looks up per round trip.
const listBatch = 512

func notFound(op, id string) error {
	return fmt.Errorf("redisstore: %s %q: %w", op, id, store.ErrNotFound)
}

// CreateSession stores rec with Version 1 and an empty, active stream. A
// zero CreatedAt is set to the current time and a zero UpdatedAt to
// CreatedAt; rec itself is not modified. It fails with an error wrapping
// [store.ErrExists] if the id is taken.
func (s *Store) CreateSession(ctx context.Context, rec *store.Session) error {
	const op = "create session"
	if err := s.check(ctx, op); err != nil {
		return err
	}
	c, err := store.PrepareNewSession(rec, time.Now())
	if err != nil {
		return fmt.Errorf("redisstore: create session: %w", err)
	}
	data, err := json.Marshal(&c)
	if err != nil {
		return fmt.Errorf("redisstore: %s %q: encoding: %w", op, c.ID, err)
	}
	k := s.keys(c.ID)
	err = s.run(ctx, createScript, []string{k.s, k.x, s.idxKey},
		data, c.CreatedAt.Format(time.RFC3339Nano), c.CreatedAt.UnixMilli(), c.ID,
		c.Principal, c.AgentType, string(c.Status), s.ttlArg).Err()
	if err != nil {
		return s.fail(ctx, op, c.ID, err)
	}
	return nil
}

// decodeSession builds a session from its hash fields "rec", "v" and "ca"
// as HMGET returns them. The stored version and creation time override
// those in the record (Commit does not know them when it encodes it).
func decodeSession(rec, v, ca any) (*store.Session, error) {
	r, _ := rec.(string)
	vs, _ := v.(string)
	cs, _ := ca.(string)
	var sess store.Session
	if err := json.Unmarshal([]byte(r), &sess); err != nil {
		return nil, fmt.Errorf("decoding session: %w", err)
	}
	var err error
	if sess.Version, err = strconv.ParseInt(vs, 10, 64); err != nil {
		return nil, fmt.Errorf("decoding session version %q: %w", vs, err)
	}
	if sess.CreatedAt, err = time.Parse(time.RFC3339Nano, cs); err != nil {
		return nil, fmt.Errorf("decoding session creation time: %w", err)
	}
	return &sess, nil
}

// GetSession returns the session or an error wrapping
// [store.ErrNotFound].
func (s *Store) GetSession(ctx context.Context, id string) (*store.Session, error) {
	const op = "get session"
	if err := s.check(ctx, op); err != nil {
		return nil, err
	}
	vals, err := s.client.HMGet(ctx, s.keys(id).s, "rec", "v", "ca").Result()
	if err != nil {
		return nil, s.fail(ctx, op, id, err)
	}
	if vals[0] == nil {
		return nil, notFound(op, id)
	}
	sess, err := decodeSession(vals[0], vals[1], vals[2])
	if err != nil {
		return nil, fmt.Errorf("redisstore: %s %q: %w", op, id, err)
	}
	return sess, nil
}

// Commit writes c atomically in one script; see [store.Store.Commit]. The
// stored session keeps its original CreatedAt, and its UpdatedAt is set to
// the commit time. A checkpoint whose ID is already stored for the session
// fails the commit with an error wrapping [store.ErrExists]. Runs and
// checkpoints are stored with SessionID set to the committed session's ID.
func (s *Store) Commit(ctx context.Context, c store.Commit) (int64, error) {
	const op = "commit"
	if err := s.check(ctx, op); err != nil {
		return 0, err
	}
	if err := c.Validate(); err != nil {
		return 0, fmt.Errorf("redisstore: commit: %w", err)
	}
	args, err := s.commitArgs(op, c, 0)
	if err != nil {
		return 0, err
	}
	id := c.Session.ID
	v, err := s.run(ctx, commitScript, s.keys(id).both(), args...).Int64()
	if err != nil {
		return 0, s.fail(ctx, op, id, err)
	}
	return v, nil
}

// commitArgs returns commitLua's arguments for c, after extra
// arguments that come first (their places are left nil).
func (s *Store) commitArgs(op string, c store.Commit, extra int) ([]any, error) {
	id := c.Session.ID
	rec := *c.Session
	rec.Version = c.ExpectedVersion + 1
	rec.UpdatedAt = time.Now()
	data, err := json.Marshal(&rec)
	if err != nil {
		return nil, fmt.Errorf("redisstore: %s %q: encoding session: %w", op, id, err)
	}
	all := make([]any, extra+14, extra+14+len(c.Messages))
	args := all[extra:]
	args[0] = strconv.FormatUint(c.Fence, 10)
	args[1] = strconv.FormatInt(c.ExpectedVersion, 10)
	args[2] = rec.MessageCount
	args[3] = data
	args[4], args[5], args[6] = rec.Principal, rec.AgentType, string(rec.Status)
	args[7], args[8], args[9], args[10] = "", "", "", ""
	if c.Run != nil {
		r := *c.Run
		r.SessionID = id
		b, err := json.Marshal(&r)
		if err != nil {
			return nil, fmt.Errorf("redisstore: %s %q: encoding run: %w", op, id, err)
		}
		args[7], args[8] = r.ID, b
	}
	if c.Checkpoint != nil {
		cp := *c.Checkpoint
		cp.SessionID = id
		b, err := json.Marshal(&cp)
		if err != nil {
			return nil, fmt.Errorf("redisstore: %s %q: encoding checkpoint: %w", op, id, err)
		}
		args[9], args[10] = cp.ID, b
	}
	args[11] = "0"
	if c.ClearControl {
		args[11] = "1"
	}
	args[12] = s.ttlArg
	args[13] = ""
	if c.Rewind != nil {
		args[13] = strconv.Itoa(c.Rewind.Messages)
	}
	for i := range c.Messages {
		b, err := json.Marshal(&c.Messages[i])
		if err != nil {
			return nil, fmt.Errorf("redisstore: %s %q: encoding message %d: %w", op, id, i, err)
		}
		all = append(all, b)
	}
	return all, nil
}

// ListSessions returns the sessions matching q, newest first: by CreatedAt
// descending (at millisecond precision), then by ID descending. It reads
// the filter fields of every indexed session (in pipelined batches), so
// its cost grows with the number of sessions stored under the prefix.
// Index members of expired sessions are removed on the way.
func (s *Store) ListSessions(ctx context.Context, q store.SessionQuery) (store.Page[*store.Session], error) {
	const op = "list sessions"
	var page store.Page[*store.Session]
	if err := s.check(ctx, op); err != nil {
		return page, err
	}
	fail := func(err error) (store.Page[*store.Session], error) {
		return page, s.fail(ctx, op, "", err)
	}
	// Equal scores come in descending member order: ID descending.
	ids, err := s.client.ZRevRange(ctx, s.idxKey, 0, -1).Result()
	if err != nil {
		return fail(err)
	}
	var matched, stale []string
	cmds := make([]*redis.SliceCmd, 0, min(len(ids), listBatch))
	for start := 0; start < len(ids); start += listBatch {
		batch := ids[start:min(start+listBatch, len(ids))]
		cmds = cmds[:0]
		pipe := s.client.Pipeline()
		for _, id := range batch {
			cmds = append(cmds, pipe.HMGet(ctx, s.keys(id).s, "p", "a", "s"))
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return fail(err)
		}
		for i, c := range cmds {
			v := c.Val()
			p, ok1 := v[0].(string)
			a, ok2 := v[1].(string)
			st, ok3 := v[2].(string)
			if !ok1 || !ok2 || !ok3 {
				stale = append(stale, batch[i])
				continue
			}
			if (q.Principal == "" || p == q.Principal) &&
				(q.AgentType == "" || a == q.AgentType) &&
				(q.Status == "" || st == string(q.Status)) {
				matched = append(matched, batch[i])
			}
		}
	}
	if len(stale) > 0 {
		s.prune(ctx, stale)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = defaultPageSize
	}
	lo, hi := window(len(matched), q.Offset, limit)
	page.Total = len(matched)
	page.HasMore = hi < len(matched)
	page.Items = make([]*store.Session, 0, hi-lo)
	if hi == lo {
		return page, nil
	}
	pipe := s.client.Pipeline()
	recs := make([]*redis.SliceCmd, 0, hi-lo)
	for _, id := range matched[lo:hi] {
		recs = append(recs, pipe.HMGet(ctx, s.keys(id).s, "rec", "v", "ca"))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fail(err)
	}
	for i, c := range recs {
		v := c.Val()
		if v[0] == nil {
			continue // expired since it was matched
		}
		sess, err := decodeSession(v[0], v[1], v[2])
		if err != nil {
			return page, fmt.Errorf("redisstore: %s: session %q: %w", op, matched[lo+i], err)
		}
		page.Items = append(page.Items, sess)
	}
	return page, nil
}

// prune removes index members whose session no longer exists (checking
// again atomically, so that a session created meanwhile stays listed).
// Failures are only logged: the members are tried again next time.
func (s *Store) prune(ctx context.Context, ids []string) {
	for start := 0; start < len(ids); start += listBatch {
		batch := ids[start:min(start+listBatch, len(ids))]
		keys := make([]string, 0, len(batch)+1)
		keys = append(keys, s.idxKey)
		args := make([]any, len(batch))
		for i, id := range batch {
			keys = append(keys, s.keys(id).s)
			args[i] = id
		}
		if err := s.run(ctx, pruneScript, keys, args...).Err(); err != nil {
			if ctx.Err() == nil {
				s.o.Logger.Warn("redisstore: removing expired sessions from the index failed", "error", err)
			}
			return
		}
	}
}

// window returns the bounds of the page [offset, offset+limit) of n items,
// clamped to [0, n]. A limit <= 0 means everything from offset.
func window(n, offset, limit int) (lo, hi int) {
	lo = min(max(offset, 0), n)
	hi = n
	if limit > 0 && limit < n-lo {
		hi = lo + limit
	}
	return lo, hi
}

// page reads the item count and the items [offset, offset+limit) (limit
// <= 0: all from offset) of one of a session's sequences: messages
// ("mc", "m:"), runs ("rc", "r:") or checkpoints ("cc", "c:").
func (s *Store) page(ctx context.Context, sessionID, countField, prefix string, offset, limit int) (items []string, total int, err error) {
	res, err := s.runRead(ctx, pageScript, []string{s.keys(sessionID).s}, countField, prefix, max(offset, 0), max(limit, 0)).Slice()
	if err != nil {
		return nil, 0, err
	}
	n, ok := res[0].(int64)
	if !ok {
		return nil, 0, fmt.Errorf("unexpected reply %T", res[0])
	}
	items = make([]string, len(res)-1)
	for i, v := range res[1:] {
		if items[i], ok = v.(string); !ok {
			return nil, 0, fmt.Errorf("item %d of %s is missing", offset+i, countField)
		}
	}
	return items, int(n), nil
}

// ListMessages returns messages [offset, offset+limit) of a session; a
// limit <= 0 means all messages from offset, and an offset past the end
// gives an empty page.
func (s *Store) ListMessages(ctx context.Context, sessionID string, offset, limit int) (store.Page[llm.Message], error) {
	const op = "list messages"
	var page store.Page[llm.Message]
	if err := s.check(ctx, op); err != nil {
		return page, err
	}
	items, total, err := s.page(ctx, sessionID, "mc", "m:", offset, limit)
	if err != nil {
		return page, s.fail(ctx, op, sessionID, err)
	}
	page.Items = make([]llm.Message, len(items))
	for i, it := range items {
		if err := json.Unmarshal([]byte(it), &page.Items[i]); err != nil {
			return store.Page[llm.Message]{}, fmt.Errorf("redisstore: %s %q: decoding message: %w", op, sessionID, err)
		}
	}
	page.Total = total
	page.HasMore = max(offset, 0)+len(items) < total
	return page, nil
}

// GetRun returns one run, or an error wrapping [store.ErrNotFound] if the
// session or the run does not exist.
func (s *Store) GetRun(ctx context.Context, sessionID, runID string) (*store.Run, error) {
	const op = "get run"
	if err := s.check(ctx, op); err != nil {
		return nil, err
	}
	data, err := s.runRead(ctx, itemScript, []string{s.keys(sessionID).s}, "r:", "ri:"+runID).Text()
	if err != nil {
		return nil, s.fail(ctx, op, sessionID, err)
	}
	var r store.Run
	if err := json.Unmarshal([]byte(data), &r); err != nil {
		return nil, fmt.Errorf("redisstore: %s %q: decoding run: %w", op, sessionID, err)
	}
	return &r, nil
}

// ListRuns returns all runs of a session in the order they were first
// stored (oldest first).
func (s *Store) ListRuns(ctx context.Context, sessionID string) ([]*store.Run, error) {
	const op = "list runs"
	if err := s.check(ctx, op); err != nil {
		return nil, err
	}
	items, _, err := s.page(ctx, sessionID, "rc", "r:", 0, 0)
	if err != nil {
		return nil, s.fail(ctx, op, sessionID, err)
	}
	runs := make([]*store.Run, len(items))
	for i, it := range items {
		runs[i] = new(store.Run)
		if err := json.Unmarshal([]byte(it), runs[i]); err != nil {
			return nil, fmt.Errorf("redisstore: %s %q: decoding run: %w", op, sessionID, err)
		}
	}
	return runs, nil
}

// GetCheckpoint returns one checkpoint, or an error wrapping
// [store.ErrNotFound].
func (s *Store) GetCheckpoint(ctx context.Context, sessionID, id string) (*store.Checkpoint, error) {
	const op = "get checkpoint"
	if err := s.check(ctx, op); err != nil {
		return nil, err
	}
	data, err := s.runRead(ctx, itemScript, []string{s.keys(sessionID).s}, "c:", "ci:"+id).Text()
	if err != nil {
		return nil, s.fail(ctx, op, sessionID, err)
	}
	return decodeCheckpoint(op, sessionID, data)
}

func decodeCheckpoint(op, sessionID, data string) (*store.Checkpoint, error) {
	var cp store.Checkpoint
	if err := json.Unmarshal([]byte(data), &cp); err != nil {
		return nil, fmt.Errorf("redisstore: %s %q: decoding checkpoint: %w", op, sessionID, err)
	}
	return &cp, nil
}

// LatestCheckpoint returns the newest checkpoint of a session, or an error
// wrapping [store.ErrNotFound] if the session has none.
func (s *Store) LatestCheckpoint(ctx context.Context, sessionID string) (*store.Checkpoint, error) {
	const op = "latest checkpoint"
	if err := s.check(ctx, op); err != nil {
		return nil, err
	}
	data, err := s.runRead(ctx, itemScript, []string{s.keys(sessionID).s}, "c:", "cc", "latest").Text()
	if err != nil {
		return nil, s.fail(ctx, op, sessionID, err)
	}
	return decodeCheckpoint(op, sessionID, data)
}

// ListCheckpoints returns checkpoints [offset, offset+limit) of a session,
// oldest first; a limit <= 0 means all from offset.
func (s *Store) ListCheckpoints(ctx context.Context, sessionID string, offset, limit int) (store.Page[*store.Checkpoint], error) {
	const op = "list checkpoints"
	var page store.Page[*store.Checkpoint]
	if err := s.check(ctx, op); err != nil {
		return page, err
	}
	items, total, err := s.page(ctx, sessionID, "cc", "c:", offset, limit)
	if err != nil {
		return page, s.fail(ctx, op, sessionID, err)
	}
	page.Items = make([]*store.Checkpoint, len(items))
	for i, it := range items {
		if page.Items[i], err = decodeCheckpoint(op, sessionID, it); err != nil {
			return store.Page[*store.Checkpoint]{}, err
		}
	}
	page.Total = total
	page.HasMore = max(offset, 0)+len(items) < total
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
		return fmt.Errorf("redisstore: %s %q: %w", op, sessionID, err)
	}
	data, err := json.Marshal(&r)
	if err != nil {
		return fmt.Errorf("redisstore: %s %q: encoding: %w", op, sessionID, err)
	}
	if err := s.run(ctx, controlScript, s.keys(sessionID).both(), string(r.Kind), data, s.ttlArg).Err(); err != nil {
		return s.fail(ctx, op, sessionID, err)
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
	vals, err := s.client.HMGet(ctx, s.keys(sessionID).s, "v", "ctl").Result()
	if err != nil {
		return nil, s.fail(ctx, op, sessionID, err)
	}
	if vals[0] == nil {
		return nil, notFound(op, sessionID)
	}
	data, ok := vals[1].(string)
	if !ok {
		return nil, nil
	}
	var r store.ControlRequest
	if err := json.Unmarshal([]byte(data), &r); err != nil {
		return nil, fmt.Errorf("redisstore: %s %q: decoding: %w", op, sessionID, err)
	}
	return &r, nil
}

// NextFence issues the session's next fencing token: 1, 2, 3, …
func (s *Store) NextFence(ctx context.Context, sessionID string) (uint64, error) {
	const op = "next fence"
	if err := s.check(ctx, op); err != nil {
		return 0, err
	}
	f, err := s.run(ctx, fenceScript, s.keys(sessionID).both(), s.ttlArg).Uint64()
	if err != nil {
		return 0, s.fail(ctx, op, sessionID, err)
	}
	return f, nil
}
