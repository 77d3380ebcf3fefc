package httpx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
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
