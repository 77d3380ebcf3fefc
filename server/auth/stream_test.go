package auth_test

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/helix-agents/helix-go/server/auth"
)

var streamSecret = []byte("stream-secret-0123456789abcdefghij")

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func mustStreamTokens(t *testing.T, secret []byte, now func() time.Time) *auth.StreamTokens {
	t.Helper()
	st, err := auth.NewStreamTokens(auth.StreamTokensConfig{Secret: secret, Now: now})
	if err != nil {
		t.Fatalf("NewStreamTokens() error = %v", err)
	}
	return st
}

func mustIssue(t *testing.T, st *auth.StreamTokens, principal, sid string, ttl time.Duration) string {
	t.Helper()
	tok, err := st.Issue(principal, sid, ttl)
	if err != nil {
		t.Fatalf("Issue(%q, %q, %v) error = %v", principal, sid, ttl, err)
	}
	return tok
}

func TestStreamTokensVerify(t *testing.T) {
	clk := &clock{t: testNow}
	st := mustStreamTokens(t, streamSecret, clk.now)
	other := mustStreamTokens(t, []byte("other-secret-0123456789abcdefghijk"), clk.now)
	random := mustStreamTokens(t, nil, clk.now)

	tok := mustIssue(t, st, "alice", "s1", 0)
	long := mustIssue(t, st, "alice", "s1", time.Hour)
	foreign := mustIssue(t, other, "alice", "s1", 0)
	fromRandom := mustIssue(t, random, "alice", "s1", 0)

	// A token whose payload is edited to another subject, signature kept.
	parts := strings.Split(tok, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	forged := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(payload), "alice", "mallo", 1))) + "." + parts[2]

	tests := []struct {
		name    string
		st      *auth.StreamTokens
		token   string
		sid     string
		advance time.Duration
		reason  string // "" means valid
	}{
		{"valid", st, tok, "s1", 0, ""},
		{"valid just before expiry", st, tok, "s1", 5*time.Minute - time.Second, ""},
		{"valid 1h token", st, long, "s1", 59 * time.Minute, ""},
		{"random secret valid", random, fromRandom, "s1", 0, ""},
		{"expired at ttl", st, tok, "s1", 5 * time.Minute, "expired"},
		{"expired later", st, tok, "s1", time.Hour, "expired"},
		{"wrong session", st, tok, "s2", 0, "another session"},
		{"empty session", st, tok, "", 0, "empty session"},
		{"other secret", st, foreign, "s1", 0, "invalid signature"},
		{"random secret differs", st, fromRandom, "s1", 0, "invalid signature"},
		{"tampered payload", st, forged, "s1", 0, "invalid signature"},
		{"tampered signature", st, tok[:len(tok)-2] + "AA", "s1", 0, "invalid signature"},
		{"truncated", st, tok[:len(tok)/2], "s1", 0, "malformed"},
		{"empty", st, "", "s1", 0, "malformed"},
		{"prefix only", st, "hst1.", "s1", 0, "malformed"},
		{"no dot after prefix", st, "hst1", "s1", 0, "malformed"},
		{"jwt shaped", st, "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0.", "s1", 0, "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk.t = testNow.Add(tt.advance)
			defer func() { clk.t = testNow }()
			p, err := tt.st.Verify(tt.token, tt.sid)
			if tt.reason == "" {
				want := auth.Principal{ID: "alice", Method: auth.MethodStreamToken}
				if err != nil || p != want {
					t.Fatalf("Verify() = %v, %v, want %v, nil", p, err, want)
				}
				return
			}
			if !errors.Is(err, auth.ErrUnauthenticated) || !strings.Contains(err.Error(), tt.reason) {
				t.Fatalf("Verify() = %v, %v, want ErrUnauthenticated mentioning %q", p, err, tt.reason)
			}
			if len(tt.token) > 8 && strings.Contains(err.Error(), tt.token) {
				t.Errorf("error %q leaks the token", err)
			}
		})
	}
}

func TestStreamTokensIssue(t *testing.T) {
	st := mustStreamTokens(t, streamSecret, fixedNow)
	tests := []struct {
		name, principal, sid string
		ttl                  time.Duration
		wantErr              string
	}{
		{"default ttl", "alice", "s1", 0, ""},
		{"max ttl", "alice", "s1", time.Hour, ""},
		{"over max", "alice", "s1", time.Hour + time.Second, "above the maximum"},
		{"negative", "alice", "s1", -time.Second, "negative ttl"},
		{"empty principal", "", "s1", 0, "empty principal"},
		{"empty session", "alice", "", 0, "empty session"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := st.Issue(tt.principal, tt.sid, tt.ttl)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Issue() = %q, %v, want error containing %q", tok, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Issue() error = %v", err)
			}
			if url.QueryEscape(tok) != tok {
				t.Errorf("Issue() = %q, not URL-safe", tok)
			}
		})
	}
	if _, err := auth.NewStreamTokens(auth.StreamTokensConfig{Secret: []byte("short")}); err == nil {
		t.Error("NewStreamTokens(short secret) error = nil, want error")
	}
}

func TestStreamTokensFromQuery(t *testing.T) {
	st := mustStreamTokens(t, streamSecret, fixedNow)
	tok := mustIssue(t, st, "alice", "s1", 0)
	qa := st.QueryAuthenticator(func(r *http.Request) string { return r.URL.Query().Get("sessionId") })
	tests := []struct {
		name, query string
		ok          bool
	}{
		{"valid", "sessionId=s1&token=" + url.QueryEscape(tok), true},
		{"other session", "sessionId=s2&token=" + url.QueryEscape(tok), false},
		{"no session", "token=" + url.QueryEscape(tok), false},
		{"missing token", "sessionId=s1", false},
		{"empty token", "sessionId=s1&token=", false},
		{"two tokens", "sessionId=s1&token=" + url.QueryEscape(tok) + "&token=" + url.QueryEscape(tok), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/sse?"+tt.query, nil)
			p, err := qa.Authenticate(r)
			if tt.ok {
				if err != nil || p.ID != "alice" {
					t.Fatalf("Authenticate() = %v, %v, want alice", p, err)
				}
				return
			}
			if !errors.Is(err, auth.ErrUnauthenticated) {
				t.Fatalf("Authenticate() = %v, %v, want ErrUnauthenticated", p, err)
			}
		})
	}
}

// TestStreamTokenNotABearer checks that a stream token is not accepted by
// the header authenticators, even with the same secret as the JWT one.
func TestStreamTokenNotABearer(t *testing.T) {
	st := mustStreamTokens(t, hsSecret, fixedNow)
	tok := mustIssue(t, st, "alice", "s1", 0)
	a := auth.Chain(mustAPIKeys(t, "alice="+aliceKey), mustJWT(t, auth.JWTConfig{Secret: hsSecret, Now: fixedNow}))
	if _, err := a.Authenticate(newRequest("Bearer " + tok)); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("Authenticate(stream token as bearer) error = %v, want ErrUnauthenticated", err)
	}
}
