package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// ErrUnauthenticated is wrapped by every error that means "the request does
// not carry valid credentials". Callers test for it with errors.Is and answer
// 401 {"error":"Unauthorized"}, whatever the detail in the error text.
var ErrUnauthenticated = errors.New("auth: unauthenticated")

// Authentication methods reported in [Principal.Method].
const (
	MethodAPIKey      = "api-key"
	MethodJWT         = "jwt"
	MethodStreamToken = "stream-token"
)

// Principal is an authenticated identity.
//
// ID is the stable, non-empty identifier the server uses for ownership: the
// NAME of an API key, the principal claim of a JWT (default "sub"), or the
// subject of a stream token. Two principals are the same owner exactly when
// their IDs are equal; Method is informational (for logs and metrics) and is
// one of [MethodAPIKey], [MethodJWT] or [MethodStreamToken] for the built-in
// authenticators. Principal is comparable.
type Principal struct {
	ID     string
	Method string
}

// Authenticator authenticates an HTTP request.
//
// Authenticate returns the request's principal, or an error wrapping
// [ErrUnauthenticated] when credentials are missing or invalid. Any other
// error means the authenticator itself failed (e.g. a key store outage) and
// should be answered as a 500. Error texts never contain the presented
// credential. Implementations must be safe for concurrent use and must not
// read the request body.
type Authenticator interface {
	Authenticate(r *http.Request) (Principal, error)
}

// AuthenticatorFunc adapts an ordinary function to the [Authenticator]
// interface.
type AuthenticatorFunc func(r *http.Request) (Principal, error)

// Authenticate calls f(r).
func (f AuthenticatorFunc) Authenticate(r *http.Request) (Principal, error) { return f(r) }

// Chain returns an Authenticator that tries each authenticator in order and
// returns the first success. Nil entries are skipped. If every authenticator
// reports ErrUnauthenticated, the returned error wraps ErrUnauthenticated and
// joins each one's detail. An error that does not wrap ErrUnauthenticated
// stops the chain and is returned as is. A chain with no authenticators
// refuses every request.
//
// Principals are owners by ID alone, so a chain of [APIKeys] and a [JWT]
// refuses, as unauthenticated, a token whose principal is the name of one
// of those keys: it would act as the key's holder. (A JWTConfig's Reserved
// does the same for a JWT used outside a chain, and for other names.)
func Chain(auths ...Authenticator) Authenticator {
	c := chain{list: make([]Authenticator, 0, len(auths))}
	for _, a := range auths {
		if a == nil {
			continue
		}
		c.list = append(c.list, a)
		if ak, ok := a.(*APIKeys); ok && ak != nil {
			for _, e := range ak.entries {
				if c.keyNames == nil {
					c.keyNames = make(map[string]bool)
				}
				c.keyNames[e.name] = true
			}
		}
	}
	return c
}

type chain struct {
	list []Authenticator
	// keyNames are the names of the chain's API keys, which no JWT of
	// the chain may name.
	keyNames map[string]bool
}

var _ Authenticator = chain{}

func (c chain) Authenticate(r *http.Request) (Principal, error) {
	if len(c.list) == 0 {
		return Principal{}, unauthenticated("no authenticator configured")
	}
	var errs []error
	for _, a := range c.list {
		p, err := a.Authenticate(r)
		if err == nil {
			if _, isJWT := a.(*JWT); !isJWT || !c.keyNames[p.ID] {
				return p, nil
			}
			err = unauthenticated("jwt: the principal claim names an API key of the same server")
		}
		if !errors.Is(err, ErrUnauthenticated) {
			return Principal{}, err
		}
		errs = append(errs, err)
	}
	if len(errs) == 1 {
		return Principal{}, errs[0]
	}
	return Principal{}, errors.Join(errs...)
}

// maxTokenLen bounds the length of a bearer credential; longer values are
// refused before any parsing or hashing.
const maxTokenLen = 8 << 10

// BearerToken extracts the credential from an Authorization header value of
// the form "Bearer TOKEN". The scheme is matched case-insensitively; spaces
// and tabs around and between the parts are allowed. The token must be
// 1 to 8192 bytes of printable ASCII without spaces, and nothing may follow
// it. ok is false otherwise.
func BearerToken(header string) (token string, ok bool) {
	h := strings.Trim(header, " \t")
	const scheme = "bearer"
	if len(h) <= len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) {
		return "", false
	}
	rest := h[len(scheme):]
	if rest[0] != ' ' && rest[0] != '\t' {
		return "", false
	}
	token = strings.TrimLeft(rest, " \t")
	if token == "" || len(token) > maxTokenLen {
		return "", false
	}
	for i := 0; i < len(token); i++ {
		if c := token[i]; c <= ' ' || c >= 0x7f {
			return "", false
		}
	}
	return token, true
}

// requestBearer returns the bearer token of r, or an error wrapping
// ErrUnauthenticated that names what was wrong (never the token itself).
func requestBearer(r *http.Request) (string, error) {
	vals := r.Header.Values("Authorization")
	switch len(vals) {
	case 0:
		return "", unauthenticated("no Authorization header")
	case 1:
	default:
		return "", unauthenticated("several Authorization headers")
	}
	tok, ok := BearerToken(vals[0])
	if !ok {
		return "", unauthenticated("malformed bearer Authorization header")
	}
	return tok, nil
}

// unauthenticated returns an error wrapping ErrUnauthenticated with detail
// for the log. Callers must never pass the credential itself.
func unauthenticated(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrUnauthenticated}, args...)...)
}

type principalKey struct{}

// NewContextWithPrincipal returns a copy of ctx carrying p.
func NewContextWithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFromContext returns the principal stored by
// [NewContextWithPrincipal]; ok is false if there is none.
func PrincipalFromContext(ctx context.Context) (p Principal, ok bool) {
	p, ok = ctx.Value(principalKey{}).(Principal)
	return p, ok
}
