package auth

import (
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Key-size limits enforced by [NewJWT].
const (
	// MinJWTSecretLen is the minimum HS256 secret length in bytes (256 bits,
	// the size of the HMAC-SHA256 output, as RFC 7518 §3.2 requires).
	MinJWTSecretLen = 32
	// MinRSAKeyBits is the minimum RSA modulus size accepted for RS256.
	MinRSAKeyBits = 2048
)

// JWTConfig configures a [JWT] authenticator. Exactly one of Secret and
// PublicKeyPEM must be set; it decides the only accepted algorithm.
type JWTConfig struct {
	// Secret is the HS256 shared secret, at least 32 bytes. Setting it
	// pins the algorithm to HS256.
	Secret []byte
	// PublicKeyPEM is a PEM-encoded public key: an RSA key ("PUBLIC KEY" or
	// "RSA PUBLIC KEY", at least 2048 bits) pins the algorithm to RS256, an
	// Ed25519 key ("PUBLIC KEY") pins it to EdDSA. A "CERTIFICATE" block is
	// accepted too and its public key used. Private keys are refused.
	PublicKeyPEM []byte
	// Audience, if non-empty, must appear in the token's aud claim.
	Audience string
	// Issuer, if non-empty, must equal the token's iss claim.
	Issuer string
	// Leeway is the clock skew tolerated for exp, nbf and iat. Zero means
	// none; negative values are refused.
	Leeway time.Duration
	// PrincipalClaim names the string claim used as [Principal.ID]. The
	// default is "sub". Tokens without it, or with an empty or non-string
	// value, are refused.
	PrincipalClaim string
	// Reserved lists principals a token may not name: those another
	// authenticator of the same server issues (its API keys' names) or
	// that own sessions of the same store by other means, so that a token
	// whose subject happens to equal one does not act as that principal.
	// Such tokens are refused as unauthenticated. (It cannot protect the
	// other way: a key added later under a name tokens used before owns
	// their sessions.) A [Chain] refuses tokens naming its own API keys
	// whether or not they are listed here.
	Reserved []string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// JWT authenticates requests carrying "Authorization: Bearer TOKEN" where
// TOKEN is a JSON Web Token signed with the configured key.
//
// The accepted algorithm is pinned to the key type (HS256, RS256 or EdDSA),
// so "alg": "none" and algorithm-confusion tokens (e.g. HS256 signed with an
// RSA public key) are refused. exp is required; nbf and iat, when present,
// must not be in the future (within Leeway); aud and iss are checked when
// configured.
//
// A JWT is immutable and safe for concurrent use.
type JWT struct {
	parser   *jwt.Parser
	key      any
	alg      string
	claim    string
	reserved map[string]bool
}

var _ Authenticator = (*JWT)(nil)

// NewJWT validates cfg and returns a JWT authenticator. The error names the
// offending field.
func NewJWT(cfg JWTConfig) (*JWT, error) {
	j := &JWT{claim: cfg.PrincipalClaim}
	if len(cfg.Reserved) > 0 {
		j.reserved = make(map[string]bool, len(cfg.Reserved))
		for _, id := range cfg.Reserved {
			j.reserved[id] = true
		}
	}
	if j.claim == "" {
		j.claim = "sub"
	}
	switch {
	case len(cfg.Secret) > 0 && len(cfg.PublicKeyPEM) > 0:
		return nil, errors.New("auth: JWTConfig: set only one of Secret and PublicKeyPEM")
	case len(cfg.Secret) > 0:
		if len(cfg.Secret) < MinJWTSecretLen {
			return nil, fmt.Errorf("auth: JWTConfig.Secret: shorter than %d bytes", MinJWTSecretLen)
		}
		j.key, j.alg = append([]byte(nil), cfg.Secret...), jwt.SigningMethodHS256.Alg()
	case len(cfg.PublicKeyPEM) > 0:
		key, err := parsePublicKeyPEM(cfg.PublicKeyPEM)
		if err != nil {
			return nil, fmt.Errorf("auth: JWTConfig.PublicKeyPEM: %w", err)
		}
		switch k := key.(type) {
		case *rsa.PublicKey:
			if k.N.BitLen() < MinRSAKeyBits {
				return nil, fmt.Errorf("auth: JWTConfig.PublicKeyPEM: RSA key shorter than %d bits", MinRSAKeyBits)
			}
			j.key, j.alg = k, jwt.SigningMethodRS256.Alg()
		case ed25519.PublicKey:
			j.key, j.alg = k, jwt.SigningMethodEdDSA.Alg()
		default:
			return nil, fmt.Errorf("auth: JWTConfig.PublicKeyPEM: unsupported key type %T (want RSA or Ed25519)", key)
		}
	default:
		return nil, errors.New("auth: JWTConfig: one of Secret and PublicKeyPEM is required")
	}
	if cfg.Leeway < 0 {
		return nil, errors.New("auth: JWTConfig.Leeway: negative")
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{j.alg}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithStrictDecoding(),
	}
	if cfg.Now != nil {
		opts = append(opts, jwt.WithTimeFunc(cfg.Now))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	j.parser = jwt.NewParser(opts...)
	return j, nil
}

func parsePublicKeyPEM(data []byte) (any, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	switch block.Type {
	case "PUBLIC KEY":
		return x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		return x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		return cert.PublicKey, nil
	default:
		// Never echo the block: it might be a private key.
		return nil, fmt.Errorf("PEM block of type %q is not a public key", block.Type)
	}
}

// Algorithm returns the only JWT "alg" value this authenticator accepts:
// "HS256", "RS256" or "EdDSA".
func (j *JWT) Algorithm() string { return j.alg }

// Authenticate verifies the bearer JWT of r and returns the principal named
// by the configured principal claim, with Method [MethodJWT]. Every failure
// (missing or malformed header, bad signature, wrong algorithm, expired, not
// yet valid, wrong audience or issuer, missing principal claim) returns an
// error wrapping [ErrUnauthenticated] whose text names the failed check only.
func (j *JWT) Authenticate(r *http.Request) (Principal, error) {
	tok, err := requestBearer(r)
	if err != nil {
		return Principal{}, err
	}
	id, err := j.verify(tok)
	if err != nil {
		return Principal{}, err
	}
	return Principal{ID: id, Method: MethodJWT}, nil
}

func (j *JWT) verify(tok string) (string, error) {
	claims := jwt.MapClaims{}
	_, err := j.parser.ParseWithClaims(tok, claims, func(t *jwt.Token) (any, error) {
		// Defence in depth: WithValidMethods already pinned the alg.
		if t.Method.Alg() != j.alg {
			return nil, jwt.ErrTokenSignatureInvalid
		}
		return j.key, nil
	})
	if err != nil {
		return "", unauthenticated("jwt: %s", jwtReason(err))
	}
	v, ok := claims[j.claim]
	if !ok {
		return "", unauthenticated("jwt: principal claim %q missing", j.claim)
	}
	id, ok := v.(string)
	if !ok || id == "" {
		return "", unauthenticated("jwt: principal claim %q is not a non-empty string", j.claim)
	}
	if j.reserved[id] {
		return "", unauthenticated("jwt: principal claim %q names a principal reserved for API keys", j.claim)
	}
	return id, nil
}

// jwtReason maps a jwt library error to a fixed description, so that no
// part of the token (which library errors may quote) reaches the log.
func jwtReason(err error) string {
	reasons := []struct {
		err    error
		reason string
	}{
		{jwt.ErrTokenMalformed, "malformed token"},
		{jwt.ErrTokenSignatureInvalid, "invalid signature"},
		{jwt.ErrTokenUnverifiable, "unverifiable token (algorithm not accepted)"},
		{jwt.ErrTokenRequiredClaimMissing, "required claim missing"},
		{jwt.ErrTokenExpired, "token expired"},
		{jwt.ErrTokenNotValidYet, "token not valid yet"},
		{jwt.ErrTokenUsedBeforeIssued, "token issued in the future"},
		{jwt.ErrTokenInvalidAudience, "invalid audience"},
		{jwt.ErrTokenInvalidIssuer, "invalid issuer"},
		{jwt.ErrInvalidType, "claim of invalid type"},
	}
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			return r.reason
		}
	}
	return "invalid token"
}
