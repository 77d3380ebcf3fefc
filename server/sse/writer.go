package sse

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	helix "github.com/helix-agents/helix-go"
)

// Errors returned by the Writer.
var (
	// ErrFlushUnsupported is returned by NewWriter when the ResponseWriter
	// (or any writer it unwraps to) cannot flush.
	ErrFlushUnsupported = errors.New("sse: response writer does not support flushing")
	// ErrNoSequence is returned by Writer.Chunk for a chunk whose Sequence is
	// not positive, i.e. one that was never stored.
	ErrNoSequence = errors.New("sse: chunk has no sequence")
	// ErrLineBreak is returned when a field that must fit on one line (an
	// event name, or chunk JSON) would contain a raw CR or LF.
	ErrLineBreak = errors.New("sse: line break in a single-line field")
)

// maxPooledBuffer bounds the buffers returned to bufPool, so one huge chunk
// does not pin its memory.
const maxPooledBuffer = 64 << 10

// bufPool holds the buffers events are framed in. A Writer borrows one per
// event instead of keeping its own: an idle stream then holds no buffer.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// Writer frames events onto an [http.ResponseWriter] and flushes each one.
// It is not safe for concurrent use; [Writer.Run] owns the Writer while it
// runs, and the Writer may be used again after Run returns.
type Writer struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	// deadline is the write deadline last set (zero: none).
	deadline time.Time
}

// NewWriter prepares w for an event stream: it sets Content-Type
// text/event-stream, Cache-Control no-cache, X-Accel-Buffering no (nginx)
// and, on HTTP/1.x, Connection keep-alive; clears any write deadline set by
// http.Server.WriteTimeout (which would cut a long stream); then writes the
// 200 status and flushes the headers.
//
// HTTP/1.x is recognised by [http.Hijacker] support, which net/http's
// HTTP/2 ResponseWriter intentionally lacks; wrappers are followed through
// their Unwrap method. (net/http's HTTP/2 server also drops a Connection
// header.)
//
// NewWriter returns [ErrFlushUnsupported], having written nothing, when
// w cannot flush. Call it only once the request has been validated: errors
// after this point can no longer change the status.
func NewWriter(w http.ResponseWriter) (*Writer, error) {
	if !supports[interface{ FlushError() error }](w) && !supports[http.Flusher](w) {
		return nil, ErrFlushUnsupported
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	h.Del("Content-Length")
	if supports[http.Hijacker](w) {
		h.Set("Connection", "keep-alive")
	}
	sw := &Writer{w: w, rc: http.NewResponseController(w)}
	if err := sw.rc.SetWriteDeadline(time.Time{}); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return nil, fmt.Errorf("sse: clear write deadline: %w", err)
	}
	w.WriteHeader(http.StatusOK)
	if err := sw.rc.Flush(); err != nil {
		return nil, err
	}
	return sw, nil
}

// supports reports whether w, or a writer it unwraps to, implements T.
func supports[T any](w http.ResponseWriter) bool {
	for {
		if _, ok := w.(T); ok {
			return true
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return false
		}
		w = u.Unwrap()
	}
}

// SetWriteTimeout gives every later event at least d*15/16 and at most d to
// be written, so a client that stops reading is dropped instead of blocking
// the stream forever. (The connection's write deadline is moved to now+d
// only once less than d*15/16 of it is left: setting it costs more than
// writing a small event.) Zero (the default) leaves no deadline. It is a
// no-op where the connection has no deadlines.
func (w *Writer) SetWriteTimeout(d time.Duration) {
	w.timeout = d
	w.deadline = time.Time{}
}

// Chunk writes c as "id: <sequence>\nevent: chunk\ndata: <json>\n\n" and
// flushes. The JSON is [helix.Chunk.AppendJSON], whose "sequence" equals the
// id. It returns [ErrNoSequence] if c.Sequence is not positive, an error
// wrapping [ErrLineBreak] if the JSON holds a raw line break (only possible
// with an invalid json.RawMessage payload), the encoding error, or the write
// error. Nothing is written on error, except for a failed write.
func (w *Writer) Chunk(c helix.Chunk) error {
	if c.Sequence <= 0 {
		return fmt.Errorf("%w (type %q, sequence %d)", ErrNoSequence, c.Type, c.Sequence)
	}
	bp := getBuf()
	defer putBuf(bp)
	b := append(*bp, "id: "...)
	b = strconv.AppendInt(b, c.Sequence, 10)
	b = append(b, "\nevent: chunk\ndata: "...)
	start := len(b)
	b, err := c.AppendJSON(b)
	*bp = b
	if err != nil {
		return fmt.Errorf("sse: encode chunk %d: %w", c.Sequence, err)
	}
	if bytes.IndexByte(b[start:], '\n') >= 0 || bytes.IndexByte(b[start:], '\r') >= 0 {
		return fmt.Errorf("%w: chunk %d JSON", ErrLineBreak, c.Sequence)
	}
	*bp = append(b, '\n', '\n')
	return w.write(*bp)
}

// End writes the final event "event: end\ndata: {"status":<status>}\n\n",
// with no id, and flushes. The caller then returns from its handler, which
// closes the stream.
func (w *Writer) End(status string) error {
	s, err := json.Marshal(status) // escapes CR, LF, U+2028 and U+2029
	if err != nil {
		return err
	}
	bp := getBuf()
	defer putBuf(bp)
	b := append(*bp, "event: end\ndata: {\"status\":"...)
	b = append(b, s...)
	*bp = append(b, "}\n\n"...)
	return w.write(*bp)
}

// Event writes an event with the given name and data and no id, and
// flushes. An empty name writes no event field (clients see a "message"
// event). Data is split at CRLF, CR and LF into one data line each, so a
// decoder reads it back with every line break as LF; invalid UTF-8 becomes
// U+FFFD, as a decoder would read it. A name holding CR or LF is rejected
// with [ErrLineBreak].
func (w *Writer) Event(name string, data []byte) error {
	if strings.ContainsAny(name, "\r\n") {
		return fmt.Errorf("%w: event name %q", ErrLineBreak, name)
	}
	bp := getBuf()
	defer putBuf(bp)
	b := *bp
	if name != "" {
		b = append(b, "event: "...)
		b = appendValid(b, name)
		b = append(b, '\n')
	}
	b = appendLines(b, "data", string(data))
	*bp = append(b, '\n')
	return w.write(*bp)
}

// Comment writes a comment, ": <text>\n\n", and flushes. Clients ignore
// comments; they keep idle connections and proxies alive. Text holding line
// breaks is written as one comment line per line, so it can never start a
// field.
func (w *Writer) Comment(text string) error {
	bp := getBuf()
	defer putBuf(bp)
	*bp = append(appendLines(*bp, "", text), '\n')
	return w.write(*bp)
}

// Ping writes the heartbeat comment ": ping\n\n" and flushes.
func (w *Writer) Ping() error {
	return w.write(pingFrame)
}

// Retry writes "retry: <milliseconds>\n\n" and flushes: the time a client
// should wait before reconnecting. The server sends it when it shuts down,
// before closing open streams. The block has no data, so it dispatches no
// event. d is truncated to milliseconds; a negative d is an error.
func (w *Writer) Retry(d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("sse: negative retry %v", d)
	}
	bp := getBuf()
	defer putBuf(bp)
	b := append(*bp, "retry: "...)
	b = strconv.AppendInt(b, d.Milliseconds(), 10)
	*bp = append(b, '\n', '\n')
	return w.write(*bp)
}

// pingFrame is the heartbeat comment.
var pingFrame = []byte(": ping\n\n")

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(bp *[]byte) {
	if cap(*bp) > maxPooledBuffer {
		return
	}
	*bp = (*bp)[:0]
	bufPool.Put(bp)
}

// write writes one complete event and flushes it. b is not retained.
func (w *Writer) write(b []byte) error {
	if w.timeout > 0 {
		now := time.Now()
		if w.deadline.Sub(now) < w.timeout-w.timeout/16 {
			w.deadline = now.Add(w.timeout)
			if err := w.rc.SetWriteDeadline(w.deadline); err != nil && !errors.Is(err, http.ErrNotSupported) {
				return err
			}
		}
	}
	if _, err := w.w.Write(b); err != nil {
		return err
	}
	return w.rc.Flush()
}

// appendLines appends s as one "<field>: <line>" line per line of s (split
// at CRLF, CR and LF). An empty field writes comment lines.
func appendLines(b []byte, field, s string) []byte {
	for {
		i := strings.IndexAny(s, "\r\n")
		line := s
		if i >= 0 {
			line = s[:i]
		}
		b = append(b, field...)
		b = append(b, ':')
		if line != "" {
			b = append(b, ' ')
			b = appendValid(b, line)
		}
		b = append(b, '\n')
		if i < 0 {
			return b
		}
		if s[i] == '\r' && i+1 < len(s) && s[i+1] == '\n' {
			i++
		}
		s = s[i+1:]
	}
}

// appendValid appends s with invalid UTF-8 replaced as [Decode] replaces it.
func appendValid(b []byte, s string) []byte {
	if utf8.ValidString(s) {
		return append(b, s...)
	}
	return append(b, strings.ToValidUTF8(s, "\uFFFD")...)
}
