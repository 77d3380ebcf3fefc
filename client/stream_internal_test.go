package client

import (
	"testing"
	"time"
)

func TestDelay(t *testing.T) {
	c, err := New("http://example.com", Options{ReconnectDelay: 100 * time.Millisecond, MaxReconnectDelay: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		n          int
		retry      time.Duration
		retryAfter time.Duration
		lo, hi     time.Duration
	}{
		{1, 0, 0, 50 * time.Millisecond, 100 * time.Millisecond},
		{2, 0, 0, 100 * time.Millisecond, 200 * time.Millisecond},
		{4, 0, 0, 400 * time.Millisecond, 800 * time.Millisecond},
		{5, 0, 0, 500 * time.Millisecond, time.Second}, // capped
		{1000, 0, 0, 500 * time.Millisecond, time.Second},
		{1, 3 * time.Second, 0, 3 * time.Second, 3 * time.Second}, // server hint
		{1, 0, 2 * time.Second, 2 * time.Second, 2 * time.Second}, // Retry-After
	}
	for _, tt := range tests {
		s := c.Stream("s", -1)
		s.retry = tt.retry
		for range 100 {
			s.retryAfter = tt.retryAfter
			if d := s.delay(tt.n); d < tt.lo || d > tt.hi {
				t.Fatalf("delay(%d) with retry %v, Retry-After %v = %v, want in [%v, %v]", tt.n, tt.retry, tt.retryAfter, d, tt.lo, tt.hi)
			}
			if s.retryAfter != 0 {
				t.Fatalf("delay(%d) kept Retry-After %v; it applies once", tt.n, s.retryAfter)
			}
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"3", 3 * time.Second},
		{" 3 ", 3 * time.Second},
		{"-1", 0},
		{"soon", 0},
		{"999999999999", 24 * time.Hour},
		{"Thu, 01 Jan 2026 00:00:10 GMT", 10 * time.Second},
		{"Wed, 31 Dec 2025 23:59:00 GMT", 0},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.in, func() time.Time { return now }); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
