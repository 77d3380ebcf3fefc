package pgstore

import (
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/store"
	"github.com/helix-agents/helix-go/store/internal/tail"
)

// maxPayload bounds a notification payload (PostgreSQL's limit is 8000
// bytes).
const maxPayload = 7999

// notifyPayloads returns the notification payloads naming the sessions
// ids. A payload is a sequence of ids, each written as its length in
// bytes, a colon and the id ("3:s-15:s-xyz"), so that one notification
// wakes the subscribers of many sessions; the empty payload wakes every
// subscriber (it names a session too long for a payload).
func notifyPayloads(ids []string) []string {
	var out []string
	var b []byte
	for i, id := range ids {
		if i > 0 && id == ids[i-1] {
			continue
		}
		n := len(id) + len(strconv.Itoa(len(id))) + 1
		if n > maxPayload {
			return []string{""}
		}
		if len(b)+n > maxPayload {
			out = append(out, string(b))
			b = b[:0]
		}
		b = strconv.AppendInt(b, int64(len(id)), 10)
		b = append(b, ':')
		b = append(b, id...)
	}
	if len(b) > 0 {
		out = append(out, string(b))
	}
	return out
}

// parsePayload calls f with every session id of a payload. It reports
// false for a payload that does not parse (or is empty): then every
// subscriber should be woken.
func parsePayload(p string, f func(id string)) bool {
	if p == "" {
		return false
	}
	for p != "" {
		colon := strings.IndexByte(p, ':')
		if colon <= 0 {
			return false
		}
		n, err := strconv.Atoi(p[:colon])
		if err != nil || n < 0 || n > len(p)-colon-1 {
			return false
		}
		f(p[colon+1 : colon+1+n])
		p = p[colon+1+n:]
	}
	return true
}

// maxBatchBytes stops a group commit from taking more appends once their
// chunks add up to this many bytes.
const maxBatchBytes = 4 << 20

// maxSpins and maxSpinWait bound how long the group committer yields to
// let the writers of its previous batches append again before it commits.
const (
	maxSpins    = 16
	maxSpinWait = 200 * time.Microsecond
)

// appendReq is one AppendChunks call waiting for a group commit. The
// caller owns it again once it has received the reply.
type appendReq struct {
	ctx   context.Context
	id    string
	fence uint64
	n     int
	buf   []byte   // the chunks' JSON, back to back
	data  [][]byte // one slice of buf per chunk
	reply chan appendResult
}

// appendResult is the outcome of one append.
type appendResult struct {
	last int64
	err  error
}

var reqPool = sync.Pool{New: func() any { return &appendReq{reply: make(chan appendResult, 1)} }}

// AppendChunks appends chunks to the session's stream and returns the last
// sequence assigned (the current last sequence if chunks is empty). Each
// chunk's Sequence is set in place in the caller's slice. Chunks can be
// appended whatever the stream status. Chunks are stored as their JSON
// wire form: a call with a chunk whose raw payloads (Data, Output,
// Arguments…) are not valid JSON fails and appends nothing. Concurrent
// calls are group-committed (see the package doc). If ctx is done while the
// call waits for its commit, the call returns ctx.Err() but the chunks may
// still be appended.
func (s *Store) AppendChunks(ctx context.Context, sessionID string, fence uint64, chunks []helix.Chunk) (int64, error) {
	const op = "append chunks"
	if err := s.check(ctx, op); err != nil {
		return 0, err
	}
	if !validText(sessionID) {
		return 0, notFound(op, sessionID)
	}
	if len(chunks) == 0 {
		return s.streamHead(ctx, op, sessionID, fence)
	}
	r := reqPool.Get().(*appendReq)
	r.ctx, r.id, r.fence, r.n = ctx, sessionID, fence, len(chunks)
	var err error
	if r.buf, r.data, err = encodeChunks(op, sessionID, chunks, r.buf[:0], r.data[:0]); err != nil {
		reqPool.Put(r)
		return 0, err
	}
	select {
	case s.appq <- r:
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-s.done:
		return 0, fmt.Errorf("pgstore: %s %q: %w", op, sessionID, store.ErrClosed)
	}
	var res appendResult
	select {
	case res = <-r.reply:
	case <-ctx.Done():
		return 0, ctx.Err() // r stays with the appender
	case <-s.done:
		return 0, fmt.Errorf("pgstore: %s %q: %w", op, sessionID, store.ErrClosed)
	}
	r.ctx = nil
	if cap(r.buf) <= 64<<10 {
		reqPool.Put(r)
	}
	if res.err != nil {
		return 0, res.err
	}
	first := res.last - int64(len(chunks)) + 1
	for i := range chunks {
		chunks[i].Sequence = first + int64(i)
	}
	return res.last, nil
}

// encodeChunks appends the stored form of chunks to buf, one slice of it
// per chunk in data: their JSON wire form without the sequence (the row's
// key holds it). A chunk whose raw payloads (Data, Output…) are not valid
// JSON is refused: it would make the stream unreadable.
func encodeChunks(op, id string, chunks []helix.Chunk, buf []byte, data [][]byte) ([]byte, [][]byte, error) {
	for i := range chunks {
		c := &chunks[i]
		seq := c.Sequence
		c.Sequence = 0
		start := len(buf)
		var err error
		buf, err = c.AppendJSON(buf)
		c.Sequence = seq
		if err == nil && !json.Valid(buf[start:]) {
			err = errors.New("a raw JSON payload of the chunk is not valid JSON")
		}
		if err != nil {
			return buf, data, fmt.Errorf("pgstore: %s %q: encoding chunk %d: %w", op, id, i, err)
		}
		data = append(data, buf[start:len(buf):len(buf)])
	}
	return buf, data, nil
}

// streamHead returns the last sequence after checking the fence: the
// append of no chunks.
func (s *Store) streamHead(ctx context.Context, op, id string, fence uint64) (int64, error) {
	var f, last int64
	err := s.pool.QueryRow(ctx, s.sql.streamHead, id).Scan(&f, &last)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, notFound(op, id)
	}
	if err != nil {
		return 0, s.fail(ctx, op, id, err)
	}
	if fence != 0 && fence < uint64(f) {
		return 0, staleFence(op, id, fence, uint64(f))
	}
	return last, nil
}

// appender is a group-commit goroutine: it takes every append waiting
// (up to MaxAppendBatch) and commits them together.
func (s *Store) appender() {
	defer s.wg.Done()
	batch := make([]*appendReq, 0, s.o.MaxAppendBatch)
	var prev, prev2 int // sizes of the last two batches
	for {
		batch = batch[:0]
		select {
		case r := <-s.appq:
			batch = append(batch, r)
		case <-s.done:
			return
		}
		// Take what is waiting. Writers that append in a loop tend to
		// split into two cohorts, one committing while the other queues;
		// the callers of the previous batch were just woken by their
		// replies and are about to append again, so when fewer appends wait
		// than the last two batches had, give them a few chances to run
		// first: the cohorts merge, and one commit (one WAL flush) serves
		// them all.
		want := min(prev+prev2, s.o.MaxAppendBatch)
		size := len(batch[0].buf)
		var deadline time.Time
		for spins := 0; len(batch) < s.o.MaxAppendBatch && size < maxBatchBytes; spins++ {
			select {
			case r := <-s.appq:
				batch = append(batch, r)
				size += len(r.buf)
				continue
			default:
			}
			if len(batch) >= want || spins >= maxSpins {
				break
			}
			if spins == 0 {
				deadline = time.Now().Add(maxSpinWait)
			} else if time.Now().After(deadline) {
				break
			}
			runtime.Gosched()
		}
		prev, prev2 = len(batch), prev
		s.commitAppends(batch)
		clear(batch)
	}
}

// commitAppends commits a batch of appends in one pipelined transaction and
// replies to each. If the transaction fails as a whole, each append is
// retried alone, so that one bad append fails alone.
func (s *Store) commitAppends(batch []*appendReq) {
	// Drop the appends whose caller gave up.
	live := batch[:0]
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.reply <- appendResult{err: err}
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	// Lock sessions in id order, as every batch does: two batches (of any
	// process) sharing sessions cannot deadlock. The sort is stable, so
	// one session's appends keep their arrival order.
	slices.SortStableFunc(live, func(a, b *appendReq) int { return cmp.Compare(a.id, b.id) })
	results := make([]appendResult, len(live))
	if err := s.runAppends(live, results); err != nil {
		// The server refused the transaction (or it was never sent):
		// nothing was written, and each append is retried alone, so that
		// a bad one fails alone. Any other failure (a connection lost
		// while committing) leaves the outcome unknown: no retry then,
		// which could append twice.
		var pe *pgconn.PgError
		retry := len(live) > 1 && (errors.As(err, &pe) || pgconn.SafeToRetry(err)) && s.bg.Err() == nil
		for i, r := range live {
			if retry {
				err = s.runAppends(live[i:i+1], results[i:i+1])
			}
			if err != nil {
				results[i] = appendResult{err: s.fail(r.ctx, "append chunks", r.id, err)}
			}
		}
	}
	for i, r := range live {
		if results[i].err == nil {
			s.hub.Notify(r.id)
		}
		r.reply <- results[i]
	}
}

// runAppends runs the appends of batch (sorted by session id) in one
// transaction, one round trip, filling results with each append's
// outcome. It returns an error if the transaction failed, and then nothing
// was written.
//
// One statement takes one append per session; a session with several
// appends in the batch gets the later ones in further statements of the
// same pipeline ("rounds"), which see the earlier ones' effects.
func (s *Store) runAppends(batch []*appendReq, results []appendResult) error {
	b := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, 2)}
	if s.o.AsyncChunkCommit {
		b.Queue("SELECT set_config('synchronous_commit', 'off', true)")
	}
	var members [][]int // batch indexes of each round's appends; nil: the batch is one append
	if len(batch) == 1 {
		// The simpler statement costs less.
		r := batch[0]
		b.Queue(s.sql.appendOne, r.id, int64(r.fence), int64(r.n), r.data, s.channel, notifyPayloads([]string{r.id})[0])
	} else {
		round := make([]int, len(batch))
		rounds := 1
		for i := 1; i < len(batch); i++ {
			if batch[i].id == batch[i-1].id {
				round[i] = round[i-1] + 1
				rounds = max(rounds, round[i]+1)
			}
		}
		members = make([][]int, rounds)
		for k := range rounds {
			var (
				ids                []string
				fences, ns         []int64
				data               [][]byte
				chunkReq, chunkPos []int64
			)
			for i, r := range batch {
				if round[i] != k {
					continue
				}
				members[k] = append(members[k], i)
				ids = append(ids, r.id)
				fences = append(fences, int64(r.fence))
				ns = append(ns, int64(r.n))
				j := int64(len(ids))
				for p, d := range r.data {
					data = append(data, d)
					chunkReq = append(chunkReq, j)
					chunkPos = append(chunkPos, int64(p+1))
				}
			}
			b.Queue(s.sql.appendMany, ids, fences, ns, data, chunkReq, chunkPos, s.channel, notifyPayloads(ids))
		}
	}
	if s.o.MaxChunks > 0 {
		// Retention, in the same transaction as the appends.
		ids := make([]string, 0, len(batch))
		for i, r := range batch {
			if i == 0 || r.id != batch[i-1].id { // sorted by id
				ids = append(ids, r.id)
			}
		}
		b.Queue(s.sql.trimChunks, ids, int64(s.o.MaxChunks))
	}
	br := s.pool.SendBatch(s.bg, b)
	if s.o.AsyncChunkCommit {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return err
		}
	}
	// An append the result does not mention (appendOne returns no row for
	// an unknown session) keeps last -1.
	for i := range results {
		results[i] = appendResult{last: -1}
	}
	rounds := max(len(members), 1)
	for k := range rounds {
		rows, err := br.Query()
		if err != nil {
			br.Close()
			return err
		}
		for rows.Next() {
			var (
				i           int64
				fence, last *int64
				notified    int64
			)
			if err := rows.Scan(&i, &fence, &last, &notified); err != nil {
				rows.Close()
				br.Close()
				return err
			}
			j := 0 // the append's index in batch
			if members != nil {
				if i < 1 || int(i) > len(members[k]) {
					rows.Close()
					br.Close()
					return fmt.Errorf("append result for append %d of %d", i, len(members[k]))
				}
				j = members[k][i-1]
			}
			r := batch[j]
			switch {
			case fence == nil:
				results[j] = appendResult{err: notFound("append chunks", r.id)}
			case last == nil:
				results[j] = appendResult{err: staleFence("append chunks", r.id, r.fence, uint64(*fence))}
			default:
				results[j] = appendResult{last: *last}
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			br.Close()
			return err
		}
	}
	if s.o.MaxChunks > 0 {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return err
		}
	}
	if err := br.Close(); err != nil {
		return err
	}
	for j, r := range batch {
		if results[j].err == nil && results[j].last < 0 {
			results[j] = appendResult{err: notFound("append chunks", r.id)}
		}
	}
	return nil
}

// ReadChunks returns up to limit chunks with sequence > after (limit <= 0:
// all), in a fresh slice.
func (s *Store) ReadChunks(ctx context.Context, sessionID string, after int64, limit int) ([]helix.Chunk, error) {
	const op = "read chunks"
	if err := s.check(ctx, op); err != nil {
		return nil, err
	}
	if !validText(sessionID) {
		return nil, notFound(op, sessionID)
	}
	after = max(after, 0)
	rows, err := s.pool.Query(ctx, s.sql.readChunks, sessionID, after, limitArg(limit))
	if err != nil {
		return nil, s.fail(ctx, op, sessionID, err)
	}
	defer rows.Close()
	size := 64
	if limit > 0 {
		size = min(limit, 1024)
	}
	out := make([]helix.Chunk, 0, size)
	found, binary := false, false
	for rows.Next() {
		if !found {
			// Decode the binary format by hand (no allocation per row);
			// a pool set up for the text protocol takes the slow path.
			fds := rows.FieldDescriptions()
			binary = len(fds) == 2 && fds[0].Format == pgx.BinaryFormatCode && fds[1].Format == pgx.BinaryFormatCode
			found = true
		}
		var (
			seq  int64
			data []byte
		)
		if raw := rows.RawValues(); binary && len(raw) == 2 {
			if raw[0] == nil {
				continue // the session has no chunk after after
			}
			if len(raw[0]) != 8 {
				return nil, fmt.Errorf("pgstore: %s %q: unexpected sequence encoding", op, sessionID)
			}
			seq = int64(binaryBE.Uint64(raw[0]))
			data = raw[1]
		} else {
			var sp *int64
			if err := rows.Scan(&sp, &data); err != nil {
				return nil, s.fail(ctx, op, sessionID, err)
			}
			if sp == nil {
				continue
			}
			seq = *sp
		}
		out = append(out, helix.Chunk{})
		c := &out[len(out)-1]
		if err := c.UnmarshalJSON(data); err != nil {
			return nil, fmt.Errorf("pgstore: %s %q: decoding chunk %d: %w", op, sessionID, seq, err)
		}
		c.Sequence = seq
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(ctx, op, sessionID, err)
	}
	if !found {
		return nil, notFound(op, sessionID)
	}
	return out, nil
}

var binaryBE = binary.BigEndian

// SetStreamStatus sets the stream's status and wakes its subscribers, in
// every process.
func (s *Store) SetStreamStatus(ctx context.Context, sessionID string, fence uint64, status helix.StreamStatus) error {
	const op = "set stream status"
	if err := s.check(ctx, op); err != nil {
		return err
	}
	if !store.ValidStreamStatus(status) {
		return fmt.Errorf("pgstore: %s %q: invalid status %q", op, sessionID, status)
	}
	if !validText(sessionID) {
		return notFound(op, sessionID)
	}
	var f, n int64
	err := s.pool.QueryRow(ctx, s.sql.setStreamStatus, sessionID, int64(fence), string(status), s.channel, notifyPayloads([]string{sessionID})[0]).Scan(&f, &n)
	if errors.Is(err, pgx.ErrNoRows) {
		return notFound(op, sessionID)
	}
	if err != nil {
		return s.fail(ctx, op, sessionID, err)
	}
	if n == 0 {
		// Sessions are never deleted: only the token can have failed the
		// update (f may predate the token that did).
		return staleFence(op, sessionID, fence, uint64(f))
	}
	s.hub.Notify(sessionID)
	return nil
}

// StreamInfo returns the stream's status and its first and last
// sequences. FirstSequence is 1 once the stream holds a chunk: this store
// keeps every chunk.
func (s *Store) StreamInfo(ctx context.Context, sessionID string) (store.StreamInfo, error) {
	const op = "stream info"
	if err := s.check(ctx, op); err != nil {
		return store.StreamInfo{}, err
	}
	if !validText(sessionID) {
		return store.StreamInfo{}, notFound(op, sessionID)
	}
	var (
		status      string
		last, first int64
	)
	err := s.pool.QueryRow(ctx, s.sql.streamInfo, sessionID).Scan(&status, &last, &first)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.StreamInfo{}, notFound(op, sessionID)
	}
	if err != nil {
		return store.StreamInfo{}, s.fail(ctx, op, sessionID, err)
	}
	// The oldest chunk stored: 1 unless retention dropped older ones.
	return store.StreamInfo{Status: helix.StreamStatus(status), LastSequence: last, FirstSequence: first}, nil
}

// Subscribe yields every chunk with sequence > after, then live chunks as
// they are appended (by any process), with no gap and no duplicate. It ends
// without error once it has yielded every chunk and the stream status is
// not active; with ctx's error (unwrapped) when ctx is done; and with an
// error wrapping [store.ErrClosed] when the store is closed. An unknown
// session yields an error wrapping [store.ErrNotFound]. A waiting
// subscriber holds no database connection.
func (s *Store) Subscribe(ctx context.Context, sessionID string, after int64) iter.Seq2[helix.Chunk, error] {
	return tail.Follow(ctx, s, s.hub, sessionID, after, tail.Options{Poll: s.o.PollInterval})
}

// PipelineAppends reports that appends wait on I/O, so writers should keep
// one in flight and batch the rest ([store.AppendPipeliner]).
func (s *Store) PipelineAppends() bool { return true }
