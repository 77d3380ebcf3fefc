package ratelimit_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/helix-agents/helix-go/server/ratelimit"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// clock is a fake clock, safe for concurrent use.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func mustNew(t *testing.T, o ratelimit.Options) *ratelimit.Limiter {
	t.Helper()
	l := ratelimit.New(o)
	t.Cleanup(l.Close)
	return l
}

func TestAllow(t *testing.T) {
	type step struct {
		advance time.Duration
		key     string
		n       int // requests
		wantOK  int // how many of them are allowed
		retry   time.Duration
	}
	tests := []struct {
		name  string
		o     ratelimit.Options
		steps []step
	}{
		{"burst then deny", ratelimit.Options{Rate: 1, Burst: 3}, []step{
			{0, "a", 4, 3, time.Second},
		}},
		{"defaults: burst 60", ratelimit.Options{}, []step{
			{0, "a", 61, 60, time.Second},
		}},
		{"refill at rate", ratelimit.Options{Rate: 2, Burst: 2}, []step{
			{0, "a", 2, 2, 0},
			{0, "a", 1, 0, time.Second},
			{500 * time.Millisecond, "a", 2, 1, time.Second},
			{2 * time.Second, "a", 3, 2, time.Second},
		}},
		{"refill never exceeds burst", ratelimit.Options{Rate: 10, Burst: 5}, []step{
			{0, "a", 5, 5, 0},
			{time.Hour, "a", 6, 5, time.Second},
		}},
		{"retry after rounds up", ratelimit.Options{Rate: 0.1, Burst: 1}, []step{
			{0, "a", 2, 1, 10 * time.Second},
			{3 * time.Second, "a", 1, 0, 7 * time.Second},
			{6500 * time.Millisecond, "a", 1, 0, time.Second},
			{500 * time.Millisecond, "a", 1, 1, 0},
		}},
		{"slow rate retry", ratelimit.Options{Rate: 1.0 / 60, Burst: 1}, []step{
			{0, "a", 2, 1, time.Minute},
		}},
		{"keys independent", ratelimit.Options{Rate: 1, Burst: 1}, []step{
			{0, "a", 2, 1, time.Second},
			{0, "b", 1, 1, 0},
			{0, "a", 1, 0, time.Second},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClock()
			tt.o.Now = c.Now
			l := mustNew(t, tt.o)
			for i, s := range tt.steps {
				c.Advance(s.advance)
				got := 0
				var last time.Duration
				for range s.n {
					ok, retry := l.Allow(context.Background(), s.key)
					if ok {
						got++
						if retry != 0 {
							t.Errorf("step %d: Allow(%q) = true, %v; want retryAfter 0", i, s.key, retry)
						}
					}
					last = retry
				}
				if got != s.wantOK {
					t.Errorf("step %d: %d of %d allowed, want %d", i, got, s.n, s.wantOK)
				}
				if got < s.n && last != s.retry {
					t.Errorf("step %d: retryAfter = %v, want %v", i, last, s.retry)
				}
			}
		})
	}
}

func TestEvictionLRU(t *testing.T) {
	c := newClock()
	l := mustNew(t, ratelimit.Options{Rate: 1, Burst: 1, MaxKeys: 2, Now: c.Now})
	l.Allow(context.Background(), "a")
	l.Allow(context.Background(), "b")
	l.Allow(context.Background(), "a") // a is now more recent than b; denied
	l.Allow(context.Background(), "c") // evicts b
	if n := l.Len(); n != 2 {
		t.Fatalf("Len() = %d, want 2", n)
	}
	if ok, _ := l.Allow(context.Background(), "a"); ok {
		t.Error("Allow(a) = true: a was evicted, want its empty bucket kept")
	}
	if ok, _ := l.Allow(context.Background(), "b"); !ok {
		t.Error("Allow(b) = false: b was evicted, want a fresh bucket")
	}
}

func TestMaxKeysBound(t *testing.T) {
	l := mustNew(t, ratelimit.Options{MaxKeys: 10_000})
	for i := range 50_000 {
		l.Allow(context.Background(), strconv.Itoa(i))
	}
	if n := l.Len(); n > 10_000 {
		t.Errorf("Len() = %d, want ≤ 10000", n)
	}
}

func TestConcurrent(t *testing.T) {
	const burst = 100
	l := mustNew(t, ratelimit.Options{Rate: 1e-9, Burst: burst, Now: newClock().Now})
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 100 {
				if ok, _ := l.Allow(context.Background(), "shared"); ok {
					allowed.Add(1)
				}
				l.Allow(context.Background(), fmt.Sprint(g, i))
			}
		})
	}
	wg.Wait()
	if n := allowed.Load(); n != burst {
		t.Errorf("%d requests allowed on a shared key, want exactly %d", n, burst)
	}
}

func TestCloseIdempotent(t *testing.T) {
	l := ratelimit.New(ratelimit.Options{})
	l.Close()
	l.Close()
	if ok, _ := l.Allow(context.Background(), "a"); !ok {
		t.Error("Allow after Close = false, want true")
	}
}

func TestClientIP(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	tests := []struct {
		name   string
		remote string
		xff    []string
		want   string
	}{
		{"no proxy", "203.0.113.7:5000", nil, "203.0.113.7"},
		{"spoofed XFF from untrusted peer ignored", "203.0.113.7:5000", []string{"1.2.3.4"}, "203.0.113.7"},
		{"trusted proxy", "10.0.0.2:443", []string{"198.51.100.9"}, "198.51.100.9"},
		{"client-forged entries left of the real one", "10.0.0.2:443", []string{"1.2.3.4, 198.51.100.9"}, "198.51.100.9"},
		{"proxy chain", "10.0.0.2:443", []string{"1.2.3.4, 198.51.100.9, 10.1.1.1"}, "198.51.100.9"},
		{"several headers", "10.0.0.2:443", []string{"1.2.3.4", "198.51.100.9, 10.1.1.1"}, "198.51.100.9"},
		{"trusted proxy without XFF", "10.0.0.2:443", nil, "10.0.0.2"},
		{"all hops trusted", "10.0.0.2:443", []string{"10.9.9.9, 10.1.1.1"}, "10.9.9.9"},
		{"garbage ends the chain", "10.0.0.2:443", []string{"198.51.100.9, nonsense, 10.1.1.1"}, "10.1.1.1"},
		{"garbage from untrusted peer ignored", "203.0.113.7:1", []string{"nonsense"}, "203.0.113.7"},
		{"ipv6 peer", "[2001:db8::1]:443", nil, "2001:db8::1"},
		{"ipv6 proxy and client with port", "[fd00::1]:443", []string{"[2001:db8::2]:1234"}, "2001:db8::2"},
		{"ipv4-mapped peer", "[::ffff:10.0.0.2]:443", []string{"198.51.100.9"}, "198.51.100.9"},
		{"remote without port", "203.0.113.7", nil, "203.0.113.7"},
		{"unparsable remote", "pipe", []string{"1.2.3.4"}, "pipe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := ratelimit.ClientIP(r, trusted); got != tt.want {
				t.Errorf("ClientIP(RemoteAddr %q, XFF %q) = %q, want %q", tt.remote, tt.xff, got, tt.want)
			}
		})
	}
}

func BenchmarkAllow(b *testing.B) {
	l := ratelimit.New(ratelimit.Options{Rate: 1e9, Burst: 1 << 30})
	defer l.Close()
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = "principal-" + strconv.Itoa(i)
	}
	b.ReportAllocs()
	var next atomic.Uint32
	b.RunParallel(func(pb *testing.PB) {
		i := int(next.Add(1)) * 7919
		for pb.Next() {
			l.Allow(context.Background(), keys[i%len(keys)])
			i++
		}
	})
}

func TestAddrKey(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"203.0.113.7", "203.0.113.7"},
		{"2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"},
		{"2001:db8:1:3::1", "2001:db8:1:3::/64"},
		{"::1", "::/64"},
		{"not-an-ip", "not-an-ip"},
	} {
		if got := ratelimit.AddrKey(tc.in); got != tc.want {
			t.Errorf("AddrKey(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
