package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/runtime/local"
	"github.com/helix-agents/helix-go/server"
	"github.com/helix-agents/helix-go/server/auth"
	"github.com/helix-agents/helix-go/server/ratelimit"
	"github.com/helix-agents/helix-go/server/redact"
	"github.com/helix-agents/helix-go/store/redisstore"
	"github.com/helix-agents/helix-go/web"
)

// shutdownGrace bounds the graceful shutdown.
const shutdownGrace = 30 * time.Second

// generatedKeyPrincipal is the principal of the API key generated when
// none is configured.
const generatedKeyPrincipal = "local"

// defaultJWTLeeway is the clock skew tolerated by default between the
// token issuer's clock and the server's: a token minted by a clock a few
// seconds ahead is not refused as issued in the future.
const defaultJWTLeeway = 30 * time.Second

// serveOptions are the parsed flags of helix serve.
type serveOptions struct {
	addr, storeURL, configPath, model string

	apiKeys              listFlag
	jwtSecret            string
	jwtPublicKey         string // path to a PEM file
	jwtAudience          string
	jwtIssuer            string
	jwtLeeway            time.Duration
	allowUnauthenticated bool
	streamTokenSecret    string

	corsOrigins       listFlag
	metricsPrincipals listFlag
	trustedProxies    listFlag
	rateLimit         float64
	maxBodyBytes      int64

	logLevel, logFormat string

	tlsCert, tlsKey string // PEM files; both or neither
}

func serveFlags(o *serveOptions) *flagSet {
	f := newFlagSet("serve", "helix serve [flags]",
		`Start the Helix HTTP API (DESIGN §5) for the agents of helix.yaml.

Requests authenticate with "Authorization: Bearer KEY". With no --api-key
and no JWT configured, a random API key is generated for this run and
printed (principal "local"); --allow-unauthenticated turns authentication
off instead (trusted machines only). Browsers' EventSource can use signed
stream tokens (POST /stream-token); without --stream-token-secret their key
is random per process, so stream tokens do not survive a restart and are
not accepted by other processes.

Models are opened lazily: without the provider's API key the server starts,
says which variable to set, and runs fail with that error until it is set.`)
	f.String(&o.addr, "addr", "HELIX_ADDR", "127.0.0.1:8080", "listen `address`")
	f.String(&o.storeURL, "store", "HELIX_STORE", defaultStore, "store `URL`: sqlite://PATH, redis://HOST:PORT/DB, postgres://…, memory://")
	f.String(&o.configPath, "config", "HELIX_CONFIG", "", "agents `file` (default ./helix.yaml if present, else one built-in assistant)")
	f.String(&o.model, "model", "HELIX_MODEL", "", "model `spec` of agents that name none: openai:MODEL, anthropic:MODEL, gemini:MODEL, scripted:FILE (default "+defaultModel+", or the offline demo model when no OpenAI key is set)")
	f.List(&o.apiKeys, "api-key", "HELIX_API_KEYS", "API key as `NAME=KEY` (repeatable or comma-separated); NAME is the principal")
	f.String(&o.jwtSecret, "jwt-secret", "HELIX_JWT_SECRET", "", "HS256 `secret` (≥ 32 bytes) accepting JWT bearer tokens")
	f.String(&o.jwtPublicKey, "jwt-public-key", "HELIX_JWT_PUBLIC_KEY", "", "`path` of a PEM public key (RSA: RS256, Ed25519: EdDSA) accepting JWT bearer tokens")
	f.String(&o.jwtAudience, "jwt-audience", "HELIX_JWT_AUDIENCE", "", "required JWT `aud`")
	f.String(&o.jwtIssuer, "jwt-issuer", "HELIX_JWT_ISSUER", "", "required JWT `iss`")
	f.Duration(&o.jwtLeeway, "jwt-leeway", "HELIX_JWT_LEEWAY", defaultJWTLeeway, "clock skew `duration` tolerated for JWT exp, nbf and iat (0 for none)")
	f.String(&o.tlsCert, "tls-cert", "HELIX_TLS_CERT", "", "serve HTTPS with this certificate `file` (PEM; needs --tls-key)")
	f.String(&o.tlsKey, "tls-key", "HELIX_TLS_KEY", "", "private key `file` for --tls-cert (PEM)")
	f.Bool(&o.allowUnauthenticated, "allow-unauthenticated", "HELIX_ALLOW_UNAUTHENTICATED", false, "serve without authentication (every request is principal \"anonymous\"; trusted machines only)")
	f.String(&o.streamTokenSecret, "stream-token-secret", "HELIX_STREAM_TOKEN_SECRET", "", "`secret` (≥ 32 bytes) signing stream tokens; share it between processes (default: random per process)")
	f.List(&o.metricsPrincipals, "metrics-principal", "HELIX_METRICS_PRINCIPALS", "`principal` that may read /metrics (repeatable or comma-separated; default: every authenticated one)")
	f.List(&o.corsOrigins, "cors-origin", "HELIX_CORS_ORIGINS", "CORS allowed `origin` (repeatable or comma-separated; \"*\" for any; default none)")
	f.List(&o.trustedProxies, "trusted-proxy", "HELIX_TRUSTED_PROXIES", "`CIDR` of a proxy whose X-Forwarded-For is trusted (repeatable or comma-separated)")
	f.Float64(&o.rateLimit, "rate-limit", "HELIX_RATE_LIMIT", ratelimit.DefaultRate, "requests per `second` per principal, bursts of 3× (per client IP: at least the default); 0 disables rate limiting")
	f.Int64(&o.maxBodyBytes, "max-body-bytes", "HELIX_MAX_BODY_BYTES", server.DefaultMaxBodyBytes, "request body limit in `bytes`")
	f.String(&o.logLevel, "log-level", "HELIX_LOG_LEVEL", "info", "log `level`: debug, info, warn, error")
	f.String(&o.logFormat, "log-format", "HELIX_LOG_FORMAT", "text", "log `format`: text or json")
	return f
}

// parseServeFlags parses the flags and environment of helix serve.
func parseServeFlags(args []string, env func(string) string, stdout io.Writer) (*serveOptions, error) {
	o := &serveOptions{}
	pos, err := serveFlags(o).parse(args, env, stdout)
	if err != nil {
		return nil, err
	}
	if len(pos) > 0 {
		return nil, usagef("serve: unexpected argument %q (see \"helix serve -h\")", pos[0])
	}
	if o.rateLimit < 0 || o.rateLimit != o.rateLimit {
		return nil, usagef("bad --rate-limit: want a number of requests per second ≥ 0")
	}
	if o.maxBodyBytes <= 0 {
		return nil, usagef("bad --max-body-bytes: want a positive number of bytes")
	}
	if o.logFormat != "text" && o.logFormat != "json" {
		return nil, usagef("bad --log-format %q: want text or json", o.logFormat)
	}
	if _, err := parseLogLevel(o.logLevel); err != nil {
		return nil, err
	}
	return o, nil
}

// authSetup is the authentication of a server.
type authSetup struct {
	authn        auth.Authenticator // nil with --allow-unauthenticated
	streamTokens *auth.StreamTokens
	generatedKey string   // set when no credential was configured
	secrets      []string // for the redacting log handler
}

func (o *serveOptions) auth() (*authSetup, error) {
	as := &authSetup{}
	var chain []auth.Authenticator
	var keyNames []string
	if keys := o.apiKeys.items(); len(keys) > 0 {
		ak, err := auth.ParseAPIKeys(keys...)
		if err != nil {
			return nil, usageError{fmt.Errorf("--api-key: %w", err)}
		}
		for _, kv := range keys {
			if _, k, ok := strings.Cut(kv, "="); ok {
				as.secrets = append(as.secrets, strings.TrimSpace(k))
			}
		}
		chain = append(chain, ak)
		keyNames = ak.Names()
	}
	if o.jwtSecret != "" || o.jwtPublicKey != "" {
		if o.jwtLeeway < 0 || o.jwtLeeway > 5*time.Minute {
			return nil, usagef("--jwt-leeway: %s is outside 0 to 5m", o.jwtLeeway)
		}
		cfg := auth.JWTConfig{Audience: o.jwtAudience, Issuer: o.jwtIssuer, Leeway: o.jwtLeeway}
		// A token naming an API key's principal would act as it, and so
		// would one naming the principal of helix run and of the key
		// generated when none is configured, or the anonymous principal
		// of --allow-unauthenticated: sessions of the same store.
		cfg.Reserved = append(keyNames, generatedKeyPrincipal, server.AnonymousPrincipal)
		if o.jwtSecret != "" {
			cfg.Secret = []byte(o.jwtSecret)
			as.secrets = append(as.secrets, o.jwtSecret)
		}
		if o.jwtPublicKey != "" {
			pem, err := os.ReadFile(o.jwtPublicKey)
			if err != nil {
				return nil, usagef("--jwt-public-key: %v", err)
			}
			cfg.PublicKeyPEM = pem
		}
		j, err := auth.NewJWT(cfg)
		if err != nil {
			return nil, usageError{fmt.Errorf("JWT: %w", err)}
		}
		chain = append(chain, j)
	} else if o.jwtAudience != "" || o.jwtIssuer != "" {
		return nil, usagef("--jwt-audience and --jwt-issuer need --jwt-secret or --jwt-public-key")
	}
	switch {
	case len(chain) == 1:
		as.authn = chain[0]
	case len(chain) > 1:
		as.authn = auth.Chain(chain...)
	case !o.allowUnauthenticated:
		as.generatedKey = randomHex(24)
		ak, err := auth.NewAPIKeys(map[string]string{generatedKeyPrincipal: as.generatedKey})
		if err != nil {
			return nil, err
		}
		as.authn = ak
		as.secrets = append(as.secrets, as.generatedKey)
	}
	var secret []byte
	if o.streamTokenSecret != "" {
		secret = []byte(o.streamTokenSecret)
		as.secrets = append(as.secrets, o.streamTokenSecret)
	}
	st, err := auth.NewStreamTokens(auth.StreamTokensConfig{Secret: secret})
	if err != nil {
		return nil, usageError{fmt.Errorf("--stream-token-secret: %w", err)}
	}
	as.streamTokens = st
	return as, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

// providerKeyVars are the variables that hold the model providers' keys
// (llm/models).
var providerKeyVars = []string{"OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY"}

// environmentSecrets are the secrets of the process's environment that the
// redacting log handler and the tool-error scrubber must know by value, as
// the patterns they match do not cover every form: the providers' keys and
// the store URL's password.
func environmentSecrets(env func(string) string, storeURL string) []string {
	var out []string
	for _, v := range providerKeyVars {
		if k := strings.TrimSpace(env(v)); k != "" {
			out = append(out, k)
		}
	}
	if u, err := url.Parse(storeURL); err == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			out = append(out, pw)
		}
	}
	return out
}

// newLogger returns the server's logger: slog on stderr through the
// redacting handler, which also receives go-redis's own log lines.
func newLogger(w io.Writer, level, format string, secrets []string) *slog.Logger {
	lvl, _ := parseLogLevel(level) // validated by the flag parsing
	ho := &slog.HandlerOptions{Level: lvl}
	var h slog.Handler
	if format == "json" {
		h = slog.NewJSONHandler(w, ho)
	} else {
		h = slog.NewTextHandler(w, ho)
	}
	return slog.New(redact.NewHandler(h, redact.Options{Secrets: secrets}))
}

// redisLogger routes go-redis's internal log lines (reconnects, pool
// trouble) to slog, so they are redacted and formatted like the rest.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, fmt.Sprintf(format, v...), "component", "redis")
}

func serveCmd(ctx context.Context, c *cli, args []string) error {
	o, err := parseServeFlags(args, c.env, c.stdout)
	if err != nil {
		return err
	}
	return serve(ctx, c, o)
}

func serve(ctx context.Context, c *cli, o *serveOptions) error {
	if (o.tlsCert == "") != (o.tlsKey == "") {
		return usagef("--tls-cert and --tls-key go together")
	}
	o.model = autoModel(o.model, c.env, c.stderr)
	if err := checkModelSpec(o.model); err != nil {
		return err
	}
	as, err := o.auth()
	if err != nil {
		return err
	}
	var proxies []netip.Prefix
	for _, p := range o.trustedProxies.items() {
		pfx, err := netip.ParsePrefix(p)
		if err != nil {
			addr, aerr := netip.ParseAddr(p)
			if aerr != nil {
				return usagef("bad --trusted-proxy %q: want a CIDR such as 10.0.0.0/8", p)
			}
			pfx = netip.PrefixFrom(addr, addr.BitLen())
		}
		proxies = append(proxies, pfx)
	}
	as.secrets = append(as.secrets, environmentSecrets(c.env, o.storeURL)...)
	log := newLogger(c.stderr, o.logLevel, o.logFormat, as.secrets)
	redis.SetLogger(redisLogger{log: log})

	l, err := loadAgents(ctx, c, o.configPath, o.model)
	if err != nil {
		return err
	}
	defer l.agents.Close()
	metrics := server.NewMetrics(nil)
	rt, closeRT, err := openRuntime(ctx, l, o.storeURL, local.Options{Logger: log, Hooks: []helix.Hooks{metrics.Hooks()},
		ScrubToolError: redact.StringFunc(redact.Options{Secrets: as.secrets})})
	if err != nil {
		return err
	}
	// Stop the runtime on every path; after a clean shutdown this is a no-op.
	defer closeRT()

	if l.agents.SharedWorkspace() && (len(o.apiKeys.items()) > 1 || o.jwtSecret != "" || o.jwtPublicKey != "") {
		log.Warn("the file tools' workspace is shared by every principal: one can read what another's agent wrote; " +
			"set workspacePerPrincipal: true in helix.yaml to give each principal a directory of its own")
	}
	names := l.agents.Names()
	if len(names) == 0 {
		return usagef("the configuration declares no agent")
	}
	defaultAgent := names[0]
	if slices.Contains(names, "assistant") {
		defaultAgent = "assistant"
	}
	so := server.Options{
		Runtime:              rt,
		Authenticator:        as.authn,
		AllowUnauthenticated: o.allowUnauthenticated && as.authn == nil,
		StreamTokens:         as.streamTokens,
		DisableRateLimit:     o.rateLimit == 0,
		TrustedProxies:       proxies,
		CORSOrigins:          o.corsOrigins.items(),
		MaxBodyBytes:         o.maxBodyBytes,
		Metrics:              metrics,
		MetricsPrincipals:    o.metricsPrincipals.items(),
		Logger:               log,
		DefaultAgent:         defaultAgent,
		Playground:           web.Handler(),
	}
	if o.rateLimit > 0 {
		burst := max(1, int(3*o.rateLimit))
		so.RateLimit = ratelimit.Options{Rate: o.rateLimit, Burst: burst}
		// Several principals may share an address (a NAT, an office), so the
		// per-IP limit is never below the default.
		ipRate := max(o.rateLimit, ratelimit.DefaultRate)
		so.IPRateLimit = ratelimit.Options{Rate: ipRate, Burst: max(1, int(3*ipRate))}
	}
	if o.rateLimit > 0 {
		// Processes sharing a Redis store share their limits there too.
		// The limiters get a client of their own, whose calls end with
		// their context.
		if rs, ok := rt.Store().(*redisstore.Store); ok {
			if c, ok := rs.Client().(*redis.Client); ok {
				lc := redis.NewClient(ratelimit.ClientOptions(c.Options()))
				defer lc.Close()
				p := rs.KeyPrefix() + "ratelimit:"
				user := ratelimit.NewRedis(lc, p, so.RateLimit, log)
				ip := ratelimit.NewRedis(lc, p, so.IPRateLimit, log)
				defer user.Close()
				defer ip.Close()
				so.RateLimiter, so.IPRateLimiter = user, ip
			}
		}
	}
	srv, err := server.New(so)
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	hs := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second, // request bodies are small
		WriteTimeout:      0,                // streams are long-lived; the server sets per-write deadlines
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	// Runs stopped by the previous process's graceful shutdown continue
	// here, on their streams, before clients told to reconnect can read
	// their interrupted run_end as the end.
	// Runs a crash cut off, when this process alone uses the store: first,
	// so that a run resumed below finds its cut-off sub-agents ended.
	if ids, err := rt.RecoverCrashed(ctx); err != nil {
		log.Error("re-driving runs a crash cut off", "error", err)
	} else if len(ids) > 0 {
		log.Warn("re-driving runs a crash cut off, from their last checkpoints", "sessions", ids)
	}
	if ids, err := rt.ResumeShutdown(ctx); err != nil {
		log.Error("resuming runs stopped by the last shutdown", "error", err)
	} else if len(ids) > 0 {
		log.Info("resumed runs stopped by the last shutdown", "sessions", ids)
	}
	served := make(chan error, 1)
	if o.tlsCert != "" {
		hs.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		go func() { served <- hs.ServeTLS(ln, o.tlsCert, o.tlsKey) }()
	} else {
		go func() { served <- hs.Serve(ln) }()
		if ap, err := netip.ParseAddrPort(ln.Addr().String()); err == nil && !ap.Addr().IsLoopback() {
			log.Warn("serving plain HTTP on a non-loopback address: API keys and tokens cross the network in clear text; pass --tls-cert/--tls-key or terminate TLS at a proxy",
				"addr", ln.Addr().String())
		}
	}

	printBanner(c.stdout, ln.Addr().String(), names, defaultAgent, as, o)
	for _, line := range l.models.missingKeys() {
		fmt.Fprintln(c.stderr, "Warning: "+line+".")
	}
	log.Info("helix serving", "addr", ln.Addr().String(), "store", redact.String(o.storeURL), "agents", names)

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-served:
	}
	log.Info("shutting down", "grace", shutdownGrace)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("closing streams", "error", err)
	}
	if err := hs.Shutdown(sctx); err != nil {
		log.Warn("http shutdown", "error", err)
	}
	if err := rt.Close(sctx); err != nil {
		log.Warn("runtime close", "error", err)
	}
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", serveErr)
	}
	log.Info("stopped")
	return nil
}

// printBanner tells a newcomer where the server is and how to use it.
func printBanner(out io.Writer, addr string, agents []string, defaultAgent string, as *authSetup, o *serveOptions) {
	w := &strings.Builder{} // written at once: tests read the whole banner after its first line
	defer func() { _, _ = io.WriteString(out, w.String()) }()
	base := "http://" + addr
	if o.tlsCert != "" {
		base = "https://" + addr
	}
	fmt.Fprintf(w, "Helix is listening on %s\n", base)
	fmt.Fprintf(w, "Playground: %s/ (it asks for the API key)\n", base)
	fmt.Fprintf(w, "Agents: %s. Store: %s. Default model: %s.\n", strings.Join(agents, ", "), redact.String(o.storeURL), o.model)
	authHeader := ""
	switch {
	case as.generatedKey != "":
		fmt.Fprintf(w, "No API key configured; generated one for this run: %s (principal %q); pass --api-key NAME=KEY to set your own.\n",
			as.generatedKey, generatedKeyPrincipal)
		authHeader = "-H 'Authorization: Bearer " + as.generatedKey + "' "
	case as.authn == nil:
		fmt.Fprintln(w, "Authentication is DISABLED (--allow-unauthenticated).")
	case len(o.apiKeys.items()) > 0:
		authHeader = "-H \"Authorization: Bearer $HELIX_KEY\" "
		fmt.Fprintln(w, "Set HELIX_KEY to one of your API keys to try the commands below.")
	default:
		authHeader = "-H \"Authorization: Bearer $TOKEN\" "
		fmt.Fprintln(w, "Set TOKEN to a JWT to try the commands below.")
	}
	fmt.Fprintf(w, `
Start a run, then stream it:
  curl -s %s-H 'Content-Type: application/json' \
    -d '{"agentType":"%s","sessionId":"demo-1","message":"What is 6*7?"}' %s/start
  curl -sN %s'%s/sse?sessionId=demo-1'
Answer a tool approval (toolCallId from the tool_approval_request chunk), then stream again:
  curl -s %s-H 'Content-Type: application/json' \
    -d '{"sessionId":"demo-1","toolCallId":"TOOL_CALL_ID","kind":"approval","approved":true}' %s/submit-tool-result

`, authHeader, defaultAgent, base, authHeader, base, authHeader, base)
}
