package auth_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/helix-agents/helix-go/server/auth"
)

var (
	hsSecret = []byte("0123456789abcdef0123456789abcdef")
	testNow  = time.Unix(1_700_000_000, 0)
)

func fixedNow() time.Time { return testNow }

var rsaKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

func pemPublic(t *testing.T, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func mustJWT(t *testing.T, cfg auth.JWTConfig) *auth.JWT {
	t.Helper()
	j, err := auth.NewJWT(cfg)
	if err != nil {
		t.Fatalf("NewJWT() error = %v", err)
	}
	return j
}

func validClaims() jwt.MapClaims {
	return jwt.MapClaims{
		"sub": "user-1",
		"iss": "https://issuer.example",
		"aud": "helix",
		"iat": testNow.Add(-time.Minute).Unix(),
		"nbf": testNow.Add(-time.Minute).Unix(),
		"exp": testNow.Add(time.Hour).Unix(),
	}
}

func with(c jwt.MapClaims, k string, v any) jwt.MapClaims {
	out := jwt.MapClaims{}
	for kk, vv := range c {
		out[kk] = vv
	}
	if v == nil {
		delete(out, k)
	} else {
		out[k] = v
	}
	return out
}

func sign(t *testing.T, m jwt.SigningMethod, key any, c jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, c).SignedString(key)
	if err != nil {
		t.Fatalf("sign %s: %v", m.Alg(), err)
	}
	return s
}

func signHS(t *testing.T, secret []byte, c jwt.MapClaims) string {
	t.Helper()
	return sign(t, jwt.SigningMethodHS256, secret, c)
}

func TestJWTAuthenticate(t *testing.T) {
	rk := rsaKey()
	rsaPEM := pemPublic(t, &rk.PublicKey)
	edPub, edPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edPEM := pemPublic(t, edPub)
	otherRSA, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, otherEd, _ := ed25519.GenerateKey(rand.Reader)

	hsCfg := auth.JWTConfig{Secret: hsSecret, Audience: "helix", Issuer: "https://issuer.example", Now: fixedNow}
	rsCfg := auth.JWTConfig{PublicKeyPEM: rsaPEM, Audience: "helix", Issuer: "https://issuer.example", Now: fixedNow}
	edCfg := auth.JWTConfig{PublicKeyPEM: edPEM, Audience: "helix", Issuer: "https://issuer.example", Now: fixedNow}
	hs := mustJWT(t, hsCfg)
	rs := mustJWT(t, rsCfg)
	ed := mustJWT(t, edCfg)
	leeway := hsCfg
	leeway.Leeway = 2 * time.Minute
	hsLeeway := mustJWT(t, leeway)
	emailCfg := hsCfg
	emailCfg.PrincipalClaim = "email"
	hsEmail := mustJWT(t, emailCfg)
	noAudCfg := auth.JWTConfig{Secret: hsSecret, Now: fixedNow}
	hsNoAud := mustJWT(t, noAudCfg)
	reservedCfg := hsCfg
	reservedCfg.Reserved = []string{"alice", "user-1"}
	hsReserved := mustJWT(t, reservedCfg)

	c := validClaims()
	noneTok := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, c)
	// Algorithm confusion: HS256 with the RSA public key PEM as HMAC secret.
	confused := sign(t, jwt.SigningMethodHS256, rsaPEM, c)
	if _, err := mustJWT(t, auth.JWTConfig{Secret: rsaPEM, Now: fixedNow}).Authenticate(newRequest("Bearer " + confused)); err != nil {
		t.Fatalf("control: confusion token invalid even as HS256: %v", err)
	}

	tests := []struct {
		name   string
		j      *auth.JWT
		token  string
		wantID string // "" means refused
		reason string // expected detail in the error
	}{
		{"HS256 valid", hs, signHS(t, hsSecret, c), "user-1", ""},
		{"subject reserved for an API key", hsReserved, signHS(t, hsSecret, c), "", "reserved for API keys"},
		{"RS256 valid", rs, sign(t, jwt.SigningMethodRS256, rk, c), "user-1", ""},
		{"EdDSA valid", ed, sign(t, jwt.SigningMethodEdDSA, edPriv, c), "user-1", ""},
		{"aud array", hs, signHS(t, hsSecret, with(c, "aud", []string{"other", "helix"})), "user-1", ""},
		{"no aud or iss configured", hsNoAud, signHS(t, hsSecret, with(with(c, "aud", nil), "iss", nil)), "user-1", ""},
		{"custom principal claim", hsEmail, signHS(t, hsSecret, with(c, "email", "a@example.com")), "a@example.com", ""},
		{"expired within leeway", hsLeeway, signHS(t, hsSecret, with(c, "exp", testNow.Add(-time.Minute).Unix())), "user-1", ""},

		{"expired", hs, signHS(t, hsSecret, with(c, "exp", testNow.Add(-time.Second).Unix())), "", "expired"},
		{"expired beyond leeway", hsLeeway, signHS(t, hsSecret, with(c, "exp", testNow.Add(-3*time.Minute).Unix())), "", "expired"},
		{"not yet valid", hs, signHS(t, hsSecret, with(c, "nbf", testNow.Add(time.Minute).Unix())), "", "not valid yet"},
		{"issued in the future", hs, signHS(t, hsSecret, with(c, "iat", testNow.Add(time.Minute).Unix())), "", "issued in the future"},
		{"missing exp", hs, signHS(t, hsSecret, with(c, "exp", nil)), "", "required claim missing"},
		{"exp wrong type", hs, signHS(t, hsSecret, with(c, "exp", "tomorrow")), "", "invalid type"},
		{"wrong aud", hs, signHS(t, hsSecret, with(c, "aud", "someone-else")), "", "invalid audience"},
		{"missing aud", hs, signHS(t, hsSecret, with(c, "aud", nil)), "", "required claim missing"},
		{"wrong iss", hs, signHS(t, hsSecret, with(c, "iss", "https://evil.example")), "", "invalid issuer"},
		{"missing sub", hs, signHS(t, hsSecret, with(c, "sub", nil)), "", `claim "sub" missing`},
		{"empty sub", hs, signHS(t, hsSecret, with(c, "sub", "")), "", `claim "sub"`},
		{"missing custom claim", hsEmail, signHS(t, hsSecret, c), "", `claim "email" missing`},
		{"alg none on HS256", hs, noneTok, "", "invalid signature"},
		{"alg none on RS256", rs, noneTok, "", "invalid signature"},
		{"alg confusion HS256 with RSA PEM", rs, confused, "", "invalid signature"},
		{"RS256 token on HS256 config", hs, sign(t, jwt.SigningMethodRS256, rk, c), "", "invalid signature"},
		{"EdDSA token on RS256 config", rs, sign(t, jwt.SigningMethodEdDSA, edPriv, c), "", "invalid signature"},
		{"HS384 on HS256 config", hs, sign(t, jwt.SigningMethodHS384, hsSecret, c), "", "invalid signature"},
		{"HS256 wrong secret", hs, signHS(t, []byte("another-secret-0123456789abcdefgh"), c), "", "invalid signature"},
		{"RS256 wrong key", rs, sign(t, jwt.SigningMethodRS256, otherRSA, c), "", "invalid signature"},
		{"EdDSA wrong key", ed, sign(t, jwt.SigningMethodEdDSA, otherEd, c), "", "invalid signature"},
		{"tampered payload", hs, tamper(signHS(t, hsSecret, c)), "", ""},
		{"garbage", hs, "not.a.jwt", "", "malformed"},
		{"two parts", hs, "abc.def", "", "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := tt.j.Authenticate(newRequest("Bearer " + tt.token))
			if tt.wantID != "" {
				want := auth.Principal{ID: tt.wantID, Method: auth.MethodJWT}
				if err != nil || p != want {
					t.Fatalf("Authenticate() = %v, %v, want %v, nil", p, err, want)
				}
				return
			}
			if !errors.Is(err, auth.ErrUnauthenticated) {
				t.Fatalf("Authenticate() = %v, %v, want ErrUnauthenticated", p, err)
			}
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("Authenticate() error = %q, want it to mention %q", err, tt.reason)
			}
			for _, part := range strings.Split(tt.token, ".") {
				if len(part) > 8 && strings.Contains(err.Error(), part) {
					t.Errorf("error %q leaks part of the token", err)
				}
			}
		})
	}
}

// tamper changes the payload (sub) while keeping the signature.
func tamper(tok string) string {
	parts := strings.Split(tok, ".")
	parts[1] = strings.Replace(parts[1], parts[1][len(parts[1])-4:], "AAAA", 1)
	return strings.Join(parts, ".")
}

func TestJWTMissingHeader(t *testing.T) {
	j := mustJWT(t, auth.JWTConfig{Secret: hsSecret, Now: fixedNow})
	for _, h := range [][]string{nil, {"Basic abc"}, {"Bearer"}} {
		if _, err := j.Authenticate(newRequest(h...)); !errors.Is(err, auth.ErrUnauthenticated) {
			t.Errorf("Authenticate(%q) error = %v, want ErrUnauthenticated", h, err)
		}
	}
}

func TestNewJWTConfig(t *testing.T) {
	rk := rsaKey()
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	privDER, _ := x509.MarshalPKCS8PrivateKey(edPriv)
	privPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER})
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&rk.PublicKey)})

	tests := []struct {
		name    string
		cfg     auth.JWTConfig
		wantAlg string
		wantErr string
	}{
		{"HS256", auth.JWTConfig{Secret: hsSecret}, "HS256", ""},
		{"RS256 PKIX", auth.JWTConfig{PublicKeyPEM: pemPublic(t, &rk.PublicKey)}, "RS256", ""},
		{"RS256 PKCS1", auth.JWTConfig{PublicKeyPEM: pkcs1}, "RS256", ""},
		{"EdDSA", auth.JWTConfig{PublicKeyPEM: pemPublic(t, edPub)}, "EdDSA", ""},
		{"neither", auth.JWTConfig{}, "", "one of Secret and PublicKeyPEM is required"},
		{"both", auth.JWTConfig{Secret: hsSecret, PublicKeyPEM: pemPublic(t, edPub)}, "", "only one"},
		{"short secret", auth.JWTConfig{Secret: []byte("short")}, "", "Secret: shorter than 32"},
		{"not PEM", auth.JWTConfig{PublicKeyPEM: []byte("hello")}, "", "no PEM block"},
		{"private key", auth.JWTConfig{PublicKeyPEM: privPEM}, "", "not a public key"},
		{"small RSA", auth.JWTConfig{PublicKeyPEM: pemPublic(t, &small.PublicKey)}, "", "shorter than 2048 bits"},
		{"negative leeway", auth.JWTConfig{Secret: hsSecret, Leeway: -time.Second}, "", "Leeway"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j, err := auth.NewJWT(tt.cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("NewJWT() error = %v, want containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewJWT() error = %v", err)
			}
			if got := j.Algorithm(); got != tt.wantAlg {
				t.Errorf("Algorithm() = %q, want %q", got, tt.wantAlg)
			}
		})
	}
}
