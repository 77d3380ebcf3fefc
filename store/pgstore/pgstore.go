// Package pgstore is the PostgreSQL implementation of [store.Store], on
// github.com/jackc/pgx/v5 and its connection pool, pgxpool. Several
// processes (or several Store values) may share one database: fencing
// tokens, versions, sequences and live tails work across all of them.
//
// Open it with a URL ("postgres://user@host:5432/db?sslmode=disable&schema=helix",
// also through [store.Open] once this package is imported), or hand [New] a
// pool you configured yourself.
//
// # Tables
//
// Everything lives in one schema ("helix" by default, created if missing;
// see Options.Schema), so several deployments can share a database:
//
//   - sessions: one row per session. The record itself is a JSON document
//     (column record); the columns the store queries or updates atomically
//     sit next to it: principal, agent_type, status, created_at,
//     updated_at, version (compare-and-set), n_messages, n_checkpoints and
//     the pending control request. Indexes on (created_at, id) and
//     (principal, created_at, id), both descending, serve ListSessions.
//   - streams: one narrow row per session with what changes on every
//     append: the stream's last sequence and status, and the newest
//     fencing token. Keeping it apart from the wide sessions row makes an
//     append rewrite (and log) a few dozen bytes, not the whole record.
//   - messages (session_id, idx), runs (session_id, id; ord keeps insertion
//     order) and checkpoints (session_id, id; ord) hold one JSON document
//     each.
//   - chunks (session_id, seq): one row per stream chunk, holding its wire
//     JSON (see helix.Chunk.MarshalJSON) without the sequence, which is the
//     row's key.
//
// Documents are stored as bytea holding UTF-8 JSON, not jsonb: jsonb
// rejects some valid JSON (the escape \u0000), reorders keys and drops
// duplicates, and costs a parse on every write. To look at one in psql, use
// convert_from(record, 'UTF8')::jsonb. Identifiers (session ids and the
// like) are text with the "C" collation, so they compare and sort by bytes,
// like Go strings; they cannot hold a NUL byte or invalid UTF-8, which this
// package rejects with a clear error. A session's CreatedAt and UpdatedAt
// are timestamptz columns: they come back in UTC, at microsecond
// precision.
//
// # Atomicity
//
// Every write is a single SQL statement (data-modifying common table
// expressions), hence one round trip and one transaction. Commit checks the
// fencing token, the version and the message count and, only if all hold,
// updates the session row, appends the messages, upserts the run and
// inserts the checkpoint; a failed check or a duplicate checkpoint id
// writes nothing. A stale token is reported before a version conflict.
// Writes serialize on row locks: a session's writes on its sessions row,
// its appends, status changes and token issues on its streams row, which
// Commit share-locks to check the token (so a token issued during a commit
// waits for it). Appends add their count to last_seq and insert their
// chunks under that lock, which keeps sequences gap-free however many
// processes append to one stream.
//
// # Chunk appends and group commit
//
// AppendChunks calls are group-committed: one goroutine per store takes
// every append waiting when it becomes free (up to Options.MaxAppendBatch
// calls or 4 MB; when fewer wait than its last batches held, it first
// yields for up to 200 µs, so that writers appending in a loop share
// commits instead of alternating) and writes them with one statement, in
// one round trip and one transaction, hence one WAL flush. Each call still
// gets its own result: a stale token or an unknown session fails that call
// alone. The statement locks the streams rows in session id order, so
// batches of different processes cannot deadlock.
//
// # Durability
//
// By default every acknowledged write is durable: this package leaves
// synchronous_commit as the server has it, and PostgreSQL's default (on)
// flushes the WAL to disk before a commit returns. A flush costs a few
// hundred microseconds on common disks, which bounds how fast one writer
// can append; group commit shares it between concurrent appends.
//
// Options.AsyncChunkCommit (URL "async_chunk_commit=true") turns
// synchronous_commit off for chunk appends only (SET LOCAL, in their
// transaction): an append is acknowledged before its WAL reaches the disk,
// which takes the flush out of every append. A crash of the PostgreSQL
// server (or of its machine) may then lose the newest acknowledged
// chunks, up to about three times wal_writer_delay of them; the database
// stays consistent (the stream's last sequence goes back with its chunks),
// but the lost sequences are handed out again to later chunks. A crash of
// the client loses nothing acknowledged. Sessions, messages, runs,
// checkpoints and stream status changes are never affected.
//
// # Live tail
//
// Subscribe is tail.Follow (store/internal/tail) on this store's reads.
// Every append and status change sends pg_notify in its own transaction,
// on the channel "<schema>.tail", so stores of different schemas do not
// wake each other; the payload names the sessions written (each id as its
// byte length, a colon and the id: "3:s-1"; the empty payload wakes every
// subscriber). Each Store keeps one dedicated connection (taken out of the
// pool) that LISTENs on the channel and wakes the waiting subscribers of
// the notified sessions; subscribers therefore hold no connection while
// they wait, and thousands of them cost one connection. The store also
// wakes its own subscribers directly after its own writes. If the
// listening connection fails it is re-established with backoff, and every
// subscriber is woken once, since notifications may have been missed
// meanwhile; a connection silent for 30 s is pinged, so that a dead one is
// noticed. Subscribers also re-read every Options.PollInterval, so a lost
// notification costs latency, never correctness.
//
// # Retention
//
// By default everything is kept. With Options.MaxChunks (URL
// "?max_chunks=100000") each append also deletes, in the same transaction,
// its stream's chunks older than the newest MaxChunks; StreamInfo's
// FirstSequence is the oldest chunk stored. With Options.TTL (URL
// "?ttl=720h") a sweep every TTL/10 (1 s to 1 min) deletes the sessions
// whose updated_at (creation or last commit) is older than the TTL, unless
// they are running with their stream active, with their stream, messages,
// runs, checkpoints and chunks, 100 sessions per statement; several
// processes may sweep the same schema.
//
// # Migrations
//
// The tables are created and upgraded by numbered, forward-only migrations
// recorded in <schema>.schema_migrations. Each runs in its own transaction
// under a transaction-scoped advisory lock, so processes starting at once
// apply each migration exactly once; starting against an up-to-date schema
// costs one query. A schema migrated by a newer version of this package is
// refused rather than misread.
package pgstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/helix-agents/helix-go/store"
	"github.com/helix-agents/helix-go/store/internal/tail"
)

var _ store.Store = (*Store)(nil)

func init() {
	open := func(ctx context.Context, u *url.URL) (store.Store, error) {
		return Open(ctx, u.String())
	}
	store.Register("postgres", open)
	store.Register("postgresql", open)
}

// DefaultSchema is the schema the tables live in when Options.Schema is
// empty.
const DefaultSchema = "helix"

// maxSchemaLen bounds a schema name so that the notification channel
// "<schema>.tail" fits PostgreSQL's 63-byte identifier limit.
const maxSchemaLen = 63 - len(".tail")

// Defaults of [Options].
const (
	defaultPollInterval   = 2 * time.Second
	defaultMaxAppendBatch = 128
	// appendWorkers is the number of group-commit goroutines. One makes
	// the biggest batches, hence the fewest WAL flushes; PostgreSQL
	// serializes the commits of notifying transactions anyway.
	appendWorkers = 1
	// listenPing is how long the listening connection may stay silent
	// before it is checked with a ping.
	listenPing = 30 * time.Second
)

// Options configure a [Store]. The zero value is the default.
type Options struct {
	// Schema is the PostgreSQL schema holding the tables, created if
	// missing; "" means "helix". It must be 1 to 58 lower-case ASCII
	// letters, digits or underscores, start with a letter or underscore,
	// and not start with "pg_".
	Schema string
	// PollInterval is how often a waiting subscriber re-reads its stream
	// without a notification, as a safety net for lost notifications; 0
	// means 2 s, a negative value never.
	PollInterval time.Duration
	// AsyncChunkCommit turns synchronous_commit off for chunk appends. See
	// the package doc for what a server crash may then lose.
	AsyncChunkCommit bool
	// MaxAppendBatch bounds how many AppendChunks calls one group commit
	// takes; 0 means 128.
	MaxAppendBatch int
	// MaxChunks, if positive, is how many of a stream's newest chunks it
	// keeps: each append deletes, in its own transaction, the chunks that
	// fall out of the window. Sequences are never reused; StreamInfo's
	// FirstSequence is the oldest chunk kept. 0 keeps every chunk.
	MaxChunks int
	// TTL, if positive, is how long a session is kept after its last
	// update (its creation or a commit: updated_at): then, unless it is
	// running with its stream active, it is deleted with its stream,
	// messages, runs, checkpoints and chunks, by a sweep every TTL/10
	// (between 1 s and 1 min). 0 keeps sessions for ever.
	TTL time.Duration
	// Logger receives background errors (those of the listening
	// connection); nil means slog.Default().
	Logger *slog.Logger
}

var schemaRE = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// validate checks o and fills in the defaults.
func (o *Options) validate() error {
	if o.Schema == "" {
		o.Schema = DefaultSchema
	}
	if len(o.Schema) > maxSchemaLen || !schemaRE.MatchString(o.Schema) || strings.HasPrefix(o.Schema, "pg_") {
		return fmt.Errorf("pgstore: invalid schema name %q: want 1 to %d lower-case letters, digits or underscores, starting with a letter or underscore and not with pg_",
			o.Schema, maxSchemaLen)
	}
	if o.MaxAppendBatch < 0 {
		return fmt.Errorf("pgstore: MaxAppendBatch %d is negative", o.MaxAppendBatch)
	}
	if o.MaxChunks < 0 || o.TTL < 0 {
		return errors.New("pgstore: MaxChunks and TTL must not be negative")
	}
	if o.MaxAppendBatch == 0 {
		o.MaxAppendBatch = defaultMaxAppendBatch
	}
	if o.PollInterval == 0 {
		o.PollInterval = defaultPollInterval
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return nil
}

// URL query parameters read by [Open] (and removed before the rest of the
// URL is handed to pgx).
const (
	paramSchema           = "schema"
	paramPollInterval     = "poll_interval"
	paramAsyncChunkCommit = "async_chunk_commit"
	paramMaxAppendBatch   = "max_append_batch"
	paramMaxChunks        = "max_chunks"
	paramTTL              = "ttl"
)

// parseURL splits rawURL into the connection string for pgx (the URL
// without this package's parameters) and the options those parameters set.
// Errors never contain the URL's credentials.
func parseURL(rawURL string) (string, Options, error) {
	var o Options
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", o, fmt.Errorf("pgstore: malformed URL %q", store.RedactURL(rawURL))
	}
	if s := strings.ToLower(u.Scheme); s != "postgres" && s != "postgresql" {
		return "", o, fmt.Errorf("pgstore: URL %q: scheme %q, want postgres or postgresql", store.RedactURL(rawURL), u.Scheme)
	}
	q := u.Query()
	for _, k := range []string{paramSchema, paramPollInterval, paramAsyncChunkCommit, paramMaxAppendBatch, paramMaxChunks, paramTTL} {
		vs, ok := q[k]
		if !ok {
			continue
		}
		q.Del(k)
		v := vs[len(vs)-1]
		switch k {
		case paramSchema:
			o.Schema = v
			if v == "" {
				return "", o, errors.New("pgstore: URL parameter schema is empty")
			}
		case paramPollInterval:
			o.PollInterval, err = time.ParseDuration(v)
			if err == nil && o.PollInterval == 0 {
				o.PollInterval = -1
			}
		case paramAsyncChunkCommit:
			o.AsyncChunkCommit, err = strconv.ParseBool(v)
		case paramMaxAppendBatch:
			o.MaxAppendBatch, err = strconv.Atoi(v)
			if err == nil && o.MaxAppendBatch < 1 {
				err = errors.New("not positive")
			}
		case paramMaxChunks:
			o.MaxChunks, err = strconv.Atoi(v)
			if err == nil && o.MaxChunks < 0 {
				err = errors.New("negative")
			}
		case paramTTL:
			o.TTL, err = time.ParseDuration(v)
			if err == nil && o.TTL < 0 {
				err = errors.New("negative")
			}
		}
		if err != nil {
			return "", o, fmt.Errorf("pgstore: URL parameter %s=%q is not valid", k, v)
		}
	}
	if err := o.validate(); err != nil {
		return "", o, err
	}
	u.RawQuery = q.Encode()
	return u.String(), o, nil
}

// Store is a PostgreSQL [store.Store]. Create one with [Open] or [New].
type Store struct {
	o       Options
	pool    *pgxpool.Pool
	ownPool bool
	sql     statements
	channel string // notification channel
	secret  string // the connection password, scrubbed from errors
	hub     *tail.Hub
	appq    chan *appendReq

	listenPID atomic.Uint32 // backend pid of the listening connection

	closed    atomic.Bool
	done      chan struct{} // closed by Close
	bg        context.Context
	stopBg    context.CancelFunc
	closeOnce sync.Once
	wg        sync.WaitGroup // background goroutines
}

// Open connects to the database rawURL names, brings the schema up to date
// and returns a store that owns its connection pool (Close closes it).
//
// Besides pgx's own parameters (sslmode, pool_max_conns, connect_timeout…)
// the URL may carry this package's options: schema, poll_interval (a Go
// duration; 0 disables polling), async_chunk_commit (a boolean),
// max_append_batch, max_chunks and ttl (a Go duration). Open fails if the server cannot be reached. Its errors
// never contain the password.
func Open(ctx context.Context, rawURL string) (*Store, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	connString, o, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	secrets := urlSecrets(rawURL)
	cfg, err := pgxpool.ParseConfig(connString)
	if err != nil {
		return nil, fmt.Errorf("pgstore: invalid connection URL: %w", scrub(err, secrets...))
	}
	secrets = append(secrets, cfg.ConnConfig.Password)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgstore: connecting to %s: %w", describe(cfg), scrub(err, secrets...))
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("pgstore: cannot connect to PostgreSQL at %s: %w", describe(cfg), scrub(err, secrets...))
	}
	s, err := newStore(ctx, pool, o, true)
	if err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// New returns a store on pool, creating or upgrading its tables first. The
// store does not own the pool: Close leaves it open, and the caller must
// keep it open until the store is closed.
func New(ctx context.Context, pool *pgxpool.Pool, o Options) (*Store, error) {
	if pool == nil {
		return nil, errors.New("pgstore: New with a nil pool")
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	return newStore(ctx, pool, o, false)
}

func newStore(ctx context.Context, pool *pgxpool.Pool, o Options, own bool) (*Store, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	schema := pgx.Identifier{o.Schema}.Sanitize()
	s := &Store{
		o:       o,
		pool:    pool,
		ownPool: own,
		sql:     buildStatements(schema),
		channel: o.Schema + ".tail",
		secret:  pool.Config().ConnConfig.Password,
		hub:     tail.NewHub(),
		appq:    make(chan *appendReq, 4*o.MaxAppendBatch),
		done:    make(chan struct{}),
	}
	if err := s.migrate(ctx); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("pgstore: schema %s: %w", schema, scrub(err, s.secret))
	}
	conn, err := s.listenConn(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("pgstore: opening the notification connection: %w", scrub(err, s.secret))
	}
	s.bg, s.stopBg = context.WithCancel(context.Background())
	s.wg.Add(1 + appendWorkers)
	go s.listen(conn)
	for range appendWorkers {
		go s.appender()
	}
	if o.TTL > 0 {
		s.wg.Add(1)
		go s.expireLoop()
	}
	return s, nil
}

// Close stops the store's goroutines, ends open subscriptions with an error
// wrapping [store.ErrClosed] and, if the store was made by [Open], closes
// its pool. It is idempotent and returns nil; every later call of another
// method returns an error wrapping [store.ErrClosed].
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		close(s.done)
		s.hub.Close(fmt.Errorf("pgstore: subscribe: %w", store.ErrClosed))
		s.stopBg()
		s.wg.Wait()
		if s.ownPool {
			s.pool.Close()
		}
	})
	return nil
}

// check returns ctx's error, unchanged, or an error wrapping ErrClosed.
func (s *Store) check(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return fmt.Errorf("pgstore: %s: %w", op, store.ErrClosed)
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
		return fmt.Errorf("pgstore: %s %q: %w", op, id, store.ErrClosed)
	}
	return fmt.Errorf("pgstore: %s %q: %w", op, id, scrub(err, s.secret))
}

func notFound(op, id string) error {
	return fmt.Errorf("pgstore: %s %q: %w", op, id, store.ErrNotFound)
}

func staleFence(op, id string, fence, newest uint64) error {
	return fmt.Errorf("pgstore: %s %q: token %d older than %d: %w", op, id, fence, newest, store.ErrStaleFence)
}

// validText reports whether s can be stored in a text column: PostgreSQL
// rejects NUL bytes and invalid UTF-8.
func validText(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// badText is the error for a value validText rejects.
func badText(op, what, v string) error {
	return fmt.Errorf("pgstore: %s: %s %q contains a NUL byte or invalid UTF-8, which PostgreSQL text cannot store", op, what, v)
}

// describe names the server and database of cfg, without credentials.
func describe(cfg *pgxpool.Config) string {
	c := cfg.ConnConfig
	return fmt.Sprintf("%s:%d (database %q, user %q)", c.Host, c.Port, c.Database, c.User)
}

// urlSecrets returns the password of rawURL in the forms it may appear in
// an error: as written in the URL and decoded.
func urlSecrets(rawURL string) []string {
	var out []string
	rest := rawURL
	if _, r, ok := strings.Cut(rest, "://"); ok {
		rest = r
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		if _, pw, ok := strings.Cut(rest[:at], ":"); ok && pw != "" {
			out = append(out, pw)
			if dec, err := url.PathUnescape(pw); err == nil && dec != pw {
				out = append(out, dec)
			}
		}
	}
	if u, err := url.Parse(rawURL); err == nil {
		for k, vs := range u.Query() {
			if strings.Contains(strings.ToLower(k), "pass") {
				out = append(out, vs...)
			}
		}
	}
	return out
}

// pwPattern matches password settings in connection strings quoted by pgx
// errors ("password=secret", "password='se cret'").
var pwPattern = regexp.MustCompile(`(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)`)

// userinfoPattern matches the user information of URLs quoted in errors.
var userinfoPattern = regexp.MustCompile(`(://[^:/@\s]*:)[^@\s]*@`)

// scrub returns err with any credential removed from its text: the
// secrets, password settings and URL passwords. The result keeps err's
// context errors (errors.Is(err, context.Canceled) still holds) and its
// *pgconn.PgError (server errors carry no credentials), but not the rest of
// its chain: pgx's connection and parse errors keep the configuration,
// password included, in their fields.
func scrub(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	for _, sec := range secrets {
		if len(sec) >= 1 {
			msg = strings.ReplaceAll(msg, sec, "xxxxx")
		}
	}
	msg = pwPattern.ReplaceAllString(msg, "${1}xxxxx")
	msg = userinfoPattern.ReplaceAllString(msg, "${1}xxxxx@")
	se := &scrubbedError{msg: msg}
	var pe *pgconn.PgError
	switch {
	case errors.Is(err, context.Canceled):
		se.cause = context.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		se.cause = context.DeadlineExceeded
	case errors.As(err, &pe):
		se.cause = pe
	}
	return se
}

// scrubbedError is an error whose text was cleaned of credentials. It
// unwraps only to a cause known to hold none.
type scrubbedError struct {
	msg   string
	cause error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.cause }
