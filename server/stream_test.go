package server

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/llm/scripted"
	"github.com/helix-agents/helix-go/runtime/local"
	"github.com/helix-agents/helix-go/server/api"
	"github.com/helix-agents/helix-go/server/sse"
	"github.com/helix-agents/helix-go/store"
	"github.com/helix-agents/helix-go/store/memstore"
	"github.com/helix-agents/helix-go/store/sqlitestore"
)

func TestSSEStream(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	id := h.start(aliceKey, "echo")
	code, evs := h.sseEvents("/sse?sessionId="+id, aliceKey, nil)
	if code != 200 {
		t.Fatalf("sse: %d", code)
	}
	chunks, end := chunksOf(t, evs)
	if end != "completed" {
		t.Fatalf("end %q", end)
	}
	if chunks[0].Type != helix.ChunkRunStart || chunks[len(chunks)-1].Type != helix.ChunkRunEnd {
		t.Fatalf("chunks %v … %v", chunks[0].Type, chunks[len(chunks)-1].Type)
	}
	var text strings.Builder
	for _, c := range chunks {
		text.WriteString(c.Delta)
	}
	if text.String() != "hello from helix" {
		t.Fatalf("text %q", text.String())
	}
	// A second turn: a stream without after starts at the new run.
	r := h.do("POST", "/start", aliceKey, map[string]any{"agentType": "echo", "sessionId": id, "message": "again"})
	if r.status != 200 {
		t.Fatalf("second turn: %d %s", r.status, r.body)
	}
	_, evs = h.sseEvents("/sse?sessionId="+id, aliceKey, nil)
	second, end := chunksOf(t, evs)
	if second[0].Sequence != chunks[len(chunks)-1].Sequence+1 || second[0].Type != helix.ChunkRunStart || end != "failed" {
		t.Fatalf("second run starts at %d (%s), end %s", second[0].Sequence, second[0].Type, end)
	}
	// Resume points: after= and Last-Event-ID (which wins).
	_, evs = h.sseEvents("/sse?sessionId="+id+"&after=3", aliceKey, nil)
	got, _ := chunksOf(t, evs)
	if got[0].Sequence != 4 {
		t.Fatalf("after=3 starts at %d", got[0].Sequence)
	}
	_, evs = h.sseEvents("/sse?sessionId="+id+"&after=3", aliceKey, map[string]string{"Last-Event-ID": "5"})
	got, _ = chunksOf(t, evs)
	if got[0].Sequence != 6 {
		t.Fatalf("Last-Event-ID 5 starts at %d", got[0].Sequence)
	}
	for _, bad := range []string{"&after=-1", "&after=x", "&after=1&after=2"} {
		if r := h.do("GET", "/sse?sessionId="+id+bad, aliceKey, nil); r.status != 400 || r.body != bodyBadRequest {
			t.Errorf("%s: %d %s", bad, r.status, r.body)
		}
	}
}

// TestSSEResumeRandomDisconnects reads a long run over many connections,
// each cut at a random point, resuming with Last-Event-ID; the chunks
// received must be exactly the stored log: no gap, no duplicate.
func TestSSEResumeRandomDisconnects(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	id := h.start(aliceKey, "slow")
	rng := rand.New(rand.NewPCG(1, 2))
	var got []helix.Chunk
	last := int64(-1)
	end := ""
	for conn := 0; end == "" && conn < 1000; conn++ {
		req, _ := http.NewRequest("GET", h.ts.URL+"/sse?sessionId="+id, nil)
		req.Header.Set("Authorization", "Bearer "+aliceKey)
		if last >= 0 {
			req.Header.Set("Last-Event-ID", strconv.FormatInt(last, 10))
		}
		ctx, cancel := context.WithCancel(context.Background())
		res, err := h.ts.Client().Do(req.WithContext(ctx))
		if err != nil {
			t.Fatal(err)
		}
		budget := 1 + rng.IntN(40)
		for ev, err := range sse.Decode(res.Body) {
			if err != nil {
				break
			}
			if ev.Name == "end" {
				var e struct{ Status string }
				_ = json.Unmarshal([]byte(ev.Data), &e)
				end = e.Status
				break
			}
			if ev.Name != "chunk" {
				continue
			}
			var c helix.Chunk
			if err := json.Unmarshal([]byte(ev.Data), &c); err != nil {
				t.Fatal(err)
			}
			got = append(got, c)
			last = c.Sequence
			if budget--; budget == 0 {
				break
			}
		}
		cancel() // drop the connection mid-stream
		res.Body.Close()
	}
	if end != "completed" {
		t.Fatalf("stream did not end: %q", end)
	}
	stored, err := h.st.ReadChunks(context.Background(), id, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(stored) {
		t.Fatalf("received %d chunks, stored %d", len(got), len(stored))
	}
	for i := range stored {
		if got[i].Sequence != stored[i].Sequence || got[i].Type != stored[i].Type || got[i].Delta != stored[i].Delta {
			t.Fatalf("chunk %d: got %d %s %q, stored %d %s %q", i, got[i].Sequence, got[i].Type, got[i].Delta,
				stored[i].Sequence, stored[i].Type, stored[i].Delta)
		}
	}
}

func TestStreamTokens(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	id := h.start(aliceKey, "echo")
	other := h.start(aliceKey, "echo")
	h.wait(id)
	r := h.do("POST", "/stream-token", aliceKey, map[string]any{"sessionId": id})
	var tok api.StreamToken
	if err := json.Unmarshal([]byte(r.body), &tok); err != nil || r.status != 200 || !strings.HasPrefix(tok.Token, "hst1.") {
		t.Fatalf("stream-token: %d %s", r.status, r.body)
	}
	if d := time.Until(tok.ExpiresAt); d <= 0 || d > 6*time.Minute {
		t.Fatalf("expiresAt %v", tok.ExpiresAt)
	}
	code, evs := h.sseEvents("/sse?sessionId="+id+"&token="+tok.Token, "", nil)
	if _, end := chunksOf(t, evs); code != 200 || end != "completed" {
		t.Fatalf("sse with token: %d %q", code, end)
	}
	// Bound to its session, refused as a bearer token and on other routes.
	for _, c := range []struct{ path, key string }{
		{"/sse?sessionId=" + other + "&token=" + tok.Token, ""},
		{"/status?sessionId=" + id + "&token=" + tok.Token, ""},
		{"/status?sessionId=" + id, tok.Token},
		{"/sse?sessionId=" + id + "&token=" + tok.Token + "x", ""},
		{"/sse?sessionId=" + id + "&token=" + tok.Token, aliceKey}, // two credentials
	} {
		if r := h.do("GET", c.path, c.key, nil); r.status != 401 || r.body != bodyUnauthorized {
			t.Errorf("%s (key %v): %d %s", c.path, c.key != "", r.status, r.body)
		}
	}
	// Without StreamTokens the route does not exist.
	h2 := newHarness(t, harnessConfig{opts: func(o *Options) { o.StreamTokens = nil }})
	id2 := h2.start(aliceKey, "echo")
	if r := h2.do("POST", "/stream-token", aliceKey, map[string]any{"sessionId": id2}); r.status != 404 {
		t.Fatalf("stream-token disabled: %d", r.status)
	}
}

func TestWebSocket(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	id := h.start(aliceKey, "echo")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	wsURL := "ws" + strings.TrimPrefix(h.ts.URL, "http") + "/ws?sessionId=" + id
	c, _, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + aliceKey}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	var chunks []helix.Chunk
	for {
		typ, data, err := c.Read(ctx)
		if err != nil {
			if websocket.CloseStatus(err) != websocket.StatusNormalClosure {
				t.Fatalf("close: %v", err)
			}
			var ce websocket.CloseError
			if !errorsAs(err, &ce) || ce.Reason != "completed" {
				t.Fatalf("close reason: %v", err)
			}
			break
		}
		if typ != websocket.MessageText {
			t.Fatalf("message type %v", typ)
		}
		var ch helix.Chunk
		if err := json.Unmarshal(data, &ch); err != nil {
			t.Fatal(err)
		}
		chunks = append(chunks, ch)
	}
	stored, _ := h.st.ReadChunks(ctx, id, 0, 0)
	if len(chunks) != len(stored) || chunks[len(chunks)-1].Type != helix.ChunkRunEnd {
		t.Fatalf("ws got %d chunks, stored %d", len(chunks), len(stored))
	}
	// after= works on WebSocket too; a foreign origin is refused.
	c2, _, err := websocket.Dial(ctx, wsURL+"&after=4", &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + aliceKey}}})
	if err != nil {
		t.Fatal(err)
	}
	_, data, err := c2.Read(ctx)
	if err != nil || !strings.Contains(string(data), `"sequence":5`) {
		t.Fatalf("after=4: %s %v", data, err)
	}
	c2.CloseNow()
	_, res, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPHeader: http.Header{
		"Authorization": {"Bearer " + aliceKey}, "Origin": {"https://evil.example"}}})
	if err == nil || res == nil || res.StatusCode != http.StatusForbidden {
		t.Fatalf("foreign origin: %v %v", res, err)
	}
}

// TestWSOrigin: which browser origins may open a WebSocket. The allow-list
// is compared whole, so allowing an https origin does not allow the same
// host over plain http.
func TestWSOrigin(t *testing.T) {
	tests := []struct {
		name   string
		allow  []string
		origin string
		host   string
		want   bool
	}{
		{"no origin (not a browser)", nil, "", "api.example", true},
		{"same host", nil, "https://api.example", "api.example", true},
		{"same host, other case", nil, "https://API.example", "api.example", true},
		{"same host, other port", nil, "https://api.example:8443", "api.example", false},
		{"foreign, no list", nil, "https://evil.example", "api.example", false},
		{"listed", []string{"https://app.example"}, "https://app.example", "api.example", true},
		{"listed host over http", []string{"https://app.example"}, "http://app.example", "api.example", false},
		{"listed host, other port", []string{"https://app.example"}, "https://app.example:444", "api.example", false},
		{"any", []string{"*"}, "http://whatever.example", "api.example", true},
		{"not a URL", nil, "null", "api.example", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, harnessConfig{opts: func(o *Options) { o.CORSOrigins = tt.allow }})
			r := httptest.NewRequest("GET", "/ws", nil)
			r.Host = tt.host
			if tt.origin != "" {
				r.Header.Set("Origin", tt.origin)
			}
			if got := h.srv.wsOriginAllowed(r); got != tt.want {
				t.Errorf("origin %q to host %q, allow-list %v: allowed %v, want %v", tt.origin, tt.host, tt.allow, got, tt.want)
			}
		})
	}
	// Refused: 403 with the fixed body, before any upgrade.
	h := newHarness(t, harnessConfig{opts: func(o *Options) { o.CORSOrigins = []string{"https://app.example"} }})
	id := h.start(aliceKey, "echo")
	r := h.doHeaders("GET", "/ws?sessionId="+id, aliceKey, nil, map[string]string{"Origin": "http://app.example"})
	if r.status != http.StatusForbidden || r.body != bodyForbidden {
		t.Fatalf("http origin when https is allowed: %d %s, want 403 %s", r.status, r.body, bodyForbidden)
	}
}

func TestGracefulShutdownEndsStreamsWithRetry(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	id := h.start(aliceKey, "slow")
	req, _ := http.NewRequest("GET", h.ts.URL+"/sse?sessionId="+id, nil)
	req.Header.Set("Authorization", "Bearer "+aliceKey)
	res, err := h.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	br := bufio.NewReader(res.Body)
	if _, err := br.ReadString('\n'); err != nil { // the stream is open
		t.Fatal(err)
	}
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- h.srv.Shutdown(ctx)
	}()
	var retry time.Duration
	for ev, err := range sse.Decode(br) {
		if err != nil {
			t.Fatal(err)
		}
		if ev.Name == "end" {
			t.Fatal("a shutdown must not look like the end of the run")
		}
		if ev.Retry > 0 {
			retry = ev.Retry
		}
	}
	if retry != reconnectHint {
		t.Fatalf("retry hint %v", retry)
	}
	if err := <-shut; err != nil {
		t.Fatal(err)
	}
	r := h.do("POST", "/start", aliceKey, map[string]any{"agentType": "echo", "message": "x"})
	if r.status != 503 || r.body != bodyUnavailable || r.header.Get("Retry-After") == "" {
		t.Fatalf("start while draining: %d %s", r.status, r.body)
	}
	if r := h.do("GET", "/readyz", "", nil); r.status != 503 {
		t.Fatalf("readyz while draining: %d", r.status)
	}
}

// TestApprovalAfterRestart: a run suspends for approval on SQLite; the
// process goes away; a new server on the same file gets the approval,
// the tool runs exactly once, and a replayed approval is refused.
func TestApprovalAfterRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "helix.db")
	ctx := context.Background()
	dangers := new(atomic.Int64)
	st1, err := sqlitestore.Open(ctx, path, sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h1 := newHarness(t, harnessConfig{store: st1, dangers: dangers})
	id := h1.start(aliceKey, "approver")
	h1.wait(id)
	st := h1.status(aliceKey, id)
	if st.Status != helix.StatusSuspendedApproval || len(st.Pending) != 1 || st.Pending[0].ToolCallID != "call_1" {
		t.Fatalf("before restart: %+v", st)
	}
	h1.close(true)

	st2, err := sqlitestore.Open(ctx, path, sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h2 := newHarness(t, harnessConfig{store: st2, dangers: dangers})
	approve := map[string]any{"sessionId": id, "toolCallId": "call_1", "kind": "approval", "approved": true}
	r := h2.do("POST", "/submit-tool-result", aliceKey, approve)
	if r.status != 200 || !strings.Contains(r.body, `"resumed":true`) {
		t.Fatalf("approve: %d %s", r.status, r.body)
	}
	_, evs := h2.sseEvents("/sse?sessionId="+id, aliceKey, nil)
	if _, end := chunksOf(t, evs); end != "completed" {
		t.Fatalf("end %q", end)
	}
	if r := h2.do("POST", "/submit-tool-result", aliceKey, approve); r.status != 409 || r.body != bodyToolNotPend {
		t.Fatalf("replayed approval: %d %s", r.status, r.body)
	}
	if n := dangers.Load(); n != 1 {
		t.Fatalf("tool ran %d times, want 1", n)
	}
	if st := h2.status(aliceKey, id); st.Status != helix.StatusCompleted {
		t.Fatalf("after approval: %s", st.Status)
	}
}

func errorsAs(err error, target *websocket.CloseError) bool {
	ce, ok := errors.AsType[websocket.CloseError](err)
	if ok {
		*target = ce
	}
	return ok
}

// TestRestartContinuesRun: a graceful restart in the middle of a run. The
// old server tells the stream to reconnect and its runtime stops the run at
// a checkpoint; the new process resumes it (ResumeShutdown); the client
// reconnects with Last-Event-ID and receives the rest. What it got over
// both processes is exactly the stored log, and the run completes.
func TestRestartContinuesRun(t *testing.T) {
	path := filepath.Join(t.TempDir(), "helix.db")
	ctx := context.Background()
	st1, err := sqlitestore.Open(ctx, path, sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h1 := newHarness(t, harnessConfig{store: st1})
	id := h1.start(aliceKey, "slow")
	var got []helix.Chunk
	read := func(h *harness, last int64) (int64, string, time.Duration) {
		req, _ := http.NewRequest("GET", h.ts.URL+"/sse?sessionId="+id, nil)
		req.Header.Set("Authorization", "Bearer "+aliceKey)
		if last > 0 {
			req.Header.Set("Last-Event-ID", strconv.FormatInt(last, 10))
		}
		res, err := h.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var retry time.Duration
		n := 0
		for ev, err := range sse.Decode(res.Body) {
			if err != nil {
				break
			}
			switch {
			case ev.Retry > 0:
				retry = ev.Retry
			case ev.Name == "end":
				return last, ev.Data, retry
			case ev.Name == "chunk":
				var c helix.Chunk
				if err := json.Unmarshal([]byte(ev.Data), &c); err != nil {
					t.Fatal(err)
				}
				got = append(got, c)
				last = c.Sequence
				if n++; n == 30 && h == h1 {
					go func() { // restart after 30 chunks
						sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
						defer cancel()
						_ = h1.srv.Shutdown(sctx)
					}()
				}
			}
		}
		return last, "", retry
	}
	last, end, retry := read(h1, 0)
	if end != "" || retry == 0 {
		t.Fatalf("first process: end %q, retry %v", end, retry)
	}
	h1.close(true) // the runtime stops the run at a checkpoint

	st2, err := sqlitestore.Open(ctx, path, sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h2 := newHarness(t, harnessConfig{store: st2})
	resumed, err := h2.rt.ResumeShutdown(ctx)
	if err != nil || len(resumed) != 1 || resumed[0] != id {
		t.Fatalf("ResumeShutdown = %v, %v", resumed, err)
	}
	if _, end, _ = read(h2, last); end != `{"status":"completed"}` {
		t.Fatalf("second process: end %q", end)
	}
	stored, err := h2.st.ReadChunks(ctx, id, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(stored) {
		t.Fatalf("received %d chunks, stored %d", len(got), len(stored))
	}
	for i := range stored {
		if got[i].Sequence != stored[i].Sequence {
			t.Fatalf("chunk %d: sequence %d, stored %d", i, got[i].Sequence, stored[i].Sequence)
		}
	}
	var reasons []string
	for _, c := range stored {
		if c.Type == helix.ChunkRunEnd {
			reasons = append(reasons, string(c.Status)+"/"+c.CompletionReason)
		}
	}
	if len(reasons) != 2 || reasons[0] != "interrupted/shutdown" || !strings.HasPrefix(reasons[1], "completed") {
		t.Fatalf("run ends %v", reasons)
	}
}

// countingGets is a store that counts its GetSession calls.
type countingGets struct {
	store.Store
	gets atomic.Int64
}

func (c *countingGets) GetSession(ctx context.Context, id string) (*store.Session, error) {
	c.gets.Add(1)
	return c.Store.GetSession(ctx, id)
}

// countingSQLite counts GetSession calls and keeps the SQLite store's
// optional interfaces (queued chunks, one-write starts and ends).
type countingSQLite struct {
	*sqlitestore.Store
	gets atomic.Int64
}

func (c *countingSQLite) GetSession(ctx context.Context, id string) (*store.Session, error) {
	c.gets.Add(1)
	return c.Store.GetSession(ctx, id)
}

// TestStreamOfRunningSession: a stream of a session this process is
// running is opened from the runtime's knowledge (no session read), for its
// owner only: another principal gets the same 404 as for any session not
// theirs, on SSE and WebSocket alike. Once the run has ended, opening reads
// the session again.
func TestStreamOfRunningSession(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		st := &countingGets{Store: memstore.New()}
		testStreamOfRunningSession(t, st, st.gets.Load)
	})
	t.Run("sqlite", func(t *testing.T) {
		// Its run_start is stored with the session's start.
		sq, err := sqlitestore.Open(t.Context(), filepath.Join(t.TempDir(), "helix.db"), sqlitestore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		st := &countingSQLite{Store: sq}
		var _ store.SessionStarter = st
		testStreamOfRunningSession(t, st, st.gets.Load)
	})
}

func testStreamOfRunningSession(t *testing.T, st store.Store, gets func() int64) {
	h := newHarness(t, harnessConfig{store: st})
	id := h.start(aliceKey, "slow")
	for _, path := range []string{"/sse?sessionId=" + id, "/ws?sessionId=" + id} {
		if r := h.do("GET", path, bobKey, nil); r.status != 404 || r.body != bodyNotFound {
			t.Errorf("GET %s as bob while alice's run streams: %d %s, want 404 %s", path, r.status, r.body, bodyNotFound)
		}
	}

	firstEvent := func() {
		t.Helper()
		res := h.open("GET", "/sse?sessionId="+id, aliceKey, nil)
		defer res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("GET /sse as alice: %d", res.StatusCode)
		}
		for ev, err := range sse.Decode(res.Body) {
			if err != nil {
				t.Fatal(err)
			}
			if ev.Name == "chunk" {
				if !strings.Contains(ev.Data, `"type":"run_start"`) {
					t.Errorf("first event %s, want the run's run_start", ev.Data)
				}
				return
			}
		}
		t.Fatal("the stream ended without an event")
	}
	before := gets()
	firstEvent()
	if n := gets() - before; n != 0 {
		t.Errorf("opening a stream of a running session read the session %d times, want 0", n)
	}
	if _, err := h.srv.opts.Runtime.Interrupt(t.Context(), id, ""); err != nil {
		t.Fatal(err)
	}
	h.wait(id)
	before = gets()
	firstEvent()
	if n := gets() - before; n == 0 {
		t.Error("opening a stream of a session no longer running did not read it")
	}
}

// TestSSEHeartbeat: a stream that stays idle longer than the heartbeat
// interval carries ": ping" comments, between the chunks, over HTTP.
func TestSSEHeartbeat(t *testing.T) {
	pauser := helix.MustNewAgent(helix.AgentConfig{Name: "pauser",
		Model: scripted.Turns(scripted.Turn{Text: "before after", ChunkDelayMs: 400})})
	h := newHarness(t, harnessConfig{
		opts:   func(o *Options) { o.Heartbeat = 50 * time.Millisecond },
		rtOpts: func(o *local.Options) { o.Agents.Register(pauser) },
	})
	id := h.start(aliceKey, "pauser")
	res := h.open("GET", "/sse?sessionId="+id, aliceKey, nil)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	s := string(body)
	before, after := strings.Index(s, `"delta":"before"`), strings.Index(s, `"delta":" after"`)
	ping := strings.Index(s, "\n: ping\n")
	if before < 0 || after < 0 || ping < before || ping > after || !strings.HasSuffix(s, "event: end\ndata: {\"status\":\"completed\"}\n\n") {
		t.Fatalf("want a ping between the two words, then the end:\n%s", s)
	}
}

// unwrapOnly is a middleware's response writer of the Go 1.20 kind: it
// implements nothing but Unwrap, and relies on http.ResponseController.
type unwrapOnly struct{ http.ResponseWriter }

func (u unwrapOnly) Unwrap() http.ResponseWriter { return u.ResponseWriter }

// TestSSEFlushThroughWrapper mounts the server behind such a middleware:
// each event must still reach the client when it is written, not when the
// stream ends.
func TestSSEFlushThroughWrapper(t *testing.T) {
	pauser := helix.MustNewAgent(helix.AgentConfig{Name: "pauser",
		Model: scripted.Turns(scripted.Turn{Text: "before after", ChunkDelayMs: 2000})})
	h := newHarness(t, harnessConfig{rtOpts: func(o *local.Options) { o.Agents.Register(pauser) }})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.srv.ServeHTTP(unwrapOnly{w}, r)
	}))
	defer ts.Close()
	id := h.start(aliceKey, "pauser")
	req, err := http.NewRequest("GET", ts.URL+"/sse?sessionId="+id, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+aliceKey)
	res, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var seen strings.Builder
	buf := make([]byte, 4096)
	for !strings.Contains(seen.String(), `"delta":"before"`) {
		n, err := res.Body.Read(buf)
		seen.Write(buf[:n])
		if err != nil {
			t.Fatalf("stream ended before the first word: %v\n%s", err, seen.String())
		}
	}
	if got := h.status(aliceKey, id).Status; got != helix.StatusRunning {
		t.Fatalf("the first word arrived with the session %s: events were held until the end", got)
	}
	// The WebSocket upgrade hijacks the connection through the wrapper too.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http")+"/ws?sessionId="+id,
		&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + aliceKey}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if _, data, err := c.Read(ctx); err != nil || !strings.Contains(string(data), `"type":"run_start"`) {
		t.Fatalf("first WebSocket message: %s %v", data, err)
	}
}
