// Package tail implements the live tail of a chunk stream for the durable
// store backends: a [Hub] of per-session wake-ups fed by whatever change
// notification the backend has (an in-process signal, Redis pub/sub,
// PostgreSQL LISTEN/NOTIFY), and [Follow], the Subscribe loop built on a
// backend's reads.
//
// Follow reads the stream status before the chunks, so a stream that ended
// after its last append is never cut short; it registers for a wake-up
// before reading, so a notification sent between a read and the wait is
// never lost; and it re-reads every poll interval, so a lost notification
// (a dropped connection, a writer in another process that cannot notify)
// costs latency, never correctness.
package tail

import (
	"context"
	"fmt"
	"iter"
	"sync"
	"sync/atomic"
	"time"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/store"
)

// Hub keeps the wake-up registrations of the sessions being followed.
// The zero value is not usable; create one with [NewHub]. A Hub is safe
// for concurrent use.
type Hub struct {
	mu      sync.Mutex
	waiters map[string]*Waiter    // each session's registrations, a list
	err     atomic.Pointer[error] // set by Close
}

// Waiter is one standing registration for a session's wake-ups, made by
// [Hub.Watch]. Its channel holds at most one pending wake-up: a
// notification sent while nobody receives is kept, later ones merge into
// it. So a follower registers once, before its first read, and never
// misses a change made between a read and its wait; a wake-up may find
// nothing new (the change was already read), which costs one read.
//
// A registration lasts until Close, so a live stream costs no allocation
// per wake-up.
type Waiter struct {
	hub  *Hub
	id   string
	c    chan struct{}
	next *Waiter // the session's next registration; guarded by hub.mu
	done bool    // closed; guarded by hub.mu
}

// NewHub returns an empty hub.
func NewHub() *Hub { return &Hub{waiters: make(map[string]*Waiter)} }

// Watch registers for id's wake-ups until the returned Waiter is closed.
// On a closed hub, the waiter is woken at once.
func (h *Hub) Watch(id string) *Waiter {
	w := &Waiter{hub: h, id: id, c: make(chan struct{}, 1)}
	h.mu.Lock()
	w.next = h.waiters[id]
	h.waiters[id] = w
	if h.err.Load() != nil {
		w.wake()
	}
	h.mu.Unlock()
	return w
}

// Close ends every [Follow] on h, now and later, with err (which should
// wrap store.ErrClosed): the backend calls it when it closes. Later calls
// do nothing.
func (h *Hub) Close(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.err.Load() != nil {
		return
	}
	h.err.Store(&err)
	for _, first := range h.waiters {
		for w := first; w != nil; w = w.next {
			w.wake()
		}
	}
}

// Err returns the error Close was given, or nil.
func (h *Hub) Err() error {
	if p := h.err.Load(); p != nil {
		return *p
	}
	return nil
}

// C receives a value after each [Hub.Notify] for the waiter's session (or
// [Hub.NotifyAll]); notifications not yet received merge into one.
func (w *Waiter) C() <-chan struct{} { return w.c }

// Close ends the registration. It is idempotent.
func (w *Waiter) Close() {
	h := w.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if w.done {
		return
	}
	w.done = true
	p := h.waiters[w.id]
	if p == w {
		if w.next == nil {
			delete(h.waiters, w.id)
		} else {
			h.waiters[w.id] = w.next
		}
		return
	}
	for ; p != nil; p = p.next {
		if p.next == w {
			p.next = w.next
			return
		}
	}
}

// wake leaves a wake-up in w's channel unless one is already pending.
func (w *Waiter) wake() {
	select {
	case w.c <- struct{}{}:
	default:
	}
}

// Notify wakes every waiter of id. It costs a map lookup when nobody
// watches.
func (h *Hub) Notify(id string) {
	h.mu.Lock()
	for w := h.waiters[id]; w != nil; w = w.next {
		w.wake()
	}
	h.mu.Unlock()
}

// NotifyAll wakes every waiter, for instance after a notification
// connection was re-established and notifications may have been lost.
func (h *Hub) NotifyAll() {
	h.mu.Lock()
	for _, first := range h.waiters {
		for w := first; w != nil; w = w.next {
			w.wake()
		}
	}
	h.mu.Unlock()
}

// Watching reports whether anyone watches id, so a backend can skip
// publishing a notification nobody in this process waits for. (Other
// processes may still wait: backends that share data publish anyway.)
func (h *Hub) Watching(id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.waiters[id] != nil
}

// Reader is what Follow needs of a backend: its own ReadChunks and
// StreamInfo. StreamInfo's status and last sequence must be one snapshot:
// Follow reads nothing when the last sequence is one it has yielded.
type Reader interface {
	ReadChunks(ctx context.Context, sessionID string, after int64, limit int) ([]helix.Chunk, error)
	StreamInfo(ctx context.Context, sessionID string) (store.StreamInfo, error)
}

// Options tune [Follow].
type Options struct {
	// Batch is how many chunks one read fetches; 0 means 512.
	Batch int
	// Poll is how often a waiting subscriber re-reads without a wake-up
	// (a tick every Poll re-reads if no wake-up came since the last one);
	// 0 means 2 s, a negative value never.
	Poll time.Duration
	// Cache, if set, answers reads when it can (see [Cache]); the backend
	// is read when it cannot, and after every poll tick.
	Cache *Cache
}

// Follow implements [store.Store.Subscribe] on r: it yields every chunk
// with sequence > after, then live chunks as hub wakes it, with no gap and
// no duplicate. It ends without error once every chunk is yielded and the
// stream is not active; with ctx.Err() when ctx is done; with the error
// given to hub.Close when the hub closes; and with r's error if a read
// fails.
// The backend must call hub.Notify(sessionID) after every append and status
// change it learns of.
func Follow(ctx context.Context, r Reader, hub *Hub, sessionID string, after int64, o Options) iter.Seq2[helix.Chunk, error] {
	batch := o.Batch
	if batch <= 0 {
		batch = 512
	}
	poll := o.Poll
	if poll == 0 {
		poll = 2 * time.Second
	}
	start := &follower{ctx: ctx, hub: hub, r: r, o: o, id: sessionID, next: max(after, 0), batch: batch, poll: poll}
	var used atomic.Bool
	return func(yield func(helix.Chunk, error) bool) {
		// The first iteration uses start itself; any later one a fresh
		// copy (so an idle stream holds one follower, not two).
		f := start
		if used.Swap(true) {
			f = start.fresh(max(after, 0))
		}
		// Registered before the first read, so that no change after it
		// goes unnoticed. Everything that ends a wait (a change, ctx, the
		// hub's close, the poll tick) wakes this one channel: a wait is a
		// plain receive, cheaper than a select over four.
		f.waiter = f.hub.Watch(f.id)
		f.stopCtx = context.AfterFunc(f.ctx, f.waiter.wake)
		defer f.stop()
		for f.step(yield) {
		}
	}
}

// step reads and yields what is new, or waits for a change; it reports
// whether the subscription goes on. The frames of Follow's loop and of
// step are what stays on the stack of an idle subscriber, and Go shrinks
// a goroutine's stack only when little of it is in use: so they are
// small, and reading and yielding (with their large chunk values) happen
// in helpers that have returned by the time step waits.
func (f *follower) step(yield func(helix.Chunk, error) bool) bool {
	if err := f.ctx.Err(); err != nil {
		yieldErr(yield, err)
		return false
	}
	more, done := f.readAndYield(yield)
	if done || more {
		return !done
	}
	if err := f.wait(f.waiter.C()); err != nil {
		yieldErr(yield, err)
		return false
	}
	return true
}

// follower is the state of one Follow subscription.
type follower struct {
	ctx    context.Context
	hub    *Hub
	r      Reader
	o      Options
	id     string
	next   int64 // the last sequence yielded
	batch  int
	poll   time.Duration
	timer  *time.Timer
	waiter *Waiter        // the subscription's wake-ups
	buf    []*helix.Chunk // what one read returned, being yielded
	polled bool           // the last wait ended by the poll timer
	live   bool           // a read has shown the stream active
	// stopCtx deregisters the wake-up on ctx's end.
	stopCtx func() bool
	// ticked is set by the poll timer before it wakes the waiter; wakes
	// counts the other wake-ups since the last tick (the follower's).
	ticked atomic.Bool
	wakes  int
}

// fresh returns a copy of f's settings that starts after the given
// sequence, for a later iteration of the sequence.
//
//go:noinline
func (f *follower) fresh(after int64) *follower {
	return &follower{ctx: f.ctx, hub: f.hub, r: f.r, o: f.o, id: f.id, next: after, batch: f.batch, poll: f.poll}
}

// stop releases what the subscription holds: its registration and timer.
func (f *follower) stop() {
	f.stopCtx()
	f.waiter.Close()
	if f.timer != nil {
		f.timer.Stop()
	}
}

// tick is the poll timer's callback.
func (f *follower) tick() {
	f.ticked.Store(true)
	f.waiter.wake()
}

// readAndYield reads the chunks after f.next (from the cache when it can
// answer, else the backend) and yields them. more: a full batch was read,
// read again at once. done: the subscription is over (the stream ended, an
// error was yielded, or the consumer stopped).
//
//go:noinline
func (f *follower) readAndYield(yield func(helix.Chunk, error) bool) (more, done bool) {
	ctx := f.ctx
	var (
		info   store.StreamInfo
		chunks []*helix.Chunk
		err    error
		cached bool
	)
	// What was read is yielded from f.buf, emptied (so that it does not
	// keep chunks alive while the stream idles) but kept for the next read.
	defer func() { clear(f.buf) }()
	haveInfo := false // info is the backend's
	if f.o.Cache != nil && !f.polled {
		chunks, info.Status, cached = f.o.Cache.Read(f.buf[:0], f.id, f.next, f.batch)
		f.buf = chunks
		// The cache may keep chunks and say "keep waiting", but the end of
		// a stream first seen in the cache is decided on the backend's
		// word: the cache knows only this process's writes, and may hold
		// the end of an earlier run that another process has since
		// followed with a new one. The backend is read for what the cache
		// lacks, if anything. A subscription that has seen the stream
		// active (f.live) takes the cache's word: its end was learnt from
		// this process's own commit of it, made after that, and the
		// subscription ends as of that commit (a stream another process
		// starts again afterwards is a new run, followed by a new
		// subscription, as it would be had the end been read a moment
		// later). So the usual end of a live stream costs no read.
		if cached && len(chunks) < f.batch && info.Status != helix.StreamActive && !f.live {
			upto := f.next
			if len(chunks) > 0 {
				upto = chunks[len(chunks)-1].Sequence
			}
			info, err = f.r.StreamInfo(ctx, f.id)
			haveInfo = err == nil
			if err != nil || info.LastSequence > upto {
				cached = false
			}
		}
	}
	if !cached {
		// Status first: every chunk appended before the stream stopped
		// being active is visible to the read that follows.
		var read []helix.Chunk
		if !haveInfo {
			info, err = f.r.StreamInfo(ctx, f.id)
		}
		if err == nil && info.LastSequence > f.next {
			// (Nothing to read otherwise: the usual end of a stream
			// costs one read, not two.)
			read, err = f.r.ReadChunks(ctx, f.id, f.next, f.batch)
		}
		chunks = f.buf[:0]
		for i := range read {
			chunks = append(chunks, &read[i])
		}
		f.buf = chunks
	}
	f.polled = false
	if err == nil && info.Status == helix.StreamActive {
		f.live = true
	}
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		yieldErr(yield, err)
		return false, true
	}
	for i := range chunks {
		if chunks[i].Sequence <= f.next {
			yieldErr(yield, fmt.Errorf("tail: session %q: chunk sequence %d after %d: stream out of order", f.id, chunks[i].Sequence, f.next))
			return false, true
		}
		if !yield(*chunks[i], nil) {
			return false, true
		}
		f.next = chunks[i].Sequence
	}
	if len(chunks) == f.batch {
		return true, false
	}
	// A short read reached the end of the stream as it was when info was
	// read; if the stream was no longer active then, there is nothing
	// more. Otherwise the caller waits: the watch was taken before the
	// read, so a change since fires wake.
	return false, info.Status != helix.StreamActive
}

// wait blocks until wake fires (a change, ctx's end, the hub's close or
// the poll timer); it returns the error that ends the subscription, if
// any.
//
// The poll timer is not reset on every wake-up (a timer operation per
// chunk is measurable on a busy server): wake-ups are counted, and a tick
// that finds some since the last one re-arms the timer instead of marking
// a poll. So a stream is re-read from the backend after one to two poll
// intervals without a wake-up. Every wake ends the wait, a tick's too: a
// change may have merged into it.
func (f *follower) wait(wake <-chan struct{}) error {
	if f.poll > 0 && f.timer == nil {
		f.timer = time.AfterFunc(f.poll, f.tick)
	}
	<-wake
	if err := f.ctx.Err(); err != nil {
		return err
	}
	if err := f.hub.Err(); err != nil {
		return err
	}
	if !f.ticked.Swap(false) {
		f.wakes++
		return nil
	}
	if f.wakes == 0 {
		f.polled = true
	}
	f.wakes = 0
	f.timer.Reset(f.poll)
	return nil
}

// yieldErr yields err with a zero chunk; kept out of line so that the
// zero chunk is not a local of the caller's frame.
//
//go:noinline
func yieldErr(yield func(helix.Chunk, error) bool, err error) {
	yield(helix.Chunk{}, err)
}
