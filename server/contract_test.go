package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/server/api"
	"github.com/helix-agents/helix-go/server/auth"
	"github.com/helix-agents/helix-go/store"
)

// ownershipCall says how to call a session-taking route for a session id.
type ownershipCall struct {
	method, path string
	body         any
}

// sessionRoutes is how each route that takes a session id is called in
// the ownership test. TestOwnership fails for a route of the router that is
// missing here, so a new route cannot skip the check.
var sessionRoutes = map[string]func(id string) ownershipCall{
	"POST /start": func(id string) ownershipCall {
		return ownershipCall{"POST", "/start", map[string]any{"agentType": "echo", "sessionId": id, "message": "x"}}
	},
	"POST /resume": func(id string) ownershipCall {
		return ownershipCall{"POST", "/resume", map[string]any{"sessionId": id}}
	},
	"POST /interrupt": func(id string) ownershipCall {
		return ownershipCall{"POST", "/interrupt", map[string]any{"sessionId": id}}
	},
	"POST /abort": func(id string) ownershipCall { return ownershipCall{"POST", "/abort", map[string]any{"sessionId": id}} },
	"POST /submit-tool-result": func(id string) ownershipCall {
		return ownershipCall{"POST", "/submit-tool-result", map[string]any{"sessionId": id, "toolCallId": "call_1", "kind": "approval", "approved": true}}
	},
	"POST /retry": func(id string) ownershipCall { return ownershipCall{"POST", "/retry", map[string]any{"sessionId": id}} },
	"POST /stream-token": func(id string) ownershipCall {
		return ownershipCall{"POST", "/stream-token", map[string]any{"sessionId": id}}
	},
	"GET /sse":         func(id string) ownershipCall { return ownershipCall{"GET", "/sse?sessionId=" + id, nil} },
	"GET /ws":          func(id string) ownershipCall { return ownershipCall{"GET", "/ws?sessionId=" + id, nil} },
	"GET /status":      func(id string) ownershipCall { return ownershipCall{"GET", "/status?sessionId=" + id, nil} },
	"GET /messages":    func(id string) ownershipCall { return ownershipCall{"GET", "/messages?sessionId=" + id, nil} },
	"GET /checkpoints": func(id string) ownershipCall { return ownershipCall{"GET", "/checkpoints?sessionId=" + id, nil} },
	// An answer, not a new message: on an unknown session a message would
	// start a new one (like /start).
	"POST /chat/{sessionId}":       func(id string) ownershipCall { return ownershipCall{"POST", "/chat/" + id, chatAnswerBody(id)} },
	"POST /chat":                   func(id string) ownershipCall { return ownershipCall{"POST", "/chat", chatAnswerBody(id)} },
	"GET /chat/{sessionId}/stream": func(id string) ownershipCall { return ownershipCall{"GET", "/chat/" + id + "/stream", nil} },
}

// otherRoutes are the authenticated routes without a session id.
var otherRoutes = map[string]ownershipCall{
	"GET /sessions": {"GET", "/sessions", nil},
	"GET /agents":   {"GET", "/agents", nil},
	"GET /metrics":  {"GET", "/metrics", nil},
}

func TestOwnership(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	// alice's session waits for approval, so every route has something to
	// act on if ownership were not checked.
	id := h.start(aliceKey, "approver")
	h.wait(id)
	if st := h.status(aliceKey, id); st.Status != helix.StatusSuspendedApproval {
		t.Fatalf("status %s", st.Status)
	}
	for _, rt := range h.srv.routeTable() {
		if rt.public {
			continue
		}
		call, ok := sessionRoutes[rt.pattern]
		if rt.session && !ok {
			t.Errorf("route %s takes a session id but has no ownership test", rt.pattern)
			continue
		}
		if !rt.session {
			if _, ok := otherRoutes[rt.pattern]; !ok {
				t.Errorf("route %s is not covered by the contract tests", rt.pattern)
			}
			continue
		}
		c := call(id)
		r := h.do(c.method, c.path, bobKey, c.body)
		if r.status != 404 || r.body != bodyNotFound {
			t.Errorf("%s as bob on alice's session: %d %s, want 404 %s", rt.pattern, r.status, r.body, bodyNotFound)
		}
		// And an unknown session is the same answer (no existence oracle),
		// except for /start, which creates it.
		if rt.pattern != "POST /start" {
			c := call("s_does_not_exist")
			if r := h.do(c.method, c.path, bobKey, c.body); r.status != 404 || r.body != bodyNotFound {
				t.Errorf("%s on an unknown session: %d %s", rt.pattern, r.status, r.body)
			}
		}
	}
	// Nothing bob did changed alice's session.
	if st := h.status(aliceKey, id); st.Status != helix.StatusSuspendedApproval || len(st.Pending) != 1 {
		t.Fatalf("alice's session changed: %+v", st)
	}
	if n := h.dangers.Load(); n != 0 {
		t.Fatalf("tool ran %d times", n)
	}
	// bob's session list does not show it; alice's does.
	var list api.SessionPage
	if err := json.Unmarshal([]byte(h.do("GET", "/sessions", bobKey, nil).body), &list); err != nil || list.Total != 0 {
		t.Fatalf("bob's sessions: %+v %v", list, err)
	}
	if err := json.Unmarshal([]byte(h.do("GET", "/sessions", aliceKey, nil).body), &list); err != nil || list.Total != 1 || list.Sessions[0].SessionID != id {
		t.Fatalf("alice's sessions: %+v %v", list, err)
	}
}

func TestUnauthorizedIsOneBody(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	id := h.start(aliceKey, "echo")
	h.wait(id)
	creds := []credential{
		{"none", nil},
		{"wrong key", map[string]string{"Authorization": "Bearer not-a-key-0123456789abcdef"}},
		{"empty bearer", map[string]string{"Authorization": "Bearer "}},
		{"basic", map[string]string{"Authorization": "Basic YWxpY2U6cGFzcw=="}},
		{"key without scheme", map[string]string{"Authorization": aliceKey}},
		{"jwt-looking", map[string]string{"Authorization": "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9."}},
	}
	checkUnauthorized(t, h, id, creds)
	// Public routes answer without credentials.
	for _, p := range []string{"/healthz", "/readyz"} {
		if r := h.do("GET", p, "", nil); r.status != 200 {
			t.Errorf("%s: %d %s", p, r.status, r.body)
		}
	}
}

// credential is a way of (failing to) authenticate: request headers.
type credential struct {
	name string
	hdr  map[string]string
}

// checkUnauthorized sends every authenticated route of the router, on
// session id, with each of creds, and wants the one 401 body.
func checkUnauthorized(t *testing.T, h *harness, id string, creds []credential) {
	t.Helper()
	for _, rt := range h.srv.routeTable() {
		if rt.public {
			continue
		}
		var c ownershipCall
		if f, ok := sessionRoutes[rt.pattern]; ok {
			c = f(id)
		} else {
			c = otherRoutes[rt.pattern]
		}
		for _, cr := range creds {
			r := h.doHeaders(c.method, c.path, "", c.body, cr.hdr)
			if r.status != 401 || r.body != bodyUnauthorized {
				t.Errorf("%s with %s: %d %q", rt.pattern, cr.name, r.status, r.body)
			}
		}
	}
}

// TestUnauthorizedJWTIsOneBody: with JWT authentication beside the API
// keys, every way a token can fail (expired, not yet valid, issued in the
// future, wrong audience or issuer, another key, alg none, another
// algorithm, a stream token used as a bearer token) is the same 401 on
// every route, while a good token passes.
func TestUnauthorizedJWTIsOneBody(t *testing.T) {
	secret := []byte("jwt-secret-for-tests-0123456789abcdef")
	mint := func(method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
		// (Not a key's name: a chain with the harness's keys refuses a
		// token naming alice or bob, see the last case.)
		base := jwt.MapClaims{"sub": "carol", "aud": "helix", "iss": "idp", "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()}
		for k, v := range claims {
			if v == nil {
				delete(base, k)
			} else {
				base[k] = v
			}
		}
		tok, err := jwt.NewWithClaims(method, base).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	h := newHarness(t, harnessConfig{opts: func(o *Options) {
		j, err := auth.NewJWT(auth.JWTConfig{Secret: secret, Audience: "helix", Issuer: "idp"})
		if err != nil {
			t.Fatal(err)
		}
		o.Authenticator = auth.Chain(o.Authenticator, j)
	}})
	good := mint(jwt.SigningMethodHS256, secret, nil)
	id := h.start(good, "echo")
	h.wait(id)
	if st := h.status(good, id); st.Status != helix.StatusCompleted {
		t.Fatalf("a good token: status %s", st.Status)
	}
	hour := time.Hour
	bearer := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": "carol", "aud": "helix", "iss": "idp",
		"exp": time.Now().Add(hour).Unix()}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	stream := h.do("POST", "/stream-token", good, map[string]any{"sessionId": id})
	var st struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal([]byte(stream.body), &st); err != nil || st.Token == "" {
		t.Fatalf("stream token: %d %s", stream.status, stream.body)
	}
	checkUnauthorized(t, h, id, []credential{
		{"expired", bearer(mint(jwt.SigningMethodHS256, secret, jwt.MapClaims{"exp": time.Now().Add(-hour).Unix()}))},
		{"no exp", bearer(mint(jwt.SigningMethodHS256, secret, jwt.MapClaims{"exp": nil}))},
		{"not yet valid", bearer(mint(jwt.SigningMethodHS256, secret, jwt.MapClaims{"nbf": time.Now().Add(hour).Unix()}))},
		{"issued in the future", bearer(mint(jwt.SigningMethodHS256, secret, jwt.MapClaims{"iat": time.Now().Add(hour).Unix()}))},
		{"wrong audience", bearer(mint(jwt.SigningMethodHS256, secret, jwt.MapClaims{"aud": "other"}))},
		{"wrong issuer", bearer(mint(jwt.SigningMethodHS256, secret, jwt.MapClaims{"iss": "evil"}))},
		{"another key", bearer(mint(jwt.SigningMethodHS256, []byte("another-secret-0123456789abcdefghij"), nil))},
		{"HS512", bearer(mint(jwt.SigningMethodHS512, secret, nil))},
		{"alg none", bearer(none)},
		{"tampered", bearer(good[:len(good)-4] + "AAAA")},
		{"stream token as bearer", bearer(st.Token)},
		{"naming an API key's principal", bearer(mint(jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "alice"}))},
	})
}

func TestNoAuthenticatorRefused(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	if _, err := New(Options{Runtime: h.rt}); !errors.Is(err, ErrNoAuthenticator) {
		t.Fatalf("New without authenticator: %v", err)
	}
	h2 := newHarness(t, harnessConfig{opts: func(o *Options) { o.Authenticator, o.AllowUnauthenticated = nil, true }})
	if !strings.Contains(h2.log.String(), "AUTHENTICATION IS DISABLED") {
		t.Fatalf("no loud warning in the log:\n%s", h2.log.String())
	}
	id := h2.start("", "echo")
	h2.wait(id)
	if st := h2.status("", id); st.Status != helix.StatusCompleted {
		t.Fatalf("status %s", st.Status)
	}
}

func TestBadRequestBodies(t *testing.T) {
	h := newHarness(t, harnessConfig{opts: func(o *Options) { o.MaxBodyBytes = 1024 }})
	id := h.start(aliceKey, "echo")
	h.wait(id)
	cases := []struct {
		name, path string
		body       string
		ctype      string
		status     int
		want       string
	}{
		{"not json", "/start", `{agentType:`, "", 400, bodyBadRequest},
		{"unknown field", "/start", `{"agentType":"echo","message":"x","extra":1}`, "", 400, bodyBadRequest},
		{"wrong type", "/start", `{"agentType":"echo","message":5}`, "", 400, bodyBadRequest},
		{"trailing data", "/start", `{"agentType":"echo","message":"x"} {}`, "", 400, bodyBadRequest},
		{"array", "/start", `[{"agentType":"echo","message":"x"}]`, "", 400, bodyBadRequest},
		{"null", "/start", `null`, "", 400, bodyBadRequest},
		{"empty", "/start", ``, "", 400, bodyBadRequest},
		{"missing agentType", "/start", `{"message":"x"}`, "", 400, bodyBadRequest},
		{"missing message", "/start", `{"agentType":"echo"}`, "", 400, bodyBadRequest},
		{"bad session id", "/start", `{"agentType":"echo","message":"x","sessionId":"a b"}`, "", 400, bodyBadRequest},
		{"sub-agent session id", "/start", `{"agentType":"echo","message":"x","sessionId":"victim.call_1"}`, "", 400, bodyBadRequest},
		{"name in another case", "/start", `{"AgentType":"echo","message":"x"}`, "", 400, bodyBadRequest},
		{"repeated name", "/start", `{"agentType":"echo","message":"x","sessionId":"d1","sessionId":"d2"}`, "", 400, bodyBadRequest},
		{"new chat with a sub-agent session id", "/chat/victim.call_1", `{"message":"x"}`, "", 400, bodyBadRequest},
		{"state not object", "/start", `{"agentType":"echo","message":"x","state":[1]}`, "", 400, bodyBadRequest},
		{"text/plain", "/start", `{"agentType":"echo","message":"x"}`, "text/plain", 400, bodyBadRequest},
		{"too large", "/start", `{"agentType":"echo","message":"` + strings.Repeat("x", 2000) + `"}`, "", 413, bodyTooLarge},
		{"unknown agent", "/start", `{"agentType":"nobody","message":"x"}`, "", 404, bodyNotFound},
		{"approval without approved", "/submit-tool-result", `{"sessionId":"` + id + `","toolCallId":"c","kind":"approval"}`, "", 400, bodyBadRequest},
		{"unknown kind", "/submit-tool-result", `{"sessionId":"` + id + `","toolCallId":"c","kind":"maybe","approved":true}`, "", 400, bodyBadRequest},
		{"result on approval", "/submit-tool-result", `{"sessionId":"` + id + `","toolCallId":"c","kind":"approval","approved":true,"result":1}`, "", 400, bodyBadRequest},
		{"not pending", "/submit-tool-result", `{"sessionId":"` + id + `","toolCallId":"c","kind":"approval","approved":true}`, "", 409, bodyToolNotPend},
		{"resume completed", "/resume", `{"sessionId":"` + id + `"}`, "", 409, bodyNotResumable},
		{"retry completed", "/retry", `{"sessionId":"` + id + `"}`, "", 409, bodyNotResumable},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", h.ts.URL+c.path, strings.NewReader(c.body))
			ct := c.ctype
			if ct == "" {
				ct = "application/json"
			}
			req.Header.Set("Content-Type", ct)
			req.Header.Set("Authorization", "Bearer "+aliceKey)
			res, err := h.ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var b bytes.Buffer
			_, _ = b.ReadFrom(res.Body)
			if res.StatusCode != c.status || (c.want != "" && b.String() != c.want) {
				t.Fatalf("%d %q, want %d %q", res.StatusCode, b.String(), c.status, c.want)
			}
			if c.want != "" && res.Header.Get(RequestIDHeader) == "" {
				t.Fatal("error without a request id")
			}
		})
	}
	// The log has the detail, under the request id; the body never does.
	if !strings.Contains(h.log.String(), "unknown field") {
		t.Fatalf("log lacks the validation detail:\n%s", h.log.String())
	}
}

func TestPaginationBodies(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	id := h.start(aliceKey, "echo")
	h.wait(id)
	for _, route := range []string{"/messages?sessionId=" + id + "&", "/checkpoints?sessionId=" + id + "&", "/sessions?"} {
		cases := []struct{ q, want string }{
			{"offset=-1", bodyInvalidOffset}, {"offset=abc", bodyInvalidOffset}, {"offset=", bodyInvalidOffset},
			{"offset=1&offset=2", bodyInvalidOffset}, {"offset=99999999999999999999", bodyInvalidOffset},
			{"limit=0", bodyInvalidLimit}, {"limit=1001", bodyInvalidLimit}, {"limit=-5", bodyInvalidLimit},
			{"limit=1.5", bodyInvalidLimit}, {"offset=-1&limit=0", bodyInvalidOffset},
		}
		for _, c := range cases {
			r := h.do("GET", route+c.q, aliceKey, nil)
			if r.status != 400 || r.body != c.want {
				t.Errorf("%s%s: %d %s, want %s", route, c.q, r.status, r.body, c.want)
			}
		}
	}
	// Valid pages.
	r := h.do("GET", "/messages?sessionId="+id+"&offset=0&limit=1", aliceKey, nil)
	var page api.MessagePage
	if err := json.Unmarshal([]byte(r.body), &page); err != nil || r.status != 200 {
		t.Fatalf("%d %s %v", r.status, r.body, err)
	}
	if page.Total != 2 || len(page.Messages) != 1 || !page.HasMore || page.Messages[0].Text() != "hi" {
		t.Fatalf("page %+v", page)
	}
	r = h.do("GET", "/messages?sessionId="+id+"&offset=1&limit=1000", aliceKey, nil)
	if err := json.Unmarshal([]byte(r.body), &page); err != nil || page.HasMore || len(page.Messages) != 1 || page.Messages[0].Text() != "hello from helix" {
		t.Fatalf("page 2 %+v %v", page, err)
	}
	r = h.do("GET", "/messages?sessionId="+id+"&offset=50", aliceKey, nil)
	if err := json.Unmarshal([]byte(r.body), &page); err != nil || page.Messages == nil || len(page.Messages) != 0 || page.Total != 2 {
		t.Fatalf("past the end %s %v", r.body, err)
	}
	var cps api.CheckpointPage
	r = h.do("GET", "/checkpoints?sessionId="+id, aliceKey, nil)
	if err := json.Unmarshal([]byte(r.body), &cps); err != nil || cps.Total < 1 || cps.Checkpoints[0].ID == "" || cps.Checkpoints[0].Timestamp.IsZero() {
		t.Fatalf("checkpoints %s %v", r.body, err)
	}
	if r := h.do("GET", "/sessions?status=bogus", aliceKey, nil); r.status != 400 || r.body != bodyBadRequest {
		t.Fatalf("bad status filter: %d %s", r.status, r.body)
	}
	var list api.SessionPage
	if err := json.Unmarshal([]byte(h.do("GET", "/sessions?status=completed&agentType=echo", aliceKey, nil).body), &list); err != nil || list.Total != 1 {
		t.Fatalf("filtered sessions %+v %v", list, err)
	}
	if err := json.Unmarshal([]byte(h.do("GET", "/sessions?agentType=slow", aliceKey, nil).body), &list); err != nil || list.Total != 0 || list.Sessions == nil {
		t.Fatalf("filtered sessions %+v %v", list, err)
	}
}

func TestConflicts(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	id := h.start(aliceKey, "slow")
	// Start again in the same session while it runs.
	r := h.do("POST", "/start", aliceKey, map[string]any{"agentType": "slow", "sessionId": id, "message": "again"})
	if r.status != 409 || r.body != bodyAgentRunning {
		t.Fatalf("start while running: %d %s", r.status, r.body)
	}
	r = h.do("POST", "/resume", aliceKey, map[string]any{"sessionId": id})
	if r.status != 409 || r.body != bodyAgentRunning {
		t.Fatalf("resume while running: %d %s", r.status, r.body)
	}
	r = h.do("POST", "/retry", aliceKey, map[string]any{"sessionId": id})
	if r.status != 409 || r.body != bodyAgentRunning {
		t.Fatalf("retry while running: %d %s", r.status, r.body)
	}
	// Interrupt, then resume, then abort.
	r = h.do("POST", "/interrupt", aliceKey, map[string]any{"sessionId": id, "reason": "pause"})
	if r.status != 202 || !strings.Contains(r.body, `"sessionId":"`+id+`"`) {
		t.Fatalf("interrupt: %d %s", r.status, r.body)
	}
	h.wait(id)
	if st := h.status(aliceKey, id); st.Status != helix.StatusInterrupted {
		t.Fatalf("after interrupt: %s", st.Status)
	}
	r = h.do("POST", "/resume", aliceKey, map[string]any{"sessionId": id, "message": "go on"})
	if r.status != 200 {
		t.Fatalf("resume: %d %s", r.status, r.body)
	}
	r = h.do("POST", "/abort", aliceKey, map[string]any{"sessionId": id})
	if r.status != 202 {
		t.Fatalf("abort: %d %s", r.status, r.body)
	}
	h.wait(id)
	st := h.status(aliceKey, id)
	if st.Status != helix.StatusFailed || !st.Aborted {
		t.Fatalf("after abort: %+v", st)
	}
	r = h.do("POST", "/retry", aliceKey, map[string]any{"sessionId": id})
	if r.status != 409 || r.body != bodyNotResumable {
		t.Fatalf("retry aborted: %d %s", r.status, r.body)
	}
	// A new turn on the aborted session is allowed.
	r = h.do("POST", "/start", aliceKey, map[string]any{"agentType": "slow", "sessionId": id, "message": "new turn"})
	if r.status != 200 {
		t.Fatalf("new turn: %d %s", r.status, r.body)
	}
	// A session keeps its agent.
	h.do("POST", "/abort", aliceKey, map[string]any{"sessionId": id})
	h.wait(id)
	r = h.do("POST", "/start", aliceKey, map[string]any{"agentType": "echo", "sessionId": id, "message": "x"})
	if r.status != 400 || r.body != bodyBadRequest {
		t.Fatalf("other agent on a session: %d %s", r.status, r.body)
	}
}

func TestRateLimit(t *testing.T) {
	h := newHarness(t, harnessConfig{opts: func(o *Options) {
		o.DisableRateLimit = false
		o.RateLimit.Rate, o.RateLimit.Burst = 0.5, 3
		o.IPRateLimit.Rate, o.IPRateLimit.Burst = 1000, 1000
	}})
	var last resp
	for i := 0; i < 4; i++ {
		last = h.do("GET", "/sessions", aliceKey, nil)
	}
	if last.status != 429 || last.body != bodyTooMany {
		t.Fatalf("4th request: %d %s", last.status, last.body)
	}
	if ra := last.header.Get("Retry-After"); ra != "2" {
		t.Fatalf("Retry-After %q, want 2", ra)
	}
	// Per principal: bob is not affected.
	if r := h.do("GET", "/sessions", bobKey, nil); r.status != 200 {
		t.Fatalf("bob: %d", r.status)
	}
	// Per IP: a flood from one address is cut before authentication.
	h2 := newHarness(t, harnessConfig{opts: func(o *Options) {
		o.DisableRateLimit = false
		o.IPRateLimit.Rate, o.IPRateLimit.Burst = 0.5, 2
	}})
	for i := 0; i < 3; i++ {
		last = h2.do("GET", "/sessions", "", nil)
	}
	if last.status != 429 || last.header.Get("Retry-After") == "" {
		t.Fatalf("ip flood: %d %v", last.status, last.header)
	}
}

func TestCORS(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	r := h.doHeaders("OPTIONS", "/start", "", nil, map[string]string{"Origin": "https://app.example", "Access-Control-Request-Method": "POST"})
	if r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("CORS on by default: %v", r.header)
	}
	h2 := newHarness(t, harnessConfig{opts: func(o *Options) { o.CORSOrigins = []string{"https://app.example"} }})
	r = h2.doHeaders("OPTIONS", "/sse", "", nil, map[string]string{"Origin": "https://app.example", "Access-Control-Request-Method": "GET",
		"Access-Control-Request-Headers": "last-event-id, authorization"})
	if r.status != 204 || r.header.Get("Access-Control-Allow-Origin") != "https://app.example" ||
		!strings.Contains(r.header.Get("Access-Control-Allow-Headers"), "Last-Event-ID") ||
		!strings.Contains(r.header.Get("Access-Control-Expose-Headers"), "X-Session-Id") ||
		r.header.Get("Access-Control-Allow-Credentials") != "" {
		t.Fatalf("preflight: %d %v", r.status, r.header)
	}
	r = h2.doHeaders("GET", "/healthz", "", nil, map[string]string{"Origin": "https://evil.example"})
	if r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("disallowed origin allowed: %v", r.header)
	}
	r = h2.doHeaders("POST", "/start", aliceKey, map[string]any{"agentType": "echo", "message": "x"}, map[string]string{"Origin": "https://app.example"})
	if r.status != 200 || r.header.Get("Access-Control-Allow-Origin") != "https://app.example" {
		t.Fatalf("simple request: %d %v", r.status, r.header)
	}
}

func TestPanicRecovery(t *testing.T) {
	calls := 0
	h := newHarness(t, harnessConfig{opts: func(o *Options) {
		inner := o.Authenticator
		o.Authenticator = auth.AuthenticatorFunc(func(r *http.Request) (auth.Principal, error) {
			calls++
			if r.URL.Path == "/sessions" && r.URL.Query().Get("boom") != "" {
				panic("authenticator exploded")
			}
			return inner.Authenticate(r)
		})
	}})
	r := h.do("GET", "/sessions?boom=1", aliceKey, nil)
	if r.status != 500 || r.body != bodyInternal {
		t.Fatalf("panic: %d %s", r.status, r.body)
	}
	if !strings.Contains(h.log.String(), "authenticator exploded") || !strings.Contains(h.log.String(), r.header.Get(RequestIDHeader)) {
		t.Fatalf("panic not logged with the request id:\n%s", h.log.String())
	}
	if r := h.do("GET", "/sessions", aliceKey, nil); r.status != 200 {
		t.Fatalf("server did not survive: %d", r.status)
	}
}

func TestUnknownRoutes(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	for _, c := range []struct{ method, path string }{{"GET", "/nope"}, {"GET", "/start"}, {"DELETE", "/status"}, {"GET", "/"}} {
		if r := h.do(c.method, c.path, aliceKey, nil); r.status != 404 || r.body != bodyNotFound {
			t.Errorf("%s %s: %d %s", c.method, c.path, r.status, r.body)
		}
	}
}

func TestAgents(t *testing.T) {
	h := newHarness(t, harnessConfig{opts: func(o *Options) { o.DefaultAgent = "echo" }})
	r := h.do("GET", "/agents", aliceKey, nil)
	var out api.AgentList
	if err := json.Unmarshal([]byte(r.body), &out); err != nil || r.status != 200 {
		t.Fatalf("%d %s %v", r.status, r.body, err)
	}
	names := map[string]api.AgentInfo{}
	for _, a := range out.Agents {
		names[a.Name] = a
	}
	if out.Default != "echo" || len(names) != 5 || len(names["approver"].Tools) != 1 || names["approver"].Tools[0].Name != "danger" ||
		!names["cleaner"].HasOutput || len(names["lead"].Tools) != 1 || names["lead"].Tools[0].Name != "cleaner" {
		t.Fatalf("agents %+v", out)
	}
}

func TestHealthReadyMetrics(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	id := h.start(aliceKey, "approver")
	h.wait(id)
	if r := h.do("GET", "/healthz", "", nil); r.status != 200 || !strings.Contains(r.body, "ok") {
		t.Fatalf("healthz %d %s", r.status, r.body)
	}
	if r := h.do("GET", "/readyz", "", nil); r.status != 200 {
		t.Fatalf("readyz %d %s", r.status, r.body)
	}
	r := h.do("GET", "/metrics", aliceKey, nil)
	for _, want := range []string{
		`helix_http_request_duration_seconds_count{code="200",method="POST",route="POST /start"} 1`,
		`helix_runs_started_total 1`,
		`helix_runs_ended_total{status="suspended_approval"} 1`,
		`helix_steps_total 1`,
		`helix_active_streams`,
		`helix_tokens_total{kind="prompt"}`,
	} {
		if !strings.Contains(r.body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	h.do("POST", "/submit-tool-result", aliceKey, map[string]any{"sessionId": id, "toolCallId": "call_1", "kind": "approval", "approved": true})
	h.wait(id)
	r = h.do("GET", "/metrics", aliceKey, nil)
	if !strings.Contains(r.body, `helix_tool_calls_total{outcome="success",tool="danger"} 1`) {
		t.Errorf("tool call not counted:\n%s", r.body)
	}
	// The store goes away: not ready.
	_ = h.st.Close()
	if r := h.do("GET", "/readyz", "", nil); r.status != 503 || r.body != bodyUnavailable {
		t.Fatalf("readyz with a closed store: %d %s", r.status, r.body)
	}
}

// TestMetricsBoundedLabels: any method token reaches the server (even on
// the public 404 route); the latency metric must not grow a series per
// token.
func TestMetricsBoundedLabels(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	for i := range 20 {
		req, _ := http.NewRequest("X"+strconv.Itoa(i), h.ts.URL+"/anything", nil)
		res, err := h.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	body := h.do("GET", "/metrics", aliceKey, nil).body
	if strings.Contains(body, `method="X1"`) || !strings.Contains(body, `method="other",route="/"`) {
		t.Fatalf("method labels not bounded:\n%s", body)
	}
}

// TestRequestIDFromProxyOnly: a client's X-Request-Id is used only when a
// trusted proxy sent the request.
func TestRequestIDFromProxyOnly(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	r := h.doHeaders("GET", "/healthz", "", nil, map[string]string{RequestIDHeader: "forged-id-1"})
	if got := r.header.Get(RequestIDHeader); got == "forged-id-1" || got == "" {
		t.Fatalf("untrusted client's request id %q", got)
	}
	h2 := newHarness(t, harnessConfig{opts: func(o *Options) {
		o.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	}})
	r = h2.doHeaders("GET", "/healthz", "", nil, map[string]string{RequestIDHeader: "proxy-id-1"})
	if got := r.header.Get(RequestIDHeader); got != "proxy-id-1" {
		t.Fatalf("trusted proxy's request id: got %q", got)
	}
}

// TestBadBodiesEveryRoute: every POST route of the router refuses the same
// malformed bodies with the same answers: unknown, miscased and repeated
// member names, a wrong type and trailing data → 400, an oversized body →
// 413. The routes come from the router, so a new POST route that skips
// strict decoding fails here.
func TestBadBodiesEveryRoute(t *testing.T) {
	h := newHarness(t, harnessConfig{opts: func(o *Options) { o.MaxBodyBytes = 1024; o.DisableRateLimit = true }})
	id := h.start(aliceKey, "echo")
	h.wait(id)
	n := 0
	for _, rt := range h.srv.routeTable() {
		if !strings.HasPrefix(rt.pattern, "POST ") {
			continue
		}
		n++
		call := sessionRoutes[rt.pattern](id)
		valid, err := json.Marshal(call.body)
		if err != nil {
			t.Fatal(err)
		}
		// One member of the valid body, to repeat or miscase.
		var members map[string]json.RawMessage
		_ = json.Unmarshal(valid, &members)
		var name string
		for k := range members {
			if name == "" || k < name {
				name = k
			}
		}
		member := func(key string) string { return strconv.Quote(key) + ":" + string(members[name]) + "," }
		cases := []struct {
			name, body string
			status     int
			want       string
		}{
			{"unknown field", `{"bogus":1,` + string(valid[1:]), 400, bodyBadRequest},
			{"repeated name", "{" + member(name) + string(valid[1:]), 400, bodyBadRequest},
			{"miscased name", "{" + member(strings.ToUpper(name[:1])+name[1:]) + string(valid[1:]), 400, bodyBadRequest},
			{"wrong type", `{` + strconv.Quote(name) + `:5}`, 400, bodyBadRequest},
			{"trailing data", string(valid) + ` {}`, 400, bodyBadRequest},
			{"too large", `{"pad":"` + strings.Repeat("x", 2000) + `"}`, 413, bodyTooLarge},
		}
		for _, c := range cases {
			r := h.do("POST", call.path, aliceKey, c.body)
			if r.status != c.status || r.body != c.want {
				t.Errorf("%s, %s: %d %s, want %d %s", rt.pattern, c.name, r.status, r.body, c.status, c.want)
			}
		}
	}
	if n < 9 {
		t.Fatalf("only %d POST routes", n)
	}
}

// TestActiveStreamsGauge: helix_active_streams counts an open SSE stream
// while it is open, and not once its client has gone.
func TestActiveStreamsGauge(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	gauge := func() string {
		r := h.do("GET", "/metrics", aliceKey, nil)
		for line := range strings.Lines(r.body) {
			if strings.HasPrefix(line, `helix_active_streams{transport="sse"} `) {
				return strings.TrimSpace(strings.TrimPrefix(line, `helix_active_streams{transport="sse"} `))
			}
		}
		t.Fatalf("no sse gauge in:\n%s", r.body)
		return ""
	}
	if g := gauge(); g != "0" {
		t.Fatalf("gauge before any stream: %s", g)
	}
	id := h.start(aliceKey, "slow")
	res := h.open("GET", "/sse?sessionId="+id, aliceKey, nil)
	if res.StatusCode != 200 {
		t.Fatalf("sse: %d", res.StatusCode)
	}
	if g := gauge(); g != "1" {
		t.Errorf("gauge with one stream open: %s", g)
	}
	res.Body.Close()
	deadline := time.Now().Add(10 * time.Second)
	for gauge() != "0" {
		if time.Now().After(deadline) {
			t.Fatalf("gauge still %s after the client left", gauge())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// deadlineWriter is a ResponseWriter that records write deadlines.
type deadlineWriter struct {
	*httptest.ResponseRecorder
	deadlines []time.Time
}

func (d *deadlineWriter) SetWriteDeadline(t time.Time) error {
	d.deadlines = append(d.deadlines, t)
	return nil
}

// TestResponseWriteDeadline: a response that is not a stream must be
// written within responseWriteTimeout, so a client that stops reading
// cannot hold it for ever.
func TestResponseWriteDeadline(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	id := h.start(aliceKey, "echo")
	h.wait(id)
	for _, path := range []string{"/messages?sessionId=" + id + "&limit=1000", "/sessions", "/healthz"} {
		w := &deadlineWriter{ResponseRecorder: httptest.NewRecorder()}
		r := httptest.NewRequest("GET", path, nil)
		r.Header.Set("Authorization", "Bearer "+aliceKey)
		start := time.Now()
		h.srv.ServeHTTP(w, r)
		if w.Code != 200 || len(w.deadlines) == 0 {
			t.Errorf("GET %s: %d, deadlines %v", path, w.Code, w.deadlines)
			continue
		}
		if d := w.deadlines[0].Sub(start); d < responseWriteTimeout-time.Second || d > responseWriteTimeout+time.Second {
			t.Errorf("GET %s: write deadline in %v, want %v", path, d, responseWriteTimeout)
		}
	}
}

// TestMetricsPrincipals: with MetricsPrincipals set, only those principals
// read /metrics; another gets the 404 of an unknown route.
func TestMetricsPrincipals(t *testing.T) {
	h := newHarness(t, harnessConfig{opts: func(o *Options) { o.MetricsPrincipals = []string{"alice"} }})
	if r := h.do("GET", "/metrics", aliceKey, nil); r.status != 200 || !strings.Contains(r.body, "helix_runs_started_total") {
		t.Errorf("alice: %d %.80s", r.status, r.body)
	}
	if r := h.do("GET", "/metrics", bobKey, nil); r.status != 404 || r.body != bodyNotFound {
		t.Errorf("bob: %d %s", r.status, r.body)
	}
}

// TestStartExistingDottedSession: a top-level session whose id has a '.'
// (made before new ids were refused one) can still be started again by
// its owner; a new one cannot be made.
func TestStartExistingDottedSession(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	ctx := t.Context()
	now := time.Now()
	if err := h.st.CreateSession(ctx, &store.Session{ID: "old.session", AgentType: "echo", Principal: "alice",
		Status: helix.StatusCompleted, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	body := `{"agentType":"echo","message":"again","sessionId":"old.session"}`
	if r := h.do("POST", "/start", aliceKey, body); r.status != http.StatusOK {
		t.Fatalf("owner restarting old.session: %d %s", r.status, r.body)
	}
	h.wait("old.session")
	for _, c := range []struct {
		key, id string
		status  int
		body    string
	}{
		{bobKey, "old.session", http.StatusNotFound, bodyNotFound}, // as for any session of another principal
		{aliceKey, "new.session", http.StatusBadRequest, bodyBadRequest},
	} {
		b := `{"agentType":"echo","message":"x","sessionId":"` + c.id + `"}`
		if r := h.do("POST", "/start", c.key, b); r.status != c.status || r.body != c.body {
			t.Fatalf("%s: %d %s, want %d %s", c.id, r.status, r.body, c.status, c.body)
		}
	}
}
