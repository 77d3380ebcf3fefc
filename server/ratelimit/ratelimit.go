// Package ratelimit limits request rates per key (a principal or a client
// IP) with token buckets, for the server's 429 responses.
//
// A [Limiter] holds one bucket per key, created on first use and dropped
// after a period of disuse, with a bound on the number of keys so that
// memory stays bounded whatever the traffic. [ClientIP] derives the IP key
// of a request, trusting X-Forwarded-For only from configured proxies.
package ratelimit

import (
	"container/list"
	"context"
	"hash/maphash"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Defaults for the zero fields of [Options].
const (
	DefaultRate    = 20.0             // tokens per second
	DefaultBurst   = 60               // bucket size
	DefaultIdleTTL = 10 * time.Minute // idle time after which a bucket is dropped
	DefaultMaxKeys = 100_000          // buckets kept at most
)

// Options configures a [Limiter]. The zero value means the defaults; a
// zero, negative or NaN field also means its default.
type Options struct {
	// Rate is the number of requests per second allowed per key in the
	// long run (the bucket's refill rate). Default DefaultRate (20/s).
	Rate float64
	// Burst is the bucket size: how many requests a key may make at once
	// after being idle. Default DefaultBurst (60).
	Burst int
	// IdleTTL is how long a bucket may go unused before it is dropped.
	// It is raised to the time a bucket takes to refill completely
	// (Burst/Rate) if shorter, so dropping a bucket never hands out
	// tokens early. Default DefaultIdleTTL (10 minutes).
	IdleTTL time.Duration
	// MaxKeys bounds the number of buckets held. When a new key arrives
	// and the limit is reached, the least recently used bucket is evicted
	// (rather than denying the new key, which would let a flood of
	// addresses lock out everyone else); an evicted key that returns
	// starts with a full bucket. The bound is enforced per shard
	// (MaxKeys divided among the shards), so the total never exceeds
	// MaxKeys. Default DefaultMaxKeys (100,000).
	MaxKeys int
	// Now returns the current time. Default time.Now; tests inject a fake
	// clock.
	Now func() time.Time
}

// Allower decides whether a request may proceed, by a key such as a
// principal's or a client address's: [Limiter] in the process, [Redis]
// shared by every process using the same Redis server. Allow reports
// whether the request may proceed and, if not, how long to wait, rounded
// up to whole seconds and at least one second (Retry-After).
type Allower interface {
	Allow(ctx context.Context, key string) (ok bool, retryAfter time.Duration)
}

// Limiter is a set of token buckets keyed by string. It is safe for
// concurrent use. Call Close to stop its janitor goroutine.
type Limiter struct {
	limit   rate.Limit
	burst   int
	ttl     time.Duration
	now     func() time.Time
	seed    maphash.Seed
	shards  []shard
	stop    chan struct{}
	done    chan struct{}
	closeMu sync.Once
}

// shard is one lock's worth of buckets, in least-recently-used order.
type shard struct {
	mu  sync.Mutex
	max int                      // buckets at most
	m   map[string]*list.Element // guarded by mu; values are *bucket
	lru list.List                // guarded by mu; front = most recently used
	_   [56]byte                 // pad to 128 bytes: shards on separate cache lines
}

type bucket struct {
	key  string
	lim  *rate.Limiter
	last time.Time // last use
}

// New returns a Limiter configured by o and starts its janitor, which
// drops idle buckets; Close stops it.
func New(o Options) *Limiter {
	if !(o.Rate > 0) || math.IsInf(o.Rate, 0) {
		o.Rate = DefaultRate
	}
	if o.Burst <= 0 {
		o.Burst = DefaultBurst
	}
	if o.IdleTTL <= 0 {
		o.IdleTTL = DefaultIdleTTL
	}
	if o.MaxKeys <= 0 {
		o.MaxKeys = DefaultMaxKeys
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if full := time.Duration(float64(o.Burst) / o.Rate * float64(time.Second)); o.IdleTTL < full {
		o.IdleTTL = full
	}
	// Small limits get one shard, so that eviction is exactly LRU.
	n := 64
	if o.MaxKeys < 64*64 {
		n = 1
	}
	l := &Limiter{
		limit:  rate.Limit(o.Rate),
		burst:  o.Burst,
		ttl:    o.IdleTTL,
		now:    o.Now,
		seed:   maphash.MakeSeed(),
		shards: make([]shard, n),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	for i := range l.shards {
		l.shards[i].max = o.MaxKeys / n
		l.shards[i].m = make(map[string]*list.Element)
	}
	go l.janitor(min(max(o.IdleTTL/2, time.Second), time.Minute))
	return l
}

// Allow takes a token from key's bucket. It reports whether the request
// may proceed and, if not, how long to wait until a token is available,
// rounded up to whole seconds and at least one second, as the
// Retry-After header wants.
func (l *Limiter) Allow(_ context.Context, key string) (ok bool, retryAfter time.Duration) {
	now := l.now()
	s := &l.shards[maphash.String(l.seed, key)%uint64(len(l.shards))]
	s.mu.Lock()
	var b *bucket
	if e := s.m[key]; e != nil {
		s.lru.MoveToFront(e)
		b = e.Value.(*bucket)
	} else {
		if s.lru.Len() >= s.max {
			old := s.lru.Back()
			s.lru.Remove(old)
			delete(s.m, old.Value.(*bucket).key)
		}
		b = &bucket{key: key, lim: rate.NewLimiter(l.limit, l.burst)}
		s.m[key] = s.lru.PushFront(b)
	}
	if now.After(b.last) {
		b.last = now
	}
	ok = b.lim.AllowN(now, 1)
	var tokens float64
	if !ok {
		tokens = b.lim.TokensAt(now)
	}
	s.mu.Unlock()
	if ok {
		return true, 0
	}
	secs := math.Ceil((1 - tokens) / float64(l.limit))
	return false, time.Duration(max(secs, 1)) * time.Second
}

// Len returns the number of buckets held.
func (l *Limiter) Len() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += s.lru.Len()
		s.mu.Unlock()
	}
	return n
}

// Close stops the janitor goroutine and waits for it to exit. The
// Limiter still works after Close, without dropping idle buckets. Close
// may be called more than once.
func (l *Limiter) Close() {
	l.closeMu.Do(func() { close(l.stop) })
	<-l.done
}

func (l *Limiter) janitor(every time.Duration) {
	defer close(l.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.sweep()
		}
	}
}

// sweep drops the buckets unused for longer than the idle TTL.
func (l *Limiter) sweep() {
	cutoff := l.now().Add(-l.ttl)
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		for e := s.lru.Back(); e != nil; e = s.lru.Back() {
			b := e.Value.(*bucket)
			if b.last.After(cutoff) {
				break
			}
			s.lru.Remove(e)
			delete(s.m, b.key)
		}
		s.mu.Unlock()
	}
}
