package client

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	helix "github.com/helix-agents/helix-go"
)

// TestServerDelaysBounded: neither form of Retry-After nor an SSE retry
// field can park a stream for longer than maxServerDelay.
func TestServerDelaysBounded(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, v := range []string{"Fri, 31 Dec 9999 23:59:59 GMT", "99999999999"} {
		if got := parseRetryAfter(v, func() time.Time { return now }); got != maxServerDelay {
			t.Errorf("Retry-After %q: %v, want %v", v, got, maxServerDelay)
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "retry: 9000000000000\n\n") // ~285 years, then no end event
	}))
	defer srv.Close()
	c, err := New(srv.URL, Options{ReconnectDelay: time.Millisecond, MaxReconnectDelay: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s := c.Stream("s1", -1)
	if done, _, err := s.connect(t.Context(), func(helix.Chunk, error) bool { return true }); done {
		t.Fatalf("connect: done (%v), want a reconnect", err)
	}
	if d := s.delay(1); d != maxServerDelay {
		t.Fatalf("next reconnect in %v, want the bound %v", d, maxServerDelay)
	}
}

// TestDelayNoOverflow: a reconnect cap near the largest duration ("no
// cap") neither overflows the backoff nor panics.
func TestDelayNoOverflow(t *testing.T) {
	c, err := New("http://example.com", Options{ReconnectDelay: time.Second, MaxReconnectDelay: time.Duration(1<<63 - 1), MaxReconnects: 100})
	if err != nil {
		t.Fatal(err)
	}
	s := c.Stream("s", -1)
	prev := time.Duration(0)
	for n := 1; n <= 100; n++ {
		d := s.delay(n)
		if d <= 0 || (n > 40 && d < prev/4) {
			t.Fatalf("delay(%d) = %v after %v", n, d, prev)
		}
		prev = d
	}
}

// TestConnectionReuse: answers of every size leave the connection
// reusable (a chunked body read only up to its JSON value was not).
func TestConnectionReuse(t *testing.T) {
	for _, size := range []int{100, 3000, 20 << 10} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			var conns atomic.Int32
			big := strings.Repeat("x", size)
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				b, _ := json.Marshal(map[string]any{"sessionId": "s1", "agentType": big})
				_, _ = w.Write(append(b, '\n'))
			}))
			srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
				if st == http.StateNew {
					conns.Add(1)
				}
			}
			srv.Start()
			defer srv.Close()
			c, err := New(srv.URL, Options{})
			if err != nil {
				t.Fatal(err)
			}
			for range 5 {
				if _, err := c.Status(t.Context(), "s1"); err != nil {
					t.Fatal(err)
				}
			}
			if n := conns.Load(); n != 1 {
				t.Fatalf("5 calls opened %d connections, want 1", n)
			}
		})
	}
}
