package ratelimit

import (
	"context"
	"log/slog"
	"math"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// gcra is the generic cell rate algorithm, the token bucket kept as one
// number: the bucket's "theoretical arrival time" (TAT), in microseconds
// of the Redis server's clock (so the processes sharing a bucket need not
// agree on the time). A bucket of burst b refilled every interval i
// allows a request at now if TAT − b·i ≤ now, then moves TAT on by i.
// The key expires once the bucket is full again.
//
// KEYS[1] the bucket; ARGV[1] the interval, ARGV[2] the burst. Returns
// {1, 0} if allowed, else {0, microseconds until a token is available}.
var gcra = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]))
if not tat or tat < now then tat = now end
local allowAt = tat + interval - burst * interval
if allowAt > now then
  return {0, allowAt - now}
end
tat = tat + interval
redis.call('SET', KEYS[1], string.format('%d', tat), 'PX', math.ceil((tat - now) / 1000) + 1)
return {1, 0}
`)

// redisTimeout bounds one decision's round trip: a Redis server that
// does not answer must not stall every request. After a failure, Redis is
// not asked again for redisPause.
const (
	redisTimeout = 250 * time.Millisecond
	redisPause   = 5 * time.Second
)

// ClientOptions returns the options of a client for [NewRedis], from base
// (typically those of the client a store uses, which are not changed): the
// same server, database and credentials, but with every call bounded by
// its context (go-redis otherwise waits for its socket timeouts, seconds,
// whatever the context says), short dial, read and write timeouts, no
// retries and a small pool.
func ClientOptions(base *redis.Options) *redis.Options {
	o := *base
	o.ContextTimeoutEnabled = true
	o.DialTimeout = redisTimeout
	o.ReadTimeout = redisTimeout
	o.WriteTimeout = redisTimeout
	o.MaxRetries = -1
	o.PoolSize = 16
	o.MinIdleConns = 0
	return &o
}

// Redis is an [Allower] whose buckets live in a Redis server, so that every
// process using the same server and key prefix shares them: a principal
// gets its rate once, not once per process behind the load balancer
// (DESIGN §5). Each decision is one round trip running a script (GCRA,
// equivalent to a token bucket of the same rate and burst). While Redis
// cannot be reached or does not answer within 250 ms, decisions fall back
// to an in-process [Limiter] of the same options (availability over
// exactness) for the next 5 s, with a warning at most once a minute. The
// client should be made with [ClientOptions], so that a hung server costs
// a decision 250 ms and not the client's socket timeouts.
type Redis struct {
	client   redis.UniversalClient
	prefix   string
	interval string // microseconds per token
	burst    string
	local    *Limiter
	log      *slog.Logger
	warned   atomic.Int64 // unix nanoseconds of the last warning
	pausedTo atomic.Int64 // unix nanoseconds until which Redis is not asked
}

// NewRedis returns a limiter keeping its buckets in client under prefix
// (for example "helix:ratelimit:p:"), with the rate and burst of o (their
// defaults if zero). log receives the fallback warnings; nil means
// slog.Default(). The client stays the caller's. Close stops the fallback.
func NewRedis(client redis.UniversalClient, prefix string, o Options, log *slog.Logger) *Redis {
	local := New(o)
	if log == nil {
		log = slog.Default()
	}
	return &Redis{
		client:   client,
		prefix:   prefix,
		interval: strconv.FormatInt(max(int64(math.Round(1e6/float64(local.limit))), 1), 10),
		burst:    strconv.Itoa(local.burst),
		local:    local,
		log:      log,
	}
}

// Allow implements [Allower].
func (r *Redis) Allow(ctx context.Context, key string) (ok bool, retryAfter time.Duration) {
	if time.Now().UnixNano() < r.pausedTo.Load() {
		return r.local.Allow(ctx, key)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), redisTimeout)
	defer cancel()
	res, err := gcra.Run(ctx, r.client, []string{r.prefix + key}, r.interval, r.burst).Int64Slice()
	if err != nil || len(res) != 2 {
		r.pausedTo.Store(time.Now().Add(redisPause).UnixNano())
		r.warn(err)
		return r.local.Allow(ctx, key)
	}
	if res[0] == 1 {
		return true, 0
	}
	secs := math.Ceil(float64(res[1]) / 1e6)
	return false, time.Duration(max(secs, 1)) * time.Second
}

// warn logs a fallback, at most once a minute.
func (r *Redis) warn(err error) {
	now := time.Now().UnixNano()
	last := r.warned.Load()
	if now-last < int64(time.Minute) || !r.warned.CompareAndSwap(last, now) {
		return
	}
	msg := "unexpected answer"
	if err != nil {
		msg = err.Error()
	}
	r.log.Warn("ratelimit: Redis cannot decide; limiting in this process meanwhile", "error", msg)
}

// Close stops the in-process fallback. It does not close the client.
func (r *Redis) Close() { r.local.Close() }
