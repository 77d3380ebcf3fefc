package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/helix-agents/helix-go/runtime/local"
	"github.com/helix-agents/helix-go/server/auth"
	"github.com/helix-agents/helix-go/server/ratelimit"
)

// ErrNoAuthenticator is returned by [New] when Options has no
// Authenticator and AllowUnauthenticated is not set.
var ErrNoAuthenticator = errors.New("server: no authenticator configured (set one, or AllowUnauthenticated for local development)")

// AnonymousPrincipal is the principal of every request when the server
// runs with AllowUnauthenticated and no Authenticator.
const AnonymousPrincipal = "anonymous"

// Options configure a [Server]. Runtime is required, and so is
// Authenticator unless AllowUnauthenticated is set; every other field has a
// working default.
type Options struct {
	// Runtime executes the runs; its agent registry resolves agentType.
	Runtime *local.Runtime
	// Authenticator identifies the principal of each request (see
	// package auth for API keys, JWT and Chain).
	Authenticator auth.Authenticator
	// AllowUnauthenticated lets the server run without an Authenticator:
	// every request is AnonymousPrincipal. New logs a loud warning.
	AllowUnauthenticated bool
	// StreamTokens, if set, lets /sse and /ws accept a short-lived
	// session-bound token in ?token= (browsers' EventSource cannot send
	// headers) and enables POST /stream-token to issue one.
	StreamTokens *auth.StreamTokens

	// RateLimit limits requests per principal, IPRateLimit per client IP
	// (before authentication, so it also slows credential guessing). The
	// zero values are the ratelimit defaults (20/s, bursts of 60).
	RateLimit   ratelimit.Options
	IPRateLimit ratelimit.Options
	// RateLimiter and IPRateLimiter, if set, decide in place of the
	// in-process limiters that RateLimit and IPRateLimit configure: a
	// [ratelimit.Redis] makes the limits hold across every process sharing
	// its Redis server. The server does not close them.
	RateLimiter   ratelimit.Allower
	IPRateLimiter ratelimit.Allower
	// DisableRateLimit turns both limits off (benchmarks, trusted
	// deployments behind a gateway that limits).
	DisableRateLimit bool
	// TrustedProxies are the proxies whose X-Forwarded-For is believed
	// when finding the client IP. Default: none.
	TrustedProxies []netip.Prefix

	// CORSOrigins is the CORS allow-list of exact origins
	// ("https://app.example.com"); "*" allows any origin (credentials are
	// never allowed). Empty (the default) disables CORS.
	CORSOrigins []string
	// MaxBodyBytes limits request bodies (default DefaultMaxBodyBytes).
	MaxBodyBytes int64
	// Heartbeat is the interval of SSE ping comments and WebSocket pings
	// (default 15s).
	Heartbeat time.Duration
	// Metrics receives the server's Prometheus metrics and serves
	// /metrics. Default: a new Metrics on its own registry (pass the same
	// Metrics' Hooks to the runtime to count runs, steps, tokens and tool
	// calls).
	Metrics *Metrics
	// MetricsPrincipals, if set, are the only principals that may read
	// GET /metrics (process-wide figures: runs, tokens and tool calls of
	// every principal); any other gets the same 404 as an unknown route.
	// Default: every authenticated principal.
	MetricsPrincipals []string
	// Ready reports readiness for /readyz (default: the store answers).
	Ready func(ctx context.Context) error
	// DefaultAgent is the agent of chat requests that name none.
	DefaultAgent string
	// Playground, if set, serves the web UI: GET / and GET /assets/…,
	// without authentication (the UI holds no data; it asks for an API key
	// and calls the API like any client), under a strict
	// Content-Security-Policy.
	Playground http.Handler
	// Logger receives request failures with their request ids (default
	// slog.Default()). Wrap it with package redact.
	Logger *slog.Logger
}

// Server is the Helix HTTP API, an http.Handler. Create it with [New];
// stop it with [Server.Shutdown] before shutting down the http.Server that
// serves it.
type Server struct {
	opts    Options
	rt      *local.Runtime
	log     *slog.Logger
	mux     *http.ServeMux
	handler http.Handler
	metrics *Metrics
	userRL  ratelimit.Allower
	ipRL    ratelimit.Allower
	// owned are the limiters the server made, closed by Shutdown.
	owned   []*ratelimit.Limiter
	cors    map[string]bool
	corsAny bool

	mu       sync.Mutex
	draining bool
	drain    chan struct{} // closed by Shutdown: open streams end
	drainCtx context.Context
	undrain  context.CancelFunc // cancels drainCtx, with drain
	streams  sync.WaitGroup
}

// New returns a Server. It fails with ErrNoAuthenticator when there is no
// Authenticator and AllowUnauthenticated is not set.
func New(opts Options) (*Server, error) {
	if opts.Runtime == nil {
		return nil, fmt.Errorf("server: Options.Runtime is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Authenticator == nil && !opts.AllowUnauthenticated {
		return nil, ErrNoAuthenticator
	}
	if opts.Authenticator == nil {
		opts.Logger.Warn("!!! AUTHENTICATION IS DISABLED: every request is served as principal \"" + AnonymousPrincipal +
			"\" and anyone who can reach this address can run agents and read every session. Use only on a trusted machine.")
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = 15 * time.Second
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics(nil)
	}
	s := &Server{
		opts:    opts,
		rt:      opts.Runtime,
		log:     opts.Logger,
		metrics: opts.Metrics,
		drain:   make(chan struct{}),
		cors:    map[string]bool{},
	}
	for _, o := range opts.CORSOrigins {
		if o == "*" {
			s.corsAny = true
		} else {
			s.cors[o] = true
		}
	}
	s.drainCtx, s.undrain = context.WithCancel(context.Background())
	if !opts.DisableRateLimit {
		s.userRL, s.ipRL = opts.RateLimiter, opts.IPRateLimiter
		if s.userRL == nil {
			l := ratelimit.New(opts.RateLimit)
			s.userRL, s.owned = l, append(s.owned, l)
		}
		if s.ipRL == nil {
			l := ratelimit.New(opts.IPRateLimit)
			s.ipRL, s.owned = l, append(s.owned, l)
		}
	}
	s.routes()
	return s, nil
}

// ServeHTTP serves the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.handler.ServeHTTP(w, r)
}

// Shutdown starts a graceful stop: new run-starting requests get 503, and
// every open SSE and WebSocket stream is ended with a reconnect hint (SSE
// "retry:" then close; WebSocket close code 1012 "service restart"), so
// clients resume from their last sequence on another process or after the
// restart. It waits for the streams to close or ctx to end. Shut the
// http.Server down after it, then close the runtime (which stops running
// steps at their next checkpoint).
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.draining {
		s.draining = true
		close(s.drain)
		s.undrain()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.streams.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	for _, l := range s.owned {
		l.Close()
	}
	return nil
}

func (s *Server) isDraining() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.draining
}
