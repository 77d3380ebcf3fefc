package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/client"
	"github.com/helix-agents/helix-go/server/sse"
)

// makeLog returns the chunks of one run with sequences 1..n: run_start,
// text deltas and a completed run_end.
func makeLog(n int) []helix.Chunk {
	log := make([]helix.Chunk, n)
	for i := range log {
		c := helix.Chunk{
			Type: helix.ChunkTextDelta, SessionID: "s1", RunID: "r1", AgentType: "assistant",
			Step: 1 + i/50, Timestamp: 1_700_000_000_000 + int64(i), Sequence: int64(i + 1),
			Delta: fmt.Sprintf("tok%d\n\"é\" ", i+1),
		}
		switch i {
		case 0:
			c.Type, c.Delta, c.Message = helix.ChunkRunStart, "", "hello"
		case n - 1:
			c.Type, c.Delta, c.Status = helix.ChunkRunEnd, "", helix.StatusCompleted
		}
		log[i] = c
	}
	return log
}

// frame returns the SSE frame of c as DESIGN §4 specifies it.
func frame(c helix.Chunk) string {
	b, err := c.MarshalJSON()
	if err != nil {
		panic(err)
	}
	return fmt.Sprintf("id: %d\nevent: chunk\ndata: %s\n\n", c.Sequence, b)
}

func endFrame(status string) string {
	return fmt.Sprintf("event: end\ndata: {\"status\":%q}\n\n", status)
}

// sseRequest is what the fake SSE server saw of one connection attempt.
type sseRequest struct {
	After       string // the after query parameter, "-" if absent
	LastEventID string // "-" if absent
	Auth        string
	At          time.Time
}

// sseServer is a fake GET /sse endpoint. serve answers connection n (0
// first). Requests are recorded before serve runs.
type sseServer struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []sseRequest // guarded by mu
}

func newSSEServer(t *testing.T, serve func(n int, w http.ResponseWriter, r *http.Request)) *sseServer {
	t.Helper()
	s := &sseServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/sse" || r.Method != http.MethodGet || r.URL.Query().Get("sessionId") != "s1" ||
			r.Header.Get("Accept") != "text/event-stream" {
			t.Errorf("unexpected request %s %s Accept %q", r.Method, r.URL, r.Header.Get("Accept"))
			http.Error(w, `{"error":"Invalid request body"}`, http.StatusBadRequest)
			return
		}
		req := sseRequest{After: "-", LastEventID: "-", Auth: r.Header.Get("Authorization"), At: time.Now()}
		if v, ok := r.URL.Query()["after"]; ok {
			req.After = v[0]
		}
		if v := r.Header.Values("Last-Event-ID"); len(v) > 0 {
			req.LastEventID = v[0]
		}
		s.mu.Lock()
		n := len(s.reqs)
		s.reqs = append(s.reqs, req)
		s.mu.Unlock()
		serve(n, w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *sseServer) requests() []sseRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sseRequest(nil), s.reqs...)
}

// startSSE writes the headers of an event stream.
func startSSE(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	_ = http.NewResponseController(w).Flush()
}

func write(w http.ResponseWriter, s string) {
	_, _ = io.WriteString(w, s)
	_ = http.NewResponseController(w).Flush()
}

// resumePoint returns the sequence a request resumes after, or 0.
func resumePoint(t *testing.T, r *http.Request) int64 {
	after, _, err := sse.ParseResume(r)
	if err != nil {
		t.Errorf("ParseResume: %v", err)
	}
	return after
}

// drop closes the connection abruptly.
func drop(t *testing.T, w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		t.Errorf("Hijack: %v", err)
		return
	}
	conn.Close()
}

// fastOptions reconnect at once, so tests do not wait.
func fastOptions() client.Options {
	return client.Options{
		HTTPClient:        &http.Client{},
		Token:             "key-1",
		ReconnectDelay:    time.Millisecond,
		MaxReconnectDelay: 2 * time.Millisecond,
	}
}

// collect iterates st and returns the sequences and the errors yielded.
func collect(ctx context.Context, st *client.Stream) (seqs []int64, errs []error) {
	for c, err := range st.Chunks(ctx) {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		seqs = append(seqs, c.Sequence)
	}
	return seqs, errs
}

func seqRange(from, to int64) []int64 {
	var s []int64
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}

// TestStreamSurvivesRandomDrops serves a fixed log of 500 chunks and ends
// each connection at a random point: a clean close, a close in the middle
// of an event, a close right after the headers, a 502 or 503, or a resend
// of chunks already sent. The client must yield 1..500 exactly once, in
// order, resuming each time from the last chunk it saw.
func TestStreamSurvivesRandomDrops(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			log := makeLog(500)
			var mu sync.Mutex
			rng := rand.New(rand.NewPCG(seed, 42)) // guarded by mu
			delivered := []int64{}                 // per connection: last complete chunk sent; guarded by mu

			srv := newSSEServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				defer mu.Unlock()
				after := resumePoint(t, r)
				last := after
				defer func() { delivered = append(delivered, last) }()
				switch p := rng.IntN(100); {
				case p < 8:
					w.Header().Set("Content-Type", "application/json")
					w.Header().Set("Retry-After", "0")
					w.WriteHeader(http.StatusServiceUnavailable)
					_, _ = io.WriteString(w, `{"error":"Service unavailable"}`)
					return
				case p < 12:
					w.Header().Set("Content-Type", "text/html")
					w.WriteHeader(http.StatusBadGateway)
					_, _ = io.WriteString(w, "<html>bad gateway</html>")
					return
				}
				startSSE(w)
				from := after + 1
				if rng.IntN(10) == 0 {
					from = max(1, after-3) // resend a few: the client must drop them
				}
				k := int64(rng.IntN(40))
				for seq := from; seq < from+k && seq <= int64(len(log)); seq++ {
					if rng.IntN(8) == 0 {
						write(w, ": ping\n\n")
					}
					write(w, frame(log[seq-1]))
					last = max(last, seq)
				}
				if last == int64(len(log)) && rng.IntN(3) > 0 {
					write(w, endFrame("completed"))
					return
				}
				switch rng.IntN(3) {
				case 0: // clean end of the response without an end event
				case 1: // half an event, then a dead connection
					if last < int64(len(log)) {
						f := frame(log[last])
						write(w, f[:rng.IntN(len(f))])
					}
					drop(t, w)
				case 2:
					drop(t, w)
				}
			})

			c := mustNew(t, srv.URL, fastOptions())
			c2 := c.Stream("s1", -1)
			seqs, errs := collect(t.Context(), c2)
			if len(errs) > 0 {
				t.Fatalf("Chunks yielded errors: %v", errs)
			}
			if diff := cmp.Diff(seqRange(1, 500), seqs); diff != "" {
				t.Fatalf("sequences (-want +got):\n%s", diff)
			}
			if got := c2.EndStatus(); got != helix.StatusCompleted {
				t.Errorf("EndStatus() = %q, want completed", got)
			}
			if got := c2.LastSequence(); got != 500 {
				t.Errorf("LastSequence() = %d, want 500", got)
			}

			reqs := srv.requests()
			if len(reqs) < 10 {
				t.Errorf("only %d connections: the test did not drop enough", len(reqs))
			}
			t.Logf("%d connections", len(reqs))
			if reqs[0].After != "-" || reqs[0].LastEventID != "-" {
				t.Errorf("first request: after %q, Last-Event-ID %q, want neither", reqs[0].After, reqs[0].LastEventID)
			}
			mu.Lock()
			defer mu.Unlock()
			var seen int64
			for i, r := range reqs {
				if r.Auth != "Bearer key-1" {
					t.Errorf("request %d: Authorization %q", i, r.Auth)
				}
				if i > 0 {
					seen = max(seen, delivered[i-1])
					want := strconv.FormatInt(seen, 10)
					if seen == 0 {
						want = "-"
					}
					if r.LastEventID != want || r.After != want {
						t.Errorf("request %d: Last-Event-ID %q, after %q, want %q", i, r.LastEventID, r.After, want)
					}
				}
			}
		})
	}
}

func TestStreamResumePoint(t *testing.T) {
	log := makeLog(10)
	srv := newSSEServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		startSSE(w)
		for _, c := range log[resumePoint(t, r):] {
			write(w, frame(c))
		}
		write(w, endFrame("completed"))
	})
	c := mustNew(t, srv.URL, fastOptions())
	st := c.Stream("s1", 6)
	seqs, errs := collect(t.Context(), st)
	if len(errs) > 0 || !cmp.Equal(seqs, seqRange(7, 10)) {
		t.Fatalf("Chunks() = %v, %v; want 7..10 and no error", seqs, errs)
	}
	if r := srv.requests()[0]; r.After != "6" {
		t.Errorf("after = %q, want 6", r.After)
	}
}

// TestStreamNotRetried checks that answers retrying cannot fix end the
// stream at once, with the matching sentinel.
func TestStreamNotRetried(t *testing.T) {
	tests := []struct {
		status int
		body   string
		want   error
	}{
		{401, `{"error":"Unauthorized"}`, client.ErrUnauthorized},
		{404, `{"error":"Not found"}`, client.ErrNotFound},
		{400, `{"error":"Invalid request body"}`, client.ErrBadRequest},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.status), func(t *testing.T) {
			srv := newSSEServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
			})
			c := mustNew(t, srv.URL, fastOptions())
			seqs, errs := collect(t.Context(), c.Stream("s1", -1))
			if len(seqs) != 0 || len(errs) != 1 || !errors.Is(errs[0], tt.want) {
				t.Fatalf("Chunks() = %v, %v; want one error matching %v", seqs, errs, tt.want)
			}
			var e *client.Error
			if !errors.As(errs[0], &e) || e.StatusCode != tt.status {
				t.Errorf("error %v is not a *client.Error with status %d", errs[0], tt.status)
			}
			if n := len(srv.requests()); n != 1 {
				t.Errorf("%d requests, want 1 (no retry)", n)
			}
		})
	}
}

// TestStreamGivesUp checks that MaxReconnects consecutive failures end the
// stream with the last failure, and that a chunk resets the count.
func TestStreamGivesUp(t *testing.T) {
	log := makeLog(10)
	srv := newSSEServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		// Connections 0 and 3 deliver one chunk each; all others fail.
		if n == 0 || n == 3 {
			startSSE(w)
			write(w, frame(log[resumePoint(t, r)]))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, `{"error":"Service unavailable"}`)
	})
	opts := fastOptions()
	opts.MaxReconnects = 3
	c := mustNew(t, srv.URL, opts)
	st := c.Stream("s1", -1)
	seqs, errs := collect(t.Context(), st)
	if !cmp.Equal(seqs, []int64{1, 2}) {
		t.Errorf("sequences = %v, want [1 2]", seqs)
	}
	if len(errs) != 1 || !errors.Is(errs[0], client.ErrUnavailable) {
		t.Fatalf("errors = %v, want one matching ErrUnavailable", errs)
	}
	// 0 delivers and drops, 1-2 fail, 3 delivers (the count restarts)
	// and drops, 4-6 fail: the third failed reconnect in a row gives up.
	if n := len(srv.requests()); n != 7 {
		t.Errorf("%d requests, want 7", n)
	}
	if st.EndStatus() != "" {
		t.Errorf("EndStatus() = %q after giving up, want empty", st.EndStatus())
	}
}

func TestStreamNoReconnect(t *testing.T) {
	srv := newSSEServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		startSSE(w)
	})
	opts := fastOptions()
	opts.MaxReconnects = -1
	c := mustNew(t, srv.URL, opts)
	_, errs := collect(t.Context(), c.Stream("s1", -1))
	if len(errs) != 1 || len(srv.requests()) != 1 {
		t.Fatalf("errors %v after %d requests; want one error after one request", errs, len(srv.requests()))
	}
}

func TestStreamRetryHint(t *testing.T) {
	const hint = 200 * time.Millisecond
	log := makeLog(5)
	srv := newSSEServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		startSSE(w)
		after := resumePoint(t, r)
		if n == 0 {
			// A shutting-down server: a few chunks, the hint, then closed.
			write(w, frame(log[0])+frame(log[1]))
			write(w, fmt.Sprintf("retry: %d\n\n", hint.Milliseconds()))
			return
		}
		for _, c := range log[after:] {
			write(w, frame(c))
		}
		write(w, endFrame("completed"))
	})
	c := mustNew(t, srv.URL, fastOptions())
	seqs, errs := collect(t.Context(), c.Stream("s1", -1))
	if len(errs) > 0 || !cmp.Equal(seqs, seqRange(1, 5)) {
		t.Fatalf("Chunks() = %v, %v; want 1..5", seqs, errs)
	}
	reqs := srv.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	if gap := reqs[1].At.Sub(reqs[0].At); gap < hint {
		t.Errorf("reconnected after %v, want at least the retry hint %v", gap, hint)
	}
	if reqs[1].LastEventID != "2" {
		t.Errorf("Last-Event-ID = %q, want 2", reqs[1].LastEventID)
	}
}

func TestStreamRetryAfter(t *testing.T) {
	srv := newSSEServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 0 {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = io.WriteString(w, `{"error":"Too many requests"}`)
			return
		}
		startSSE(w)
		write(w, endFrame("completed"))
	})
	c := mustNew(t, srv.URL, fastOptions())
	if _, errs := collect(t.Context(), c.Stream("s1", -1)); len(errs) > 0 {
		t.Fatal(errs)
	}
	reqs := srv.requests()
	if len(reqs) != 2 || reqs[1].At.Sub(reqs[0].At) < time.Second {
		t.Errorf("%d requests; want 2, the second at least Retry-After (1s) after the first", len(reqs))
	}
}

func TestStreamGap(t *testing.T) {
	log := makeLog(10)
	srv := newSSEServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		startSSE(w)
		write(w, frame(log[0])+frame(log[1])+frame(log[3])+frame(log[4]))
		write(w, endFrame("completed"))
	})
	c := mustNew(t, srv.URL, fastOptions())
	seqs, errs := collect(t.Context(), c.Stream("s1", -1))
	if !cmp.Equal(seqs, []int64{1, 2}) || len(errs) != 1 || !errors.Is(errs[0], client.ErrSequenceGap) {
		t.Fatalf("Chunks() = %v, %v; want [1 2] then ErrSequenceGap", seqs, errs)
	}
}

func TestStreamDropsDuplicates(t *testing.T) {
	log := makeLog(4)
	srv := newSSEServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		startSSE(w)
		write(w, frame(log[0])+frame(log[1])+frame(log[0])+frame(log[1])+frame(log[2])+frame(log[2])+frame(log[3]))
		write(w, endFrame("failed"))
	})
	c := mustNew(t, srv.URL, fastOptions())
	st := c.Stream("s1", -1)
	seqs, errs := collect(t.Context(), st)
	if !cmp.Equal(seqs, seqRange(1, 4)) || len(errs) != 0 {
		t.Fatalf("Chunks() = %v, %v; want 1..4", seqs, errs)
	}
	if st.EndStatus() != helix.StatusFailed {
		t.Errorf("EndStatus() = %q, want failed", st.EndStatus())
	}
}

func TestStreamProtocolErrors(t *testing.T) {
	tests := []struct {
		name string
		ct   string
		body string
	}{
		{"not an event stream", "text/html", "<html></html>"},
		{"invalid chunk", "text/event-stream", "id: 1\nevent: chunk\ndata: {nope\n\n"},
		{"id differs from sequence", "text/event-stream", "id: 2\nevent: chunk\ndata: {\"type\":\"text_delta\",\"sequence\":1}\n\n"},
		{"no sequence", "text/event-stream", "event: chunk\ndata: {\"type\":\"text_delta\"}\n\n"},
		{"invalid end", "text/event-stream", "event: end\ndata: {}\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newSSEServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tt.ct)
				write(w, tt.body)
			})
			c := mustNew(t, srv.URL, fastOptions())
			_, errs := collect(t.Context(), c.Stream("s1", -1))
			if len(errs) != 1 || !errors.Is(errs[0], client.ErrProtocol) {
				t.Fatalf("errors = %v, want one matching ErrProtocol", errs)
			}
			if n := len(srv.requests()); n != 1 {
				t.Errorf("%d requests, want 1", n)
			}
		})
	}
}

func TestStreamIgnoresUnknownEvents(t *testing.T) {
	log := makeLog(2)
	srv := newSSEServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		startSSE(w)
		write(w, frame(log[0])+"event: future\ndata: {}\n\n"+"data: plain message\n\n"+frame(log[1])+endFrame("completed"))
	})
	c := mustNew(t, srv.URL, fastOptions())
	seqs, errs := collect(t.Context(), c.Stream("s1", -1))
	if !cmp.Equal(seqs, []int64{1, 2}) || len(errs) != 0 {
		t.Fatalf("Chunks() = %v, %v; want [1 2]", seqs, errs)
	}
}

// TestStreamCancel cancels ctx while the client waits for data and while
// it waits to reconnect.
func TestStreamCancel(t *testing.T) {
	log := makeLog(10)
	t.Run("reading", func(t *testing.T) {
		srv := newSSEServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
			startSSE(w)
			write(w, frame(log[0])+frame(log[1]))
			<-r.Context().Done()
		})
		c := mustNew(t, srv.URL, fastOptions())
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		var seqs []int64
		var errs []error
		var canceledAt time.Time
		for ch, err := range c.Stream("s1", -1).Chunks(ctx) {
			if err != nil {
				errs = append(errs, err)
				continue
			}
			seqs = append(seqs, ch.Sequence)
			if ch.Sequence == 2 {
				canceledAt = time.Now()
				cancel()
			}
		}
		if !cmp.Equal(seqs, []int64{1, 2}) || len(errs) != 1 || errs[0] != context.Canceled {
			t.Fatalf("Chunks() = %v, %v; want [1 2] and context.Canceled", seqs, errs)
		}
		if d := time.Since(canceledAt); d > time.Second {
			t.Errorf("stopped %v after cancel", d)
		}
	})
	t.Run("backoff", func(t *testing.T) {
		srv := newSSEServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, `{"error":"Service unavailable"}`)
		})
		opts := fastOptions()
		opts.ReconnectDelay = time.Hour
		opts.MaxReconnectDelay = time.Hour
		c := mustNew(t, srv.URL, opts)
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		_, errs := collect(ctx, c.Stream("s1", -1))
		if len(errs) != 1 || errs[0] != context.DeadlineExceeded {
			t.Fatalf("errors = %v, want context.DeadlineExceeded", errs)
		}
	})
}

// TestStreamBreakAndContinue breaks out of the loop, then continues the
// same Stream: no chunk is lost or repeated.
func TestStreamBreakAndContinue(t *testing.T) {
	log := makeLog(10)
	srv := newSSEServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		startSSE(w)
		for _, c := range log[resumePoint(t, r):] {
			write(w, frame(c))
		}
		write(w, endFrame("completed"))
	})
	c := mustNew(t, srv.URL, fastOptions())
	st := c.Stream("s1", -1)
	var first []int64
	for ch, err := range st.Chunks(t.Context()) {
		if err != nil {
			t.Fatal(err)
		}
		first = append(first, ch.Sequence)
		if ch.Sequence == 3 {
			break
		}
	}
	if st.EndStatus() != "" || st.LastSequence() != 3 {
		t.Errorf("after break: EndStatus %q, LastSequence %d; want empty, 3", st.EndStatus(), st.LastSequence())
	}
	rest, errs := collect(t.Context(), st)
	if len(errs) > 0 || !cmp.Equal(append(first, rest...), seqRange(1, 10)) {
		t.Fatalf("sequences %v then %v, errors %v; want 1..10", first, rest, errs)
	}
	if st.EndStatus() != helix.StatusCompleted {
		t.Errorf("EndStatus() = %q, want completed", st.EndStatus())
	}
}

// TestStreamIdle drops a connection on which nothing arrives and
// reconnects; heartbeats and a slow consumer do not count as idle.
func TestStreamIdle(t *testing.T) {
	log := makeLog(3)
	t.Run("silent connection", func(t *testing.T) {
		srv := newSSEServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
			startSSE(w)
			if n == 0 {
				write(w, frame(log[0]))
				<-r.Context().Done() // a dead peer: no pings
				return
			}
			for _, c := range log[resumePoint(t, r):] {
				write(w, frame(c))
			}
			write(w, endFrame("completed"))
		})
		opts := fastOptions()
		opts.IdleTimeout = 100 * time.Millisecond
		c := mustNew(t, srv.URL, opts)
		seqs, errs := collect(t.Context(), c.Stream("s1", -1))
		if len(errs) > 0 || !cmp.Equal(seqs, seqRange(1, 3)) {
			t.Fatalf("Chunks() = %v, %v; want 1..3", seqs, errs)
		}
		if reqs := srv.requests(); len(reqs) != 2 || reqs[1].LastEventID != "1" {
			t.Errorf("requests = %+v, want 2, the second with Last-Event-ID 1", reqs)
		}
	})
	t.Run("pings and slow consumer", func(t *testing.T) {
		srv := newSSEServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
			startSSE(w)
			write(w, frame(log[0]))
			for range 6 {
				time.Sleep(40 * time.Millisecond)
				write(w, ": ping\n\n")
			}
			write(w, frame(log[1])+frame(log[2])+endFrame("completed"))
		})
		opts := fastOptions()
		opts.IdleTimeout = 100 * time.Millisecond
		c := mustNew(t, srv.URL, opts)
		var seqs []int64
		for ch, err := range c.Stream("s1", -1).Chunks(t.Context()) {
			if err != nil {
				t.Fatal(err)
			}
			seqs = append(seqs, ch.Sequence)
			if ch.Sequence == 2 {
				time.Sleep(250 * time.Millisecond) // longer than IdleTimeout
			}
		}
		if !cmp.Equal(seqs, seqRange(1, 3)) {
			t.Fatalf("sequences = %v, want 1..3", seqs)
		}
		if n := len(srv.requests()); n != 1 {
			t.Errorf("%d requests, want 1", n)
		}
	})
}

// TestStreamWithServerWriter runs the client against the framing of the
// server package (sse.Writer), which a real server uses, with a graceful
// shutdown in the middle: the first connection ends with a retry hint.
func TestStreamWithServerWriter(t *testing.T) {
	log := makeLog(50)
	srv := newSSEServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		after := resumePoint(t, r)
		sw, err := sse.NewWriter(w)
		if err != nil {
			t.Errorf("NewWriter: %v", err)
			return
		}
		end := len(log)
		if n == 0 {
			end = 20
		}
		chunks := func(yield func(helix.Chunk, error) bool) {
			for _, c := range log[after:end] {
				if !yield(c, nil) {
					return
				}
			}
		}
		opts := sse.RunOptions{Heartbeat: time.Millisecond}
		if n == 0 {
			opts.EndStatus = func(context.Context) (string, error) { return "", errors.New("shutting down") }
		}
		if err := sw.Run(r.Context(), chunks, opts); err != nil {
			_ = sw.Retry(30 * time.Millisecond)
		}
	})
	c := mustNew(t, srv.URL, fastOptions())
	st := c.Stream("s1", -1)
	seqs, errs := collect(t.Context(), st)
	if len(errs) > 0 || !cmp.Equal(seqs, seqRange(1, 50)) {
		t.Fatalf("Chunks() = %v, %v; want 1..50", seqs, errs)
	}
	if st.EndStatus() != helix.StatusCompleted {
		t.Errorf("EndStatus() = %q, want completed", st.EndStatus())
	}
	reqs := srv.requests()
	if len(reqs) != 2 || reqs[1].LastEventID != "20" || reqs[1].At.Sub(reqs[0].At) < 30*time.Millisecond {
		t.Errorf("requests = %+v; want 2, the second with Last-Event-ID 20 after the 30ms hint", reqs)
	}
}
