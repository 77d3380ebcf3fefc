package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// Limits on API key names and keys, enforced by [ParseAPIKeys] and
// [NewAPIKeys].
const (
	// MinAPIKeyLen is the minimum length of an API key in bytes. Shorter
	// keys are refused: they are guessable and usually a configuration
	// mistake (e.g. a placeholder).
	MinAPIKeyLen = 16
	// MaxAPIKeyLen is the maximum length of an API key in bytes.
	MaxAPIKeyLen = 512
	// MaxAPIKeyNameLen is the maximum length of an API key name in bytes.
	MaxAPIKeyNameLen = 128
)

// APIKeys authenticates requests carrying "Authorization: Bearer KEY" where
// KEY is one of a fixed set of named keys; the key's NAME is the principal.
//
// Only SHA-256 digests of the keys are kept. The presented token is hashed
// and compared with crypto/subtle against every configured digest, without
// early exit, so neither the position of the matching key nor the length or
// common prefix of a wrong key shows in the timing.
//
// An APIKeys is immutable and safe for concurrent use. The zero value
// refuses every request.
type APIKeys struct {
	entries []apiKey
	// eq compares two digests; it is subtle.ConstantTimeCompare except in
	// white-box tests that count comparisons.
	eq func(x, y []byte) int
}

type apiKey struct {
	name   string
	digest [sha256.Size]byte
}

var _ Authenticator = (*APIKeys)(nil)

// ParseAPIKeys parses API keys from one or more specs. Each spec is a
// comma-separated list of NAME=KEY pairs, so both the HELIX_API_KEYS form
// ("alice=key1,bob=key2") and the values of repeated --api-key NAME=KEY
// flags can be passed, together if need be. Whitespace around pairs, names
// and keys is ignored, as are empty entries (e.g. a trailing comma).
//
// The key is everything after the first '='. Names are 1 to 128 characters
// from [A-Za-z0-9._@:-]; keys are 16 to 512 bytes of printable ASCII without
// spaces or commas. Duplicate names and duplicate keys (under different
// names) are refused, as is an input with no pair at all. Error messages
// name the offending NAME, never a key.
func ParseAPIKeys(specs ...string) (*APIKeys, error) {
	var pairs [][2]string
	for _, spec := range specs {
		for entry := range strings.SplitSeq(spec, ",") {
			entry = strings.TrimSpace(entry)
			if entry == "" {
				continue
			}
			name, key, ok := strings.Cut(entry, "=")
			if !ok {
				return nil, fmt.Errorf("auth: api key entry %d: want NAME=KEY", len(pairs)+1)
			}
			pairs = append(pairs, [2]string{strings.TrimSpace(name), strings.TrimSpace(key)})
		}
	}
	return newAPIKeys(pairs)
}

// NewAPIKeys returns an APIKeys for the given NAME → KEY map, validated as
// by [ParseAPIKeys]. The map is not retained.
func NewAPIKeys(keys map[string]string) (*APIKeys, error) {
	pairs := make([][2]string, 0, len(keys))
	for name, key := range keys {
		pairs = append(pairs, [2]string{name, key})
	}
	slices.SortFunc(pairs, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
	return newAPIKeys(pairs)
}

func newAPIKeys(pairs [][2]string) (*APIKeys, error) {
	if len(pairs) == 0 {
		return nil, errors.New("auth: no api keys given (want NAME=KEY)")
	}
	ak := &APIKeys{entries: make([]apiKey, 0, len(pairs)), eq: subtle.ConstantTimeCompare}
	names := make(map[string]bool, len(pairs))
	digests := make(map[[sha256.Size]byte]string, len(pairs))
	for i, p := range pairs {
		name, key := p[0], p[1]
		if err := validName(name); err != nil {
			return nil, fmt.Errorf("auth: api key entry %d: %w", i+1, err)
		}
		if names[name] {
			return nil, fmt.Errorf("auth: api key name %q given twice", name)
		}
		names[name] = true
		if err := validKey(key); err != nil {
			return nil, fmt.Errorf("auth: api key %q: %w", name, err)
		}
		d := sha256.Sum256([]byte(key))
		if other, dup := digests[d]; dup {
			return nil, fmt.Errorf("auth: api keys %q and %q are the same key", other, name)
		}
		digests[d] = name
		ak.entries = append(ak.entries, apiKey{name: name, digest: d})
	}
	return ak, nil
}

func validName(name string) error {
	if name == "" {
		return errors.New("empty name")
	}
	if len(name) > MaxAPIKeyNameLen {
		return fmt.Errorf("name longer than %d characters", MaxAPIKeyNameLen)
	}
	for _, c := range []byte(name) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("._@:-", c) >= 0:
		default:
			return fmt.Errorf("name %q: only letters, digits and ._@:- are allowed", name)
		}
	}
	return nil
}

func validKey(key string) error {
	if key == "" {
		return errors.New("empty key")
	}
	if len(key) < MinAPIKeyLen {
		return fmt.Errorf("key shorter than %d characters", MinAPIKeyLen)
	}
	if len(key) > MaxAPIKeyLen {
		return fmt.Errorf("key longer than %d characters", MaxAPIKeyLen)
	}
	for _, c := range []byte(key) {
		if c <= ' ' || c >= 0x7f || c == ',' {
			return errors.New("key must be printable ASCII without spaces or commas")
		}
	}
	return nil
}

// Names returns the configured key names in configuration order. The
// caller owns the returned slice.
func (ak *APIKeys) Names() []string {
	if ak == nil {
		return nil
	}
	names := make([]string, len(ak.entries))
	for i, e := range ak.entries {
		names[i] = e.name
	}
	return names
}

// Authenticate returns the principal named by the key in r's bearer
// Authorization header, with Method [MethodAPIKey]. It returns an error
// wrapping [ErrUnauthenticated] if the header is missing or malformed or the
// key matches none.
func (ak *APIKeys) Authenticate(r *http.Request) (Principal, error) {
	tok, err := requestBearer(r)
	if err != nil {
		return Principal{}, err
	}
	if ak == nil || len(ak.entries) == 0 {
		return Principal{}, unauthenticated("api key: no keys configured")
	}
	d := sha256.Sum256([]byte(tok))
	eq := ak.eq
	if eq == nil {
		eq = subtle.ConstantTimeCompare
	}
	match := -1
	for i := range ak.entries {
		match = subtle.ConstantTimeSelect(eq(d[:], ak.entries[i].digest[:]), i, match)
	}
	if match < 0 {
		return Principal{}, unauthenticated("api key: no matching key")
	}
	return Principal{ID: ak.entries[match].name, Method: MethodAPIKey}, nil
}
