package redisstore_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/llm"
	"github.com/helix-agents/helix-go/store"
	"github.com/helix-agents/helix-go/store/redisstore"
	"github.com/helix-agents/helix-go/store/storetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testURL returns the URL of the test server, or skips the test if none is
// configured.
func testURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("HELIX_TEST_REDIS_URL")
	if u == "" && os.Getenv("HELIX_REQUIRE_BACKENDS") != "" {
		t.Fatal("HELIX_REQUIRE_BACKENDS is set but HELIX_TEST_REDIS_URL is not: the Redis store tests must run")
	}
	if u == "" {
		t.Skip("set HELIX_TEST_REDIS_URL (for example redis://127.0.0.1:6379/0) to run the Redis store tests; " +
			"the tests use keys under a random prefix and delete them afterwards")
	}
	return u
}

// randomPrefix returns a fresh key prefix.
func randomPrefix() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "helixtest:" + hex.EncodeToString(b[:]) + ":"
}

// withParams returns base with query parameters added.
func withParams(t testing.TB, base string, kv ...string) string {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("HELIX_TEST_REDIS_URL is not a URL")
	}
	q := u.Query()
	for i := 0; i < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// adminClient returns a client of the test server, failing the test if the
// server cannot be reached.
func adminClient(t testing.TB, rawURL string) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(rawURL)
	if err != nil {
		t.Fatalf("HELIX_TEST_REDIS_URL: %v", err)
	}
	c := redis.NewClient(opt)
	if err := c.Ping(context.Background()).Err(); err != nil {
		c.Close()
		t.Fatalf("HELIX_TEST_REDIS_URL is set but the server cannot be reached: %v", err)
	}
	return c
}

// deletePrefix deletes every key under prefix.
func deletePrefix(ctx context.Context, c *redis.Client, prefix string) error {
	iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var batch []string
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == 1000 {
			if err := c.Del(ctx, batch...).Err(); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	if err := iter.Err(); err != nil {
		return err
	}
	if len(batch) > 0 {
		return c.Del(ctx, batch...).Err()
	}
	return nil
}

// harness makes stores under fresh random prefixes of the test server and
// deletes their keys on Close. OpenAnother opens a store (with its own
// client) over the prefix of the last store made.
type harness struct {
	t         testing.TB
	url       string
	maxChunks int
	admin     *redis.Client
	prefixes  []string
}

func newHarness(maxChunks int) storetest.HarnessMaker {
	return func(ctx context.Context, t testing.TB) (storetest.Harness, error) {
		u := testURL(t)
		return &harness{t: t, url: u, maxChunks: maxChunks, admin: adminClient(t, u)}, nil
	}
}

func (h *harness) open(ctx context.Context, prefix string) (store.Store, error) {
	kv := []string{"prefix", prefix}
	if h.maxChunks != 0 {
		kv = append(kv, "max_chunks", strconv.Itoa(h.maxChunks))
	}
	return redisstore.Open(ctx, withParams(h.t, h.url, kv...))
}

// MakeExpiringStore opens a store over a new prefix whose keys expire ttl
// after their last write.
func (h *harness) MakeExpiringStore(ctx context.Context, ttl time.Duration) (store.Store, error) {
	p := randomPrefix()
	h.prefixes = append(h.prefixes, p)
	return redisstore.Open(ctx, withParams(h.t, h.url, "prefix", p, "ttl", ttl.String()))
}

var _ storetest.ExpiryHarness = (*harness)(nil)

func (h *harness) MakeStore(ctx context.Context) (store.Store, error) {
	p := randomPrefix()
	h.prefixes = append(h.prefixes, p)
	return h.open(ctx, p)
}

func (h *harness) OpenAnother(ctx context.Context) (store.Store, error) {
	return h.open(ctx, h.prefixes[len(h.prefixes)-1])
}

func (h *harness) Capabilities() storetest.Capabilities {
	n := h.maxChunks
	if n == 0 {
		n = redisstore.DefaultMaxChunks
	}
	return storetest.Capabilities{Retention: true, RetentionMaxChunks: n}
}

func (h *harness) Close() {
	for _, p := range h.prefixes {
		if err := deletePrefix(context.Background(), h.admin, p); err != nil {
			h.t.Errorf("deleting the test keys under %q: %v", p, err)
		}
	}
	h.admin.Close()
}

func TestConformance(t *testing.T) {
	testURL(t)
	// A cap above what the other cases append (ConcurrentAppends: 600).
	storetest.RunConformanceTests(t, newHarness(1000))
}

func BenchmarkStore(b *testing.B) {
	testURL(b)
	// The default cap: the read benchmark needs streams of 10000 chunks.
	storetest.RunBenchmarks(b, newHarness(0))
}

// env is a store under a fresh prefix with an admin client, cleaned up by
// t.Cleanup.
type env struct {
	ctx    context.Context
	url    string
	prefix string
	admin  *redis.Client
}

func newEnv(t *testing.T) *env {
	t.Helper()
	u := testURL(t)
	e := &env{ctx: t.Context(), url: u, prefix: randomPrefix(), admin: adminClient(t, u)}
	t.Cleanup(func() {
		if err := deletePrefix(context.Background(), e.admin, e.prefix); err != nil {
			t.Errorf("deleting test keys: %v", err)
		}
		e.admin.Close()
	})
	return e
}

// open opens a store under e's prefix with extra URL parameters.
func (e *env) open(t *testing.T, kv ...string) *redisstore.Store {
	t.Helper()
	st, err := redisstore.Open(e.ctx, withParams(t, e.url, append([]string{"prefix", e.prefix}, kv...)...))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return st
}

// sessionKeys returns the documented keys of a session.
func (e *env) sessionKeys(id string) []string {
	tag := e.prefix + "{" + base64.RawURLEncoding.EncodeToString([]byte(id)) + "}:"
	return []string{tag + "s", tag + "x"}
}

// writeAll makes every kind of write to session id, creating it first.
func writeAll(t *testing.T, ctx context.Context, st store.Store, id string) []func() error {
	t.Helper()
	if err := st.CreateSession(ctx, &store.Session{ID: id, AgentType: "a", Status: helix.StatusRunning}); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	n := 0
	commit := func() error {
		s, err := st.GetSession(ctx, id)
		if err != nil {
			return err
		}
		n++
		s.MessageCount++
		_, err = st.Commit(ctx, store.Commit{Session: s, ExpectedVersion: s.Version,
			Messages:   []llm.Message{llm.UserMessage("hi")},
			Run:        &store.Run{ID: "run-1", Status: helix.StatusRunning},
			Checkpoint: &store.Checkpoint{ID: "cp-" + strconv.Itoa(n), RunID: "run-1"}})
		return err
	}
	writes := []func() error{
		commit,
		func() error {
			_, err := st.AppendChunks(ctx, id, 0, []helix.Chunk{{Type: helix.ChunkTextDelta, Delta: "x"}})
			return err
		},
		func() error { return st.SetStreamStatus(ctx, id, 0, helix.StreamPaused) },
		func() error { return st.SetStreamStatus(ctx, id, 0, helix.StreamActive) },
		func() error { _, err := st.NextFence(ctx, id); return err },
		func() error {
			return st.RequestControl(ctx, id, store.ControlRequest{Kind: store.ControlInterrupt})
		},
	}
	for i, w := range writes {
		if err := w(); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	return writes
}

// TestTTL checks that every key of a session gets the TTL, and that every
// kind of write refreshes it on all of them.
func TestTTL(t *testing.T) {
	e := newEnv(t)
	st := e.open(t, "ttl", "1h")
	const id = "ttl {session}"
	writes := writeAll(t, e.ctx, st, id)
	keys := e.sessionKeys(id)
	for _, k := range keys {
		if n, err := e.admin.Exists(e.ctx, k).Result(); err != nil || n != 1 {
			t.Fatalf("key %q does not exist after writes of every kind (err %v)", k, err)
		}
		ttl, err := e.admin.PTTL(e.ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		if ttl <= 0 || ttl > time.Hour {
			t.Errorf("PTTL(%q) = %v after writes; want in (0, 1h]", k, ttl)
		}
	}
	for i, w := range writes {
		for _, k := range keys {
			if err := e.admin.PExpire(e.ctx, k, time.Minute).Err(); err != nil {
				t.Fatal(err)
			}
		}
		if err := w(); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		for _, k := range keys {
			ttl, err := e.admin.PTTL(e.ctx, k).Result()
			if err != nil {
				t.Fatal(err)
			}
			if ttl <= 50*time.Minute || ttl > time.Hour {
				t.Errorf("write %d did not refresh the expiry of %q: PTTL %v, want close to 1h", i, k, ttl)
			}
		}
	}

	// A store without expiry makes the keys persistent again on its writes.
	never := e.open(t, "ttl", "never")
	if _, err := never.NextFence(e.ctx, id); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if ttl, err := e.admin.PTTL(e.ctx, k).Result(); err != nil || ttl != -1 {
			t.Errorf("PTTL(%q) = %v (err %v) after a write by a store with ttl=never; want -1 (no expiry)", k, ttl, err)
		}
	}
	writeAll(t, e.ctx, never, "other")
	for _, k := range e.sessionKeys("other") {
		if ttl, err := e.admin.PTTL(e.ctx, k).Result(); err != nil || ttl != -1 {
			t.Errorf("PTTL(%q) = %v (err %v) with ttl=never; want -1 (no expiry)", k, ttl, err)
		}
	}
}

// TestDefaultTTL checks that the default expiry is 30 days.
func TestDefaultTTL(t *testing.T) {
	e := newEnv(t)
	st := e.open(t)
	if err := st.CreateSession(e.ctx, &store.Session{ID: "s", AgentType: "a"}); err != nil {
		t.Fatal(err)
	}
	ttl, err := e.admin.PTTL(e.ctx, e.sessionKeys("s")[0]).Result()
	if err != nil {
		t.Fatal(err)
	}
	if ttl <= 29*24*time.Hour || ttl > redisstore.DefaultTTL {
		t.Errorf("PTTL of a new session's hash = %v, want about %v", ttl, redisstore.DefaultTTL)
	}
}

// TestOpenErrors checks that Open fails clearly, without the password, for
// a wrong password, an unreachable server and malformed URLs.
func TestOpenErrors(t *testing.T) {
	base := testURL(t)
	const secret = "s3cret-Pa55word"
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	wrong := *u
	wrong.User = url.UserPassword("helix-no-such-user", secret)
	unreachable := url.URL{Scheme: "redis", User: url.UserPassword("", secret), Host: "127.0.0.1:1", Path: "/0"}
	for _, tc := range []struct {
		name, url, want string
	}{
		{"wrong password", wrong.String(), "WRONGPASS"},
		{"unreachable", unreachable.String(), "127.0.0.1:1"},
		{"bad ttl", "redis://:" + secret + "@127.0.0.1:6379/0?ttl=soon", "ttl"},
		{"bad max_chunks", "redis://:" + secret + "@127.0.0.1:6379/0?max_chunks=many", "max_chunks"},
		{"unknown redis option", "redis://:" + secret + "@127.0.0.1:6379/0?bogus=1", "bogus"},
		{"bad database", "redis://:" + secret + "@127.0.0.1:6379/x", "database"},
		{"malformed", "redis://:" + secret + "@[::1", "malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			for _, open := range []struct {
				name string
				fn   func() (store.Store, error)
			}{
				{"redisstore.Open", func() (store.Store, error) { return redisstore.Open(ctx, tc.url) }},
				{"store.Open", func() (store.Store, error) { return store.Open(ctx, tc.url) }},
			} {
				st, err := open.fn()
				if err == nil {
					st.Close()
					t.Fatalf("%s succeeded, want an error", open.name)
				}
				if strings.Contains(err.Error(), secret) {
					t.Errorf("%s error contains the password: %v", open.name, err)
				}
				if !strings.Contains(err.Error(), tc.want) {
					t.Errorf("%s error %q does not mention %q", open.name, err, tc.want)
				}
			}
		})
	}
}

// TestOpenCancelled checks that Open with a done context returns its error.
func TestOpenCancelled(t *testing.T) {
	u := testURL(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := redisstore.Open(ctx, u); !errors.Is(err, context.Canceled) {
		t.Errorf("Open with a cancelled context: %v, want context.Canceled", err)
	}
}

// TestNewDoesNotOwnClient checks that Close leaves a client passed to New
// open, and that the store works over it.
func TestNewDoesNotOwnClient(t *testing.T) {
	e := newEnv(t)
	st, err := redisstore.New(e.admin, redisstore.Options{KeyPrefix: e.prefix})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateSession(e.ctx, &store.Session{ID: "s", AgentType: "a"}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.admin.Ping(e.ctx).Err(); err != nil {
		t.Errorf("the client given to New was closed by Store.Close: %v", err)
	}
	if _, err := st.GetSession(e.ctx, "s"); !errors.Is(err, store.ErrClosed) {
		t.Errorf("GetSession after Close: %v, want ErrClosed", err)
	}
	if _, err := redisstore.New(nil, redisstore.Options{}); err == nil {
		t.Errorf("New(nil client) succeeded")
	}
}

// subscribeFirst subscribes to id after `after` and returns a channel that
// receives the first chunk's sequence (or 0 and an error).
func subscribeFirst(ctx context.Context, st store.Store, id string, after int64) <-chan error {
	ch := make(chan error, 1)
	go func() {
		for c, err := range st.Subscribe(ctx, id, after) {
			if err != nil {
				ch <- err
				return
			}
			if c.Sequence != after+1 {
				ch <- fmt.Errorf("first chunk has sequence %d, want %d", c.Sequence, after+1)
				return
			}
			ch <- nil
			return
		}
		ch <- errors.New("subscription ended without a chunk")
	}()
	return ch
}

// TestCrossStoreWakeUp checks that a subscriber of one store is woken by
// another store's append through Pub/Sub, with polling switched off.
func TestCrossStoreWakeUp(t *testing.T) {
	e := newEnv(t)
	sub := e.open(t, "poll_interval", "-1s")
	writer := e.open(t)
	if err := writer.CreateSession(e.ctx, &store.Session{ID: "s", AgentType: "a"}); err != nil {
		t.Fatal(err)
	}
	var worst time.Duration
	for i := range 5 {
		got := subscribeFirst(e.ctx, sub, "s", int64(i))
		time.Sleep(30 * time.Millisecond) // let it wait
		start := time.Now()
		if _, err := writer.AppendChunks(e.ctx, "s", 0, []helix.Chunk{{Type: helix.ChunkTextDelta, Delta: "x"}}); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-got:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("a subscriber of another store was not woken by an append (polling is off)")
		}
		worst = max(worst, time.Since(start))
	}
	t.Logf("worst wake-up latency across stores: %v", worst)
	if worst > time.Second {
		t.Errorf("wake-up across stores took %v; want well under a second", worst)
	}
}

// TestPubSubReconnect kills the subscriber store's Pub/Sub connection and
// checks that a subscriber still gets the next chunk promptly (polling is
// off, so only the reconnection and its wake-up can deliver it).
func TestPubSubReconnect(t *testing.T) {
	e := newEnv(t)
	name := "helixtest-" + strings.Trim(e.prefix[len("helixtest:"):], ":")
	sub := e.open(t, "poll_interval", "-1s", "client_name", name)
	writer := e.open(t)
	if err := writer.CreateSession(e.ctx, &store.Session{ID: "s", AgentType: "a"}); err != nil {
		t.Fatal(err)
	}
	kill := func() int {
		list, err := e.admin.ClientList(e.ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		killed := 0
		for _, line := range strings.Split(list, "\n") {
			f := map[string]string{}
			for _, kv := range strings.Fields(line) {
				k, v, _ := strings.Cut(kv, "=")
				f[k] = v
			}
			if f["name"] == name && strings.Contains(f["flags"], "P") {
				if err := e.admin.Do(e.ctx, "client", "kill", "id", f["id"]).Err(); err != nil {
					t.Fatal(err)
				}
				killed++
			}
		}
		return killed
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		// Wait for the listener to have subscribed.
		list, _ := e.admin.ClientList(e.ctx).Result()
		if strings.Contains(list, "name="+name) && strings.Contains(list, "sub=1") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the store's Pub/Sub connection did not show up in CLIENT LIST")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for i := range 3 {
		got := subscribeFirst(e.ctx, sub, "s", int64(i))
		time.Sleep(30 * time.Millisecond)
		if n := kill(); n != 1 {
			t.Fatalf("killed %d Pub/Sub connections of the store, want 1", n)
		}
		// Append at once: the notification may well be published while
		// the subscriber's connection is down.
		if _, err := writer.AppendChunks(e.ctx, "s", 0, []helix.Chunk{{Type: helix.ChunkTextDelta, Delta: "x"}}); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-got:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("round %d: no wake-up after the Pub/Sub connection was killed (polling is off)", i)
		}
		// Let the listener resubscribe before the next kill.
		time.Sleep(50 * time.Millisecond)
	}
}

// TestScriptCacheFlush checks that writes recover when the server loses
// its script cache (a restart or SCRIPT FLUSH), also for pipelined appends.
func TestScriptCacheFlush(t *testing.T) {
	e := newEnv(t)
	st := e.open(t)
	if err := st.CreateSession(e.ctx, &store.Session{ID: "s", AgentType: "a"}); err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		if err := e.admin.ScriptFlush(e.ctx).Err(); err != nil {
			t.Fatal(err)
		}
		errs := make(chan error, 8)
		for range 8 {
			go func() {
				_, err := st.AppendChunks(e.ctx, "s", 0, []helix.Chunk{{Type: helix.ChunkTextDelta, Delta: "x"}})
				errs <- err
			}()
		}
		for range 8 {
			if err := <-errs; err != nil {
				t.Fatalf("round %d: AppendChunks after SCRIPT FLUSH: %v", round, err)
			}
		}
	}
	info, err := st.StreamInfo(e.ctx, "s")
	if err != nil || info.LastSequence != 16 {
		t.Errorf("StreamInfo = %+v, %v; want last sequence 16", info, err)
	}
}

// TestIndexPrune checks that ListSessions skips and removes index members
// whose session expired.
func TestIndexPrune(t *testing.T) {
	e := newEnv(t)
	st := e.open(t)
	for _, id := range []string{"keep", "gone"} {
		if err := st.CreateSession(e.ctx, &store.Session{ID: id, AgentType: "a"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.admin.Del(e.ctx, e.sessionKeys("gone")...).Err(); err != nil {
		t.Fatal(err)
	}
	page, err := st.ListSessions(e.ctx, store.SessionQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if page.Total != 1 || len(page.Items) != 1 || page.Items[0].ID != "keep" {
		t.Errorf("ListSessions after a session expired: Total %d, %d items; want only %q", page.Total, len(page.Items), "keep")
	}
	members, err := e.admin.ZRange(e.ctx, e.prefix+"sessions", 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(members) != 1 || members[0] != "keep" {
		t.Errorf("index members after ListSessions = %q, want [keep] (expired members removed)", members)
	}
}

// TestChunkJSONStored checks that the stream holds each chunk's wire JSON
// with its sequence, under the entry id "<sequence>-0", and that retention
// trims exactly.
func TestChunkJSONStored(t *testing.T) {
	e := newEnv(t)
	st := e.open(t, "max_chunks", "3")
	if err := st.CreateSession(e.ctx, &store.Session{ID: "s", AgentType: "a"}); err != nil {
		t.Fatal(err)
	}
	in := []helix.Chunk{
		{Type: helix.ChunkTextDelta, SessionID: "s", Timestamp: -5, Delta: `a "timestamp":1,`},
		{Type: helix.ChunkTextDelta, SessionID: "s", Timestamp: 7, Sequence: 99, Delta: "b"},
	}
	for range 3 {
		if _, err := st.AppendChunks(e.ctx, "s", 0, in); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := e.admin.XRange(e.ctx, e.sessionKeys("s")[1], "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 3 {
		t.Fatalf("stream holds %d entries with max_chunks=3, want 3", len(entries))
	}
	for i, en := range entries {
		seq := int64(4 + i)
		if en.ID != fmt.Sprintf("%d-0", seq) {
			t.Errorf("entry %d has id %s, want %d-0", i, en.ID, seq)
		}
		want := in[(seq-1)%2]
		want.Sequence = seq
		js, _ := want.MarshalJSON()
		if got, _ := en.Values["c"].(string); got != string(js) {
			t.Errorf("entry %s holds %s, want %s", en.ID, got, js)
		}
	}
}

// TestWritesNotResent: a write whose reply is late (the server is busy
// past the client's read timeout) fails with the timeout and runs once. The
// go-redis default resends it, so an append was stored twice and a
// session's start was refused as an existing session, though it had
// started.
func TestWritesNotResent(t *testing.T) {
	u := testURL(t)
	admin := adminClient(t, u)
	defer admin.Close()
	prefix := randomPrefix()
	defer func() { _ = deletePrefix(context.Background(), admin, prefix) }()
	opt, err := redis.ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	opt.ReadTimeout = 200 * time.Millisecond
	client := redis.NewClient(opt)
	defer client.Close()
	// Idle connections ready: a resend goes out on one at once.
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { _ = client.Ping(t.Context()).Err() })
	}
	wg.Wait()
	st, err := redisstore.New(client, redisstore.Options{KeyPrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := t.Context()
	if err := st.CreateSession(ctx, &store.Session{ID: "s-1", AgentType: "a", Status: helix.StatusCompleted}); err != nil {
		t.Fatal(err)
	}
	start := func(id string) error {
		sess := &store.Session{ID: id, AgentType: "a", Principal: "p", Status: helix.StatusCompleted}
		first := *sess
		first.Status, first.CurrentRunID, first.RunCount, first.MessageCount = helix.StatusRunning, "run-1", 1, 1
		_, err := st.StartSession(ctx, sess, store.Commit{Session: &first, ExpectedVersion: 1, Fence: 1,
			Run: &store.Run{ID: "run-1", Turn: 1, Status: helix.StatusRunning}, Messages: []llm.Message{llm.UserMessage("hi")}},
			[]helix.Chunk{{Type: helix.ChunkRunStart, SessionID: id}})
		return err
	}
	// The scripts are loaded first: a call whose EVALSHA times out is not
	// followed by an EVAL.
	if err := start("warm"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AppendChunks(ctx, "warm", 0, []helix.Chunk{{Type: helix.ChunkTextDelta, Delta: "warm"}}); err != nil {
		t.Fatal(err)
	}
	// busy keeps the server running one script for 500 ms, so the next
	// command's reply comes after the store's read timeout.
	busy := func() chan error {
		done := make(chan error, 1)
		go func() {
			done <- admin.Eval(context.Background(), `local t = redis.call('TIME')
local start = t[1] * 1000000 + t[2]
repeat t = redis.call('TIME') until t[1] * 1000000 + t[2] - start > 500000
return 1`, nil).Err()
		}()
		time.Sleep(50 * time.Millisecond)
		return done
	}

	done := busy()
	_, err = st.AppendChunks(ctx, "s-1", 0, []helix.Chunk{{Type: helix.ChunkTextDelta, Delta: "once"}})
	if err == nil {
		t.Error("AppendChunks answered after the read timeout")
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	info, err := st.StreamInfo(ctx, "s-1")
	if err != nil || info.LastSequence != 1 {
		t.Errorf("StreamInfo = %+v, %v; want the chunk stored once (last sequence 1)", info, err)
	}

	done = busy()
	err = start("s-2")
	if err == nil || errors.Is(err, store.ErrExists) {
		t.Errorf("StartSession after the read timeout: %v; want the timeout, not ErrExists", err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if info, err := st.StreamInfo(ctx, "s-2"); err != nil || info.LastSequence != 1 {
		t.Errorf("StreamInfo = %+v, %v; want the run_start stored once", info, err)
	}
}
