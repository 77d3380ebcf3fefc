package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/redis/go-redis/v9"

	"github.com/helix-agents/helix-go/server"
)

// server is a helix serve running in process.
type testServer struct {
	url    string
	stdout *syncBuffer
	stderr *syncBuffer
	cancel context.CancelFunc
	done   chan int
}

var listeningRE = regexp.MustCompile(`listening on (https?://\S+)`)

// startServe runs helix serve with args on a free port and waits until it
// listens.
func startServe(t *testing.T, env map[string]string, args ...string) *testServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	s := &testServer{stdout: &syncBuffer{}, stderr: &syncBuffer{}, cancel: cancel, done: make(chan int, 1)}
	all := append([]string{"serve", "--addr", "127.0.0.1:0", "--store", "memory://"}, args...)
	go func() {
		s.done <- run(ctx, all, mapEnv(env), strings.NewReader(""), io.MultiWriter(s.stdout, pw), s.stderr)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			t.Error("helix serve did not stop")
		}
	})
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		io.Copy(io.Discard, pr)
	}()
	defer func() { // keep draining stdout once the address is known
		go func() {
			for range lines {
			}
		}()
	}()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("helix serve exited before listening; stderr:\n%s", s.stderr.String())
			}
			if m := listeningRE.FindStringSubmatch(line); m != nil {
				s.url = m[1]
				return s
			}
		case <-deadline:
			t.Fatalf("helix serve is not listening; stdout:\n%s\nstderr:\n%s", s.stdout.String(), s.stderr.String())
		}
	}
}

// stop cancels the server's context and returns its exit code.
func (s *testServer) stop(t *testing.T) int {
	t.Helper()
	s.cancel()
	select {
	case code := <-s.done:
		s.done <- code // for the cleanup
		return code
	case <-time.After(30 * time.Second):
		t.Fatal("helix serve did not stop within 30s")
		return -1
	}
}

func (s *testServer) do(t *testing.T, method, path, key, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, s.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// streamUntilEnd reads the session's SSE stream until "event: end" and
// returns everything read.
func (s *testServer) streamUntilEnd(t *testing.T, key, session string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/sse?sessionId="+session, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /sse = %d %s", resp.StatusCode, b)
	}
	var all strings.Builder
	sc := bufio.NewScanner(resp.Body)
	sawEnd := false
	for sc.Scan() {
		line := sc.Text()
		all.WriteString(line + "\n")
		if line == "event: end" {
			sawEnd = true
		}
		if sawEnd && strings.HasPrefix(line, "data:") {
			return all.String()
		}
	}
	t.Fatalf("SSE stream ended without event: end (%v):\n%s", sc.Err(), all.String())
	return ""
}

func TestServeEndToEnd(t *testing.T) {
	dir := t.TempDir()
	model := "scripted:" + writeFile(t, filepath.Join(dir, "s.json"),
		`{"turns":[{"text":"Let me compute.","toolCalls":[{"name":"calculator","arguments":{"expression":"6*7"}}]},{"text":"It is 42."}]}`)
	s := startServe(t, nil, "--model", model, "--api-key", keyAlice, "--log-level", "debug")
	key := strings.TrimPrefix(keyAlice, "alice=")

	if !strings.Contains(s.stdout.String(), "curl ") || !strings.Contains(s.stdout.String(), "/start") {
		t.Errorf("the banner has no curl example:\n%s", s.stdout.String())
	}
	if code, body := s.do(t, http.MethodPost, "/start", "", `{"agentType":"assistant","message":"hi"}`); code != http.StatusUnauthorized {
		t.Errorf("POST /start without a key = %d %s, want 401", code, body)
	}
	code, body := s.do(t, http.MethodPost, "/start", key, `{"agentType":"assistant","sessionId":"e2e-1","message":"What is 6*7?"}`)
	if code != http.StatusOK || !strings.Contains(body, `"sessionId":"e2e-1"`) {
		t.Fatalf("POST /start = %d %s", code, body)
	}
	events := s.streamUntilEnd(t, key, "e2e-1")
	for _, want := range []string{`"type":"text_delta"`, `"toolName":"calculator"`, `"delta":" 42."`, `event: end`, `{"status":"completed"}`} {
		if !strings.Contains(events, want) {
			t.Errorf("SSE stream lacks %s:\n%s", want, events)
		}
	}
	if code, body := s.do(t, http.MethodGet, "/healthz", "", ""); code != http.StatusOK {
		t.Errorf("GET /healthz = %d %s", code, body)
	}

	start := time.Now()
	if code := s.stop(t); code != 0 {
		t.Errorf("helix serve exit code = %d, want 0; stderr:\n%s", code, s.stderr.String())
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("helix serve took %v to stop", d)
	}
	if logs := s.stderr.String(); strings.Contains(logs, key) {
		t.Errorf("the API key appears in the log:\n%s", logs)
	}
}

func TestServeGeneratedKeyAndMissingModelKey(t *testing.T) {
	// No credential configured, no OPENAI_API_KEY: the server starts with a
	// generated key, says which variable to set, and runs fail cleanly.
	s := startServe(t, map[string]string{}, "--model", "openai:gpt-4o-mini")
	m := regexp.MustCompile(`generated one for this run: (\S+) `).FindStringSubmatch(s.stdout.String())
	if m == nil {
		t.Fatalf("no generated key in the banner:\n%s", s.stdout.String())
	}
	key := m[1]
	if !strings.Contains(s.stdout.String(), "Bearer "+key) {
		t.Errorf("the curl example does not use the generated key:\n%s", s.stdout.String())
	}
	if code, body := s.do(t, http.MethodPost, "/start", "wrong-key-0123456789", `{"agentType":"assistant","message":"hi"}`); code != http.StatusUnauthorized {
		t.Errorf("POST /start with a wrong key = %d %s, want 401", code, body)
	}
	code, body := s.do(t, http.MethodPost, "/start", key, `{"agentType":"assistant","sessionId":"nokey","message":"hi"}`)
	if code != http.StatusOK {
		t.Fatalf("POST /start with the generated key = %d %s", code, body)
	}
	events := s.streamUntilEnd(t, key, "nokey")
	if !strings.Contains(events, codeMissingKey) || !strings.Contains(events, `{"status":"failed"}`) {
		t.Errorf("a run without a model key: SSE stream:\n%s", events)
	}
	if code := s.stop(t); code != 0 {
		t.Errorf("exit code = %d, want 0", code)
	}
	stderr := s.stderr.String()
	if !strings.Contains(stderr, "OPENAI_API_KEY") || !strings.Contains(stderr, offlineHint) {
		t.Errorf("stderr does not say which variable to set:\n%s", stderr)
	}
	if strings.Contains(stderr, key) {
		t.Errorf("the generated key appears in the log:\n%s", stderr)
	}
}

func TestServeUnauthenticated(t *testing.T) {
	dir := t.TempDir()
	model := "scripted:" + writeFile(t, filepath.Join(dir, "s.json"), textScript)
	s := startServe(t, nil, "--model", model, "--allow-unauthenticated", "--rate-limit", "0")
	if strings.Contains(s.stdout.String(), "generated one") {
		t.Errorf("a key was generated with --allow-unauthenticated:\n%s", s.stdout.String())
	}
	code, body := s.do(t, http.MethodPost, "/start", "", `{"agentType":"assistant","sessionId":"anon","message":"hi"}`)
	if code != http.StatusOK {
		t.Fatalf("POST /start unauthenticated = %d %s", code, body)
	}
	if code := s.stop(t); code != 0 {
		t.Errorf("exit code = %d, want 0", code)
	}
	if !strings.Contains(s.stderr.String(), "AUTHENTICATION IS DISABLED") {
		t.Errorf("no warning about disabled authentication:\n%s", s.stderr.String())
	}
}

func TestServeTLS(t *testing.T) {
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServe(t, nil, "--tls-cert", certFile, "--tls-key", keyFile, "--api-key", "alice=alice-key-0123456789abcdef")
	if !strings.HasPrefix(s.url, "https://") {
		t.Fatalf("url %s", s.url)
	}
	pool := x509.NewCertPool()
	pool.AddCert(must(x509.ParseCertificate(der)))
	cl := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	res, err := cl.Get(s.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(page), "<html") || res.Header.Get("Content-Security-Policy") == "" {
		t.Fatalf("playground at /: %d %q", res.StatusCode, page[:min(len(page), 80)])
	}
	res, err = cl.Get(s.url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || res.TLS == nil {
		t.Fatalf("healthz over TLS: %d %v", res.StatusCode, res.TLS)
	}
	if code := s.stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestServeJWTLeeway: by default a JWT minted by a clock a few seconds
// ahead of the server's is accepted; --jwt-leeway 0 refuses it. A JWT
// whose subject is an API key's name is refused: it would act as that
// key's principal.
func TestServeJWTLeeway(t *testing.T) {
	secret := strings.Repeat("k", 32)
	ahead := time.Now().Add(5 * time.Second)
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "alice", "iat": ahead.Unix(), "nbf": ahead.Unix(), "exp": ahead.Add(time.Hour).Unix(),
	}).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		ok   bool
	}{
		{[]string{"--jwt-secret", secret}, true},
		{[]string{"--jwt-secret", secret, "--jwt-leeway", "0"}, false},
		{[]string{"--jwt-secret", secret, "--api-key", "bob=" + strings.Repeat("b", 32)}, true},
		{[]string{"--jwt-secret", secret, "--api-key", "alice=" + strings.Repeat("a", 32)}, false},
	} {
		o, err := parseServeFlags(tc.args, func(string) string { return "" }, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		as, err := o.auth()
		if err != nil {
			t.Fatal(err)
		}
		r := httptest.NewRequest("GET", "/sessions", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		p, err := as.authn.Authenticate(r)
		if (err == nil) != tc.ok || (tc.ok && p.ID != "alice") {
			t.Errorf("%q: principal %+v, error %v; want accepted %v", tc.args, p, err, tc.ok)
		}
	}
}

// TestEnvironmentSecrets: a provider key of no known shape and the store
// URL's password, as the process has them, never reach a log line.
func TestEnvironmentSecrets(t *testing.T) {
	env := map[string]string{"ANTHROPIC_API_KEY": "gsk_canary0a1b2c3d", "GEMINI_API_KEY": " ", "HOME": "/root"}
	got := environmentSecrets(func(k string) string { return env[k] }, "postgres://helix:pw-canary-77@db:5432/helix")
	if want := []string{"gsk_canary0a1b2c3d", "pw-canary-77"}; !slices.Equal(got, want) {
		t.Fatalf("environmentSecrets = %q, want %q", got, want)
	}
	var buf strings.Builder
	log := newLogger(&buf, "info", "text", got)
	log.Info("upstream said: key gsk_canary0a1b2c3d rejected", "detail", "auth pw-canary-77 failed")
	if strings.Contains(buf.String(), "canary") {
		t.Errorf("a secret reached the log: %s", buf.String())
	}
}

// TestServeSharedRateLimit: two helix serve processes on one Redis store
// share each principal's rate limit: the burst is granted once between
// them, not once per process.
func TestServeSharedRateLimit(t *testing.T) {
	u := os.Getenv("HELIX_TEST_REDIS_URL")
	if u == "" && os.Getenv("HELIX_REQUIRE_BACKENDS") != "" {
		t.Fatal("HELIX_REQUIRE_BACKENDS is set but HELIX_TEST_REDIS_URL is not")
	}
	if u == "" {
		t.Skip("set HELIX_TEST_REDIS_URL to run the shared rate-limit test")
	}
	prefix := "helixtest:" + randomHex(8) + ":"
	opt, err := redis.ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() {
		ctx := context.Background()
		if keys, _ := c.Keys(ctx, prefix+"*").Result(); len(keys) > 0 {
			c.Del(ctx, keys...)
		}
		c.Close()
	})
	storeURL := u + "?prefix=" + prefix
	if strings.Contains(u, "?") {
		storeURL = u + "&prefix=" + prefix
	}
	key := strings.Repeat("k", 32)
	args := []string{"--store", storeURL, "--api-key", "alice=" + key, "--rate-limit", "1", "--model", "scripted:" + writeFile(t, filepath.Join(t.TempDir(), "s.json"), textScript)}
	a, b := startServe(t, nil, args...), startServe(t, nil, args...)
	var codes []int
	for _, s := range []*testServer{a, b, a, b, a} { // burst: 3× 1/s
		code, _ := s.do(t, "GET", "/sessions", key, "")
		codes = append(codes, code)
	}
	if !slices.Equal(codes, []int{200, 200, 200, 429, 429}) {
		t.Errorf("statuses across the two processes: %v, want the burst of 3 then 429s", codes)
	}
}

// TestServeJWTReservedPrincipals: with JWTs on, a token naming the
// principal of helix run (and of the generated key) or the anonymous
// principal is refused: it would own those sessions of the same store.
func TestServeJWTReservedPrincipals(t *testing.T) {
	secret := strings.Repeat("k", 32)
	o, err := parseServeFlags([]string{"--jwt-secret", secret}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	as, err := o.auth()
	if err != nil {
		t.Fatal(err)
	}
	for sub, ok := range map[string]bool{"carol": true, localPrincipal: false, server.AnonymousPrincipal: false} {
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
			"sub": sub, "exp": time.Now().Add(time.Hour).Unix(),
		}).SignedString([]byte(secret))
		if err != nil {
			t.Fatal(err)
		}
		r := httptest.NewRequest("GET", "/sessions", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		if _, err := as.authn.Authenticate(r); (err == nil) != ok {
			t.Errorf("sub %q: error %v, want accepted %v", sub, err, ok)
		}
	}
}
