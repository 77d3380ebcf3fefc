package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"strconv"
	"time"

	"github.com/coder/websocket"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/server/auth"
	"github.com/helix-agents/helix-go/server/sse"
	"github.com/helix-agents/helix-go/store"
)

// reconnectHint is the delay the server asks clients to wait before
// reconnecting when it shuts down.
const reconnectHint = time.Second

// streamWriteTimeout bounds one write to a stream: a client that stops
// reading is cut off instead of holding a goroutine and buffers forever.
const streamWriteTimeout = 30 * time.Second

// errDraining ends streams when the server shuts down.
var errDraining = errors.New("server: shutting down")

// streamContext returns a context that ends with the request or when the
// server starts draining; stop releases it.
func (s *Server) streamContext(parent context.Context) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(parent)
	// No goroutine per stream: the drain context calls back.
	unwatch := context.AfterFunc(s.drainCtx, func() { cancel(errDraining) })
	return ctx, func() { unwatch(); cancel(context.Canceled) }
}

// beginStream registers an open stream, or fails when draining.
func (s *Server) beginStream(transport string) (end func(), err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining {
		return nil, WithRetryAfter(fmt.Errorf("%w: shutting down", ErrUnavailable), reconnectHint)
	}
	s.streams.Add(1)
	g := s.metrics.activeStreams.WithLabelValues(transport)
	g.Inc()
	return func() { g.Dec(); s.streams.Done() }, nil
}

// resumeAfter is the stream position to resume after; negative means the
// first chunk of the session's current run.
func resumeAfter(r *http.Request) (int64, error) {
	after, ok, err := sse.ParseResume(r)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	if !ok {
		return -1, nil
	}
	return after, nil
}

// runStart is the stream position before the session's current run (0
// if it has none).
func (s *Server) runStart(ctx context.Context, sess *store.Session) int64 {
	if sess.CurrentRunID == "" {
		return 0
	}
	if sess.CurrentRunStart > 0 || sess.RunCount <= 1 {
		// Recorded on the session (a first run starts at 0); only
		// records older than that field need the run itself.
		return sess.CurrentRunStart
	}
	run, err := s.rt.Store().GetRun(ctx, sess.ID, sess.CurrentRunID)
	if err != nil {
		return -1 // the runtime looks again, and reports the failure
	}
	return run.StartSequence
}

// endStatus reports the session's status once its stream has ended, for
// a stream that did not carry the run's run_end (one resumed after it).
func (s *Server) endStatus(sessionID string) func(ctx context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		sess, err := s.rt.Store().GetSession(ctx, sessionID)
		if err != nil {
			return "", err
		}
		return string(sess.Status), nil
	}
}

func (s *Server) handleSSE(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	st, err := s.openSSE(w, r, p)
	if err != nil {
		return err
	}
	defer st.close()
	err = st.w.Run(st.ctx, st.chunks, st.opts)
	if errors.Is(context.Cause(st.ctx), errDraining) {
		// Tell the client to come back (to this address, after the
		// restart, or to another process) from its Last-Event-ID.
		_ = st.w.Retry(reconnectHint)
		return nil
	}
	if err != nil && r.Context().Err() == nil {
		return err
	}
	return nil
}

// sseStream is an SSE stream set up by openSSE.
type sseStream struct {
	w      *sse.Writer
	ctx    context.Context
	chunks iter.Seq2[helix.Chunk, error]
	opts   sse.RunOptions
	close  func()
}

// openSSE checks the request, registers the stream and subscribes, out of
// line so that handleSSE's frame, which stays on the stack of an idle
// stream, is small.
//
//go:noinline
func (s *Server) openSSE(w http.ResponseWriter, r *http.Request, p auth.Principal) (*sseStream, error) {
	id, runStart, err := s.streamSession(r, p)
	if err != nil {
		return nil, err
	}
	after, err := resumeAfter(r)
	if err != nil {
		return nil, err
	}
	end, err := s.beginStream("sse")
	if err != nil {
		return nil, err
	}
	sw, err := sse.NewWriter(w)
	if err != nil {
		end()
		return nil, err
	}
	sw.SetWriteTimeout(streamWriteTimeout)
	ctx, stop := s.streamContext(r.Context())
	if after < 0 {
		// The current run's first chunk; the session is known already.
		after = runStart(r.Context())
	}
	chunks := s.rt.Stream(ctx, id, after)
	if after >= 0 {
		// The store's subscription itself: one frame less on the stack
		// of an idle stream.
		chunks = s.rt.Store().Subscribe(ctx, id, after)
	}
	return &sseStream{
		w: sw, ctx: ctx, chunks: chunks,
		opts:  sse.RunOptions{Heartbeat: s.opts.Heartbeat, EndStatus: s.endStatus(id), Cancel: stop},
		close: func() { stop(); end() },
	}, nil
}

// WebSocket close codes and reasons. A stream that ends normally closes
// with 1000 and the run's status as the reason.
const (
	wsCloseRestart = websocket.StatusServiceRestart // 1012: reconnect later
)

func (s *Server) handleWS(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id, runStart, err := s.streamSession(r, p)
	if err != nil {
		return err
	}
	after, err := resumeAfter(r)
	if err != nil {
		return err
	}
	if !s.wsOriginAllowed(r) {
		return fmt.Errorf("%w: websocket from origin %q", ErrForbidden, r.Header.Get("Origin"))
	}
	end, err := s.beginStream("ws")
	if err != nil {
		return err
	}
	defer end()
	// The origin was checked above, scheme included (the library's own
	// check compares hosts only).
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		// Accept has answered the request (400/403/426).
		s.log.Info("websocket upgrade refused", "request_id", RequestID(r.Context()), "error", err.Error())
		return nil
	}
	c.SetReadLimit(4 << 10)
	ctx, stop := s.streamContext(r.Context())
	defer stop()
	// The client sends nothing; reading in the background answers pings
	// and notices a close.
	ctx = c.CloseRead(ctx)
	if after < 0 {
		after = runStart(r.Context())
	}
	status, err := s.pumpWS(ctx, c, s.rt.Stream(ctx, id, after), id, after)
	switch {
	case errors.Is(context.Cause(ctx), errDraining):
		return c.Close(wsCloseRestart, "server restarting; reconnect with after="+strconv.FormatInt(status.last, 10))
	case err != nil:
		c.Close(websocket.StatusInternalError, "stream failed")
		return err
	default:
		return c.Close(websocket.StatusNormalClosure, status.end)
	}
}

type wsState struct {
	last int64  // last sequence sent
	end  string // the run's status at the end
}

func (s *Server) pumpWS(ctx context.Context, c *websocket.Conn, chunks iter.Seq2[helix.Chunk, error], sessionID string, after int64) (wsState, error) {
	st := wsState{last: max(after, 0)}
	ping := time.NewTicker(s.opts.Heartbeat)
	defer ping.Stop()
	next, stop := iter.Pull2(chunks)
	defer stop()
	// Pull blocks while the stream is idle, so pings go out from a second
	// goroutine that only pings.
	pingDone := make(chan struct{})
	pctx, pcancel := context.WithCancel(ctx)
	go func() {
		defer close(pingDone)
		for {
			select {
			case <-pctx.Done():
				return
			case <-ping.C:
				pc, cancel := context.WithTimeout(pctx, streamWriteTimeout)
				err := c.Ping(pc)
				cancel()
				if err != nil {
					return
				}
			}
		}
	}()
	defer func() { pcancel(); <-pingDone }()
	for {
		ch, err, ok := next()
		if !ok {
			break
		}
		if err != nil {
			return st, err
		}
		data, err := json.Marshal(ch)
		if err != nil {
			return st, err
		}
		wctx, cancel := context.WithTimeout(ctx, streamWriteTimeout)
		err = c.Write(wctx, websocket.MessageText, data)
		cancel()
		if err != nil {
			return st, err
		}
		st.last = ch.Sequence
		if ch.Type == helix.ChunkRunEnd {
			st.end = string(ch.Status)
		}
	}
	if ctx.Err() != nil {
		return st, ctx.Err()
	}
	if st.end != "" { // the run's status, as its run_end said
		return st, nil
	}
	status, err := s.endStatus(sessionID)(ctx)
	st.end = status
	return st, err
}
