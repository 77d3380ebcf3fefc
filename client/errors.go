package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Sentinel errors for the error answers of the Helix API (DESIGN §5). An
// [*Error] matches them with errors.Is, by status code and, where one status
// carries several conditions, by the server's message:
//
//	if errors.Is(err, client.ErrAgentRunning) { … }
var (
	// ErrBadRequest matches any 400 answer: an invalid request body, offset
	// or limit.
	ErrBadRequest = errors.New("client: bad request")
	// ErrUnauthorized matches 401 Unauthorized: the token is missing,
	// invalid or expired.
	ErrUnauthorized = errors.New("client: unauthorized")
	// ErrForbidden matches 403 Forbidden: a WebSocket opened from a page
	// whose origin the server does not allow.
	ErrForbidden = errors.New("client: forbidden")
	// ErrNotFound matches 404 Not found: the session, agent type or route
	// does not exist, or the session belongs to another principal.
	ErrNotFound = errors.New("client: not found")
	// ErrConflict matches any 409 answer; [ErrAgentRunning],
	// [ErrNotResumable] and [ErrToolNotPending] tell them apart.
	ErrConflict = errors.New("client: conflict")
	// ErrAgentRunning matches 409 Agent already running.
	ErrAgentRunning = errors.New("client: agent already running")
	// ErrNotResumable matches 409 Session is not resumable: resume or retry
	// of a session whose status does not allow it.
	ErrNotResumable = errors.New("client: session is not resumable")
	// ErrToolNotPending matches 409 Tool call is not pending: a tool result
	// or approval for a call that is unknown or already resolved.
	ErrToolNotPending = errors.New("client: tool call is not pending")
	// ErrTooLarge matches 413 Request body too large.
	ErrTooLarge = errors.New("client: request body too large")
	// ErrTooManyRequests matches 429 Too many requests; [Error.RetryAfter]
	// holds the server's Retry-After.
	ErrTooManyRequests = errors.New("client: too many requests")
	// ErrInternal matches 500 Internal server error.
	ErrInternal = errors.New("client: internal server error")
	// ErrUnavailable matches 502, 503 and 504: the server is shutting down,
	// not ready, or a proxy in front of it cannot reach it.
	ErrUnavailable = errors.New("client: server unavailable")
)

// Stream errors. They are yielded by [Stream.Chunks] wrapped with detail.
var (
	// ErrSequenceGap is yielded when a chunk's sequence is not the one
	// after the last chunk yielded: the server lost or trimmed chunks.
	// Sequences are gap-free per session, so this is never retried.
	ErrSequenceGap = errors.New("client: gap in stream sequence")
	// ErrProtocol is yielded for a stream the client cannot interpret: a
	// response that is not an event stream, a chunk that is not valid
	// JSON, or a chunk whose sequence differs from its event id.
	ErrProtocol = errors.New("client: stream protocol error")
)

// sentinels maps each sentinel to the answers it matches: a status code
// and, if message is not empty, the exact "error" message of the body.
var sentinels = []struct {
	err     error
	status  int
	message string
}{
	{ErrBadRequest, http.StatusBadRequest, ""},
	{ErrUnauthorized, http.StatusUnauthorized, ""},
	{ErrForbidden, http.StatusForbidden, ""},
	{ErrNotFound, http.StatusNotFound, ""},
	{ErrConflict, http.StatusConflict, ""},
	{ErrAgentRunning, http.StatusConflict, "Agent already running"},
	{ErrNotResumable, http.StatusConflict, "Session is not resumable"},
	{ErrToolNotPending, http.StatusConflict, "Tool call is not pending"},
	{ErrTooLarge, http.StatusRequestEntityTooLarge, ""},
	{ErrTooManyRequests, http.StatusTooManyRequests, ""},
	{ErrInternal, http.StatusInternalServerError, ""},
	{ErrUnavailable, http.StatusBadGateway, ""},
	{ErrUnavailable, http.StatusServiceUnavailable, ""},
	{ErrUnavailable, http.StatusGatewayTimeout, ""},
}

// Error is an error answer of the Helix API: a status code that is not a
// success, with the message of the server's {"error": "…"} body.
//
// Use errors.Is with the sentinels of this package ([ErrNotFound],
// [ErrAgentRunning], …) to branch on the condition, and errors.As to read
// the fields.
type Error struct {
	// Op is the request that failed, such as "POST /start".
	Op string
	// StatusCode is the HTTP status code of the answer.
	StatusCode int
	// Message is the "error" field of the body, such as "Not found". If
	// the body is not of that form (an answer from a proxy, say) it is the
	// standard text of StatusCode.
	Message string
	// RetryAfter is the delay the Retry-After header asks for (429 and
	// 503 answers), or 0 if there is none.
	RetryAfter time.Duration
}

// Error returns "client: <op>: <status code> <message>".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("client: ")
	if e.Op != "" {
		b.WriteString(e.Op)
		b.WriteString(": ")
	}
	b.WriteString(strconv.Itoa(e.StatusCode))
	if e.Message != "" {
		b.WriteByte(' ')
		b.WriteString(e.Message)
	}
	return b.String()
}

// Is reports whether target is a sentinel of this package that matches e's
// status code and message, so that errors.Is(err, ErrNotFound) works.
func (e *Error) Is(target error) bool {
	for _, s := range sentinels {
		if s.err == target && s.status == e.StatusCode && (s.message == "" || s.message == e.Message) {
			return true
		}
	}
	return false
}

// Retryable reports whether the same request may succeed later without
// change: 408, 429, 502, 503 and 504. Whether retrying is safe depends on
// the request; the client never retries a request other than a stream by
// itself.
func (e *Error) Retryable() bool {
	switch e.StatusCode {
	case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// maxErrorBody bounds how much of an error answer is read.
const maxErrorBody = 64 << 10

// errorFromResponse builds the *Error for a failed answer. It reads (part
// of) the body but does not close it.
func errorFromResponse(op string, resp *http.Response) *Error {
	e := &Error{
		Op:         op,
		StatusCode: resp.StatusCode,
		RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now),
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var wire struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &wire) == nil && wire.Error != "" {
		e.Message = wire.Error
	} else {
		e.Message = http.StatusText(resp.StatusCode)
	}
	return e
}

// parseRetryAfter parses a Retry-After value: delay seconds or an HTTP
// date. It returns 0 for an absent or invalid value.
func parseRetryAfter(v string, now func() time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		if secs > int64(maxServerDelay/time.Second) {
			secs = int64(maxServerDelay / time.Second)
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now()); d > 0 {
			return min(d, maxServerDelay)
		}
	}
	return 0
}

// maxServerDelay bounds the waits a server may ask for (Retry-After, an
// SSE retry field): a hint of years, from a misconfigured proxy or a
// hostile server, would otherwise park a stream for good.
const maxServerDelay = 24 * time.Hour

// opError wraps a transport or decoding error of op.
func opError(op string, err error) error {
	return fmt.Errorf("client: %s: %w", op, err)
}
