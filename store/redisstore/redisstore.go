// Package redisstore is the Redis implementation of [store.Store], on
// github.com/redis/go-redis/v9. It targets a single Redis 7 server or a
// Sentinel-managed primary (see "Cluster" below). Import it to register the
// "redis" and "rediss" URL schemes with [store.Open]:
//
//	import _ "github.com/helix-agents/helix-go/store/redisstore"
//
//	st, err := store.Open(ctx, "redis://:password@127.0.0.1:6379/0?prefix=app:&ttl=168h")
//
// # Keys
//
// Every key starts with Options.KeyPrefix (default "helix:", written P
// below). A session is two keys that share the hash tag {T}, where T is the
// session id in unpadded base64url (ids are arbitrary strings; a brace in
// an id would break the tag):
//
//	P{T}:s  hash    the session and everything but its chunks:
//	                "rec"  the record as JSON; "v" its version; "ca" its
//	                       CreatedAt; "p", "a", "s" principal, agent type
//	                       and status, for filtering
//	                "f"    newest fencing token; "q" last chunk sequence;
//	                       "st" stream status
//	                "ctl"  pending control request as JSON; "ck" its kind
//	                "mc", "m:<i>"  message count; message i as JSON
//	                "rc", "r:<i>", "ri:<run id>"  run count; run i as
//	                       JSON (insertion order); position of a run
//	                "cc", "c:<i>", "ci:<checkpoint id>"  the same for
//	                       checkpoints
//	P{T}:x  stream  chunks: entry id "<sequence>-0", field "c" = the
//	                chunk's JSON (helix.Chunk wire form, sequence included)
//	Psessions  sorted set  the ListSessions index: member = session id,
//	                       score = CreatedAt in Unix milliseconds
//	Ptail      Pub/Sub channel of the live tail (see below)
//
// Keeping a session in two keys keeps every write cheap: a write refreshes
// the expiry of two keys, not one per kind of record. Records are
// JSON-encoded with encoding/json; chunks with their own wire encoding
// ([helix.Chunk.AppendJSON]).
//
// # Atomicity
//
// Every write is one Lua script (EVALSHA, falling back to EVAL when the
// server's script cache was flushed), so it is atomic and all-or-nothing:
// CreateSession (fails with [store.ErrExists]), Commit (fence, version and
// message count checks, messages, run upsert, checkpoint, control clear),
// AppendChunks (fence check, sequence assignment, XADD, trim), SetStreamStatus,
// NextFence and RequestControl. A stale fencing token is reported before a
// version conflict. Script failures come back as error replies that the
// store maps to the sentinel errors of package store.
//
// # Retention and expiry
//
// A stream keeps at most Options.MaxChunks chunks (default 100000): appends
// trim it exactly (XADD MAXLEN =), oldest first. Sequences are never
// reused; StreamInfo.FirstSequence is the oldest chunk kept.
//
// Both keys of a session expire Options.TTL (default 30 days) after the
// newest write to the session: every write script sets the expiry of both
// (a negative TTL removes it instead, so the keys never expire). Index
// members of expired sessions are removed lazily by ListSessions.
//
// # Appends
//
// Concurrent AppendChunks calls on one Store are coalesced. A call made
// while the server is idle for this store runs at once; calls made while
// two round trips are already in flight queue up and go together, as soon
// as one finishes, in a single script call that appends for each of them
// (sessions may differ) and publishes one notification. Each call still
// gets its own result: a stale fencing token or an unknown session fails
// that call alone.
//
// # Live tail
//
// Subscribe is [tail.Follow] (package store/internal/tail) over ReadChunks
// and StreamInfo, woken by a per-Store hub. The append and status scripts
// PUBLISH the ids of the sessions they changed on one channel, "Ptail";
// each Store holds a single Pub/Sub connection subscribed to it and wakes
// the local subscribers of the sessions named. Writes through a Store wake
// its local subscribers directly (a notification carries the id of the
// Store that published it, which ignores its own when they come back).
// After the Pub/Sub connection is re-established every subscriber is woken,
// since notifications may have been lost meanwhile, and every subscriber
// also re-reads every Options.PollInterval as a safety net.
//
// Pub/Sub is used rather than one XREAD BLOCK per subscriber because a
// blocked XREAD holds a connection for as long as it waits: a server with
// thousands of open streams would need thousands of connections. Here a
// waiting subscriber holds no connection at all, and the cost of a wake-up is
// one message per Store, not per subscriber.
//
// # Cluster
//
// Most scripts touch only the keys of one session, which share a hash slot;
// but CreateSession also adds the session to the index, and a coalesced
// append touches the keys of several sessions. The store therefore targets
// a single server or a Sentinel-managed primary (pass a failover client to
// [New]). On Redis Cluster, use a prefix that is itself a hash tag, such as
// "{helix}:": every key then lives in one slot, on one shard, which works
// but does not spread the data.
package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/helix-agents/helix-go/store"
	"github.com/helix-agents/helix-go/store/internal/tail"
)

var _ store.Store = (*Store)(nil)

func init() {
	open := func(ctx context.Context, u *url.URL) (store.Store, error) {
		return openURL(ctx, u)
	}
	store.Register("redis", open)
	store.Register("rediss", open)
}

// Defaults of [Options].
const (
	// DefaultKeyPrefix is the key prefix when Options.KeyPrefix is empty.
	DefaultKeyPrefix = "helix:"
	// DefaultTTL is the expiry of a session's keys when Options.TTL is 0.
	DefaultTTL = 30 * 24 * time.Hour
	// DefaultMaxChunks is the cap of a stream when Options.MaxChunks is 0.
	DefaultMaxChunks = 100000
	// DefaultPollInterval is the subscribers' re-read interval when
	// Options.PollInterval is 0.
	DefaultPollInterval = 2 * time.Second
)

// healthInterval is how long the Pub/Sub connection may stay silent before
// the store pings it; a ping unanswered for as long again makes the store
// replace the connection.
const healthInterval = 15 * time.Second

// Options configure a [Store]. The zero value is the default.
type Options struct {
	// KeyPrefix starts every key and the notification channel; "" means
	// "helix:". Stores that share a prefix share their data.
	KeyPrefix string
	// TTL is how long a session's keys live after its newest write; 0
	// means 30 days, a negative value forever (no expiry).
	TTL time.Duration
	// MaxChunks caps the chunks each stream keeps (the oldest are
	// dropped); 0 means 100000, a negative value no cap.
	MaxChunks int
	// PollInterval is how often a waiting subscriber re-reads its stream
	// without a notification, a safety net for lost notifications; 0
	// means 2 s, a negative value never.
	PollInterval time.Duration
	// Logger receives errors of the background Pub/Sub listener; nil means
	// slog.Default().
	Logger *slog.Logger
}

// withDefaults returns o with its zero fields set to the defaults.
func (o Options) withDefaults() Options {
	if o.KeyPrefix == "" {
		o.KeyPrefix = DefaultKeyPrefix
	}
	if o.TTL == 0 {
		o.TTL = DefaultTTL
	}
	if o.MaxChunks == 0 {
		o.MaxChunks = DefaultMaxChunks
	}
	if o.PollInterval == 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Store is a Redis [store.Store]. Create one with [New] or [Open]. It is
// safe for concurrent use.
type Store struct {
	client redis.UniversalClient
	owns   bool // Close closes client
	o      Options

	idxKey  string // the ListSessions index
	channel string // the notification channel
	ttlArg  string // TTL in ms for the scripts, "-1" for none
	maxArg  string // MaxChunks for the scripts, "0" for no cap
	// origin starts the notifications this store publishes, so that the
	// listener can skip its own (their subscribers were woken directly).
	origin string
	hub    *tail.Hub

	closed    atomic.Bool
	done      chan struct{} // closed by Close
	ctx       context.Context
	cancel    context.CancelFunc
	closeOnce sync.Once
	closeErr  error
	wg        sync.WaitGroup // background goroutines

	psMu sync.Mutex
	ps   *redis.PubSub // nil until the listener subscribed

	app appender
}

// originLen is the length of Store.origin.
const originLen = 16

// New returns a store over client. The store does not own client: Close
// leaves it open, and it must stay open until the store is closed. New does
// not contact the server (see [Open] for a store that checks the
// connection).
func New(client redis.UniversalClient, o Options) (*Store, error) {
	if client == nil {
		return nil, errors.New("redisstore: nil client")
	}
	o = o.withDefaults()
	var rnd [originLen / 2]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, fmt.Errorf("redisstore: %w", err)
	}
	s := &Store{
		client:  client,
		o:       o,
		idxKey:  o.KeyPrefix + "sessions",
		channel: o.KeyPrefix + "tail",
		ttlArg:  "-1",
		maxArg:  "0",
		origin:  hex.EncodeToString(rnd[:]),
		hub:     tail.NewHub(),
		done:    make(chan struct{}),
	}
	if o.TTL > 0 {
		s.ttlArg = strconv.FormatInt(max(o.TTL.Milliseconds(), 1), 10)
	}
	if o.MaxChunks > 0 {
		s.maxArg = strconv.Itoa(o.MaxChunks)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.app.init(s)
	s.wg.Add(1 + maxInflight)
	go s.listen()
	for range maxInflight {
		go s.app.flusher()
	}
	return s, nil
}

// Client returns the store's Redis client, for other state that the
// processes sharing the store must share too (the server's rate limits).
// It stays the store's: do not close it.
func (s *Store) Client() redis.UniversalClient { return s.client }

// KeyPrefix returns the prefix of the store's keys (Options.KeyPrefix).
func (s *Store) KeyPrefix() string { return s.o.KeyPrefix }

// Open connects to the Redis server a URL names and returns a store that
// owns the connection (Close closes it). The URL is what redis.ParseURL
// accepts ("redis://[[user]:password@]host[:port][/db][?options]", or
// "rediss://" for TLS) plus the store's own query parameters:
//
//	prefix=P            Options.KeyPrefix
//	ttl=720h            Options.TTL ("never" or a negative duration: no expiry)
//	max_chunks=N        Options.MaxChunks (negative: no cap)
//	poll_interval=2s    Options.PollInterval (negative: never)
//
// Open pings the server and fails if it cannot be reached or refuses the
// credentials. Its errors never contain the URL's password.
func Open(ctx context.Context, rawURL string) (*Store, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Parse errors quote the input, which may hold a password.
		return nil, errors.New("redisstore: malformed URL")
	}
	return openURL(ctx, u)
}

// openURL is Open on a parsed URL.
func openURL(ctx context.Context, u *url.URL) (*Store, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ro, o, err := parseURL(u)
	if err != nil {
		return nil, err
	}
	client := redis.NewClient(ro)
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("redisstore: connecting to %s: %w", ro.Addr, scrub(err, ro.Password))
	}
	s, err := New(client, o)
	if err != nil {
		client.Close()
		return nil, err
	}
	s.owns = true
	return s, nil
}

// scrub returns err, or an error with its text if that text contains
// password (no server or library message is known to, but a credential
// must never reach a log).
func scrub(err error, password string) error {
	if password == "" || !strings.Contains(err.Error(), password) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), password, "xxxxx"))
}

// parseURL splits u into the client options (through redis.ParseURL) and
// the store options (the query parameters prefix, ttl, max_chunks and
// poll_interval, removed before redis.ParseURL sees the URL).
func parseURL(u *url.URL) (*redis.Options, Options, error) {
	var o Options
	switch strings.ToLower(u.Scheme) {
	case "redis", "rediss":
	default:
		return nil, o, fmt.Errorf("redisstore: URL scheme %q: want redis or rediss", u.Scheme)
	}
	q := u.Query()
	for _, k := range []string{"prefix", "ttl", "max_chunks", "poll_interval"} {
		vs, ok := q[k]
		if !ok {
			continue
		}
		q.Del(k)
		v := vs[len(vs)-1]
		bad := func(want string) error {
			return fmt.Errorf("redisstore: URL parameter %s=%q: %s", k, v, want)
		}
		switch k {
		case "prefix":
			if v == "" {
				return nil, o, bad("want a non-empty key prefix")
			}
			o.KeyPrefix = v
		case "ttl":
			if strings.EqualFold(v, "never") {
				o.TTL = -1
				break
			}
			d, err := time.ParseDuration(v)
			if err != nil {
				return nil, o, bad(`want a duration such as "720h", or "never"`)
			}
			if d == 0 {
				return nil, o, bad(`want a non-zero duration (a negative one or "never" for no expiry)`)
			}
			o.TTL = d
		case "max_chunks":
			n, err := strconv.Atoi(v)
			if err != nil || n == 0 {
				return nil, o, bad("want a non-zero integer (negative: no cap)")
			}
			o.MaxChunks = n
		case "poll_interval":
			d, err := time.ParseDuration(v)
			if err != nil || d == 0 {
				return nil, o, bad(`want a non-zero duration such as "2s" (negative: never)`)
			}
			o.PollInterval = d
		}
	}
	c := *u
	c.Scheme = strings.ToLower(c.Scheme)
	c.RawQuery = q.Encode()
	c.Fragment, c.RawFragment = "", ""
	ro, err := redis.ParseURL(c.String())
	if err != nil {
		pw, _ := u.User.Password()
		return nil, o, fmt.Errorf("redisstore: %w", scrub(err, pw))
	}
	return ro, o, nil
}

// Close stops the store's background goroutines and ends open
// subscriptions with an error wrapping [store.ErrClosed]; every later call
// returns such an error. A store made by [Open] closes its client; one made
// by [New] leaves the client open. Close is idempotent: calls after the
// first return nil.
func (s *Store) Close() error {
	first := false
	s.closeOnce.Do(func() {
		first = true
		s.closed.Store(true)
		close(s.done)
		s.hub.Close(fmt.Errorf("redisstore: subscribe: %w", store.ErrClosed))
		s.cancel()
		s.psMu.Lock()
		if s.ps != nil {
			_ = s.ps.Close()
		}
		s.psMu.Unlock()
		s.wg.Wait()
		if s.owns {
			s.closeErr = s.client.Close()
		}
	})
	if !first {
		return nil
	}
	return s.closeErr
}

// check returns ctx's error, unchanged, or an error wrapping ErrClosed.
func (s *Store) check(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return fmt.Errorf("redisstore: %s: %w", op, store.ErrClosed)
	}
	return nil
}

// fail turns an error of a Redis call into the error a method returns:
// ctx's error if ctx is done, ErrClosed if the store was closed meanwhile,
// a sentinel for the scripts' error replies, the error itself (with the
// operation named) otherwise.
func (s *Store) fail(ctx context.Context, op, id string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if id != "" {
		op = fmt.Sprintf("%s %q", op, id)
	}
	if s.closed.Load() {
		return fmt.Errorf("redisstore: %s: %w", op, store.ErrClosed)
	}
	return fmt.Errorf("redisstore: %s: %w", op, mapScriptError(err))
}

// keys are the names of one session's keys.
type keys struct {
	s, x string // hash, stream
}

// both returns the session's keys in the order the scripts expect them.
func (k keys) both() []string { return []string{k.s, k.x} }

// keys returns the names of session id's keys, built in one allocation.
func (s *Store) keys(id string) keys {
	p := s.o.KeyPrefix
	tl := base64.RawURLEncoding.EncodedLen(len(id))
	one := len(p) + 1 + tl + 3 // P{T}:s
	tag := base64.RawURLEncoding.AppendEncode(make([]byte, 0, tl), []byte(id))
	var b strings.Builder
	b.Grow(2 * one)
	for _, suffix := range [...]byte{'s', 'x'} {
		b.WriteString(p)
		b.WriteByte('{')
		b.Write(tag)
		b.WriteString("}:")
		b.WriteByte(suffix)
	}
	both := b.String()
	return keys{s: both[:one], x: both[one:]}
}
