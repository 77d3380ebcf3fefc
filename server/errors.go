package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/server/auth"
	"github.com/helix-agents/helix-go/store"
)

// Sentinel errors of the HTTP layer. Handlers return errors wrapping them
// (with detail for the log); the client only ever sees the fixed body of
// the matching row of the status table.
var (
	// ErrBadRequest: the request body is not valid (400 Invalid request body).
	ErrBadRequest = errors.New("server: invalid request body")
	// ErrInvalidOffset: the offset query parameter is not valid
	// (400 Invalid offset parameter).
	ErrInvalidOffset = errors.New("server: invalid offset parameter")
	// ErrInvalidLimit: the limit query parameter is not valid
	// (400 Invalid limit parameter).
	ErrInvalidLimit = errors.New("server: invalid limit parameter")
	// ErrUnauthorized: the request is not authenticated (401 Unauthorized).
	ErrUnauthorized = errors.New("server: unauthorized")
	// ErrForbidden: a browser page from an origin that is not allowed
	// opened a WebSocket (403 Forbidden).
	ErrForbidden = errors.New("server: origin not allowed")
	// ErrNotFound: the resource does not exist or belongs to another
	// principal (404 Not found).
	ErrNotFound = errors.New("server: not found")
	// ErrAgentRunning: the session already has a running run
	// (409 Agent already running).
	ErrAgentRunning = errors.New("server: agent already running")
	// ErrNotResumable: the session's status does not allow resume or retry
	// (409 Session is not resumable).
	ErrNotResumable = errors.New("server: session is not resumable")
	// ErrToolNotPending: a tool result or approval names a call that is not
	// pending (409 Tool call is not pending).
	ErrToolNotPending = errors.New("server: tool call is not pending")
	// ErrTooLarge: the request body exceeds the limit
	// (413 Request body too large).
	ErrTooLarge = errors.New("server: request body too large")
	// ErrTooManyRequests: a rate limit was hit (429 Too many requests, with
	// Retry-After; see [WithRetryAfter]).
	ErrTooManyRequests = errors.New("server: too many requests")
)

// The exact response bodies of DESIGN §5.
const (
	bodyBadRequest    = `{"error":"Invalid request body"}`
	bodyInvalidOffset = `{"error":"Invalid offset parameter"}`
	bodyInvalidLimit  = `{"error":"Invalid limit parameter"}`
	bodyUnauthorized  = `{"error":"Unauthorized"}`
	bodyForbidden     = `{"error":"Forbidden"}`
	bodyNotFound      = `{"error":"Not found"}`
	bodyAgentRunning  = `{"error":"Agent already running"}`
	bodyNotResumable  = `{"error":"Session is not resumable"}`
	bodyToolNotPend   = `{"error":"Tool call is not pending"}`
	bodyTooLarge      = `{"error":"Request body too large"}`
	bodyTooMany       = `{"error":"Too many requests"}`
	bodyInternal      = `{"error":"Internal server error"}`
	bodyUnavailable   = `{"error":"Service unavailable"}`
)

// statusTable is the one error→HTTP table. The first row whose target
// matches with errors.Is wins, so an error carrying several sentinels gets
// the earliest row (authentication first, so nothing is disclosed to an
// unauthenticated caller).
//
// Sentinels from other packages mapped here:
//   - auth.ErrUnauthenticated            → 401 Unauthorized
//   - helix.ErrInvalidInput              → 400 Invalid request body
//   - store.ErrNotFound                  → 404 Not found
//   - helix.ErrSessionNotFound           → 404 Not found
//   - helix.ErrAgentNotFound             → 404 Not found (unknown agentType)
//   - helix.ErrNotPending                → 409 Tool call is not pending
//   - helix.ErrNotResumable              → 409 Session is not resumable
//   - helix.ErrAlreadyRunning            → 409 Agent already running
//   - store.ErrConflict                  → 409 Agent already running (a
//     concurrent writer won the version race on the session)
//   - *http.MaxBytesError (via errors.As) → 413, see statusOf
//
// Deliberately not mapped (so 500): store.ErrExists (answering 409 would
// reveal another principal's session id; handlers must resolve it),
// store.ErrStaleFence, store.ErrClosed, context errors, and the run-time
// helix errors (ErrMaxSteps, ErrToolPanic, …), which are reported on the
// stream or in the status, not as request errors.
var statusTable = []struct {
	target error
	status int
	body   string
}{
	{ErrUnauthorized, http.StatusUnauthorized, bodyUnauthorized},
	{auth.ErrUnauthenticated, http.StatusUnauthorized, bodyUnauthorized},
	{ErrTooManyRequests, http.StatusTooManyRequests, bodyTooMany},
	{ErrTooLarge, http.StatusRequestEntityTooLarge, bodyTooLarge},
	{ErrInvalidOffset, http.StatusBadRequest, bodyInvalidOffset},
	{ErrInvalidLimit, http.StatusBadRequest, bodyInvalidLimit},
	{ErrBadRequest, http.StatusBadRequest, bodyBadRequest},
	{helix.ErrInvalidInput, http.StatusBadRequest, bodyBadRequest},
	{ErrForbidden, http.StatusForbidden, bodyForbidden},
	{ErrNotFound, http.StatusNotFound, bodyNotFound},
	{store.ErrNotFound, http.StatusNotFound, bodyNotFound},
	{helix.ErrSessionNotFound, http.StatusNotFound, bodyNotFound},
	{helix.ErrAgentNotFound, http.StatusNotFound, bodyNotFound},
	{ErrToolNotPending, http.StatusConflict, bodyToolNotPend},
	{helix.ErrNotPending, http.StatusConflict, bodyToolNotPend},
	{ErrNotResumable, http.StatusConflict, bodyNotResumable},
	{helix.ErrNotResumable, http.StatusConflict, bodyNotResumable},
	{ErrAgentRunning, http.StatusConflict, bodyAgentRunning},
	{helix.ErrAlreadyRunning, http.StatusConflict, bodyAgentRunning},
	{store.ErrConflict, http.StatusConflict, bodyAgentRunning},
	{ErrUnavailable, http.StatusServiceUnavailable, bodyUnavailable},
}

// statusOf maps err to its HTTP status and exact JSON body (without a
// trailing newline). Unknown errors, including nil, are 500.
func statusOf(err error) (status int, body string) {
	if err == nil {
		return http.StatusInternalServerError, bodyInternal
	}
	for _, row := range statusTable {
		if errors.Is(err, row.target) {
			return row.status, row.body
		}
	}
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return http.StatusRequestEntityTooLarge, bodyTooLarge
	}
	return http.StatusInternalServerError, bodyInternal
}

// retryAfterError carries the delay a 429 response advertises.
type retryAfterError struct {
	err   error
	after time.Duration
}

func (e *retryAfterError) Error() string { return e.err.Error() }
func (e *retryAfterError) Unwrap() error { return e.err }

// WithRetryAfter returns err annotated with the delay d after which the
// client may retry. When the error maps to 429, the response carries
// Retry-After: d in whole seconds, rounded up, at least 1. A nil err stands
// for [ErrTooManyRequests]. The result satisfies errors.Is for everything
// err does. A 429 without WithRetryAfter advertises one second.
func WithRetryAfter(err error, d time.Duration) error {
	if err == nil {
		err = ErrTooManyRequests
	}
	return &retryAfterError{err: err, after: d}
}

// retryAfterSeconds is the Retry-After value for err: the delay from the
// outermost WithRetryAfter, in whole seconds rounded up, at least 1.
func retryAfterSeconds(err error) int64 {
	secs := int64(1)
	if ra, ok := errors.AsType[*retryAfterError](err); ok && ra.after > time.Second {
		secs = int64((ra.after + time.Second - 1) / time.Second)
	}
	return secs
}

// RequestIDHeader is the header that carries the request id, in requests
// (when a trusted proxy sets it) and in responses.
const RequestIDHeader = "X-Request-Id"

type requestIDKey struct{}

// NewContextWithRequestID returns a copy of ctx carrying the request id.
func NewContextWithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID returns the request id stored in ctx by
// [NewContextWithRequestID], or "" if there is none.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// requestIDOf returns the request id of r: the one in its context, else
// the X-Request-Id header if it is a plausible id (1–128 characters of
// [A-Za-z0-9._:-]), else "". Header values are checked because they are
// client-controlled and end up in logs and response headers.
func requestIDOf(r *http.Request) string {
	if id := RequestID(r.Context()); id != "" {
		return id
	}
	if id := r.Header.Get(RequestIDHeader); validRequestID(id) {
		return id
	}
	return ""
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := range len(id) {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '.', c == '_', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}

// writeError answers the request with the sanitized status and body for
// err (see statusOf) and logs the full error with the request id: at Error
// level for 5xx, Info otherwise. The log line carries the method and path
// but not the query, which may hold a stream token. A nil log means
// slog.Default(). writeError must be called before anything else is
// written to w.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	status, body := statusOf(err)
	id := requestIDOf(r)

	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if id != "" {
		h.Set(RequestIDHeader, id)
	}
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		h.Set("Retry-After", strconv.FormatInt(retryAfterSeconds(err), 10))
	}
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))

	if log == nil {
		log = slog.Default()
	}
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	msg := "<nil>"
	if err != nil {
		msg = err.Error()
	}
	log.LogAttrs(r.Context(), level, "request failed",
		slog.String("request_id", id),
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.Int("status", status),
		slog.String("error", msg),
	)
}
