// Package memstore is the in-memory implementation of [store.Store].
//
// It keeps everything in process memory and loses it when the process ends.
// It is meant for tests, examples, benchmarks and single-process deployments
// that do not need durability. It passes the store/storetest conformance
// suite; stream retention (a cap on stored chunks) is not implemented, so a
// stream keeps every chunk until the store is closed.
//
// # Copies and sharing
//
// Session, run and checkpoint records are deep-copied on the way in and on
// the way out: the caller may change what it passed in or got back without
// affecting the store.
//
// Messages and chunks are copied by value, but the strings, byte slices,
// parts and pointers they hold are shared with the caller to keep appends
// cheap. A caller must therefore not modify a message or chunk (its Parts,
// File data, JSON payloads, Patches, Usage or Error) after handing it to the
// store, and must not modify the contents of messages and chunks it gets
// back. The slices returned ([]helix.Chunk, Page.Items) are always fresh and
// may be modified freely.
//
// # Concurrency
//
// A Store is safe for concurrent use. Each session has its own lock, so
// writers of different sessions do not contend; a read-write lock guards the
// session index. Subscribe starts no goroutine: a subscriber waits on a
// per-session channel that the store closes whenever a chunk is appended or
// the stream status changes.
package memstore

import (
	"cmp"
	"context"
	"fmt"
	"iter"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/llm"
	"github.com/helix-agents/helix-go/store"
)

var _ store.Store = (*Store)(nil)

func init() {
	// "memory://" opens a new, empty store each time.
	store.Register("memory", func(context.Context, *url.URL) (store.Store, error) { return New(), nil })
}

// defaultPageSize is the ListSessions page size when the query's Limit is
// not positive.
const defaultPageSize = 50

// segmentSize is the number of chunks per stream segment. Streams grow by
// whole segments so that a long stream never copies its chunks when it grows.
const segmentSize = 256

// subscribeBatch bounds how many chunks Subscribe copies per lock hold.
const subscribeBatch = 256

// Store is an in-memory [store.Store]. Create one with [New]; the zero value
// is not usable.
type Store struct {
	closed atomic.Bool
	// done is closed by Close; open subscriptions wait on it.
	done chan struct{}

	mu       sync.RWMutex // guards sessions
	sessions map[string]*session
}

// session holds everything stored for one session. id and createdAt never
// change after creation; mu guards the rest.
type session struct {
	id        string
	createdAt time.Time

	mu       sync.Mutex
	rec      *store.Session
	messages []llm.Message
	runs     []*store.Run
	runIndex map[string]int
	cps      []*store.Checkpoint
	cpIndex  map[string]int
	control  *store.ControlRequest
	fence    uint64 // newest fencing token issued

	status helix.StreamStatus
	last   int64           // last sequence assigned
	segs   [][]helix.Chunk // chunk with sequence n is segs[(n-1)/segmentSize][(n-1)%segmentSize]
	// changed is closed and cleared when the stream changes. It is created
	// lazily by the first waiting subscriber, so appends to a stream nobody
	// waits on allocate nothing for it.
	changed chan struct{}
}

// New returns an empty in-memory store.
func New() *Store {
	return &Store{
		done:     make(chan struct{}),
		sessions: make(map[string]*session),
	}
}

// Close releases the store's data and ends open subscriptions with an error
// wrapping [store.ErrClosed]. Every later call returns such an error. Close
// is idempotent and always returns nil.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return nil
	}
	s.closed.Store(true)
	close(s.done)
	s.sessions = nil
	return nil
}

// check returns ctx's error, unchanged, or an error wrapping ErrClosed.
func (s *Store) check(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return fmt.Errorf("memstore: %s: %w", op, store.ErrClosed)
	}
	return nil
}

// lookup returns the session with id, or an error wrapping ErrNotFound (or
// ErrClosed if the store was closed concurrently).
func (s *Store) lookup(op, id string) (*session, error) {
	s.mu.RLock()
	sess := s.sessions[id]
	closed := s.sessions == nil
	s.mu.RUnlock()
	if sess == nil {
		if closed {
			return nil, fmt.Errorf("memstore: %s %q: %w", op, id, store.ErrClosed)
		}
		return nil, fmt.Errorf("memstore: %s %q: %w", op, id, store.ErrNotFound)
	}
	return sess, nil
}

// enter combines check and lookup, the prologue of every per-session method.
func (s *Store) enter(ctx context.Context, op, id string) (*session, error) {
	if err := s.check(ctx, op); err != nil {
		return nil, err
	}
	return s.lookup(op, id)
}

func staleFence(op, id string, fence, newest uint64) error {
	return fmt.Errorf("memstore: %s %q: token %d older than %d: %w", op, id, fence, newest, store.ErrStaleFence)
}

// wake wakes the session's subscribers. The caller holds sess.mu.
func (sess *session) wake() {
	if sess.changed != nil {
		close(sess.changed)
		sess.changed = nil
	}
}

// CreateSession stores a copy of rec with Version 1 and an empty, active
// stream. A zero CreatedAt is set to the current time and a zero UpdatedAt
// to CreatedAt; rec itself is not modified. It fails with an error wrapping
// [store.ErrExists] if the id is taken.
func (s *Store) CreateSession(ctx context.Context, rec *store.Session) error {
	if err := s.check(ctx, "create session"); err != nil {
		return err
	}
	prepared, err := store.PrepareNewSession(rec, time.Now())
	if err != nil {
		return fmt.Errorf("memstore: create session: %w", err)
	}
	c := cloneSession(&prepared)
	sess := &session{
		id:        c.ID,
		createdAt: c.CreatedAt,
		rec:       c,
		status:    helix.StreamActive,
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sessions == nil {
		return fmt.Errorf("memstore: create session %q: %w", rec.ID, store.ErrClosed)
	}
	if _, ok := s.sessions[c.ID]; ok {
		return fmt.Errorf("memstore: create session %q: %w", rec.ID, store.ErrExists)
	}
	s.sessions[c.ID] = sess
	return nil
}

// GetSession returns a copy of the session or an error wrapping
// [store.ErrNotFound].
func (s *Store) GetSession(ctx context.Context, id string) (*store.Session, error) {
	sess, err := s.enter(ctx, "get session", id)
	if err != nil {
		return nil, err
	}
	sess.mu.Lock()
	defer sess.mu.Unlock()
	return cloneSession(sess.rec), nil
}

// Commit writes c atomically; see [store.Store.Commit]. The stored session
// keeps its original CreatedAt, and its UpdatedAt is set to the commit time.
// A checkpoint whose ID is already stored for the session fails the commit
// with an error wrapping [store.ErrExists]. Runs and checkpoints are stored
// with SessionID set to the committed session's ID.
func (s *Store) Commit(ctx context.Context, c store.Commit) (int64, error) {
	const op = "commit"
	sess, w, err := s.prepareCommit(ctx, op, c)
	if err != nil {
		return 0, err
	}
	sess.mu.Lock()
	defer sess.mu.Unlock()
	return w.apply(sess)
}

// EndRun is Commit(c), AppendChunks(chunks) and SetStreamStatus(status)
// under one hold of the session's lock ([store.RunEnder]): no reader sees
// one without the others. The runtime also starts a later run this way
// (status active).
func (s *Store) EndRun(ctx context.Context, c store.Commit, chunks []helix.Chunk, status helix.StreamStatus) (int64, error) {
	const op = "end run"
	sess, w, err := s.prepareCommit(ctx, op, c)
	if err != nil {
		return 0, err
	}
	if !store.ValidStreamStatus(status) {
		return 0, fmt.Errorf("memstore: %s %q: invalid status %q", op, c.Session.ID, status)
	}
	sess.mu.Lock()
	defer sess.mu.Unlock()
	v, err := w.apply(sess)
	if err != nil {
		return 0, err
	}
	sess.appendLocked(chunks)
	sess.status = status
	sess.wake()
	return v, nil
}

// commitWrite is a validated commit, its records copied, ready to apply.
type commitWrite struct {
	op  string
	c   store.Commit
	rec *store.Session
	run *store.Run
	cp  *store.Checkpoint
	now time.Time
}

// rewindCheckpoints drops the newest checkpoints while they count more
// than n messages (a session's checkpoints count more and more messages,
// so these are all of them); the caller holds sess.mu.
func (sess *session) rewindCheckpoints(n int) {
	for len(sess.cps) > 0 {
		last := sess.cps[len(sess.cps)-1]
		if last.MessageCount <= n {
			return
		}
		delete(sess.cpIndex, last.ID)
		sess.cps[len(sess.cps)-1] = nil
		sess.cps = sess.cps[:len(sess.cps)-1]
	}
}

// prepareCommit validates c and copies its records, outside the lock.
func (s *Store) prepareCommit(ctx context.Context, op string, c store.Commit) (*session, *commitWrite, error) {
	if err := s.check(ctx, op); err != nil {
		return nil, nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, nil, fmt.Errorf("memstore: %s: %w", op, err)
	}
	id := c.Session.ID
	sess, err := s.lookup(op, id)
	if err != nil {
		return nil, nil, err
	}
	rec := cloneSession(c.Session)
	var run *store.Run
	if c.Run != nil {
		run = cloneRun(c.Run)
		run.SessionID = id
	}
	var cp *store.Checkpoint
	if c.Checkpoint != nil {
		cp = cloneCheckpoint(c.Checkpoint)
		cp.SessionID = id
	}
	return sess, &commitWrite{op: op, c: c, rec: rec, run: run, cp: cp, now: time.Now()}, nil
}

// apply checks w against the session and stores it; the caller holds
// sess.mu. It returns the new version.
func (w *commitWrite) apply(sess *session) (int64, error) {
	op, c, rec, run, cp, now, id := w.op, w.c, w.rec, w.run, w.cp, w.now, w.c.Session.ID
	if c.Fence != 0 && c.Fence < sess.fence {
		return 0, staleFence(op, id, c.Fence, sess.fence)
	}
	if sess.rec.Version != c.ExpectedVersion {
		return 0, fmt.Errorf("memstore: commit %q: stored version %d, expected %d: %w",
			id, sess.rec.Version, c.ExpectedVersion, store.ErrConflict)
	}
	kept := len(sess.messages)
	if c.Rewind != nil {
		if c.Rewind.Messages > kept {
			return 0, fmt.Errorf("memstore: commit %q: rewind to %d messages, past the %d stored: %w",
				id, c.Rewind.Messages, kept, store.ErrConflict)
		}
		kept = c.Rewind.Messages
	}
	if want := kept + len(c.Messages); rec.MessageCount != want {
		return 0, fmt.Errorf("memstore: commit %q: message count %d, want %d stored + %d new: %w",
			id, rec.MessageCount, kept, len(c.Messages), store.ErrConflict)
	}
	if cp != nil {
		if _, ok := sess.cpIndex[cp.ID]; ok {
			return 0, fmt.Errorf("memstore: commit %q: checkpoint %q: %w", id, cp.ID, store.ErrExists)
		}
	}

	// Nothing below fails.
	rec.Version = c.ExpectedVersion + 1
	rec.CreatedAt = sess.rec.CreatedAt
	rec.UpdatedAt = now
	sess.rec = rec
	if c.Rewind != nil {
		clear(sess.messages[kept:]) // no message kept alive by the array
		sess.messages = sess.messages[:kept]
		sess.rewindCheckpoints(kept)
	}
	sess.messages = append(sess.messages, c.Messages...)
	if run != nil {
		if i, ok := sess.runIndex[run.ID]; ok {
			sess.runs[i] = run
		} else {
			if sess.runIndex == nil {
				sess.runIndex = make(map[string]int)
			}
			sess.runIndex[run.ID] = len(sess.runs)
			sess.runs = append(sess.runs, run)
		}
	}
	if cp != nil {
		if sess.cpIndex == nil {
			sess.cpIndex = make(map[string]int)
		}
		sess.cpIndex[cp.ID] = len(sess.cps)
		sess.cps = append(sess.cps, cp)
	}
	if c.ClearControl {
		sess.control = nil
	}
	return rec.Version, nil
}

// ListSessions returns copies of the sessions matching q, newest first:
// by CreatedAt descending, then by ID descending.
func (s *Store) ListSessions(ctx context.Context, q store.SessionQuery) (store.Page[*store.Session], error) {
	if err := s.check(ctx, "list sessions"); err != nil {
		return store.Page[*store.Session]{}, err
	}
	s.mu.RLock()
	all := make([]*session, 0, len(s.sessions))
	for _, sess := range s.sessions {
		all = append(all, sess)
	}
	s.mu.RUnlock()

	matched := make([]*store.Session, 0, len(all))
	for _, sess := range all {
		sess.mu.Lock()
		r := sess.rec
		if (q.Principal == "" || r.Principal == q.Principal) &&
			(q.AgentType == "" || r.AgentType == q.AgentType) &&
			(q.Status == "" || r.Status == q.Status) {
			matched = append(matched, r) // records are replaced, never mutated
		}
		sess.mu.Unlock()
	}
	slices.SortFunc(matched, func(a, b *store.Session) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(b.ID, a.ID)
	})
	limit := q.Limit
	if limit <= 0 {
		limit = defaultPageSize
	}
	lo, hi := window(len(matched), q.Offset, limit)
	items := make([]*store.Session, 0, hi-lo)
	for _, r := range matched[lo:hi] {
		items = append(items, cloneSession(r))
	}
	return store.Page[*store.Session]{Items: items, Total: len(matched), HasMore: hi < len(matched)}, nil
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

// ListMessages returns messages [offset, offset+limit) of a session; a
// limit <= 0 means all messages from offset, and an offset past the end
// gives an empty page. The messages share their contents with the store
// (see the package doc).
func (s *Store) ListMessages(ctx context.Context, sessionID string, offset, limit int) (store.Page[llm.Message], error) {
	sess, err := s.enter(ctx, "list messages", sessionID)
	if err != nil {
		return store.Page[llm.Message]{}, err
	}
	sess.mu.Lock()
	defer sess.mu.Unlock()
	n := len(sess.messages)
	lo, hi := window(n, offset, limit)
	return store.Page[llm.Message]{
		Items:   append([]llm.Message{}, sess.messages[lo:hi]...),
		Total:   n,
		HasMore: hi < n,
	}, nil
}

// GetRun returns a copy of one run, or an error wrapping
// [store.ErrNotFound] if the session or the run does not exist.
func (s *Store) GetRun(ctx context.Context, sessionID, runID string) (*store.Run, error) {
	sess, err := s.enter(ctx, "get run", sessionID)
	if err != nil {
		return nil, err
	}
	sess.mu.Lock()
	defer sess.mu.Unlock()
	i, ok := sess.runIndex[runID]
	if !ok {
		return nil, fmt.Errorf("memstore: get run %q of session %q: %w", runID, sessionID, store.ErrNotFound)
	}
	return cloneRun(sess.runs[i]), nil
}

// ListRuns returns copies of all runs of a session in the order they were
// first stored (oldest first).
func (s *Store) ListRuns(ctx context.Context, sessionID string) ([]*store.Run, error) {
	sess, err := s.enter(ctx, "list runs", sessionID)
	if err != nil {
		return nil, err
	}
	sess.mu.Lock()
	defer sess.mu.Unlock()
	runs := make([]*store.Run, len(sess.runs))
	for i, r := range sess.runs {
		runs[i] = cloneRun(r)
	}
	return runs, nil
}

// GetCheckpoint returns a copy of one checkpoint, or an error wrapping
// [store.ErrNotFound].
func (s *Store) GetCheckpoint(ctx context.Context, sessionID, id string) (*store.Checkpoint, error) {
	sess, err := s.enter(ctx, "get checkpoint", sessionID)
	if err != nil {
		return nil, err
	}
	sess.mu.Lock()
	defer sess.mu.Unlock()
	i, ok := sess.cpIndex[id]
	if !ok {
		return nil, fmt.Errorf("memstore: get checkpoint %q of session %q: %w", id, sessionID, store.ErrNotFound)
	}
	return cloneCheckpoint(sess.cps[i]), nil
}

// LatestCheckpoint returns a copy of the newest checkpoint of a session, or
// an error wrapping [store.ErrNotFound] if the session has none.
func (s *Store) LatestCheckpoint(ctx context.Context, sessionID string) (*store.Checkpoint, error) {
	sess, err := s.enter(ctx, "latest checkpoint", sessionID)
	if err != nil {
		return nil, err
	}
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if len(sess.cps) == 0 {
		return nil, fmt.Errorf("memstore: latest checkpoint of session %q: %w", sessionID, store.ErrNotFound)
	}
	return cloneCheckpoint(sess.cps[len(sess.cps)-1]), nil
}

// ListCheckpoints returns checkpoints [offset, offset+limit) of a session,
// oldest first; a limit <= 0 means all from offset.
func (s *Store) ListCheckpoints(ctx context.Context, sessionID string, offset, limit int) (store.Page[*store.Checkpoint], error) {
	sess, err := s.enter(ctx, "list checkpoints", sessionID)
	if err != nil {
		return store.Page[*store.Checkpoint]{}, err
	}
	sess.mu.Lock()
	defer sess.mu.Unlock()
	n := len(sess.cps)
	lo, hi := window(n, offset, limit)
	items := make([]*store.Checkpoint, 0, hi-lo)
	for _, cp := range sess.cps[lo:hi] {
		items = append(items, cloneCheckpoint(cp))
	}
	return store.Page[*store.Checkpoint]{Items: items, Total: n, HasMore: hi < n}, nil
}

// RequestControl records a durable interrupt or abort request. An abort
// replaces a pending interrupt; an interrupt leaves a pending abort in place
// (and returns nil); a request of the same kind replaces the pending one. A
// zero RequestedAt is set to the current time.
func (s *Store) RequestControl(ctx context.Context, sessionID string, r store.ControlRequest) error {
	const op = "request control"
	r, err := store.PrepareControlRequest(r, time.Now())
	if err != nil {
		if err := s.check(ctx, op); err != nil {
			return err
		}
		return fmt.Errorf("memstore: %s %q: %w", op, sessionID, err)
	}
	sess, err := s.enter(ctx, op, sessionID)
	if err != nil {
		return err
	}
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if sess.control != nil && sess.control.Kind == store.ControlAbort && r.Kind == store.ControlInterrupt {
		return nil
	}
	sess.control = &r
	return nil
}

// GetControl returns a copy of the pending control request, or nil, nil if
// there is none.
func (s *Store) GetControl(ctx context.Context, sessionID string) (*store.ControlRequest, error) {
	sess, err := s.enter(ctx, "get control", sessionID)
	if err != nil {
		return nil, err
	}
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if sess.control == nil {
		return nil, nil
	}
	c := *sess.control
	return &c, nil
}

// NextFence issues the session's next fencing token: 1, 2, 3, …
func (s *Store) NextFence(ctx context.Context, sessionID string) (uint64, error) {
	sess, err := s.enter(ctx, "next fence", sessionID)
	if err != nil {
		return 0, err
	}
	sess.mu.Lock()
	defer sess.mu.Unlock()
	sess.fence++
	return sess.fence, nil
}

// AppendChunks appends chunks to the session's stream and returns the last
// sequence assigned (the current last sequence if chunks is empty). Each
// chunk's Sequence is set in place in the caller's slice. Chunks can be
// appended whatever the stream status. The chunks' contents are shared with
// the store (see the package doc).
func (s *Store) AppendChunks(ctx context.Context, sessionID string, fence uint64, chunks []helix.Chunk) (int64, error) {
	const op = "append chunks"
	sess, err := s.enter(ctx, op, sessionID)
	if err != nil {
		return 0, err
	}
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if fence != 0 && fence < sess.fence {
		return 0, staleFence(op, sessionID, fence, sess.fence)
	}
	if len(chunks) == 0 {
		return sess.last, nil
	}
	sess.appendLocked(chunks)
	sess.wake()
	return sess.last, nil
}

// appendLocked appends chunks, setting their sequences; the caller holds
// sess.mu and wakes the subscribers.
func (sess *session) appendLocked(chunks []helix.Chunk) {
	for i := range chunks {
		sess.last++
		chunks[i].Sequence = sess.last
	}
	rest := chunks
	for len(rest) > 0 {
		n := len(sess.segs)
		if n == 0 || len(sess.segs[n-1]) == segmentSize {
			sess.segs = append(sess.segs, make([]helix.Chunk, 0, segmentSize))
			n++
		}
		seg := sess.segs[n-1]
		k := min(len(rest), segmentSize-len(seg))
		sess.segs[n-1] = append(seg, rest[:k]...)
		rest = rest[k:]
	}
}

// appendAfter appends to dst up to limit stored chunks with sequence > after
// (limit <= 0: all). The caller holds sess.mu.
func (sess *session) appendAfter(dst []helix.Chunk, after int64, limit int) []helix.Chunk {
	after = max(after, 0)
	if after >= sess.last {
		return dst
	}
	n := sess.last - after
	if limit > 0 && int64(limit) < n {
		n = int64(limit)
	}
	for i := after; n > 0; {
		seg := sess.segs[i/segmentSize][i%segmentSize:]
		seg = seg[:min(int64(len(seg)), n)]
		dst = append(dst, seg...)
		i += int64(len(seg))
		n -= int64(len(seg))
	}
	return dst
}

// ReadChunks returns up to limit chunks with sequence > after (limit <= 0:
// all), in a fresh slice.
func (s *Store) ReadChunks(ctx context.Context, sessionID string, after int64, limit int) ([]helix.Chunk, error) {
	sess, err := s.enter(ctx, "read chunks", sessionID)
	if err != nil {
		return nil, err
	}
	sess.mu.Lock()
	defer sess.mu.Unlock()
	n := sess.last - max(after, 0)
	if limit > 0 {
		n = min(n, int64(limit))
	}
	return sess.appendAfter(make([]helix.Chunk, 0, max(n, 0)), after, limit), nil
}

// SetStreamStatus sets the stream's status and wakes its subscribers.
func (s *Store) SetStreamStatus(ctx context.Context, sessionID string, fence uint64, status helix.StreamStatus) error {
	const op = "set stream status"
	if !store.ValidStreamStatus(status) {
		if err := s.check(ctx, op); err != nil {
			return err
		}
		return fmt.Errorf("memstore: %s %q: invalid status %q", op, sessionID, status)
	}
	sess, err := s.enter(ctx, op, sessionID)
	if err != nil {
		return err
	}
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if fence != 0 && fence < sess.fence {
		return staleFence(op, sessionID, fence, sess.fence)
	}
	if sess.status != status {
		sess.status = status
		sess.wake()
	}
	return nil
}

// StreamInfo returns the stream's status and its first and last
// sequences.
func (s *Store) StreamInfo(ctx context.Context, sessionID string) (store.StreamInfo, error) {
	sess, err := s.enter(ctx, "stream info", sessionID)
	if err != nil {
		return store.StreamInfo{}, err
	}
	sess.mu.Lock()
	defer sess.mu.Unlock()
	info := store.StreamInfo{Status: sess.status, LastSequence: sess.last}
	if sess.last > 0 {
		info.FirstSequence = 1
	}
	return info, nil
}

// Subscribe yields every chunk with sequence > after, then live chunks as
// they are appended, with no gap and no duplicate. It ends without error
// once it has yielded every chunk and the stream status is not active; with
// ctx's error (unwrapped) when ctx is done; and with an error wrapping
// [store.ErrClosed] when the store is closed. An unknown session yields an
// error wrapping [store.ErrNotFound]. Subscribe starts no goroutine; the
// consumer may stop at any time.
func (s *Store) Subscribe(ctx context.Context, sessionID string, after int64) iter.Seq2[helix.Chunk, error] {
	return func(yield func(helix.Chunk, error) bool) {
		const op = "subscribe"
		sess, err := s.enter(ctx, op, sessionID)
		if err != nil {
			yield(helix.Chunk{}, err)
			return
		}
		next := max(after, 0)
		var buf []helix.Chunk
		for {
			if err := s.check(ctx, op); err != nil {
				yield(helix.Chunk{}, err)
				return
			}
			sess.mu.Lock()
			buf = sess.appendAfter(buf[:0], next, subscribeBatch)
			var wait chan struct{}
			if len(buf) == 0 {
				if sess.status != helix.StreamActive {
					sess.mu.Unlock()
					return
				}
				if sess.changed == nil {
					sess.changed = make(chan struct{})
				}
				wait = sess.changed
			}
			sess.mu.Unlock()

			for i := range buf {
				select {
				case <-ctx.Done():
					yield(helix.Chunk{}, ctx.Err())
					return
				default:
				}
				if !yield(buf[i], nil) {
					return
				}
				next = buf[i].Sequence
			}
			if wait == nil {
				continue
			}
			select {
			case <-wait:
			case <-ctx.Done():
				yield(helix.Chunk{}, ctx.Err())
				return
			case <-s.done:
				yield(helix.Chunk{}, fmt.Errorf("memstore: %s %q: %w", op, sessionID, store.ErrClosed))
				return
			}
		}
	}
}
