// Package redact scrubs secrets from log output.
//
// [NewHandler] wraps any [slog.Handler] so that API keys, bearer tokens,
// JWTs, DSN passwords, provider keys and credential-bearing query
// parameters never reach the log, whether they appear in the message or in
// an attribute (pre-bound with [slog.Logger.With] or added to the record,
// inside groups or not, as strings, errors, [fmt.Stringer]s or other
// values). [String] applies the same scrubbing to a single string.
//
// Redaction is pattern based and errs on the side of hiding too much: a
// word following "Bearer" or a "…token=" value is replaced even when it is
// not a credential. Known secret values (the configured API keys, say) are
// best listed in [Options.Secrets], which replaces them wherever they
// appear, whatever their shape.
//
// Replacements are: "[REDACTED]" for tokens and for the whole value of an
// attribute whose key names a secret, and "xxxxx" for a URL's password and
// for the value of a credential parameter (the convention of
// [store.RedactURL], which is used for URLs).
package redact

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"

	"github.com/helix-agents/helix-go/store"
)

// Redacted replaces tokens and the values of attributes whose key names a
// secret.
const Redacted = "[REDACTED]"

// hidden replaces URL passwords and credential parameter values, as
// [store.RedactURL] does.
const hidden = "xxxxx"

// MinSecretLen is the length under which an entry of [Options.Secrets] is
// ignored: replacing a value that short would mangle ordinary text.
const MinSecretLen = 6

// Options configures [NewHandler]. The zero value is ready to use.
type Options struct {
	// Secrets lists exact values (configured API keys, JWT signing secrets,
	// passwords) that are replaced by "[REDACTED]" wherever they occur, in
	// the message and in every attribute value. Entries shorter than
	// MinSecretLen bytes are ignored. Default: none.
	Secrets []string
}

// NewHandler returns a handler that scrubs secrets from each record's
// message and attribute values and passes the result to h. Attributes
// added with WithAttrs are scrubbed once, when they are added. The
// returned handler is safe for concurrent use if h is.
func NewHandler(h slog.Handler, o Options) slog.Handler {
	if h == nil {
		panic("redact: NewHandler with a nil handler")
	}
	return &handler{next: h, r: newRedactor(o.Secrets)}
}

// String returns s with the secrets it contains replaced: API keys after
// "Bearer" or in an Authorization header, JWTs, provider keys (OpenAI and
// Anthropic "sk-…", Google "AIza…", Slack "xox…", GitHub "ghp_…", AWS
// "AKIA…"), URL passwords ("scheme://user:pass@host" becomes
// "scheme://user:xxxxx@host") and the values of parameters such as
// "key=", "api_key=", "token=" or "password=". Text without secrets is
// returned unchanged. String is idempotent: String(String(s)) ==
// String(s).
func String(s string) string { return defaultRedactor.str(s) }

// StringFunc returns a function that scrubs one string as [NewHandler]
// with o does: the patterns of [String] plus o.Secrets. Servers pass it to
// the runtime to scrub tool error texts.
func StringFunc(o Options) func(string) string { return newRedactor(o.Secrets).str }

var _ slog.Handler = (*handler)(nil)

// handler is the slog.Handler returned by NewHandler; it is immutable.
type handler struct {
	next slog.Handler
	r    *redactor
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *handler) Handle(ctx context.Context, rec slog.Record) error {
	msg := h.r.str(rec.Message)
	changed := msg != rec.Message
	var buf [8]slog.Attr
	as := buf[:0]
	rec.Attrs(func(a slog.Attr) bool {
		b, ch := h.r.attr(a)
		changed = changed || ch
		as = append(as, b)
		return true
	})
	if !changed {
		// The common case: nothing to hide, no copy.
		return h.next.Handle(ctx, rec)
	}
	out := slog.NewRecord(rec.Time, rec.Level, msg, rec.PC)
	out.AddAttrs(as...)
	return h.next.Handle(ctx, out)
}

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	if len(as) == 0 {
		return h
	}
	scrubbed := make([]slog.Attr, len(as))
	for i, a := range as {
		scrubbed[i], _ = h.r.attr(a)
	}
	return &handler{next: h.next.WithAttrs(scrubbed), r: h.r}
}

func (h *handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &handler{next: h.next.WithGroup(name), r: h.r}
}

// redactor holds the compiled state of one Options; it is immutable.
type redactor struct {
	secrets *strings.Replacer // nil when there are none
	list    []string          // the secrets, longest first
}

var defaultRedactor = newRedactor(nil)

func newRedactor(secrets []string) *redactor {
	var ss []string
	for _, s := range secrets {
		if len(s) >= MinSecretLen && !slices.Contains(ss, s) {
			ss = append(ss, s)
		}
	}
	r := &redactor{}
	if len(ss) == 0 {
		return r
	}
	// Longest first, so that a secret containing another is replaced
	// whole.
	slices.SortFunc(ss, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	pairs := make([]string, 0, 2*len(ss))
	for _, s := range ss {
		pairs = append(pairs, s, Redacted)
	}
	r.list = ss
	r.secrets = strings.NewReplacer(pairs...)
	return r
}

// attr returns a with its value scrubbed, and whether that changed it.
func (r *redactor) attr(a slog.Attr) (slog.Attr, bool) {
	if isSecretKey(a.Key) {
		if a.Value.Kind() == slog.KindGroup && len(a.Value.Group()) == 0 {
			return a, false // an empty group is dropped by handlers anyway
		}
		return slog.String(a.Key, Redacted), true
	}
	v := a.Value
	if v.Kind() == slog.KindLogValuer {
		v = v.Resolve()
	}
	nv, changed := r.value(v)
	if changed || v.Kind() != a.Value.Kind() {
		return slog.Attr{Key: a.Key, Value: nv}, true
	}
	return a, false
}

// value returns v scrubbed, and whether that changed it.
func (r *redactor) value(v slog.Value) (slog.Value, bool) {
	switch v.Kind() {
	case slog.KindString:
		s := v.String()
		if t := r.str(s); t != s {
			return slog.StringValue(t), true
		}
		return v, false
	case slog.KindGroup:
		as := v.Group()
		var out []slog.Attr
		for i, a := range as {
			b, ch := r.attr(a)
			if ch && out == nil {
				out = make([]slog.Attr, len(as))
				copy(out, as[:i])
			}
			if out != nil {
				out[i] = b
			}
		}
		if out == nil {
			return v, false
		}
		return slog.GroupValue(out...), true
	case slog.KindAny:
		switch x := v.Any().(type) {
		case nil:
			return v, false
		case error:
			// Handlers print an error with Error(); what they would
			// print is what must be scrubbed.
			s := x.Error()
			if t := r.str(s); t != s {
				return slog.StringValue(t), true
			}
			return v, false
		case fmt.Stringer:
			s := x.String()
			if t := r.str(s); t != s {
				return slog.StringValue(t), true
			}
			return v, false
		case []byte:
			s := string(x)
			if t := r.str(s); t != s {
				return slog.StringValue(t), true
			}
			return v, false
		default:
			// Structs, maps, slices: check their rendering; if it holds
			// a secret, log the scrubbed rendering instead of the value.
			s := fmt.Sprintf("%+v", x)
			if t := r.str(s); t != s {
				return slog.StringValue(t), true
			}
			return v, false
		}
	default:
		// Numbers, booleans, times and durations hold no secrets.
		return v, false
	}
}

// str scrubs s. The passes are applied until nothing changes (at most a
// few rounds), which makes the result a fixed point: scrubbing it again
// changes nothing.
func (r *redactor) str(s string) string {
	if len(s) < 5 {
		return s // shorter than the shortest pattern ("key=x") and secret
	}
	for range 4 {
		t := r.once(s)
		if t == s {
			return t
		}
		s = t
	}
	return s
}

func (r *redactor) once(s string) string {
	s = r.known(s)
	if hasFold(s, "authorization") {
		s = authHeaderRE.ReplaceAllStringFunc(s, replaceAuthHeader)
	}
	if hasFold(s, "bearer") {
		s = bearerRE.ReplaceAllString(s, "${1}${2}"+Redacted)
	}
	if strings.Contains(s, "eyJ") {
		s = jwtRE.ReplaceAllString(s, Redacted)
	}
	if mayHoldProviderKey(s) {
		s = providerKeyRE.ReplaceAllString(s, Redacted)
	}
	if strings.Contains(s, "://") {
		s = urlRE.ReplaceAllStringFunc(s, store.RedactURL)
	}
	if strings.ContainsAny(s, "=:") && mayHoldParam(s) {
		s = paramRE.ReplaceAllString(s, "${1}${2}"+hidden)
	}
	return r.known(s)
}

// known replaces the exact secret values.
func (r *redactor) known(s string) string {
	// strings.Contains is much faster than a Replacer that finds
	// nothing, which still allocates.
	for _, sec := range r.list {
		if strings.Contains(s, sec) {
			return r.secrets.Replace(s)
		}
	}
	return s
}

var (
	// authHeaderRE matches an Authorization header or field and the one
	// or two words of its value (scheme and credentials).
	authHeaderRE = regexp.MustCompile(`(?i)(authorization["']?\s*[:=]\s*[\["']?)([^\s"',;\]]+)(?:(\s+)([^\s"',;\]]+))?`)
	// bearerRE matches "Bearer <token>".
	bearerRE = regexp.MustCompile(`(?i)\b(bearer)(\s+)[A-Za-z0-9._~+/=:-]+`)
	// jwtRE matches a JWT: base64url header and payload, optional
	// signature (unsigned tokens too).
	jwtRE = regexp.MustCompile(`eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*`)
	// providerKeyRE matches provider API keys: OpenAI and Anthropic
	// (sk-, sk-proj-, sk-ant-), Google (AIza), Slack (xoxb- etc.), GitHub
	// (ghp_ etc.) and AWS access key IDs.
	providerKeyRE = regexp.MustCompile(`\bsk-[A-Za-z0-9_-]{16,}|AIza[0-9A-Za-z_-]{30,}|\bxox[abeoprs]-[0-9A-Za-z-]{8,}|\bgh[pousr]_[A-Za-z0-9]{30,}|\b(?:AKIA|ASIA)[0-9A-Z]{16}\b`)
	// urlRE matches a URL (any scheme); store.RedactURL scrubs it.
	urlRE = regexp.MustCompile("[A-Za-z][A-Za-z0-9+.-]*://[^\\s\"'<>`]+")
	// paramRE matches "name=value" (also "name: value" and JSON
	// "name":"value") where the name ends with a credential word.
	paramRE = regexp.MustCompile(`(?i)\b([a-z0-9_.-]*(?:pass|passwd|password|pwd|secret|token|key|apikey|auth|credentials?|signature))` +
		`(["']?\s*=\s*["']?|["']?:\s+["']?|["']:["']?)[^\s&;#"',]+`)
)

// schemes are Authorization schemes: the credential is the word after.
var schemes = []string{"bearer", "basic", "token", "digest", "negotiate", "apikey", "key", "dpop", "hmac", "aws4-hmac-sha256"}

func replaceAuthHeader(m string) string {
	g := authHeaderRE.FindStringSubmatch(m)
	prefix, first, sp, second := g[1], g[2], g[3], g[4]
	if done(first) {
		return m
	}
	for _, sc := range schemes {
		if strings.EqualFold(first, sc) {
			if second == "" || done(second) {
				return m // a scheme alone, or already redacted
			}
			return prefix + first + sp + Redacted
		}
	}
	if second == "" {
		return prefix + Redacted
	}
	return prefix + Redacted + sp + second
}

// done reports whether an Authorization value is what a previous pass
// wrote (the closing bracket is not part of a value).
func done(v string) bool { return v == "[REDACTED" || v == "REDACTED" }

func mayHoldProviderKey(s string) bool {
	return strings.Contains(s, "sk-") || strings.Contains(s, "AIza") || strings.Contains(s, "xox") ||
		(strings.Contains(s, "gh") && strings.Contains(s, "_")) || strings.Contains(s, "AKIA") || strings.Contains(s, "ASIA")
}

func mayHoldParam(s string) bool {
	for _, w := range [...]string{"pass", "pwd", "secret", "token", "key", "auth", "credential", "signature"} {
		if hasFold(s, w) {
			return true
		}
	}
	return false
}

// isSecretKey reports whether an attribute key names a secret: it
// contains password, secret, api_key, apikey, authorization, cookie or
// credential, or ends with "token", "key" or "pwd" (so "access_token" and
// "openaiKey" are secret, "input_tokens" and "keyword" are not).
func isSecretKey(k string) bool {
	k = strings.ToLower(k)
	for _, w := range [...]string{"password", "passwd", "secret", "api_key", "api-key", "apikey", "authorization", "cookie", "credential"} {
		if strings.Contains(k, w) {
			return true
		}
	}
	return strings.HasSuffix(k, "token") || strings.HasSuffix(k, "key") || strings.HasSuffix(k, "pwd")
}

// hasFold reports whether s contains sub, ignoring ASCII case; sub must be
// lower case.
func hasFold(s, sub string) bool {
	n := len(sub)
	c := sub[0]
	for i := 0; i+n <= len(s); i++ {
		if s[i]|0x20 == c && strings.EqualFold(s[i:i+n], sub) {
			return true
		}
	}
	return false
}
