package redisstore

import (
	"bytes"
	"context"
	"fmt"
	"iter"
	"strconv"
	"sync"

	"github.com/redis/go-redis/v9"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/store"
	"github.com/helix-agents/helix-go/store/internal/tail"
)

// maxBatch bounds how many append calls one coalesced script call carries.
const maxBatch = 256

// appendCall is one AppendChunks call on its way to the server. Its
// arguments are pointers into the call (boxing a pointer allocates
// nothing); a call is reused only once it ran.
type appendCall struct {
	ctx   context.Context
	id    string    // the session
	keys  [2]string // hash, stream
	fence uint64
	n     int           // number of chunks
	note  []byte        // the call's part of a notification: "<len(id)>:<id>"
	buf   []byte        // the chunks' JSON
	offs  []int         // per chunk: start and split point in buf, then the end
	parts []piece       // the note, then the chunks' JSON in two pieces each
	args  []any         // appendScript's arguments
	done  chan struct{} // receives once the call ran (queued calls only)
	last  int64
	err   error
}

// piece is a byte slice passed to go-redis by pointer.
type piece struct{ b []byte }

// MarshalBinary returns the bytes; go-redis writes them as a bulk string.
func (p *piece) MarshalBinary() ([]byte, error) { return p.b, nil }

// headArgs is the number of appendScript arguments that come before the
// calls' own: the same for every call of a store.
const headArgs = 4

var callPool = sync.Pool{New: func() any { return &appendCall{done: make(chan struct{}, 1)} }}

// appender coalesces concurrent AppendChunks calls. Up to maxInflight
// round trips run at once. A call made while a slot is free and nothing
// waits runs at once, on the caller's goroutine; other calls queue up, and
// flusher goroutines send the queue in one call of appendScript
// as soon as a slot frees up.
type appender struct {
	s        *Store
	mu       sync.Mutex
	inflight int // round trips running or reserved for a flusher
	queue    []*appendCall
	kick     chan struct{} // one per slot reserved for a flusher
}

// maxInflight bounds the append round trips in flight per store: two, so
// that the server executes one batch while the next is on its way.
const maxInflight = 2

func (a *appender) init(s *Store) {
	a.s = s
	a.kick = make(chan struct{}, maxInflight)
}

// submit runs c. It returns false if the caller stopped waiting (its
// context is done or the store closed) before c ran; c may then still run
// later, and must not be reused.
func (a *appender) submit(c *appendCall) bool {
	a.mu.Lock()
	if a.inflight < maxInflight && len(a.queue) == 0 {
		a.inflight++
		a.mu.Unlock()
		one := [1]*appendCall{c}
		a.exec(c.ctx, one[:], nil)
		a.release()
		return true
	}
	a.queue = append(a.queue, c)
	a.mu.Unlock()
	select {
	case <-c.done:
		return true
	case <-c.ctx.Done():
	case <-a.s.done:
	}
	return false
}

// release frees a slot, or hands it to a flusher if calls are queued.
func (a *appender) release() {
	a.mu.Lock()
	if len(a.queue) == 0 {
		a.inflight--
		a.mu.Unlock()
		return
	}
	a.mu.Unlock()
	a.kick <- struct{}{} // never blocks: at most maxInflight slots exist
}

// flusher runs queued calls, one batch per kick, until the store closes.
func (a *appender) flusher() {
	defer a.s.wg.Done()
	var batch []*appendCall
	var buf batchBuf
	for {
		select {
		case <-a.kick:
		case <-a.s.done:
			return
		}
		a.mu.Lock()
		n := min(len(a.queue), maxBatch)
		batch = append(batch[:0], a.queue[:n]...)
		rest := copy(a.queue, a.queue[n:])
		clear(a.queue[rest:])
		a.queue = a.queue[:rest]
		a.mu.Unlock()
		if len(batch) > 0 {
			a.exec(a.s.ctx, batch, &buf)
			for _, c := range batch {
				c.done <- struct{}{}
			}
			clear(batch)
		}
		a.release()
	}
}

// exec runs a batch of calls, in one script call, sets their results and
// wakes the local subscribers of their sessions (also after an error: the
// write may have happened, and a spurious wake-up is harmless; this
// store's own notification is ignored when it comes back). b holds
// buffers for a batch of several calls.
func (a *appender) exec(ctx context.Context, batch []*appendCall, b *batchBuf) {
	s := a.s
	defer func() {
		for _, c := range batch {
			if c.n > 0 {
				s.hub.Notify(c.id)
			}
		}
	}()
	var keys []string
	var args []any
	live := batch
	if len(batch) == 1 {
		// A lone call has its arguments ready.
		c := batch[0]
		if c.err = c.ctx.Err(); c.err != nil {
			return
		}
		keys, args = c.keys[:], c.args
	} else {
		b.keys = b.keys[:0]
		b.args = append(b.args[:0], batch[0].args[:headArgs]...)
		live = b.live[:0]
		for _, c := range batch {
			if c.err = c.ctx.Err(); c.err != nil {
				continue
			}
			live = append(live, c)
			b.keys = append(b.keys, c.keys[:]...)
			b.args = append(b.args, c.args[headArgs:]...)
		}
		if len(live) == 0 {
			return
		}
		keys, args = b.keys, b.args
		defer func() {
			clear(b.args)
			clear(live)
			b.live = live[:0]
		}()
	}
	res, err := s.run(ctx, appendScript, keys, args...).Int64Slice()
	if err == nil && len(res) != len(live) {
		err = fmt.Errorf("append script returned %d results for %d calls", len(res), len(live))
	}
	for i, c := range live {
		switch {
		case err != nil:
			c.err = err
		case res[i] >= 0:
			c.last = res[i]
		case res[i] == -1:
			c.err = errNotFoundReply
		default:
			c.err = staleReply(-res[i] - 2)
		}
	}
}

// batchBuf holds a flusher's buffers for the arguments of a batch.
type batchBuf struct {
	keys []string
	args []any
	live []*appendCall
}

// timestampKey precedes the timestamp in a chunk's JSON; the sequence goes
// right after the timestamp's value.
var timestampKey = []byte(`,"timestamp":`)

// splitPoint returns where the sequence goes in the JSON of a chunk without
// one: after the timestamp. The key cannot occur earlier inside a string
// (a quote in a string is always escaped), so the first match is the field.
func splitPoint(js []byte) int {
	i := bytes.Index(js, timestampKey)
	if i < 0 {
		return -1
	}
	i += len(timestampKey)
	for i < len(js) && (js[i] == '-' || js[i] >= '0' && js[i] <= '9') {
		i++
	}
	return i
}

// encodeSplit appends the JSON of chunks, without their sequences, to buf,
// and to offs each one's start and split point (see splitPoint), then the
// end of the last.
func encodeSplit(op, sessionID string, buf []byte, offs []int, chunks []helix.Chunk) ([]byte, []int, error) {
	for i := range chunks {
		ch := chunks[i]
		ch.Sequence = 0
		start := len(buf)
		var err error
		if buf, err = ch.AppendJSON(buf); err != nil {
			return nil, nil, fmt.Errorf("redisstore: %s %q: encoding chunk %d: %w", op, sessionID, i, err)
		}
		split := splitPoint(buf[start:])
		if split < 0 {
			return nil, nil, fmt.Errorf("redisstore: %s %q: chunk %d: no timestamp in its JSON", op, sessionID, i)
		}
		offs = append(offs, start, start+split)
	}
	return buf, append(offs, len(buf)), nil
}

// AppendChunks appends chunks to the session's stream atomically and
// returns the last sequence assigned (the current last sequence if chunks
// is empty). Each chunk's Sequence is set in place in the caller's slice.
// Chunks can be appended whatever the stream status. Concurrent calls are
// coalesced into one script call (see the package doc). If ctx is done
// while the call waits for its turn, it returns ctx's error; the chunks may
// then still be appended.
func (s *Store) AppendChunks(ctx context.Context, sessionID string, fence uint64, chunks []helix.Chunk) (int64, error) {
	const op = "append chunks"
	if err := s.check(ctx, op); err != nil {
		return 0, err
	}
	c := callPool.Get().(*appendCall)
	c.ctx, c.id = ctx, sessionID
	k := s.keys(sessionID)
	c.keys = [2]string{k.s, k.x}
	c.fence = fence
	c.n = len(chunks)
	note := strconv.AppendInt(c.note[:0], int64(len(sessionID)), 10)
	note = append(note, ':')
	note = append(note, sessionID...)
	buf, offs, err := encodeSplit(op, sessionID, c.buf[:0], c.offs[:0], chunks)
	if err != nil {
		return 0, err
	}
	parts := append(c.parts[:0], piece{note})
	for i := range chunks {
		parts = append(parts, piece{buf[offs[2*i]:offs[2*i+1]]}, piece{buf[offs[2*i+1]:offs[2*i+2]]})
	}
	c.note, c.buf, c.offs, c.parts = note, buf, offs, parts
	c.args = append(c.args[:0], &s.ttlArg, &s.maxArg, &s.channel, &s.origin, &c.fence, &c.n, &c.parts[0])
	for i := 1; i < len(c.parts); i++ {
		c.args = append(c.args, &c.parts[i])
	}

	if !s.app.submit(c) {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		return 0, fmt.Errorf("redisstore: %s %q: %w", op, sessionID, store.ErrClosed)
	}
	last, err := c.last, c.err
	c.ctx, c.id, c.err = nil, "", nil
	clear(c.args)
	clear(c.parts)
	if cap(c.buf) <= 64<<10 {
		callPool.Put(c)
	}
	if err != nil {
		return 0, s.fail(ctx, op, sessionID, err)
	}
	first := last - int64(len(chunks)) + 1
	for i := range chunks {
		chunks[i].Sequence = first + int64(i)
	}
	return last, nil
}

// ReadChunks returns up to limit chunks with sequence > after (limit <= 0:
// all), oldest first. With retention, chunks older than the oldest kept
// are gone: the first chunk returned may be later than after+1.
func (s *Store) ReadChunks(ctx context.Context, sessionID string, after int64, limit int) ([]helix.Chunk, error) {
	const op = "read chunks"
	if err := s.check(ctx, op); err != nil {
		return nil, err
	}
	k := s.keys(sessionID)
	// Entry ids are "<sequence>-0"; a start id without its "-0" is the
	// same. Stream ids are unsigned 64-bit, so after+1 cannot overflow.
	start := strconv.FormatUint(uint64(max(after, 0))+1, 10)
	var raw *redis.RawCmd
	if limit > 0 {
		raw = redis.NewRawCmd(ctx, "xrange", k.x, start, "+", "count", limit)
	} else {
		raw = redis.NewRawCmd(ctx, "xrange", k.x, start, "+")
	}
	pipe := s.client.Pipeline()
	exists := pipe.Exists(ctx, k.s)
	_ = pipe.Process(ctx, raw)
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, s.fail(ctx, op, sessionID, err)
	}
	if exists.Val() == 0 {
		return nil, notFound(op, sessionID)
	}
	chunks, err := parseXRange(raw.Val())
	if err != nil {
		return nil, s.fail(ctx, op, sessionID, err)
	}
	return chunks, nil
}

// SetStreamStatus sets the stream's status and, if it changed, wakes its
// subscribers (in every store sharing the prefix).
func (s *Store) SetStreamStatus(ctx context.Context, sessionID string, fence uint64, status helix.StreamStatus) error {
	const op = "set stream status"
	if err := s.check(ctx, op); err != nil {
		return err
	}
	if !store.ValidStreamStatus(status) {
		return fmt.Errorf("redisstore: %s %q: invalid status %q", op, sessionID, status)
	}
	err := s.run(ctx, statusScript, s.keys(sessionID).both(), strconv.FormatUint(fence, 10), string(status),
		s.ttlArg, s.channel, s.origin+strconv.Itoa(len(sessionID))+":"+sessionID).Err()
	s.hub.Notify(sessionID)
	if err != nil {
		return s.fail(ctx, op, sessionID, err)
	}
	return nil
}

// StreamInfo returns the stream's status and its first and last
// sequences, read atomically.
func (s *Store) StreamInfo(ctx context.Context, sessionID string) (store.StreamInfo, error) {
	const op = "stream info"
	var info store.StreamInfo
	if err := s.check(ctx, op); err != nil {
		return info, err
	}
	k := s.keys(sessionID)
	res, err := s.runRead(ctx, streamInfoScript, []string{k.s, k.x}).Slice()
	if err != nil {
		return info, s.fail(ctx, op, sessionID, err)
	}
	st, ok1 := res[0].(string)
	last, ok2 := res[1].(int64)
	n, ok3 := res[2].(int64)
	if len(res) != 3 || !ok1 || !ok2 || !ok3 {
		return info, fmt.Errorf("redisstore: %s %q: unexpected reply %v", op, sessionID, res)
	}
	info.Status = helix.StreamStatus(st)
	info.LastSequence = last
	if n > 0 {
		info.FirstSequence = last - n + 1
	}
	return info, nil
}

// Subscribe yields every chunk with sequence > after, then live chunks as
// they are appended (through any store sharing the prefix), with no gap
// and no duplicate. It ends without error once it has yielded every chunk
// and the stream status is not active; with ctx's error (unwrapped) when
// ctx is done; with an error wrapping [store.ErrClosed] when the store is
// closed; and with an error wrapping [store.ErrNotFound] for an unknown
// session. A waiting subscriber holds no Redis connection.
func (s *Store) Subscribe(ctx context.Context, sessionID string, after int64) iter.Seq2[helix.Chunk, error] {
	return tail.Follow(ctx, s, s.hub, sessionID, after, tail.Options{Poll: s.o.PollInterval})
}

// PipelineAppends reports that appends wait on I/O, so writers should keep
// one in flight and batch the rest ([store.AppendPipeliner]).
func (s *Store) PipelineAppends() bool { return true }
