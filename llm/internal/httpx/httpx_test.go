package httpx

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/helix-agents/helix-go/llm"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestIdleClient(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow-headers" {
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		w.WriteHeader(200)
		for i := range 3 { // bytes arrive within the idle timeout: never cut
			fmt.Fprintf(w, "part %d\n", i)
			w.(http.Flusher).Flush()
			time.Sleep(60 * time.Millisecond)
		}
		if r.URL.Path == "/stall" {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
	}))
	defer srv.Close()
	defer close(release)
	c := Client(nil, 150*time.Millisecond)

	resp, err := c.Get(srv.URL + "/ok")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(b) != "part 0\npart 1\npart 2\n" {
		t.Fatalf("steady stream: %q, %v", b, err)
	}

	resp, err = c.Get(srv.URL + "/stall")
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !errors.Is(err, llm.ErrIdleTimeout) {
		t.Fatalf("stalled body: %v; want ErrIdleTimeout", err)
	}

	_, err = c.Get(srv.URL + "/slow-headers")
	if !errors.Is(err, llm.ErrIdleTimeout) {
		t.Fatalf("stalled headers: %v; want ErrIdleTimeout", err)
	}
	if ae, ok := TransportError(t.Context(), "p", err).(*llm.APIError); !ok || !ae.Retryable || !errors.Is(ae, llm.ErrIdleTimeout) {
		t.Fatalf("TransportError(idle) = %v", ae)
	}
}

func TestClientKeepsBase(t *testing.T) {
	base := &http.Client{Timeout: time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return nil }}
	if c := Client(base, 0); c == base || c.Timeout != time.Second || c.Transport != nil {
		t.Errorf("Client without idle timeout must copy base unchanged")
	}
	if c := Client(base, time.Second); c.Transport == nil || base.Transport != nil {
		t.Errorf("Client must wrap a copy, leaving base alone")
	}
}

func TestTransportError(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	opErr := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	for _, tc := range []struct {
		name      string
		ctx       context.Context
		err       error
		api       bool
		retryable bool
	}{
		{"refused", context.Background(), opErr, true, true},
		{"reset", context.Background(), fmt.Errorf("read: %w", syscall.ECONNRESET), true, true},
		{"eof mid-stream", context.Background(), io.ErrUnexpectedEOF, true, true},
		{"other", context.Background(), errors.New("tls: bad certificate"), true, false},
		{"tls record header in url.Error", context.Background(),
			&url.Error{Op: "Post", URL: "http://x", Err: tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}}, true, false},
		{"unknown authority in url.Error", context.Background(),
			&url.Error{Op: "Post", URL: "https://x", Err: &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}}, true, false},
		{"bare unknown authority in url.Error", context.Background(),
			&url.Error{Op: "Post", URL: "https://x", Err: x509.UnknownAuthorityError{}}, true, false},
		{"bad scheme in url.Error", context.Background(),
			&url.Error{Op: "Post", URL: "ftp://x", Err: errors.New(`unsupported protocol scheme "ftp"`)}, true, false},
		{"refused in url.Error", context.Background(), &url.Error{Op: "Post", URL: "https://x", Err: opErr}, true, true},
		{"timeout in url.Error", context.Background(), &url.Error{Op: "Post", URL: "https://x", Err: timeoutErr{}}, true, true},
		{"dial failure", context.Background(),
			&url.Error{Op: "Post", URL: "https://x", Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ENETUNREACH}}, true, true},
		{"dns not found", context.Background(),
			&url.Error{Op: "Post", URL: "https://x", Err: &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "x", IsNotFound: true}}}, true, false},
		{"dns temporary", context.Background(),
			&url.Error{Op: "Post", URL: "https://x", Err: &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "server misbehaving", Name: "x", IsTemporary: true}}}, true, true},
		{"aborted", context.Background(), fmt.Errorf("read: %w", syscall.ECONNABORTED), true, true},
		{"broken pipe", context.Background(), &url.Error{Op: "Post", URL: "https://x", Err: syscall.EPIPE}, true, true},
		{"eof in url.Error", context.Background(), &url.Error{Op: "Post", URL: "https://x", Err: io.EOF}, true, true},
		{"cancelled", cancelled, fmt.Errorf("wrapped: %w", context.Canceled), false, false},
		{"already APIError", context.Background(), &llm.APIError{Provider: "x", Status: 400}, true, false},
	} {
		got := TransportError(tc.ctx, "p", tc.err)
		var ae *llm.APIError
		if errors.As(got, &ae) != tc.api {
			t.Errorf("%s: %v: APIError = %v; want %v", tc.name, got, !tc.api, tc.api)
			continue
		}
		if llm.IsRetryable(got) != tc.retryable {
			t.Errorf("%s: retryable = %v; want %v", tc.name, !tc.retryable, tc.retryable)
		}
		if !tc.api && !errors.Is(got, context.Canceled) {
			t.Errorf("%s: %v; want the context's error", tc.name, got)
		}
	}
	if TransportError(context.Background(), "p", nil) != nil {
		t.Error("nil error must stay nil")
	}
	if !llm.IsRetryable(Truncated("p")) || !errors.Is(Truncated("p"), ErrTruncated) {
		t.Error("Truncated must be retryable and wrap ErrTruncated")
	}
	if llm.IsRetryable(Malformed("p", errors.New("bad"))) {
		t.Error("Malformed must not be retryable")
	}
}

// timeoutErr is a net.Error that timed out, as a dial or read deadline does.
type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestTransportErrorRealTLSFailures(t *testing.T) {
	plain := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer plain.Close()
	secure := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer secure.Close()
	c := &http.Client{Transport: &http.Transport{}}
	defer c.CloseIdleConnections()
	for name, u := range map[string]string{
		"https client, http server": "https://" + plain.Listener.Addr().String(),
		"untrusted certificate":     secure.URL,
	} {
		_, err := c.Get(u)
		if err == nil {
			t.Fatalf("%s: no error", name)
		}
		if llm.IsRetryable(TransportError(t.Context(), "p", err)) {
			t.Errorf("%s: %v classified retryable", name, err)
		}
	}
}
