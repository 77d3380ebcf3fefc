// Package sqlitestore is the embedded, durable implementation of
// [store.Store] on SQLite, through the pure-Go driver modernc.org/sqlite (no
// cgo). It is the default store of the helix CLI and server
// ("sqlite://./helix.db").
//
// # Files and connections
//
// A store is one database file (plus its -wal and -shm files) in WAL mode:
// readers never block the writer nor each other. The store keeps one
// writer (transactions serialized in the process, so writers never
// busy-wait on each other) and a small pool for reads. Every write is a
// transaction started with BEGIN IMMEDIATE, so two processes sharing the
// file take the write lock in turn (waiting up to the busy timeout) instead
// of failing half way.
//
// # Durability
//
// The default is synchronous=NORMAL: a transaction is acknowledged once it
// is in the write-ahead log, and the log is synced at checkpoints. That
// survives the process being killed at any moment (SIGKILL, a panic, an OOM
// kill) with every acknowledged write present and the database intact: the
// crash test in this package kills a writer dozens of times and checks just
// that. An operating-system crash or power loss may roll back the newest
// acknowledged transactions, never corrupt the file. Options.Synchronous
// "full" (URL "?synchronous=full") syncs the log on every commit and so
// survives power loss too, at a cost of one fsync per write.
//
// # Chunk appends
//
// AppendChunks calls are group-committed: a single writer goroutine takes
// every append waiting when it becomes free and writes them in one
// transaction, so many concurrent streams cost one commit between them.
// Each call still gets its own result: a stale fencing token or an unknown
// session fails that call alone. A commit writes all its chunks as one row
// of an insertion-ordered log, and a stream's chunks later move in bulk to
// per-stream segment rows (see chunklog.go and records.go), so a chunk
// costs SQLite its bytes, not a row.
//
// # Retention
//
// By default a stream keeps every chunk. With Options.MaxChunks (URL
// "?max_chunks=100000"), it keeps its newest MaxChunks: older ones are no
// longer read (ReadChunks, Subscribe and StreamInfo.FirstSequence agree on
// the window) and their segment rows are deleted as the stream grows, so a
// stream stores at most MaxChunks plus one segment. Sequences are never
// reused. (The Redis store caps streams by default; an embedded file keeps
// what it is given unless asked not to.)
//
// With Options.TTL (URL "?ttl=720h"), a session is deleted, with its
// messages, runs, checkpoints and chunks, once it has not been written for
// TTL (its creation, commits, stream status changes and control requests
// count; chunk appends do not), unless it is running with its stream
// active (a run in progress, or one a crash left for recovery). A sweep
// runs every TTL/10, between once a second and once a minute, deleting in
// batches of 100 sessions through the group commit.
//
// # Live tail
//
// Subscribe is woken directly by this store's own writes. Writes by other
// processes (or other Store values over the same file) are noticed through
// SQLite's data_version, which one goroutine polls (every 100 ms by
// default); one query per interval serves every subscriber.
//
// # Schema
//
// Tables are created and upgraded by numbered, forward-only migrations
// recorded in schema_migrations; applying them is idempotent and safe when
// several processes open the same file at once.
package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/helix-agents/helix-go/store"
	"github.com/helix-agents/helix-go/store/internal/periodic"
	"github.com/helix-agents/helix-go/store/internal/tail"
)

var _ store.Store = (*Store)(nil)

func init() {
	store.Register("sqlite", func(ctx context.Context, u *url.URL) (store.Store, error) {
		path, o, err := parseURL(u)
		if err != nil {
			return nil, err
		}
		return Open(ctx, path, o)
	})
}

// Options configure a store. The zero value is the default.
type Options struct {
	// Synchronous is SQLite's synchronous mode: "normal" (the default) or
	// "full". See the package doc for what each survives.
	Synchronous string
	// BusyTimeout is how long a write waits for another process holding
	// the write lock; 0 means 5 s.
	BusyTimeout time.Duration
	// ReadConns is the size of the read connection pool; 0 means 4.
	ReadConns int
	// PollInterval is how often the store checks for writes made by other
	// processes, to wake subscribers; 0 means 100 ms, a negative value
	// never (subscribers then only see this store's own writes at once,
	// and others' every 2 s).
	PollInterval time.Duration
	// MaxBatch bounds how many chunk appends one group commit takes; 0
	// means 1024.
	MaxBatch int
	// CommitInterval is the shortest time between the starts of two group
	// commits of chunk appends: appends that arrive meanwhile wait and
	// share the next commit. Each commit rewrites every page it touches
	// (one per busy stream), so under load a short wait saves far more CPU
	// than it costs latency. 0 means 2 ms; a negative value commits as
	// soon as the previous commit ends.
	CommitInterval time.Duration
	// MaxChunks, if positive, is how many of a stream's newest chunks it
	// keeps: older ones are no longer read (ReadChunks, Subscribe,
	// StreamInfo.FirstSequence) and their rows are deleted as the stream
	// grows. Sequences are never reused. 0 keeps every chunk; otherwise
	// it must be at least 64 (two segments' worth, and more than the
	// live-tail cache keeps of a stream, so that a subscriber is never
	// served a chunk that ReadChunks no longer returns).
	MaxChunks int
	// TTL, if positive, is how long a session is kept after its newest
	// write (its creation, a commit, a stream status change, a control
	// request; not a chunk append): then, unless it is running with its
	// stream active, it is deleted with its messages, runs, checkpoints
	// and chunks, by a sweep every TTL/10 (between 1 s and 1 min). 0 keeps
	// sessions for ever.
	TTL time.Duration
	// Logger receives background errors (the poller's); nil means
	// slog.Default().
	Logger *slog.Logger
}

// minMaxChunks is the smallest retention Options.MaxChunks accepts: the
// tail cache keeps at most this many chunks of a stream (tail.NewCache's
// default, twice 32).
const minMaxChunks = 64

// parseURL turns "sqlite://./helix.db?synchronous=full&busy_timeout=10s"
// into a path and options.
func parseURL(u *url.URL) (string, Options, error) {
	var o Options
	path := u.Opaque
	if path == "" {
		path = u.Host + u.Path
	}
	if path == "" {
		return "", o, errors.New("sqlitestore: URL names no database file (want sqlite://./helix.db or sqlite:///abs/path.db)")
	}
	for k, vs := range u.Query() {
		v := vs[len(vs)-1]
		var err error
		switch k {
		case "synchronous":
			o.Synchronous = v
		case "busy_timeout":
			o.BusyTimeout, err = time.ParseDuration(v)
		case "read_conns":
			o.ReadConns, err = strconv.Atoi(v)
		case "poll_interval":
			o.PollInterval, err = time.ParseDuration(v)
		case "max_batch":
			o.MaxBatch, err = strconv.Atoi(v)
		case "commit_interval":
			o.CommitInterval, err = time.ParseDuration(v)
		case "max_chunks":
			o.MaxChunks, err = strconv.Atoi(v)
		case "ttl":
			o.TTL, err = time.ParseDuration(v)
		default:
			return "", o, fmt.Errorf("sqlitestore: unknown URL parameter %q (known: synchronous, busy_timeout, read_conns, poll_interval, max_batch, commit_interval, max_chunks, ttl)", k)
		}
		if err != nil {
			return "", o, fmt.Errorf("sqlitestore: URL parameter %s=%q: not a valid value", k, v)
		}
	}
	return path, o, o.validate()
}

func (o *Options) validate() error {
	switch strings.ToLower(o.Synchronous) {
	case "":
		o.Synchronous = "normal"
	case "normal", "full":
		o.Synchronous = strings.ToLower(o.Synchronous)
	default:
		return fmt.Errorf("sqlitestore: synchronous %q: want normal or full", o.Synchronous)
	}
	if o.BusyTimeout < 0 || o.ReadConns < 0 || o.MaxBatch < 0 || o.MaxChunks < 0 || o.TTL < 0 {
		return errors.New("sqlitestore: busy timeout, read connections, max batch, max chunks and ttl must not be negative")
	}
	if o.MaxChunks > 0 && o.MaxChunks < minMaxChunks {
		return fmt.Errorf("sqlitestore: max chunks %d: want 0 (keep all) or at least %d", o.MaxChunks, minMaxChunks)
	}
	if o.BusyTimeout == 0 {
		o.BusyTimeout = 5 * time.Second
	}
	if o.ReadConns == 0 {
		o.ReadConns = 4
	}
	if o.PollInterval == 0 {
		o.PollInterval = 100 * time.Millisecond
	}
	if o.MaxBatch == 0 {
		o.MaxBatch = 1024
	}
	if o.CommitInterval == 0 {
		o.CommitInterval = 2 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return nil
}

// Store is a SQLite [store.Store]. Create one with [Open].
type Store struct {
	o   Options
	w   *sql.DB // every write, one transaction at a time (wmu)
	wmu sync.Mutex
	// wc is the connection of the group-commit writer, held for the
	// store's life so that its data_version reveals other connections'
	// commits (see appendState).
	wc      *conn
	r       *sql.DB   // reads
	readers *readPool // connections of r, held for the store's life
	hub     *tail.Hub
	// cache holds the newest chunks of live streams for subscribers. It
	// knows only this store's writes: the poller resets it when the
	// database changed while this store committed nothing.
	cache *tail.Cache
	// commits counts this store's successful group commits.
	commits atomic.Int64
	appq    chan *appendReq
	// qmu is held (shared) while a request is queued and (exclusively)
	// by Close while it marks the store closed (see Store.enqueue).
	qmu sync.RWMutex
	// appenderDone is closed when the group-commit writer has stopped.
	appenderDone chan struct{}
	// tails and dataVersion belong to the group-commit writer (see
	// appendState).
	tails       map[string]appendState
	dataVersion int64 // wc's data_version when tails was last valid; -1: unknown
	// Statements of the group-commit writer, prepared on the write
	// connection. insChunks[i] inserts insRows[i] chunks in one statement.
	selStream *sql.Stmt
	// insLog writes a group commit's log row; insSegs[i] writes insRows[i]
	// segments in one statement.
	insLog  *sql.Stmt
	insSegs [len(insRows)]*sql.Stmt
	// scratch is what a flush builds, kept for the next; the writer's.
	scratch flushScratch

	// The chunk log (see chunklog.go). owner names this store in the
	// log_owner row. pend, the pending chunks of each stream, is written
	// by the group-commit writer and read by anyone, under logMu; the
	// rest belongs to the writer.
	owner     string
	logMu     sync.Mutex
	pend      map[string]*pendEntry
	logNext   int64     // the next log row id
	logTrunc  int64     // log rows up to this id are deleted
	lastSweep time.Time // the last sweep of old pending chunks
	// sweepEvery and sweepAge are the constants of the same names;
	// guarded by wmu.
	sweepEvery, sweepAge time.Duration

	// lock is the lock file held (shared) while the store is open; nil
	// without one (see LockExclusive). lockMu serialises LockExclusive.
	lock   *os.File
	gate   *os.File // taken while converting the lock (see tryExclusive)
	lockMu sync.Mutex

	closed    atomic.Bool
	done      chan struct{} // closed by Close
	closeOnce sync.Once
	wg        sync.WaitGroup // background goroutines
}

// Open opens (creating if needed) the database file at path and brings its
// schema up to date.
func Open(ctx context.Context, path string, o Options) (*Store, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	dsn := func(write bool) string {
		q := url.Values{}
		q.Add("_pragma", "busy_timeout("+strconv.FormatInt(o.BusyTimeout.Milliseconds(), 10)+")")
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous("+o.Synchronous+")")
		q.Add("_pragma", "foreign_keys(ON)")
		// Statement journals (multi-row inserts) stay in memory instead of
		// temporary files, and the page cache holds the live streams' pages
		// (32 MiB; SQLite's default is 2 MiB).
		q.Add("_pragma", "temp_store(MEMORY)")
		q.Add("_pragma", "cache_size(-32768)")
		if write {
			q.Set("_txlock", "immediate")
		} else {
			q.Add("_pragma", "query_only(ON)")
		}
		return "file:" + path + "?" + q.Encode()
	}
	w, err := sql.Open("sqlite", dsn(true))
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: open %s: %w", path, err)
	}
	// Writes are serialized by wmu, on one connection, held (wc); a
	// second is left for anything else (tests' own statements).
	w.SetMaxOpenConns(2)
	w.SetMaxIdleConns(2)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := migrate(ctx, w); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlitestore: open %s: %w", path, err)
	}
	// Every store of the file holds a shared lock on the file beside it
	// while open (see LockExclusive). Without one (a directory it may not
	// write, a system without file locks) the store works, but never
	// vouches that it is alone.
	var lock, gate *os.File
	if name, ok := lockName(path); ok {
		if lock, err = openLock(name); err == nil {
			if gate, err = os.OpenFile(name+".gate", os.O_RDONLY|os.O_CREATE, 0o644); err != nil {
				closeLock(lock)
				lock = nil
			}
		}
		if err != nil {
			o.Logger.Warn("sqlitestore: no lock file; this store will never act as the database's only user", "path", name, "error", err)
		}
	}
	r, err := sql.Open("sqlite", dsn(false))
	if err != nil {
		w.Close()
		closeLock(lock)
		closeLock(gate)
		return nil, fmt.Errorf("sqlitestore: open %s: %w", path, err)
	}
	// The read pool holds ReadConns; the poller one more, and one is left
	// for anything else (tests' own queries).
	r.SetMaxOpenConns(o.ReadConns + 2)
	r.SetMaxIdleConns(o.ReadConns + 2)
	r.SetConnMaxIdleTime(0)
	s := &Store{o: o, w: w, r: r, hub: tail.NewHub(), cache: tail.NewCache(0, 0), appq: make(chan *appendReq, 1024),
		appenderDone: make(chan struct{}), done: make(chan struct{}), tails: map[string]appendState{}, dataVersion: -1,
		owner: newOwnerID(), pend: map[string]*pendEntry{}, sweepEvery: sweepEvery, sweepAge: sweepAge, scratch: newFlushScratch(),
		lock: lock, gate: gate}
	if err := s.openWriter(ctx); err != nil {
		r.Close()
		w.Close()
		closeLock(lock)
		closeLock(gate)
		return nil, fmt.Errorf("sqlitestore: open %s: %w", path, err)
	}
	if s.readers, err = newReadPool(ctx, r, o.ReadConns, s.done); err != nil {
		_ = s.wc.close()
		r.Close()
		w.Close()
		closeLock(lock)
		closeLock(gate)
		return nil, fmt.Errorf("sqlitestore: open %s: %w", path, err)
	}
	s.wg.Add(1)
	go s.appender()
	if o.TTL > 0 {
		s.wg.Add(1)
		go s.expireLoop()
	}
	if o.PollInterval > 0 {
		conn, err := r.Conn(ctx)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("sqlitestore: open %s: %w", path, err)
		}
		s.wg.Add(1)
		go s.poll(conn)
	}
	return s, nil
}

// openWriter takes the writer's connection (s.wc) and prepares the group
// commit's statements on it: at Open, and again after the connection was
// discarded (a ROLLBACK that failed left it in a state we do not know).
func (s *Store) openWriter(ctx context.Context) error {
	c, err := newConn(ctx, s.w)
	if err != nil {
		return err
	}
	for _, p := range []struct {
		stmt **sql.Stmt
		sql  string
	}{
		{&s.selStream, `SELECT sid, fence, ` + lastSeqOf + ` FROM sessions WHERE id = ?`},
		{&s.insLog, `INSERT INTO chunk_log (id, data) VALUES (?, ?)`},
		{&s.insSegs[0], insertRowsSQL("INSERT OR IGNORE", "chunk_segs", segCols, insRows[0])},
		{&s.insSegs[1], insertRowsSQL("INSERT OR IGNORE", "chunk_segs", segCols, insRows[1])},
		{&s.insSegs[2], insertRowsSQL("INSERT OR IGNORE", "chunk_segs", segCols, insRows[2])},
		{&s.insSegs[3], insertRowsSQL("INSERT OR IGNORE", "chunk_segs", segCols, insRows[3])},
	} {
		if *p.stmt, err = c.stmt(p.sql); err != nil {
			c.discard()
			return fmt.Errorf("preparing statements: %w", err)
		}
	}
	s.wc = c
	return nil
}

// Close stops the store's goroutines, ends open subscriptions with an error
// wrapping [store.ErrClosed] and closes the database. It is idempotent;
// every later call returns an error wrapping [store.ErrClosed].
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.qmu.Lock()
		s.closed.Store(true)
		s.qmu.Unlock()
		close(s.done)
		s.hub.Close(fmt.Errorf("sqlitestore: subscribe: %w", store.ErrClosed))
		s.wg.Wait()
		err = errors.Join(s.readers.close(), s.wc.close(), s.r.Close(), s.w.Close())
		closeLock(s.lock)
		closeLock(s.gate)
	})
	return err
}

// LockExclusive reports whether no other store (in any process) has the
// database open, and if so keeps it so until release is called: a store
// opening it meanwhile waits in Open. The stores of a file each hold a
// shared lock on the file beside it (PATH.lock) while open; this one turns
// its lock exclusive if it can. With ok true, a session the database says
// is running was left so by a process that is gone (a crash), and no other
// process can start one until release ([store.ExclusiveLocker]). Always
// false for an in-memory database, a URI path and where the lock file
// could not be used.
func (s *Store) LockExclusive() (release func(), ok bool) {
	if s.lock == nil {
		return nil, false
	}
	s.lockMu.Lock()
	if !tryExclusive(s.lock, s.gate) {
		s.lockMu.Unlock()
		return nil, false
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			shareLock(s.lock, s.gate)
			s.lockMu.Unlock()
		})
	}, true
}

// lockName is the lock file of the database file at path: the file SQLite
// opens (Open passes path in a URI, so %-escapes are decoded), with
// symbolic links resolved, and ".lock" appended; ok is false for an
// in-memory database or a URI.
func lockName(path string) (name string, ok bool) {
	if path == "" || strings.HasPrefix(path, ":memory:") || strings.HasPrefix(path, "file:") {
		return "", false
	}
	if p, err := url.PathUnescape(path); err == nil {
		path = p
	}
	if p, err := filepath.EvalSymlinks(path); err == nil {
		path = p
	}
	if p, err := filepath.Abs(path); err == nil {
		path = p
	}
	return path + ".lock", true
}

func closeLock(f *os.File) {
	if f != nil {
		_ = f.Close()
	}
}

// check returns ctx's error, unchanged, or an error wrapping ErrClosed.
func (s *Store) check(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return fmt.Errorf("sqlitestore: %s: %w", op, store.ErrClosed)
	}
	return nil
}

// fail turns a database error into the error a method returns: ctx's error
// if ctx is done, ErrClosed if the store closed meanwhile, the error itself
// (with the operation named) otherwise.
func (s *Store) fail(ctx context.Context, op, id string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if s.closed.Load() {
		return fmt.Errorf("sqlitestore: %s %q: %w", op, id, store.ErrClosed)
	}
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY {
		return fmt.Errorf("sqlitestore: %s %q: database busy (another process holds the write lock longer than the busy timeout): %w", op, id, err)
	}
	return fmt.Errorf("sqlitestore: %s %q: %w", op, id, err)
}

// notFound is the error for an unknown session.
func notFound(op, id string) error {
	return fmt.Errorf("sqlitestore: %s %q: %w", op, id, store.ErrNotFound)
}

func staleFence(op, id string, fence, newest uint64) error {
	return fmt.Errorf("sqlitestore: %s %q: token %d older than %d: %w", op, id, fence, newest, store.ErrStaleFence)
}

// poll watches data_version on a dedicated read connection and wakes every
// subscriber when another connection (another process, or this store's
// writer) committed.
func (s *Store) poll(conn *sql.Conn) {
	defer s.wg.Done()
	defer conn.Close()
	var last, ours int64
	periodic.Run(s.done, s.o.PollInterval, func() error {
		var v int64
		if err := conn.QueryRowContext(context.Background(), "PRAGMA data_version").Scan(&v); err != nil {
			return err
		}
		if v != last {
			last = v
			// A change while this store committed nothing was made by
			// another process: what the cache holds may be stale. (When
			// both wrote in the same interval, the writer tells the other
			// process's commit from its own by its connection's
			// data_version at the start of its next batch, and resets the
			// cache then.)
			if n := s.commits.Load(); n == ours {
				s.cache.Reset()
			} else {
				ours = n
			}
			s.hub.NotifyAll()
		}
		return nil
	}, func(err error) {
		s.o.Logger.Warn("sqlitestore: checking for writes by other processes failed", "error", err)
	})
}
