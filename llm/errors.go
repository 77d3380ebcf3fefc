package llm

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ErrIdleTimeout is the cause of an [*APIError] for a stream that stopped
// sending for longer than the adapter's idle timeout. Such an error is
// retryable.
var ErrIdleTimeout = errors.New("llm: stream idle timeout")

// APIError is a failure reported by a model provider. Retryable says whether
// sending the same request again may succeed; callers decide retries from it,
// never from the message text.
type APIError struct {
	// Provider names the adapter ("openai", "anthropic", "scripted", …).
	Provider string
	// Status is the HTTP status, or 0 when no response arrived.
	Status int
	// Code is the provider's machine-readable error code, if any.
	Code string
	// Message is the provider's description. It may contain request details:
	// log it, do not show it to end users.
	Message string
	// RetryAfter is the delay the provider asked for (Retry-After), or 0.
	RetryAfter time.Duration
	// Retryable reports whether the request may succeed if sent again.
	Retryable bool
	// Err is the underlying cause, if any.
	Err error
}

func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("llm: ")
	if e.Provider != "" {
		b.WriteString(e.Provider)
		b.WriteString(": ")
	}
	if e.Status != 0 {
		fmt.Fprintf(&b, "status %d", e.Status)
	} else {
		b.WriteString("request failed")
	}
	if e.Code != "" {
		fmt.Fprintf(&b, " (%s)", e.Code)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *APIError) Unwrap() error { return e.Err }

// RetryableStatus reports whether an HTTP status from a provider is worth
// retrying: 408, 409, 429 and every 5xx (529 "overloaded" included).
func RetryableStatus(status int) bool {
	return status == http.StatusRequestTimeout || status == http.StatusConflict ||
		status == http.StatusTooManyRequests || status >= 500
}

// NewStatusError returns an APIError for an HTTP status with the
// retryability of [RetryableStatus].
func NewStatusError(provider string, status int, message string) *APIError {
	return &APIError{Provider: provider, Status: status, Message: message, Retryable: RetryableStatus(status)}
}

// ParseRetryAfter reads a Retry-After header value (seconds or an HTTP date)
// relative to now. It returns 0 when the value is absent or unreadable.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// IsRetryable reports whether err is an [*APIError] marked retryable.
// Context errors are never retryable.
func IsRetryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var ae *APIError
	return errors.As(err, &ae) && ae.Retryable
}

// RetryPolicy is exponential backoff with full jitter. Its zero value retries
// 3 times starting at 500ms, capped at 30s.
type RetryPolicy struct {
	// MaxRetries is the number of retries after the first attempt.
	// 0 means 3; a negative value disables retries.
	MaxRetries int
	// BaseDelay is the first backoff (default 500ms).
	BaseDelay time.Duration
	// MaxDelay caps one backoff, including a provider's Retry-After
	// (default 30s).
	MaxDelay time.Duration
	// Sleep waits for d or until ctx is done; nil uses a timer. Tests inject
	// a recorder here.
	Sleep func(ctx context.Context, d time.Duration) error
	// Rand returns a float in [0,1); nil uses math/rand/v2.
	Rand func() float64
}

// Retries returns the effective number of retries.
func (p RetryPolicy) Retries() int {
	switch {
	case p.MaxRetries < 0:
		return 0
	case p.MaxRetries == 0:
		return 3
	}
	return p.MaxRetries
}

// Backoff returns the wait before retry number attempt (1-based) after err.
// A Retry-After from the provider is honoured (capped at MaxDelay); otherwise
// the wait is a random duration in [d/2, d] where d = BaseDelay·2^(attempt-1).
func (p RetryPolicy) Backoff(attempt int, err error) time.Duration {
	base, maxd := p.BaseDelay, p.MaxDelay
	if base <= 0 {
		base = 500 * time.Millisecond
	}
	if maxd <= 0 {
		maxd = 30 * time.Second
	}
	var ae *APIError
	if errors.As(err, &ae) && ae.RetryAfter > 0 {
		return min(ae.RetryAfter, maxd)
	}
	d := base
	for i := 1; i < attempt && d < maxd; i++ {
		d *= 2
	}
	d = min(d, maxd)
	r := rand.Float64
	if p.Rand != nil {
		r = p.Rand
	}
	return d/2 + time.Duration(r()*float64(d/2))
}

func (p RetryPolicy) sleep(ctx context.Context, d time.Duration) error {
	if p.Sleep != nil {
		return p.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// StreamWithRetry calls m.Stream and retries retryable failures that happen
// before the first event was yielded, waiting [RetryPolicy.Backoff] between
// attempts. A failure after output has been yielded is returned as is: the
// consumer has already seen part of the answer. onRetry, if non-nil, is
// called before each wait.
func StreamWithRetry(ctx context.Context, m Model, req *Request, p RetryPolicy, onRetry func(attempt int, err error, wait time.Duration)) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		for attempt := 0; ; attempt++ {
			yielded := false
			var failed error
			for ev, err := range m.Stream(ctx, req) {
				if err != nil {
					failed = err
					break
				}
				yielded = true
				if !yield(ev, nil) {
					return
				}
			}
			if failed == nil {
				return
			}
			if yielded || attempt >= p.Retries() || !IsRetryable(failed) || ctx.Err() != nil {
				yield(Event{}, failed)
				return
			}
			wait := p.Backoff(attempt+1, failed)
			if onRetry != nil {
				onRetry(attempt+1, failed, wait)
			}
			if err := p.sleep(ctx, wait); err != nil {
				yield(Event{}, err)
				return
			}
		}
	}
}
