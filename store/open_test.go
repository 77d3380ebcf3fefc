package store_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/helix-agents/helix-go/store"
)

func TestRedactURL(t *testing.T) {
	for _, tc := range []struct{ in, secret string }{
		{"postgres://postgres:hunter2@127.0.0.1:5432/test", "hunter2"},
		{"redis://:s3cr3t@localhost:6379/0", "s3cr3t"},
		{"postgres://u@h/db?password=pw-canary&sslmode=disable", "pw-canary"},
		{"redis://h/0?auth_token=tok-canary", "tok-canary"},
		{"postgres://u:bad%zzpass@h/db", "bad%zzpass"},
		{"redis://tok-canary@host:6379", "tok-canary"},
		{"x:?://user:pw-canary@0/db", "pw-canary"},
		{"x?://user:pw-canary@0/db", "pw-canary"},
		{"x#://user:pw-canary@0/db", "pw-canary"},
	} {
		got := store.RedactURL(tc.in)
		if strings.Contains(got, tc.secret) {
			t.Errorf("RedactURL(%q) = %q: still holds the secret", tc.in, got)
		}
	}
	if got := store.RedactURL("sqlite://./helix.db?_busy=5s"); got != "sqlite://./helix.db?_busy=5s" {
		t.Errorf("RedactURL changed a URL without credentials: %q", got)
	}
}

func TestOpenErrorsHideCredentials(t *testing.T) {
	ctx := context.Background()
	_, err := store.Open(ctx, "nosuchscheme://user:canary-pw@host/db")
	if !errors.Is(err, store.ErrUnknownScheme) {
		t.Fatalf("Open(unknown scheme): %v, want ErrUnknownScheme", err)
	}
	if strings.Contains(err.Error(), "canary-pw") {
		t.Errorf("Open error leaks the password: %v", err)
	}
	_, err = store.Open(ctx, "postgres://user:canary%zz@host/db")
	if err == nil || strings.Contains(err.Error(), "canary") {
		t.Errorf("Open(malformed URL) = %v: want an error without the password", err)
	}
}

func TestRegisterAndOpen(t *testing.T) {
	var got *url.URL
	store.Register("test-open", func(_ context.Context, u *url.URL) (store.Store, error) {
		got = u
		return nil, errors.New("refused")
	})
	_, err := store.Open(context.Background(), "TEST-OPEN://u:pw-canary@h/x")
	if err == nil || !strings.Contains(err.Error(), "refused") || strings.Contains(err.Error(), "pw-canary") {
		t.Errorf("Open error = %v, want the opener's error without the password", err)
	}
	if got == nil || got.Host != "h" {
		t.Errorf("opener got URL %v", got)
	}
	defer func() {
		if recover() == nil {
			t.Error("Register of a taken scheme did not panic")
		}
	}()
	store.Register("test-open", func(context.Context, *url.URL) (store.Store, error) { return nil, nil })
}

// FuzzRedactURL checks that a password put in a URL's user information or
// in a credential-like query parameter never survives redaction.
func FuzzRedactURL(f *testing.F) {
	f.Add("postgres", "db.example:5432", "hunter2-canary", "password")
	f.Add("redis", "localhost", "p@ss:w/rd?#", "token")
	f.Fuzz(func(t *testing.T, scheme, host, secret, param string) {
		if secret == "" {
			return
		}
		u := url.URL{Scheme: "x" + scheme, Host: host, User: url.UserPassword("user", secret), Path: "/db"}
		raw := u.String()
		userinfo := u.User.String() // "user:<escaped secret>"
		if got := store.RedactURL(raw); secret != "xxxxx" && strings.Contains(got, userinfo+"@") {
			t.Fatalf("RedactURL(%q) = %q: password survives", raw, got)
		}
		q := url.Values{param + "password": {secret}}
		raw = "postgres://h/db?" + q.Encode()
		got := store.RedactURL(raw)
		if gu, err := url.Parse(got); err != nil || (secret != "xxxxx" && gu.Query().Get(param+"password") == secret) {
			t.Fatalf("RedactURL(%q) = %q: password parameter survives (or the URL broke: %v)", raw, got, err)
		}
	})
}

func TestOpenExpandsEnvironment(t *testing.T) {
	t.Setenv("HELIX_TEST_STORE_PW", "p@ss:w/rd canary")
	var got *url.URL
	store.Register("test-env", func(_ context.Context, u *url.URL) (store.Store, error) {
		got = u
		return nil, errors.New("refused")
	})
	_, err := store.Open(context.Background(), "test-env://user:${HELIX_TEST_STORE_PW}@host/db?x=$literal")
	if got == nil {
		t.Fatalf("opener not called: %v", err)
	}
	if pw, _ := got.User.Password(); pw != "p@ss:w/rd canary" {
		t.Errorf("password from the environment = %q, want %q", pw, "p@ss:w/rd canary")
	}
	if got.Host != "host" || got.Query().Get("x") != "$literal" {
		t.Errorf("expansion changed the rest of the URL: %v", got)
	}
	if strings.Contains(err.Error(), "canary") || strings.Contains(err.Error(), "w%2Frd") {
		t.Errorf("Open error leaks the password from the environment: %v", err)
	}
}
