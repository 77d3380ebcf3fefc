package auth_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/helix-agents/helix-go/server/auth"
)

func newRequest(authz ...string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/status?sessionId=s1", nil)
	for _, h := range authz {
		r.Header.Add("Authorization", h)
	}
	return r
}

func TestBearerToken(t *testing.T) {
	tests := []struct {
		header string
		want   string
		ok     bool
	}{
		{"Bearer abc", "abc", true},
		{"bearer abc", "abc", true},
		{"BEARER abc", "abc", true},
		{"bEaReR abc", "abc", true},
		{"Bearer    abc", "abc", true},
		{"Bearer\tabc", "abc", true},
		{"  Bearer abc  ", "abc", true},
		{"Bearer a.b-c_d~e+f/g=", "a.b-c_d~e+f/g=", true},
		{"", "", false},
		{"Bearer", "", false},
		{"Bearer ", "", false},
		{"Bearer    ", "", false},
		{"Bearerabc", "", false},
		{"Basic YWxhZGRpbjpvcGVuc2VzYW1l", "", false},
		{"Token abc", "", false},
		{"abc", "", false},
		{"Bearer abc def", "", false},
		{"Bearer abc\x00", "", false},
		{"Bearer ab\x7fc", "", false},
		{"Bearer abcé", "", false},
		{"Bearer " + strings.Repeat("a", 8<<10), strings.Repeat("a", 8<<10), true},
		{"Bearer " + strings.Repeat("a", 8<<10+1), "", false},
	}
	for _, tt := range tests {
		got, ok := auth.BearerToken(tt.header)
		if got != tt.want || ok != tt.ok {
			t.Errorf("BearerToken(%.40q) = %.20q, %v, want %.20q, %v", tt.header, got, ok, tt.want, tt.ok)
		}
	}
}

func TestChain(t *testing.T) {
	fail := auth.AuthenticatorFunc(func(*http.Request) (auth.Principal, error) {
		return auth.Principal{}, errors.Join(auth.ErrUnauthenticated, errors.New("fail"))
	})
	okA := auth.AuthenticatorFunc(func(*http.Request) (auth.Principal, error) {
		return auth.Principal{ID: "a", Method: "test"}, nil
	})
	boom := errors.New("backend down")
	broken := auth.AuthenticatorFunc(func(*http.Request) (auth.Principal, error) {
		return auth.Principal{}, boom
	})
	tests := []struct {
		name    string
		chain   auth.Authenticator
		want    auth.Principal
		wantErr error
	}{
		{"first succeeds", auth.Chain(okA, fail), auth.Principal{ID: "a", Method: "test"}, nil},
		{"second succeeds", auth.Chain(fail, okA), auth.Principal{ID: "a", Method: "test"}, nil},
		{"nil skipped", auth.Chain(nil, okA), auth.Principal{ID: "a", Method: "test"}, nil},
		{"all fail", auth.Chain(fail, fail), auth.Principal{}, auth.ErrUnauthenticated},
		{"empty", auth.Chain(), auth.Principal{}, auth.ErrUnauthenticated},
		{"only nil", auth.Chain(nil), auth.Principal{}, auth.ErrUnauthenticated},
		{"internal error stops", auth.Chain(broken, okA), auth.Principal{}, boom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.chain.Authenticate(newRequest())
			if got != tt.want || !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Errorf("Authenticate() = %v, %v, want %v, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestChainAPIKeysThenJWT(t *testing.T) {
	keys := mustAPIKeys(t, "alice="+aliceKey)
	j := mustJWT(t, auth.JWTConfig{Secret: hsSecret, Now: fixedNow})
	a := auth.Chain(keys, j)
	tok := signHS(t, hsSecret, validClaims())

	for _, tt := range []struct {
		name, header string
		want         auth.Principal
	}{
		{"api key", "Bearer " + aliceKey, auth.Principal{ID: "alice", Method: auth.MethodAPIKey}},
		{"jwt", "Bearer " + tok, auth.Principal{ID: "user-1", Method: auth.MethodJWT}},
	} {
		got, err := a.Authenticate(newRequest(tt.header))
		if err != nil || got != tt.want {
			t.Errorf("%s: Authenticate() = %v, %v, want %v, nil", tt.name, got, err, tt.want)
		}
	}
	const bad = "Bearer not-a-valid-credential-canary"
	_, err := a.Authenticate(newRequest(bad))
	if !errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatalf("Authenticate(bad) error = %v, want ErrUnauthenticated", err)
	}
	if strings.Contains(err.Error(), "canary") {
		t.Errorf("error text %q leaks the token", err)
	}
}

// TestChainRefusesJWTNamingAKey: in a chain with API keys, a JWT whose
// principal is a key's name is refused (it would own that key's sessions),
// in either order, while other tokens and the key itself still work.
func TestChainRefusesJWTNamingAKey(t *testing.T) {
	keys := mustAPIKeys(t, "alice="+aliceKey)
	j := mustJWT(t, auth.JWTConfig{Secret: hsSecret, Now: fixedNow})
	asAlice := signHS(t, hsSecret, with(validClaims(), "sub", "alice"))
	asBob := signHS(t, hsSecret, with(validClaims(), "sub", "bob"))
	for name, a := range map[string]auth.Authenticator{"keys first": auth.Chain(keys, j), "jwt first": auth.Chain(j, keys)} {
		if got, err := a.Authenticate(newRequest("Bearer " + asAlice)); !errors.Is(err, auth.ErrUnauthenticated) {
			t.Errorf("%s: a JWT naming the key alice: Authenticate() = %v, %v, want ErrUnauthenticated", name, got, err)
		}
		if got, err := a.Authenticate(newRequest("Bearer " + asBob)); err != nil || got != (auth.Principal{ID: "bob", Method: auth.MethodJWT}) {
			t.Errorf("%s: a JWT naming bob: Authenticate() = %v, %v, want bob by jwt", name, got, err)
		}
		if got, err := a.Authenticate(newRequest("Bearer " + aliceKey)); err != nil || got != (auth.Principal{ID: "alice", Method: auth.MethodAPIKey}) {
			t.Errorf("%s: alice's key: Authenticate() = %v, %v, want alice by api key", name, got, err)
		}
	}
	// Alone, the JWT authenticator knows no keys.
	if got, err := j.Authenticate(newRequest("Bearer " + asAlice)); err != nil || got.ID != "alice" {
		t.Errorf("JWT alone: Authenticate() = %v, %v, want alice", got, err)
	}
}

func TestPrincipalContext(t *testing.T) {
	ctx := t.Context()
	if _, ok := auth.PrincipalFromContext(ctx); ok {
		t.Fatal("PrincipalFromContext(empty) ok = true")
	}
	p := auth.Principal{ID: "alice", Method: auth.MethodAPIKey}
	got, ok := auth.PrincipalFromContext(auth.NewContextWithPrincipal(ctx, p))
	if !ok || got != p {
		t.Errorf("PrincipalFromContext() = %v, %v, want %v, true", got, ok, p)
	}
}
