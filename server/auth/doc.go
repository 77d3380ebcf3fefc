// Package auth authenticates requests to the Helix HTTP server.
//
// An [Authenticator] turns an *http.Request into a [Principal] or an error
// wrapping [ErrUnauthenticated]. The server maps every such error to one
// identical response, 401 {"error":"Unauthorized"}; the error text carries
// detail for the server log (which check failed) but never the presented
// credential.
//
// Three credential kinds are built in:
//
//   - [APIKeys]: static NAME=KEY pairs sent as "Authorization: Bearer KEY".
//     Keys are compared in constant time against every configured key; NAME
//     is the principal. [ParseAPIKeys] reads HELIX_API_KEYS and repeated
//     --api-key flags.
//   - [JWT]: bearer JSON Web Tokens signed with HS256 (shared secret), RS256
//     (RSA public key) or EdDSA (Ed25519 public key). The accepted algorithm
//     is pinned to the configured key, exp is required, nbf/iat/aud/iss are
//     checked, and alg "none" is always refused.
//   - [StreamTokens]: short-lived HMAC-signed tokens bound to one session,
//     for browsers' EventSource, which cannot set headers. They are read
//     from the ?token= query parameter by [StreamTokens.FromQuery] and must
//     only be accepted on stream routes; the server decides which.
//
// [Chain] combines authenticators (typically API keys, then JWT).
//
// # Usage
//
//	keys, err := auth.ParseAPIKeys(os.Getenv("HELIX_API_KEYS"))
//	...
//	jwtAuth, err := auth.NewJWT(auth.JWTConfig{Secret: secret, Audience: "helix"})
//	...
//	a := auth.Chain(keys, jwtAuth)
//	p, err := a.Authenticate(r)
//	if errors.Is(err, auth.ErrUnauthenticated) {
//		// log err with the request id; answer 401 {"error":"Unauthorized"}
//	}
//
// Query-string tokens end up in access logs and proxies; that is why stream
// tokens are short-lived (5 minutes by default, 1 hour at most) and bound to
// one session id, and why logs must redact the token parameter.
package auth
