package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
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
// Credentials may be part of the URL; errors from Open never contain the
// password (the URL is reported with [RedactURL]).
func Open(ctx context.Context, rawURL string) (Store, error) {
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

// RedactURL returns rawURL with any password replaced by "xxxxx": the
// password of the user information and the values of query parameters that
// carry credentials (password, secret, token, key…). It also handles
// strings that do not parse as URLs, by cutting the user information out of
// anything that looks like "scheme://user:pass@host".
func RedactURL(rawURL string) string {
	if u, err := url.Parse(rawURL); err == nil {
		return redact(u)
	}
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if !ok {
		return "(unparsable URL)"
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		rest = "xxxxx" + rest[at:]
	}
	return scheme + "://" + rest
}

// redact returns u as a string without its credentials.
func redact(u *url.URL) string {
	c := *u
	if c.RawQuery != "" {
		q := c.Query()
		for k, vs := range q {
			if isSecretParam(k) {
				for i := range vs {
					vs[i] = "xxxxx"
				}
			}
		}
		c.RawQuery = q.Encode()
	}
	return c.Redacted()
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
