// Package httpx holds what the provider adapters share about HTTP: a
// transport that cuts stalled responses after an idle timeout, and the
// classification of transport failures into [llm.APIError].
package httpx

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"

	"github.com/helix-agents/helix-go/llm"
)

// DefaultIdleTimeout is the idle timeout adapters use when their option is 0:
// long enough for a reasoning model's silent thinking, short enough that a
// dead connection does not hold a run forever.
const DefaultIdleTimeout = 2 * time.Minute

// Client returns an HTTP client whose responses fail with
// [llm.ErrIdleTimeout] when no byte arrives for idle (headers included).
// base may be nil (http.DefaultTransport); idle ≤ 0 disables the timeout.
// The client has no overall timeout: a stream may last as long as it sends.
func Client(base *http.Client, idle time.Duration) *http.Client {
	c := &http.Client{}
	if base != nil {
		*c = *base
	}
	if idle <= 0 {
		return c
	}
	rt := c.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	c.Transport = &idleTransport{base: rt, idle: idle}
	return c
}

type idleTransport struct {
	base http.RoundTripper
	idle time.Duration
}

func (t *idleTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancelCause(req.Context())
	w := &watchdog{cancel: cancel, idle: t.idle}
	w.timer = time.AfterFunc(t.idle, w.fire)
	resp, err := t.base.RoundTrip(req.WithContext(ctx))
	if err != nil {
		w.stop()
		if w.fired() {
			return nil, llm.ErrIdleTimeout
		}
		return nil, err
	}
	w.timer.Reset(t.idle)
	resp.Body = &idleBody{rc: resp.Body, w: w}
	return resp, nil
}

// watchdog cancels a request when its timer fires.
type watchdog struct {
	cancel context.CancelCauseFunc
	idle   time.Duration
	timer  *time.Timer
	mu     sync.Mutex
	done   bool
}

func (w *watchdog) fire() {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
	w.cancel(llm.ErrIdleTimeout)
}

func (w *watchdog) fired() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.done
}

func (w *watchdog) stop() {
	w.timer.Stop()
	w.cancel(context.Canceled)
}

type idleBody struct {
	rc io.ReadCloser
	w  *watchdog
}

func (b *idleBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 {
		b.w.timer.Reset(b.w.idle)
	}
	if err != nil && err != io.EOF && b.w.fired() {
		return n, llm.ErrIdleTimeout
	}
	return n, err
}

func (b *idleBody) Close() error {
	b.w.stop()
	return b.rc.Close()
}

// TransportError classifies a failure that is not an HTTP error status: a
// cancelled or expired ctx is returned as the context's error (never
// retryable), an idle timeout and network failures (timeouts, refused,
// reset, aborted or broken connections, EOF mid-stream, temporary DNS
// failures, failed dials) become a retryable [*llm.APIError] with Status 0,
// and anything else, TLS and certificate failures and unknown hosts included,
// a non-retryable one. err must not carry secrets; callers pass
// errors from the HTTP stack, which name the URL but never headers.
func TransportError(ctx context.Context, provider string, err error) error {
	if err == nil {
		return nil
	}
	var ae *llm.APIError
	if errors.As(err, &ae) {
		return err
	}
	if ctx.Err() != nil && !errors.Is(err, llm.ErrIdleTimeout) {
		return context.Cause(ctx)
	}
	e := &llm.APIError{Provider: provider, Message: err.Error(), Err: err}
	if errors.Is(err, llm.ErrIdleTimeout) {
		e.Message, e.Retryable = "stream idle timeout", true
		return e
	}
	e.Retryable = retryableNetwork(err)
	return e
}

// retryableNetwork reports whether err is a network failure worth retrying.
// Every http.Client error is a *url.Error, which implements net.Error, so
// "is a net.Error" says nothing: only timeouts, dropped or refused
// connections, temporary DNS failures and dial failures count. TLS and
// certificate failures, unknown hosts and protocol mistakes (bad scheme, an
// HTTPS client talking to an HTTP server) would fail again the same way.
func retryableNetwork(err error) bool {
	var (
		recErr   tls.RecordHeaderError
		alertErr tls.AlertError
		verErr   *tls.CertificateVerificationError
		authErr  x509.UnknownAuthorityError
		certErr  x509.CertificateInvalidError
		hostErr  x509.HostnameError
		sysErr   x509.SystemRootsError
		dnsErr   *net.DNSError
		opErr    *net.OpError
		ne       net.Error
	)
	switch {
	case errors.As(err, &recErr), errors.As(err, &alertErr), errors.As(err, &verErr),
		errors.As(err, &authErr), errors.As(err, &certErr), errors.As(err, &hostErr),
		errors.As(err, &sysErr):
		return false
	case errors.As(err, &dnsErr):
		return !dnsErr.IsNotFound && (dnsErr.IsTemporary || dnsErr.IsTimeout)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EPIPE):
		return true
	case errors.As(err, &ne) && ne.Timeout():
		return true
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return true
	}
	return false
}

// ErrTruncated is the cause of the error an adapter returns when a stream
// ends without the provider's end-of-answer event.
var ErrTruncated = errors.New("stream ended before the answer was complete")

// Truncated returns the retryable [*llm.APIError] for a stream that ended
// early.
func Truncated(provider string) error {
	return &llm.APIError{Provider: provider, Message: ErrTruncated.Error(), Retryable: true, Err: ErrTruncated}
}

// Malformed returns the non-retryable [*llm.APIError] for a stream event the
// adapter could not read. cause should describe the event's shape, not echo
// its content.
func Malformed(provider string, cause error) error {
	return &llm.APIError{Provider: provider, Message: "malformed stream: " + cause.Error(), Err: cause}
}
