package tail

import (
	"container/list"
	"sync"

	helix "github.com/helix-agents/helix-go"
)

// Cache keeps the newest chunks and the status of recently written streams
// in memory, so that [Follow] can serve live subscribers without reading
// the backend on every wake-up. A backend feeds it in commit order: Init
// when it creates a stream, Append after a successful append (with the
// sequences assigned), SetStatus after a status change. Reads fall back to
// the backend whenever the cache cannot answer exactly (an unknown stream,
// a position older than what is kept, a status it has not seen), and
// Follow re-reads the backend on every poll tick, so writes by other
// processes are still seen.
//
// Memory is bounded: between perStream and twice as many chunks per stream
// and maxStreams streams, least recently used first out. A Cache is safe for concurrent use.
type Cache struct {
	perStream  int
	maxStreams int

	mu  sync.Mutex
	m   map[string]*cacheEntry
	lru *list.List // of *cacheEntry, most recently used at the front
}

type cacheEntry struct {
	id          string
	status      helix.StreamStatus
	statusKnown bool
	// last is the stream's last sequence, valid when lastKnown; chunks
	// are the newest chunks, contiguous, ending at last.
	last      int64
	lastKnown bool
	chunks    []*helix.Chunk // never changed once appended
	elem      *list.Element
}

// NewCache returns a cache keeping at least perStream (and at most twice
// as many) of the newest chunks of each of up to maxStreams streams
// (defaults 32 and 4096 for values ≤ 0).
func NewCache(perStream, maxStreams int) *Cache {
	if perStream <= 0 {
		perStream = 32
	}
	if maxStreams <= 0 {
		maxStreams = 4096
	}
	return &Cache{perStream: perStream, maxStreams: maxStreams, m: map[string]*cacheEntry{}, lru: list.New()}
}

// entry returns id's entry, creating it; the caller holds mu.
func (c *Cache) entry(id string) *cacheEntry {
	e := c.m[id]
	if e != nil {
		c.lru.MoveToFront(e.elem)
		return e
	}
	e = &cacheEntry{id: id}
	e.elem = c.lru.PushFront(e)
	c.m[id] = e
	for c.lru.Len() > c.maxStreams {
		old := c.lru.Back().Value.(*cacheEntry)
		c.lru.Remove(old.elem)
		delete(c.m, old.id)
	}
	return e
}

// Init records a new stream: status and last sequence known, no chunks.
func (c *Cache) Init(id string, status helix.StreamStatus, last int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entry(id)
	e.status, e.statusKnown = status, true
	e.last, e.lastKnown = last, true
	e.chunks = e.chunks[:0]
}

// Append records chunks just committed to id's stream; their Sequence
// fields must be set and consecutive. The cache keeps pointers into
// chunks, not copies: the caller must not change them afterwards. If they
// do not follow the last known sequence (the entry was evicted, or another
// writer appended), what was kept is dropped and the entry starts again at
// these chunks.
func (c *Cache) Append(id string, chunks []helix.Chunk) {
	if len(chunks) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entry(id)
	if !e.lastKnown || chunks[0].Sequence != e.last+1 {
		e.chunks = e.chunks[:0]
		if e.lastKnown && chunks[0].Sequence <= e.last {
			// Out of order: trust nothing until Init.
			e.lastKnown, e.statusKnown = false, false
			return
		}
	}
	for i := range chunks {
		e.chunks = append(e.chunks, &chunks[i])
	}
	if n := len(e.chunks) - c.perStream; n > c.perStream {
		// Drop the oldest, reusing the array. Up to twice perStream are
		// kept between drops, so that an append does not move the kept
		// chunks every time.
		copy(e.chunks, e.chunks[n:])
		clear(e.chunks[len(e.chunks)-n:])
		e.chunks = e.chunks[:len(e.chunks)-n]
	}
	e.last, e.lastKnown = chunks[len(chunks)-1].Sequence, true
}

// SetStatus records a status change of id's stream.
func (c *Cache) SetStatus(id string, status helix.StreamStatus) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entry(id)
	e.status, e.statusKnown = status, true
}

// Forget drops what is known of id.
func (c *Cache) Forget(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.m[id]; e != nil {
		c.lru.Remove(e.elem)
		delete(c.m, id)
	}
}

// Reset forgets everything, for when another process may have written.
func (c *Cache) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.m)
	c.lru.Init()
}

// Read appends to dst up to limit chunks with sequence > after and
// returns it with the stream's status, as one consistent snapshot, if the
// cache knows them exactly: the status is known, the last sequence is
// known, and every chunk after after is kept. ok is false otherwise; the
// caller then reads the backend. The chunks are shared and must not be
// changed; the caller may keep them.
func (c *Cache) Read(dst []*helix.Chunk, id string, after int64, limit int) (chunks []*helix.Chunk, status helix.StreamStatus, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.m[id]
	if e == nil || !e.statusKnown || !e.lastKnown || after > e.last {
		return dst, "", false
	}
	if after == e.last {
		return dst, e.status, true
	}
	// The kept chunks are consecutive and end at e.last: the first one's
	// sequence is known without reading it (a cache miss, under c.mu).
	first := e.last - int64(len(e.chunks)) + 1
	if len(e.chunks) == 0 || first > after+1 {
		return dst, "", false
	}
	from := int(after + 1 - first)
	n := len(e.chunks) - from
	if limit > 0 && n > limit {
		n = limit
	}
	dst = append(dst, e.chunks[from:from+n]...)
	c.lru.MoveToFront(e.elem)
	return dst, e.status, true
}
