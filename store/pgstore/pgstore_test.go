package pgstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/goleak"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/store"
	"github.com/helix-agents/helix-go/store/pgstore"
	"github.com/helix-agents/helix-go/store/storetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// envURL names the environment variable holding the test server's URL.
const envURL = "HELIX_TEST_POSTGRES_URL"

// serverURL returns the test server's URL, or skips the test if none is
// configured.
func serverURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(envURL)
	if u == "" && os.Getenv("HELIX_REQUIRE_BACKENDS") != "" {
		t.Fatalf("HELIX_REQUIRE_BACKENDS is set but %s is not: the PostgreSQL store tests must run", envURL)
	}
	if u == "" {
		t.Skipf("set %s to run the PostgreSQL tests, e.g. %s='postgres://postgres@127.0.0.1:5432/test?sslmode=disable'", envURL, envURL)
	}
	return u
}

// withParams returns base with the query parameters kv (name, value, …)
// set.
func withParams(t testing.TB, base string, kv ...string) string {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s is not a URL", envURL)
	}
	q := u.Query()
	for i := 0; i < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// randomSchema returns a fresh schema name.
func randomSchema() string {
	var b [8]byte
	rand.Read(b[:])
	return "helix_test_" + hex.EncodeToString(b[:])
}

// admin connects to the test server for setup and cleanup.
func admin(ctx context.Context, t testing.TB) *pgx.Conn {
	t.Helper()
	u, err := url.Parse(serverURL(t))
	if err != nil {
		t.Fatalf("%s is not a URL", envURL)
	}
	q := u.Query()
	q.Del("schema")
	u.RawQuery = q.Encode()
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		t.Fatalf("connecting to %s: %v", envURL, err)
	}
	return conn
}

// dropSchemas drops the schemas, logging failures.
func dropSchemas(t testing.TB, schemas ...string) {
	if len(schemas) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn := admin(ctx, t)
	defer conn.Close(ctx)
	for _, s := range schemas {
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{s}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("dropping schema %s: %v", s, err)
		}
	}
}

// harness makes stores in fresh schemas of the test server.
type harness struct {
	t     testing.TB
	base  string
	extra []string // more URL parameters
	// noRetention: stores keep every chunk (for the benchmarks).
	noRetention bool
	mu          sync.Mutex
	schemas     []string
}

func newHarness(_ context.Context, t testing.TB) (storetest.Harness, error) {
	return &harness{t: t, base: serverURL(t)}, nil
}

func (h *harness) url(schema string) string {
	params := []string{"schema", schema}
	if !h.noRetention {
		params = append(params, "max_chunks", strconv.Itoa(harnessMaxChunks))
	}
	return withParams(h.t, h.base, append(params, h.extra...)...)
}

// MakeStore opens a store over a new, empty schema.
func (h *harness) MakeStore(ctx context.Context) (store.Store, error) {
	schema := randomSchema()
	h.mu.Lock()
	h.schemas = append(h.schemas, schema)
	h.mu.Unlock()
	return pgstore.Open(ctx, h.url(schema))
}

// OpenAnother opens a second store, with its own pool, over the schema of
// the last store made.
func (h *harness) OpenAnother(ctx context.Context) (store.Store, error) {
	h.mu.Lock()
	schema := h.schemas[len(h.schemas)-1]
	h.mu.Unlock()
	return pgstore.Open(ctx, h.url(schema))
}

// harnessMaxChunks is the retention of the conformance harness's stores:
// the least the suite allows (its other cases read back up to 600 chunks),
// so that its retention case appends few. The benchmarks' harness keeps
// every chunk (they read back 10,000).
const harnessMaxChunks = 1000

func (h *harness) Capabilities() storetest.Capabilities {
	if h.noRetention {
		return storetest.Capabilities{}
	}
	return storetest.Capabilities{Retention: true, RetentionMaxChunks: harnessMaxChunks}
}

// MakeExpiringStore opens a store over a new schema whose sessions expire
// after ttl.
func (h *harness) MakeExpiringStore(ctx context.Context, ttl time.Duration) (store.Store, error) {
	schema := randomSchema()
	h.mu.Lock()
	h.schemas = append(h.schemas, schema)
	h.mu.Unlock()
	return pgstore.Open(ctx, withParams(h.t, h.url(schema), "ttl", ttl.String()))
}

var _ storetest.ExpiryHarness = (*harness)(nil)

// Close drops every schema the harness made.
func (h *harness) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	dropSchemas(h.t, h.schemas...)
	h.schemas = nil
}

var _ storetest.SharedHarness = (*harness)(nil)

func TestConformance(t *testing.T) { storetest.RunConformanceTests(t, newHarness) }

// TestConformanceAsyncChunkCommit runs the suite with synchronous_commit
// off for chunk appends.
func TestConformanceAsyncChunkCommit(t *testing.T) {
	storetest.RunConformanceTests(t, func(ctx context.Context, t testing.TB) (storetest.Harness, error) {
		return &harness{t: t, base: serverURL(t), extra: []string{"async_chunk_commit", "true"}}, nil
	})
}

func BenchmarkStore(b *testing.B) {
	storetest.RunBenchmarks(b, func(ctx context.Context, t testing.TB) (storetest.Harness, error) {
		return &harness{t: t, base: serverURL(t), noRetention: true}, nil
	})
}

// BenchmarkStoreAsyncChunkCommit measures appends with synchronous_commit
// off.
func BenchmarkStoreAsyncChunkCommit(b *testing.B) {
	storetest.RunBenchmarks(b, func(ctx context.Context, t testing.TB) (storetest.Harness, error) {
		return &harness{t: t, base: serverURL(t), extra: []string{"async_chunk_commit", "true"}, noRetention: true}, nil
	})
}

// openFresh opens a store over a new schema dropped at the end of the test.
func openFresh(t *testing.T, params ...string) (*pgstore.Store, string) {
	t.Helper()
	base := serverURL(t)
	schema := randomSchema()
	t.Cleanup(func() { dropSchemas(t, schema) })
	st, err := pgstore.Open(t.Context(), withParams(t, base, append([]string{"schema", schema}, params...)...))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st, schema
}

// openAnother opens a second store over schema.
func openAnother(t *testing.T, schema string, params ...string) *pgstore.Store {
	t.Helper()
	st, err := pgstore.Open(t.Context(), withParams(t, serverURL(t), append([]string{"schema", schema}, params...)...))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		url     string
		want    pgstore.Options // checked fields: Schema, PollInterval, AsyncChunkCommit, MaxAppendBatch, MaxChunks, TTL
		conn    string          // expected connection string handed to pgx
		wantErr string
	}{
		{url: "postgres://u@h/db", want: pgstore.Options{Schema: "helix", PollInterval: 2 * time.Second, MaxAppendBatch: 128},
			conn: "postgres://u@h/db"},
		{url: "postgresql://u:pw@h:5433/db?sslmode=disable&schema=tenant_1&pool_max_conns=7",
			want: pgstore.Options{Schema: "tenant_1", PollInterval: 2 * time.Second, MaxAppendBatch: 128},
			conn: "postgresql://u:pw@h:5433/db?pool_max_conns=7&sslmode=disable"},
		{url: "postgres://h/db?poll_interval=250ms&async_chunk_commit=true&max_append_batch=16",
			want: pgstore.Options{Schema: "helix", PollInterval: 250 * time.Millisecond, AsyncChunkCommit: true, MaxAppendBatch: 16},
			conn: "postgres://h/db"},
		{url: "postgres://h/db?poll_interval=0", want: pgstore.Options{Schema: "helix", PollInterval: -1, MaxAppendBatch: 128},
			conn: "postgres://h/db"},
		{url: "postgres://h/db?max_chunks=5000&ttl=720h&sslmode=disable",
			want: pgstore.Options{Schema: "helix", PollInterval: 2 * time.Second, MaxAppendBatch: 128, MaxChunks: 5000, TTL: 720 * time.Hour},
			conn: "postgres://h/db?sslmode=disable"},
		{url: "postgres://h/db?schema=_x9", want: pgstore.Options{Schema: "_x9", PollInterval: 2 * time.Second, MaxAppendBatch: 128},
			conn: "postgres://h/db"},
		{url: "postgres://h/db?schema=" + strings.Repeat("a", 58), want: pgstore.Options{Schema: strings.Repeat("a", 58), PollInterval: 2 * time.Second, MaxAppendBatch: 128},
			conn: "postgres://h/db"},

		{url: "postgres://h/db?schema=", wantErr: "schema is empty"},
		{url: "postgres://h/db?schema=Helix", wantErr: "invalid schema name"},
		{url: "postgres://h/db?schema=1abc", wantErr: "invalid schema name"},
		{url: "postgres://h/db?schema=a-b", wantErr: "invalid schema name"},
		{url: "postgres://h/db?schema=a.b", wantErr: "invalid schema name"},
		{url: "postgres://h/db?schema=a%22b", wantErr: "invalid schema name"},
		{url: "postgres://h/db?schema=%C3%A9t%C3%A9", wantErr: "invalid schema name"},
		{url: "postgres://h/db?schema=pg_temp", wantErr: "invalid schema name"},
		{url: "postgres://h/db?schema=" + strings.Repeat("a", 59), wantErr: "invalid schema name"},
		{url: "postgres://h/db?poll_interval=soon", wantErr: "poll_interval"},
		{url: "postgres://h/db?async_chunk_commit=maybe", wantErr: "async_chunk_commit"},
		{url: "postgres://h/db?max_append_batch=0", wantErr: "max_append_batch"},
		{url: "postgres://h/db?max_chunks=-1", wantErr: "max_chunks"},
		{url: "postgres://h/db?ttl=-1h", wantErr: "ttl"},
		{url: "postgres://h/db?ttl=soon", wantErr: "ttl"},
		{url: "mysql://h/db", wantErr: "want postgres or postgresql"},
		{url: "postgres://u:secret@h:port/db", wantErr: "malformed URL"},
	} {
		conn, o, err := pgstore.ParseURL(tc.url)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseURL(%q) error = %v, want one mentioning %q", tc.url, err, tc.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "secret") {
				t.Errorf("ParseURL(%q) error %q contains the password", tc.url, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseURL(%q): %v", tc.url, err)
			continue
		}
		got := pgstore.Options{Schema: o.Schema, PollInterval: o.PollInterval, AsyncChunkCommit: o.AsyncChunkCommit, MaxAppendBatch: o.MaxAppendBatch,
			MaxChunks: o.MaxChunks, TTL: o.TTL}
		if got != tc.want {
			t.Errorf("ParseURL(%q) options = %+v, want %+v", tc.url, got, tc.want)
		}
		if conn != tc.conn {
			t.Errorf("ParseURL(%q) connection string = %q, want %q (our parameters removed, pgx's kept)", tc.url, conn, tc.conn)
		}
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	base := serverURL(t)
	pool, err := pgxpool.New(t.Context(), base)
	if err != nil {
		t.Fatalf("pgxpool.New: %v", err)
	}
	defer pool.Close()
	for _, schema := range []string{"Bad", "x;drop", "pg_catalog", `"quoted"`} {
		if _, err := pgstore.New(t.Context(), pool, pgstore.Options{Schema: schema}); err == nil || !strings.Contains(err.Error(), "invalid schema name") {
			t.Errorf("New with schema %q: error %v, want an invalid schema name error", schema, err)
		}
	}
	if _, err := pgstore.New(t.Context(), nil, pgstore.Options{}); err == nil {
		t.Errorf("New with a nil pool succeeded")
	}
}

// TestMigrations checks that two stores migrating a fresh schema at once
// both succeed, that the versions are recorded once, and that opening an
// up-to-date schema changes nothing.
func TestMigrations(t *testing.T) {
	base := serverURL(t)
	ctx := t.Context()
	schema := randomSchema()
	t.Cleanup(func() { dropSchemas(t, schema) })
	pool, err := pgxpool.New(ctx, base)
	if err != nil {
		t.Fatalf("pgxpool.New: %v", err)
	}
	defer pool.Close()

	const starters = 4
	stores := make([]*pgstore.Store, starters)
	errs := make([]error, starters)
	var wg sync.WaitGroup
	for i := range starters {
		wg.Go(func() { stores[i], errs[i] = pgstore.New(ctx, pool, pgstore.Options{Schema: schema}) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent New %d on a fresh schema: %v", i, err)
		}
	}
	type row struct {
		version int
		applied time.Time
	}
	versions := func() []row {
		t.Helper()
		rows, err := pool.Query(ctx, "SELECT version, applied_at FROM "+pgx.Identifier{schema}.Sanitize()+".schema_migrations ORDER BY version")
		if err != nil {
			t.Fatalf("reading schema_migrations: %v", err)
		}
		out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
			var x row
			return x, r.Scan(&x.version, &x.applied)
		})
		if err != nil {
			t.Fatalf("reading schema_migrations: %v", err)
		}
		return out
	}
	before := versions()
	ok := len(before) == pgstore.Migrations
	for i := 0; ok && i < len(before); i++ {
		ok = before[i].version == i+1
	}
	if !ok {
		t.Fatalf("schema_migrations after concurrent starts = %+v, want versions 1 to %d, once each", before, pgstore.Migrations)
	}

	// The stores work and share their data.
	if err := stores[0].CreateSession(ctx, &store.Session{ID: "s-1", AgentType: "a"}); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	if _, err := stores[starters-1].GetSession(ctx, "s-1"); err != nil {
		t.Errorf("GetSession through another store: %v", err)
	}
	for _, st := range stores {
		st.Close()
	}
	// Close leaves a pool it does not own open.
	if err := pool.Ping(ctx); err != nil {
		t.Errorf("the pool passed to New is unusable after Store.Close: %v", err)
	}

	// Re-running is a no-op.
	st, err := pgstore.New(ctx, pool, pgstore.Options{Schema: schema})
	if err != nil {
		t.Fatalf("New on a migrated schema: %v", err)
	}
	st.Close()
	if after := versions(); !slices.EqualFunc(after, before, func(a, b row) bool { return a.version == b.version && a.applied.Equal(b.applied) }) {
		t.Errorf("schema_migrations after re-opening = %+v, want unchanged %+v", after, before)
	}
	if _, err := pool.Exec(ctx, "SELECT 1 FROM "+pgx.Identifier{schema}.Sanitize()+".sessions WHERE id = 's-1'"); err != nil {
		t.Errorf("sessions table: %v", err)
	}

	// A schema from the future is refused.
	if _, err := pool.Exec(ctx, "INSERT INTO "+pgx.Identifier{schema}.Sanitize()+".schema_migrations (version, name) VALUES (999, 'future')"); err != nil {
		t.Fatalf("inserting a future version: %v", err)
	}
	if st, err := pgstore.New(ctx, pool, pgstore.Options{Schema: schema}); err == nil || !strings.Contains(err.Error(), "newer version") {
		if st != nil {
			st.Close()
		}
		t.Errorf("New on a schema at version 999: error %v, want a newer-version error", err)
	}
}

// TestErrorsHideCredentials opens stores that cannot work with a canary
// password in the URL: no error may contain it.
func TestErrorsHideCredentials(t *testing.T) {
	base, err := url.Parse(serverURL(t))
	if err != nil {
		t.Fatalf("%s is not a URL", envURL)
	}
	const canary = "CanaryPw-7f3a9c"
	withPW := func(host, user, db, query string) string {
		u := *base
		if host != "" {
			u.Host = host
		}
		if user == "" {
			user = u.User.Username()
		}
		u.User = url.UserPassword(user, canary)
		if db != "" {
			u.Path = "/" + db
		}
		q := u.Query()
		q.Set("connect_timeout", "5")
		for _, kv := range strings.Split(query, "&") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				q.Set(k, v)
			}
		}
		u.RawQuery = q.Encode()
		return u.String()
	}
	cases := map[string]string{
		"unreachable host":     withPW("127.0.0.1:1", "", "", ""),
		"unknown database":     withPW("", "", "no_such_db_"+randomSchema(), ""),
		"unknown user":         withPW("", "no_such_user_x", "", ""),
		"bad sslmode":          withPW("", "", "", "sslmode=bogus"),
		"bad pool parameter":   withPW("", "", "", "pool_max_conns=many"),
		"bad schema":           withPW("", "", "", "schema=No-Way"),
		"unparsable port":      strings.Replace(withPW("", "", "", ""), base.Host, "127.0.0.1:port", 1),
		"password in query":    withPW("127.0.0.1:1", "", "", "password="+canary),
		"percent-encoded pass": strings.Replace(withPW("127.0.0.1:1", "", "", ""), canary, "Canary%50w-7f3a9c", 1),
	}
	for name, raw := range cases {
		t.Run(strings.ReplaceAll(name, " ", "_"), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			st, err := pgstore.Open(ctx, raw)
			if err == nil {
				st.Close()
				t.Fatalf("pgstore.Open succeeded, want an error")
			}
			if strings.Contains(err.Error(), canary) || strings.Contains(fmt.Sprintf("%+v %#v", err, err), canary) {
				t.Errorf("pgstore.Open error contains the password: %v", err)
			}
			for e := err; e != nil; e = errors.Unwrap(e) {
				if strings.Contains(e.Error(), canary) {
					t.Errorf("an error in the chain contains the password: %v", e)
				}
			}
			sst, err := store.Open(ctx, raw)
			if err == nil {
				sst.Close()
				t.Fatalf("store.Open succeeded, want an error")
			}
			if strings.Contains(err.Error(), canary) {
				t.Errorf("store.Open error contains the password: %v", err)
			}
			t.Logf("error: %v", err)
		})
	}
}

// TestOpenUnreachable checks that Open fails, clearly and promptly, when
// the server cannot be reached.
func TestOpenUnreachable(t *testing.T) {
	base := serverURL(t)
	u, _ := url.Parse(base)
	u.Host = "127.0.0.1:1"
	start := time.Now()
	_, err := pgstore.Open(t.Context(), u.String())
	if err == nil || !strings.Contains(err.Error(), "cannot connect") {
		t.Errorf("Open of an unreachable server: error %v, want one saying it cannot connect", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Open of an unreachable server took %v", d)
	}
}

// TestStoreOpenSchemes opens stores through the registry.
func TestStoreOpenSchemes(t *testing.T) {
	base := serverURL(t)
	schema := randomSchema()
	t.Cleanup(func() { dropSchemas(t, schema) })
	for _, scheme := range []string{"postgres", "postgresql"} {
		u, _ := url.Parse(withParams(t, base, "schema", schema))
		u.Scheme = scheme
		st, err := store.Open(t.Context(), u.String())
		if err != nil {
			t.Fatalf("store.Open(%s://…): %v", scheme, err)
		}
		if _, ok := st.(*pgstore.Store); !ok {
			t.Errorf("store.Open(%s://…) returned a %T", scheme, st)
		}
		if err := st.CreateSession(t.Context(), &store.Session{ID: scheme, AgentType: "a"}); err != nil {
			t.Errorf("CreateSession: %v", err)
		}
		st.Close()
	}
}

// TestSchemasIsolated checks that two schemas of one database hold
// separate data.
func TestSchemasIsolated(t *testing.T) {
	a, _ := openFresh(t)
	b, _ := openFresh(t)
	ctx := t.Context()
	if err := a.CreateSession(ctx, &store.Session{ID: "s", AgentType: "a"}); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	if _, err := b.GetSession(ctx, "s"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetSession in another schema: %v, want ErrNotFound", err)
	}
	if pgstore.Channel(a) == pgstore.Channel(b) {
		t.Errorf("two schemas share the notification channel %q", pgstore.Channel(a))
	}
}

// waitChunk returns the next chunk of a subscription, or fails after d.
func waitChunk(t *testing.T, ch <-chan helix.Chunk, d time.Duration, what string) helix.Chunk {
	t.Helper()
	select {
	case c, ok := <-ch:
		if !ok {
			t.Fatalf("%s: subscription ended", what)
		}
		return c
	case <-time.After(d):
		t.Fatalf("%s: no chunk within %v", what, d)
		return helix.Chunk{}
	}
}

// subscribe runs a subscription in a goroutine, passing its chunks on.
func subscribe(t *testing.T, st store.Store, id string, after int64) <-chan helix.Chunk {
	ctx, cancel := context.WithCancel(t.Context())
	ch := make(chan helix.Chunk, 100)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(ch)
		for c, err := range st.Subscribe(ctx, id, after) {
			if err != nil {
				if ctx.Err() == nil {
					t.Errorf("Subscribe: %v", err)
				}
				return
			}
			ch <- c
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return ch
}

// TestCrossStoreTail checks that a subscriber sees chunks and status
// changes written through another store (another pool, as another process
// would) promptly: by notification, since polling is off.
func TestCrossStoreTail(t *testing.T) {
	reader, schema := openFresh(t, "poll_interval", "0")
	writer := openAnother(t, schema)
	ctx := t.Context()
	if err := writer.CreateSession(ctx, &store.Session{ID: "s-1", AgentType: "a"}); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	sub := subscribe(t, reader, "s-1", 0)
	time.Sleep(50 * time.Millisecond) // let it wait
	// Latency from the start of the append to the delivery. Polling is
	// off: without the notification a chunk would never arrive.
	var lat []time.Duration
	for i := range 21 {
		start := time.Now()
		if _, err := writer.AppendChunks(ctx, "s-1", 0, []helix.Chunk{{Type: helix.ChunkTextDelta, Delta: fmt.Sprint(i)}}); err != nil {
			t.Fatalf("AppendChunks: %v", err)
		}
		c := waitChunk(t, sub, 2*time.Second, "a chunk appended through another store")
		lat = append(lat, time.Since(start))
		if c.Sequence != int64(i+1) || c.Delta != fmt.Sprint(i) {
			t.Fatalf("got chunk %d %q, want %d %q", c.Sequence, c.Delta, i+1, fmt.Sprint(i))
		}
	}
	slices.Sort(lat)
	if median := lat[len(lat)/2]; median > 50*time.Millisecond {
		t.Errorf("a subscriber saw another store's appends after a median %v, want well under 100 ms", median)
	}
	t.Logf("cross-store latency (append and delivery): median %v, worst %v", lat[len(lat)/2], lat[len(lat)-1])

	done := make(chan struct{})
	go func() {
		defer close(done)
		for range sub {
		}
	}()
	start := time.Now()
	if err := writer.SetStreamStatus(ctx, "s-1", 0, helix.StreamEnded); err != nil {
		t.Fatalf("SetStreamStatus: %v", err)
	}
	select {
	case <-done:
		if d := time.Since(start); d > 500*time.Millisecond {
			t.Errorf("the subscription ended %v after another store ended the stream", d)
		}
	case <-time.After(2 * time.Second):
		t.Fatalf("the subscription did not end after another store ended the stream")
	}
}

// TestListenerReconnect kills the listening connection's backend: the
// store must reconnect and its subscribers keep seeing other stores'
// chunks promptly.
func TestListenerReconnect(t *testing.T) {
	reader, schema := openFresh(t, "poll_interval", "0")
	writer := openAnother(t, schema)
	ctx := t.Context()
	if err := writer.CreateSession(ctx, &store.Session{ID: "s-1", AgentType: "a"}); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	sub := subscribe(t, reader, "s-1", 0)
	conn := admin(ctx, t)
	defer conn.Close(ctx)

	for round := 1; round <= 2; round++ {
		pid := pgstore.ListenerPID(reader)
		if pid == 0 {
			t.Fatalf("round %d: no listening connection", round)
		}
		var killed bool
		if err := conn.QueryRow(ctx, "SELECT pg_terminate_backend($1)", int32(pid)).Scan(&killed); err != nil || !killed {
			t.Fatalf("pg_terminate_backend(%d) = %v, %v", pid, killed, err)
		}
		// Chunks appended while the listener is down are not lost: the
		// reconnection wakes every subscriber.
		if _, err := writer.AppendChunks(ctx, "s-1", 0, []helix.Chunk{{Type: helix.ChunkTextDelta, Delta: "during"}}); err != nil {
			t.Fatalf("AppendChunks: %v", err)
		}
		if c := waitChunk(t, sub, 3*time.Second, "a chunk appended while the listener reconnects"); c.Delta != "during" {
			t.Fatalf("got %q", c.Delta)
		}
		deadline := time.Now().Add(5 * time.Second)
		for p := pgstore.ListenerPID(reader); p == 0 || p == pid; p = pgstore.ListenerPID(reader) {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: the listening connection was not re-established within 5 s", round)
			}
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(20 * time.Millisecond) // let the subscriber wait again
		start := time.Now()
		if _, err := writer.AppendChunks(ctx, "s-1", 0, []helix.Chunk{{Type: helix.ChunkTextDelta, Delta: "after"}}); err != nil {
			t.Fatalf("AppendChunks: %v", err)
		}
		if c := waitChunk(t, sub, 2*time.Second, "a chunk appended after the listener reconnected"); c.Delta != "after" {
			t.Fatalf("got %q", c.Delta)
		}
		if d := time.Since(start); d > 500*time.Millisecond {
			t.Errorf("round %d: after reconnecting, a chunk took %v to reach the subscriber", round, d)
		}
	}
}

// TestAppendBatchIsolation appends concurrently to good sessions, an
// unknown one and one with a stale token: group commit must fail only the
// bad calls.
func TestAppendBatchIsolation(t *testing.T) {
	st, _ := openFresh(t)
	ctx := t.Context()
	for _, id := range []string{"good-1", "good-2", "fenced"} {
		if err := st.CreateSession(ctx, &store.Session{ID: id, AgentType: "a"}); err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
	}
	old, _ := st.NextFence(ctx, "fenced")
	if _, err := st.NextFence(ctx, "fenced"); err != nil {
		t.Fatalf("NextFence: %v", err)
	}
	const calls = 50
	var wg sync.WaitGroup
	errs := make(chan error, 4*calls)
	for _, id := range []string{"good-1", "good-2", "missing", "fenced"} {
		wg.Go(func() {
			for range calls {
				fence := uint64(0)
				if id == "fenced" {
					fence = old
				}
				_, err := st.AppendChunks(ctx, id, fence, []helix.Chunk{{Type: helix.ChunkCustom, EventName: id}})
				switch id {
				case "missing":
					if !errors.Is(err, store.ErrNotFound) {
						errs <- fmt.Errorf("append to an unknown session: %v, want ErrNotFound", err)
					}
				case "fenced":
					if !errors.Is(err, store.ErrStaleFence) {
						errs <- fmt.Errorf("append with a stale token: %v, want ErrStaleFence", err)
					}
				default:
					if err != nil {
						errs <- fmt.Errorf("append to %s: %v", id, err)
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, id := range []string{"good-1", "good-2"} {
		got, err := st.ReadChunks(ctx, id, 0, 0)
		if err != nil || len(got) != calls {
			t.Errorf("ReadChunks(%s) = %d chunks, %v; want %d", id, len(got), err, calls)
		}
		for i, c := range got {
			if c.Sequence != int64(i+1) || c.EventName != id {
				t.Errorf("%s chunk %d: sequence %d, event %q", id, i, c.Sequence, c.EventName)
				break
			}
		}
	}
	if got, err := st.ReadChunks(ctx, "fenced", 0, 0); err != nil || len(got) != 0 {
		t.Errorf("ReadChunks(fenced) = %d chunks, %v; want none", len(got), err)
	}
}

// TestAwkwardValues round-trips values PostgreSQL is picky about: \u0000
// in JSON payloads, NUL bytes in strings inside records, a session id too
// long for a notification payload; and rejects ids a text column cannot
// hold with a clear error.
func TestAwkwardValues(t *testing.T) {
	st, _ := openFresh(t)
	ctx := t.Context()
	state := json.RawMessage(`{"nul":"a\u0000b","k\u0000":[1,"\u0000"],"b":"\ud83d\ude80"}`)
	in := &store.Session{ID: "s-1", AgentType: "a", State: state, Metadata: map[string]string{"x": "nul\x00inside"}}
	if err := st.CreateSession(ctx, in); err != nil {
		t.Fatalf("CreateSession with \\u0000 in the state: %v", err)
	}
	got, err := st.GetSession(ctx, "s-1")
	if err != nil {
		t.Fatalf("GetSession: %v", err)
	}
	var a, b any
	json.Unmarshal(state, &a)
	json.Unmarshal(got.State, &b)
	if fmt.Sprint(a) != fmt.Sprint(b) || got.Metadata["x"] != "nul\x00inside" {
		t.Errorf("state %s / metadata %q read back as %s / %q", state, in.Metadata["x"], got.State, got.Metadata["x"])
	}
	chunk := helix.Chunk{Type: helix.ChunkCustom, EventName: "e\x00", Data: json.RawMessage(`{"z":"\u0000"}`)}
	if _, err := st.AppendChunks(ctx, "s-1", 0, []helix.Chunk{chunk}); err != nil {
		t.Fatalf("AppendChunks with NUL: %v", err)
	}
	chunks, err := st.ReadChunks(ctx, "s-1", 0, 0)
	if err != nil || len(chunks) != 1 || chunks[0].EventName != "e\x00" || string(chunks[0].Data) != `{"z":"\u0000"}` {
		t.Errorf("ReadChunks = %+v, %v", chunks, err)
	}

	bad := []helix.Chunk{{Type: helix.ChunkCustom, EventName: "ok", Data: json.RawMessage(`{"z":1}`)},
		{Type: helix.ChunkCustom, EventName: "bad", Data: json.RawMessage(`{"unterminated":`)}}
	if _, err := st.AppendChunks(ctx, "s-1", 0, bad); err == nil || !strings.Contains(err.Error(), "not valid JSON") {
		t.Errorf("AppendChunks with a malformed raw payload: %v, want an error", err)
	}
	if chunks, err := st.ReadChunks(ctx, "s-1", 0, 0); err != nil || len(chunks) != 1 {
		t.Errorf("after a refused append ReadChunks = %d chunks, %v; want the 1 stored before", len(chunks), err)
	}

	for _, id := range []string{"nul\x00id", "bad\xffutf8"} {
		err := st.CreateSession(ctx, &store.Session{ID: id, AgentType: "a"})
		if err == nil || !strings.Contains(err.Error(), "NUL byte or invalid UTF-8") {
			t.Errorf("CreateSession(%q): %v, want a clear error", id, err)
		}
		if _, err := st.GetSession(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetSession(%q): %v, want ErrNotFound", id, err)
		}
	}

	long := strings.Repeat("x", 9000)
	if err := st.CreateSession(ctx, &store.Session{ID: long, AgentType: "a"}); err != nil {
		t.Fatalf("CreateSession with a 9000-byte id: %v", err)
	}
	sub := subscribe(t, st, long, 0)
	time.Sleep(20 * time.Millisecond)
	if _, err := st.AppendChunks(ctx, long, 0, []helix.Chunk{{Type: helix.ChunkTextDelta, Delta: "hi"}}); err != nil {
		t.Fatalf("AppendChunks to a 9000-byte id: %v", err)
	}
	if c := waitChunk(t, sub, 2*time.Second, "subscriber of a 9000-byte id"); c.Delta != "hi" {
		t.Errorf("got %q", c.Delta)
	}
	if err := st.SetStreamStatus(ctx, long, 0, helix.StreamEnded); err != nil {
		t.Errorf("SetStreamStatus of a 9000-byte id: %v", err)
	}
}

// TestCancelDuringAppend cancels callers waiting for their group commit:
// they return promptly and the store keeps working.
func TestCancelDuringAppend(t *testing.T) {
	st, _ := openFresh(t)
	ctx := t.Context()
	if err := st.CreateSession(ctx, &store.Session{ID: "s-1", AgentType: "a"}); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, time.Duration(i%4)*200*time.Microsecond)
			defer cancel()
			start := time.Now()
			_, err := st.AppendChunks(cctx, "s-1", 0, []helix.Chunk{{Type: helix.ChunkTextDelta, Delta: "x"}})
			if err != nil && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("AppendChunks with a short deadline: %v", err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("AppendChunks took %v after its deadline", d)
			}
		})
	}
	wg.Wait()
	// Whatever landed is gap-free, and appends keep working.
	last, err := st.AppendChunks(ctx, "s-1", 0, []helix.Chunk{{Type: helix.ChunkTextDelta, Delta: "y"}})
	if err != nil {
		t.Fatalf("AppendChunks after cancelled ones: %v", err)
	}
	got, err := st.ReadChunks(ctx, "s-1", 0, 0)
	if err != nil || int64(len(got)) != last {
		t.Fatalf("ReadChunks = %d chunks, %v; want %d", len(got), err, last)
	}
	for i, c := range got {
		if c.Sequence != int64(i+1) {
			t.Fatalf("chunk %d has sequence %d", i, c.Sequence)
		}
	}
}

func TestNotifyPayloads(t *testing.T) {
	ids := []string{"a", "b:c", "12:x", "", "🚀 émoji", "s-1", strings.Repeat("y", 100)}
	payloads := pgstore.NotifyPayloads(ids)
	var got []string
	for _, p := range payloads {
		if len(p) > 7999 {
			t.Errorf("payload of %d bytes, more than PostgreSQL takes", len(p))
		}
		if !pgstore.ParsePayload(p, func(id string) { got = append(got, id) }) {
			t.Errorf("ParsePayload(%q) failed", p)
		}
	}
	if strings.Join(got, "\x00") != strings.Join(ids, "\x00") {
		t.Errorf("payloads %q name %q, want %q", payloads, got, ids)
	}

	// Many ids are spread over several payloads.
	var many []string
	for i := range 2000 {
		many = append(many, fmt.Sprintf("session-%06d", i))
	}
	got = nil
	payloads = pgstore.NotifyPayloads(many)
	if len(payloads) < 4 {
		t.Errorf("2000 ids of 14 bytes fit %d payloads of at most 7999 bytes?", len(payloads))
	}
	for _, p := range payloads {
		if len(p) > 7999 {
			t.Errorf("payload of %d bytes", len(p))
		}
		pgstore.ParsePayload(p, func(id string) { got = append(got, id) })
	}
	if len(got) != len(many) || got[0] != many[0] || got[len(got)-1] != many[len(many)-1] {
		t.Errorf("2000 ids came back as %d", len(got))
	}

	// An id too long for a payload wakes everyone.
	if p := pgstore.NotifyPayloads([]string{"a", strings.Repeat("z", 8000)}); len(p) != 1 || p[0] != "" {
		t.Errorf("payloads for an 8000-byte id = %d payloads, want the single empty one", len(p))
	}
	for _, bad := range []string{"", "x", "3:ab", ":a", "-1:a", "1a:b", "2:ab3"} {
		if pgstore.ParsePayload(bad, func(string) {}) {
			t.Errorf("ParsePayload(%q) succeeded, want failure (wake everyone)", bad)
		}
	}
}

// TestAsyncChunkCommitIsLocal checks that async_chunk_commit turns
// synchronous_commit off for appends only: no pooled connection keeps it,
// so other writes stay durable.
func TestAsyncChunkCommitIsLocal(t *testing.T) {
	st, _ := openFresh(t, "async_chunk_commit", "true", "pool_max_conns", "3")
	ctx := t.Context()
	var wg sync.WaitGroup
	for i := range 6 {
		id := fmt.Sprint("s-", i)
		if err := st.CreateSession(ctx, &store.Session{ID: id, AgentType: "a"}); err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
		wg.Go(func() {
			for range 30 {
				if _, err := st.AppendChunks(ctx, id, 0, []helix.Chunk{{Type: helix.ChunkTextDelta, Delta: "x"}}); err != nil {
					t.Errorf("AppendChunks: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	for i := range 6 {
		if last, err := st.AppendChunks(ctx, fmt.Sprint("s-", i), 0, nil); err != nil || last != 30 {
			t.Errorf("session %d: last sequence %d, %v; want 30", i, last, err)
		}
	}
	pool := pgstore.Pool(st)
	var conns []*pgxpool.Conn
	defer func() {
		for _, c := range conns {
			c.Release()
		}
	}()
	for range pool.Stat().MaxConns() {
		c, err := pool.Acquire(ctx)
		if err != nil {
			t.Fatalf("Acquire: %v", err)
		}
		conns = append(conns, c)
		var v string
		if err := c.QueryRow(ctx, "SELECT current_setting('synchronous_commit')").Scan(&v); err != nil {
			t.Fatalf("current_setting: %v", err)
		}
		if v != "on" {
			t.Errorf("a pooled connection has synchronous_commit=%s after async appends, want on", v)
		}
	}
}

// TestCrossStoreAppendStress appends from two stores (as two processes
// would) to overlapping sessions at once, so that group commits of both
// lock several streams each: every stream must stay gap-free, and no
// deadlock may happen (batches lock streams in id order).
func TestCrossStoreAppendStress(t *testing.T) {
	a, schema := openFresh(t)
	b := openAnother(t, schema)
	ctx := t.Context()
	conn := admin(ctx, t)
	defer conn.Close(ctx)
	deadlocks := func() int64 {
		var n int64
		if err := conn.QueryRow(ctx, "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()").Scan(&n); err != nil {
			t.Fatalf("reading pg_stat_database: %v", err)
		}
		return n
	}
	before := deadlocks()
	ids := []string{"s-d", "s-b", "s-a", "s-c"}
	for _, id := range ids {
		if err := a.CreateSession(ctx, &store.Session{ID: id, AgentType: "a"}); err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
	}
	const writers, calls = 8, 40
	var wg sync.WaitGroup
	for w := range 2 * writers {
		st := a
		if w%2 == 1 {
			st = b
		}
		wg.Go(func() {
			for c := range calls {
				id := ids[(w+c)%len(ids)]
				batch := []helix.Chunk{{Type: helix.ChunkCustom, EventName: "x"}, {Type: helix.ChunkCustom, EventName: "y"}}
				last, err := st.AppendChunks(ctx, id, 0, batch)
				if err != nil {
					t.Errorf("AppendChunks: %v", err)
					return
				}
				if batch[0].Sequence != last-1 || batch[1].Sequence != last {
					t.Errorf("in-place sequences %d, %d for a call that returned %d", batch[0].Sequence, batch[1].Sequence, last)
				}
			}
		})
	}
	wg.Wait()
	total := 0
	for _, id := range ids {
		got, err := b.ReadChunks(ctx, id, 0, 0)
		if err != nil {
			t.Fatalf("ReadChunks: %v", err)
		}
		total += len(got)
		for i, c := range got {
			if c.Sequence != int64(i+1) {
				t.Fatalf("%s: chunk %d has sequence %d", id, i, c.Sequence)
			}
			if want := []string{"x", "y"}[i%2]; c.EventName != want {
				t.Fatalf("%s: chunk %d is %q, want %q (one call's chunks are contiguous)", id, c.Sequence, c.EventName, want)
			}
		}
	}
	if total != 2*writers*calls*2 {
		t.Errorf("%d chunks stored, want %d", total, 2*writers*calls*2)
	}
	if n := deadlocks() - before; n != 0 {
		t.Errorf("%d deadlocks while two stores appended to shared streams", n)
	}
}

// TestExpire: the TTL sweep deletes the sessions last updated before its
// cutoff, with their stream, messages and chunks, unless they are running
// with their stream active, and keeps those updated since; the store goes
// on writing.
func TestExpire(t *testing.T) {
	st, _ := openFresh(t)
	ctx := t.Context()
	mk := func(id string) {
		t.Helper()
		if err := st.CreateSession(ctx, &store.Session{ID: id, AgentType: "x", Status: helix.StatusRunning}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.AppendChunks(ctx, id, 0, []helix.Chunk{{Type: helix.ChunkTextDelta, Delta: "a"}}); err != nil {
			t.Fatal(err)
		}
	}
	mk("old")
	if err := st.SetStreamStatus(ctx, "old", 0, helix.StreamEnded); err != nil {
		t.Fatal(err)
	}
	mk("live") // running, its stream stays active: kept
	// Created, never run: its stream is active too, but it is not running.
	if err := st.CreateSession(ctx, &store.Session{ID: "idle", AgentType: "x", Status: helix.StatusCompleted}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	cutoff := time.Now()
	time.Sleep(10 * time.Millisecond)
	mk("new")
	n, err := st.Expire(ctx, cutoff)
	if err != nil || n != 2 {
		t.Fatalf("Expire = %d, %v; want 2 sessions deleted", n, err)
	}
	for _, id := range []string{"old", "idle"} {
		if _, err := st.GetSession(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetSession(%q) after expiry: %v, want ErrNotFound", id, err)
		}
	}
	if _, err := st.ReadChunks(ctx, "old", 0, 0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf(`ReadChunks("old") after expiry: %v, want ErrNotFound`, err)
	}
	if _, err := st.AppendChunks(ctx, "old", 0, []helix.Chunk{{Type: helix.ChunkTextDelta, Delta: "b"}}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf(`AppendChunks("old") after expiry: %v, want ErrNotFound`, err)
	}
	for _, id := range []string{"live", "new"} {
		if got, err := st.ReadChunks(ctx, id, 0, 0); err != nil || len(got) != 1 {
			t.Fatalf("ReadChunks(%q) after expiry: %d chunks, %v; want 1", id, len(got), err)
		}
	}
	// Created again under the same id, the session starts afresh.
	mk("old")
	if got, err := st.ReadChunks(ctx, "old", 0, 0); err != nil || len(got) != 1 || got[0].Sequence != 1 {
		t.Fatalf(`"old" made again: %v, %v; want one chunk, sequence 1`, got, err)
	}
}

// TestExpireRacingCommit: a session updated by a transaction that the
// sweep has to wait for (it holds the row) is kept: the sweep checks the
// cutoff again on the row it finally gets.
func TestExpireRacingCommit(t *testing.T) {
	st, schema := openFresh(t)
	ctx := t.Context()
	if err := st.CreateSession(ctx, &store.Session{ID: "s", AgentType: "x", Status: helix.StatusCompleted}); err != nil {
		t.Fatal(err)
	}
	if err := st.SetStreamStatus(ctx, "s", 0, helix.StreamEnded); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	cutoff := time.Now()
	pool, err := pgxpool.New(ctx, serverURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	// As a commit would: the row is updated, and locked until COMMIT.
	if _, err := tx.Exec(ctx, "UPDATE "+pgx.Identifier{schema}.Sanitize()+".sessions SET updated_at = now() WHERE id = 's'"); err != nil {
		t.Fatal(err)
	}
	type result struct {
		n   int
		err error
	}
	res := make(chan result, 1)
	go func() {
		n, err := st.Expire(ctx, cutoff)
		res <- result{n, err}
	}()
	time.Sleep(300 * time.Millisecond) // the sweep waits on the row lock
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	r := <-res
	if r.err != nil || r.n != 0 {
		t.Fatalf("Expire racing a commit = %d, %v; want 0 sessions deleted", r.n, r.err)
	}
	if _, err := st.GetSession(ctx, "s"); err != nil {
		t.Fatalf("the session updated while the sweep waited: %v, want it kept", err)
	}
}

// TestEndRunRacingCommit: an EndRun and a Commit of the same session at
// once never deadlock: one wins, the other gets the sentinel Commit's
// contract names. (With the streams row share-locked by both, EndRun's
// later update of it deadlocked in about one round of six.)
func TestEndRunRacingCommit(t *testing.T) {
	st, _ := openFresh(t)
	ctx := t.Context()
	big := json.RawMessage(`"` + strings.Repeat("x", 200000) + `"`) // a commit slow enough to overlap
	for round := range 60 {
		id := fmt.Sprintf("race-%d", round)
		if err := st.CreateSession(ctx, &store.Session{ID: id, AgentType: "a", Status: helix.StatusRunning}); err != nil {
			t.Fatal(err)
		}
		s, err := st.GetSession(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		fence, err := st.NextFence(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		a, b := *s, *s
		a.Status, a.State = helix.StatusCompleted, big
		var endErr, commitErr error
		var wg sync.WaitGroup
		wg.Go(func() {
			_, endErr = st.EndRun(ctx, store.Commit{Session: &a, ExpectedVersion: a.Version, Fence: fence,
				Checkpoint: &store.Checkpoint{ID: "cp", State: big}}, []helix.Chunk{{Type: helix.ChunkRunEnd}}, helix.StreamEnded)
		})
		wg.Go(func() {
			time.Sleep(time.Duration(round%20) * 250 * time.Microsecond)
			_, commitErr = st.Commit(ctx, store.Commit{Session: &b, ExpectedVersion: b.Version, Fence: fence})
		})
		wg.Wait()
		for what, err := range map[string]error{"EndRun": endErr, "Commit": commitErr} {
			if err != nil && !errors.Is(err, store.ErrConflict) {
				t.Fatalf("round %d: %s: %v, want success or ErrConflict", round, what, err)
			}
		}
		if (endErr == nil) == (commitErr == nil) {
			t.Fatalf("round %d: EndRun %v, Commit %v: want exactly one to win", round, endErr, commitErr)
		}
	}
}
