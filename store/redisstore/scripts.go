package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/helix-agents/helix-go/store"
)

// The write scripts. Session scripts get the session's hash and stream as
// KEYS[1] and KEYS[2] and report failures as error replies whose first
// word is a code that mapScriptError turns into a sentinel:
//
//	NOTFOUND            unknown session                 store.ErrNotFound
//	NOITEM              unknown run or checkpoint       store.ErrNotFound
//	STALEFENCE <newest> fencing token older than newest store.ErrStaleFence
//	CONFLICT <version>  stored version differs          store.ErrConflict
//	MSGCOUNT <stored>   wrong message count             store.ErrConflict
//	EXISTS              session or checkpoint id taken  store.ErrExists
//
// touch sets the expiry of the session's two keys: ttl milliseconds, or
// none for ttl <= 0.
const touchLua = `
local function touch(ttl)
  if ttl > 0 then
    redis.call('PEXPIRE', KEYS[1], ttl)
    redis.call('PEXPIRE', KEYS[2], ttl)
  else
    redis.call('PERSIST', KEYS[1])
    redis.call('PERSIST', KEYS[2])
  end
end
`

// createLua defines create(A, fence): it creates the session of KEYS[1]
// (stream KEYS[2], index KEYS[3]) with the fencing token fence issued, or
// returns an error reply. A = rec, createdAt, score, id, principal,
// agentType, status, ttl.
const createLua = `
local function create(A, fence)
  if redis.call('EXISTS', KEYS[1]) == 1 then
    return redis.error_reply('EXISTS')
  end
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'rec', A[1], 'v', 1, 'ca', A[2], 'f', fence, 'q', 0,
    'st', 'active', 'p', A[5], 'a', A[6], 's', A[7], 'mc', 0, 'rc', 0, 'cc', 0)
  redis.call('ZADD', KEYS[3], A[3], A[4])
  touch(tonumber(A[8]))
  return 1
end
`

// createScript: KEYS[3] = index; ARGV = create's A.
var createScript = redis.NewScript(touchLua + createLua + `
return create(ARGV, 0)
`)

// commitLua defines commit(A): the commit of the session of KEYS[1]
// (stream KEYS[2]), returning the new version or an error reply. A =
// fence, expectedVersion, messageCount, rec, principal, agentType, status,
// runID, run, checkpointID, checkpoint, clearControl, ttl, rewind,
// messages... An empty run or checkpoint id means none; rewind is the
// number of stored messages kept (store.Rewind), or empty. Every check
// comes before the first write: a refused commit writes nothing.
const commitLua = `
local function commit(A)
  local s = KEYS[1]
  local h = redis.call('HMGET', s, 'v', 'f', 'mc', 'rc', 'cc', 'ri:' .. A[8], 'ci:' .. A[10])
  if not h[1] then
    return redis.error_reply('NOTFOUND')
  end
  local fence = tonumber(A[1])
  if fence ~= 0 and fence < tonumber(h[2]) then
    return redis.error_reply('STALEFENCE ' .. h[2])
  end
  if tonumber(h[1]) ~= tonumber(A[2]) then
    return redis.error_reply('CONFLICT ' .. h[1])
  end
  local first = 15
  local nmsg = #A - first + 1
  local stored = tonumber(h[3])
  local mc = stored
  if A[14] ~= '' then
    mc = tonumber(A[14])
    if mc > stored then
      return redis.error_reply('MSGCOUNT ' .. h[3])
    end
  end
  if mc + nmsg ~= tonumber(A[3]) then
    return redis.error_reply('MSGCOUNT ' .. mc)
  end
  if A[10] ~= '' and h[7] then
    return redis.error_reply('EXISTS checkpoint')
  end
  local cc = tonumber(h[5])
  if A[14] ~= '' then
    -- The rewind: the messages from mc on, and the newest checkpoints
    -- while they count more messages than mc (each counts at least as
    -- many as the one before).
    local d = {}
    local function del(field)
      d[#d + 1] = field
      if #d >= 1000 then
        redis.call('HDEL', s, unpack(d))
        d = {}
      end
    end
    for i = mc, stored - 1 do
      del('m:' .. i)
    end
    while cc > 0 do
      local cp = cjson.decode(redis.call('HGET', s, 'c:' .. (cc - 1)))
      if cp.messageCount <= mc then
        break
      end
      del('c:' .. (cc - 1))
      del('ci:' .. cp.id)
      cc = cc - 1
    end
    if #d > 0 then
      redis.call('HDEL', s, unpack(d))
    end
  end
  local v = tonumber(h[1]) + 1
  local f = {'rec', A[4], 'v', v, 'p', A[5], 'a', A[6], 's', A[7], 'mc', mc + nmsg}
  if A[8] ~= '' then
    if h[6] then
      f[#f + 1] = 'r:' .. h[6]
      f[#f + 1] = A[9]
    else
      local rc = tonumber(h[4])
      f[#f + 1] = 'r:' .. rc
      f[#f + 1] = A[9]
      f[#f + 1] = 'ri:' .. A[8]
      f[#f + 1] = rc
      f[#f + 1] = 'rc'
      f[#f + 1] = rc + 1
    end
  end
  if A[10] ~= '' then
    f[#f + 1] = 'c:' .. cc
    f[#f + 1] = A[11]
    f[#f + 1] = 'ci:' .. A[10]
    f[#f + 1] = cc
    f[#f + 1] = 'cc'
    f[#f + 1] = cc + 1
  elseif A[14] ~= '' then
    f[#f + 1] = 'cc'
    f[#f + 1] = cc
  end
  for i = first, #A do
    f[#f + 1] = 'm:' .. (mc + i - first)
    f[#f + 1] = A[i]
    if #f >= 2000 then
      redis.call('HSET', s, unpack(f))
      f = {}
    end
  end
  if #f > 0 then
    redis.call('HSET', s, unpack(f))
  end
  if A[12] == '1' then
    redis.call('HDEL', s, 'ctl', 'ck')
  end
  touch(tonumber(A[13]))
  return v
end
`

// commitScript: ARGV = commit's A.
var commitScript = redis.NewScript(touchLua + commitLua + `
return commit(ARGV)
`)

// ownAppendLua defines appendOwn(A, p, n, maxlen): it appends n chunks to
// the stream of KEYS[1] and KEYS[2], their JSON in two pieces each from
// A[p] (as appendScript's), and returns the last sequence. The caller
// checked the session and its fence, and touches the keys after.
const ownAppendLua = `
local function appendOwn(A, p, n, maxlen)
  local seq = tonumber(redis.call('HGET', KEYS[1], 'q'))
  for i = 0, n - 1 do
    seq = seq + 1
    local sq = string.format('%d', seq)
    local v = A[p + 2 * i] .. ',"sequence":' .. sq .. A[p + 2 * i + 1]
    if maxlen > 0 and i == n - 1 then
      redis.call('XADD', KEYS[2], 'MAXLEN', '=', maxlen, sq .. '-0', 'c', v)
    else
      redis.call('XADD', KEYS[2], sq .. '-0', 'c', v)
    end
  end
  if n > 0 then
    redis.call('HSET', KEYS[1], 'q', seq)
  end
  return seq
end

local function tail(from)
  local t = {}
  for i = from, #ARGV do
    t[#t + 1] = ARGV[i]
  end
  return t
end
`

// endRunScript commits, appends the run's last chunks and sets the stream
// status, or writes nothing ([store.RunEnder]). ARGV = status, channel,
// notification, maxChunks, n, the n chunks in two pieces each, then
// commit's A. It returns the new version and the last sequence.
var endRunScript = redis.NewScript(touchLua + commitLua + ownAppendLua + `
local n = tonumber(ARGV[5])
local A = tail(6 + 2 * n)
local v = commit(A)
if type(v) == 'table' then
  return v
end
local seq = appendOwn(ARGV, 6, n, tonumber(ARGV[4]))
redis.call('HSET', KEYS[1], 'st', ARGV[1])
redis.call('PUBLISH', ARGV[2], ARGV[3])
touch(tonumber(A[13]))
return {v, seq}
`)

// startScript creates a session with fencing token 1, commits its first
// run and appends the run's first chunks, or writes nothing
// ([store.SessionStarter]). KEYS[3] = index; ARGV = create's A (8), then
// channel, notification, maxChunks, n, the n chunks in two pieces each,
// then commit's A. It returns the new version and the last sequence.
var startScript = redis.NewScript(touchLua + createLua + commitLua + ownAppendLua + `
local C = {}
for i = 1, 8 do
  C[i] = ARGV[i]
end
local r = create(C, 1)
if type(r) == 'table' then
  return r
end
local n = tonumber(ARGV[12])
local A = tail(13 + 2 * n)
local v = commit(A)
if type(v) == 'table' then
  redis.call('DEL', KEYS[1], KEYS[2])
  redis.call('ZREM', KEYS[3], ARGV[4])
  return v
end
local seq = appendOwn(ARGV, 13, n, tonumber(ARGV[11]))
if n > 0 then
  redis.call('PUBLISH', ARGV[9], ARGV[10])
end
touch(tonumber(A[13]))
return {v, seq}
`)

// appendScript appends chunks for one or several AppendChunks calls (see
// the coalescing in stream.go), of any sessions. KEYS = the hash and the
// stream of each call; ARGV = ttl, maxChunks, channel, origin, then per
// call: fence, number of chunks, notification part ("<len(id)>:<id>"), and
// each chunk's JSON in two pieces: up to its timestamp, and the rest. The
// script splices the assigned sequence between them. It returns one
// integer per call: the last sequence, -1 for an unknown session, or
// -2-newest for a stale fencing token (that call then writes nothing). It
// publishes one notification naming every session appended to.
var appendScript = redis.NewScript(`
local ttl = tonumber(ARGV[1])
local maxlen = tonumber(ARGV[2])
local out = {}
local notes = {}
local seen = {}
local a = 5
for c = 1, #KEYS / 2 do
  local hk, xk = KEYS[2 * c - 1], KEYS[2 * c]
  local fence = tonumber(ARGV[a])
  local n = tonumber(ARGV[a + 1])
  local note = ARGV[a + 2]
  local p = a + 3
  a = p + 2 * n
  local h = redis.call('HMGET', hk, 'f', 'q')
  if not h[1] then
    out[c] = -1
  elseif fence ~= 0 and fence < tonumber(h[1]) then
    out[c] = -2 - tonumber(h[1])
  else
    local seq = tonumber(h[2])
    if n > 0 then
      for i = 0, n - 1 do
        seq = seq + 1
        local sq = string.format('%d', seq)
        local v = ARGV[p + 2 * i] .. ',"sequence":' .. sq .. ARGV[p + 2 * i + 1]
        if maxlen > 0 and i == n - 1 then
          redis.call('XADD', xk, 'MAXLEN', '=', maxlen, sq .. '-0', 'c', v)
        else
          redis.call('XADD', xk, sq .. '-0', 'c', v)
        end
      end
      redis.call('HSET', hk, 'q', seq)
      if ttl > 0 then
        redis.call('PEXPIRE', hk, ttl)
        redis.call('PEXPIRE', xk, ttl)
      else
        redis.call('PERSIST', hk)
        redis.call('PERSIST', xk)
      end
      if not seen[note] then
        seen[note] = true
        notes[#notes + 1] = note
      end
    end
    out[c] = seq
  end
end
if #notes > 0 then
  redis.call('PUBLISH', ARGV[3], ARGV[4] .. table.concat(notes))
end
return out
`)

// statusScript: ARGV = fence, status, ttl, channel, notification.
var statusScript = redis.NewScript(touchLua + `
local h = redis.call('HMGET', KEYS[1], 'f', 'st')
if not h[1] then
  return redis.error_reply('NOTFOUND')
end
local fence = tonumber(ARGV[1])
if fence ~= 0 and fence < tonumber(h[1]) then
  return redis.error_reply('STALEFENCE ' .. h[1])
end
if h[2] ~= ARGV[2] then
  redis.call('HSET', KEYS[1], 'st', ARGV[2])
  redis.call('PUBLISH', ARGV[4], ARGV[5])
end
touch(tonumber(ARGV[3]))
return 1
`)

// fenceScript: ARGV = ttl.
var fenceScript = redis.NewScript(touchLua + `
if redis.call('EXISTS', KEYS[1]) == 0 then
  return redis.error_reply('NOTFOUND')
end
local f = redis.call('HINCRBY', KEYS[1], 'f', 1)
touch(tonumber(ARGV[1]))
return f
`)

// controlScript: ARGV = kind, request JSON, ttl. It returns 0 when an
// interrupt leaves a pending abort in place.
var controlScript = redis.NewScript(touchLua + `
local h = redis.call('HMGET', KEYS[1], 'v', 'ck')
if not h[1] then
  return redis.error_reply('NOTFOUND')
end
if h[2] == 'abort' and ARGV[1] == 'interrupt' then
  return 0
end
redis.call('HSET', KEYS[1], 'ctl', ARGV[2], 'ck', ARGV[1])
touch(tonumber(ARGV[3]))
return 1
`)

// The read scripts: reads that must be consistent, or that need dependent
// lookups, in one round trip.

// streamInfoScript: KEYS = hash, stream. It returns status, last
// sequence and the number of chunks kept.
var streamInfoScript = redis.NewScript(`
local h = redis.call('HMGET', KEYS[1], 'st', 'q')
if not h[1] then
  return redis.error_reply('NOTFOUND')
end
return {h[1], tonumber(h[2]), redis.call('XLEN', KEYS[2])}
`)

// pageScript: KEYS = hash; ARGV = count field, item field prefix, offset,
// limit (<= 0: all). It returns the item count, then the items
// [offset, offset+limit).
var pageScript = redis.NewScript(`
local h = redis.call('HMGET', KEYS[1], 'v', ARGV[1])
if not h[1] then
  return redis.error_reply('NOTFOUND')
end
local n = tonumber(h[2])
local lo = math.min(math.max(tonumber(ARGV[3]), 0), n)
local hi = n
local limit = tonumber(ARGV[4])
if limit > 0 and limit < n - lo then
  hi = lo + limit
end
local out = {n}
local i = lo
while i < hi do
  local f = {}
  local j = math.min(i + 1000, hi)
  for k = i, j - 1 do
    f[#f + 1] = ARGV[2] .. k
  end
  local vals = redis.call('HMGET', KEYS[1], unpack(f))
  for k = 1, #vals do
    out[#out + 1] = vals[k]
  end
  i = j
end
return out
`)

// itemScript: KEYS = hash; ARGV = item field prefix ("r:" or "c:"), then
// either the name of the field holding the item's position ("ri:<id>" or
// "ci:<id>") or, with a third argument, the count field, for the newest
// item.
var itemScript = redis.NewScript(`
local h = redis.call('HMGET', KEYS[1], 'v', ARGV[2])
if not h[1] then
  return redis.error_reply('NOTFOUND')
end
if not h[2] then
  return redis.error_reply('NOITEM')
end
local i = h[2]
if ARGV[3] then
  i = tonumber(h[2]) - 1
  if i < 0 then
    return redis.error_reply('NOITEM')
  end
end
local v = redis.call('HGET', KEYS[1], ARGV[1] .. i)
if not v then
  return redis.error_reply('NOITEM')
end
return v
`)

// pruneScript: KEYS = index, then session hashes; ARGV = the sessions'
// ids. It removes the index members whose session no longer exists.
var pruneScript = redis.NewScript(`
local n = 0
for i = 2, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 0 then
    n = n + redis.call('ZREM', KEYS[1], ARGV[i - 1])
  end
end
return n
`)

// Errors of appendScript's per-call results, mapped like error
// replies.
var errNotFoundReply = &scriptError{msg: "NOTFOUND", sentinel: store.ErrNotFound}

func staleReply(newest int64) error {
	return &scriptError{msg: fmt.Sprintf("STALEFENCE %d", newest), sentinel: store.ErrStaleFence}
}

// run runs a script that writes (EVALSHA, then EVAL if the server lacks
// it), sending it at most once: go-redis resends a command after a read
// timeout or a broken connection, although the server may have run it, and
// a write script run twice appends its chunks twice, or refuses its own
// start as an existing session. A caller then gets the error instead, as
// from any store whose reply is lost.
func (s *Store) run(ctx context.Context, sc *redis.Script, keys []string, args ...any) *redis.Cmd {
	return sc.Run(ctx, onceScripter{s.client}, keys, args...)
}

// runRead runs a script that only reads; go-redis may resend it.
func (s *Store) runRead(ctx context.Context, sc *redis.Script, keys []string, args ...any) *redis.Cmd {
	return sc.Run(ctx, s.client, keys, args...)
}

// onceScripter runs EVAL and EVALSHA as commands go-redis does not resend
// after a failure (the other methods are the client's).
type onceScripter struct{ redis.UniversalClient }

func (o onceScripter) Eval(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	return o.eval(ctx, "eval", script, keys, args)
}

func (o onceScripter) EvalSha(ctx context.Context, sha1 string, keys []string, args ...any) *redis.Cmd {
	return o.eval(ctx, "evalsha", sha1, keys, args)
}

func (o onceScripter) eval(ctx context.Context, name, payload string, keys []string, args []any) *redis.Cmd {
	cmdArgs := make([]any, 0, 3+len(keys)+len(args))
	cmdArgs = append(cmdArgs, name, payload, len(keys))
	for _, k := range keys {
		cmdArgs = append(cmdArgs, k)
	}
	cmdArgs = append(cmdArgs, args...)
	cmd := redis.NewCmd(ctx, cmdArgs...)
	if len(keys) > 0 {
		cmd.SetFirstKeyPos(3)
	}
	_ = o.Process(ctx, onceCmd{cmd})
	return cmd
}

// onceCmd is a command go-redis sends at most once.
type onceCmd struct{ *redis.Cmd }

// NoRetry tells go-redis not to resend the command.
func (onceCmd) NoRetry() bool { return true }

// scriptError is an error reply of a script, mapped to a sentinel.
type scriptError struct {
	msg      string
	sentinel error
}

func (e *scriptError) Error() string {
	code, detail, _ := strings.Cut(e.msg, " ")
	switch code {
	case "NOTFOUND", "NOITEM":
		return e.sentinel.Error()
	case "STALEFENCE":
		return fmt.Sprintf("newest token is %s: %v", detail, e.sentinel)
	case "CONFLICT":
		return fmt.Sprintf("stored version is %s: %v", detail, e.sentinel)
	case "MSGCOUNT":
		return fmt.Sprintf("message count does not match the %s stored messages plus the new ones: %v", detail, e.sentinel)
	case "EXISTS":
		if detail != "" {
			return detail + " id taken: " + e.sentinel.Error()
		}
		return e.sentinel.Error()
	}
	return e.msg
}

func (e *scriptError) Unwrap() error { return e.sentinel }

// mapScriptError returns err, or a *scriptError wrapping the sentinel its
// error reply stands for.
func mapScriptError(err error) error {
	var re redis.Error
	if !errors.As(err, &re) {
		return err
	}
	// Redis puts "ERR " before a message that has no error code of its own.
	msg := strings.TrimPrefix(re.Error(), "ERR ")
	code, _, _ := strings.Cut(msg, " ")
	var sentinel error
	switch code {
	case "NOTFOUND", "NOITEM":
		sentinel = store.ErrNotFound
	case "STALEFENCE":
		sentinel = store.ErrStaleFence
	case "CONFLICT", "MSGCOUNT":
		sentinel = store.ErrConflict
	case "EXISTS":
		sentinel = store.ErrExists
	default:
		return err
	}
	return &scriptError{msg: msg, sentinel: sentinel}
}
