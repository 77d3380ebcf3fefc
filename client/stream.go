package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"math/rand/v2"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"time"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/server/sse"
)

// errIdle is the cause of a connection dropped by the idle check.
var errIdle = errors.New("no data received within the idle timeout")

// errNoEnd is the cause of a connection that closed before the end event.
var errNoEnd = errors.New("stream closed before the end event")

// Stream follows a session's chunk stream over GET /sse (DESIGN §4). It is
// a cursor: it remembers the sequence of the last chunk it yielded, so
// every call of [Stream.Chunks] continues where the previous one stopped.
//
// A Stream is not safe for concurrent use: iterate it from one goroutine
// at a time. It holds no resources between iterations and needs no
// closing.
type Stream struct {
	c         *Client
	sessionID string
	last      int64        // sequence of the last chunk yielded, or the resume point; -1 if none
	end       helix.Status // status of the end event of the last iteration
	retry     time.Duration
	// retryAfter is the Retry-After of the last failed connection attempt,
	// a lower bound for the next delay only.
	retryAfter time.Duration
}

// Stream returns a [Stream] of the session's chunks after sequence after.
// A negative after starts at the first chunk of the session's current run
// (the server's default, when no resume point is sent). Nothing is sent
// until [Stream.Chunks] is iterated.
func (c *Client) Stream(sessionID string, after int64) *Stream {
	if after < 0 {
		after = -1
	}
	return &Stream{c: c, sessionID: sessionID, last: after}
}

// LastSequence returns the sequence of the last chunk yielded, the after
// given to [Client.Stream] if none was yielded yet, or -1 if neither.
func (s *Stream) LastSequence() int64 { return s.last }

// EndStatus returns the run status carried by the end event that ended the
// last iteration of [Stream.Chunks], such as "completed" or
// "suspended_approval", or "" if that iteration did not reach an end
// event (it stopped on an error, or the caller broke out of it).
func (s *Stream) EndStatus() helix.Status { return s.end }

// Chunks returns the session's chunks, each once and in order of
// sequence, until the server's end event: the run completed, failed, was
// interrupted or suspended. The iteration then ends normally and
// [Stream.EndStatus] holds the run's status.
//
// When the connection drops before the end event (EOF, a reset, a read
// error, an idle connection, a 5xx, 408 or 429 answer) Chunks reconnects
// after a backoff with "Last-Event-ID: <last sequence>" and ?after=, and
// continues without a gap or a duplicate: chunks at or below the last
// sequence are dropped. It gives up after [Options.MaxReconnects]
// consecutive failed attempts (the count restarts with every chunk) and
// yields the last failure, wrapped. Errors from the server that retrying
// does not fix (400, 401, 404, …) are yielded at once as an [*Error].
//
// Chunks also yields, and then stops, an error wrapping [ErrSequenceGap]
// when a chunk's sequence is not the successor of the last one, and one
// wrapping [ErrProtocol] for an answer it cannot interpret. When ctx is
// done it yields ctx.Err() unchanged and stops.
//
// Breaking out of the loop closes the connection; no goroutine outlives
// the iteration. Calling Chunks again continues after [Stream.LastSequence]:
// after an error, after breaking out, or after the end event, to follow the
// session's next run.
func (s *Stream) Chunks(ctx context.Context) iter.Seq2[helix.Chunk, error] {
	return func(yield func(helix.Chunk, error) bool) {
		s.end = ""
		fails := 0
		for {
			if err := ctx.Err(); err != nil {
				yield(helix.Chunk{}, err)
				return
			}
			done, progress, err := s.connect(ctx, yield)
			if done {
				if err != nil {
					yield(helix.Chunk{}, err)
				}
				return
			}
			// fails counts the lost connection and the failed reconnects
			// after it; a chunk starts a new count.
			if progress {
				fails = 0
			}
			fails++
			if fails > s.c.maxReconnects {
				yield(helix.Chunk{}, fmt.Errorf("client: stream of session %q: giving up after %d failed reconnects: %w", s.sessionID, fails-1, err))
				return
			}
			t := time.NewTimer(s.delay(fails))
			select {
			case <-ctx.Done():
				t.Stop()
				yield(helix.Chunk{}, ctx.Err())
				return
			case <-t.C:
			}
		}
	}
}

// delay returns the wait before reconnect attempt n (1 for the first after
// a failure): exponential backoff with equal jitter, at least the server's
// retry hint and Retry-After.
func (s *Stream) delay(n int) time.Duration {
	d := s.c.reconnectDelay
	for i := 1; i < n && d < s.c.maxReconnectDelay; i++ {
		if d > s.c.maxReconnectDelay/2 {
			d = s.c.maxReconnectDelay // (doubling would overflow a cap near the maximum)
			break
		}
		d *= 2
	}
	d = min(d, s.c.maxReconnectDelay)
	d = d/2 + rand.N(d/2+1)
	d = max(d, s.retry, s.retryAfter)
	s.retryAfter = 0
	return d
}

// connect makes one connection and yields its chunks. done reports that
// the iteration is over: the end event arrived, the consumer stopped, or
// err is a failure that retrying does not fix. Otherwise err is the reason
// to reconnect. progress reports whether a chunk was yielded.
func (s *Stream) connect(ctx context.Context, yield func(helix.Chunk, error) bool) (done, progress bool, err error) {
	const op = "GET /sse"
	connCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var idle *time.Timer
	if s.c.idleTimeout > 0 {
		idle = time.AfterFunc(s.c.idleTimeout, func() { cancel(errIdle) })
		defer idle.Stop()
	}
	// failed classifies a transport or read error.
	failed := func(err error) (bool, bool, error) {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return true, progress, ctxErr
		}
		if cause := context.Cause(connCtx); errors.Is(cause, errIdle) {
			err = errIdle
		}
		return false, progress, opError(op, err)
	}

	q := url.Values{"sessionId": {s.sessionID}}
	if s.last >= 0 {
		q.Set("after", strconv.FormatInt(s.last, 10))
	}
	req, err := s.c.newRequest(connCtx, http.MethodGet, "/sse", q, nil)
	if err != nil {
		return true, false, opError(op, err)
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	if s.last >= 0 {
		// Same value as after; the server prefers the header (as a
		// browser's EventSource sends it on reconnects).
		req.Header.Set("Last-Event-ID", strconv.FormatInt(s.last, 10))
	}
	resp, err := s.c.http.Do(req)
	if err != nil {
		return failed(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		e := errorFromResponse(op, resp)
		if e.Retryable() || e.StatusCode >= 500 {
			s.retryAfter = e.RetryAfter
			return false, false, e
		}
		return true, false, e
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/event-stream" {
		return true, false, fmt.Errorf("%w: %s answered Content-Type %q, not text/event-stream", ErrProtocol, op, resp.Header.Get("Content-Type"))
	}

	var body io.Reader = resp.Body
	if idle != nil {
		idle.Reset(s.c.idleTimeout)
		body = &idleReader{r: resp.Body, t: idle, d: s.c.idleTimeout}
	}
	for ev, err := range sse.Decode(body) {
		if err != nil {
			if errors.Is(err, sse.ErrLineTooLong) || errors.Is(err, sse.ErrEventTooLong) {
				return true, progress, fmt.Errorf("%w: %w", ErrProtocol, err)
			}
			return failed(err)
		}
		if ev.Retry > 0 {
			s.retry = min(ev.Retry, maxServerDelay)
		}
		switch ev.Name {
		case "chunk":
			c, err := decodeChunk(ev)
			if err != nil {
				return true, progress, err
			}
			if s.last >= 0 && c.Sequence <= s.last {
				continue // a duplicate; the server should not send it
			}
			if s.last >= 0 && c.Sequence != s.last+1 {
				return true, progress, fmt.Errorf("%w: session %q: got sequence %d after %d", ErrSequenceGap, s.sessionID, c.Sequence, s.last)
			}
			s.last = c.Sequence
			progress = true
			if idle != nil {
				// The consumer's time is not the server's idleness.
				idle.Stop()
			}
			if !yield(c, nil) {
				return true, progress, nil
			}
			if idle != nil {
				idle.Reset(s.c.idleTimeout)
			}
		case "end":
			var end struct {
				Status helix.Status `json:"status"`
			}
			if err := json.Unmarshal([]byte(ev.Data), &end); err != nil || end.Status == "" {
				return true, progress, fmt.Errorf("%w: invalid end event %q", ErrProtocol, ev.Data)
			}
			s.end = end.Status
			return true, progress, nil
		}
		// Other events (none today) are ignored, for forward compatibility.
	}
	return failed(errNoEnd)
}

// decodeChunk decodes the data of a chunk event and checks its sequence
// against the event id.
func decodeChunk(ev sse.Event) (helix.Chunk, error) {
	var c helix.Chunk
	if err := json.Unmarshal([]byte(ev.Data), &c); err != nil {
		return c, fmt.Errorf("%w: invalid chunk (id %q): %v", ErrProtocol, ev.ID, err)
	}
	if ev.ID != "" {
		id, err := strconv.ParseInt(ev.ID, 10, 64)
		if err != nil {
			return c, fmt.Errorf("%w: invalid event id %q", ErrProtocol, ev.ID)
		}
		if c.Sequence == 0 {
			c.Sequence = id
		} else if c.Sequence != id {
			return c, fmt.Errorf("%w: chunk sequence %d differs from event id %d", ErrProtocol, c.Sequence, id)
		}
	}
	if c.Sequence <= 0 {
		return c, fmt.Errorf("%w: chunk without a sequence", ErrProtocol)
	}
	return c, nil
}

// idleReader restarts the idle timer whenever a read returns data.
type idleReader struct {
	r io.Reader
	t *time.Timer
	d time.Duration
}

func (r *idleReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		r.t.Reset(r.d)
	}
	return n, err
}
