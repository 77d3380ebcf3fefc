package llm_test

import (
	"context"
	"errors"
	"iter"
	"testing"
	"time"

	"github.com/helix-agents/helix-go/llm"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		in   string
		want time.Duration
	}{
		{"", 0}, {"3", 3 * time.Second}, {"0.5", 500 * time.Millisecond}, {"-1", 0}, {"soon", 0},
		{"Thu, 01 Jan 2026 00:00:10 GMT", 10 * time.Second},
		{"Wed, 31 Dec 2025 23:59:00 GMT", 0},
	}
	for _, c := range cases {
		if got := llm.ParseRetryAfter(c.in, now); got != c.want {
			t.Errorf("ParseRetryAfter(%q) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestRetryableStatus(t *testing.T) {
	for status, want := range map[int]bool{400: false, 401: false, 403: false, 404: false, 408: true, 429: true, 500: true, 503: true, 529: true} {
		if got := llm.RetryableStatus(status); got != want {
			t.Errorf("RetryableStatus(%d) = %v, want %v", status, got, want)
		}
	}
	if llm.IsRetryable(context.Canceled) || llm.IsRetryable(errors.New("x")) {
		t.Error("IsRetryable accepts non-API errors")
	}
}

func TestBackoff(t *testing.T) {
	p := llm.RetryPolicy{BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second, Rand: func() float64 { return 1 }}
	for attempt, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond, 5: time.Second, 9: time.Second} {
		if got := p.Backoff(attempt, errors.New("x")); got != want {
			t.Errorf("Backoff(%d) = %v, want %v", attempt, got, want)
		}
	}
	p.Rand = func() float64 { return 0 }
	if got := p.Backoff(2, nil); got != 100*time.Millisecond {
		t.Errorf("jitter floor = %v, want half the delay", got)
	}
	ra := &llm.APIError{Status: 429, Retryable: true, RetryAfter: 700 * time.Millisecond}
	if got := p.Backoff(1, ra); got != 700*time.Millisecond {
		t.Errorf("Backoff honours Retry-After: got %v", got)
	}
	ra.RetryAfter = time.Hour
	if got := p.Backoff(1, ra); got != time.Second {
		t.Errorf("Retry-After is capped at MaxDelay: got %v", got)
	}
	if (llm.RetryPolicy{}).Retries() != 3 || (llm.RetryPolicy{MaxRetries: -1}).Retries() != 0 {
		t.Error("Retries defaults")
	}
}

// failing fails its first n calls with err, then answers "ok"; after
// partial it fails mid-answer instead.
type failing struct {
	n, calls int
	err      error
	partial  bool
}

func (f *failing) Stream(ctx context.Context, req *llm.Request) iter.Seq2[llm.Event, error] {
	return func(yield func(llm.Event, error) bool) {
		f.calls++
		if f.partial {
			if yield(llm.Event{Type: llm.EventTextDelta, Text: "par"}, nil) {
				yield(llm.Event{}, f.err)
			}
			return
		}
		if f.calls <= f.n {
			yield(llm.Event{}, f.err)
			return
		}
		yield(llm.Event{Type: llm.EventTextDelta, Text: "ok"}, nil)
	}
}

func TestStreamWithRetry(t *testing.T) {
	retryable := &llm.APIError{Status: 503, Retryable: true, RetryAfter: 2 * time.Second}
	var waits []time.Duration
	p := llm.RetryPolicy{MaxRetries: 2, Sleep: func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }}
	cases := []struct {
		name      string
		m         *failing
		wantCalls int
		wantErr   bool
	}{
		{"succeeds after retries", &failing{n: 2, err: retryable}, 3, false},
		{"gives up", &failing{n: 5, err: retryable}, 3, true},
		{"not retryable", &failing{n: 1, err: &llm.APIError{Status: 401}}, 1, true},
		{"no retry after output", &failing{partial: true, err: retryable}, 1, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			waits = nil
			var text string
			var err error
			for ev, e := range llm.StreamWithRetry(t.Context(), c.m, &llm.Request{}, p, nil) {
				if e != nil {
					err = e
					break
				}
				text += ev.Text
			}
			if c.m.calls != c.wantCalls || (err != nil) != c.wantErr {
				t.Errorf("calls = %d, err = %v; want %d calls, error %v", c.m.calls, err, c.wantCalls, c.wantErr)
			}
			if !c.wantErr && text != "ok" {
				t.Errorf("text = %q", text)
			}
			for _, w := range waits {
				if w != 2*time.Second {
					t.Errorf("wait %v, want the provider's Retry-After 2s", w)
				}
			}
		})
	}
}

func TestAPIErrorMessage(t *testing.T) {
	err := &llm.APIError{Provider: "openai", Status: 429, Code: "rate_limit", Message: "slow down"}
	if got := err.Error(); got != "llm: openai: status 429 (rate_limit): slow down" {
		t.Errorf("Error() = %q", got)
	}
}
