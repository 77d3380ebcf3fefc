package ratelimit_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/helix-agents/helix-go/server/ratelimit"
)

// redisClient returns a client of the test Redis server (HELIX_TEST_REDIS_URL),
// and a fresh key prefix deleted at cleanup; it skips without the variable
// unless HELIX_REQUIRE_BACKENDS is set.
func redisClient(t *testing.T) (*redis.Client, string) {
	t.Helper()
	u := os.Getenv("HELIX_TEST_REDIS_URL")
	if u == "" && os.Getenv("HELIX_REQUIRE_BACKENDS") != "" {
		t.Fatal("HELIX_REQUIRE_BACKENDS is set but HELIX_TEST_REDIS_URL is not: the Redis limiter tests must run")
	}
	if u == "" {
		t.Skip("set HELIX_TEST_REDIS_URL (for example redis://127.0.0.1:6379/0) to run the Redis limiter tests")
	}
	opt, err := redis.ParseURL(u)
	if err != nil {
		t.Fatalf("HELIX_TEST_REDIS_URL: %v", err)
	}
	c := redis.NewClient(opt)
	if err := c.Ping(t.Context()).Err(); err != nil {
		c.Close()
		t.Fatalf("HELIX_TEST_REDIS_URL is set but the server cannot be reached: %v", err)
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	prefix := "helixtest:" + hex.EncodeToString(b[:]) + ":rl:"
	t.Cleanup(func() {
		ctx := context.Background()
		keys, _ := c.Keys(ctx, prefix+"*").Result()
		if len(keys) > 0 {
			c.Del(ctx, keys...)
		}
		c.Close()
	})
	return c, prefix
}

// TestRedisShared: two limiters on one Redis server and prefix (two
// processes) share each key's bucket: the burst is granted once between
// them, exactly, even to concurrent requests; other keys are unaffected;
// the bucket's key expires once it would be full again.
func TestRedisShared(t *testing.T) {
	c, prefix := redisClient(t)
	o := ratelimit.Options{Rate: 0.5, Burst: 5}
	a := ratelimit.NewRedis(c, prefix, o, nil)
	b := ratelimit.NewRedis(c, prefix, o, nil)
	defer a.Close()
	defer b.Close()
	ctx := t.Context()

	var granted atomic.Int64
	var wg sync.WaitGroup
	for i := range 40 {
		l := a
		if i%2 == 1 {
			l = b
		}
		wg.Go(func() {
			if ok, _ := l.Allow(ctx, "p:alice"); ok {
				granted.Add(1)
			}
		})
	}
	wg.Wait()
	if n := granted.Load(); n != 5 {
		t.Fatalf("40 concurrent requests through two processes: %d granted, want the burst, 5", n)
	}
	ok, retry := b.Allow(ctx, "p:alice")
	if ok || retry != 2*time.Second {
		t.Errorf("after the burst: ok %v, retry after %v; want denied, 2s (one token at 0.5/s)", ok, retry)
	}
	if ok, _ := a.Allow(ctx, "p:bob"); !ok {
		t.Error("another key was denied")
	}
	ttl, err := c.PTTL(ctx, prefix+"p:alice").Result()
	if err != nil || ttl <= 0 || ttl > 10*time.Second+time.Second {
		t.Errorf("bucket key expires in %v (%v); want within the 10s a full refill takes", ttl, err)
	}
}

// TestRedisRefill: tokens come back at the configured rate, by the Redis
// server's clock.
func TestRedisRefill(t *testing.T) {
	c, prefix := redisClient(t)
	l := ratelimit.NewRedis(c, prefix, ratelimit.Options{Rate: 20, Burst: 1}, nil)
	defer l.Close()
	ctx := t.Context()
	if ok, _ := l.Allow(ctx, "k"); !ok {
		t.Fatal("first request denied")
	}
	if ok, retry := l.Allow(ctx, "k"); ok || retry != time.Second {
		t.Fatalf("second request at once: ok %v, retry %v; want denied, 1s (rounded up)", ok, retry)
	}
	time.Sleep(120 * time.Millisecond) // > 50 ms per token
	if ok, _ := l.Allow(ctx, "k"); !ok {
		t.Error("no token after more than one refill interval")
	}
}

// TestRedisUnreachable: without Redis, decisions fall back to a limiter in
// the process (the burst, then 429s), with one warning.
func TestRedisUnreachable(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	defer c.Close()
	var logs strings.Builder
	l := ratelimit.NewRedis(c, "x:", ratelimit.Options{Rate: 0.01, Burst: 2}, slog.New(slog.NewTextHandler(&logs, nil)))
	defer l.Close()
	var got []bool
	for range 3 {
		ok, _ := l.Allow(t.Context(), "k")
		got = append(got, ok)
	}
	if got[0] != true || got[1] != true || got[2] != false {
		t.Errorf("decisions %v, want [true true false]", got)
	}
	if n := strings.Count(logs.String(), "Redis cannot decide"); n != 1 {
		t.Errorf("%d warnings, want 1:\n%s", n, logs.String())
	}
}

// TestRedisHung: a Redis server that accepts connections but never
// answers costs a decision about 250 ms (not the client's socket
// timeouts), the decision falls back to the process, and Redis is not
// asked again for a while.
func TestRedisHung(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var received atomic.Int64
	var conns sync.WaitGroup
	var mu sync.Mutex
	var open []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			open = append(open, c)
			mu.Unlock()
			conns.Go(func() {
				buf := make([]byte, 4096)
				for {
					n, err := c.Read(buf) // read, never answer
					received.Add(int64(n))
					if err != nil {
						return
					}
				}
			})
		}
	}()
	defer func() {
		ln.Close()
		mu.Lock()
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
		conns.Wait()
	}()
	c := redis.NewClient(ratelimit.ClientOptions(&redis.Options{Addr: ln.Addr().String(), Protocol: 2}))
	defer c.Close()
	l := ratelimit.NewRedis(c, "x:", ratelimit.Options{Rate: 0.01, Burst: 1}, slog.New(slog.DiscardHandler))
	defer l.Close()
	start := time.Now()
	ok, _ := l.Allow(t.Context(), "k")
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("a decision against a hung server took %v", took)
	}
	if !ok {
		t.Error("the fallback denied the first request")
	}
	sent := received.Load()
	if sent == 0 {
		t.Fatal("the limiter never asked the server")
	}
	if ok, _ := l.Allow(t.Context(), "k"); ok {
		t.Error("the fallback granted more than the burst")
	}
	time.Sleep(50 * time.Millisecond)
	if n := received.Load(); n != sent {
		t.Errorf("Redis was asked again right after failing (%d more bytes)", n-sent)
	}
}
