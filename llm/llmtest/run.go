package llmtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/helix-agents/helix-go/llm"
)

// replay is the fake provider: it answers the n-th request with the n-th
// recording, after an optional transformation, and records what it was sent.
type replay struct {
	mu     sync.Mutex
	recs   []*Recording
	calls  []Call
	shape  func(body []byte) []byte // transforms the body; nil keeps it
	stall  int                      // ≥ 0: send this many bytes, then hang until the client leaves
	before time.Duration            // sleep before the headers
	gone   chan struct{}            // closed when a stalled client has left
	proxy  *url.URL                 // -record: forward here instead
	dir    string
	names  []string
}

func newReplay() *replay { return &replay{stall: -1, gone: make(chan struct{})} }

func (rp *replay) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rp.mu.Lock()
	i := len(rp.calls)
	rp.calls = append(rp.calls, Call{Path: r.URL.String(), Header: r.Header.Clone(), Body: body})
	rp.mu.Unlock()
	if rp.proxy != nil {
		rp.forward(w, r, body, i)
		return
	}
	if i >= len(rp.recs) {
		http.Error(w, fmt.Sprintf("llmtest: no cassette for call %d", i+1), http.StatusTeapot)
		return
	}
	rec := rp.recs[i]
	if rp.before > 0 {
		select {
		case <-r.Context().Done():
			close(rp.gone)
			return
		case <-time.After(rp.before):
		}
	}
	b := rec.Body
	if rp.shape != nil {
		b = rp.shape(b)
	}
	if rp.stall < 0 {
		rec.serve(w, b)
		return
	}
	rec.serve(w, b[:min(rp.stall, len(b))])
	<-r.Context().Done()
	close(rp.gone)
}

// forward sends the request to the real API and saves its answer.
func (rp *replay) forward(w http.ResponseWriter, r *http.Request, body []byte, i int) {
	u := *rp.proxy
	u.Path, u.RawQuery = r.URL.Path, r.URL.RawQuery
	req, err := http.NewRequestWithContext(r.Context(), r.Method, u.String(), bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	for k, v := range r.Header {
		if !strings.EqualFold(k, "Accept-Encoding") && !strings.EqualFold(k, "Content-Length") {
			req.Header[k] = v
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		http.Error(w, "llmtest: upstream unreachable", http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	rec := &Recording{Status: resp.StatusCode, Header: resp.Header, Body: b}
	if i < len(rp.names) {
		if err := WriteCassette(filepath.Join(rp.dir, rp.names[i]), rec); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	}
	rec.serve(w, b)
}

func (h *Harness) start(t *testing.T, rp *replay) Config {
	t.Helper()
	srv := httptest.NewServer(rp)
	t.Cleanup(srv.Close)
	return Config{BaseURL: srv.URL + upstreamPath(*h), APIKey: TestKey, Model: h.Model}
}

func (h *Harness) model(t *testing.T, cfg Config) llm.Model {
	t.Helper()
	m, err := h.New(cfg)
	if err != nil {
		t.Fatalf("Harness.New: %v", err)
	}
	return m
}

func (h *Harness) cassettes(t *testing.T, name string, n int) ([]*Recording, []string) {
	t.Helper()
	var recs []*Recording
	var names []string
	for i := 1; i <= n; i++ {
		f := fmt.Sprintf("%s.%d.http", name, i)
		names = append(names, f)
		if *record {
			continue
		}
		rec, err := ReadCassette(filepath.Join(h.dir(), f))
		if err != nil {
			t.Fatalf("cassette: %v", err)
		}
		recs = append(recs, rec)
	}
	return recs, names
}

// Run runs every conformance case against the adapter h describes.
func Run(t *testing.T, h Harness) {
	if h.New == nil || h.CheckRequest == nil || h.Provider == "" || h.Model == "" {
		t.Fatal("llmtest: Harness needs Provider, Model, New and CheckRequest")
	}
	for _, c := range Cases() {
		t.Run(c.Name, func(t *testing.T) { h.runCase(t, c) })
	}
	t.Run("cancel_mid_stream", h.cancelMidStream)
	t.Run("consumer_stops_early", h.consumerStopsEarly)
	t.Run("idle_timeout", h.idleTimeout)
	t.Run("truncated", h.truncated)
	t.Run("malformed_event", h.malformed)
	t.Run("connection_refused", h.connectionRefused)
	t.Run("key_echoed_in_error", h.keyEchoed)
}

func (h *Harness) runCase(t *testing.T, c Case) {
	recs, names := h.cassettes(t, c.Name, c.Calls)
	rp := newReplay()
	rp.recs, rp.names, rp.dir = recs, names, h.dir()
	key := TestKey
	if *record {
		if !c.Recordable {
			t.Skipf("-record: %s cannot be provoked on demand; keeping its cassette", c.Name)
		}
		key = os.Getenv(h.KeyEnv)
		if key == "" {
			t.Fatalf("-record needs %s", h.KeyEnv)
		}
		u, err := url.Parse(h.Upstream)
		if err != nil || h.Upstream == "" {
			t.Fatalf("-record needs Harness.Upstream")
		}
		u.Path = ""
		rp.proxy = u
	}
	if c.BadKey {
		key = "sk-helix-wrong-key-SECRET-000"
	}
	cfg := h.start(t, rp)
	cfg.APIKey = key
	m := h.model(t, cfg)
	var calls []Call
	for i := range c.Calls {
		req := c.Request(i, calls)
		if c.Reasoning && h.ReasoningModel != "" && req.Settings.Model == "" {
			req.Settings.Model = h.ReasoningModel
		}
		evs, err := collect(t, t.Context(), m, req, 10*time.Second)
		rp.mu.Lock()
		if len(rp.calls) != i+1 {
			rp.mu.Unlock()
			t.Fatalf("call %d: the adapter sent %d HTTP requests; want exactly 1 (SDK retries must be off)", i+1, len(rp.calls)-i)
		}
		call := rp.calls[i]
		rp.mu.Unlock()
		call.Events, call.Err = evs, err
		calls = append(calls, call)
		if err != nil && strings.Contains(err.Error(), key) {
			t.Errorf("call %d: error reveals the API key: %v", i+1, err)
		}
		if !headerHas(call.Header, key) {
			t.Errorf("call %d: the API key was not sent in any header", i+1)
		}
		if c.WantError {
			if err == nil {
				t.Fatalf("call %d succeeded; want an error", i+1)
			}
		} else {
			if err != nil {
				t.Fatalf("call %d: %v", i+1, err)
			}
			wellFormed(t, h, evs)
		}
		h.CheckRequest(t, c.Name, i, call.Body)
		golden(t, filepath.Join(h.dir(), fmt.Sprintf("%s.%d.events", c.Name, i+1)), transcript(evs, err))
	}
	c.Check(t, h, calls)
}

func headerHas(h http.Header, key string) bool {
	for _, vs := range h {
		for _, v := range vs {
			if strings.Contains(v, key) {
				return true
			}
		}
	}
	return false
}

// transcript renders events one per line, for golden files.
func transcript(evs []llm.Event, err error) []byte {
	var b bytes.Buffer
	for _, ev := range evs {
		switch ev.Type {
		case llm.EventTextDelta:
			fmt.Fprintf(&b, "text %q\n", ev.Text)
		case llm.EventThinkingDelta:
			fmt.Fprintf(&b, "thinking %q\n", ev.Text)
		case llm.EventThinkingEnd:
			fmt.Fprintf(&b, "thinking_end signature=%q redacted=%v\n", ev.Signature, ev.Redacted)
		case llm.EventToolCallStart:
			fmt.Fprintf(&b, "tool_call_start id=%s name=%s\n", ev.ToolCall.ID, ev.ToolCall.Name)
		case llm.EventToolCallDelta:
			fmt.Fprintf(&b, "tool_call_delta id=%s %q\n", ev.ToolCall.ID, ev.ArgsDelta)
		case llm.EventToolCall:
			fmt.Fprintf(&b, "tool_call id=%s name=%s args=%s\n", ev.ToolCall.ID, ev.ToolCall.Name, ev.ToolCall.Arguments)
		case llm.EventUsage:
			u := ev.Usage
			fmt.Fprintf(&b, "usage prompt=%d completion=%d reasoning=%d cached=%d total=%d\n",
				u.PromptTokens, u.CompletionTokens, u.ReasoningTokens, u.CachedTokens, u.TotalTokens)
		case llm.EventFinish:
			fmt.Fprintf(&b, "finish %s\n", ev.FinishReason)
		default:
			fmt.Fprintf(&b, "event %d\n", ev.Type)
		}
	}
	if err != nil {
		var ae *llm.APIError
		if errors.As(err, &ae) {
			fmt.Fprintf(&b, "error status=%d code=%q retryable=%v retryAfter=%v\n", ae.Status, ae.Code, ae.Retryable, ae.RetryAfter)
		} else {
			fmt.Fprintf(&b, "error %v\n", err)
		}
	}
	return b.Bytes()
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if update() || *record {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden transcript %s missing (run with -update): %v", path, err)
	}
	if !bytes.Equal(want, got) {
		t.Errorf("events differ from %s (run with -update if the change is intended)\n--- want\n%s--- got\n%s", path, want, got)
	}
}

// streamed loads the streamed_assembly cassette, the long answer the
// broken-stream cases cut up.
func (h *Harness) streamed(t *testing.T) *Recording {
	t.Helper()
	if *record {
		t.Skip("-record: broken-stream cases only replay")
	}
	recs, _ := h.cassettes(t, "streamed_assembly", 1)
	return recs[0]
}

func streamedReq() *llm.Request {
	return userReq("Count from 1 to 30, separated by single spaces, and nothing else.")
}

func (h *Harness) cancelMidStream(t *testing.T) {
	rec := h.streamed(t)
	rp := newReplay()
	rp.recs, rp.stall = []*Recording{rec}, len(rec.Body)/2
	m := h.model(t, h.start(t, rp))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		var last error
		for ev, err := range m.Stream(ctx, streamedReq()) {
			if err != nil {
				last = err
				break
			}
			if ev.Type == llm.EventTextDelta {
				cancel()
			}
		}
		done <- last
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("after cancel, Stream ended with %v; want context.Canceled", err)
		}
		if llm.IsRetryable(err) {
			t.Errorf("a cancelled call must not be retryable")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Stream did not return within 5s of cancel")
	}
	select {
	case <-rp.gone:
	case <-time.After(5 * time.Second):
		t.Error("the connection was not released within 5s of cancel")
	}
}

func (h *Harness) consumerStopsEarly(t *testing.T) {
	rec := h.streamed(t)
	rp := newReplay()
	rp.recs, rp.stall = []*Recording{rec}, len(rec.Body)/2
	m := h.model(t, h.start(t, rp))
	done := make(chan struct{})
	var sawText bool
	var streamErr error
	go func() {
		defer close(done)
		for ev, err := range m.Stream(t.Context(), streamedReq()) {
			if err != nil {
				streamErr = err
				break
			}
			if ev.Type == llm.EventTextDelta {
				sawText = true
				break
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("stopping iteration did not end the call within 5s")
	}
	if !sawText {
		t.Fatalf("Stream ended before any text delta (err %v); the consumer never got to stop early", streamErr)
	}
	select {
	case <-rp.gone:
	case <-time.After(5 * time.Second):
		t.Fatal("stopping iteration did not release the connection within 5s")
	}
}

func (h *Harness) idleTimeout(t *testing.T) {
	rec := h.streamed(t)
	for _, tc := range []struct {
		name   string
		stall  int
		before time.Duration
	}{
		{"mid_stream", len(rec.Body) / 2, 0},
		{"before_headers", -1, time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rp := newReplay()
			rp.recs, rp.stall, rp.before = []*Recording{rec}, tc.stall, tc.before
			cfg := h.start(t, rp)
			cfg.IdleTimeout = 300 * time.Millisecond
			m := h.model(t, cfg)
			_, err := collect(t, t.Context(), m, streamedReq(), 5*time.Second)
			var ae *llm.APIError
			if !errors.As(err, &ae) || !errors.Is(err, llm.ErrIdleTimeout) || !ae.Retryable || ae.Provider != h.Provider {
				t.Errorf("stalled stream ended with %v; want a retryable %s APIError wrapping llm.ErrIdleTimeout", err, h.Provider)
			}
		})
	}
}

func (h *Harness) truncated(t *testing.T) {
	rec := h.streamed(t)
	n := len(rec.Body)
	for _, frac := range []float64{0, 0.1, 0.25, 0.5, 0.6, 0.75, 0.9, 0.97, 0.99} {
		cut := int(float64(n) * frac)
		t.Run(fmt.Sprintf("at_%d_of_%d", cut, n), func(t *testing.T) {
			rp := newReplay()
			rp.recs = []*Recording{rec}
			rp.shape = func(b []byte) []byte { return b[:cut] }
			m := h.model(t, h.start(t, rp))
			evs, err := collect(t, t.Context(), m, streamedReq(), 5*time.Second)
			if err != nil {
				var ae *llm.APIError
				if !errors.As(err, &ae) {
					t.Fatalf("stream cut at %d/%d ended with %v (%T); want an *llm.APIError", cut, n, err, err)
				}
				if ae.Provider != h.Provider {
					t.Errorf("APIError.Provider = %q; want %q", ae.Provider, h.Provider)
				}
				if frac <= 0.6 && (!ae.Retryable || !llm.IsRetryable(err)) {
					t.Errorf("stream cut at %d/%d ended with non-retryable %v; a truncated stream is retryable", cut, n, err)
				}
			} else if frac <= 0.6 {
				t.Fatalf("stream cut at %d/%d succeeded; want a retryable *llm.APIError", cut, n)
			}
			if err == nil {
				// Cut after the answer was complete: it must be whole.
				wellFormed(t, h, evs)
			}
			for _, ev := range evs {
				if ev.Type == llm.EventFinish && err != nil {
					t.Errorf("EventFinish yielded and then an error %v", err)
				}
			}
		})
	}
}

func (h *Harness) malformed(t *testing.T) {
	if len(h.Malformed) == 0 {
		t.Fatal("Harness.Malformed is empty")
	}
	rec := h.streamed(t)
	rp := newReplay()
	rp.recs = []*Recording{rec}
	rp.shape = func(b []byte) []byte {
		from := len(b) / 3
		sep := []byte("\n\n")
		i := bytes.Index(b[from:], sep)
		if j := bytes.Index(b[from:], []byte("\r\n\r\n")); j >= 0 && (i < 0 || j < i) {
			i, sep = j, []byte("\r\n\r\n")
		}
		if i < 0 {
			t.Fatal("cassette has no event boundary")
		}
		i += from + len(sep)
		out := append([]byte{}, b[:i]...)
		out = append(out, h.Malformed...)
		return append(out, b[i:]...)
	}
	m := h.model(t, h.start(t, rp))
	_, err := collect(t, t.Context(), m, streamedReq(), 5*time.Second)
	var ae *llm.APIError
	if !errors.As(err, &ae) || ae.Provider != h.Provider {
		t.Errorf("malformed event: got %v; want an %s *llm.APIError", err, h.Provider)
	} else if ae.Retryable || llm.IsRetryable(err) {
		t.Errorf("malformed event: got retryable %v; an event the adapter cannot read is not retryable (httpx.Malformed)", err)
	}
	if err != nil && strings.Contains(err.Error(), TestKey) {
		t.Errorf("error reveals the key")
	}
}

func (h *Harness) connectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	m := h.model(t, Config{BaseURL: "http://" + addr + upstreamPath(*h), APIKey: TestKey, Model: h.Model})
	_, err = collect(t, t.Context(), m, streamedReq(), 5*time.Second)
	var ae *llm.APIError
	if !errors.As(err, &ae) || !ae.Retryable || ae.Status != 0 || ae.Provider != h.Provider {
		t.Errorf("refused connection: got %v; want a retryable %s APIError with Status 0", err, h.Provider)
	}
}

// keyEchoed replays the bad_request error with the API key written into the
// provider's error message, as a misbehaving proxy might: the adapter must
// keep the key out of the error it returns.
func (h *Harness) keyEchoed(t *testing.T) {
	if *record {
		t.Skip("-record: only replays")
	}
	recs, _ := h.cassettes(t, "bad_request", 1)
	rp := newReplay()
	rp.recs = recs
	rp.shape = func(b []byte) []byte {
		re := regexp.MustCompile(`"message"\s*:\s*"`)
		loc := re.FindIndex(b)
		if loc == nil {
			t.Fatal("bad_request cassette has no \"message\" field")
		}
		out := append([]byte{}, b[:loc[1]]...)
		out = append(out, "invalid key "+TestKey+": "...)
		return append(out, b[loc[1]:]...)
	}
	m := h.model(t, h.start(t, rp))
	_, err := collect(t, t.Context(), m, streamedReq(), 5*time.Second)
	var ae *llm.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("got %v; want an *llm.APIError", err)
	}
	if strings.Contains(err.Error(), TestKey) || strings.Contains(ae.Message, TestKey) || strings.Contains(ae.Code, TestKey) {
		t.Errorf("error reveals the API key: %v", err)
	}
}
