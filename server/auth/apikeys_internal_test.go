package auth

import (
	"crypto/subtle"
	"net/http/httptest"
	"testing"
)

// TestAPIKeysComparesEveryKey checks the constant-time path: every
// configured digest is compared, whether the match is first, last or absent.
func TestAPIKeysComparesEveryKey(t *testing.T) {
	k, err := ParseAPIKeys("a=key-a-0123456789ab,b=key-b-0123456789ab,c=key-c-0123456789ab")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ key, want string }{
		{"key-a-0123456789ab", "a"},
		{"key-c-0123456789ab", "c"},
		{"key-x-0123456789ab", ""},
	} {
		calls := 0
		k.eq = func(x, y []byte) int {
			calls++
			if len(x) != 32 || len(y) != 32 {
				t.Errorf("compared %d and %d bytes, want SHA-256 digests", len(x), len(y))
			}
			return subtle.ConstantTimeCompare(x, y)
		}
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", "Bearer "+tt.key)
		p, _ := k.Authenticate(r)
		if p.ID != tt.want || calls != 3 {
			t.Errorf("Authenticate(%s) = %q after %d compares, want %q after 3", tt.key, p.ID, calls, tt.want)
		}
	}
}
