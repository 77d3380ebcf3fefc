package auth_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/helix-agents/helix-go/server/auth"
)

const (
	aliceKey = "alice-key-0123456789"
	bobKey   = "bob-key-abcdefghijkl"
)

func mustAPIKeys(t *testing.T, specs ...string) *auth.APIKeys {
	t.Helper()
	k, err := auth.ParseAPIKeys(specs...)
	if err != nil {
		t.Fatalf("ParseAPIKeys(%q) error = %v", specs, err)
	}
	return k
}

func TestParseAPIKeys(t *testing.T) {
	tests := []struct {
		name    string
		specs   []string
		want    []string // names
		wantErr string   // substring
	}{
		{"env form", []string{"alice=" + aliceKey + ",bob=" + bobKey}, []string{"alice", "bob"}, ""},
		{"flag form", []string{"alice=" + aliceKey, "bob=" + bobKey}, []string{"alice", "bob"}, ""},
		{"spaces and trailing comma", []string{" alice = " + aliceKey + " , "}, []string{"alice"}, ""},
		{"key with =", []string{"alice=" + aliceKey + "=="}, []string{"alice"}, ""},
		{"empty", []string{""}, nil, "no api keys"},
		{"none", nil, nil, "no api keys"},
		{"no equals", []string{"alice"}, nil, "want NAME=KEY"},
		{"empty name", []string{"=" + aliceKey}, nil, "empty name"},
		{"empty key", []string{"alice="}, nil, "empty key"},
		{"short key", []string{"alice=tiny1"}, nil, "shorter than 16"},
		{"long key", []string{"alice=" + strings.Repeat("k", 513)}, nil, "longer than 512"},
		{"bad name", []string{"al ice=" + aliceKey}, nil, "only letters"},
		{"key with space", []string{"alice=" + aliceKey + " x"}, nil, "printable ASCII"},
		{"duplicate name", []string{"alice=" + aliceKey, "alice=" + bobKey}, nil, `name "alice" given twice`},
		{"duplicate key", []string{"alice=" + aliceKey + ",bob=" + aliceKey}, nil, `"alice" and "bob" are the same key`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := auth.ParseAPIKeys(tt.specs...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseAPIKeys(%q) error = %v, want containing %q", tt.specs, err, tt.wantErr)
				}
				for _, key := range []string{aliceKey, bobKey, "tiny1"} {
					if strings.Contains(err.Error(), key) {
						t.Errorf("error %q leaks a key", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseAPIKeys(%q) error = %v", tt.specs, err)
			}
			if got := k.Names(); !slices.Equal(got, tt.want) {
				t.Errorf("Names() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNewAPIKeys(t *testing.T) {
	k, err := auth.NewAPIKeys(map[string]string{"bob": bobKey, "alice": aliceKey})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := k.Names(), []string{"alice", "bob"}; !slices.Equal(got, want) {
		t.Errorf("Names() = %q, want %q", got, want)
	}
	if _, err := auth.NewAPIKeys(nil); err == nil {
		t.Error("NewAPIKeys(nil) error = nil, want error")
	}
}

func TestAPIKeysAuthenticate(t *testing.T) {
	k := mustAPIKeys(t, "alice="+aliceKey+",bob="+bobKey)
	tests := []struct {
		name    string
		headers []string
		want    string // principal ID; "" means refused
	}{
		{"alice", []string{"Bearer " + aliceKey}, "alice"},
		{"bob (last key)", []string{"Bearer " + bobKey}, "bob"},
		{"lowercase scheme", []string{"bearer " + aliceKey}, "alice"},
		{"uppercase scheme", []string{"BEARER " + aliceKey}, "alice"},
		{"extra spaces", []string{"Bearer    " + aliceKey + "  "}, "alice"},
		{"missing", nil, ""},
		{"empty header", []string{""}, ""},
		{"scheme only", []string{"Bearer"}, ""},
		{"basic scheme", []string{"Basic " + aliceKey}, ""},
		{"no scheme", []string{aliceKey}, ""},
		{"wrong key", []string{"Bearer wrong-key-0123456789"}, ""},
		{"prefix of key", []string{"Bearer " + aliceKey[:len(aliceKey)-1]}, ""},
		{"key plus suffix", []string{"Bearer " + aliceKey + "x"}, ""},
		{"name as key", []string{"Bearer alice"}, ""},
		{"two tokens", []string{"Bearer " + aliceKey + " " + bobKey}, ""},
		{"two headers", []string{"Bearer " + aliceKey, "Bearer " + aliceKey}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := k.Authenticate(newRequest(tt.headers...))
			if tt.want == "" {
				if !errors.Is(err, auth.ErrUnauthenticated) {
					t.Fatalf("Authenticate() = %v, %v, want ErrUnauthenticated", p, err)
				}
				if strings.Contains(err.Error(), "key-") {
					t.Errorf("error %q leaks the presented key", err)
				}
				return
			}
			want := auth.Principal{ID: tt.want, Method: auth.MethodAPIKey}
			if err != nil || p != want {
				t.Errorf("Authenticate() = %v, %v, want %v, nil", p, err, want)
			}
		})
	}
}

func TestAPIKeysZeroValue(t *testing.T) {
	for _, k := range []*auth.APIKeys{nil, {}} {
		if _, err := k.Authenticate(newRequest("Bearer " + aliceKey)); !errors.Is(err, auth.ErrUnauthenticated) {
			t.Errorf("(%v).Authenticate() error = %v, want ErrUnauthenticated", k, err)
		}
	}
}
