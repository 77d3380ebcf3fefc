package auth_test

import (
	"strings"
	"testing"

	"github.com/helix-agents/helix-go/server/auth"
)

func FuzzBearer(f *testing.F) {
	if testing.Short() {
		f.Skip("fuzz target skipped under -short")
	}
	for _, s := range []string{"Bearer abc", "bearer  x.y.z", "Basic Zm9v", "", "Bearer", "Bearer a b"} {
		f.Add(s)
	}
	k, err := auth.ParseAPIKeys("alice=" + aliceKey)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, header string) {
		tok, ok := auth.BearerToken(header)
		if !ok {
			if tok != "" {
				t.Fatalf("BearerToken(%q) = %q, false; want empty token when !ok", header, tok)
			}
			return
		}
		if tok == "" || strings.ContainsAny(tok, " \t\r\n") {
			t.Fatalf("BearerToken(%q) = %q, true; want non-empty token without spaces", header, tok)
		}
		if again, ok := auth.BearerToken("Bearer " + tok); !ok || again != tok {
			t.Fatalf("BearerToken(Bearer %q) = %q, %v; not a round trip", tok, again, ok)
		}
		// Authenticating must never panic either.
		r := newRequest(header)
		p, err := k.Authenticate(r)
		if (err == nil) != (tok == aliceKey) || (err == nil && p.ID != "alice") {
			t.Fatalf("Authenticate(%q) = %v, %v", header, p, err)
		}
	})
}
