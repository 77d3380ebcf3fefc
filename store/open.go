package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
)

// ErrUnknownScheme is returned by [Open] for a URL whose scheme no backend
// registered.
var ErrUnknownScheme = errors.New("store: unknown URL scheme")

// Opener opens a store from a parsed URL. Backends register one per scheme
// with [Register]. An Opener must not put the URL's password (or any other
// credential) into the error it returns; [Open] redacts the URL it reports,
// not what an Opener says.
type Opener func(ctx context.Context, u *url.URL) (Store, error)

var (
	openersMu sync.RWMutex
	openers   = map[string]Opener{}
)

// Register makes a backend available to [Open] under a URL scheme
// ("sqlite", "redis", "postgres", …). Backends call it from an init
// function, so that importing the backend package is what enables its
// scheme. Register panics if the scheme is empty or already registered:
// both are programming errors caught at start-up.
func Register(scheme string, open Opener) {
	scheme = strings.ToLower(scheme)
	if scheme == "" || open == nil {
		panic("store: Register with an empty scheme or a nil Opener")
	}
	openersMu.Lock()
	defer openersMu.Unlock()
	if _, dup := openers[scheme]; dup {
		panic("store: Register called twice for scheme " + scheme)
	}
	openers[scheme] = open
}

// Schemes returns the registered URL schemes, sorted.
func Schemes() []string {
	openersMu.RLock()
	defer openersMu.RUnlock()
	out := make([]string, 0, len(openers))
	for s := range openers {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// Open opens the store a URL names, such as "sqlite://./helix.db",
// "redis://127.0.0.1:6379/0" or "postgres://user@host/db". The backend for
// the scheme must have been registered, usually by importing its package
// (see cmd/helix, the one place that wires concrete backends).
//
// Credentials may be part of the URL, or come from the environment: Open
// replaces every ${NAME} in rawURL with the value of the environment
// variable NAME, percent-encoded, so that
// "postgres://helix:${HELIX_PG_PASSWORD}@db/helix" keeps the password out of
// flags and config files. (Backends may also read their own variables, such
// as PostgreSQL's PGPASSWORD.) Errors from Open never contain the password:
// the URL is reported with [RedactURL].
func Open(ctx context.Context, rawURL string) (Store, error) {
	rawURL = expandEnv(rawURL)
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Parse errors quote the input, which may hold a password.
		return nil, fmt.Errorf("store: open: malformed store URL %q", RedactURL(rawURL))
	}
	openersMu.RLock()
	open := openers[strings.ToLower(u.Scheme)]
	openersMu.RUnlock()
	if open == nil {
		return nil, fmt.Errorf("store: open %q: %w (registered: %s)", redact(u), ErrUnknownScheme, strings.Join(Schemes(), ", "))
	}
	st, err := open(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("store: open %q: %w", redact(u), err)
	}
	return st, nil
}

// RedactURL returns rawURL with its credentials replaced by "xxxxx": the
// password of every "scheme://user:pass@host" (the whole user information
// when it has no colon, as in "redis://token@host") and the value of every
// "key=value" whose key suggests a credential (password, secret, token,
// key…). It works on the text, without parsing, so it also scrubs strings
// that are not well-formed URLs, and leaves everything else as it was.
func RedactURL(rawURL string) string {
	return redactParams(scrubUserinfo(rawURL))
}

// redact returns u as a string without its credentials.
func redact(u *url.URL) string { return RedactURL(u.String()) }

// scrubUserinfo replaces the password (or the whole user information, if
// it has no colon) of every "://userinfo@" in s.
func scrubUserinfo(s string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "://")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i+3])
		s = s[i+3:]
		end := strings.IndexAny(s, "/?#")
		if end < 0 {
			end = len(s)
		}
		at := strings.LastIndex(s[:end], "@")
		if at < 0 {
			continue
		}
		if user, _, ok := strings.Cut(s[:at], ":"); ok {
			b.WriteString(user + ":")
		}
		b.WriteString("xxxxx")
		s = s[at:]
	}
}

// redactParams replaces the value of every "key=value" in s whose key
// suggests a credential. A key starts after the last of "?&;#/" before the
// "=", a value ends at the next "&", ";" or "#".
func redactParams(s string) string {
	var b strings.Builder
	for {
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			b.WriteString(s)
			return b.String()
		}
		key := s[strings.LastIndexAny(s[:eq], "?&;#/")+1 : eq]
		b.WriteString(s[:eq+1])
		s = s[eq+1:]
		if isSecretParam(key) {
			end := strings.IndexAny(s, "&;#")
			if end < 0 {
				end = len(s)
			}
			b.WriteString("xxxxx")
			s = s[end:]
		}
	}
}

// isSecretParam reports whether a query parameter name suggests a
// credential.
func isSecretParam(name string) bool {
	n := strings.ToLower(name)
	for _, s := range []string{"pass", "secret", "token", "key", "auth", "credential"} {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}

// expandEnv replaces each ${NAME} in s with the percent-encoded value of
// the environment variable NAME. Only the braced form is expanded, so a
// "$" elsewhere in a URL (a password, say) is left alone.
func expandEnv(s string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		b.WriteString(escapeAll(os.Getenv(s[i+2 : i+j])))
		s = s[i+j+1:]
	}
}

// escapeAll percent-encodes every byte but the unreserved characters of
// RFC 3986, so a value is safe in any part of a URL.
func escapeAll(v string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}
