package sse_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/server/sse"
)

func mustWriter(t testing.TB) (*sse.Writer, *httptest.ResponseRecorder) {
	t.Helper()
	rec := httptest.NewRecorder()
	w, err := sse.NewWriter(rec)
	if err != nil {
		t.Fatalf("NewWriter: %v", err)
	}
	return w, rec
}

func TestNewWriterHeaders(t *testing.T) {
	w, rec := mustWriter(t)
	_ = w
	want := map[string]string{
		"Content-Type":      "text/event-stream",
		"Cache-Control":     "no-cache",
		"X-Accel-Buffering": "no",
		"Connection":        "", // the recorder is not an HTTP/1.x writer
	}
	for k, v := range want {
		if got := rec.Header().Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	if rec.Code != http.StatusOK || !rec.Flushed {
		t.Errorf("code %d flushed %v, want 200 and flushed", rec.Code, rec.Flushed)
	}
}

// noFlush is a ResponseWriter that cannot flush.
type noFlush struct{ http.ResponseWriter }

type wrapper struct{ http.ResponseWriter }

func (w wrapper) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// http1 poses as net/http's HTTP/1.x writer (a Hijacker), reached through
// a middleware's Unwrap.
type http1 struct {
	*httptest.ResponseRecorder
	http.Hijacker
}

func TestNewWriterNoFlush(t *testing.T) {
	rec := httptest.NewRecorder()
	if _, err := sse.NewWriter(noFlush{rec}); !errors.Is(err, sse.ErrFlushUnsupported) {
		t.Fatalf("NewWriter(no flusher) = %v, want ErrFlushUnsupported", err)
	}
	if rec.Code != http.StatusOK || rec.Body.Len() != 0 || len(rec.Header()) != 0 {
		t.Errorf("NewWriter wrote something before failing: %v %q", rec.Header(), rec.Body)
	}
}

func TestNewWriterHTTP1KeepAlive(t *testing.T) {
	rec := httptest.NewRecorder()
	if _, err := sse.NewWriter(wrapper{http1{ResponseRecorder: rec}}); err != nil {
		t.Fatal(err)
	}
	if got := rec.Header().Get("Connection"); got != "keep-alive" {
		t.Errorf("Connection = %q, want keep-alive", got)
	}
}

func TestNewWriterRealServer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := sse.NewWriter(w); err != nil {
			t.Error(err)
		}
	}))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Connection"); got != "keep-alive" {
		t.Errorf("HTTP/1.1 Connection = %q, want keep-alive", got)
	}
}

func textDelta(seq int64, delta string) helix.Chunk {
	return helix.Chunk{
		Type: helix.ChunkTextDelta, SessionID: "s1", RunID: "r1", AgentType: "a",
		Step: 1, Timestamp: 1700000000000, Sequence: seq, Delta: delta,
	}
}

func TestFraming(t *testing.T) {
	tests := []struct {
		name  string
		write func(*sse.Writer) error
		want  string
	}{
		{"chunk", func(w *sse.Writer) error { return w.Chunk(textDelta(42, "hi")) },
			"id: 42\nevent: chunk\ndata: {\"type\":\"text_delta\",\"sessionId\":\"s1\",\"runId\":\"r1\",\"agentType\":\"a\",\"step\":1,\"timestamp\":1700000000000,\"sequence\":42,\"delta\":\"hi\"}\n\n"},
		{"chunk line breaks", func(w *sse.Writer) error { return w.Chunk(textDelta(7, "a\r\nb\u2028c\u2029d\re\n")) },
			"id: 7\nevent: chunk\ndata: {\"type\":\"text_delta\",\"sessionId\":\"s1\",\"runId\":\"r1\",\"agentType\":\"a\",\"step\":1,\"timestamp\":1700000000000,\"sequence\":7,\"delta\":\"a\\r\\nb\\u2028c\\u2029d\\re\\n\"}\n\n"},
		{"chunk pretty raw payload", func(w *sse.Writer) error {
			return w.Chunk(helix.Chunk{Type: helix.ChunkOutput, Sequence: 3, Output: json.RawMessage("{\n  \"a\": 1\r\n}")})
		}, "id: 3\nevent: chunk\ndata: {\"type\":\"output\",\"sessionId\":\"\",\"runId\":\"\",\"agentType\":\"\",\"step\":0,\"timestamp\":0,\"sequence\":3,\"output\":{\"a\":1}}\n\n"},
		{"end", func(w *sse.Writer) error { return w.End("completed") }, "event: end\ndata: {\"status\":\"completed\"}\n\n"},
		{"end escaped", func(w *sse.Writer) error { return w.End("x\r\ny\u2028") }, "event: end\ndata: {\"status\":\"x\\r\\ny\\u2028\"}\n\n"},
		{"ping", (*sse.Writer).Ping, ": ping\n\n"},
		{"comment", func(w *sse.Writer) error { return w.Comment("ping") }, ": ping\n\n"},
		{"comment empty", func(w *sse.Writer) error { return w.Comment("") }, ":\n\n"},
		{"comment injection", func(w *sse.Writer) error { return w.Comment("a\r\ndata: x\rb\n") }, ": a\n: data: x\n: b\n:\n\n"},
		{"retry", func(w *sse.Writer) error { return w.Retry(2500 * time.Millisecond) }, "retry: 2500\n\n"},
		{"retry zero", func(w *sse.Writer) error { return w.Retry(0) }, "retry: 0\n\n"},
		{"event", func(w *sse.Writer) error { return w.Event("error", []byte(`{"x":1}`)) }, "event: error\ndata: {\"x\":1}\n\n"},
		{"event multiline", func(w *sse.Writer) error { return w.Event("", []byte("a\r\nb\rc\n\n d")) }, "data: a\ndata: b\ndata: c\ndata:\ndata:  d\n\n"},
		{"event empty", func(w *sse.Writer) error { return w.Event("e", nil) }, "event: e\ndata:\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, rec := mustWriter(t)
			rec.Flushed = false
			if err := tt.write(w); err != nil {
				t.Fatal(err)
			}
			if got := rec.Body.String(); got != tt.want {
				t.Errorf("wrote\n%q\nwant\n%q", got, tt.want)
			}
			if !rec.Flushed {
				t.Error("event not flushed")
			}
		})
	}
}

func TestChunkStaysOnOneLine(t *testing.T) {
	w, rec := mustWriter(t)
	if err := w.Chunk(textDelta(1, "line1\r\nline2\u2028line3")); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(rec.Body.String(), "\n\n"), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[2], "data: ") || strings.ContainsRune(lines[2], '\r') {
		t.Fatalf("chunk framed as %q", lines)
	}
	var c helix.Chunk
	if err := json.Unmarshal([]byte(strings.TrimPrefix(lines[2], "data: ")), &c); err != nil {
		t.Fatal(err)
	}
	if c.Delta != "line1\r\nline2\u2028line3" || c.Sequence != 1 {
		t.Errorf("decoded delta %q sequence %d", c.Delta, c.Sequence)
	}
}

func TestWriterErrors(t *testing.T) {
	w, rec := mustWriter(t)
	if err := w.Chunk(textDelta(0, "x")); !errors.Is(err, sse.ErrNoSequence) {
		t.Errorf("Chunk(sequence 0) = %v, want ErrNoSequence", err)
	}
	if err := w.Chunk(textDelta(-1, "x")); !errors.Is(err, sse.ErrNoSequence) {
		t.Errorf("Chunk(sequence -1) = %v, want ErrNoSequence", err)
	}
	// An invalid raw payload cannot be compacted; its line break must not
	// reach the wire.
	bad := helix.Chunk{Type: helix.ChunkOutput, Sequence: 1, Output: json.RawMessage("{\n")}
	if err := w.Chunk(bad); !errors.Is(err, sse.ErrLineBreak) {
		t.Errorf("Chunk(invalid raw with LF) = %v, want ErrLineBreak", err)
	}
	for _, name := range []string{"a\nb", "a\r"} {
		if err := w.Event(name, nil); !errors.Is(err, sse.ErrLineBreak) {
			t.Errorf("Event(%q) = %v, want ErrLineBreak", name, err)
		}
	}
	if err := w.Retry(-time.Second); err == nil {
		t.Error("Retry(-1s) = nil, want error")
	}
	if rec.Body.Len() != 0 {
		t.Errorf("failed writes wrote %q", rec.Body)
	}
}

// discard is a flushing ResponseWriter that drops what it is given.
type discard struct{ h http.Header }

func (d discard) Header() http.Header       { return d.h }
func (discard) Write(b []byte) (int, error) { return len(b), nil }
func (discard) WriteHeader(int)             {}
func (discard) Flush()                      {}

func BenchmarkChunk(b *testing.B) {
	w, err := sse.NewWriter(discard{http.Header{}})
	if err != nil {
		b.Fatal(err)
	}
	c := textDelta(1, "The quick brown fox jumps over the lazy dog.\n")
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		c.Sequence = int64(i + 1)
		if err := w.Chunk(c); err != nil {
			b.Fatal(err)
		}
	}
}

// Write errors are returned, e.g. once the client is gone.
type failing struct{ discard }

func (failing) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

func TestWriteError(t *testing.T) {
	w, err := sse.NewWriter(failing{discard{http.Header{}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Ping(); err == nil || err.Error() != "broken pipe" {
		t.Errorf("Ping on a broken connection = %v, want broken pipe", err)
	}
}

// deadlineRecorder is a ResponseRecorder that records the write deadlines
// set through http.ResponseController.
type deadlineRecorder struct {
	*httptest.ResponseRecorder
	deadlines []time.Time
}

func (d *deadlineRecorder) SetWriteDeadline(t time.Time) error {
	d.deadlines = append(d.deadlines, t)
	return nil
}

// TestWriteTimeout: with a write timeout, every event is written under a
// deadline at least 15/16 of the timeout away, and the deadline is moved
// only when less than that is left, not once per event.
func TestWriteTimeout(t *testing.T) {
	rec := &deadlineRecorder{ResponseRecorder: httptest.NewRecorder()}
	w, err := sse.NewWriter(rec)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.deadlines) != 1 || !rec.deadlines[0].IsZero() {
		t.Fatalf("NewWriter set deadlines %v, want one cleared deadline", rec.deadlines)
	}
	check := func(timeout time.Duration, wantSets int) {
		t.Helper()
		before := len(rec.deadlines)
		start := time.Now()
		if err := w.Chunk(helix.Chunk{Type: helix.ChunkTextDelta, Sequence: 1, Delta: "a"}); err != nil {
			t.Fatal(err)
		}
		if got := len(rec.deadlines) - before; got != wantSets {
			t.Fatalf("event set %d deadlines, want %d", got, wantSets)
		}
		last := rec.deadlines[len(rec.deadlines)-1]
		if left := last.Sub(start); left < timeout-timeout/16 || left > timeout+time.Second {
			t.Fatalf("event written with %v left before the deadline, want about %v", left, timeout)
		}
	}
	w.SetWriteTimeout(30 * time.Second)
	check(30*time.Second, 1)
	check(30*time.Second, 0) // plenty left: not moved
	check(30*time.Second, 0)
	w.SetWriteTimeout(160 * time.Millisecond)
	check(160*time.Millisecond, 1) // a new timeout applies at once
	time.Sleep(20 * time.Millisecond)
	check(160*time.Millisecond, 1) // less than 15/16 left: moved
}
