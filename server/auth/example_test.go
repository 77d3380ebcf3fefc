package auth_test

import (
	"errors"
	"fmt"
	"net/http/httptest"
	"net/url"
	"time"

	"github.com/helix-agents/helix-go/server/auth"
)

func Example() {
	keys, err := auth.ParseAPIKeys("alice=alice-secret-key-0001,bob=bob-secret-key-00002")
	if err != nil {
		panic(err)
	}
	a := auth.Chain(keys) // typically auth.Chain(keys, jwtAuthenticator)

	r := httptest.NewRequest("GET", "/sessions", nil)
	r.Header.Set("Authorization", "Bearer bob-secret-key-00002")
	p, err := a.Authenticate(r)
	fmt.Println(p.ID, p.Method, err)

	r.Header.Set("Authorization", "Bearer wrong-key-0000000000")
	_, err = a.Authenticate(r)
	fmt.Println(errors.Is(err, auth.ErrUnauthenticated)) // answer 401 {"error":"Unauthorized"}
	// Output:
	// bob api-key <nil>
	// true
}

func ExampleStreamTokens() {
	st, err := auth.NewStreamTokens(auth.StreamTokensConfig{}) // random secret
	if err != nil {
		panic(err)
	}
	// After authenticating alice by header, hand her a token for EventSource.
	tok, err := st.Issue("alice", "session-1", 5*time.Minute)
	if err != nil {
		panic(err)
	}
	r := httptest.NewRequest("GET", "/sse?sessionId=session-1&token="+url.QueryEscape(tok), nil)
	p, err := st.FromQuery(r, r.URL.Query().Get("sessionId"))
	fmt.Println(p.ID, p.Method, err)

	_, err = st.FromQuery(r, "session-2")
	fmt.Println(errors.Is(err, auth.ErrUnauthenticated))
	// Output:
	// alice stream-token <nil>
	// true
}
