package server

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/helix-agents/helix-go/server/auth"
	"github.com/helix-agents/helix-go/server/ratelimit"
)

// A route is one entry of the API. The table is the router: contract tests
// enumerate it, so a new route must say how its ownership is checked.
type route struct {
	pattern string // ServeMux pattern, "METHOD /path"
	// handle is a method expression (or takes the server likewise), so
	// that calling it adds no method-value wrapper to the stack of every
	// open stream.
	handle func(s *Server, w http.ResponseWriter, r *http.Request, p auth.Principal) error
	// session marks routes that take a session id: they answer 404 for a
	// session of another principal.
	session bool
	// public routes need no authentication (liveness and readiness).
	public bool
	// streamAuth routes also accept a stream token in ?token=.
	streamAuth bool
	// stream routes answer with a long-lived stream, whose writes have
	// deadlines of their own; any other response must be written within
	// responseWriteTimeout.
	stream bool
}

// responseWriteTimeout bounds the writing of a response that is not a
// stream: a client that stops reading a large answer (a page of 1,000
// messages) cannot hold its connection and buffers for ever.
const responseWriteTimeout = 30 * time.Second

func (s *Server) routeTable() []route {
	return []route{
		{pattern: "POST /start", handle: (*Server).handleStart, session: true},
		{pattern: "POST /resume", handle: (*Server).handleResume, session: true},
		{pattern: "POST /interrupt", handle: (*Server).handleInterrupt, session: true},
		{pattern: "POST /abort", handle: (*Server).handleAbort, session: true},
		{pattern: "POST /submit-tool-result", handle: (*Server).handleSubmit, session: true},
		{pattern: "POST /retry", handle: (*Server).handleRetry, session: true},
		{pattern: "POST /stream-token", handle: (*Server).handleStreamToken, session: true},
		{pattern: "GET /sse", handle: (*Server).handleSSE, session: true, streamAuth: true, stream: true},
		{pattern: "GET /ws", handle: (*Server).handleWS, session: true, streamAuth: true, stream: true},
		{pattern: "GET /status", handle: (*Server).handleStatus, session: true},
		{pattern: "GET /messages", handle: (*Server).handleMessages, session: true},
		{pattern: "GET /checkpoints", handle: (*Server).handleCheckpoints, session: true},
		{pattern: "POST /chat", handle: (*Server).handleChat, session: true, stream: true},
		{pattern: "POST /chat/{sessionId}", handle: (*Server).handleChat, session: true, stream: true},
		{pattern: "GET /chat/{sessionId}/stream", handle: (*Server).handleChatStream, session: true, stream: true},
		{pattern: "GET /sessions", handle: (*Server).handleSessions},
		{pattern: "GET /agents", handle: (*Server).handleAgents},
		{pattern: "GET /metrics", handle: (*Server).handleMetrics},
		{pattern: "GET /healthz", handle: (*Server).handleHealthz, public: true},
		{pattern: "GET /readyz", handle: (*Server).handleReadyz, public: true},
	}
}

func (s *Server) routes() {
	s.mux = http.NewServeMux()
	for _, rt := range s.routeTable() {
		s.mux.Handle(rt.pattern, s.wrap(rt))
	}
	if s.opts.Playground != nil {
		ui := func(s *Server, w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
			h := w.Header()
			h.Set("Content-Security-Policy", playgroundCSP)
			h.Set("X-Frame-Options", "DENY")
			h.Set("Referrer-Policy", "no-referrer")
			s.opts.Playground.ServeHTTP(w, r)
			return nil
		}
		s.mux.Handle("GET /{$}", s.wrap(route{pattern: "GET /", public: true, handle: ui}))
		s.mux.Handle("GET /assets/", s.wrap(route{pattern: "GET /assets/", public: true, handle: ui}))
	}
	// Everything else, including a known path with the wrong method, is
	// the same 404 as an unknown session: the API's surface is not probed
	// through error bodies.
	s.mux.Handle("/", s.wrap(route{pattern: "/", public: true, handle: func(*Server, http.ResponseWriter, *http.Request, auth.Principal) error {
		return ErrNotFound
	}}))
	s.handler = s.outer(s.mux)
}

// playgroundCSP allows the playground its own scripts, styles and API
// calls, and nothing else: no inline script, no third-party origin, no
// framing.
const playgroundCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// outer is the middleware every request passes, matched or not: request
// id, panic recovery, security headers, CORS and the per-IP rate limit.
//
// The middleware closures keep small frames, with the work in out-of-line
// helpers: they stay on the stack of every open stream, and Go shrinks an
// idle goroutine's stack only when little of it is in use.
func (s *Server) outer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec, r, ok := s.admitRequest(w, r)
		defer s.recoverPanic(rec, r)
		if ok {
			next.ServeHTTP(rec, r)
		}
	})
}

// admitRequest gives r its request id and the security headers, answers
// CORS preflights and applies the per-IP limit. ok is false when the
// request has been answered.
//
//go:noinline
func (s *Server) admitRequest(w http.ResponseWriter, r *http.Request) (*recorder, *http.Request, bool) {
	// A client's X-Request-Id is believed only from a trusted proxy:
	// otherwise anyone could make their requests' log lines look like
	// another request's.
	id := ""
	if s.fromTrustedProxy(r) {
		id = requestIDOf(r)
	}
	if id == "" {
		id = newRequestID()
	}
	r = r.WithContext(NewContextWithRequestID(r.Context(), id))
	rec := &recorder{ResponseWriter: w}
	h := rec.Header()
	h.Set(RequestIDHeader, id)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	if s.corsPreflight(rec, r) {
		return rec, r, false
	}
	if s.ipRL != nil {
		ip := ratelimit.ClientIP(r, s.opts.TrustedProxies)
		if ok, after := s.ipRL.Allow(r.Context(), "ip:"+ratelimit.AddrKey(ip)); !ok {
			writeError(rec, r, s.log, WithRetryAfter(fmt.Errorf("%w: ip %s", ErrTooManyRequests, ip), after))
			return rec, r, false
		}
	}
	return rec, r, true
}

// recoverPanic, deferred, turns a panic in a handler into a logged 500.
func (s *Server) recoverPanic(rec *recorder, r *http.Request) {
	v := recover()
	if v == nil {
		return
	}
	if v == http.ErrAbortHandler {
		panic(v)
	}
	id := RequestID(r.Context())
	s.log.Error("panic serving request", "request_id", id, "method", r.Method, "path", r.URL.Path,
		"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
	if !rec.wroteHeader {
		writeError(rec, r, s.log, fmt.Errorf("panic: %v", v))
	}
}

// wrap turns a route into a handler: authentication, the per-principal
// rate limit, the error table and the latency metric. Like outer, the
// closure keeps a small frame: the route's start, pattern and method live
// in the recorder, and the work is in out-of-line helpers.
func (s *Server) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := beginRoute(w, r, rt.pattern)
		defer s.observe(rec)
		// Handlers get the principal as an argument: the request is not
		// copied to carry it in its context (a copy every open stream
		// would hold).
		if !rt.stream {
			_ = http.NewResponseController(rec).SetWriteDeadline(time.Now().Add(responseWriteTimeout))
		}
		p, ok := s.admitRoute(rec, r, &rt)
		if ok {
			if err := rt.handle(s, rec, r, p); err != nil {
				s.handlerError(rec, r, err)
			}
		}
	})
}

// beginRoute notes the start of a routed request in its recorder (outer
// made it; a handler mounted without outer gets one here).
//
//go:noinline
func beginRoute(w http.ResponseWriter, r *http.Request, pattern string) *recorder {
	rec, ok := w.(*recorder)
	if !ok {
		rec = &recorder{ResponseWriter: w}
	}
	rec.start, rec.pattern, rec.method = time.Now(), pattern, r.Method
	return rec
}

// observe, deferred, records the request's latency.
func (s *Server) observe(rec *recorder) {
	s.metrics.httpDuration.WithLabelValues(rec.pattern, methodLabel(rec.method), strconv.Itoa(rec.status)).Observe(time.Since(rec.start).Seconds())
}

// admitRoute authenticates the caller of a non-public route and applies
// the per-principal limit. ok is false when the request has been answered.
//
//go:noinline
func (s *Server) admitRoute(w http.ResponseWriter, r *http.Request, rt *route) (auth.Principal, bool) {
	if rt.public {
		return auth.Principal{}, true
	}
	p, err := s.authenticate(r, *rt)
	if err != nil {
		writeError(w, r, s.log, err)
		return p, false
	}
	if s.userRL != nil {
		if ok, after := s.userRL.Allow(r.Context(), "p:"+p.ID); !ok {
			writeError(w, r, s.log, WithRetryAfter(fmt.Errorf("%w: principal %s", ErrTooManyRequests, p.ID), after))
			return p, false
		}
	}
	return p, true
}

// handlerError answers a handler's error, or logs it when the response
// has started (a stream that failed: the client sees it end).
func (s *Server) handlerError(rec *recorder, r *http.Request, err error) {
	if rec.wroteHeader {
		s.log.Warn("stream ended with error", "request_id", RequestID(r.Context()), "path", r.URL.Path, "error", err.Error())
		return
	}
	writeError(rec, r, s.log, err)
}

// authenticate identifies the caller. Every failure is the same 401.
func (s *Server) authenticate(r *http.Request, rt route) (auth.Principal, error) {
	if rt.streamAuth && s.opts.StreamTokens != nil && r.URL.Query().Has("token") {
		if r.Header.Get("Authorization") != "" {
			return auth.Principal{}, fmt.Errorf("%w: both a bearer header and a stream token", auth.ErrUnauthenticated)
		}
		return s.opts.StreamTokens.FromQuery(r, r.URL.Query().Get("sessionId"))
	}
	if s.opts.Authenticator == nil {
		return auth.Principal{ID: AnonymousPrincipal, Method: "none"}, nil
	}
	p, err := s.opts.Authenticator.Authenticate(r)
	if err != nil {
		return auth.Principal{}, err
	}
	if p.ID == "" {
		return auth.Principal{}, fmt.Errorf("%w: authenticator returned an empty principal", auth.ErrUnauthenticated)
	}
	return p, nil
}

// corsPreflight sets CORS headers for allowed origins and answers
// preflight requests. It reports whether the request was answered.
func (s *Server) corsPreflight(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || (!s.corsAny && !s.cors[origin]) {
		return false
	}
	h := w.Header()
	h.Add("Vary", "Origin")
	if s.corsAny {
		h.Set("Access-Control-Allow-Origin", "*")
	} else {
		h.Set("Access-Control-Allow-Origin", origin)
	}
	h.Set("Access-Control-Expose-Headers", "X-Session-Id, X-Request-Id, Retry-After")
	if r.Method != http.MethodOptions || r.Header.Get("Access-Control-Request-Method") == "" {
		return false
	}
	h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Last-Event-ID, X-Request-Id")
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
	return true
}

// recorder remembers the status written, for metrics and for knowing
// whether an error can still be answered as such. It passes Flush and
// Hijack through (SSE and WebSocket need them).
type recorder struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
	// The routed request, for the latency metric (see wrap).
	start   time.Time
	pattern string
	method  string
}

func (r *recorder) WriteHeader(code int) {
	if !r.wroteHeader {
		r.status, r.wroteHeader = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if !r.wroteHeader {
		r.status, r.wroteHeader = http.StatusOK, true
	}
	return r.ResponseWriter.Write(b)
}

// Flush flushes the response; see FlushError.
func (r *recorder) Flush() { _ = r.FlushError() }

// FlushError flushes the response through whatever the server was given:
// the writer itself, or one a middleware's writer unwraps to (so a
// wrapper that has only Unwrap does not leave SSE events buffered).
func (r *recorder) FlushError() error {
	switch f := r.ResponseWriter.(type) {
	case interface{ FlushError() error }:
		return f.FlushError()
	case http.Flusher:
		f.Flush()
		return nil
	}
	return http.NewResponseController(r.ResponseWriter).Flush()
}

// Hijack takes over the connection, through wrappers as FlushError does.
func (r *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(r.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, fmt.Errorf("server: connection cannot be hijacked: %w", err)
	}
	r.status, r.wroteHeader = http.StatusSwitchingProtocols, true
	return c, rw, nil
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// wsOriginAllowed reports whether a WebSocket may be opened from the
// request's origin: no Origin header (not a browser), a page of the same
// host (as the server sees it: behind a TLS-terminating proxy the scheme
// is not known, so the host is compared alone), or an origin on the CORS
// allow-list, compared whole — scheme, host and port — so that allowing
// https://app.example does not allow http://app.example.
func (s *Server) wsOriginAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	if s.corsAny || s.cors[origin] {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	return strings.EqualFold(u.Host, r.Host)
}

// methodLabel bounds the method label of the latency metric: net/http
// accepts any token as a method, and each new label value would be a new
// series kept forever.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodOptions:
		return m
	}
	return "other"
}

// fromTrustedProxy reports whether the immediate peer of r is one of
// Options.TrustedProxies.
func (s *Server) fromTrustedProxy(r *http.Request) bool {
	if len(s.opts.TrustedProxies) == 0 {
		return false
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	addr := ap.Addr().Unmap()
	for _, p := range s.opts.TrustedProxies {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}
